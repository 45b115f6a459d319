"""Benchmark questions for generated lectures and reports: several phrasings, and unanswerable ones.

:func:`lecture_questions` asks every planted fact of a :class:`~mmlong.data.lecture.Lecture`
in one of :data:`PHRASINGS` (rotating through them, so each kind is asked several ways),
then adds unanswerable questions until they are ``unanswerable`` of the whole: half ask a
kind of fact about a section that holds no fact of that kind (``"absent_section"``), half ask
for a kind of fact the lecture never has (:data:`NEVER`, ``"absent_kind"``). Rows have
``answer = None`` and ``kind = "none"`` when there is no answer. :func:`report_questions`
does the same for a :class:`~mmlong.data.report.Report`, with chapters for sections.
"""

from __future__ import annotations

import random

__all__ = ["PHRASINGS", "NEVER", "lecture_questions", "report_questions"]

#: Question templates per fact kind; ``{s}`` is the section (slide title) or chapter.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "speech_number": ("What is the secret number mentioned in the section on {s}?",
                      "Which secret number does the lecturer give in the part about {s}?",
                      "In the section on {s}, what secret number is said?"),
    "slide_word": ("What code word is shown on the slides in the section on {s}?",
                   "Which code word appears on the slide about {s}?",
                   "During the section on {s}, what code word is displayed?"),
    "speech_word": ("What keyword is mentioned in the section on {s}?",
                    "Which keyword does the lecturer say in the part about {s}?",
                    "In the section on {s}, what is the spoken keyword?"),
    "slide_number": ("What reference number is shown on the slides in the section on {s}?",
                     "Which reference number appears on the slide about {s}?",
                     "During the section on {s}, what reference number is displayed?"),
    "page_number": ("What is the archive number given in the chapter on {s}?",
                    "Which archive number does the chapter about {s} list?",
                    "In the chapter on {s}, what is the archive number?"),
    "page_word": ("What code word is given in the chapter on {s}?",
                  "Which code word does the chapter about {s} name?",
                  "In the chapter on {s}, what is the code word?"),
}
#: Kinds of fact that no generated lecture or report holds (unanswerable by construction).
NEVER: tuple[str, ...] = ("What is the room number mentioned in the section on {s}?",
                          "What password is shown on the slides in the section on {s}?",
                          "Which phone number does the lecturer give in the part about {s}?",
                          "What is the name of the guest speaker in the section on {s}?")
_NEVER_DOC = ("What is the phone number listed in the chapter on {s}?",
              "Which password does the chapter about {s} give?",
              "In the chapter on {s}, what is the room number?")


def _rows(facts, sections, kinds, never, rng: random.Random, unanswerable: float, base: dict) -> list[dict]:
    """Answerable rows (one phrasing per fact, rotating per kind), then unanswerable ones."""
    rows, turn = [], {}
    for f in facts:
        k = turn.get(f.kind, rng.randrange(len(PHRASINGS[f.kind])))
        turn[f.kind] = (k + 1) % len(PHRASINGS[f.kind])
        rows.append({**base, "id": f.id, "question": PHRASINGS[f.kind][k].format(s=f.section), "answer": f.answer,
                     "kind": f.kind, "source": f.source, "span": list(f.span), "phrasing": k, "section": f.section})
    want = round(len(rows) * unanswerable / max(1e-9, 1 - unanswerable))
    have = {(f.kind, f.section) for f in facts}
    empty = [(k, s) for k in kinds for s in sections if (k, s) not in have]
    rng.shuffle(empty)
    n_section = min(len(empty), (want + 1) // 2)
    for j, (kind, s) in enumerate(empty[:n_section]):
        k = rng.randrange(len(PHRASINGS[kind]))
        rows.append({**base, "id": f"{base.get('prefix', '')}none_section_{j}",
                     "question": PHRASINGS[kind][k].format(s=s), "answer": None, "kind": "none",
                     "source": "absent_section", "span": None, "phrasing": k, "section": s, "asked_kind": kind})
    for j in range(want - n_section):
        k = rng.randrange(len(never))
        s = rng.choice(sections)
        rows.append({**base, "id": f"{base.get('prefix', '')}none_kind_{j}", "question": never[k].format(s=s),
                     "answer": None, "kind": "none", "source": "absent_kind", "span": None, "phrasing": k,
                     "section": s, "asked_kind": None})
    for r in rows:
        r.pop("prefix", None)
    return rows


def lecture_questions(lecture, seed: int, unanswerable: float = 0.2, video: str | None = None) -> list[dict]:
    """Benchmark rows for one lecture (see the module docstring): every fact once, plus unanswerable rows."""
    kinds = sorted({f.kind for f in lecture.facts})
    sections = [title for _, _, title, _ in lecture.slides]
    name = video if video is not None else lecture.path.name
    prefix = lecture.facts[0].id.rsplit("/", 1)[0] + "/" if lecture.facts and "/" in lecture.facts[0].id else ""
    return _rows(lecture.facts, sections, kinds, NEVER, random.Random(seed), unanswerable,
                 {"video": name, "prefix": prefix})


def report_questions(report, seed: int, unanswerable: float = 0.2, document: str | None = None) -> list[dict]:
    """Benchmark rows for one generated report: every fact once, plus unanswerable rows."""
    kinds = sorted({f.kind for f in report.facts})
    sections = [c.title for c in report.chapters]
    name = document if document is not None else report.path.name
    prefix = report.facts[0].id.rsplit("/", 1)[0] + "/" if report.facts and "/" in report.facts[0].id else ""
    return _rows(report.facts, sections, kinds, _NEVER_DOC, random.Random(seed), unanswerable,
                 {"document": name, "prefix": prefix})
