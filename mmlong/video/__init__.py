"""Long-video input: open a video, sample frames uniformly in time, keep real timestamps.

::

    from mmlong import video

    clip = video.sample("talk.mp4", fps=1.0, max_frames=256, size=448)   # defaults: video.FrameSettings()
    clip.frames      # (N, H, W, 3) uint8 RGB
    clip.timestamps  # (N,) float64 seconds: the actual pts of each frame

    with video.open("talk.mp4") as src:
        frames, times = src.frames_at([0.0, 12.5, 60.0])

Names are imported lazily so ``import mmlong.video`` does not import PyAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmlong._lazy import lazy_exports

__all__ = ["open", "sample", "decode_at", "Clip", "VideoSource", "FrameSettings"]

if TYPE_CHECKING:  # pragma: no cover
    from mmlong.video.sampling import Clip, decode_at, sample
    from mmlong.video.settings import FrameSettings
    from mmlong.video.source import VideoSource, open

_HOMES = {
    "open": "mmlong.video.source",
    "VideoSource": "mmlong.video.source",
    "sample": "mmlong.video.sampling",
    "decode_at": "mmlong.video.sampling",
    "Clip": "mmlong.video.sampling",
    "FrameSettings": "mmlong.video.settings",
}

_lazy_getattr, __dir__ = lazy_exports(__name__, _HOMES, __all__)


def __getattr__(name: str):
    if name == "plan":  # moved: the frame planner is mmlong.tokens.plan
        import warnings

        warnings.warn("mmlong.video.plan moved to mmlong.tokens.plan; the old name will be removed in the next release",
                      DeprecationWarning, stacklevel=2)
        from mmlong.tokens import plan

        return plan
    return _lazy_getattr(name)
