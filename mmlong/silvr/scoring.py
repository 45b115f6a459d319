"""How a language-route answer is scored against a planted fact (benchmarks and ``make demo``).

An answer is right when it holds the reference value and no other value of the same kind
from the same video or document: numbers compare by their digits in any spelling ("nine
three nine four", "9,394" and "9394" all hold 9394), words compare case-blind, and the
value part of the answer (before its citation) may split a compound ("pine cone" holds
"pinecone"). An answer to a question without an answer is right only when it starts with
"Not found". A cited time is right when it lies in the fact's span, widened by ``tolerance``
seconds for speech (ASR sentence bounds drift) and allowed 1 s early for a slide (its scene
change is found between two scans).
"""

from __future__ import annotations

import re
from typing import Iterable

from mmlong.silvr.numbers import numbers_in

__all__ = ["holds", "cited_in_span", "TOLERANCE_S"]

#: Seconds a cited time may lie outside a spoken fact's span.
TOLERANCE_S = 2.0


def _tokens(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)} | {re.sub(r"\D", "", n.value) for n in numbers_in(text)}


def holds(text: str, value: str | None, others: Iterable[str] = ()) -> bool:
    """Whether ``text`` answers ``value`` (None: "Not found ...") and names no other value of ``others``."""
    if value is None:
        return text.startswith("Not found")
    toks = _tokens(text)
    value = value.lower()
    head = re.sub(r"[^a-z0-9]", "", text.split(" (", 1)[0].lower())
    return (value in toks or head == value) and not ({o.lower() for o in others} - {value}) & toks


def cited_in_span(cited: Iterable[float], span: tuple[float, float], source: str,
                  tolerance: float = TOLERANCE_S) -> bool:
    """Whether a cited time lies in ``span`` (see the module docstring; ``source`` is "speech" or "slide")."""
    a, b = span
    lo, hi = (a - tolerance, b + tolerance) if source == "speech" else (a - 1.0, b)
    return any(lo <= t <= hi for t in cited)
