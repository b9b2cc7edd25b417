"""Text decoding (byte-order marks, UTF-8, GB18030) shared by every text-based format, and the plain-text parser."""

from __future__ import annotations

import re
from collections.abc import Iterator

from chalicelib.core.extraction.records import ExtractionError, TextBlock, _block, _first_line

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def decode_text(data: bytes) -> str:
    """Decode a text file: BOM-marked UTF-8/16/32, else UTF-8, else GB18030 (common for Chinese files).

    Latin-1 is deliberately not a fallback: it accepts any byte string and would index binary garbage silently. Line
    endings are normalised to ``\\n``.
    """
    text = _decode_with_bom(data)
    if text is None:
        text = _decode_without_bom(data)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _decode_with_bom(data: bytes) -> str | None:
    """Decode ``data`` by its byte-order mark, or ``None`` if it has none."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                message = f"File has a {encoding.upper()} byte-order mark but is not valid {encoding}"
                raise ExtractionError(message) from exc
    return None


def _decode_without_bom(data: bytes) -> str:
    """Decode unmarked bytes as UTF-8, falling back to GB18030."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError("File is not valid UTF-8 or GB18030 text")


def _paragraphs(text: str) -> Iterator[str]:
    """Split ``text`` on blank lines (lines holding only whitespace count as blank)."""
    return iter(re.split(r"\n[ \t\f\v\u3000]*\n", text))


def _parse_txt(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """Plain text: one block per blank-line-separated paragraph; the first line is the title."""
    text = decode_text(data)
    blocks = [block for paragraph in _paragraphs(text) if (block := _block(paragraph, ())) is not None]
    return _first_line(text) or stem, blocks
