"""Read a PDF with pypdfium2: each page's text layer, and its rendering on demand.

    doc = open_pdf("paper.pdf")
    doc.pages[2].text            # text layer of page 3
    doc.render(2, max_side=1024) # PIL image of page 3

Pages are numbered from 1 in everything users see (``Page.number``, cited pages).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mmlong.errors import MmlongError, require


@dataclass(frozen=True)
class Page:
    """One page: 1-based ``number``, its text layer, and its size in PDF points."""

    number: int
    text: str
    width: float
    height: float


@dataclass
class Document:
    """An opened PDF. ``render`` draws a page; the PDF handle closes with :meth:`close`."""

    path: str
    pages: list[Page]
    _pdf: object = field(default=None, repr=False)

    def render(self, index: int, *, max_side: int = 1024):
        """Page ``index`` (0-based) as an RGB PIL image whose longer side is ``max_side`` pixels."""
        page = self._pdf[index]
        w, h = page.get_size()
        scale = max_side / max(w, h, 1.0)
        return page.render(scale=scale).to_pil().convert("RGB")

    def close(self):
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_error(path: str, exc: Exception) -> MmlongError:
    """The one line for a PDF that PDFium refused, by its error code (``FPDF_ERR_*``)."""
    import pypdfium2.raw as codes

    code = getattr(exc, "err_code", None)
    if code == codes.FPDF_ERR_PASSWORD:
        return MmlongError(f"{path!r} is an encrypted (password-protected) PDF; decrypt it first (e.g. qpdf --decrypt "
                           "--password=PASSWORD in.pdf out.pdf) and pass the decrypted file")
    if code == codes.FPDF_ERR_SECURITY:
        return MmlongError(f"{path!r} uses a PDF security handler PDFium does not support; save an unprotected copy "
                           "and pass that")
    if code == codes.FPDF_ERR_FORMAT:
        return MmlongError(f"{path!r} is not a PDF or is damaged (PDFium cannot parse it); pass a valid PDF file "
                           "(re-export or repair it, e.g. qpdf in.pdf out.pdf)")
    if code == codes.FPDF_ERR_FILE:
        return MmlongError(f"{path!r} cannot be opened as a file; check that it exists and is readable")
    return MmlongError(f"cannot read {path!r} as a PDF ({exc}); pass a valid PDF file")


def open_pdf(path: str, *, max_pages: int | None = None) -> Document:
    """Open ``path`` and read the text layer of its first ``max_pages`` pages.

    Raises:
        MmlongError: missing file, not a PDF, encrypted or unreadable.
    """
    pdfium = require("pypdfium2", "docs")
    if os.path.isdir(path):
        raise MmlongError(f"document {path!r} is a directory; pass the path of a PDF file")
    if not os.path.isfile(path):
        raise MmlongError(f"document {path!r} does not exist; pass the path of a PDF file")
    if not os.access(path, os.R_OK):
        raise MmlongError(f"document {path!r} is not readable (permission denied); make it readable or copy it")
    try:
        pdf = pdfium.PdfDocument(path)
    except Exception as exc:  # noqa: BLE001 - pdfium raises PdfiumError with an error code
        raise _open_error(path, exc) from None
    n = len(pdf) if max_pages is None else min(len(pdf), max_pages)
    if n == 0:
        pdf.close()
        raise MmlongError(f"{path!r} has no pages; pass a PDF with at least one page")
    pages = []
    for i in range(n):
        p = pdf[i]
        text = p.get_textpage().get_text_range().replace("\r\n", "\n").replace("\r", "\n").strip()
        w, h = p.get_size()
        pages.append(Page(i + 1, text, float(w), float(h)))
    return Document(path, pages, pdf)
