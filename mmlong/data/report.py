"""Synthetic PDF reports with planted facts, for long-document QA benchmarks.

::

    from mmlong.data.report import make_report

    rep = make_report("report.pdf", pages=120, seed=0)
    rep.chapters   # (Chapter(title="Roman History: Trade Routes", first_page=1, last_page=6), ...)
    rep.facts      # (Fact(kind="page_number", answer="8341", span=(17, 17), ...), ...)

A report is chapters of 3-9 pages (fpdf2, Helvetica), each opening with the heading
``Chapter K: <title>`` and filled with paragraphs of narration about its subject (the
vocabulary of :mod:`mmlong.data.text`); every page has a footer ``Page N``. Two kinds of
fact are planted in the body text of one page each: ``page_number`` ("The archive number
for this chapter is 8341.") and ``page_word`` ("The code word for this chapter is
PELICAN."); a fact's span is ``(page, page)``. Everything is reproducible from ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from mmlong.data import text as T
from mmlong.data.lecture import Fact
from mmlong.errors import MmlongError, require

__all__ = ["Chapter", "Report", "make_report"]


@dataclass(frozen=True)
class Chapter:
    """One chapter: its title and its pages (1-based, inclusive)."""

    title: str
    first_page: int
    last_page: int


@dataclass(frozen=True)
class Report:
    """What :func:`make_report` wrote: the PDF, its chapters and its facts."""

    path: Path
    pages: int
    seed: int
    chapters: tuple[Chapter, ...]
    facts: tuple[Fact, ...]


def _chapters(pages: int, rng: random.Random) -> list[tuple[str, int, int]]:
    titles = [f"{s}: {a}" for s in T.SUBJECTS for a in T.ASPECTS]
    rng.shuffle(titles)
    out, p = [], 1
    while p <= pages:
        n = min(rng.randint(3, 9), pages - p + 1)
        if pages - (p + n - 1) < 3:  # no chapter shorter than 3 pages at the end
            n = pages - p + 1
        out.append((titles[len(out)], p, p + n - 1))
        p += n
    return out


def make_report(path: str | Path, *, pages: int, seed: int, facts_per_kind: int | None = None,
                id_prefix: str = "") -> Report:
    """Write one report PDF.

    Args:
        path: output ``.pdf``.
        pages: page count (10 to 1000).
        seed: random seed; the same seed gives the same text and facts.
        facts_per_kind: facts of each kind (default ``max(2, pages // 25)``), on distinct chapters while
            there are enough.
        id_prefix: prefix for :attr:`Fact.id`.

    Raises:
        MmlongError: bad arguments or fpdf2 missing.
    """
    if not 10 <= pages <= 1000:
        raise MmlongError(f"pages must be in [10, 1000], got {pages}")
    fpdf = require("fpdf", "dev")
    rng = random.Random(seed)
    chapters = _chapters(pages, rng)
    per_kind = min(facts_per_kind or max(2, pages // 25), len(chapters))
    order = rng.sample(range(len(chapters)), len(chapters))
    numbers = dict(zip(order[:per_kind], rng.sample(range(1000, 10000), per_kind)))
    words = dict(zip((order[per_kind:] + order[:per_kind])[:per_kind], rng.sample(T.CODE_WORDS, per_kind)))
    planted: dict[int, list[tuple[str, str]]] = {}  # page -> [(kind, value)]
    for i, (title, first, last) in enumerate(chapters):
        for kind, table in (("page_number", numbers), ("page_word", words)):
            if i in table:
                planted.setdefault(rng.randint(first, last), []).append((kind, str(table[i])))

    pdf = fpdf.FPDF(format="A4")
    pdf.set_auto_page_break(False)
    facts = []
    counters = {"page_number": 0, "page_word": 0}
    for title, first, last in chapters:
        subject = title.split(":")[0]
        for page in range(first, last + 1):
            pdf.add_page()
            if page == first:
                pdf.set_font("helvetica", "B", 16)
                pdf.multi_cell(0, 10, f"Chapter {chapters.index((title, first, last)) + 1}: {title}",
                               new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("helvetica", size=11)
            paragraphs = [T.narration(subject, rng, rng.randint(4, 6)) for _ in range(3 if page == first else 4)]
            for kind, value in planted.get(page, []):
                sentence = (f"The archive number for this chapter is {value}." if kind == "page_number"
                            else f"The code word for this chapter is {value}.")
                para = rng.randrange(len(paragraphs))
                paragraphs[para].insert(rng.randint(0, len(paragraphs[para])), sentence)
                facts.append(Fact(f"{id_prefix}{kind}_{counters[kind]}", "page", "", value, float(page),
                                  (float(page), float(page)), kind, title))
                counters[kind] += 1
            for para in paragraphs:
                pdf.multi_cell(0, 6, " ".join(para), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(3)
            pdf.set_y(-15)
            pdf.set_font("helvetica", size=9)
            pdf.cell(0, 8, f"Page {page}", align="C")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return Report(path, pages, seed, tuple(Chapter(t, a, b) for t, a, b in chapters),
                  tuple(sorted(facts, key=lambda f: f.time)))
