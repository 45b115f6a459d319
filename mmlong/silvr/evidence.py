"""Evidence units and how well each one covers a question's words.

An :class:`Unit` is one stage-1 segment (a speech sentence, the text of one screen, a
caption, a chunk of page text): its own text (``focus``, where answers are taken from) and
the text around it that says which part of the video or document it belongs to
(``context``): for speech and captions, what is on screen at that moment and the speech of
the same screen in the ``lookback`` seconds before it; for page text, the heading above it
and the previous chunk of the page; a screen's context is empty, but its first line (the
slide's title) is its ``title``: the words there say where the unit is, not what a value
next to them is.

A question's *terms* are its words less function words and words about the medium
(:data:`META`: "video", "slide", "said", "speaker", ...), stemmed ("slides" -> "slide"). A
term is *present* when some unit's own text holds it. Each present term weighs its inverse
document frequency over the units' own texts (rare words, like a section's title, weigh
most); ``coverage(unit)`` is the weighted share of present terms found in the unit's focus
or context. Two adjacent question terms also match one word written together ("code word"
~ "Codeword", and "keyword" ~ "key word"). Present terms next to each other in the question
are its *phrases*; ``phrase(unit)`` is the share of them the unit holds in the same order
(it tells "Roman History: History" from "Roman History: Summary"); the first run of terms after
the question word names what is *asked* for ("What is the exam password ...?" -> exam,
password). A term of 4+ letters that no unit holds matches a word one edit away
(ASR and OCR slips: "down" heard as "town") or a word it starts or ends once run together
with another (OCR drops spaces: "team" in "Teamname"), and is then present under that spelling too;
terms that match nothing are returned apart (``absent``): nothing can support them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

from mmlong.silvr.numbers import normalize
from mmlong.silvr.segments import Segment, Transcript

__all__ = ["Unit", "units_of", "Terms", "question_terms", "stem", "words", "STOP", "META"]

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
        out = set()
        for text in (self.focus, self.context):
            st = [stem(t) for t in words(text)]
            out |= set(zip(st, st[1:]))
        return frozenset(out)

    def stems(self) -> frozenset[str]:
        """Stems and words of the focus and the context (and adjacent words written together)."""
        return self._all

    def own_stems(self) -> frozenset[str]:
        """Stems and words of the focus alone (and adjacent words written together)."""
        return self._own


def _speech_context(seg: Segment, screens: Sequence[Segment], speech: Sequence[Segment], lookback: float) -> str:
    on = [s for s in screens if s.start <= seg.start < s.end or (s.start < seg.end and s.end > seg.start)]
    scene_start = max([s.start for s in on], default=0.0)
    before = [s.text for s in speech if max(scene_start, seg.start - lookback) <= s.start < seg.start]
    return " \n ".join([s.text for s in on[:1]] + before)


def _join_unfinished(segments: Sequence[Segment], gap: float = 1.5) -> list[Segment]:
    """Speech segments with a sentence ASR cut at a pause joined again.

    A speech segment ending in "...", ":", "," or a word (no full stop) is joined with the next
    speech segment when it starts within ``gap`` seconds: "The secret number for this section
    is..." + "Three hundred twenty one." -> one segment holding both.
    """
    out: list[Segment] = []
    last = None  # index in out of the latest speech segment
    for seg in segments:
        prev = out[last] if last is not None else None
        if (seg.source == "speech" and prev is not None and -0.5 <= seg.start - prev.end <= gap
                and (prev.text.endswith(("...", ":", ",", "…")) or prev.text[-1:].isalnum())):
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


@dataclass(frozen=True)
class Terms:
    """A question's terms against one video's units (see the module docstring)."""

    present: dict[str, float]  # stemmed term -> weight (idf), for terms some unit holds
    absent: tuple[str, ...]  # terms no unit holds
    pairs: tuple[tuple[str, str, str], ...]  # (term a, term b, "ab") for adjacent terms: "code word" ~ "codeword"
    aliases: dict[str, frozenset[str]] = field(default_factory=dict)  # term -> spellings one edit away
    phrases: tuple[tuple[str, str], ...] = ()  # present terms next to each other in the question, in order
    asked: tuple[str, ...] = ()  # the terms naming what is asked for ("exam", "password")

    def holds(self, unit: Unit, phrase: tuple[str, str]) -> bool:
        """Whether ``unit`` holds ``phrase``: its two words in order, or written together ("Codeword")."""
        a, b = ({t} | self.aliases.get(t, frozenset()) for t in phrase)
        return any((x, y) in unit.bigrams or x + y in unit.stems() for x in a for y in b)

    def phrase(self, unit: Unit) -> float:
        """Share of the question's :attr:`phrases` that ``unit`` holds (1.0 when there are none).

        Example: "... in the section on Roman History: History?" has the phrases (roman, history)
        and (history, history); a unit under "Roman History: Summary" holds one of the two.
        """
        if not self.phrases:
            return 1.0
        return sum(self.holds(unit, p) for p in self.phrases) / len(self.phrases)

    def found(self, unit_stems: set[str]) -> set[str]:
        """The present terms a unit holds (directly, as a joined pair, or under an alias)."""
        got = {t for t in self.present if t in unit_stems or self.aliases.get(t, frozenset()) & unit_stems}
        for a, b, joined in self.pairs:
            if joined in unit_stems:
                got |= {a, b} & set(self.present)
        return got

    def coverage(self, unit_stems: set[str]) -> float:
        """Weighted share of present terms found in a unit (1.0 when there are none)."""
        total = sum(self.present.values())
        if total <= 0:
            return 1.0
        return sum(self.present[t] for t in self.found(unit_stems)) / total


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one substitution, insertion or deletion."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]


_WH = frozenset("what which who whom whose how".split())


def _asked_for(question: str, present: dict) -> tuple[str, ...]:
    """The present terms naming what the question asks for: the first run of terms after its
    question word ("What is the exam password shown ...?" -> ("exam", "password"))."""
    toks = words(question)
    at = next((i + 1 for i, t in enumerate(toks) if t in _WH), None)
    if at is None:
        return ()
    run: list[str] = []
    for t in toks[at:]:
        if t in STOP or t in META:
            if run:
                break
            continue
        run.append(stem(t))
    return tuple(t for t in run if t in present)


def _part_of(term: str, word: str) -> bool:
    """Whether ``word`` is ``term`` run together with another word of 3+ letters ("team" in "teamname")."""
    return len(word) >= len(term) + 3 and word.isalpha() and (word.startswith(term) or word.endswith(term))


def question_terms(question: str, units: Sequence[Unit], own_stems: Sequence[set[str]] | None = None) -> Terms:
    """The question's terms, split into present (with idf weights over the units' own texts) and absent."""
    toks = [t for t in words(question) if t not in STOP and t not in META]
    terms = list(dict.fromkeys(stem(t) for t in toks))
    stems = own_stems if own_stems is not None else [u.own_stems() for u in units]
    n = max(1, len(stems))
    joined = {stem(a + b): (stem(a), stem(b)) for a, b in zip(toks, toks[1:])}
    vocab = set().union(*stems) if stems else set()
    present, absent, aliases = {}, [], {}
    for t in terms:
        spell = {t} | {j for j, ab in joined.items() if t in ab}
        if not spell & vocab and len(t) >= 4 and not t.isdigit():
            near = frozenset(w for w in vocab if not w.isdigit() and (_one_edit(t, w) or _part_of(t, w)))
            if near:
                aliases[t], spell = near, spell | near
        df = sum(1 for s in stems if spell & s)
        if df:
            present[t] = math.log((n + 1) / (df + 0.5))
        else:
            absent.append(t)
    pairs = tuple((a, b, j) for j, (a, b) in joined.items())
    raw = [stem(t) if t not in STOP and t not in META else None for t in words(question)]
    phrases = tuple(dict.fromkeys((a, b) for a, b in zip(raw, raw[1:]) if a in present and b in present))
    return Terms(present, tuple(absent), pairs, aliases, phrases, _asked_for(question, present))
