"""Video needles: haystack videos with drawn needle frames, three kinds of question about them.

A haystack is one smooth random colour field per second (H.264, ``fps`` frames per second);
a needle is a frame showing a large coloured shape (or a word) on white, for
``needle_seconds``, starting on a whole second. Question kinds, and their chance level:

* ``what``  — which shape (or word) is shown: 1 of 6 shapes (1 of 10 words); needs no positions;
* ``when``  — in which fifth of the video it is shown, "1" to "5" (chance 1/5): needs positions;
* ``order`` — which of two needles is shown first (chance 1/2): needs their order.

Sampled at the video's ``fps`` with no frame cap (frame k at ``(k + 0.5) / fps``), a video of
L seconds gives ``L * fps`` frames and each needle is exactly one of them, so a length is a
frame count and the needle is always seen. The eval task ``vniah_synth`` and the training
data of ``mmlong data vniah`` draw from the same generator with disjoint seeds::

    doc = draw_doc("when", length=16, depth=0.3, rng=random.Random(0))
    doc["question"], doc["answer"], doc["needles"]   # text, "2", [(4, "ring", "blue")]
    write_haystack(path, doc, size=96, seed=3)
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import numpy as np

from mmlong.errors import MmlongError

__all__ = ["KINDS", "CHANCE", "SHAPES", "WORDS", "SEGMENTS", "NEEDLE_COLOURS", "render_needle", "draw_doc",
           "write_haystack", "video_name", "write_dataset"]

KINDS = ("what", "when", "order")
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
WORDS = ("apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "peach", "plum", "kiwi")
SEGMENTS = ("1", "2", "3", "4", "5")  # the fifths of the video, for "when"
CHANCE = {"what": 1 / len(SHAPES), "when": 1 / len(SEGMENTS), "order": 0.5}  # shape needles ("what": 1/10 for words)
NEEDLE_COLOURS = {"red": (220, 30, 30), "green": (30, 160, 60), "blue": (30, 70, 220), "orange": (240, 130, 20),
                  "purple": (140, 50, 180), "black": (20, 20, 20), "brown": (130, 80, 40), "pink": (230, 90, 170)}


def render_needle(needle: str, answer: str, colour: str, size: int) -> np.ndarray:
    """(size, size, 3) uint8: a shape filling the middle 70% of a white frame, or a word in large letters."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    fill = NEEDLE_COLOURS[colour]
    if needle == "text":
        draw.text((size * 0.06, size * 0.35), answer.upper(), fill=fill, font_size=max(10, size // 5))
        return np.asarray(img)
    x0 = y0 = size * 0.15
    x1 = y1 = size * 0.85
    mx = my = size / 2
    if answer == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=fill)
    elif answer == "square":
        draw.rectangle([x0, y0, x1, y1], fill=fill)
    elif answer == "triangle":
        draw.polygon([(mx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif answer == "diamond":
        draw.polygon([(mx, y0), (x1, my), (mx, y1), (x0, my)], fill=fill)
    elif answer == "cross":
        w = (x1 - x0) / 3
        draw.rectangle([mx - w / 2, y0, mx + w / 2, y1], fill=fill)
        draw.rectangle([x0, my - w / 2, x1, my + w / 2], fill=fill)
    elif answer == "ring":
        draw.ellipse([x0, y0, x1, y1], outline=fill, width=max(2, int(size * 0.12)))
    else:
        raise MmlongError(f"unknown needle shape {answer!r}; use one of {', '.join(SHAPES)}")
    return np.asarray(img)


def _second(length: int, fraction: float) -> int:
    """The whole second at ``fraction`` of a ``length``-second video (0 <= s <= length - 1)."""
    return int(min(max(math.floor(fraction * length), 0), length - 1))


def draw_doc(kind: str, length: int, depth: float, rng: random.Random, *, needle: str = "shape",
             jitter: float = 0.06) -> dict:
    """One question about one haystack.

    Args:
        kind: ``"what"``, ``"when"`` or ``"order"``.
        length: video length in seconds (at 1 fps: frames).
        depth: where the (first drawn) needle sits, as a fraction of the length, moved by up to
            ``jitter`` either way (the default depths 0.1, 0.3, ... 0.9 and jitter 0.06 keep it
            inside its fifth).
        rng: a ``random.Random`` (shape, colour, jitter, the second needle's place), e.g.
            ``mmlong.eval.tasks.base.doc_rng(seed, ...)``.
        needle: ``"shape"`` or ``"text"`` (words).

    Returns:
        ``{"kind", "length", "depth", "needles": [(second, answer, colour), ...] in time order,
        "question", "answer", "choices"}``.
    """
    if kind not in KINDS:
        raise MmlongError(f"unknown vniah question kind {kind!r}; use one of {', '.join(KINDS)}")
    if length < (2 if kind == "order" else 1):
        raise MmlongError(f"a vniah video of {length} s is too short for a {kind!r} question")
    names = SHAPES if needle == "shape" else WORDS
    thing = "shape" if needle == "shape" else "word"
    colours = list(NEEDLE_COLOURS)
    at = _second(length, depth + rng.uniform(-jitter, jitter))
    if kind == "order":
        a, b = rng.sample(names, 2)
        other = rng.choice([s for s in range(length) if s != at])
        needles = sorted([(at, a, rng.choice(colours)), (other, b, rng.choice(colours))])
        first, asked = needles[0][1], [a, b] if rng.random() < 0.5 else [b, a]
        question = f"Which {thing} is shown first, the {asked[0]} or the {asked[1]}?"
        return {"kind": kind, "length": length, "depth": float(depth), "needles": needles, "question": question,
                "answer": first, "choices": asked}
    value = rng.choice(names)
    needles = [(at, value, rng.choice(colours))]
    if kind == "what":
        question = f"Which {thing} is shown: {', '.join(names[:-1])} or {names[-1]}?"
        return {"kind": kind, "length": length, "depth": float(depth), "needles": needles, "question": question,
                "answer": value, "choices": list(names)}
    fifth = str(min(len(SEGMENTS), int(len(SEGMENTS) * (at + 0.5) / length) + 1))
    question = f"In which fifth of the video (1 to 5) is the {thing} shown?"
    return {"kind": kind, "length": length, "depth": float(depth), "needles": needles, "question": question,
            "answer": fifth, "choices": list(SEGMENTS)}


def video_name(doc: dict, *, fps: float, size: int, needle: str, seed: int) -> str:
    """A file name that fixes the video's content (same name = same frames)."""
    spots = "-".join(f"{s}{a}{c}" for s, a, c in doc["needles"])
    return f"haystack_{doc['length']}s_{fps:g}fps_{size}px_{needle}_{spots}_seed{seed}.mp4"


def write_haystack(path: Path, doc: dict, *, fps: float = 1.0, size: int = 96, needle: str = "shape",
                   needle_seconds: float = 1.0, seed: int = 0) -> Path:
    """Write the H.264 video of ``doc`` (atomically: a half-written file never has the final name)."""
    import av

    path = Path(path)
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    n = max(1, int(round(doc["length"] * fps)))
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = {(s, a, c): render_needle(needle, a, c, size) for s, a, c in doc["needles"]}
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(tmp), "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "23"})
        stream.height = stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        field = None
        for i in range(n):
            t = i / float(rate)
            shown = next((img for (s, _, _), img in images.items() if s <= t < s + needle_seconds), None)
            if field is None or i % max(1, int(round(fps))) == 0:
                a, b, c = rng.uniform(40, 215, size=(3, 3))
                field = np.stack([a[k] + (b[k] - a[k]) * xx + (c[k] - a[k]) * yy for k in range(3)], -1)
            img = shown if shown is not None else field.astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            box.mux(stream.encode(frame.reformat(format="yuv420p")))
        box.mux(stream.encode(None))
    tmp.replace(path)
    return path


def write_dataset(out: str | Path, n: int, *, length: int | tuple = 16, kinds: tuple = KINDS, seed: int = 1,
                  fps: float = 1.0, size: int = 96, needle: str = "shape", progress=None, workers: int = 1) -> Path:
    """``n`` training conversations in the sharegpt layout: ``OUT/train.jsonl`` + ``OUT/videos/*.mp4``.

    Each line: ``{"messages": [{"role": "user", "content": "<video>QUESTION"}, {"role":
    "assistant", "content": "ANSWER"}], "videos": ["videos/NAME.mp4"], "kind": ..., "length": ...}``.
    ``length`` is one length in seconds or several (a curriculum mix): kinds take turns, and
    each kind runs through the lengths, so every (kind, length) pair has n / (kinds x lengths)
    items; e.g. kinds (what, when, order) x lengths (2, 16): items 0-2 are 2 s, items 3-5 16 s.
    Depths are uniform in [0.1, 0.9]. The draws come from ``seed`` on a stream the eval task
    never uses, so no training video is an eval video. Existing videos are reused, so a
    second call only writes the JSONL. ``workers`` > 1 writes the videos in that many processes
    (each video depends only on its own draws: the same files).
    """
    from mmlong.eval.tasks.base import doc_rng

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MmlongError(f"{out} is a file; pass a folder for the vniah training data")
    (out / "videos").mkdir(parents=True, exist_ok=True)
    lines, todo = [], []
    lengths = tuple(length) if isinstance(length, (tuple, list)) else (length,)
    for i in range(n):
        length = int(lengths[(i // len(kinds)) % len(lengths)])
        rng = doc_rng(seed, "vniah-train", length, i)
        doc = draw_doc(kinds[i % len(kinds)], length, rng.uniform(0.1, 0.9), rng, needle=needle)
        name = video_name(doc, fps=fps, size=size, needle=needle, seed=seed * 1_000_003 + i)
        path = out / "videos" / name
        if not path.exists():
            todo.append((path, doc, seed * 1_000_003 + i))
        lines.append(json.dumps({"messages": [{"role": "user", "content": "<video>" + doc["question"]},
                                              {"role": "assistant", "content": doc["answer"]}],
                                 "videos": [f"videos/{name}"], "kind": doc["kind"], "length": length}))
    _write_videos(todo, fps=fps, size=size, needle=needle, workers=workers, progress=progress, n=n)
    (out / "train.jsonl").write_text("\n".join(lines) + "\n")
    return out / "train.jsonl"


def _write_videos(todo: list, *, fps: float, size: int, needle: str, workers: int, progress, n: int) -> None:
    """Write ``(path, doc, seed)`` haystacks, in ``workers`` processes when > 1; ``progress(done, n)``."""
    import functools

    write = functools.partial(_write_one, fps=fps, size=size, needle=needle)
    done = n - len(todo)
    if workers > 1 and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(write, todo, chunksize=16):
                done += 1
                if progress:
                    progress(done, n)
        return
    for job in todo:
        write(job)
        done += 1
        if progress:
            progress(done, n)


def _write_one(job: tuple, *, fps: float, size: int, needle: str) -> None:
    path, doc, seed = job
    write_haystack(path, doc, fps=fps, size=size, needle=needle, seed=seed)
