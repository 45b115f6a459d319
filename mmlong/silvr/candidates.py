"""Answer candidates: the spans of an evidence text that can answer a question, and the kind asked for.

From a unit's own text (a speech sentence, one screen's lines, a chunk of page text) the
candidates are

* numbers, whatever their spelling (:mod:`mmlong.silvr.numbers`): value ``"9394"``;
* words written in capitals (``ORCHID``, ``QX7``), capitalised words that do not start a
  sentence or line (or do, followed by "is" / "was": "Marzipan is what we named ..."), and
  quoted spans;
* the words after a label: up to three words after ``:`` / ``=`` / ``is`` / ``was`` /
  ``are`` / ``called`` / ``(nick)named`` / ``dubbed`` / ``known as`` / ``by the name (of)``
  / ``the word`` ("Exam password: ORCHID", "the keyword is falcon", "goes by the name ziggy",
  "use the word lunar").

A candidate never consists only of question words, function words, words about the
medium or nouns of a value's kind ("the number of"), and is never a number the question holds. :func:`answer_kind` reads the kind of value a question asks for: ``"number"``
(number, digits, how many, ...), ``"word"`` (word, password, name, ...) or ``"any"``; the first
such cue after the question word decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmlong.silvr.evidence import META, STOP, stem, words
from mmlong.silvr.numbers import numbers_in
from mmlong.silvr.terms import GENERIC

__all__ = ["Candidate", "candidates", "answer_kind", "NUMBER_CUES", "WORD_CUES"]

#: Question words that ask for a number.
NUMBER_CUES = frozenset("number numbers digit digits many much figure amount count year pin percent percentage "
                        "price cost age score total sum quantity".split())
#: Question words that ask for a word or name.
WORD_CUES = frozenset("word words password passwords passphrase passphrases name names called named keyword "
                      "keywords term terms nickname codename".split())

_WH = frozenset("what which how who whose".split())
_LABEL = re.compile(r"(?::|=|\bis\b|\bwas\b|\bare\b|\bwere\b|\bcalled\b|\b(?:nick)?named\b|\bdubbed\b|"
                    r"\bknown as\b|\bby the name(?: of)?\b|\bthe word\b)[\s,:\"'“”‘’]*", re.IGNORECASE)
_CAPS = re.compile(r"\b[A-Z][A-Z0-9]{1,}\b")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")
_SUBJECT = re.compile(r"\b([A-Z][a-z]+) (?:is|was) ")
_QUOTED = re.compile(r"[\"“‘']([^\"”’']{2,40})[\"”’']")
_PHRASE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*|\d[\d,]*")


@dataclass(frozen=True)
class Candidate:
    """One answer span: its value, the span it was read from and its kind."""

    value: str  # "9394" for any spelling of a number; the text as written otherwise
    start: int  # character span in the unit's text
    end: int
    kind: str  # "number" | "word"
    label: bool = False  # found right after a label ("password: X", "is X")


def answer_kind(question: str) -> str:
    """``"number"``, ``"word"`` or ``"any"``: what kind of value ``question`` asks for.

    The first cue word after the first question word (what, which, how, who) decides, else the
    first cue word, so the words of a section's name do not: "In the section on Astronomy: Key
    Terms, what secret number is said?" -> ``"number"``.
    """
    toks = re.findall(r"[a-z]+", question.lower())
    at = next((i for i, t in enumerate(toks) if t in _WH), 0)
    for tok in toks[at:] + toks[:at]:
        if tok in WORD_CUES:
            return "word"
        if tok in NUMBER_CUES:
            return "number"
    return "any"


def _sentence_starts(text: str) -> set[int]:
    starts = {0}
    for m in re.finditer(r"(?:[.!?]\s+|\s/\s|\n\s*)", text):
        starts.add(m.end())
    return starts


def candidates(text: str, question: str) -> list[Candidate]:
    """The candidate spans of ``text`` for ``question`` (see the module docstring), in text order."""
    qstems = {stem(w) for w in words(question)}
    qnums = {n.value for n in numbers_in(question)}
    out: dict[tuple[int, int], Candidate] = {}

    def useless(span: str) -> bool:
        toks = words(span)
        return not toks or all(t in STOP or t in META or t in GENERIC or stem(t) in qstems for t in toks)

    def add(value: str, s: int, e: int, kind: str, label: bool = False):
        value = value.strip(" ,.;:!?\"'“”‘’")
        if not value or (kind == "word" and useless(value)) or (kind == "number" and value in qnums):
            return
        key = (s, e)
        if key not in out or (label and not out[key].label):
            out[key] = Candidate(value, s, e, kind, label)

    nums = numbers_in(text)
    for n in nums:
        add(n.value, n.start, n.end, "number")
    starts = _sentence_starts(text)
    for m in _CAPS.finditer(text):
        if not m.group(0).isdigit():
            add(m.group(0), m.start(), m.end(), "word")
    for m in _CAPITALISED.finditer(text):
        if m.start() not in starts:
            add(m.group(0), m.start(), m.end(), "word")
    for m in _SUBJECT.finditer(text):  # "Marzipan is what we named the class hamster."
        if m.start(1) in starts:
            add(m.group(1), m.start(1), m.end(1), "word")
    for m in _QUOTED.finditer(text):
        add(m.group(1), m.start(1), m.end(1), "word")
    for m in _LABEL.finditer(text):
        _label_value(text, m.end(), nums, add)
    return sorted(out.values(), key=lambda c: (c.start, -c.end))


def _label_value(text: str, pos: int, nums, add) -> None:
    """The number or the 1-3 words right after a label, up to punctuation or a line break."""
    for n in nums:
        if n.start == pos:
            add(n.value, n.start, n.end, "number", label=True)
            return
    stop = re.search(r"[.,;!?/\n(]|\s-\s|$", text[pos:])
    chunk = text[pos : pos + stop.start()]
    toks = list(_PHRASE_WORD.finditer(chunk))[:3]
    if not toks or _LABEL.fullmatch(toks[0].group(0)):  # "is called maple": the label after it gives "maple"
        return
    for k in range(len(toks), 0, -1):  # the longest span first; shorter ones are candidates too
        last = toks[k - 1].group(0)
        if k > 1 and (last.lower() in STOP or _LABEL.fullmatch(last)):  # "lunar to", "a parrot named"
            continue
        s, e = pos + toks[0].start(), pos + toks[k - 1].end()
        add(text[s:e], s, e, "word", label=True)
