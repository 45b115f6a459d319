"""A question's terms: which of its words the evidence holds, how much each weighs, which block an answer.

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
password; the kind nouns of :data:`GENERIC` aside). A present term followed in the question by
an absent one is a *head* pair ("the class *goldfish*"): a unit whose own text follows the
present term with another content word ("the class *hamster*") speaks of another thing
(:meth:`Terms.contrast`). A term of 4+ letters that no unit holds matches a word one edit away
(ASR and OCR slips: "down" heard as "town") or a word it starts or ends once run together
with another (OCR drops spaces: "team" in "Teamname"), and is then present under that spelling too;
terms that match nothing are returned apart (``absent``): nothing can support them. An absent
term *blocks* an answer when it is the sort of value asked for (an *asked* term among
:data:`VALUE_NOUNS`: "What *password* is shown ...?"), modifies a present term right after it
("What is the *printer* password?", "Which *parking* space number ...?", "the *lab* door's
code", across words about the medium: "the *old* lecture hall"), is capitalised (a name, a section's title: "in the chapter on *Deserts*") or is the
noun right after "which" / "what" ("Which *train* goes to the field trip?"): then the
evidence speaks of some other thing. Other absent terms may be the question's own wording
("What name did the class *choose* ...?", "Which floor *hosts* the exam?"): they block
nothing, but they weigh in :attr:`Terms.unheld`, and an answer's own sentence must hold at
least ``min_held`` (0.4) of the question's weight (grounding's settings). Single letters (the "s"
of "lecturer's" and "what's") are never terms, and generic verbs (:data:`WEAK`: "call", "held",
"pick") and nouns of a value's kind (:data:`GENERIC`: "number", "word") weigh :data:`WEAK_FACTOR`
of their idf: they say how a fact is told, not which. A present
term of 5+ letters also matches, in speech, a word that sounds alike by spelling (same first
letter, at most one edit per three letters: "project" heard as "product"): ASR can mishear the
very sentence that holds the answer while other sentences hold the term rightly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

from mmlong.silvr.evidence import META, STOP, Unit, stem, words

__all__ = ["Terms", "question_terms", "WEAK", "GENERIC", "WEAK_FACTOR", "VALUE_NOUNS"]

#: Verbs that say how a fact is told or used, not which fact: terms of reduced weight.
WEAK = frozenset("""call calls calling hold holds held choose chose chosen pick picks picked use used uses need needs
needed get gets got take takes took taken keep keeps kept make makes made find finds found meet meets met put puts
go goes went come comes came want wants remember remembered note noted see seen look looked happen happened know
known think learn learned hear heard start started begin began end ended bring brought leave left stay work plan
planned assign assigned expect expected like liked agree agreed decide decided""".split())
#: Nouns that name the kind of a value, not which one ("the printer queue *number*"): weighed like :data:`WEAK`.
GENERIC = frozenset("number numbers digit digits word words term terms figure value values amount count".split())
WEAK_FACTOR = 0.3
#: Nouns that name what sort of value is asked for: absent from the evidence and asked for, they block.
VALUE_NOUNS = frozenset("""password passwords passcode passphrase pin login username email phone keyword codeword
codename nickname extension room floor locker seat gate platform channel ticket account licence license permit
serial""".split())


@dataclass(frozen=True)
class Terms:
    """A question's terms against one video's units (see the module docstring)."""

    present: dict[str, float]  # stemmed term -> weight (idf), for terms some unit holds
    absent: tuple[str, ...]  # terms no unit holds
    pairs: tuple[tuple[str, str, str], ...]  # (term a, term b, "ab") for adjacent terms: "code word" ~ "codeword"
    aliases: dict[str, frozenset[str]] = field(default_factory=dict)  # term -> spellings one edit away
    phrases: tuple[tuple[str, str], ...] = ()  # present terms next to each other in the question, in order
    asked: tuple[str, ...] = ()  # the present terms naming what is asked for ("exam", "password")
    blocking: tuple[str, ...] = ()  # absent terms that name or modify what is asked for: no answer can stand
    heads: tuple[tuple[str, str], ...] = ()  # (present term, absent term right after it): "class goldfish"
    unheld: float = 0.0  # the weight of the other absent terms (each the largest idf; generic verbs less)

    def holds(self, unit: Unit, phrase: tuple[str, str]) -> bool:
        """Whether ``unit`` holds ``phrase``: its two words in order, or written together ("Codeword")."""
        a, b = ({t} | self.aliases.get(t, frozenset()) for t in phrase)
        return any((x, y) in unit.bigrams or x + y in unit.stems() for x in a for y in b)

    def contrast(self, unit: Unit, values: frozenset[str] = frozenset()) -> tuple[str, str] | None:
        """A pair of the unit's focus that answers one of :attr:`heads` with another word, or None.

        Example: asked about the "class goldfish", a unit saying "the class hamster" gives
        ("class", "hamster"): it speaks of another thing. Function words, words about the
        medium, numbers, words under 3 letters, the question's own terms and ``values`` (the
        stems of the unit's one-word answer candidates: "Door code - BRAMBLE" asked "Which code
        opens the door?") never contrast.
        """
        for a, _b in self.heads:
            spell = {a} | self.aliases.get(a, frozenset())
            for x, c in unit.focus_bigrams:
                if (x in spell and c.isalpha() and len(c) > 2 and c not in STOP and c not in META
                        and c not in self.present and c not in values):
                    return a, c
        return None

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


_LIGHT = frozenset({stem(w) for w in WEAK | GENERIC} | WEAK | GENERIC)  # as terms are stemmed ("goes" -> "goe")


def _factor(term: str) -> float:
    """The share of its idf a term weighs: :data:`WEAK_FACTOR` for generic verbs and kind nouns, else 1."""
    return WEAK_FACTOR if term in _LIGHT else 1.0


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


def _heard_alike(term: str, word: str) -> bool:
    """Whether ASR could have written ``word`` for ``term``: both 5+ letters, the same first letter,
    and at most ``len(term) // 3`` edits apart ("project" / "product": 2 edits of 7 letters)."""
    if term == word or len(term) < 5 or len(word) < 5 or term[0] != word[0] or not word.isalpha():
        return False
    limit = len(term) // 3
    if abs(len(term) - len(word)) > limit:
        return False
    row = list(range(len(word) + 1))  # Levenshtein distance, row by row
    for i, a in enumerate(term, 1):
        prev, row[0] = row[0], i
        for j, b in enumerate(word, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a != b))
        if min(row) > limit:
            return False
    return row[-1] <= limit


