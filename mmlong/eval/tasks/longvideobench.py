"""LongVideoBench (arXiv 2407.15754): long-video multiple choice, lmms-eval task names.

Data: the official folder (``lvb_val.json`` / ``lvb_test_wo_gt.json``, ``videos/``,
``subtitles/``), passed as ``--data-dir longvideobench_val_v=DIR``. Frames follow the
official loader: ``num = min(max_frames, int(duration))`` frames at indices
``floor(total/num) * i`` (``total = int(duration * fps)``), at times ``index / fps``.

* ``longvideobench_val_v``: the frames as a video (64 by default, the README's examples);
* ``longvideobench_val_i``: 16 frames as images with subtitles interleaved by time (official rule),
  passed to the model in that order (``Request.parts``; text-only models see ``<image>`` markers);
* ``longvideobench_test_v`` / ``longvideobench_test_i``: the test split as ``_val_v`` / ``_val_i``; no
  answers, writes ``<run>_<task>_submission.json`` ``{id: raw answer}``;
* ``longvideobench_no_visual``: the val questions without the video (lmms-eval's text-only baseline).

``frames=model`` (``--task-opt longvideobench_val_v.frames=model``) hands the model the video
file instead, so its sampling policy picks the frames: with ``--sampling lmms-eval`` (or
``lmms-eval-chat``) they are the frames, times and ``second_per_grid_ts`` lmms-eval's Qwen2.5-VL
wrapper shows (:mod:`mmlong.tokens.lmms_sampling`), to set a score beside a published one.

Score: the first [A-E] after answer prefixes (an unparsable answer gets a random letter,
seeded per doc); accuracy overall (``lvb_acc``), per duration group and per category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.metrics import lvb_parse
from mmlong.eval.tasks.base import Doc, Request, Task, doc_rng, join_parts, mean_metrics

POST_PROMPT = "Answer with the option's letter from the given choices directly.\n"


def candidates(item: dict) -> list[str]:
    """``candidates`` (JSON release) or ``option0..4`` without "N/A" (parquet release)."""
    if "candidates" in item:
        return [str(c) for c in item["candidates"]]
    return [str(item[f"option{i}"]) for i in range(5) if item.get(f"option{i}") not in (None, "N/A")]


def frame_times(duration: float, fps: float, max_frames: int) -> list[float]:
    """Official frame times: ``num = min(max_frames, int(duration))`` (at least 1), index / fps."""
    total = int(duration * fps)
    num = max(1, min(max_frames, int(duration)))
    return [int(total / num) * i / fps for i in range(num)]


def _seconds(ts: str) -> float:
    h, m, s = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def interleave(times: list[float], subtitles: list[dict], start_offset: float, duration: float) -> list:
    """Official interleaving: frame indices (ints) and subtitle lines (str) in time order."""
    out, cur = [], 0
    for sub in subtitles:
        if "timestamp" in sub:
            start, end = sub["timestamp"]
            if not isinstance(end, float):  # official: a missing (or non-float) end means the video's end
                end = duration
            text = sub["text"]
        else:
            start, end, text = _seconds(sub["start"]), _seconds(sub["end"]), sub["line"]
        start, end = start - start_offset, end - start_offset
        mid = (start + end) / 2
        while cur < len(times) and times[cur] <= mid:
            out.append(cur)
            cur += 1
        if end - start < 1:
            start, end = mid - 0.5, mid + 0.5
        if any(start < t < end for t in times):
            out.append(text)
    out.extend(range(cur, len(times)))
    return out


def interleaved_parts(seq: list, tail: str) -> list:
    """The user turn as parts: ``seq`` (frame indices and subtitle lines) joined by newlines, then ``tail``.

    Adjacent text is merged, e.g. ``interleaved_parts([0, "hi", 1], "Q?") == [0, "\\nhi\\n", 1, "\\nQ?"]``.
    """
    parts: list = []
    for x in [*seq, tail]:
        parts += ["\n", x] if parts else [x]
    return join_parts(parts)


class _LongVideoBench(Task):
    name = "longvideobench"
    version = "1"
    metrics = ("lvb_acc",)
    split_file = "lvb_val.json"
    subtitles = False
    visual = True  # False: the question alone (no frames are read)

    @dataclass(frozen=True)
    class Options:
        """LongVideoBench settings."""

        data_dir: str | None = None  # folder with the annotation json, videos/ and subtitles/
        annotation: str | None = None  # annotation file name; None = lvb_val.json / lvb_test_wo_gt.json
        max_frames: int = 64  # frame budget (official loader 256, README 64; lmms-eval _i 16)
        max_new_tokens: int = 32  # lmms-eval generation_kwargs
        frames: str = "official"  # "official" (the loader's frames) or "model": the video file, sampled by --sampling

    def __init__(self, options=None, **kwargs):
        super().__init__(options, **kwargs)
        if self.options.frames not in ("official", "model"):
            raise MmlongError(f"{self.name} frames must be official or model, got {self.options.frames!r}")
        if self.options.frames == "model" and (self.subtitles or not self.visual):
            raise MmlongError(f"{self.name} shows its frames as images (or none); frames=model applies to the "
                              "_v tasks (longvideobench_val_v, longvideobench_test_v)")

    def _root(self) -> Path:
        d = self.options.data_dir
        if not d or not Path(d).is_dir():
            raise MmlongError(f"{self.name} needs the LongVideoBench folder ({self.split_file}, videos/, subtitles/): "
                              f"pass --data-dir {self.name}=DIR" + (f" ({d} does not exist)" if d else ""))
        return Path(d)

    def docs(self) -> list[Doc]:
        root = self._root()
        ann = root / (self.options.annotation or self.split_file)
        if not ann.exists():
            raise MmlongError(f"{ann} not found; pass --data-dir {self.name}=DIR with the official {self.split_file}")
        return [Doc(str(item["id"]), item) for item in json.loads(ann.read_text())]

    def _frames(self, item: dict):
        from mmlong.video import Clip, open as open_video

        path = self._root() / "videos" / item["video_path"]
        with open_video(path) as src:
            times = frame_times(float(item["duration"]), src.fps, self.options.max_frames)
            frames, actual = src.frames_at(times)
            return Clip.from_frames(frames, actual, source_fps=src.fps, source_path=str(path))

    def _question(self, item: dict) -> str:
        opts = "\n".join(f"{chr(ord('A') + i)}. {c}" for i, c in enumerate(candidates(item)))
        return f"{item['question']}\n{opts}"

    def request(self, doc: Doc) -> Request:
        item = doc.data
        n = len(candidates(item))
        letters = tuple(chr(ord("A") + i) for i in range(n))
        answer = item.get("correct_choice")
        oracle = letters[answer] if isinstance(answer, int) and 0 <= answer < n else None
        media = {"video": item.get("video_path"), "max_frames": self.options.max_frames}
        text = f"{self._question(item)}\n{POST_PROMPT}"
        if not self.visual:
            return Request(text=text, max_new_tokens=self.options.max_new_tokens, choices=letters, oracle=oracle,
                           media={"video": None})
        if not self.subtitles and self.options.frames == "model":  # the model's sampling policy picks the frames
            path = str(self._root() / "videos" / item["video_path"])
            return Request(text=text, video=path, max_new_tokens=self.options.max_new_tokens, choices=letters,
                           oracle=oracle, media={"video": item.get("video_path"), "frames": "model"})
        if not self.subtitles:
            return Request(text=text, video=lambda: self._frames(item), max_new_tokens=self.options.max_new_tokens,
                           choices=letters, oracle=oracle, media=media)
        req = Request(text=text, max_new_tokens=self.options.max_new_tokens, choices=letters, oracle=oracle,
                      media={**media, "subtitles": item.get("subtitle_path")})

        def images():
            from PIL import Image

            clip = self._frames(item)
            subs = json.loads((self._root() / "subtitles" / item["subtitle_path"]).read_text())
            seq = interleave(list(clip.timestamps), subs, float(item.get("starting_timestamp_for_subtitles", 0)),
                             float(item["duration"]))
            req.parts = interleaved_parts(seq, f"{self._question(item)}\n{POST_PROMPT}")
            req.text = "".join("<image>" if isinstance(p, int) else p for p in req.parts)
            return [Image.fromarray(f) for f in clip.frames]

        req.images = images
        return req

    def reference(self, doc: Doc) -> tuple[str, dict]:
        item = doc.data
        n = len(candidates(item))
        ans = item.get("correct_choice")
        letter = chr(ord("A") + ans) if isinstance(ans, int) and 0 <= ans < n else None
        return letter or "", {"answer": letter, "n_choices": n, "id": str(item["id"]),
                              "duration_group": item.get("duration_group"),
                              "question_category": item.get("question_category"), "level": item.get("level")}

    def score(self, ref: dict, response, *, seed: int = 0, doc_id: str = "") -> dict:
        if response is None:
            return {"lvb_acc": 0 if ref.get("answer") else None, "parsed_pred": None, "parse_failed": None}
        letter, ok = lvb_parse(response, ref["n_choices"], doc_rng(seed, "lvb-parse", doc_id))
        return {"lvb_acc": int(letter == ref["answer"]) if ref.get("answer") else None, "parsed_pred": letter,
                "parse_failed": not ok}

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        out = mean_metrics(samples, ["lvb_acc"])
        groups: dict = {}
        for key in ("duration_group", "question_category", "level"):
            by: dict = {}
            for s in samples:
                if s.get("lvb_acc") is not None and s["ref"].get(key) is not None:
                    by.setdefault(str(s["ref"][key]), []).append(s["lvb_acc"])
            groups[key] = {k: {"num": len(v), "acc": round(sum(v) / len(v), 5)} for k, v in sorted(by.items())}
        groups["parse_failed"] = sum(1 for s in samples if s.get("parse_failed"))
        return out, groups


class LongVideoBenchValV(_LongVideoBench):
    name = "longvideobench_val_v"
    summary = "LongVideoBench val: frames as a video, multiple choice (acc by duration group and category)"


class LongVideoBenchValI(_LongVideoBench):
    name = "longvideobench_val_i"
    summary = "LongVideoBench val: frames interleaved with subtitles, multiple choice"
    version = "2"  # 2: frames interleaved with the subtitles in the model input (1: frames first)
    subtitles = True

    @dataclass(frozen=True)
    class Options(_LongVideoBench.Options):
        """LongVideoBench interleaved settings (lmms-eval's 16 frames)."""

        max_frames: int = 16  # frames given as images, with subtitles between them


class _Submission:
    """The test split (no answers): counts the answers and writes lmms-eval's submission file."""

    split_file = "lvb_test_wo_gt.json"
    metrics = ("n_submitted",)

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        return {"n_submitted": sum(1 for s in samples if s["filtered_resps"][0] is not None)}, {}

    def finalize(self, samples: list[dict], files) -> dict:
        """lmms-eval's submission file: ``{id: raw prediction}``."""
        path = files.extra_path(self.name, "submission", "json")
        path.write_text(json.dumps({s["ref"]["id"]: s["filtered_resps"][0] for s in samples}, indent=1))
        return {"submission": path}


class LongVideoBenchTestV(_Submission, _LongVideoBench):
    name = "longvideobench_test_v"
    summary = "LongVideoBench test: frames as a video; writes the submission file"


class LongVideoBenchTestI(_Submission, LongVideoBenchValI):
    name = "longvideobench_test_i"
    summary = "LongVideoBench test: frames interleaved with subtitles; writes the submission file"


class LongVideoBenchNoVisual(_LongVideoBench):
    name = "longvideobench_no_visual"
    summary = "LongVideoBench val without the video: the text-only baseline (questions and options alone)"
    visual = False
