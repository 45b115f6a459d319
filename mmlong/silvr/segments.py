"""Stage-1 output of the language route: timestamped text segments of one video.

A :class:`Segment` is what a describer saw or heard in ``[start, end)`` seconds: a speech
line (ASR), the on-screen text of a slide (OCR) or a clip caption (VLM). A
:class:`Transcript` holds all segments of a video plus notes about describers that skipped
(no audio track, unreadable audio, no text on screen).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

SOURCES = ("speech", "screen", "caption")


@dataclass(frozen=True)
class Segment:
    """One piece of stage-1 text."""

    start: float  # seconds
    end: float  # seconds, > start
    text: str  # what was said / shown / captioned
    source: str  # "speech" | "screen" | "caption"


@dataclass(frozen=True)
class Transcript:
    """All stage-1 text of one video, sorted by start time."""

    duration: float  # seconds
    segments: tuple[Segment, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "speech: skipped, the video has no audio track"
    settings: dict = field(default_factory=dict, compare=False)  # describer settings, for the record

    def of(self, source: str) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.source == source)

    def merged(self, other: "Transcript") -> "Transcript":
        segs = tuple(sorted(self.segments + other.segments, key=lambda s: (s.start, s.source)))
        return Transcript(max(self.duration, other.duration), segs, self.notes + other.notes,
                          {**self.settings, **other.settings})

    def to_json(self) -> str:
        return json.dumps({"duration": self.duration, "segments": [asdict(s) for s in self.segments],
                           "notes": list(self.notes), "settings": self.settings})

    @classmethod
    def from_json(cls, text: str) -> "Transcript":
        d = json.loads(text)
        return cls(d["duration"], tuple(Segment(**s) for s in d["segments"]), tuple(d["notes"]), d.get("settings", {}))


def hms(seconds: float) -> str:
    """``HH:MM:SS`` of a time in seconds (rounded down). Example: ``hms(3723.9) == "01:02:03"``."""
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
