"""Long-video input: open a video, sample frames uniformly in time, keep real timestamps.

::

    from mmlong import video

    clip = video.sample("talk.mp4", fps=1.0, max_frames=256, size=448)
    clip.frames      # (N, H, W, 3) uint8 RGB
    clip.timestamps  # (N,) float64 seconds: the actual pts of each frame

    with video.open("talk.mp4") as src:
        frames, times = src.frames_at([0.0, 12.5, 60.0])

Names are imported lazily so ``import mmlong.video`` does not import PyAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmlong._lazy import lazy_exports

__all__ = ["open", "sample", "Clip", "VideoSource"]

if TYPE_CHECKING:  # pragma: no cover
    from mmlong.video.sampling import Clip, sample
    from mmlong.video.source import VideoSource, open

_HOMES = {
    "open": "mmlong.video.source",
    "VideoSource": "mmlong.video.source",
    "sample": "mmlong.video.sampling",
    "Clip": "mmlong.video.sampling",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
