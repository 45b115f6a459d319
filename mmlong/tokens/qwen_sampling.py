"""The ``"qwen-vl-utils"`` sampling policy: qwen-vl-utils' frames, sizes and ``second_per_grid_ts``.

Users who evaluated a Qwen-VL model through qwen-vl-utils (``fetch_video`` of version 0.0.14,
with the torchcodec or decord reader) get the same frames here, decoded by mmlong's seeking
reader instead of a whole-clip decode. Its rules, over a video of ``N`` frames at ``fps``
(``f`` = patch_size * merge_size: 28 on Qwen2/2.5-VL, 32 on Qwen3-VL; ``tps`` = 2):

1. Window: no start / end: frames ``[0, N - 1]``. Else ``first = ceil(clamp(start) * fps)``,
   ``last = min(floor(clamp(end) * fps), N - 1)`` (times clamped to ``[0, N / fps]``),
   ``first < last``; the window holds ``total = last - first + 1`` frames.
2. Frame count: ``num_frames`` rounded to a multiple of tps (Python's ``round``, half to even:
   5 -> 4, 7 -> 8); else ``total / fps * rate`` (rate 2) clamped to ``[ceil_tps(min_frames),
   floor_tps(max_frames or min(768, total))]`` and to ``total``, floored to a multiple of tps.
   It must land in ``[tps, total]``.
3. Frames: ``round(linspace(first, last, n))`` in float32 (torch's, half to even), first and
   last included; frame ``i`` is decoded at ``i / fps`` seconds.
4. Size: ``min_pixels`` (default ``128 f^2``); ``total_pixels`` (default ``budget * f^2`` with a
   budget, else ``128000 * f^2 * 0.9``); the per-frame cap ``max(min(768 f^2, total_pixels / n * 2),
   int(1.05 * min_pixels))``, lowered to ``max_pixels`` when given; ``smart_resize`` of the
   frame into that range, or of ``(resized_height, resized_width)`` into ``[4 f^2, 16384 f^2]``.
5. ``second_per_grid_ts = tps / sample_fps`` with ``sample_fps = n / total * fps``, the nominal
   rate, whatever the frames' real times.

Worked example (Qwen2.5-VL, a 30 s 25 fps 320x180 video, N = 750, defaults): ``n = 750 / 25 *
2 = 60``; frames ``round(linspace(0, 749, 60))`` = 0, 13, 25, 38, ..., 736, 749 (12.69 apart),
decoded at 0.0, 0.52, 1.0, 1.52, ... s; cap ``= max(min(602112, 86400000 / 60 * 2), 105369) =
602112``; ``smart_resize(180, 320, 28, 100352, 602112)``: 168x308 is below 100352 pixels, so
``beta = sqrt(100352 / 57600) = 1.32`` and the frames are 252x448 (144 tokens per temporal
patch, 30 patches, 4320 tokens); ``sample_fps = 60 / 750 * 25 = 2.0``, ``second_per_grid_ts = 1.0``.

How it differs from mmlong's policy (:func:`mmlong.tokens.planner.plan_mmlong`): frame
indices include the first and the last frame instead of segment centres; the model is told
the nominal ``second_per_grid_ts`` instead of the frames' real spacing; a ``num_frames`` or a
window outside its range is refused instead of clamped; and its pixel floor can exceed a
token budget, where mmlong drops frames. Frame ``i`` is the one shown at ``i / fps``, so on a
variable-frame-rate file it can differ from the ``i``-th decoded frame qwen-vl-utils takes.
"""

from __future__ import annotations

import math
from typing import Any

from mmlong.errors import MmlongError
from mmlong.video.settings import FrameSettings

__all__ = ["plan_qwen_vl_utils", "frame_window", "frame_count", "frame_indices", "frame_size"]

MAX_FRAMES = 768  # FPS_MAX_FRAMES
VIDEO_MIN_TOKENS, VIDEO_MAX_TOKENS = 128, 768  # per-frame token range of a video frame
IMAGE_MIN_TOKENS, IMAGE_MAX_TOKENS = 4, 16384  # range of resized_height x resized_width
MODEL_SEQ_LEN = 128000  # its default total budget, in tokens (x f^2 x 0.9 pixels)


