"""PDF: one text block per page via ``pypdf``, imported only when a PDF is parsed (the Lambda's cold start)."""

from __future__ import annotations

import io
from typing import Any

from chalicelib.core.extraction.records import (
    ExtractionError,
    TextBlock,
    _block,
    _clean_title,
    _first_line,
    _short_reason,
)


def _parse_pdf(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """PDF via ``pypdf`` (imported here so only PDF uploads pay for it): one block per page with text."""
    reader = _open_pdf(data)
    blocks: list[TextBlock] = []
    for page in _pdf_pages(reader):
        block = _block(_pdf_page_text(page), ())
        if block is not None:
            blocks.append(block)
    if not blocks:
        raise ExtractionError("PDF has no extractable text (scanned images need OCR)")
    return _pdf_title(reader) or _first_line(blocks[0].text) or stem, blocks


def _open_pdf(data: bytes) -> Any:
    """Open and, when it only has an owner password, decrypt a PDF; map every failure to ``ExtractionError``."""
    try:
        from pypdf import PdfReader
    except ImportError as exc:  # pragma: no cover - pypdf is a declared dependency
        raise ExtractionError("PDF support is not installed") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise ExtractionError(f"PDF could not be parsed: {_short_reason(exc)}") from exc
    if encrypted:
        _decrypt_with_empty_password(reader)
    return reader


def _decrypt_with_empty_password(reader: Any) -> None:
    """Open a PDF that is encrypted with an empty user password (owner-restricted PDFs are common and readable)."""
    try:
        result = reader.decrypt("")
    except Exception as exc:
        raise ExtractionError("PDF is encrypted") from exc
    if not result:  # PasswordType.NOT_DECRYPTED is 0
        raise ExtractionError("PDF is encrypted")


def _pdf_pages(reader: Any) -> list[Any]:
    """The pages of ``reader`` (reading the page tree can itself fail on a damaged file)."""
    try:
        return list(reader.pages)
    except Exception as exc:
        raise ExtractionError(f"PDF could not be parsed: {_short_reason(exc)}") from exc


def _pdf_page_text(page: Any) -> str:
    """The text of one page with blank lines and repeated spaces removed."""
    try:
        text = page.extract_text() or ""
    except Exception as exc:
        raise ExtractionError(f"PDF could not be parsed: {_short_reason(exc)}") from exc
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _pdf_title(reader: Any) -> str | None:
    """The /Title from the document information dictionary, ignoring broken or empty metadata."""
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # noqa: BLE001 - metadata is optional; a broken Info dict must not fail the document
        return None
    return _clean_title(title) if isinstance(title, str) and title.strip() else None