_WH = frozenset("what which who whom whose how".split())


def _wh_at(toks: list[str]) -> int | None:
    """Index of the question's first question word ("what", "which", "how", ...), or None."""
    return next((i for i, t in enumerate(toks) if t in _WH), None)


def _asked_for(toks: list[str]) -> tuple[str, ...]:
    """The terms naming what the question asks for: the first run of words after its question
    word, up to a function word or a word about the medium, less those words themselves
    ("What is the exam password shown ...?" -> ("exam", "password"); "What is the spoken
    keyword?" -> ("keyword",); "What name did the class choose?" -> (): the run "name" ends at "did").

    ``toks``: the question's words (:func:`words`) without single letters.
    """
    at = _wh_at(toks)
    if at is None:
        return ()
    run: list[str] = []
    for t in toks[at + 1:]:
        if t in STOP or (t in META and run):
            if run:
                break
            continue
        run.append(t)
    return tuple(stem(t) for t in run if t not in META)


def _which_noun(toks: list[str]) -> str | None:
    """The stem of the word right after the first "which" / "what" when it names the thing asked about
    ("Which *train* goes ...?" -> "train"); None after "how" ("How big ...?") or before a function word."""
    at = _wh_at(toks)
    if at is None or toks[at] not in ("which", "what") or at + 1 >= len(toks):
        return None
    t = toks[at + 1]
    return None if t in STOP or t in META else stem(t)


def _part_of(term: str, word: str) -> bool:
    """Whether ``word`` is ``term`` run together with another word of 3+ letters ("team" in "teamname")."""
    return len(word) >= len(term) + 3 and word.isalpha() and (word.startswith(term) or word.endswith(term))


def question_terms(question: str, units: Sequence[Unit], own_stems: Sequence[set[str]] | None = None) -> Terms:
    """The question's terms, split into present (with idf weights over the units' own texts) and absent."""
    qwords = [t for t in words(question) if len(t) > 1 or t.isdigit()]  # not the "s" of "lecturer's"
    toks = [t for t in qwords if t not in STOP and t not in META]
    terms = list(dict.fromkeys(stem(t) for t in toks))
    stems = own_stems if own_stems is not None else [u.own_stems() for u in units]
    n = max(1, len(stems))
    joined = {stem(a + b): (stem(a), stem(b)) for a, b in zip(toks, toks[1:])}
    vocab = set().union(*stems) if stems else set()
    heard = {w for u, s in zip(units, stems) if u.segment.source == "speech" for w in s if w.isalpha()}
    present, absent, aliases = {}, [], {}
    for t in terms:
        spell = {t} | {j for j, ab in joined.items() if t in ab}
        if not spell & vocab and len(t) >= 4 and not t.isdigit():
            near = frozenset(w for w in vocab if not w.isdigit() and (_one_edit(t, w) or _part_of(t, w)))
            if near:
                aliases[t], spell = near, spell | near
        df = sum(1 for s in stems if spell & s)
        if df:
            present[t] = math.log((n + 1) / (df + 0.5)) * _factor(t)
            alike = frozenset(w for w in heard - spell if _heard_alike(t, w))
            if alike:
                aliases[t] = aliases.get(t, frozenset()) | alike
        else:
            absent.append(t)
    pairs = tuple((a, b, j) for j, (a, b) in joined.items())
    content = [("" if t in META else None if t in STOP else stem(t)) for t in qwords]  # "": medium, None: function
    raw = [c or None for c in content]  # the stems of terms, None between them
    phrases = tuple(dict.fromkeys((a, b) for a, b in zip(raw, raw[1:]) if a in present and b in present))
    asked = _asked_for(qwords)
    # a modifier of a present term, across words about the medium: "the *old* lecture hall"
    modifiers = {a for i, a in enumerate(content) if a in absent
                 and next((b for b in content[i + 1:] if b != ""), None) in present}
    named = {stem(w) for m in re.finditer(r"(?<![.?!]\s)(?<!^)\b[A-Z][A-Za-z]*", question.strip()) for w in words(m.group(0))}
    head = _which_noun(qwords)
    blocking = tuple(t for t in absent if (t in asked and t in VALUE_NOUNS) or t in modifiers or t in named
                     or t == head)
    top = math.log((n + 1) / 0.5)  # the idf of a term no unit holds
    unheld = sum(top * _factor(t) for t in absent if t not in blocking)
    named_asked = tuple(t for t in asked if t in present and t not in _LIGHT)  # "printer queue", not "number"
    heads = tuple(dict.fromkeys((a, b) for a, b in zip(raw, raw[1:]) if a in present and b in absent
                                and b not in blocking and b not in _LIGHT))
    return Terms(present, tuple(absent), pairs, aliases, phrases, named_asked, blocking, heads,
                 unheld)
