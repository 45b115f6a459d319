"""Opening a video: the :class:`VideoSource` interface and :func:`open`.

A :class:`VideoSource` answers "which frame is on screen at time t?" for a batch of
times, using keyframe seeking so that sampling never decodes the whole file. Times are
seconds on the video stream's own timeline, measured from the stream's start (the first
frame is at about 0.0), and every returned frame comes with its **actual** timestamp
(its pts), never the requested one.

Backends: ``"pyav"`` (default, always available), ``"decord"`` and ``"torchcodec"``
(optional extras; asking for a missing one raises :class:`~mmlong.errors.MmlongError`
naming the ``pip install`` to run).
"""

from __future__ import annotations

import abc
import builtins
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmlong.errors import MmlongError

__all__ = ["VideoInfo", "VideoSource", "open", "check_file", "still_image_format", "BACKENDS"]

#: Decoder backends for :func:`open` (``None`` means ``"pyav"``): name -> "module:class",
#: imported on first use. Each class takes the path and returns an open VideoSource.
BACKENDS = {
    "pyav": "mmlong.video._pyav:PyAVSource",
    "decord": "mmlong.video._optional:DecordSource",
    "torchcodec": "mmlong.video._optional:TorchCodecSource",
}


@dataclass(frozen=True)
class VideoInfo:
    """Stream metadata, with every field filled in (estimated when the container lacks it).

    Attributes:
        duration: seconds from the first frame to the end of the last frame.
        fps: average frame rate (frames per second).
        num_frames: frame count (estimated as ``round(duration * fps)`` if not stored).
        has_audio: whether the file has an audio stream.
        width: frame width in pixels.
        height: frame height in pixels.
    """

    duration: float
    fps: float
    num_frames: int
    has_audio: bool
    width: int
    height: int


def unreadable(path: str | os.PathLike, reason: str) -> MmlongError:
    """Build the one-line error for a video that cannot be read.

    Args:
        path: the video path.
        reason: what went wrong, e.g. ``"no video stream found (is it a video file?)"``.
    """
    reason = " ".join(str(reason).split())  # one line, whatever FFmpeg said
    return MmlongError(f"cannot read video {str(path)!r}: {reason}")


