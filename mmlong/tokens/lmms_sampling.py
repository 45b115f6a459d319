"""The ``"lmms-eval"`` and ``"lmms-eval-chat"`` sampling policies: the frames lmms-eval's Qwen2.5-VL wrappers show.

Scores can be set beside published lmms-eval numbers only when the model saw the same frames.
lmms-eval 0.7.3 has two Qwen2.5-VL wrappers, both built on qwen-vl-utils (the rules of
:mod:`mmlong.tokens.qwen_sampling`); over a video of ``N`` frames at ``fps``, with their
defaults ``max_num_frames = 32``, ``min_pixels = 256 * 28 * 28 = 200704``, ``max_pixels =
1605632`` (``num_frames``, ``min_pixels``, ``max_pixels`` here; ``tps`` = 2):

``"lmms-eval"`` (the simple wrapper, ``--model qwen2_5_vl --force_simple``; the only one before
the chat wrappers):

1. qwen-vl-utils samples at its defaults: ``n = frame_count(N)`` at 2 fps, at most 768 frames,
   ``idx = round(linspace(0, N - 1, n))``, resized for ``n`` frames (its per-frame cap is
   ``max(min(768 f^2, total_pixels / n * 2), 1.05 min_pixels)``, lowered to ``max_pixels``).
2. The wrapper keeps ``keep = unique(int(linspace(0, n - 1, 32)))`` (numpy's ``dtype=int``
   truncation), plus ``n - 1`` when missing (``linspace`` ends on it, so it never is): the
   frames ``idx[keep]``, decoded at ``idx[keep] / fps`` seconds.
3. No video metadata reaches the processor, so transformers (5.x) takes the video's rate as its
   fallback 24 fps: ``second_per_grid_ts = tps / 24`` (transformers 4.x processors used their
   default ``fps = 2``: ``tps / 2 = 1.0``), whatever the frames' real spacing.

``"lmms-eval-chat"`` (0.7.3's default for ``--model qwen2_5_vl``): ``nframes = min(32, N)``
floored to even (at least 2) is handed to qwen-vl-utils, so the frames are
``round(linspace(0, N - 1, nframes))``, resized for ``nframes``, and the metadata qwen-vl-utils
returns gives ``second_per_grid_ts = tps / (nframes / N * fps)``, the qwen-vl-utils value.

Worked example (``"lmms-eval"``, a 60 s 25 fps video, N = 1500): ``n = 1500 / 25 * 2 = 120``;
``idx = round(linspace(0, 1499, 120))`` = 0, 13, 25, 38, ...; ``keep = int(linspace(0, 119, 32))``
= 0, 3, 7, 11, 15, 19, 23, 26, ... 115, 119 (32 frames), so the frames are 0, 38, 88, 138, ...,
1449, 1499, at 0.0, 1.52, 3.52, ... 59.96 s; ``second_per_grid_ts = 2 / 24 = 0.0833``.

These policies take no token budget, window or fps: lmms-eval's wrappers have none.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mmlong.errors import MmlongError
from mmlong.video.settings import FrameSettings

__all__ = ["plan_lmms_eval", "plan_lmms_eval_chat", "keep_indices", "chat_nframes", "MAX_NUM_FRAMES",
           "MIN_PIXELS", "MAX_PIXELS", "UNKNOWN_FPS"]

MAX_NUM_FRAMES = 32  # the wrappers' max_num_frames
MIN_PIXELS = 256 * 28 * 28  # the wrappers' min_pixels (200704)
MAX_PIXELS = 1605632  # the wrappers' max_pixels
UNKNOWN_FPS = 24  # transformers' VideoMetadata.sampled_fps when a video comes without its rate


def keep_indices(n: int, keep: int = MAX_NUM_FRAMES) -> list[int]:
    """Rule 2: which of ``n`` sampled frames the simple wrapper keeps (0-based into the ``n``).

    Examples: ``keep_indices(120)`` = ``[0, 3, 7, 11, 15, 19, 23, 26, ..., 115, 119]`` (32);
    ``keep_indices(20)`` = ``[0, 1, ..., 19]`` (all 20: ``int(linspace)`` repeats, ``unique`` drops them).
    """
    import numpy as np

    idx = np.unique(np.linspace(0, n - 1, keep, dtype=int))
    if n - 1 not in idx:
        idx = np.unique(np.append(idx, n - 1))
    return [int(i) for i in idx]


def chat_nframes(total: int, keep: int = MAX_NUM_FRAMES) -> int:
    """The chat wrapper's ``nframes``: ``min(keep, total)`` floored to even, at least 2. Example: 31 frames -> 30."""
    return max(2, min(keep, total) // 2 * 2)


def _wrapper_settings(s: FrameSettings, name: str) -> tuple[int, FrameSettings]:
    """``(max_num_frames, the qwen-vl-utils settings)`` of an lmms-eval policy, refusing what the wrappers lack."""
    extra = [f for f in ("budget", "start", "end", "fps", "max_frames", "total_pixels", "resized_height")
             if getattr(s, f) is not None]
    if extra:
        raise MmlongError(f"sampling={name!r} reproduces lmms-eval's Qwen2.5-VL wrapper, which has no "
                          f"{', '.join(extra)}; drop them (its settings: --num-frames = max_num_frames, "
                          "--min-pixels, --max-pixels)")
    keep = s.num_frames if s.num_frames is not None else MAX_NUM_FRAMES
    qvu = dataclasses.replace(s, sampling="qwen-vl-utils", num_frames=None, min_frames=4,
                              min_pixels=s.min_pixels if s.min_pixels is not None else MIN_PIXELS,
                              max_pixels=s.max_pixels if s.max_pixels is not None else MAX_PIXELS)
    return keep, qvu


def plan_lmms_eval(meta: dict, info: Any, s: FrameSettings, **estimate: Any) -> Any:
    """The simple wrapper's frames (module rules 1-3) as a :class:`~mmlong.tokens.planner.Plan`."""
    from mmlong.tokens.planner import finish_plan
    from mmlong.tokens.qwen_sampling import frame_count, frame_indices, frame_size

    spec = info.spec
    fps, tps, total = meta["fps"], spec.temporal_patch_size, meta["num_frames"]
    keep, qvu = _wrapper_settings(s, "lmms-eval")
    n = frame_count(total, fps, qvu, tps)
    idx = frame_indices(0, total - 1, n)
    times = [idx[k] / fps for k in keep_indices(n, keep)]
    size, pixels = frame_size(meta["height"], meta["width"], n, spec.factor, qvu)
    return finish_plan(meta, info, s, times, size, pixels, (0.0, total / fps),
                       second_per_grid_ts=tps / UNKNOWN_FPS, **estimate)


def plan_lmms_eval_chat(meta: dict, info: Any, s: FrameSettings, **estimate: Any) -> Any:
    """The chat wrapper's frames (``nframes`` handed to qwen-vl-utils) as a :class:`~mmlong.tokens.planner.Plan`."""
    from mmlong.tokens.qwen_sampling import plan_qwen_vl_utils

    keep, qvu = _wrapper_settings(s, "lmms-eval-chat")
    plan = plan_qwen_vl_utils(meta, info, dataclasses.replace(qvu, num_frames=chat_nframes(meta["num_frames"], keep)),
                              **estimate)
    return dataclasses.replace(plan, settings=s)
