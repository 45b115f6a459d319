"""On-screen text by OCR, run on scene changes only (RapidOCR, models inside its wheel).

Frames are scanned at ``scan_fps`` in small decoded chunks (bounded memory); a frame is
OCR'd when more than ``change_fraction`` of its 128x72 grey thumbnail's pixels differ by more
than 24 levels from the last OCR'd frame (a changed line of slide text moves hundreds of
pixels; compression noise moves almost none). Each OCR result becomes one
``screen`` segment lasting until the next change; identical text extends the previous one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mmlong.errors import require
from mmlong.silvr.segments import Segment, Transcript


@dataclass(frozen=True)
class OCRSettings:
    """How the OCR describer scans a video."""

    scan_fps: float = 0.5  # frames per second checked for scene changes
    change_fraction: float = 0.002  # share of 128x72 grey thumbnail pixels changing by > 24 levels = a change
    min_confidence: float = 0.5  # drop recognised lines below this score
    chunk: int = 16  # frames decoded per read (memory bound)


def _thumb(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).convert("L").resize((128, 72), Image.BILINEAR), dtype=np.float32)


def tidy(line: str) -> str:
    """Restore spaces the recogniser drops: after ``:`` / ``,`` and at lower-to-upper case joins.

    Example: ``"TheWater Cycle:History"`` -> ``"The Water Cycle: History"``.
    """
    line = re.sub(r"([:;,])(?=[A-Za-z0-9])", r"\1 ", line.strip())
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", line)


class OCRDescriber:
    """Reads on-screen text at scene changes."""

    name = "ocr"
    version = 4

    def __init__(self, settings: OCRSettings = OCRSettings()):
        self.settings = settings
        self._engine = None

    def key(self) -> dict:
        return {"describer": self.name, "version": self.version, **self.settings.__dict__}

    def _ocr(self, frame: np.ndarray) -> str:
        if self._engine is None:
            mod = require("rapidocr_onnxruntime", "ocr")
            self._engine = mod.RapidOCR()
        result, _ = self._engine(frame)
        lines = [tidy(text) for _box, text, score in (result or []) if float(score) >= self.settings.min_confidence]
        return " / ".join(t for t in lines if t)

    def describe(self, path: str, progress=None) -> Transcript:
        from mmlong.video import open as open_video

        st = self.settings
        segs: list[Segment] = []
        with open_video(path) as src:
            duration = float(src.duration)
            n = max(1, int(duration * st.scan_fps))
            times = (np.arange(n) + 0.5) / st.scan_fps
            last_thumb, cur, prev_t = None, None, 0.0  # cur = (start, text); prev_t = last scanned time
            for i in range(0, n, st.chunk):
                frames, actual = src.frames_at(times[i : i + st.chunk])
                for frame, t in zip(frames, actual):
                    th = _thumb(frame)
                    if last_thumb is not None and float((np.abs(th - last_thumb) > 24).mean()) <= st.change_fraction:
                        prev_t = float(t)
                        continue
                    last_thumb = th
                    text = self._ocr(frame)
                    # the change happened between the previous scan and this one: take the midpoint
                    start = 0.0 if cur is None else (prev_t + float(t)) / 2
                    prev_t = float(t)
                    if cur is not None and text == cur[1]:
                        continue
                    if cur is not None and cur[1]:
                        segs.append(Segment(cur[0], start, cur[1], "screen"))
                    cur = (start, text)
                if progress:
                    progress(min(n, i + st.chunk), n)
            if cur is not None and cur[1]:
                segs.append(Segment(cur[0], duration, cur[1], "screen"))
        notes = () if segs else ("screen: no text found on screen",)
        return Transcript(duration, tuple(segs), notes, {"ocr": self.key()})