def frame_window(num_frames: int, fps: float, start: float | None, end: float | None) -> tuple[int, int]:
    """Rule 1: ``(first, last)`` frame of the window. Example: 750 frames at 25 fps, start 10,
    end 20 -> ``(250, 500)``; no start / end -> ``(0, 749)``.

    Raises:
        MmlongError: the window holds fewer than 2 frames.
    """
    if start is None and end is None:
        return 0, num_frames - 1
    longest = num_frames / fps
    first = math.ceil(max(0.0, min(start, longest)) * fps) if start is not None else 0
    last = min(math.floor(max(0.0, min(end, longest)) * fps), num_frames - 1) if end is not None else num_frames - 1
    if first >= last:
        until = "end" if end is None else f"{end:g}"
        raise MmlongError(f"the window {start or 0:g}-{until} s holds frames {first}-{last} of this {num_frames}-frame "
                          "video; qwen-vl-utils sampling needs two frames or more, so widen --start/--end")
    return first, last


def frame_count(total: int, fps: float, s: FrameSettings, tps: int) -> int:
    """Rule 2: frames to take from a window of ``total`` frames. Examples (tps 2): 750 frames at
    25 fps, rate 2 -> 60; 90000 at 25 fps -> 768; num_frames 5 -> 4, num_frames 7 -> 8.

    Raises:
        MmlongError: the count lands outside ``[tps, total]``.
    """
    if s.num_frames is not None:
        n = round(s.num_frames / tps) * tps
        asked = f"num_frames {s.num_frames} rounds to {n}"
    else:
        lo = math.ceil(s.min_frames / tps) * tps
        hi = math.floor((s.max_frames if s.max_frames is not None else min(MAX_FRAMES, total)) / tps) * tps
        n = math.floor(min(min(max(total / fps * s.rate, lo), hi), total) / tps) * tps
        asked = f"{s.rate:g} fps gives {n} frames"
    if not tps <= n <= total:
        raise MmlongError(f"{asked}, outside qwen-vl-utils' range [{tps}, {total}] for this {total}-frame window; "
                          f"pass --num-frames between {tps} and {total}, or use --sampling mmlong")
    return n


def frame_indices(first: int, last: int, n: int) -> list[int]:
    """Rule 3: ``round(linspace(first, last, n))`` in float32, as torch computes it.

    Example: ``frame_indices(0, 749, 4) == [0, 250, 499, 749]``.
    """
    import torch

    return torch.linspace(first, last, n, dtype=torch.float32).round().long().tolist()


def frame_size(height: int, width: int, n: int, f: int, s: FrameSettings) -> tuple[tuple[int, int], tuple[int, float]]:
    """Rule 4: ``((h, w), (min_pixels, cap))`` of every frame. Example: 180x320, 60 frames, f 28,
    defaults -> ``((252, 448), (100352, 602112))``."""
    from mmlong.models.vision_inputs import smart_resize

    lo = s.min_pixels if s.min_pixels is not None else VIDEO_MIN_TOKENS * f * f
    total = s.total_pixels or (s.budget * f * f if s.budget is not None else MODEL_SEQ_LEN * f * f * 0.9)
    cap = max(min(VIDEO_MAX_TOKENS * f * f, total / n * 2), int(lo * 1.05))
    cap = min(s.max_pixels, cap) if s.max_pixels is not None else cap
    if s.resized_height is not None:
        hw = smart_resize(s.resized_height, s.resized_width, f, IMAGE_MIN_TOKENS * f * f, IMAGE_MAX_TOKENS * f * f)
        return hw, (lo, cap)
    if lo > cap:
        raise MmlongError(f"min_pixels ({lo}) is above the per-frame cap ({cap:.0f}) of qwen-vl-utils' rule; lower "
                          "--min-pixels or raise --max-pixels / --total-pixels")
    return smart_resize(height, width, f, lo, cap), (lo, cap)


def plan_qwen_vl_utils(meta: dict, info: Any, s: FrameSettings, **estimate: Any) -> Any:
    """The qwen-vl-utils policy (the module rules) as a :class:`~mmlong.tokens.planner.Plan`."""
    from mmlong.tokens.planner import finish_plan

    spec = info.spec
    fps, tps = meta["fps"], spec.temporal_patch_size
    first, last = frame_window(meta["num_frames"], fps, s.start, s.end)
    total = last - first + 1
    n = frame_count(total, fps, s, tps)
    times = [i / fps for i in frame_indices(first, last, n)]
    size, pixels = frame_size(meta["height"], meta["width"], n, spec.factor, s)
    sample_fps = n / total * fps
    return finish_plan(meta, info, s, times, size, pixels, (first / fps, (last + 1) / fps),
                       second_per_grid_ts=tps / sample_fps, **estimate)
