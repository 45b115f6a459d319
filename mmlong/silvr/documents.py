"""Document QA on the language route: PDF text layer -> chunks -> evidence units -> grounded answer.

Each page's text is cut into chunks of whole sentences, about ``chunk_words`` words each;
chunk k is placed at "time" k, so the same machinery as for videos applies (the fitted
context of ``mode="generate"`` treats a clip as L chunks). A line of at most
``heading_words`` words that starts with a capital or a digit and does not end with
punctuation is a *heading*, unless the same line (digits aside) appears on at least 3 pages
and a fifth of them (running headers and footers such as "Page 12"); every chunk's evidence context is the latest heading at or
before it (on its page or an earlier one) and the previous chunk of the same page, so a
question naming a chapter finds the chunks under it. Answers cite the chunk's page.
"""

from __future__ import annotations

import re
from typing import Sequence

from mmlong.silvr.context import ClipText
from mmlong.silvr.evidence import Unit
from mmlong.silvr.segments import Segment, Transcript

DOC_INSTRUCTION = ("Answer the following question based on the document text above, in one short sentence. "
                   "Quote the exact number or word from the text.")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def is_heading(line: str, heading_words: int = 8) -> bool:
    """A short line starting with a capital or digit and not ending with punctuation (see the module docstring)."""
    line = line.strip()
    n = len(line.split())
    return 0 < n <= heading_words and (line[0].isupper() or line[0].isdigit()) and not line.endswith(
        tuple(".,;:!?-"))


def _chunks(text: str, chunk_words: int) -> list[str]:
    sentences = [s for s in _SENTENCE.split(re.sub(r"\s+", " ", text).strip()) if s]
    out, cur = [], []
    for s in sentences:
        cur.append(s)
        if sum(len(x.split()) for x in cur) >= chunk_words:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def document_units(pages, chunk_words: int = 60) -> tuple[Transcript, list[int], list[Unit]]:
    """Chunks of every page as segments (start = chunk index), each chunk's 1-based page, and their units."""
    segs, page_of, units = [], [], []
    heading = ""
    seen: dict[str, int] = {}
    for p in pages:
        for pattern in {re.sub(r"\d+", "#", line.strip()) for line in p.text.splitlines()}:
            seen[pattern] = seen.get(pattern, 0) + 1
    running = {k for k, v in seen.items() if v >= max(3, len(pages) / 5)}
    for p in pages:
        blocks, cur = [], []  # (heading or None, text) in page order
        for line in p.text.splitlines():
            if is_heading(line) and re.sub(r"\d+", "#", line.strip()) not in running:
                if cur:
                    blocks.append((None, " ".join(cur)))
                    cur = []
                blocks.append((line.strip(), line.strip()))
            elif line.strip():
                cur.append(line.strip())
        if cur:
            blocks.append((None, " ".join(cur)))
        prev = ""
        for head, text in blocks:
            pieces = [text] if head is not None else _chunks(text, chunk_words)
            for piece in pieces:
                k = len(segs)
                seg = Segment(float(k), float(k + 1), piece, "page")
                segs.append(seg)
                page_of.append(p.number)
                if head is not None:
                    units.append(Unit(seg, piece, "", page=p.number, title=piece))
                    heading, prev = head, ""
                else:
                    units.append(Unit(seg, piece, "\n".join(x for x in (heading, prev) if x), page=p.number))
                    prev = piece
    notes = () if segs else ("document: no text layer (scanned pages?); use a Qwen-VL model with --route direct",)
    return Transcript(float(max(1, len(segs))), tuple(segs), notes), page_of, units


def document_transcript(pages, chunk_words: int = 60) -> tuple[Transcript, list[int]]:
    """Chunks of every page as segments (start = chunk index) and each chunk's 1-based page."""
    transcript, page_of, _ = document_units(pages, chunk_words)
    return transcript, page_of


def doc_prompt_fn(page_of: Sequence[int]):
    """A ``prompt_fn(question, clips, L)`` for :func:`~mmlong.silvr.context.fit` that labels pages."""

    def label(c: ClipText) -> str:
        first = page_of[min(int(c.start), len(page_of) - 1)]
        last = page_of[min(int(c.end) - 1, len(page_of) - 1)] if c.end > c.start else first
        return f"[page {first}]" if first == last else f"[pages {first}-{last}]"

    def prompt(question: str, clips: Sequence[ClipText], L: float) -> str:
        lines = [f"{label(c)} " + " ".join(c.captions) for c in clips if c.captions]
        return "\n".join(["The document's text is listed below:", *(lines or ["(none)"]), DOC_INSTRUCTION,
                          f"Question: {question}", "The answer is:"])

    return prompt
