"""Synthetic lecture videos: static PIL-drawn slides that change every 30-60 s, a moving
"webcam" inset, real H.264 compression noise (libx264 via PyAV).

Used by the token-reduction tests and ``benchmarks/token_reduction.py``: a good temporal
reducer keeps the inset (always moving) and each new slide, and drops the rest::

    from mmlong.data.synth_slides import write_lecture_video

    lec = write_lecture_video("lecture.mp4", seconds=300, fps=2, size=(360, 640))
    lec.change_times   # (0.0, 41.0, 83.0, ...) seconds at which a new slide appears
    lec.inset          # (y0, y1, x0, x1) pixel box of the moving inset

Slides are drawn once each (title band, bullet lines of random words, sometimes a bar
chart); frames are the slide plus the inset, encoded with ``crf`` (default 28) and a
keyframe every ``gop`` frames, so static areas still change slightly at every keyframe,
as in real screen recordings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LectureVideo", "write_lecture_video", "draw_slide", "slide_change_times"]

_WORDS = ("gradient attention token frame budget rotary position video merge patch layer cache "
          "softmax kernel sparse decode prefill vision encoder sample timestamp loss batch").split()


@dataclass(frozen=True)
class LectureVideo:
    """What :func:`write_lecture_video` wrote.

    Attributes:
        path: the mp4 file.
        change_times: times (s) at which each slide starts; ``change_times[0] == 0``.
        inset: ``(y0, y1, x0, x1)`` of the moving inset in source pixels, or None.
        fps: frame rate.
        seconds: length.
        size: (height, width).
    """

    path: Path
    change_times: tuple[float, ...]
    inset: tuple[int, int, int, int] | None
    fps: float
    seconds: float
    size: tuple[int, int]


def slide_change_times(seconds: float, every: tuple[float, float] = (30.0, 60.0), seed: int = 0) -> tuple[float, ...]:
    """Slide start times: 0, then gaps drawn uniformly (whole seconds) from ``every``."""
    rng = np.random.default_rng(seed)
    times, t = [0.0], 0.0
    while True:
        t += float(rng.integers(int(every[0]), int(every[1]) + 1))
        if t >= seconds:
            return tuple(times)
        times.append(t)


def draw_slide(index: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """One slide as uint8 (H, W, 3): coloured title band, bullets of random words, maybe a chart."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = size
    rng = np.random.default_rng(seed * 7919 + index)
    img = Image.new("RGB", (w, h), (250, 250, 246))
    d = ImageDraw.Draw(img)
    band = tuple(int(c) for c in rng.integers(30, 200, 3))
    d.rectangle([0, 0, w, h // 7], fill=band)
    try:
        title_font = ImageFont.load_default(size=max(8, h // 14))
        font = ImageFont.load_default(size=max(6, h // 22))
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        title_font = font = ImageFont.load_default()
    d.text((w // 20, h // 40), f"Lecture part {index + 1}", fill=(255, 255, 255), font=title_font)
    chart = bool(rng.integers(0, 2))
    text_w = w // 2 if chart else w
    for line in range(int(rng.integers(3, 7))):
        y = h // 5 + line * h // 10
        words = " ".join(rng.choice(_WORDS, int(rng.integers(2, 5))))
        d.ellipse([w // 20, y + h // 60, w // 20 + h // 40, y + h // 60 + h // 40], fill=(40, 40, 40))
        d.text((w // 20 + h // 25, y), words[: max(4, text_w // max(1, h // 40))], fill=(20, 20, 20), font=font)
    if chart:
        x0, base = w // 2 + w // 20, h - h // 6
        for bar in range(int(rng.integers(3, 6))):
            top = base - int(rng.integers(h // 10, h // 2))
            color = tuple(int(c) for c in rng.integers(40, 220, 3))
            d.rectangle([x0 + bar * w // 14, top, x0 + bar * w // 14 + w // 20, base], fill=color)
        d.line([x0 - 4, base, w - w // 20, base], fill=(0, 0, 0), width=2)
    return np.asarray(img)


def _inset_frame(frame: np.ndarray, box: tuple[int, int, int, int], t: float) -> None:
    """Draw the moving "speaker" into ``box`` of ``frame`` in place (a bobbing head + shoulders)."""
    y0, y1, x0, x1 = box
    bh, bw = y1 - y0, x1 - x0
    yy, xx = np.mgrid[0:bh, 0:bw]
    cx = bw / 2 + bw / 6 * np.sin(2 * np.pi * t / 5.0)
    cy = bh / 2.4 + bh / 12 * np.sin(2 * np.pi * t / 3.1)
    r = min(bh, bw) / 5
    panel = np.empty((bh, bw, 3), np.uint8)
    panel[:] = (70, 90, 110)
    panel[((xx - cx) ** 2 + (yy - cy) ** 2) < r * r] = (224, 172, 140)
    panel[(yy > cy + 1.3 * r) & (np.abs(xx - cx) < 2.2 * r)] = (40, 60, 150)
    frame[y0:y1, x0:x1] = panel


def write_lecture_video(path: str | Path, *, seconds: float = 300.0, fps: float = 2.0,
                        size: tuple[int, int] = (360, 640), every: tuple[float, float] = (30.0, 60.0),
                        inset: bool = True, crf: int = 28, gop: int | None = None, seed: int = 0,
                        preset: str = "veryfast") -> LectureVideo:
    """Write an H.264 lecture-like mp4.

    Args:
        path: output file (parents created).
        seconds: length.
        fps: frame rate (low rates keep generation fast; 2 fps for 5 min = 600 frames).
        size: (height, width), even.
        every: range of seconds between slide changes.
        inset: draw a moving webcam inset in the bottom-right (1/4 x 1/4 of the frame).
        crf: x264 quality (higher = more compression noise).
        gop: keyframe interval in frames (default ``2 * fps``, i.e. every 2 s).
        seed: slide content and change times.
        preset: x264 preset.

    Returns:
        A :class:`LectureVideo`.
    """
    from mmlong.data.mp4 import write_slideshow

    h, w = size
    if h % 2 or w % 2 or h < 48 or w < 64:
        raise ValueError(f"size must be even and at least (48, 64), got {size}")
    changes = slide_change_times(seconds, every, seed)
    ends = (*changes[1:], float(seconds))
    slides = [(a, b, draw_slide(i, size, seed)) for i, (a, b) in enumerate(zip(changes, ends))]
    box = (h - h // 4 - h // 40, h - h // 40, w - w // 4 - w // 40, w - w // 40) if inset else None
    box = tuple(v - v % 2 for v in box) if box else None
    write_slideshow(path, slides, fps=fps, preset=preset, crf=crf, keyframe_s=(gop or max(1, round(2 * fps))) / fps,
                    scenecut=False, overlay=(lambda frame, t: _inset_frame(frame, box, t)) if box else None)
    return LectureVideo(Path(path), changes, box, float(fps), float(seconds), (h, w))
