"""On-screen text by OCR, run on scene changes only (RapidOCR, models inside its wheel).

Frames are scanned at ``scan_fps`` in small decoded chunks (bounded memory); a frame is
OCR'd when more than ``change_fraction`` of its 128x72 grey thumbnail's pixels differ by more
than 24 levels from the last OCR'd frame (a changed line of slide text moves hundreds of
pixels; compression noise moves almost none). Each OCR result becomes one
``screen`` segment lasting until the next change; identical text extends the previous one.

The recogniser often drops the space between words ("Exampassword: ORCHID",
"Roleofgravityin"); :func:`tidy` puts spaces back, so a question's words match a slide's.
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
    det_side: int = 360  # frames with a shorter side below this are upscaled for text detection (RapidOCR: 736)
    use_cls: bool = False  # RapidOCR's 180-degree text-direction classifier (slide text is upright)


def _thumb(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).convert("L").resize((128, 72), Image.BILINEAR), dtype=np.float32)


def split_word(word: str) -> str:
    """``word`` with the spaces the recogniser dropped put back, by wordninja's English unigram costs.

    A word in wordninja's list, a word with a capital after its first letter (codes, acronyms,
    a capitalised word read with some small letters) and a word of fewer than 5 letters stay as they are; otherwise the cheapest split is taken when every part has at
    least 2 letters (or is "a"). Example: ``"Exampassword"`` -> ``"Exam password"``,
    ``"ORCHID"`` -> ``"ORCHID"``.
    """
    if len(word) < 5 or not word.isalpha() or any(c.isupper() for c in word[1:]):
        return word  # a capital inside: a code or a misread capitalised word, not words run together
    if _known(word):
        return word
    wn = require("wordninja", "ocr")
    parts = list(wn.split(word))
    if len(parts) < 2 or any(len(p) < 2 and p.lower() != "a" for p in parts):
        return word
    return " ".join(parts)


def _known(word: str) -> bool:
    """True when ``word`` (any case) is in wordninja's English word list (126k words)."""
    return word.lower() in require("wordninja", "ocr").DEFAULT_LANGUAGE_MODEL._wordcost


_CAPITAL_SHAPED = set("cosuvwxzl")  # lower-case letters drawn like their capitals ("l" like "I")


def _l_for_i(word: str) -> str:
    """A capitals word with an I read as L ("GLRAFFE" -> "GIRAFFE"), put back only when the word
    as read is not an English word and exactly one choice of L's read as I's is; else unchanged."""
    at = [i for i, c in enumerate(word) if c == "L"]
    if len(word) < 4 or not word.isupper() or not at or len(at) > 3 or _known(word):
        return word
    found = set()
    for mask in range(1, 1 << len(at)):
        cand = "".join("I" if i in at and mask >> at.index(i) & 1 else c for i, c in enumerate(word))
        if _known(cand):
            found.add(cand)
    return found.pop() if len(found) == 1 else word


def _caps(word: str) -> str:
    """A word of 4+ letters written in capitals but read with a few small letters, in capitals again.

    Either at least three quarters of its letters are capitals ("CoBALT" -> "COBALT"), or at
    least half are and every small one looks like its capital ("BlsON" -> "BISON", "SEQuolA" ->
    "SEQUOIA"); a small "l" among capitals is an "I". Then :func:`_l_for_i`.
    """
    upper = sum(c.isupper() for c in word)
    if len(word) < 4:
        return word
    if upper >= 0.75 * len(word):
        return _l_for_i(word.replace("l", "I").upper())
    if upper >= 0.5 * len(word) and all(c.isupper() or c in _CAPITAL_SHAPED for c in word):
        return _l_for_i(word.replace("l", "I").upper())
    return _l_for_i(word)


def _digits(token: str) -> str:
    """A number read with a letter O for a zero ("5o00" -> "5000"): 2+ digits and only o/O besides."""
    return re.sub("[oO]", "0", token) if sum(c.isdigit() for c in token) >= 2 else token


def tidy(line: str) -> str:
    """Restore spaces the recogniser drops (after ``:`` / ``,``, at lower-to-upper joins, inside
    words), the capitals it lowers inside a capitalised word and the zeros it reads as O.

    Example: ``"TheWater Cycle:History / Exampassword: ORCHID / SEQUoIA / Room 5o00"`` ->
    ``"The Water Cycle: History / Exam password: ORCHID / SEQUOIA / Room 5000"``.
    """
    line = re.sub(r"[A-Za-z]+", lambda m: _caps(m.group(0)), line.strip())
    line = re.sub(r"\b[0-9oO]*[0-9][0-9oO]*\b", lambda m: _digits(m.group(0)), line)
    line = re.sub(r"([:;,])(?=[A-Za-z0-9])", r"\1 ", line)
    line = re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", " ", line)
    return re.sub(r"[A-Za-z]+", lambda m: split_word(m.group(0)), line)


class OCRDescriber:
    """Reads on-screen text at scene changes."""

    name = "ocr"
    version = 8

    def __init__(self, settings: OCRSettings = OCRSettings()):
        self.settings = settings
        self._engine = None

    def key(self) -> dict:
        return {"describer": self.name, "version": self.version, **self.settings.__dict__}

    def _ocr(self, frame: np.ndarray) -> str:
        if self._engine is None:
            mod = require("rapidocr_onnxruntime", "ocr")
            self._engine = mod.RapidOCR(det_limit_side_len=self.settings.det_side)
        result, _ = self._engine(frame, use_cls=self.settings.use_cls)
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
