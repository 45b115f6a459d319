"""The :class:`Answer` a pipeline returns, and parsing of times cited in answer text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HMS = re.compile(r"\b(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:\.(\d+))?\b")
_SECS = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)\b", re.IGNORECASE)


def cited_times(text: str) -> list[float]:
    """Times in seconds cited in ``text``, in order of appearance, without duplicates.

    Understands ``h:mm:ss``, ``mm:ss`` (optionally with a fraction) and ``12.5 s`` /
    ``12 seconds``. Example: ``"at 1:05 and again at 90s"`` -> ``[65.0, 90.0]``.
    """
    found: list[tuple[int, float]] = []
    for m in _HMS.finditer(text):
        h, mnt, s, frac = m.groups()
        sec = int(h or 0) * 3600 + int(mnt) * 60 + int(s) + (float("0." + frac) if frac else 0.0)
        found.append((m.start(), float(sec)))
    for m in _SECS.finditer(text):
        found.append((m.start(), float(m.group(1))))
    out: list[float] = []
    for _, t in sorted(found):
        if t not in out:
            out.append(t)
    return out


@dataclass
class Answer:
    """One answer.

    Attributes:
        text: the generated answer.
        question: the question asked.
        cited_times: seconds cited in ``text`` (see :func:`cited_times`).
        frame_times: timestamps (s) of the frames the model saw.
        cited_pages: for documents, the 1-based pages cited.
        config: the resolved pipeline config.
        tokens: prompt / image / video / generated token counts.
        timings: seconds per stage.
        evidence: stage-1 segments backing the answer (language route).
        notes: what was skipped and why.
        context: how the language route fit the text (granularity, selection, prompt).
        scene_changes: language route: seconds at which stage 1 saw a new screen (slide changes).
    """

    text: str
    question: str
    cited_times: list[float] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    cited_pages: list[int] = field(default_factory=list)  # documents: 1-based pages backing the answer
    config: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    evidence: list[dict] = field(default_factory=list)  # language route: stage-1 segments backing the answer
    notes: list[str] = field(default_factory=list)  # e.g. describers that skipped (no audio track)
    context: dict = field(default_factory=dict)  # language route: granularity, selection, prompt text
    scene_changes: list[float] = field(default_factory=list)  # language route: times of new screens

    def __str__(self) -> str:
        return self.text
