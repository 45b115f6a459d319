"""PyAV backend: keyframe seeking plus forward decoding, with bounded memory.

Requested times are visited in sorted order by a :class:`_Cursor` that only moves
forward. Before each target it asks the demuxer's index for the keyframe at or before
the target; it seeks only when that keyframe lies beyond what has already been decoded
(otherwise decoding on is cheaper than restarting from the same keyframe). Formats
without an index (e.g. MPEG-TS) seek when the gap exceeds ``max(2 s, largest GOP
seen)``. Pictures no target shows and nothing references (non-reference B-frames before
a target) are not decoded at all (:mod:`mmlong.video.skip_nonref`). Only two decoded
frames are held at a time (the last one at or before the target and the first one after
it); frames are converted to RGB only when returned.

Batches spanning several decode runs (:mod:`mmlong.video.decode_plan`) are split into
contiguous groups of runs decoded in parallel, one container and one single-threaded
decoder per worker (FFmpeg releases the GIL while decoding), so each GOP is still decoded
at most once and memory stays at two decoded frames per worker plus the returned frames.

Recovery: if a seek lands after the target (imprecise demuxers) or on missing data (a
truncated file), the cursor seeks further back (1 s, 4 s, 16 s, ... before the target)
and finally decodes from the start. Once the end of the decodable data is found, later
times are clamped to the last frame there.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from mmlong.errors import MmlongError
from mmlong.video.decode_plan import split_runs
from mmlong.video.skip_nonref import NonRefSkip, skip_nonref
from mmlong.video.source import VideoInfo, VideoSource, check_times, resize_rgb, resolve_size, unreadable

__all__ = ["PyAVSource"]

EPS = 1e-6  # seconds: far below any frame gap, far above float noise
_NO_INDEX_SEEK_GAP = 2.0  # seconds to skip before seeking when the format has no index


# PyAV < 19 raises on tags that are not UTF-8 unless told to ignore them; 19 dropped the option.
_OPEN_OPTS = {"metadata_errors": "ignore"} if int(av.__version__.split(".")[0]) < 19 else {}


def decode_workers() -> int:
    """Decoders run at once for one batch: the CPUs this process may use (``MMLONG_DECODE_WORKERS``
    overrides; 1 turns parallel decoding off)."""
    env = os.environ.get("MMLONG_DECODE_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise MmlongError(f"MMLONG_DECODE_WORKERS must be a whole number, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _open_stream(path: Path, *, threads: int = 0):
    """Open ``path`` and return ``(container, first video stream)``, or raise MmlongError.

    ``threads=0`` lets FFmpeg pick frame and slice threads; ``threads=1`` decodes on the
    calling thread only (used when several decoders already run in parallel)."""
    try:
        container = av.open(str(path), "r", **_OPEN_OPTS)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise unreadable(path, f"{reason} (is it a video file? is it complete?)") from None
    if not container.streams.video:
        container.close()
        raise unreadable(path, "no video stream found (is it a video file?)")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO" if threads != 1 else "SLICE"
    stream.thread_count = threads
    return container, stream


def _scan_packets(path: Path, stream_index: int, *, tail: bool = False) -> tuple[int, int | None]:
    """Demux (without decoding) the video packets: return (count, end pts or None).

    With ``tail=True`` only the packets from the last keyframe on are read (the count
    is then of those packets only).
    """
    count, end = 0, None
    with av.open(str(path), "r", **_OPEN_OPTS) as container:
        stream = container.streams[stream_index]
        try:
            if tail:
                container.seek(2**62, stream=stream, backward=True, any_frame=False)
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                count += 1
                if packet.pts is not None:
                    stop = packet.pts + (packet.duration or 0)
                    end = stop if end is None else max(end, stop)
        except av.FFmpegError:
            pass  # truncated or unseekable: keep what was read
    return count, end


def _positive(*values) -> float | None:
    """First value that is a positive number (Fractions allowed), as float."""
    for value in values:
        if value is not None and float(value) > 0:
            return float(value)
    return None


def read_info(path: Path, container, stream) -> VideoInfo:
    """Fill in :class:`VideoInfo`, estimating what the container lacks.

    Duration is the larger of the stream duration and the end of the last packet (found by
    seeking to the last keyframe and demuxing from there), so it covers the last frame even
    when the container stores a shorter one (seen on VFR files); else the container
    duration, else the pts of all packets (demuxed, not decoded), else packet count / fps.
    The frame rate is the stream's average rate, else the codec's guess, else count / duration.

    Raises:
        MmlongError: if neither a duration nor a frame count can be found.
    """
    tb = stream.time_base
    start = float((stream.start_time or 0) * tb) if tb else 0.0
    has_pts = stream.start_time is not None
    duration = _positive(stream.duration * tb) if stream.duration and tb else None
    if has_pts and tb:  # a stored duration can end before the last frame (VFR muxers): it must cover it
        _, end = _scan_packets(path, stream.index, tail=True)
        last = _positive(end * tb - start) if end is not None else None
        duration = max(duration or 0.0, last or 0.0) or None
    if duration is None and container.duration:
        container_end = ((container.start_time or 0) + container.duration) / av.time_base
        duration = _positive(container_end - start)
    rates = (stream.average_rate, stream.guessed_rate, stream.base_rate)
    fps = _positive(*(rates if has_pts else rates[1:] + rates[:1]))
    count = stream.frames or 0
    if duration is None or fps is None:
        count, end = _scan_packets(path, stream.index)
        if duration is None and end is not None and tb:
            duration = _positive(end * tb - start)
        if duration is None and count and fps:
            duration = count / fps
        if fps is None and count and duration:
            fps = count / duration
    if not duration or not fps:
        raise unreadable(path, "cannot determine the video duration (no timestamps, no frames)")
    return VideoInfo(
        duration=duration,
        fps=fps,
        num_frames=int(count) if count > 0 else max(1, round(duration * fps)),
        has_audio=bool(container.streams.audio),
        width=stream.codec_context.width,
        height=stream.codec_context.height,
    )


@dataclass(eq=False)
class _Decoded:
    """A decoded frame and its time in seconds from the stream start."""

    time: float
    frame: av.VideoFrame


class _Cursor:
    """Forward decoding position in one video stream, with keyframe seeking."""

    def __init__(self, path: Path, container, stream, fps: float, *, threads: int = 0):
        self._path, self._fps, self._threads = path, fps, threads
        self._container, self._stream = container, stream
        self._tb = float(stream.time_base) if stream.time_base else 1.0 / fps
        self._start_pts = stream.start_time or 0
        self._end = math.inf  # time of the last decodable frame, once seen
        self._gop = 0.0  # largest keyframe interval seen (used without an index)
        self._timeless = False  # frames carry no pts: time = count / fps, no seeking
        self._target_pts = -math.inf  # pts of the time being located (decoding never skips past it)
        self._reset(self._iter_frames(), at_start=True)

    # -- position state -------------------------------------------------------------
    def _reset(self, frames, *, at_start: bool) -> None:
        self._frames = frames
        self._prev: _Decoded | None = None  # last frame at or before the last target
        self._next: _Decoded | None = None  # first frame after it (decoded, not consumed)
        self._at_start = at_start
        self._count = 0
        self._last_key: float | None = None

    def _restart(self) -> None:
        """Reopen the file and decode from the very first frame."""
        self._container.close()
        self._container, self._stream = _open_stream(self._path, threads=self._threads)
        self._reset(self._iter_frames(), at_start=True)

    def _seek(self, t: float) -> None:
        if t <= EPS or self._timeless:
            self._restart()
            return
        target = int(math.floor(self._start_pts + t / self._tb))
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.FFmpegError:
            self._restart()
            return
        self._reset(self._iter_frames(), at_start=False)

    # -- decoding -------------------------------------------------------------------
    def _iter_frames(self):
        """Yield decoded frames; unreadable packets are skipped, read errors end the stream.

        Frames no target shows and nothing references are not decoded (see :class:`NonRefSkip`).
        """
        packets = self._container.demux(self._stream)
        skip = NonRefSkip(self._stream.codec_context) if skip_nonref() else None
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.FFmpegError, OSError):
                break
            if skip is not None and not self._timeless:
                skip.before(packet.pts, self._target_pts)
            try:
                yield from packet.decode()
            except av.FFmpegError:
                continue
        try:  # a read error skipped demux's final flush packet: drain the decoder
            yield from self._stream.decode(None)
        except (av.FFmpegError, EOFError):
            pass

    def _pull(self) -> _Decoded | None:
        frame = next(self._frames, None)
        if frame is None:
            return None
        if frame.pts is None:
            self._timeless = True
            time = self._count / self._fps
        else:
            time = (frame.pts - self._start_pts) * self._tb
        self._count += 1
        if frame.key_frame:
            if self._last_key is not None:
                self._gop = max(self._gop, time - self._last_key)
            self._last_key = time
        return _Decoded(time, frame)

    def _advance(self, t: float) -> None:
        """Decode until ``_next`` is after ``t``; ``_prev`` becomes the frame shown at ``t``."""
        self._target_pts = self._start_pts + (t + EPS) / self._tb
        while True:
            if self._next is None:
                self._next = self._pull()
                if self._next is None:  # end of decodable data
                    if self._prev is not None:
                        self._end = min(self._end, self._prev.time)
                    return
            if self._next.time > t + EPS:
                return
            self._prev, self._next = self._next, None

    # -- seeking policy -------------------------------------------------------------
    def keyframe_before(self, t: float) -> float | None:
        """Time of the index's keyframe at or before ``t`` (-inf if none; None if no index)."""
        entries = self._stream.index_entries
        if len(entries) == 0:
            return None
        k = entries.search_timestamp(int(math.floor(self._start_pts + t / self._tb)), backward=True)
        return -math.inf if k < 0 else (entries[k].timestamp - self._start_pts) * self._tb

    def _must_go_back(self, t: float) -> bool:
        if self._prev is not None:
            return self._prev.time > t + EPS
        return self._next is not None and self._next.time > t + EPS and not self._at_start

    def _worth_seeking(self, t: float) -> bool:
        current = self._next or self._prev
        if current is not None:
            position = current.time
        elif self._at_start:  # nothing decoded yet: decoding would start at the first frame
            position = 0.0
        else:
            return False
        if self._timeless or t <= position + EPS:
            return False
        keyframe = self.keyframe_before(t)
        if keyframe is None:
            return t - position > max(_NO_INDEX_SEEK_GAP, self._gop)
        return keyframe > position + EPS

    def locate(self, t: float) -> _Decoded:
        """Return the frame displayed at ``t`` seconds (clamped to the first/last frame).

        Calls should come in non-decreasing ``t`` for speed; earlier times cost a seek.
        """
        t = min(t, self._end)
        if self._must_go_back(t) or self._worth_seeking(t):
            self._seek(t)
        back = 1.0
        while True:
            self._advance(t)
            if self._prev is not None:
                return self._prev
            if self._at_start:
                if self._next is not None:  # t is before the first frame
                    return self._next
                raise unreadable(self._path, "no decodable video frames (is the file truncated or corrupt?)")
            # The seek landed after t or on missing data: go further back.
            if t - back <= EPS:
                self._restart()
            else:
                self._seek(t - back)
                back *= 4

    def close(self) -> None:
        self._frames = iter(())
        self._prev = self._next = None
        self._container.close()


