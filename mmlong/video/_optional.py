"""Optional decoder backends: decord and torchcodec.

Both follow the :class:`~mmlong.video.source.VideoSource` contract (frame displayed at
each time, actual pts returned) and take their metadata from PyAV so every backend
reports the same duration, fps and audio flag. They decode in chunks of
:data:`CHUNK` frames and resize each frame as it arrives, so memory holds the output
plus one chunk. Install with ``pip install 'mmlong[decord]'`` (decord 0.6.0: decord2
returns wrong frames on long-GOP video) or
``pip install 'mmlong[torchcodec]'`` (needs a CPU build and a system FFmpeg on CPU
machines).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mmlong.errors import MmlongError, require
from mmlong.video.source import VideoInfo, VideoSource, check_times, resize_rgb, resolve_size, unreadable

__all__ = ["DecordSource", "TorchCodecSource", "probe_info"]

CHUNK = 32  # frames decoded per backend call
EPS = 1e-6
DECORD_EPS = 2e-4  # decord reports float32 seconds: ~1e-4 s resolution at one hour


def _load(module: str, extra: str):
    """Import an optional decoder, turning any failure into a one-line MmlongError.

    A missing package names the extra to install; an installed one that fails to load
    (e.g. a CUDA-linked torchcodec on a CPU machine, or no system FFmpeg) says so.
    """
    if importlib.util.find_spec(module.split(".")[0]) is None:
        return require(module.split(".")[0], extra)  # raises the "pip install" error
    try:
        return importlib.import_module(module)
    except Exception as exc:  # OSError for missing shared libraries, RuntimeError, ...
        reason = " ".join(str(exc).split())[:200]
        raise MmlongError(
            f"the optional package {module.split('.')[0]!r} is installed but does not load "
            f"({type(exc).__name__}: {reason}); reinstall it with: pip install 'mmlong[{extra}]' "
            "(torchcodec also needs a system FFmpeg 4-8), or use backend='pyav'"
        ) from None


def probe_info(path: Path) -> VideoInfo:
    """Read :class:`VideoInfo` with PyAV (shared by all backends)."""
    from mmlong.video._pyav import PyAVSource

    with PyAVSource(path) as source:
        return source.info


def _frames_for(times: np.ndarray, pts: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Index of the frame displayed at each time: last pts <= t, clamped to [0, len - 1].

    Args:
        times: (N,) seconds.
        pts: (F,) sorted frame start times in seconds.
        eps: tolerance on ``pts <= t`` for timestamp rounding.

    Returns:
        (N,) int64 frame indices.
    """
    return np.clip(np.searchsorted(pts, times + eps, side="right") - 1, 0, len(pts) - 1)


def _gather(path: Path, wanted: np.ndarray, decode, out_hw: tuple[int, int]) -> np.ndarray:
    """Decode unique keys in chunks and scatter them into an (N, H, W, 3) array.

    Args:
        path: video path (for error messages).
        wanted: (N,) keys (frame indices or times) to pass to ``decode``, any order.
        decode: ``keys -> (K, H, W, 3) uint8`` for a sorted chunk of unique keys.
        out_hw: output (height, width).
    """
    unique, inverse = np.unique(wanted, return_inverse=True)
    frames = np.empty((len(wanted), *out_hw, 3), np.uint8)
    for lo in range(0, len(unique), CHUNK):
        keys = unique[lo : lo + CHUNK]
        try:
            batch = decode(keys)
        except MmlongError:
            raise
        except Exception as exc:  # backend errors of any kind: one line, cause chained
            raise unreadable(path, f"decoding failed ({type(exc).__name__}: {exc})") from exc
        for j, frame in enumerate(batch):
            frames[inverse == lo + j] = resize_rgb(frame, out_hw)
    return frames


class DecordSource(VideoSource):
    """A video read with decord's ``VideoReader.get_batch``."""

    backend = "decord"

    def __init__(self, path: Path):
        decord = _load("decord", "decord")
        super().__init__(path, probe_info(path))
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
            starts = np.asarray(self._reader.get_frame_timestamp(np.arange(len(self._reader))))[:, 0]
        except Exception as exc:
            raise unreadable(path, f"decord cannot open it ({type(exc).__name__}: {exc})") from exc
        self._pts = starts.astype(np.float64) - float(starts[0])

    def frames_at(self, timestamps, *, size=None) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`VideoSource.frames_at`. Shapes: (N,) seconds -> (N, H, W, 3), (N,)."""
        if self._reader is None:
            raise MmlongError(f"video {str(self.path)!r} is closed; open it again with mmlong.video.open")
        index = _frames_for(check_times(timestamps), self._pts, DECORD_EPS)
        out_hw = resolve_size(size, self.height, self.width) or (self.height, self.width)
        frames = _gather(self.path, index, lambda keys: self._reader.get_batch(keys.tolist()).asnumpy(), out_hw)
        return frames, self._pts[index]

    def close(self) -> None:
        """Drop the reader (idempotent)."""
        self._reader = None


class TorchCodecSource(VideoSource):
    """A video read with torchcodec's ``VideoDecoder.get_frames_played_at`` (exact seek mode)."""

    backend = "torchcodec"

    def __init__(self, path: Path):
        decoders = _load("torchcodec.decoders", "torchcodec")
        super().__init__(path, probe_info(path))
        try:
            self._decoder = decoders.VideoDecoder(str(path), seek_mode="exact", dimension_order="NHWC")
            meta = self._decoder.metadata
            self._begin = float(getattr(meta, "begin_stream_seconds", None) or 0.0)
            end = getattr(meta, "end_stream_seconds", None)
            self._end = float(end) if end is not None else self._begin + self.duration
        except Exception as exc:
            raise unreadable(path, f"torchcodec cannot open it ({type(exc).__name__}: {exc})") from exc

    def frames_at(self, timestamps, *, size=None) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`VideoSource.frames_at`. Shapes: (N,) seconds -> (N, H, W, 3), (N,)."""
        if self._decoder is None:
            raise MmlongError(f"video {str(self.path)!r} is closed; open it again with mmlong.video.open")
        times = check_times(timestamps)
        # torchcodec rejects times outside [begin, end): clamp to the first/last frame.
        seconds = np.clip(self._begin + times, self._begin, max(self._begin, self._end - 1e-4))
        out_hw = resolve_size(size, self.height, self.width) or (self.height, self.width)
        pts_of: dict[float, float] = {}

        def decode(keys: np.ndarray) -> np.ndarray:
            batch = self._decoder.get_frames_played_at(seconds=keys.tolist())
            pts_of.update(zip(keys.tolist(), batch.pts_seconds.tolist()))
            return batch.data.numpy()

        frames = _gather(self.path, seconds, decode, out_hw)
        actual = np.array([pts_of[s] for s in seconds.tolist()], np.float64) - self._begin
        return frames, actual

    def close(self) -> None:
        """Drop the decoder (idempotent)."""
        self._decoder = None
