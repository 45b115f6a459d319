"""Numbers in stage-1 text, whether written as digits or spoken as words.

ASR writes a spoken number either way ("nine three nine four", "9,394", "9394", "four
hundred seventy two"); grounding and scoring compare numbers by value, so every form of a
number reads the same::

    numbers_in("the number is nine three nine four.")   # [NumberSpan("9394", 14, 33)]
    numbers_in("it was 9,394, not 12")                   # ["9394", "12"]
    normalize("Nine thousand three hundred ninety four") # "9394"

Rules for a run of number words: a word that cannot continue the current group starts a new
group ("ninety three ninety four" -> "93" "94"; "nine three" -> "9" "3"), and groups are
read one after another as digit strings ("9394"), as digit-by-digit and pair-by-pair
readings are meant. Within a group, "hundred" multiplies what precedes it and "thousand" /
"million" close a block: "nine thousand three hundred ninety four" is one group, 9394.
"oh" counts as zero only between other digit words; a lone "one" is a pronoun, not a number.
A number below 20 written in digits before "hundred" / "thousand" / "million" reads as its
word ("3 hundred twenty one" -> 321, as ASR writes it). "fine", which ASR writes for a
spoken "five" (the two differ only in their last consonant), reads as five where it is part of
a digit-by-digit reading: in a chain of single-digit words (joined by spaces, commas or
hyphens) that holds at least two others ("fine five seven two" -> 5572); elsewhere it stays a
word ("a fine one", "that is fine, two of them"). "to", "too" and "for" read as two, two and
four only inside such a chain of words apart by spaces, never at its ends, when it holds at least
three real digit words ("six to eight zero" -> 6280; "from six to eight", "nine to five, six" stay apart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NumberSpan", "numbers_in", "normalize", "WORD_VALUES"]

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"thousand": 1000, "million": 1_000_000}
#: Value of every number word understood (``hundred`` = 100, ``oh`` = 0).
WORD_VALUES: dict[str, int] = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS, "hundred": 100, "oh": 0, **_SCALES}

_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[A-Za-z]+(?:-[A-Za-z]+)*")
_DIGIT_WORDS = frozenset(_UNITS[:10]) | {"oh"}
_MISHEARD = {"fine": "five"}  # word ASR writes for a spoken digit -> that digit's word
#: Common words ASR writes for a spoken digit ("six to eight zero"): digits only inside a chain of three real ones.
_HOMOPHONES = {"to": "two", "too": "two", "for": "four"}


def _digit_readings(text: str, tokens: list) -> dict[int, str]:
    """Token index -> digit word(s), for each misheard digit inside a chain of single-digit words (joined
    by spaces, commas or hyphens) that holds at least two real ones."""
    out: dict[int, str] = {}
    chain: list[tuple[int, list[str]]] = []  # (token index, its hyphen-separated words)

    def close():
        while chain and any(p in _HOMOPHONES for p in chain[-1][1]):  # never at a chain's ends
            chain.pop()
        while chain and any(p in _HOMOPHONES for p in chain[0][1]):
            chain.pop(0)
        real = sum(p in _DIGIT_WORDS for _, parts in chain for p in parts)
        spaced = all(text[tokens[a].end():tokens[b].start()].isspace() for (a, _), (b, _) in zip(chain, chain[1:]))
        for k, parts in chain:
            if any(p in _HOMOPHONES for p in parts) and real >= 3 and spaced:
                out[k] = "-".join(_HOMOPHONES.get(p, p) for p in parts)
            elif any(p in _MISHEARD for p in parts) and real >= 2:
                out[k] = "-".join(_MISHEARD.get(p, p) for p in parts)
        chain.clear()

    for i, m in enumerate(tokens):
        parts = m.group(0).lower().split("-")
        if not all(p in _DIGIT_WORDS or p in _MISHEARD or p in _HOMOPHONES for p in parts):
            close()
            continue
        if chain and not re.fullmatch(r"[\s,\-]+", text[tokens[chain[-1][0]].end():m.start()]):
            close()
        chain.append((i, parts))
    close()
    return out


@dataclass(frozen=True)
class NumberSpan:
    """A number found in text: its value as a digit string and its character span."""

    value: str
    start: int
    end: int


def _kind(word: str) -> str:
    v = WORD_VALUES[word]
    if word in _SCALES:
        return "scale"
    if word == "hundred":
        return "hundred"
    if word in ("zero", "oh"):
        return "zero"
    if v < 10:
        return "unit"
    return "teen" if v < 20 else "tens"


_CONTINUES = {  # may this kind of word extend a group whose last word was of kind key?
    None: {"unit", "teen", "tens", "zero", "hundred"},
    "unit": {"hundred", "scale"},
    "teen": {"hundred", "scale"},
    "tens": {"unit", "hundred", "scale"},
    "hundred": {"unit", "teen", "tens", "scale"},
    "scale": {"unit", "teen", "tens"},
    "zero": set(),
}


def _groups(words: list[str]) -> list[int]:
    """Values of the groups of one run of number words (see the module docstring)."""
    out, total, cur, last = [], 0, 0, None
    for w in words:
        k = _kind(w)
        if k not in _CONTINUES[last]:
            out.append(total + cur)
            total, cur, last = 0, 0, None
        v = WORD_VALUES[w]
        if k == "hundred":
            cur = max(cur, 1) * 100
        elif k == "scale":
            total, cur = total + max(cur, 1) * v, 0
        else:
            cur += v
        last = k
    out.append(total + cur)
    return out


def _words_value(words: list[str]) -> str | None:
    """The digit string of a run of number words, or None when it is not a number (a lone "one" / "oh")."""
    while words and words[0] == "oh":  # "oh" starts no number
        words = words[1:]
    while words and words[-1] == "oh":
        words = words[:-1]
    if not words or words == ["one"]:
        return None
    return "".join(str(g) for g in _groups(words))


def numbers_in(text: str) -> list[NumberSpan]:
    """Every number in ``text``, in order: digit tokens ("9,394" -> "9394") and runs of number words.

    Hyphens join number words ("ninety-four"); "and" inside a run is skipped ("one hundred and five").
    """
    out: list[NumberSpan] = []
    run: list[tuple[str, int, int]] = []

    def flush():
        words = [w for w, _, _ in run]
        while words and words[-1] == "and":
            words, run[:] = words[:-1], run[:-1]
        value = _words_value([w for w in words if w != "and"]) if run else None
        if value is not None:
            out.append(NumberSpan(value, run[0][1], run[-1][2]))
        run.clear()

    tokens = list(_TOKEN.finditer(text))
    misheard = _digit_readings(text, tokens)
    for i, m in enumerate(tokens):
        tok, s, e = misheard.get(i, m.group(0)), m.start(), m.end()
        after = tokens[i + 1].group(0).lower() if i + 1 < len(tokens) else ""
        if tok.isdigit() and int(tok) < 20 and after in ("hundred", *_SCALES):  # "3 hundred twenty one"
            run.append((_UNITS[int(tok)], s, e))
            continue
        if tok[0].isdigit():
            flush()
            out.append(NumberSpan(tok.replace(",", ""), s, e))
            continue
        parts = tok.lower().split("-")
        if all(p in WORD_VALUES for p in parts):
            run.extend((p, s, e) for p in parts)
        elif tok.lower() == "and" and run and run[-1][0] in ("hundred", "thousand", "million"):
            run.append(("and", s, e))
        else:
            flush()
    flush()
    return _join_digit_runs(text, out)


def _join_digit_runs(text: str, spans: list[NumberSpan]) -> list[NumberSpan]:
    """Merge 3+ single digits written apart ("9, 3, 9, 4") and groups of digits joined by hyphens
    ("931-0", "5-9-37": ASR writing a number read digit by digit) into one number."""
    out: list[NumberSpan] = []
    i = 0
    while i < len(spans):
        j = i
        while j + 1 < len(spans):
            a, b = spans[j], spans[j + 1]
            gap = text[a.end:b.start]
            digits = text[a.start:a.end].isdigit() and text[b.start:b.end].isdigit()
            if digits and gap == "-":
                j += 1
            elif len(a.value) == 1 and len(b.value) == 1 and re.fullmatch(r"[\s,\-]+", gap):
                j += 1
            else:
                break
        hyphens = j > i and all(text[spans[k].end:spans[k + 1].start] == "-" for k in range(i, j))
        if j - i >= 2 or hyphens:
            out.append(NumberSpan("".join(s.value for s in spans[i:j + 1]), spans[i].start, spans[j].end))
        else:
            out.extend(spans[i:j + 1])
        i = j + 1
    return out


def normalize(text: str) -> str:
    """``text`` with every number replaced by its digit string ("nine three nine four" -> "9394")."""
    pieces, last = [], 0
    for n in numbers_in(text):
        pieces += [text[last:n.start], n.value]
        last = n.end
    return "".join(pieces + [text[last:]])
