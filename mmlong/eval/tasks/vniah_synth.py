"""vniah_synth: a needle frame (a drawn shape or word) inside a long generated video.

Each doc is one (video length, needle depth) cell: a haystack of distractor frames at
``fps`` with the needle shown for ``needle_seconds`` at ``depth * length``, asked as a
closed-set question (chance = 1 / number of choices). Videos are generated once into
``data_dir`` (default ``.mmlong_cache/eval/vniah_synth``) and reused. Metric ``acc``;
``finalize`` draws the accuracy heatmap (depth x length) as ``<run>_vniah_synth_heatmap.png``
(needs matplotlib: ``pip install 'mmlong[plot]'``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmlong.errors import MmlongError
from mmlong.eval.tasks.mmneedle_haystack import COLOURS, SHAPES, render_scene
from mmlong.eval.tasks.base import Doc, Request, Task, doc_rng, mean_metrics

WORDS = ("apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "peach", "plum", "kiwi")


def _needle_image(kind: str, answer: str, colour: str, size: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    if kind == "shape":
        return np.asarray(render_scene("white", ((answer, colour, "center"),), size).resize((size, size)))
    img = Image.new("RGB", (size, size), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.text((size * 0.08, size * 0.4), answer.upper(), fill=COLOURS[colour], font_size=max(10, size // 6))
    return np.asarray(img)


def write_haystack(path: Path, seconds: int, fps: float, size: int, needle: np.ndarray, t0: float, dur: float, seed: int):
    """H.264 mp4: one smooth random colour field per second, the needle frame during [t0, t0 + dur)."""
    import av
    from fractions import Fraction

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    n = max(1, int(round(seconds * fps)))
    yy, xx = np.mgrid[0:size, 0:size] / size
    with av.open(str(tmp), "w", format="mp4") as box:
        rate = Fraction(fps).limit_denominator(1001)
        stream = box.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "23"})
        stream.height = stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        frame_img = None
        for i in range(n):
            t = i / float(rate)
            if t0 <= t < t0 + dur:
                img = needle
            else:
                if frame_img is None or i % max(1, int(round(fps))) == 0:
                    a, b, c = rng.uniform(40, 215, size=(3, 3))
                    frame_img = np.stack([a[k] + (b[k] - a[k]) * xx + (c[k] - a[k]) * yy for k in range(3)], -1)
                img = frame_img.astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            box.mux(stream.encode(frame.reformat(format="yuv420p")))
        box.mux(stream.encode(None))
    tmp.replace(path)


class VNiahSynth(Task):
    name = "vniah_synth"
    summary = "Synthetic video needle: a drawn needle frame in a long generated video; depth x length heatmap"
    version = "1"
    metrics = ("acc",)

    @dataclass(frozen=True)
    class Options:
        """Synthetic video needle-in-a-haystack settings."""

        data_dir: str | None = None  # where the generated videos live; None = .mmlong_cache/eval/vniah_synth
        lengths: tuple = (60, 300, 900)  # video lengths in seconds
        depths: tuple = (0.0, 0.25, 0.5, 0.75, 1.0)  # needle position as a fraction of the length
        needle: str = "shape"  # "shape" (drawn shape; 6 choices) or "text" (a word; 10 choices)
        fps: float = 1.0  # haystack frame rate (the needle lasts needle_seconds)
        needle_seconds: float = 1.0  # how long the needle is shown
        size: int = 96  # frame side in pixels
        max_frames: int = 64  # frames sampled (uniformly, mmlong.video.sample at fps) per video
        seed: int = 0  # needle and distractor draws
        max_new_tokens: int = 16  # answer length cap

    def __init__(self, options=None, **kwargs):
        if "lengths" in kwargs and not isinstance(kwargs["lengths"], (tuple, list)):
            kwargs["lengths"] = (kwargs["lengths"],)
        if "depths" in kwargs and not isinstance(kwargs["depths"], (tuple, list)):
            kwargs["depths"] = (kwargs["depths"],)
        super().__init__(options, **kwargs)
        o = self.options
        if o.needle not in ("shape", "text"):
            raise MmlongError(f"vniah_synth needle must be shape or text (got {o.needle!r})")
        if any(not 0 <= d <= 1 for d in o.depths) or any(L <= 0 for L in o.lengths):
            raise MmlongError("vniah_synth depths must be in [0, 1] and lengths > 0 seconds")

    @property
    def choices(self) -> tuple:
        return SHAPES if self.options.needle == "shape" else WORDS

    def docs(self) -> list[Doc]:
        o, out = self.options, []
        for length in o.lengths:
            for depth in o.depths:
                rng = doc_rng(o.seed, "vniah", length, depth, o.needle)
                start = min(float(depth) * length, max(0.0, length - o.needle_seconds))
                data = {"length": length, "depth": float(depth), "needle": o.needle, "answer": rng.choice(self.choices),
                        "colour": rng.choice([c for c in COLOURS if c != "yellow"]), "needle_start": round(start, 3),
                        "fps": o.fps, "size": o.size, "seed": o.seed}
                out.append(Doc(f"L{length}_d{int(round(depth * 100)):03d}", data))
        return out

    def _video(self, d: dict) -> Path:
        root = Path(self.options.data_dir or ".mmlong_cache/eval/vniah_synth")
        path = root / (f"haystack_{d['length']}s_{d['fps']}fps_{d['size']}px_{d['needle']}_{d['answer']}_{d['colour']}"
                       f"_at{d['needle_start']}_seed{d['seed']}.mp4")
        if not path.exists():
            needle = _needle_image(d["needle"], d["answer"], d["colour"], d["size"])
            write_haystack(path, d["length"], d["fps"], d["size"], needle, d["needle_start"],
                           self.options.needle_seconds, d["seed"])
        return path

    def request(self, doc: Doc) -> Request:
        from mmlong.video import sample

        d, o = doc.data, self.options
        what = "a large coloured shape on a white background" if d["needle"] == "shape" else "a word in large letters"
        ask = "What shape is it?" if d["needle"] == "shape" else "What is the word?"
        text = f"One frame of this video shows {what}. {ask} Answer with one word from: {', '.join(self.choices)}."
        return Request(text=text, video=lambda: sample(str(self._video(d)), fps=o.fps, max_frames=o.max_frames),
                       max_new_tokens=o.max_new_tokens, choices=self.choices, oracle=d["answer"],
                       media={"length_s": d["length"], "depth": d["depth"]})

    def reference(self, doc: Doc) -> tuple[str, dict]:
        d = doc.data
        return d["answer"], {"answer": d["answer"], "length": d["length"], "depth": d["depth"],
                             "choices": list(self.choices)}

    def score(self, ref: dict, response, *, seed: int = 0, doc_id: str = "") -> dict:
        if response is None:
            return {"acc": 0, "parsed": None}
        words = re.findall(r"[a-z]+", response.lower())
        found = next((w for w in words if w in ref["choices"]), None)
        return {"acc": int(found == ref["answer"]), "parsed": found}

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        grid: dict = {}
        for s in samples:
            grid.setdefault(str(s["ref"]["length"]), {}).setdefault(f"{s['ref']['depth']:.2f}", []).append(s["acc"])
        table = {L: {d: sum(v) / len(v) for d, v in sorted(row.items())} for L, row in grid.items()}
        return mean_metrics(samples, ["acc"]), {"acc_by_length_depth": table}

    def finalize(self, samples: list[dict], files) -> dict:
        """The depth x length accuracy heatmap (skipped with a warning without matplotlib)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            import sys

            print("mmlong: warning: vniah_synth heatmap skipped: install matplotlib (pip install 'mmlong[plot]')",
                  file=sys.stderr)
            return {}
        table = self.aggregate(samples)[1]["acc_by_length_depth"]
        lengths = sorted(table, key=float)
        depths = sorted({d for row in table.values() for d in row}, key=float)
        acc = np.array([[table[L].get(d, np.nan) for L in lengths] for d in depths], dtype=float)
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(lengths), 1.0 + 0.5 * len(depths)))
        im = ax.imshow(acc, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(lengths)), [f"{L}s" for L in lengths])
        ax.set_yticks(range(len(depths)), [f"{float(d):.0%}" for d in depths])
        ax.set_xlabel("video length")
        ax.set_ylabel("needle depth")
        for i in range(len(depths)):
            for j in range(len(lengths)):
                if not np.isnan(acc[i, j]):
                    ax.text(j, i, f"{acc[i, j]:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, label="accuracy")
        ax.set_title("vniah_synth")
        fig.tight_layout()
        path = files.extra_path(self.name, "heatmap", "png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return {"heatmap": path}
