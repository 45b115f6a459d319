"""Synthetic test videos whose frames carry their own index.

:func:`write_test_video` writes an H.264 mp4 (libx264 ``ultrafast``, yuv420p) in which
every frame shows its index as 24 black/white blocks in the top half (3 rows of 8, most
significant bit first), and a solid background colour in the bottom half that changes
every second by default. :func:`read_frame_index` decodes the index back from an RGB
frame, so a test can check that a decoder returned exactly the frame it claims.

The blocks are at least 8 px wide and 8 px high (so the video must be at least 64×48),
aligned to even pixels so 4:2:0 chroma never straddles two blocks, and the layout is
proportional to the frame size, so the index survives compression and resizing. Frames
are built directly as YUV planes (no RGB→YUV conversion per frame), which lets a
1-hour 64×64 video at 2 fps be written in a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["SynthVideo", "write_test_video", "read_frame_index", "default_color"]

#: Layout of the index blocks: ``ROWS`` rows of ``COLS`` blocks in the top half.
COLS, ROWS = 8, 3
BITS = COLS * ROWS
_PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
    (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
)  # fmt: skip


@dataclass(frozen=True)
class SynthVideo:
    """What :func:`write_test_video` wrote.

    Attributes:
        path: the mp4 file.
        timestamps: (N,) float64 presentation time of each frame, in seconds.
        fps: nominal frame rate passed to the writer.
        width: frame width in pixels.
        height: frame height in pixels.
    """

    path: Path
    timestamps: np.ndarray
    fps: float
    width: int
    height: int

    @property
    def num_frames(self) -> int:
        """Number of frames written."""
        return len(self.timestamps)

    def index_at(self, t) -> np.ndarray:
        """Index of the frame displayed at time(s) ``t`` (last frame with pts <= t, clamped).

        Args:
            t: scalar or (K,) times in seconds.

        Returns:
            (K,) int64 frame indices (0-d for a scalar).
        """
        idx = np.searchsorted(self.timestamps, np.asarray(t, dtype=np.float64) + 1e-6, "right") - 1
        return np.clip(idx, 0, self.num_frames - 1)


def default_color(t: float) -> tuple[int, int, int]:
    """Background colour at time ``t`` seconds: one of 8 colours, changing every second."""
    return _PALETTE[int(t) % len(_PALETTE)]


def _rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited-range conversion (what swscale assumes for untagged video)."""
    r, g, b = (float(c) for c in rgb)
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return tuple(int(round(min(max(c, 0), 255))) for c in (y, u, v))  # type: ignore[return-value]


