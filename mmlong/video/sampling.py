"""Uniform, timestamped frame sampling: :func:`sample` returns a :class:`Clip`.

Sampling rule (:func:`sample_times`), over the window ``[start, end)`` of length ``D``:

* ``num_frames=N``: the centres of ``N`` equal segments, ``start + (k + 0.5) * D / N``.
* ``fps=f``: ``N = floor(D * f)`` times spaced exactly ``1/f`` apart,
  ``start + (k + 0.5) / f`` (the leftover ``D - N/f`` at the end is not sampled), so the
  requested rate is honoured.
Then ``N`` is clamped to ``[min(min_frames, cap), cap]`` with ``cap = min(max_frames, frames
in the window)``; when a clamp applies the centres rule is used instead, so the whole window
is still covered. The defaults (1 fps, at most 64 frames, at least 4) are those of
:class:`~mmlong.video.settings.FrameSettings`. Each time is then mapped to the frame displayed at that time, and the
clip carries those frames' **actual** pts, which differ from the requested times by
less than one frame interval.

Tests: ``python -m pytest tests/video -q``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from mmlong.errors import MmlongError
from mmlong.video.source import VideoSource
from mmlong.video.source import open as open_video

__all__ = ["Clip", "sample", "sample_times", "decode_at"]


@dataclass(frozen=True, eq=False)
class Clip:
    """Sampled frames and the time each one is shown in the source.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB frames, N >= 1.
        timestamps: (N,) float64 seconds, non-decreasing: the actual pts of each frame.
        source_path: the video file, or ``None`` for in-memory frames.
        duration: source length in seconds.
        source_fps: source average frame rate.
        width: source frame width (frames may have been resized).
        height: source frame height.
        second_per_grid_ts: seconds per temporal patch a Qwen2.5-VL model is told; None (the
            default) = ``temporal_patch_size`` x the frames' mean interval. A qwen-vl-utils plan
            sets its nominal ``temporal_patch_size / sample_fps`` here.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    source_path: str | None
    duration: float
    source_fps: float
    width: int
    height: int
    second_per_grid_ts: float | None = None

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        times = np.asarray(self.timestamps, dtype=np.float64)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise MmlongError(f"Clip frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if len(frames) == 0:
            raise MmlongError("a Clip needs at least one frame")
        if times.shape != (len(frames),):
            raise MmlongError(f"Clip needs one timestamp per frame: {len(frames)} frames, {times.shape} timestamps")
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
            raise MmlongError("Clip timestamps must be finite seconds in non-decreasing order")
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "timestamps", times)

    @property
    def num_frames(self) -> int:
        """N, the number of frames."""
        return len(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def sample_fps(self) -> float:
        """Effective rate ``(N - 1) / (t_last - t_first)``; ``source_fps`` if N == 1 (or no span)."""
        span = float(self.timestamps[-1] - self.timestamps[0])
        return (len(self) - 1) / span if len(self) > 1 and span > 0 else float(self.source_fps)

    @classmethod
    def from_frames(cls, frames, timestamps, *, source_fps: float | None = None, source_path=None) -> Clip:
        """Wrap in-memory frames.

        Args:
            frames: (N, H, W, 3) uint8 array or a sequence of (H, W, 3) arrays.
            timestamps: (N,) seconds.
            source_fps: source frame rate; defaults to the frames' own rate
                ``(N - 1) / span`` (1.0 for a single frame).
            source_path: optional origin to record.

        Returns:
            A :class:`Clip` whose ``duration`` is ``span + 1 / source_fps`` and whose
            width/height are the frames'.
        """
        frames = np.stack(frames) if isinstance(frames, (list, tuple)) else np.asarray(frames)
        times = np.asarray(timestamps, dtype=np.float64)
        span = float(times[-1] - times[0]) if times.ndim == 1 and len(times) else 0.0
        if source_fps is None:
            source_fps = (len(times) - 1) / span if span > 0 else 1.0
        if source_fps <= 0:
            raise MmlongError(f"source_fps must be positive, got {source_fps}")
        height, width = frames.shape[1:3] if frames.ndim == 4 else (0, 0)
        return cls(frames, times, source_path, span + 1.0 / source_fps, float(source_fps), int(width), int(height))

    def __repr__(self) -> str:
        t = self.timestamps
        return (
            f"Clip({len(self)} frames {self.frames.shape[2]}x{self.frames.shape[1]}, "
            f"t={t[0]:.3f}..{t[-1]:.3f}s, sample_fps={self.sample_fps:.3g}, source={self.source_path!r})"
        )


def sample_times(
    start: float,
    end: float,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_frames: int | None = None,
    min_frames: int = 1,
    source_fps: float | None = None,
) -> np.ndarray:
    """Times to sample in ``[start, end)``; see the module docstring for the rule.

    Args:
        start: window start in seconds.
        end: window end in seconds (``end <= start`` gives one time, ``start``).
        fps: sampling rate (used when ``num_frames`` is None).
        num_frames: number of frames instead of a rate.
        max_frames: upper bound on the number of frames (None: no cap).
        min_frames: lower bound on the fps frame count (when the window has that many frames).
        source_fps: if given, caps N at the number of source frames in the window.

    Returns:
        (N,) float64 increasing seconds, 1 <= N (<= max_frames).

    Examples:
        >>> sample_times(0, 10, num_frames=4, max_frames=64).tolist()  # centres of 4 segments of 2.5 s
        [1.25, 3.75, 6.25, 8.75]
        >>> sample_times(0, 3.3, fps=2, max_frames=64).tolist()  # floor(3.3 * 2) = 6 times, 0.5 s apart
        [0.25, 0.75, 1.25, 1.75, 2.25, 2.75]
        >>> sample_times(0, 100, fps=2, max_frames=4).tolist()  # 200 > 4: centres again
        [12.5, 37.5, 62.5, 87.5]
        >>> sample_times(0, 2, fps=1, max_frames=64, min_frames=4).tolist()  # 2 < 4: centres of 4
        [0.25, 0.75, 1.25, 1.75]
        >>> len(sample_times(0, 1, fps=60, max_frames=64, source_fps=30))  # never more than the source has
        30
    """
    span = end - start
    if span <= 0:
        return np.array([float(start)])
    if num_frames is not None:
        n, use_fps = int(num_frames), False
    else:
        if fps is None:
            raise MmlongError("sample_times needs fps or num_frames")
        fps = float(fps)
        n, use_fps = math.floor(span * fps + 1e-9), True
    cap = max_frames if max_frames is not None else math.inf
    cap = min(cap, max(1, round(span * source_fps))) if source_fps else cap
    floor = min(max(1, min_frames), cap) if use_fps else 1
    clamped = min(max(n, floor), cap)
    if use_fps and clamped == n:
        return start + (np.arange(n) + 0.5) / fps
    return start + (np.arange(clamped) + 0.5) * (span / clamped)


def sample(
    path_or_source: str | os.PathLike | VideoSource,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_frames: int | None = None,
    min_frames: int | None = None,
    start: float | None = None,
    end: float | None = None,
    size: int | tuple[int, int] | None = None,
    backend: str | None = None,
) -> Clip:
    """Sample frames uniformly in time and return them with their actual timestamps.

    Args:
        path_or_source: a video path, or an open :class:`VideoSource` (left open).
        fps: frames per second to sample (exclusive with ``num_frames``); None = 1.0.
        num_frames: number of frames to sample instead.
        max_frames: cap on the number of frames; None = 64.
        min_frames: a short video still gets this many frames; None = 4.
        start: window start in seconds (default 0; clamped to the video).
        end: window end in seconds (default: the video's duration; clamped).
        size: ``None`` keeps the native resolution; an int sets the shorter side; a
            ``(height, width)`` pair sets both. Resizing is PIL bicubic, per frame.
        backend: decoder for a path: ``"pyav"`` (default), ``"decord"``, ``"torchcodec"``
            (ignored when an open source is passed).

    The defaults are :class:`~mmlong.video.settings.FrameSettings`' (the frames ``mmlong ask``
    shows a model without a token budget, before resizing).

    Returns:
        A :class:`Clip` with (N, H, W, 3) uint8 frames and (N,) float64 actual pts.

    Raises:
        MmlongError: for invalid arguments or an unreadable video (one line).
    """
    from mmlong.video.settings import FrameSettings

    s = FrameSettings.of(None, fps=fps, num_frames=num_frames, max_frames=max_frames, min_frames=min_frames,
                         start=start, end=end)
    owned = not isinstance(path_or_source, VideoSource)
    source = open_video(path_or_source, backend=backend) if owned else path_or_source
    try:
        lo = min(max(0.0, float(s.start or 0.0)), source.duration)
        hi = source.duration if s.end is None else min(max(lo, float(s.end)), source.duration)
        times = sample_times(lo, hi, fps=s.rate, num_frames=s.num_frames, max_frames=s.frame_cap,
                             min_frames=s.min_frames, source_fps=source.fps)
        return decode_at(source, times, size=size)
    finally:
        if owned:
            source.close()


def decode_at(path_or_source: str | os.PathLike | VideoSource, times, *, size: int | tuple[int, int] | None = None,
              backend: str | None = None) -> Clip:
    """The frames shown at ``times`` (seconds), with their actual pts, as a :class:`Clip`.

    Args:
        path_or_source: a video path, or an open :class:`VideoSource` (left open).
        times: (N,) requested seconds, e.g. a :class:`~mmlong.tokens.planner.Plan`'s ``timestamps``.
        size: as in :func:`sample`.
        backend: as in :func:`sample`.
    """
    owned = not isinstance(path_or_source, VideoSource)
    source = open_video(path_or_source, backend=backend) if owned else path_or_source
    try:
        frames, actual = source.frames_at(np.asarray(times, dtype=np.float64), size=size)
        if np.any(np.diff(actual) < 0):  # broken pts order in the file: keep the truth, sorted
            order = np.argsort(actual, kind="stable")
            frames, actual = frames[order], actual[order]
    finally:
        if owned:
            source.close()
    return Clip(
        frames=frames,
        timestamps=actual,
        source_path=str(source.path),
        duration=source.duration,
        source_fps=source.fps,
        width=source.width,
        height=source.height,
    )
