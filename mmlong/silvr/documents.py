"""Document QA on the language route: PDF text layer -> chunks -> fitted context -> LLM.

Pages are cut into chunks of about ``chunk_words`` words; chunk k is placed at "time" k, so
the same adaptive granularity and relevance selection as for videos apply (a clip of L
chunks). The prompt labels every line with its page, and answers cite pages: the pages of
the chunks that contain the answer's key tokens.
"""

from __future__ import annotations

import re
from typing import Sequence

from mmlong.silvr.context import ClipText
from mmlong.silvr.segments import Segment, Transcript

DOC_INSTRUCTION = ("Answer the following question based on the document text above, in one short sentence. "
                   "Quote the exact number or word from the text.")


def document_transcript(pages, chunk_words: int = 60) -> tuple[Transcript, list[int]]:
    """Chunks of every page as segments (start = chunk index) and each chunk's 1-based page."""
    segs, page_of = [], []
    for p in pages:
        words = re.sub(r"\s+", " ", p.text).strip().split(" ")
        if words == [""]:
            continue
        for i in range(0, len(words), chunk_words):
            k = len(segs)
            segs.append(Segment(float(k), float(k + 1), " ".join(words[i : i + chunk_words]), "page"))
            page_of.append(p.number)
    notes = () if segs else ("document: no text layer (scanned pages?); use a Qwen-VL model with --route direct",)
    return Transcript(float(max(1, len(segs))), tuple(segs), notes), page_of


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
