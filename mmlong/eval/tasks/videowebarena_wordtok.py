"""A data-free equivalent of NLTK's ``word_tokenize`` (Punkt sentences + NLTKWordTokenizer).

VideoWebArena's ``must_include`` scorer (inherited from WebArena) tokenizes with
``nltk.word_tokenize``, which needs the downloadable ``punkt_tab`` model. This module needs
no data: the word rules are NLTK 3.9's ``NLTKWordTokenizer`` regexes (Apache-2.0,
re-expressed here), and sentences are split by Punkt's decision rules with a fixed English
abbreviation list in place of the trained model's statistics. Splitting matters only for a
period that ends a sentence mid-text ("pittsburgh. then" -> "pittsburgh", "."); both agree
on the official references (``tests/eval/test_eval_wordtok.py``).
"""

from __future__ import annotations

import re

__all__ = ["word_tokenize", "sent_tokenize", "treebank_tokenize"]

_STARTING_QUOTES = [
    (re.compile("([«“‘„]|[`]+)"), r" \1 "),
    (re.compile(r'^"'), r"``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
    (re.compile(r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 "),
]
_ENDING_QUOTES = [
    (re.compile("([»”’])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
]
_PUNCTUATION = [
    (re.compile(r'([^\.])(\.)([\]\)}>"\'»”’ ]*+)\s*$'), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"[\u2012-\u2015]"), r" \g<0> "),
    (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[*]"), r" \g<0> "),
]
_PARENS = (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> ")
_DASHES = (re.compile(r"--"), r" -- ")
_CONTRACTIONS = [re.compile(p) for p in (
    r"(?i)\b(can)(?#X)(not)\b", r"(?i)\b(d)(?#X)('ye)\b", r"(?i)\b(gim)(?#X)(me)\b", r"(?i)\b(gon)(?#X)(na)\b",
    r"(?i)\b(got)(?#X)(ta)\b", r"(?i)\b(lem)(?#X)(me)\b", r"(?i)\b(more)(?#X)('n)\b", r"(?i)\b(wan)(?#X)(na)(?=\s)",
    r"(?i) ('t)(?#X)(is)\b", r"(?i) ('t)(?#X)(was)\b",
)]

#: Abbreviations after which a period does not end a sentence (lower case, no final period).
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e a.m p.m u.s u.k inc ltd co corp dept est approx
jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun vol fig al gen col
lt sgt capt gov sen rep rev hon ave blvd rd
""".split())

# Punkt's candidate boundaries: [.?!] then closing punctuation or whitespace + next token.
_BOUNDARY = re.compile(r"\S*[.?!](?=(?P<after>[)\";}\]*:@'({\[!?])|\s+(?P<next>\S+))")
_REALIGN = re.compile(r"[\"')\]}]+?(?=\s|--|$)")
_NUMBER = re.compile(r"^-?[\.,]?\d[\d,\.-]*\.?$")


def _is_break(token: str, next_tok: str | None) -> bool:
    """Punkt's decision for a token ending in [.?!] followed by ``next_tok`` (no learned statistics)."""
    if token.endswith(("?", "!")):
        return True
    body = token[:-1].lstrip("([{\"'")
    if token.endswith(".."):  # an ellipsis: punkt asks its orthographic statistics; without them, no break
        return False
    low = body.lower()
    if low in ABBREVIATIONS or low.split("-")[-1] in ABBREVIATIONS:
        return False
    nxt_lower = bool(next_tok) and next_tok[:1].islower()
    if re.fullmatch(r"[^\W\d]", body) or _NUMBER.match(body):  # an initial or a number
        return not nxt_lower and not (next_tok and next_tok[:1].isupper() and re.fullmatch(r"[^\W\d]", body))
    return True


def sent_tokenize(text: str) -> list[str]:
    """Split ``text`` into sentences with Punkt's rules (see module docstring)."""
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if _is_break(m.group(0).split()[-1], m.group("next") or m.group("after")):
            end = m.end()
            close = _REALIGN.match(text, end)  # punkt realigns closing quotes/brackets to the left
            end = close.end() if close else end
            sent = text[start:end].strip()
            if sent:
                out.append(sent)
            start = end
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out


def treebank_tokenize(text: str) -> list[str]:
    """NLTK's ``NLTKWordTokenizer().tokenize`` on one sentence."""
    for regexp, sub in _STARTING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp, sub in _PUNCTUATION:
        text = regexp.sub(sub, text)
    text = _PARENS[0].sub(_PARENS[1], text)
    text = _DASHES[0].sub(_DASHES[1], text)
    text = " " + text + " "
    for regexp, sub in _ENDING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp in _CONTRACTIONS:
        text = regexp.sub(r" \1 \2 ", text)
    return text.split()


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)`` without NLTK data: sentences, then Treebank words per sentence."""
    return [tok for sent in sent_tokenize(text) for tok in treebank_tokenize(sent)]
