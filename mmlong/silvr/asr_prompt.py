"""The slides' own words as the speech recogniser's prompt, one prompt per stretch of audio.

A lecturer talks about what the slide shows, so the words OCR read on screen are the words
most likely to be spoken meanwhile: given as Whisper's ``initial_prompt`` they bias decoding
towards them (a name on a slide is heard as that name, not as a commoner word that sounds
alike). The audio is cut into pieces at the silences nearest to each slide change (so no
word is cut), and each piece is decoded with the text of the slide shown over most of it.

Worked example: slides "Rivers / Delta" over [0, 40) s and "Glaciers" over [40, 90) s, speech
[1, 38.5) and [39.2, 85) s: the cut lies in the silence at 38.85 s; piece [0, 38.85) gets the
prompt "Rivers. Delta." and piece [38.85, 90) "Glaciers."
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mmlong.silvr.segments import Segment

PROMPT_CHARS = 400  # Whisper keeps the last 223 prompt tokens; 400 characters of slide text stay under that


@dataclass(frozen=True)
class Piece:
    """One stretch of audio [start, end) seconds and the prompt it is decoded with (None: no prompt)."""

    start: float
    end: float
    prompt: str | None


def screen_prompt(text: str, limit: int = PROMPT_CHARS) -> str | None:
    """A slide's OCR lines (joined by ``" / "``) as one prompt of sentences, at most ``limit`` characters.

    Example: ``"Volcanoes / Code word: BASALT"`` -> ``"Volcanoes. Code word: BASALT."``.
    Lines without a letter (page numbers, stray marks) are left out; None when nothing is left.
    """
    lines = [ln.strip().rstrip(".") for ln in text.split(" / ")]
    lines = [ln for ln in lines if any(c.isalpha() for c in ln)]
    out = ""
    for ln in lines:
        nxt = (out + " " if out else "") + ln + "."
        if len(nxt) > limit:
            break
        out = nxt
    return out or None


def _cut(t: float, speech: Sequence[tuple[float, float]]) -> float:
    """The silence point nearest to ``t``: ``t`` itself when no speech covers it, else the nearer
    edge of the speech span covering it (the midpoint of the silence beside that edge)."""
    for i, (a, b) in enumerate(speech):
        if a < t < b:
            before = (speech[i - 1][1] + a) / 2 if i > 0 else a
            after = (b + speech[i + 1][0]) / 2 if i + 1 < len(speech) else b
            return before if t - a <= b - t else after
    return t


def pieces(screen: Sequence[Segment], speech: Sequence[tuple[float, float]], duration: float) -> list[Piece]:
    """Audio pieces over [0, ``duration``) cut at the silences nearest to the slide changes.

    ``screen``: OCR segments (sorted by start); ``speech``: voice-activity spans in seconds
    (sorted, disjoint). Each piece's prompt is that of the slide overlapping it longest;
    neighbouring pieces with the same prompt are one piece. No screen text: one piece, no prompt.
    """
    cuts = sorted({round(_cut(s.start, speech), 3) for s in screen if 0.0 < s.start < duration})
    bounds = [0.0] + [c for c in cuts if 0.0 < c < duration] + [duration]
    out: list[Piece] = []
    for a, b in zip(bounds, bounds[1:]):
        if b <= a:
            continue
        best, prompt = 0.0, None
        for s in screen:
            overlap = min(b, s.end) - max(a, s.start)
            if overlap > best:
                best, prompt = overlap, screen_prompt(s.text)
        if out and out[-1].prompt == prompt:
            out[-1] = Piece(out[-1].start, b, prompt)
        else:
            out.append(Piece(a, b, prompt))
    return out or [Piece(0.0, duration, None)]
