"""Evidence units: the stage-1 segments a question is answered from, each with its surroundings.

An :class:`Unit` is one stage-1 segment (a speech sentence, the text of one screen, a
caption, a chunk of page text): its own text (``focus``, where answers are taken from) and
the text around it that says which part of the video or document it belongs to
(``context``): for speech and captions, what is on screen at that moment, the speech of
the same screen in the ``lookback`` seconds before it and the next sentence when it follows
within 2 s ("Remember the number 2796." "You will need it for the quiz."); for page text, the heading above it
and the previous chunk of the page; a screen's context is empty, but its first line (the
slide's title) is its ``title``: the words there say where the unit is, not what a value
next to them is.

A question's terms and how they match units are in :mod:`mmlong.silvr.terms`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from mmlong.silvr.numbers import normalize
from mmlong.silvr.segments import Segment, Transcript

__all__ = ["Unit", "units_of", "stem", "words", "STOP", "META"]

#: Function words: never question terms.
STOP = frozenset("""a an the is are was were be been being am of in on at to for and or but nor what which who whom
whose when where why how this that these those it its with by from as do does did doing done can could would should
will shall may might must there here than then about into onto over under again our ours we us you your yours they
them their theirs he him his she her hers i me my mine any some all each every no not if so such very just also only
please let lets let's one ones up down out off further many much""".split())
#: Words about the medium or the act of telling, not about the content: never question terms.
META = frozenset("""video videos lecture lectures talk talks slide slides screen screens shown show shows showed
showing display displayed displays appear appears appeared written write writes read reads said say says saying
mention mentioned mentions speaker speakers presenter lecturer narrator narrated teacher section sections part parts
segment segments given give gives giving ask asks asked tell tells told state states stated announce announced
announces reveal revealed reveals share shared shares provide provided quote quoted spoken speak speaks spoke
discuss discussed discussing discusses cover covered explained explain during point moment time exact exactly
answer question called named name names chapter chapters page pages document documents pdf file list listed lists""".split())

_WORD = re.compile(r"[a-z]+|[0-9]+")  # letters and digits apart: OCR runs them together ("room777")


def stem(word: str) -> str:
    """A light suffix-stripping stem shared by questions and evidence ("slides" -> "slide", "numbers" -> "number")."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 5 and w.endswith("ing"):
        return w[:-3]
    if len(w) > 4 and w.endswith("ed"):
        return w[:-2]
    if len(w) > 3 and w.endswith("es") and w[-3] in "sxz":
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def words(text: str) -> list[str]:
    """Lower-case word and number tokens of ``text``, numbers in digits ("nine three" -> "93")."""
    return _WORD.findall(normalize(text).lower())


def _vocab(toks: list[str]) -> frozenset[str]:
    """Words, their stems, and adjacent content words written together ("key word" -> "keyword")."""
    joined = [a + b for a, b in zip(toks, toks[1:])
              if a.isalpha() and b.isalpha() and a not in STOP and b not in STOP]
    return frozenset({stem(t) for t in toks + joined} | set(toks) | set(joined))


def _bigrams(text: str) -> frozenset[tuple[str, str]]:
    """Stems of the adjacent words of ``text``, in order."""
    st = [stem(t) for t in words(text)]
    return frozenset(zip(st, st[1:]))


@dataclass(frozen=True)
class Unit:
    """One piece of evidence: a segment, its own text and its surroundings.

    Its word sets are computed once (``cached_property``): a video's units answer many questions.
    """

    segment: Segment
    focus: str  # the segment's text: answers come from here
    context: str  # what part of the video / document it belongs to (on-screen text, heading, nearby speech)
    page: int | None = None  # documents: the 1-based page
    title: str = ""  # the line of ``focus`` that names the unit's section (a slide's first line)

    @cached_property
    def _all(self) -> frozenset[str]:
        return _vocab(words(self.focus)) | _vocab(words(self.context))

    @cached_property
    def _own(self) -> frozenset[str]:
        return _vocab(words(self.focus))

    @cached_property
    def bigrams(self) -> frozenset[tuple[str, str]]:
        """Stems of adjacent words of the focus and the context, in order: ``("roman", "history")``."""
        return self.focus_bigrams | _bigrams(self.context)

    @cached_property
    def focus_bigrams(self) -> frozenset[tuple[str, str]]:
        """Stems of adjacent words of the focus alone, in order."""
        return _bigrams(self.focus)

    def stems(self) -> frozenset[str]:
        """Stems and words of the focus and the context (and adjacent words written together)."""
        return self._all

    def own_stems(self) -> frozenset[str]:
        """Stems and words of the focus alone (and adjacent words written together)."""
        return self._own


def _speech_context(seg: Segment, screens: Sequence[Segment], speech: Sequence[Segment], lookback: float,
                    follow: float = 2.0) -> str:
    on = [s for s in screens if s.start <= seg.start < s.end or (s.start < seg.end and s.end > seg.start)]
    scene_start = max([s.start for s in on], default=0.0)
    before = [s.text for s in speech if max(scene_start, seg.start - lookback) <= s.start < seg.start]
    after = [s.text for s in speech if seg.end <= s.start <= seg.end + follow][:1]  # "Remember 2796." "... for the quiz."
    return " \n ".join([s.text for s in on[:1]] + before + after)


def _join_unfinished(segments: Sequence[Segment], gap: float = 1.5) -> list[Segment]:
    """Speech segments with a sentence ASR cut at a pause joined again.

    A speech segment ending in "...", ":", "," or a word (no full stop) is joined with the next
    speech segment when it starts within ``gap`` seconds: "The secret number for this section
    is..." + "Three hundred twenty one." -> one segment holding both. So is one followed within
    ``gap`` by a segment that starts in lower case, a sentence ASR went on with after a full
    stop: "My dog." + "who you may hear in the background is called maple."
    """
    out: list[Segment] = []
    last = None  # index in out of the latest speech segment
    for seg in segments:
        prev = out[last] if last is not None else None
        if (seg.source == "speech" and prev is not None and -0.5 <= seg.start - prev.end <= gap
                and (prev.text.endswith(("...", ":", ",", "…")) or prev.text[-1:].isalnum() or seg.text[:1].islower())):
            out[last] = Segment(prev.start, max(prev.end, seg.end), f"{prev.text} {seg.text}", "speech")
            continue
        out.append(seg)
        if seg.source == "speech":
            last = len(out) - 1
    return out


def units_of(transcript: Transcript, lookback: float = 45.0) -> list[Unit]:
    """One :class:`Unit` per segment of a video's transcript (see the module docstring); a spoken
    sentence that ASR cut at a pause is one unit (:func:`_join_unfinished`)."""
    screens = transcript.of("screen")
    segments = _join_unfinished(transcript.segments)
    speech = [s for s in segments if s.source == "speech"]
    out = []
    for seg in segments:
        if seg.source == "screen":
            lines = seg.text.split(" / ")
            out.append(Unit(seg, seg.text, "", title=lines[0] if len(lines) > 1 else ""))
        else:
            out.append(Unit(seg, seg.text, _speech_context(seg, screens, speech if seg.source == "speech" else (),
                                                          lookback)))
    return out
