"""Grounded answering: the answer is a span of the evidence, chosen, never generated.

Steps, for a question and the evidence units of one video or document
(:mod:`mmlong.silvr.evidence`):

1. **Terms.** The question's terms, weighted by idf over the units; terms no unit holds
   are *absent* (those naming or modifying what is asked for *block* an answer); present
   terms next to each other in the question are its *phrases*
   (:class:`~mmlong.silvr.terms.Terms`).
2. **Units that can answer.** A unit is eligible when its own text holds at least one
   question term (the *anchor*: "number", "password") and a candidate of the kind asked for
   (:mod:`mmlong.silvr.candidates`). Eligible units are ranked by coverage (the share of the
   question's present terms found in the unit or its context: a section's title on screen,
   the spoken introduction before), then by the share of phrases they hold; the
   ``top_units`` best within ``coverage_margin`` of the best are kept: the kept evidence.
3. **Verify** each kept unit: an answer read from it can stand only when at most
   ``max_absent`` terms block, it covers at least ``min_coverage`` of the present
   terms (and, when other terms are absent, the candidate's own sentence holds at least
   ``min_held`` of the weight of present and absent terms together), (``asked_check``) its own text names what is asked for (the terms right after the
   question word: "What is the *exam password* shown ...?"), it does not name another thing
   where the question names one the evidence lacks ("the class hamster" asked about the
   "class goldfish": :meth:`~mmlong.silvr.terms.Terms.contrast`), and (``phrase_check``) every
   phrase of the question it lacks is held by no other
   unit either ("Roman History: History" is asked about, the unit is under "Roman History:
   Summary", and the History section exists but gives no such value).
4. **Choose.** Every candidate of a kept unit is scored by ``coverage + phrase_weight *
   phrase + local_weight * local + proximity_weight * proximity + label_weight * label +
   lm_weight * lm``: *local* is the weighted share of question terms in the candidate's own
   sentence or line, *proximity* ``1 / (1 + d)`` for the distance ``d`` in words to the
   nearest of them, *label* is 1 right after a label ("password: ORCHID", "number is 934"),
   and *lm* is the reasoner's mean log-likelihood per token of the candidate as the answer,
   given the unit's text (and the first line of its context) and the question, minus the
   best candidate's (0 for the likeliest; clipped at ``-lm_clip``). The reasoner scores only
   candidates of verified units with the best coverage and phrase share (its likelihoods
   under different evidence do not compare), within ``lm_window`` of the best score without
   it (at most ``max_candidates``); the other candidates count as ``-lm_clip``. The answer is
   the best candidate of a verified unit; when there is none it is "Not found in the video:
   <why>" (or "in the document"), and ``Grounded.best`` keeps the rejected choice.

The answer text is the value, then where it was read and the sentence or line it sits in:
``9394 (said at 00:01:29: "Please remember this, the secret project number is 9394.")``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from mmlong.silvr.candidates import Candidate, answer_kind, candidates
from mmlong.silvr.evidence import Unit, stem, words
from mmlong.silvr.terms import Terms, question_terms
from mmlong.silvr.segments import hms

__all__ = ["GroundingSettings", "Choice", "Grounded", "ground", "answer_text", "not_found"]

#: ``lm(items) -> mean log-likelihood per token`` for ``(evidence text, question, candidate)`` items.
#: A spoken "sentence" longer than this is taken for several without their full stops.
RUN_ON_WORDS = 16

LMScorer = Callable[[Sequence[tuple[str, str, str]]], Sequence[float]]


@dataclass(frozen=True)
class GroundingSettings:
    """How the language route chooses and verifies an answer."""

    mode: str = "choose"  # choose: a span of the evidence; generate: the reasoner writes, the evidence must hold it
    top_units: int = 6  # eligible units kept as evidence
    coverage_margin: float = 0.25  # keep units within this coverage of the best
    phrase_weight: float = 0.5  # weight of the share of the question's phrases a unit holds
    asked_check: bool = True  # the unit's own text must name what is asked for ("exam password")
    phrase_check: bool = True  # reject a choice lacking a phrase of the question that other evidence holds
    min_coverage: float = 0.85  # the chosen unit must cover this share of the question's present terms
    max_absent: int = 0  # blocking absent terms (naming or modifying what is asked for) that still allow an answer
    min_held: float = 0.4  # with other absent terms: the share of the question's weight the answer's sentence must hold
    local_weight: float = 1.0
    proximity_weight: float = 0.15
    label_weight: float = 0.1
    lm_weight: float = 0.1
    lm_window: float = 0.35  # the reasoner scores the candidates within this of the best score without it
    lm_clip: float = 3.0  # log-likelihood differences count up to this many nats
    max_candidates: int = 8  # at most this many of them


@dataclass(frozen=True)
class Choice:
    """One scored candidate."""

    unit: Unit
    candidate: Candidate
    coverage: float
    local: float
    proximity: float
    phrase: float = 0.0  # share of the question's phrases the unit holds (:meth:`Terms.phrase`)
    lm: float = 0.0
    score: float = 0.0
    rejected: str = ""  # why step 4 rejects an answer read from this unit ("" = it stands)
    anchor: int = -1  # character offset of the nearest question word in the candidate's sentence (-1: none)

    @property
    def time(self) -> float:
        """When the candidate's sentence starts: a screen's start; within a longer speech segment, the
        sentence's share of the segment's time (ASR segments can hold several sentences). A
        "sentence" of more than :data:`RUN_ON_WORDS` words is several run together (ASR without
        full stops): then the share up to the nearest question word or the candidate, if earlier."""
        seg = self.unit.segment
        if seg.source == "screen" or self.unit.page is not None or not self.unit.focus:
            return seg.start
        lo, hi = _piece(self.unit.focus, self.candidate.start)
        if len(self.unit.focus[lo:hi].split()) > RUN_ON_WORDS and self.anchor >= 0:  # ASR left out the full stops
            lo = min(self.anchor, self.candidate.start)
        return seg.start + (seg.end - seg.start) * lo / len(self.unit.focus)

    def record(self) -> dict:
        seg = self.unit.segment
        return {"value": self.candidate.value, "kind": self.candidate.kind, "source": seg.source,
                "start": round(seg.start, 2), "time": round(self.time, 2), "page": self.unit.page, "coverage": round(self.coverage, 3),
                "local": round(self.local, 3), "phrase": round(self.phrase, 3), "proximity": round(self.proximity, 3), "label": self.candidate.label, "lm": round(self.lm, 3),
                "score": round(self.score, 3), **({"rejected": self.rejected} if self.rejected else {})}


@dataclass(frozen=True)
class Grounded:
    """The outcome: the accepted choice (or None), the best candidate either way, the kept units."""

    choice: Choice | None
    best: Choice | None
    kept: tuple[Unit, ...]
    terms: Terms
    kind: str
    reason: str = ""  # why nothing was accepted
    ranked: tuple[Choice, ...] = field(default=())
    written: str | None = None  # mode="generate": what the reasoner wrote

    def record(self) -> dict:
        return {"kind": self.kind, "terms": {k: round(v, 2) for k, v in self.terms.present.items()},
                "absent": list(self.terms.absent), "accepted": self.choice is not None, "reason": self.reason,
                "candidates": [c.record() for c in self.ranked[:8]],
                **({"written": self.written} if self.written is not None else {})}


def _piece(text: str, start: int) -> tuple[int, int]:
    """The sentence or line of ``text`` (screens separate lines with " / ") holding character ``start``;
    "..." (a pause) does not end a sentence."""
    bounds = [0] + [m.end() for m in re.finditer(r"(?:(?<=[.!?])(?<!\.\.\.)\s+|\s/\s|\n)", text)]
    lo = max(b for b in bounds if b <= start)
    hi = min((b for b in bounds if b > start), default=len(text))
    return lo, hi


def _near(unit: Unit, cand: Candidate, terms: Terms) -> tuple[float, float, int]:
    """``(local, proximity, anchor)`` of a candidate, from the question terms in its sentence or line.

    Terms of the unit's title do not count (they say where the unit is). *local* is their
    weighted share of all present terms; *proximity* is ``1 / (1 + d)`` for the number ``d``
    of words between the candidate and the nearest of them (0 when there is none), *anchor*
    the character offset where that nearest one starts (-1 when there is none).
    """
    lo, hi = _piece(unit.focus, cand.start)
    toks = [(lo + m.start(), lo + m.end(), m.group(0)) for m in re.finditer(r"[A-Za-z]+|[0-9]+", unit.focus[lo:hi])]
    title = terms.found({stem(w) for w in words(unit.title)} | set(words(unit.title)))
    inside = [i for i, (s, e, _) in enumerate(toks) if s < cand.end and e > cand.start]
    hits, found = [], set()
    for i, (_, _, w) in enumerate(toks):
        got = terms.found({stem(w.lower()), w.lower()}) - title
        if got and i not in inside:
            hits.append(i)
            found |= got
        if i + 1 < len(toks) and i not in inside and i + 1 not in inside:  # "key word" for "keyword"
            joined = (w + toks[i + 1][2]).lower()
            got = terms.found({joined, stem(joined)}) - title - found
            if got:
                hits.append(i + 1)
                found |= got
    total = sum(terms.present.values()) or 1.0
    local = sum(terms.present[t] for t in found) / total
    if not hits or not inside:
        return local, 0.0, -1
    d, h = min((abs(h - c), h) for h in hits for c in inside)
    return local, 1.0 / (1.0 + max(0, d - 1)), toks[h][0]


def ground(question: str, units: Sequence[Unit], lm: LMScorer | None = None,
           settings: GroundingSettings = GroundingSettings()) -> Grounded:
    """Choose the answer span for ``question`` among ``units`` (see the module docstring).

    Args:
        question: the question.
        units: evidence units of one video or document (their word sets are computed once per unit).
        lm: the reasoner's scorer; None ranks by coverage, phrases, proximity and labels only.
        settings: weights and thresholds.
    """
    st = settings
    terms = question_terms(question, units)
    kind = answer_kind(question)
    eligible = []
    for u in units:
        if not terms.found(u.own_stems()):
            continue
        cands = [c for c in candidates(u.focus, question) if kind == "any" or c.kind == kind]
        if cands:
            eligible.append((terms.coverage(u.stems()), terms.phrase(u), u, cands))
    if not eligible:
        return Grounded(None, None, (), terms, kind, reason=f"no {kind if kind != 'any' else 'value'} next to the "
                        "question's words in the evidence")
    eligible.sort(key=lambda x: (-x[0], -x[1], x[2].segment.start))
    best_cov, best_phrase = eligible[0][0], eligible[0][1]
    kept = [e for e in eligible if e[0] >= best_cov - st.coverage_margin][: st.top_units]
    choices = []
    for cov, ph, u, cands in kept:
        for c in cands:
            local, proximity, anchor = _near(u, c, terms)
            choices.append(Choice(u, c, cov, local, proximity, phrase=ph, anchor=anchor))

    def base(ch: Choice) -> float:
        return (ch.coverage + st.phrase_weight * ch.phrase + st.local_weight * ch.local
                + st.proximity_weight * ch.proximity + st.label_weight * ch.candidate.label)

    choices.sort(key=lambda ch: -base(ch))
    verdict = {id(u): _rejection(terms, units, u, cov, st, _single_words(cands)) for cov, _, u, cands in kept}
    total = sum(terms.present.values())

    def why(ch: Choice) -> str:  # the unit's verdict, then the share of the question its own sentence holds
        if verdict[id(ch.unit)] or not terms.unheld or ch.local * total >= st.min_held * (total + terms.unheld):
            return verdict[id(ch.unit)]
        return (f"the evidence lacks {', '.join(repr(t) for t in terms.absent)} and the sentence of "
                f"{ch.candidate.value!r} holds too little of the question")

    verdict_of = {id(ch): why(ch) for ch in choices}
    passing = [ch for ch in choices if not verdict_of[id(ch)]]
    # the reasoner compares candidates read from equally covering units only: its likelihoods
    # under different evidence are not comparable, coverage is
    top = passing[0] if passing else None
    near = [ch for ch in passing if ch.coverage >= top.coverage - 1e-9 and ch.phrase >= top.phrase - 1e-9
            and base(ch) >= base(top) - st.lm_window][: st.max_candidates] if top else []
    lm_of = {}
    if lm is not None and st.lm_weight and len(near) > 1:
        raw = list(lm([(_evidence_text(ch.unit), question, ch.candidate.value) for ch in near]))
        lm_of = {id(ch): max(-st.lm_clip, r - max(raw)) for ch, r in zip(near, raw)}
    lms = [lm_of.get(id(ch), -st.lm_clip if lm_of else 0.0) for ch in choices]
    scored = [dataclasses.replace(ch, lm=l, score=base(ch) + st.lm_weight * l, rejected=verdict_of[id(ch)])
              for ch, l in zip(choices, lms)]
    scored.sort(key=lambda ch: (bool(ch.rejected), -ch.score, ch.unit.segment.start))
    best = scored[0]  # the best candidate that passes the checks, else the best one
    reason = best.rejected
    return Grounded(None if reason else best, best, tuple(u for _, _, u, _ in kept), terms, kind, reason,
                    tuple(scored))


def _single_words(cands: Sequence[Candidate]) -> frozenset[str]:
    """Stems of the one-word candidates (the values a unit offers, not a label's longer spans)."""
    return frozenset(stem(w[0]) for w in (words(c.value) for c in cands) if len(w) == 1)


def _rejection(terms: Terms, units: Sequence[Unit], unit: Unit, coverage: float, st: GroundingSettings,
               values: frozenset[str] = frozenset()) -> str:
    """Why no answer read from ``unit`` can stand (step 4 of the module docstring), or "" when one can;
    ``values``: the stems of the unit's one-word candidates."""
    if len(terms.blocking) > st.max_absent:
        return f"nothing in the evidence mentions {', '.join(repr(t) for t in terms.blocking)}"
    if coverage < st.min_coverage:
        missing = [t for t in terms.present if t not in terms.found(unit.stems())]
        return f"the best evidence lacks {', '.join(repr(t) for t in missing)}"
    pair = terms.contrast(unit, values)
    if pair is not None:
        return f"the evidence speaks of {' '.join(pair)!r}, not of what is asked"
    if st.asked_check:
        lacking = [t for t in terms.asked if t not in terms.found(unit.own_stems())]
        if lacking:
            return f"the evidence does not say {' '.join(terms.asked)!r} next to a value"
    if st.phrase_check:
        for p in (p for p in terms.phrases if not terms.holds(unit, p)):
            other = next((u for u in units if terms.holds(u, p)), None)
            if other is not None:
                where = f"page {other.page}" if other.page is not None else hms(other.segment.start)
                return (f"the evidence lacks {' '.join(p)!r}, which the part at {where} holds, and nothing "
                        "there answers it")
    return ""


def _evidence_text(unit: Unit) -> str:
    """What the reasoner reads before scoring a candidate: the context's first line (a title, a heading) and the unit."""
    head = unit.context.split("\n", 1)[0].strip() if unit.context else ""
    return f"{head}\n{unit.focus}" if head else unit.focus


def _quote(text: str, start: int, max_words: int = 16) -> str:
    """The sentence or line of ``text`` holding character ``start``, trimmed to ``max_words`` around it."""
    lo, hi = _piece(text, start)
    piece = text[lo:hi].strip(" /\n")
    toks = piece.split()
    if len(toks) <= max_words:
        return piece
    at = len(text[lo:start].split())
    a = max(0, min(at - max_words // 2, len(toks) - max_words))
    return ("... " if a else "") + " ".join(toks[a : a + max_words]) + (" ..." if a + max_words < len(toks) else "")


def answer_text(choice: Choice) -> str:
    """``VALUE (said at HH:MM:SS: "sentence")``: the value, where it was read, the sentence or line."""
    seg, c = choice.unit.segment, choice.candidate
    quote = _quote(choice.unit.focus, c.start)
    if choice.unit.page is not None:
        where = f"page {choice.unit.page}"
    else:
        verb = {"speech": "said", "screen": "on screen", "caption": "in a caption"}.get(seg.source, "seen")
        where = f"{verb} at {hms(choice.time)}"
    return f'{c.value} ({where}: "{quote}")'


def not_found(grounded: Grounded, medium: str = "video") -> str:
    """``Not found in the video: <why>.``"""
    return f"Not found in the {medium}: {grounded.reason}." if grounded.reason else f"Not found in the {medium}."