def check_times(timestamps) -> np.ndarray:
    """Validate requested times.

    Args:
        timestamps: scalar or sequence of seconds.

    Returns:
        (N,) float64 array.

    Raises:
        MmlongError: if a time is NaN or infinite, or the array is not 1-D.
    """
    times = np.atleast_1d(np.asarray(timestamps, dtype=np.float64))
    if times.ndim != 1:
        raise MmlongError(f"timestamps must be a 1-D sequence of seconds, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise MmlongError("timestamps must be finite numbers of seconds (got NaN or inf)")
    return times


def resolve_size(size, height: int, width: int) -> tuple[int, int] | None:
    """Turn a ``size`` argument into an output (height, width).

    Args:
        size: ``None`` (keep), an int (length of the shorter side, aspect kept), or
            ``(height, width)``.
        height: source frame height.
        width: source frame width.

    Returns:
        ``(out_h, out_w)``, or ``None`` when frames keep their native size.
    """
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size < 1:
            raise MmlongError(f"size must be >= 1 pixel, got {size}")
        scale = size / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    try:
        out_h, out_w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise MmlongError(f"size must be None, an int or (height, width), got {size!r}") from None
    if out_h < 1 or out_w < 1:
        raise MmlongError(f"size must be positive, got {size!r}")
    return out_h, out_w


def resize_rgb(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize one RGB frame with PIL bicubic.

    Args:
        frame: (H, W, 3) uint8.
        size: (out_h, out_w), or ``None`` to return ``frame`` unchanged.

    Returns:
        (out_h, out_w, 3) uint8.
    """
    if size is None or frame.shape[:2] == tuple(size):
        return frame
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame)).resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(image)


class VideoSource(abc.ABC):
    """An open video file. Use as a context manager, or call :meth:`close`.

    Attributes:
        path: the file.
        backend: the decoder backend name.
        info: the :class:`VideoInfo` metadata.
    """

    backend: str = ""

    def __init__(self, path: Path, info: VideoInfo):
        self.path = path
        self.info = info

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.info.duration

    @property
    def fps(self) -> float:
        """Average frame rate."""
        return self.info.fps

    @property
    def num_frames(self) -> int:
        """Frame count (estimated when the container does not store it)."""
        return self.info.num_frames

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio stream."""
        return self.info.has_audio

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self.info.width

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self.info.height

    @abc.abstractmethod
    def frames_at(self, timestamps, *, size=None) -> tuple[np.ndarray, np.ndarray]:
        """Return the frame displayed at each requested time.

        For time ``t`` this is the last frame whose pts <= t; times before the first
        frame give the first frame and times after the last give the last one.

        Args:
            timestamps: (N,) seconds, any order, duplicates allowed.
            size: optional output size, see :func:`resolve_size`; frames are resized
                one at a time (PIL bicubic), so memory holds only the output.

        Returns:
            ``(frames, actual)``: (N, H, W, 3) uint8 RGB frames and (N,) float64 actual
            timestamps in seconds (the pts of each returned frame).

        Raises:
            MmlongError: if the video cannot be decoded.
        """

    def close(self) -> None:
        """Release the decoder (idempotent)."""

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        i = self.info
        return (
            f"{type(self).__name__}({str(self.path)!r}, {i.width}x{i.height}, "
            f"{i.duration:.2f}s @ {i.fps:.3g} fps, {i.num_frames} frames, audio={i.has_audio})"
        )


#: First bytes of still-image formats: a file that starts like this is an image, whatever its name.
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
                (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def still_image_format(path: str | os.PathLike) -> str | None:
    """The format name when ``path`` holds a single still image (PNG, JPEG, GIF, BMP, TIFF, WebP), else None.

    Decided by content, not by the name; an animated GIF / PNG / WebP (more than one frame) is
    not a still image and is read as a video. The one rule for "an image given as a video":
    :func:`check_file` refuses it for every reader, the demo's upload check for its page.
    """
    try:
        with builtins.open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    kind = next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is None:
        return None
    try:
        from PIL import Image

        with Image.open(path) as img:
            return kind if getattr(img, "n_frames", 1) <= 1 else None
    except Exception:  # noqa: BLE001 - not an image after all: let the decoder say what it is
        return None


def check_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it can be opened as a video, else the one-line error saying why not.

    The rule :func:`open` applies before any decoder runs (``mmlong ask`` calls it before
    loading a model): the file exists, is a regular file, is readable and not empty, and is
    not a still image (images go to ``--image`` / ``images=``, whatever the file is named).

    Raises:
        MmlongError: naming the problem and the fix.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise unreadable(path, "file not found (check the path)")
    if not path.is_file():
        raise unreadable(path, "it is a directory, not a video file; pass the path of a video file"
                         if path.is_dir() else "not a regular file")
    if not os.access(path, os.R_OK):
        raise unreadable(path, "permission denied; make the file readable (chmod u+r) or copy it")
    try:
        with builtins.open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise unreadable(path, exc.strerror or exc) from None
    if not head:
        raise unreadable(path, "the file is empty")
    image = still_image_format(path)
    if image is not None:
        raise unreadable(path, f"it is a {image} image, not a video; pass it as an image "
                         "(mmlong ask --image FILE, or images= in Python)")
    return path


def open(path: str | os.PathLike, backend: str | None = None) -> VideoSource:  # noqa: A001
    """Open a video file for timestamped frame access.

    Args:
        path: video file path, or a ``file://`` / ``data:`` / http(s) URL
            (:func:`mmlong.media_sources.local_path`; the source's ``path`` is then the local file).
        backend: ``"pyav"`` (default when ``None``), ``"decord"`` or ``"torchcodec"``.

    Returns:
        An open :class:`VideoSource`; close it (or use ``with``) when done.

    Raises:
        MmlongError: for a missing file, a file that is not a readable video (see
            :func:`check_file`: a directory, an empty or unreadable file, a still image), an
            unknown backend, a backend whose optional package is not installed, or a URL
            that cannot be fetched or decoded.
    """
    from mmlong.media_sources import local_path

    name = backend or "pyav"
    if name not in BACKENDS:
        raise MmlongError(f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = check_file(local_path(path, "video"))
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(path)