def _edges(n: int, parts: int) -> list[int]:
    """``parts + 1`` even pixel boundaries splitting ``n`` pixels into near-equal parts."""
    return [(i * n // parts) & ~1 for i in range(parts + 1)]


def _block_slices(height: int, width: int) -> list[tuple[slice, slice]]:
    """Pixel regions of the ``BITS`` index blocks, most significant bit first."""
    xs, ys = _edges(width, COLS), _edges(height // 2, ROWS)
    return [(slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1])) for r in range(ROWS) for c in range(COLS)]


def read_frame_index(frame: np.ndarray) -> int:
    """Decode the frame index drawn by :func:`write_test_video`.

    Args:
        frame: (H, W, 3) uint8 RGB frame (any size: the layout is proportional).

    Returns:
        The frame index (0 .. 2**24 - 1).
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    luma = frame.astype(np.float32).mean(axis=2)
    value = 0
    for ys, xs in _block_slices(*frame.shape[:2]):
        h, w = ys.stop - ys.start, xs.stop - xs.start
        core = luma[ys.start + h // 4 : ys.stop - h // 4 or None, xs.start + w // 4 : xs.stop - w // 4 or None]
        value = (value << 1) | int(core.mean() > 127.5)
    return value


def _frame_pts(seconds: float, fps: float, vfr: bool) -> np.ndarray:
    """Frame pts in units of ``1/fps``: every unit (CFR) or gaps alternating 1 and 3 (VFR)."""
    limit = seconds * fps - 1e-9
    if not vfr:
        return np.arange(max(1, math.ceil(limit)), dtype=np.int64)
    n = max(1, math.ceil((limit + 1) / 2))  # pts_i = 2i - (i % 2): gaps 1, 3, 1, 3, ...
    pts = 2 * np.arange(n + 1, dtype=np.int64) - np.arange(n + 1) % 2
    return pts[(pts < limit) | (np.arange(n + 1) == 0)]


def _panned_texture(height: int, width: int, speed: float = 48.0, seed: int = 0):
    """Return ``luma(t, base)``: a (height, width) uint8 window of a smooth random texture,
    panned ``speed`` px per second and centred on the background luma ``base``."""
    rng = np.random.default_rng(seed)
    span = width * 4
    coarse = rng.normal(0.0, 1.0, (height // 4 + 2, span // 4 + 2))
    rows = np.linspace(0, coarse.shape[0] - 1.001, height)
    cols = np.linspace(0, coarse.shape[1] - 1.001, span)
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    smooth = ((1 - fr) * ((1 - fc) * coarse[r0][:, c0] + fc * coarse[r0][:, c0 + 1])
              + fr * ((1 - fc) * coarse[r0 + 1][:, c0] + fc * coarse[r0 + 1][:, c0 + 1]))  # fmt: skip
    fine = rng.normal(0.0, 6.0, (height, span))
    texture = np.concatenate([smooth * 28.0 + fine] * 2, axis=1).astype(np.float32)

    def luma(t: float, base: int) -> np.ndarray:
        x = int(t * speed) % span
        return np.clip(texture[:, x : x + width] + base, 16, 235).astype(np.uint8)

    return luma


def _add_video_stream(container, fps: float, size: tuple[int, int], gop: int, preset: str,
                      bframes: int | None = None):  # fmt: skip
    rate = Fraction(fps).limit_denominator(1001)
    params = f"keyint={gop}:scenecut=0" + ("" if bframes is None else f":b-adapt=0:bframes={bframes}")
    stream = container.add_stream("libx264", rate=rate, options={"preset": preset, "crf": "23", "x264-params": params})
    stream.height, stream.width = size
    stream.pix_fmt = "yuv420p"
    stream.thread_type = "FRAME"  # one slice per frame, as ffmpeg and cameras write (slices would let decoders thread)
    stream.codec_context.time_base = 1 / rate
    return stream, rate


def _audio_writer(container, rate: int = 16000, hz: float = 440.0):
    """Return ``write(until_seconds)`` that muxes a mono sine AAC track up to a time."""
    import av

    stream = container.add_stream("aac", rate=rate)
    stream.layout = "mono"
    done = 0

    def write(until: float | None) -> None:
        nonlocal done
        if until is not None:
            n = int(until * rate) - done
            if n > 0:
                t = (done + np.arange(n)) / rate
                samples = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = rate, done
                container.mux(stream.encode(frame))
                done += n
        else:
            container.mux(stream.encode(None))

    return write


def write_test_video(
    path: str | Path,
    *,
    seconds: float,
    fps: float = 30,
    size: tuple[int, int] = (64, 64),
    gop: int | None = None,
    vfr: bool = False,
    audio: bool = False,
    color_fn: Callable[[float], tuple[int, int, int]] | None = None,
    faststart: bool = False,
    preset: str = "ultrafast",
    texture: bool = False,
    bframes: int | None = None,
) -> SynthVideo:
    """Write an H.264 mp4 whose frames encode their own index.

    Args:
        path: output file (parent directories are created).
        seconds: length of the video; frames are written at every pts < ``seconds``.
        fps: nominal frame rate. With ``vfr=True`` the gaps alternate ``1/fps`` and
            ``3/fps`` (e.g. 1/30 s and 1/10 s at 30 fps), so the real average rate is fps/2.
        size: (height, width), both even, at least (48, 64).
        gop: keyframe interval in frames; ``None`` means x264's default of 250. Scene-cut
            keyframes are disabled, so keyframes are exactly every ``gop`` frames.
        vfr: write irregular timestamps (see ``fps``).
        audio: add a mono 440 Hz sine AAC track.
        color_fn: background colour ``(r, g, b)`` for a time in seconds; defaults to
            :func:`default_color` (changes every second).
        faststart: put the mp4 index (moov) at the front of the file.
        preset: x264 preset; ``ultrafast`` has no B-frames, slower ones (e.g. ``veryfast``)
            add B-frames, so decode order differs from display order.
        texture: draw a fixed random texture over the bottom half, panned 48 px per second,
            so frames cost what camera footage costs to encode and decode (motion, residuals)
            instead of nearly nothing; the index blocks in the top half are untouched.
        bframes: a fixed pattern of this many B-frames between reference frames (x264
            ``b-adapt=0``; with 2 or more, the middle one is referenced: b-pyramid), as
            broadcast and streaming encoders write; ``None`` leaves the choice to the preset
            (on the panned texture x264 then writes almost only P-frames).

    Returns:
        A :class:`SynthVideo` with the real pts (seconds) of every frame written.
    """
    import av

    height, width = size
    if height % 2 or width % 2 or height < 48 or width < 64:
        raise ValueError(f"size must be even and at least (48, 64), got {size}")
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"seconds and fps must be positive, got {seconds=} {fps=}")
    color_fn = color_fn or default_color
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = _frame_pts(seconds, fps, vfr)
    if len(pts) >= 2**BITS:
        raise ValueError(f"{len(pts)} frames do not fit in the {BITS}-bit frame index")

    blocks = _block_slices(height, width)
    pan = _panned_texture(height - height // 2, width) if texture else None
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream, rate = _add_video_stream(container, fps, size, gop or 250, preset, bframes)
        write_audio = _audio_writer(container) if audio else None
        y = np.empty((height, width), np.uint8)
        uv = np.empty((2, height // 2, width // 2), np.uint8)
        times = pts / float(rate)
        for index, (p, t) in enumerate(zip(pts.tolist(), times.tolist())):
            cy, cu, cv = _rgb_to_yuv(color_fn(t))
            y[:], uv[0], uv[1] = cy, cu, cv
            uv[:, : height // 4] = 128  # neutral chroma under the black/white blocks
            if pan is not None:
                y[height // 2 :] = pan(t, cy)
            for bit, (ys, xs) in enumerate(blocks):
                y[ys, xs] = 235 if (index >> (BITS - 1 - bit)) & 1 else 16
            planes = np.concatenate([y, uv.reshape(height // 2, width)], axis=0)
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = p
            container.mux(stream.encode(frame))
            if write_audio is not None:
                write_audio(t + 1 / float(rate))
        container.mux(stream.encode(None))
        if write_audio is not None:
            write_audio(None)
    return SynthVideo(path=path, timestamps=times, fps=float(fps), width=width, height=height)
