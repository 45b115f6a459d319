"""Frame-count and resolution rules of the token-budget planner (pure arithmetic).

See :mod:`mmlong.tokens.planner` for the rules and a worked example; this module holds the
two steps (:func:`frame_count`, :func:`fit_resolution`) and :func:`video_meta`, which reads
a video's metadata without decoding frames.
"""

from __future__ import annotations

import math
import os
from typing import Any

from mmlong.errors import MmlongError

__all__ = ["video_meta", "frame_count", "fit_resolution"]


def video_meta(video_or_meta: Any) -> dict:
    """``duration`` / ``fps`` / ``width`` / ``height`` / ``num_frames`` of a video, without decoding.

    Args:
        video_or_meta: a path (opened with :func:`mmlong.video.open`, metadata only), an
            open VideoSource, a VideoInfo, a Clip, or a dict with those keys.

    Raises:
        MmlongError: unreadable video or missing keys.
    """
    if isinstance(video_or_meta, (str, os.PathLike)):
        from mmlong.video.source import open as open_video

        with open_video(video_or_meta) as src:
            return video_meta(src)
    obj = video_or_meta
    if hasattr(obj, "frames") and hasattr(obj, "timestamps"):  # a Clip: its source's metadata
        return {"duration": float(obj.duration), "fps": float(obj.source_fps), "width": int(obj.width),
                "height": int(obj.height), "num_frames": max(1, round(obj.duration * obj.source_fps))}
    get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
    try:
        meta = {k: float(get(k)) for k in ("duration", "fps")} | {k: int(get(k)) for k in ("width", "height")}
    except (TypeError, ValueError):
        raise MmlongError("video metadata needs duration, fps, width and height; pass a path, a VideoSource, "
                          "a VideoInfo, a Clip or a dict with those keys") from None
    if meta["fps"] <= 0 or meta["width"] < 1 or meta["height"] < 1 or not meta["duration"] >= 0:
        raise MmlongError(f"bad video metadata {meta}; fps, width and height must be positive")
    meta["num_frames"] = int(get("num_frames", 0) or max(1, round(meta["duration"] * meta["fps"])))
    return meta


def _floor_to(x: float, k: int) -> int:
    return int(math.floor(x / k)) * k


def frame_count(span: float, source_fps: float, settings: Any, tps: int) -> int:
    """Rule 1 of the planner: frames for a window of ``span`` seconds under a token budget.

    ``settings`` is a :class:`~mmlong.video.settings.FrameSettings` (its ``rate``,
    ``num_frames``, ``frame_cap`` and ``min_frames``). Examples (tps = 2, a budget set so the
    cap is 768): 60 s at fps 2 -> 120; 1000 s at fps 2 -> 768; a 1.5 s 2-fps clip (3 frames)
    with min_frames 4 -> 2; a 1-frame clip -> 1.
    """
    total = max(1, round(span * source_fps))
    cap = settings.frame_cap
    hi = _floor_to(min(cap, total), tps)
    if settings.num_frames is not None:
        n = min(max(int(settings.num_frames), 1), cap, total)
    else:
        lo = math.ceil(settings.min_frames / tps) * tps
        n = min(max(span * settings.rate, lo), hi, total)
    n = _floor_to(n, tps) if n >= tps else math.floor(n)
    return max(1, n)


def fit_resolution(height: int, width: int, frames: int, max_tokens: int, factor: int, tps: int,
                   min_pixels: int, max_pixels: int) -> tuple[int, int, int, int]:
    """Rule 2: the largest frame count <= ``frames`` whose ``smart_resize``d frames fit.

    Returns:
        ``(frames, h, w, cap)``: the frame count, resized size and per-frame pixel cap used.

    Raises:
        MmlongError: not even one frame fits at ``min_pixels``.
    """
    from mmlong.models.vision_inputs import smart_resize

    f2 = factor * factor
    start = min(frames, tps * (max_tokens * f2 // max(min_pixels, f2)))
    candidates = list(range(start, 0, -tps)) if start >= tps else []
    candidates += [1] if 1 not in candidates else []
    for n in candidates:
        patches = math.ceil(n / tps)
        cap = min(max_pixels, max_tokens * f2 // patches)
        if cap < max(min_pixels, f2):
            continue
        h, w = smart_resize(height, width, factor, min_pixels, cap)
        if patches * (h * w // f2) <= max_tokens:
            return n, h, w, cap
    raise MmlongError(f"a budget of {max_tokens} visual tokens cannot hold one {height}x{width} frame at "
                      f"min_pixels_per_frame={min_pixels}; raise the budget or lower min_pixels_per_frame")
