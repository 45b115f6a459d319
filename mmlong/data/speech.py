"""Speech for synthetic lectures: espeak-ng per sentence, resampled to 16 kHz mono.

Each sentence is synthesized once (``espeak-ng -v en-us -s 160 -w out.wav TEXT``, a few
tens of milliseconds each, run in a small thread pool), resampled from espeak's 22.05 kHz
to 16 kHz with FFmpeg's swresample (through PyAV), and trimmed of leading and trailing
silence, so a sentence's recorded ``[start, end)`` is when it is actually audible.
Silence between sentences is never synthesized: :func:`mix` adds sentences into a zero
buffer for one stretch of the timeline at a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mmlong.errors import MmlongError

__all__ = ["RATE", "require_espeak", "synthesize", "mix"]

#: Sample rate of the lecture audio track (what Whisper expects).
RATE = 16000
_MISSING = "mmlong data lecture needs espeak-ng: apt-get install espeak-ng"


def require_espeak() -> str:
    """Path of the ``espeak-ng`` executable, or a one-line :class:`MmlongError` naming the fix."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MmlongError(_MISSING)
    return exe


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample mono int16 ``samples`` at ``rate`` Hz to float32 at :data:`RATE` Hz."""
    import av

    frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _trim(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Drop leading and trailing samples quieter than ``threshold`` (full scale 1.0)."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def _one(exe: str, text: str, path: Path, voice: str, wpm: int) -> np.ndarray:
    cmd = [exe, "-v", voice, "-s", str(wpm), "-w", str(path), "--", text]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not path.exists():
        err = " ".join((proc.stderr or "no output").split())
        raise MmlongError(f"espeak-ng failed on {text[:40]!r}: {err}; check `espeak-ng --voices` lists {voice!r}")
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise MmlongError(f"espeak-ng wrote an unexpected wav ({w.getnchannels()} ch, {8 * w.getsampwidth()} bit)")
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    return _trim(_resample(np.frombuffer(raw, "<i2").copy(), rate))


def synthesize(
    sentences: list[str], *, voice: str = "en-us", wpm: int = 160, workers: int | None = None
) -> list[np.ndarray]:
    """Speak each sentence with espeak-ng.

    Args:
        sentences: the texts, one espeak-ng call each.
        voice: espeak-ng voice name (``espeak-ng --voices`` lists them).
        wpm: speaking rate in words per minute (``-s``).
        workers: parallel espeak-ng processes (default ``min(4, cpu count)``).

    Returns:
        One float32 mono array at :data:`RATE` Hz per sentence, silence trimmed.

    Raises:
        MmlongError: espeak-ng is missing or fails.
    """
    exe = require_espeak()
    workers = workers or min(4, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="mmlong-espeak-") as tmp:
        paths = [Path(tmp) / f"{i}.wav" for i in range(len(sentences))]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda a: _one(exe, a[0], a[1], voice, wpm), zip(sentences, paths)))


def mix(clips: list[tuple[float, np.ndarray]], start: float, end: float, *, peak: float = 0.5) -> np.ndarray:
    """Place clips on a silent stretch of the timeline.

    Args:
        clips: ``(time, samples)`` pairs; ``time`` is in seconds from the video start.
        start: stretch start in seconds (a multiple of ``1 / RATE`` is best).
        end: stretch end in seconds.
        peak: each clip is scaled so its loudest sample is ``peak``.

    Returns:
        float32 mono samples covering ``[start, end)`` at :data:`RATE` Hz.
    """
    first, last = round(start * RATE), round(end * RATE)
    out = np.zeros(last - first, np.float32)
    for t, samples in clips:
        if not len(samples):
            continue
        i = round(t * RATE) - first
        lo, hi = max(i, 0), min(i + len(samples), len(out))
        if lo < hi:
            out[lo:hi] += samples[lo - i : hi - i] * (peak / max(float(np.abs(samples).max()), 1e-6))
    return out