class PyAVSource(VideoSource):
    """A video read with PyAV (FFmpeg). See :class:`~mmlong.video.source.VideoSource`."""

    backend = "pyav"

    def __init__(self, path: Path):
        container, stream = _open_stream(path)
        try:
            info = read_info(path, container, stream)
        except MmlongError:
            container.close()
            raise
        except (av.FFmpegError, OSError, ValueError, ZeroDivisionError) as exc:
            container.close()
            raise unreadable(path, f"bad metadata ({exc})") from exc
        super().__init__(path, info)
        self._cursor: _Cursor | None = _Cursor(path, container, stream, info.fps)
        self._pool: list[_Cursor] = []  # parallel-run cursors, opened on first need

    def frames_at(self, timestamps, *, size=None) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`VideoSource.frames_at`. Shapes: (N,) seconds -> (N, H, W, 3), (N,).

        Several decode runs are read in parallel (see the module docstring)."""
        if self._cursor is None:
            raise MmlongError(f"video {str(self.path)!r} is closed; open it again with mmlong.video.open")
        times = check_times(timestamps)
        out_hw = resolve_size(size, self.height, self.width) or (self.height, self.width)
        frames = np.empty((len(times), *out_hw, 3), np.uint8)
        actual = np.empty(len(times), np.float64)
        order = np.argsort(times, kind="stable")
        parts = self._plan(times[order])
        try:
            if len(parts) <= 1:
                self._read(self._cursor, order, times, frames, actual, out_hw)
            else:
                cursors = self._workers(len(parts))
                with ThreadPoolExecutor(len(parts), thread_name_prefix="mmlong-decode") as pool:
                    jobs = [pool.submit(self._read, c, order[p], times, frames, actual, out_hw)
                            for c, p in zip(cursors, parts)]  # fmt: skip
                    for job in jobs:
                        job.result()
        except MmlongError:
            raise
        except Exception as exc:  # FFmpeg/PyAV errors of any kind: one line, cause chained
            raise unreadable(self.path, f"decoding failed ({type(exc).__name__}: {exc})") from exc
        return frames, actual

    def _plan(self, sorted_times: np.ndarray) -> list[slice]:
        """Slices of the sorted targets, one per parallel worker (one slice: no parallelism)."""
        workers = decode_workers()
        if workers == 1 or len(sorted_times) < 2:
            return [slice(0, len(sorted_times))]
        sorted_times = np.minimum(sorted_times, self.duration)  # later times show the last frame
        keyframes = [self._cursor.keyframe_before(float(t)) for t in sorted_times]
        if keyframes[0] is None:  # no index (e.g. MPEG-TS): runs are unknown, decode in one go
            return [slice(0, len(sorted_times))]
        return split_runs(sorted_times, np.asarray(keyframes, dtype=np.float64), workers)

    def _workers(self, n: int) -> list[_Cursor]:
        """``n`` cursors for parallel runs, each on its own container with a single-threaded decoder
        (kept open for later calls)."""
        while len(self._pool) < n:
            container, stream = _open_stream(self.path, threads=1)
            self._pool.append(_Cursor(self.path, container, stream, self.fps, threads=1))
        return self._pool[:n]

    @staticmethod
    def _read(cursor: _Cursor, indices: np.ndarray, times: np.ndarray, frames: np.ndarray,
              actual: np.ndarray, out_hw: tuple[int, int]) -> None:  # fmt: skip
        """Decode ``times[indices]`` (ascending) with ``cursor`` into ``frames`` / ``actual``."""
        last, rgb = None, None
        for i in indices:
            item = cursor.locate(float(times[i]))
            if item is not last:
                last, rgb = item, resize_rgb(item.frame.to_ndarray(format="rgb24"), out_hw)
            frames[i], actual[i] = rgb, item.time

    def close(self) -> None:
        """Close the underlying container (idempotent)."""
        cursor, self._cursor = getattr(self, "_cursor", None), None
        pool, self._pool = getattr(self, "_pool", []), []
        for c in [cursor, *pool]:
            if c is not None:
                c.close()
