"""Turn an uploaded file into plain-text blocks the chunker can cut.

Bailian accepts PDF, DOCX, Markdown, HTML, TXT, JSON and images; this package parses each of those with the standard
library alone (plus ``pypdf``, imported lazily, for PDF) so the Lambda package stays small. Every parser produces the
same shape: a title and an ordered tuple of ``TextBlock`` s, each carrying the heading path above it so chunks never
straddle a section boundary and search results can show where they came from.

This module is the public API: format detection and ``extract``, which dispatches to one parser per format
(``text``, ``markdown``, ``html``, ``pdf``, ``docx``, ``structured`` for JSON), all building on ``records``; each
parser's module is imported when a file of its format is first parsed.

Failures a caller can act on (a corrupt PDF, invalid JSON, an unknown extension) surface as ``ExtractionError`` whose
message becomes the document's ``Reason``; any other exception raised while parsing is wrapped into one, so a hostile
file can never crash the indexer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import PurePosixPath

from chalicelib.core.extraction.records import (
    MAX_DOCUMENT_BYTES,
    ExtractedDocument,
    ExtractionError,
    TextBlock,
    _clean_title,
    _short_reason,
)

# --------------------------------------------------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------------------------------------------------

_EXTENSION_FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".text": "txt",
    ".log": "txt",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    **{ext: "image" for ext in (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic")},
}

_CONTENT_TYPE_FORMATS: dict[str, str] = {
    "text/plain": "txt",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
}

# How each format is named in an error message.
_FORMAT_LABELS: dict[str, str] = {
    "txt": "Text file",
    "markdown": "Markdown",
    "html": "HTML",
    "pdf": "PDF",
    "docx": "DOCX",
    "json": "JSON",
    "jsonl": "JSON Lines",
    "image": "Image",
}


def _basename(filename: str) -> str:
    """The last path component of ``filename``, accepting both ``/`` and ``\\`` separators."""
    return PurePosixPath(filename.replace("\\", "/")).name


def _extension(filename: str) -> str:
    """The lower-cased last suffix (with its dot) of ``filename``, or ``""``."""
    return PurePosixPath(_basename(filename)).suffix.lower()


def _stem(filename: str) -> str:
    """The file name without directory and last extension: the title of last resort."""
    name = _basename(filename)
    return PurePosixPath(name).stem or name or "untitled"


def detect_format(filename: str, content_type: str | None) -> str:
    """The parser to use for a file: decided by extension first, then by content type.

    Extensions win because browsers and SDKs routinely send ``application/octet-stream``; the content type only rescues
    files uploaded without a recognisable extension.
    """
    extension = _extension(filename)
    if extension in _EXTENSION_FORMATS:
        return _EXTENSION_FORMATS[extension]
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _CONTENT_TYPE_FORMATS:
        return _CONTENT_TYPE_FORMATS[mime]
    if mime.startswith("image/"):
        return "image"
    raise ExtractionError(f"Unsupported file type: {extension or mime or 'unknown'}")


# --------------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------------


def extract(data: bytes, *, filename: str, content_type: str | None = None) -> ExtractedDocument:
    """Parse ``data`` (the file's bytes) into an ``ExtractedDocument``.

    Raises ``ExtractionError`` for files that are too large, of an unsupported type or unparseable. An empty or
    whitespace-only text file is not an error: it yields zero blocks and the indexer decides what that means.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ExtractionError("File is larger than 50 MiB")
    document_format = detect_format(filename, content_type)
    parser = _PARSERS[document_format]
    stem = _stem(filename)
    try:
        title, blocks = parser(bytes(data), stem)
    except ExtractionError:
        raise
    except Exception as exc:
        label = _FORMAT_LABELS[document_format]
        raise ExtractionError(f"{label} could not be parsed: {_short_reason(exc)}") from exc
    return ExtractedDocument(title=_clean_title(title) or stem, blocks=tuple(blocks), format=document_format)


# --------------------------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------------------------


def _parse_image(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """Images carry no text here (no OCR); only their metadata is searchable."""
    return stem, []


Parser = Callable[[bytes, str], tuple[str, list[TextBlock]]]


def _on_first_use(module: str, name: str) -> Parser:
    """A parser imported when a file of its format is first parsed: ``import app`` (whose wire models need only the
    records) loads none of them, and a Lambda that never sees a DOCX never loads its reader."""

    def parse(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
        parser: Parser = getattr(importlib.import_module(f"chalicelib.core.extraction.{module}"), name)
        return parser(data, stem)

    return parse


_PARSERS: dict[str, Parser] = {
    "txt": _on_first_use("text", "_parse_txt"),
    "markdown": _on_first_use("markdown", "_parse_markdown"),
    "html": _on_first_use("html", "_parse_html"),
    "pdf": _on_first_use("pdf", "_parse_pdf"),
    "docx": _on_first_use("docx", "_parse_docx"),
    "json": _on_first_use("structured", "_parse_json"),
    "jsonl": _on_first_use("structured", "_parse_jsonl"),
    "image": _parse_image,
}

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "ExtractedDocument",
    "ExtractionError",
    "TextBlock",
    "detect_format",
    "extract",
]
