"""Long documents (PDF): pages rendered as images plus their text layer."""

from mmlong.docs.pdf import Document, Page, open_pdf

__all__ = ["Document", "Page", "open_pdf"]
