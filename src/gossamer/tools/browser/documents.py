"""Bytes of a document -> a browser Page: HTML, Markdown or text, and PDF (pypdf, pure Python)."""

from __future__ import annotations

import io
import logging
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from gossamer.tools.browser.html import html_to_page, text_to_page
from gossamer.tools.browser.page import Page

logger = logging.getLogger(__name__)

SUFFIXES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".rst": "text/plain",
    ".pdf": "application/pdf",
}


class DocumentError(ValueError):
    pass


def kind_of(name: str) -> str | None:
    """The content type a file name says, or None for files the index skips."""
    return SUFFIXES.get(PurePosixPath(name).suffix.lower())


def to_page(data: bytes, content_type: str, url: str, title: str | None = None) -> Page:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/pdf":
        text, pdf_title = _pdf_text(data)
        return text_to_page(text, url, title or pdf_title or _file_title(url))
    text = data.decode("utf-8", errors="replace")
    if kind in ("text/html", "application/xhtml+xml"):
        return html_to_page(text, url, title)
    return text_to_page(text, url, title or _markdown_title(text) or _file_title(url))


def _pdf_text(data: bytes) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except (PyPdfError, ValueError, KeyError) as exc:
        raise DocumentError(f"the PDF cannot be read: {exc}") from None
    return "\n\n".join(p.strip() for p in pages), title


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines()[:20]:
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _file_title(url: str) -> str:
    return PurePosixPath(unquote(urlsplit(url).path)).name or url
