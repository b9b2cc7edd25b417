"""Turn an uploaded file into plain-text blocks the chunker can cut.

Bailian accepts PDF, DOCX, Markdown, HTML, TXT, JSON and images; this module parses each of those with the standard
library alone (plus ``pypdf``, imported lazily, for PDF) so the Lambda package stays small. Every parser produces the
same shape: a title and an ordered tuple of ``TextBlock`` s, each carrying the heading path above it so chunks never
straddle a section boundary and search results can show where they came from.

Failures a caller can act on (a corrupt PDF, invalid JSON, an unknown extension) surface as ``ExtractionError`` whose
message becomes the document's ``Reason``; any other exception raised while parsing is wrapped into one, so a hostile
file can never crash the indexer.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from xml.etree import ElementTree

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
_MAX_TITLE_CHARS = 200
# A DOCX part that inflates beyond this is a zip bomb, not a document.
_MAX_DOCX_XML_BYTES = 4 * MAX_DOCUMENT_BYTES
_MAX_REASON_CHARS = 160


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One paragraph-like run of text and the heading path (outermost first) it sits under."""

    text: str
    headings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """The parsed form of one file: its title, its text blocks in reading order and the detected format."""

    title: str
    blocks: tuple[TextBlock, ...]
    format: str


class ExtractionError(Exception):
    """Raised with a caller-readable reason (it becomes the document's Reason) when a file cannot be parsed."""


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


def _short_reason(exc: BaseException) -> str:
    """A one-line, bounded description of ``exc`` fit for a document's Reason field."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if len(message) > _MAX_REASON_CHARS:
        message = message[: _MAX_REASON_CHARS - 1] + "…"
    return message


def _clean_title(title: str) -> str:
    """Collapse whitespace and cap the length, so titles are always one short line."""
    return " ".join(title.split())[:_MAX_TITLE_CHARS]


def _collapse(text: str) -> str:
    """Collapse every whitespace run (newlines included) into a single space."""
    return " ".join(text.split())


def _block(text: str, headings: tuple[str, ...]) -> TextBlock | None:
    """A ``TextBlock`` for ``text`` with blank edge lines removed, or ``None`` if nothing readable is left."""
    lines = [line.rstrip() for line in text.replace("\x00", "").split("\n")]
    cleaned = "\n".join(lines).strip("\n")
    if not cleaned.strip():
        return None
    return TextBlock(cleaned.strip(), headings)


# --------------------------------------------------------------------------------------------------------------------
# Text decoding and plain text
# --------------------------------------------------------------------------------------------------------------------

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


def _first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped, or ``""``."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _paragraphs(text: str) -> Iterator[str]:
    """Split ``text`` on blank lines (lines holding only whitespace count as blank)."""
    return iter(re.split(r"\n[ \t\f\v\u3000]*\n", text))


def _parse_txt(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """Plain text: one block per blank-line-separated paragraph; the first line is the title."""
    text = decode_text(data)
    blocks = [block for paragraph in _paragraphs(text) if (block := _block(paragraph, ())) is not None]
    return _first_line(text) or stem, blocks


# --------------------------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_SETEXT_H1 = re.compile(r"^ {0,3}=+[ \t]*$")
_SETEXT_H2 = re.compile(r"^ {0,3}-+[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TABLE_DIVIDER = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")
_BLOCKQUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

# Inline syntax, applied in order: images go first so their "![alt](src)" is not mistaken for a link.
_INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),
    (re.compile(r"!\[[^\]]*\]\[[^\]]*\]"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),
    (re.compile(r"(`+)(.+?)\1"), r"\2"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
)


def _strip_inline_markdown(text: str) -> str:
    """Remove inline Markdown syntax (links keep their text, images vanish) and backslash escapes."""
    for pattern, replacement in _INLINE_RULES:
        text = pattern.sub(replacement, text)
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>~])", r"\1", text)


def _split_front_matter(text: str) -> tuple[str | None, str]:
    """Split off YAML front matter at the very top; return its ``title`` (if any) and the remaining Markdown."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, text
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return _front_matter_title(lines[1:index]), "\n".join(lines[index + 1 :])
    return None, text


def _front_matter_title(lines: list[str]) -> str | None:
    """The top-level ``title:`` value of a YAML front matter block, unquoted."""
    for line in lines:
        match = re.match(r"^title:\s*(.*?)\s*$", line)
        if match and match.group(1):
            value = match.group(1)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value.strip() or None
    return None


class _HeadingPath:
    """The stack of open headings; a new heading closes every heading of the same or a deeper level."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def open(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if text:
            self._stack.append((level, text))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)


class _MarkdownParser:
    """A line-oriented Markdown reader covering what documents actually use: headings, paragraphs, lists, quotes,
    tables and fenced code. It produces blocks, not HTML, so it can be far simpler than a full CommonMark parser."""

    def __init__(self) -> None:
        self.blocks: list[TextBlock] = []
        self.first_h1: str | None = None
        self._headings = _HeadingPath()
        self._paragraph: list[str] = []
        self._raw_paragraph: list[str] = []
        self._fence: str | None = None
        self._code: list[str] = []

    def feed(self, text: str) -> None:
        for line in _HTML_COMMENT.sub("", text).split("\n"):
            self._line(line)
        if self._fence is not None:
            self._close_fence()
        self._flush()

    def _line(self, line: str) -> None:
        if self._fence is not None:
            self._fenced_line(line)
        elif (fence := _FENCE.match(line)) is not None:
            self._flush()
            self._fence = fence.group(1)
        elif not line.strip():
            self._flush()
        elif (heading := _ATX_HEADING.match(line)) is not None:
            self._flush()
            self._heading(len(heading.group(1)), _ATX_CLOSING.sub("", heading.group(2) or ""))
        elif self._is_setext_underline(line):
            title = self._raw_paragraph[0]
            self._paragraph, self._raw_paragraph = [], []
            self._heading(1 if _SETEXT_H1.match(line) else 2, title)
        elif _THEMATIC_BREAK.match(line):
            self._flush()
        elif not (_TABLE_DIVIDER.match(line) or _LINK_DEFINITION.match(line)):
            self._text_line(line)

    def _is_setext_underline(self, line: str) -> bool:
        """``===`` or ``---`` directly under a single plain text line turns that line into a heading."""
        if len(self._raw_paragraph) != 1 or not (_SETEXT_H1.match(line) or _SETEXT_H2.match(line)):
            return False
        previous = self._raw_paragraph[0]
        return not (_LIST_MARKER.match(previous) or _BLOCKQUOTE.match(previous) or previous.lstrip().startswith("|"))

    def _fenced_line(self, line: str) -> None:
        assert self._fence is not None
        closing = line.strip()
        if closing.startswith(self._fence) and set(closing) == {self._fence[0]}:
            self._close_fence()
        else:
            self._code.append(line)

    def _close_fence(self) -> None:
        block = _block("\n".join(self._code), self._headings.path)
        if block is not None:
            self.blocks.append(block)
        self._fence, self._code = None, []

    def _heading(self, level: int, raw_text: str) -> None:
        text = _collapse(_strip_inline_markdown(raw_text.strip()))
        self._headings.open(level, text)
        if level == 1 and self.first_h1 is None and text:
            self.first_h1 = text

    def _text_line(self, line: str) -> None:
        """Add one content line: list items and table rows start a new line, wrapped prose continues the last one."""
        quoted = bool(_BLOCKQUOTE.match(line))
        enters_quote = bool(self._raw_paragraph) and quoted != bool(_BLOCKQUOTE.match(self._raw_paragraph[-1]))
        self._raw_paragraph.append(line)
        unquoted = _BLOCKQUOTE.sub("", line)
        table_row = unquoted.lstrip().startswith("|")
        starts_item = enters_quote or table_row or bool(_LIST_MARKER.match(unquoted))
        content = _LIST_MARKER.sub("", unquoted).strip()
        if table_row:
            content = " | ".join(cell.strip() for cell in content.strip("|").split("|") if cell.strip())
        content = " ".join(_strip_inline_markdown(content).split())
        if not content:
            return
        if starts_item or not self._paragraph:
            self._paragraph.append(content)
        else:
            self._paragraph[-1] += " " + content

    def _flush(self) -> None:
        block = _block("\n".join(self._paragraph), self._headings.path)
        if block is not None:
            self.blocks.append(block)
        self._paragraph, self._raw_paragraph = [], []


def _parse_markdown(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """Markdown: headings build the heading path, inline syntax is stripped, fenced code is kept verbatim."""
    front_title, body = _split_front_matter(decode_text(data))
    parser = _MarkdownParser()
    parser.feed(body)
    return front_title or parser.first_h1 or stem, parser.blocks


# --------------------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------------------

# ``head`` is not skipped wholesale: its closing tag is optional, and only <title> in it holds text anyway.
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
        "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_CELL_TAGS = frozenset({"td", "th"})


class _HtmlTextParser(HTMLParser):
    """Collects the visible text of an HTML page as blocks, tracking ``<title>`` and the h1–h6 heading path."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[TextBlock] = []
        self.title: str | None = None
        self.first_h1: str | None = None
        self._headings = _HeadingPath()
        self._skip_depth = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading_level: int | None = None
        self._heading_parts: list[str] = []
        self._parts: list[str] = []
        self._pre_depth = 0
        self._cells_in_row = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif self._skip_depth:
            return  # nothing inside a skipped element (an <svg> <title>, a <template> <h1>) may affect the page
        elif tag == "title" and self.title is None:
            self._in_title = True
        elif tag in _HEADING_TAGS:
            self._flush()
            self._heading_level, self._heading_parts = _HEADING_TAGS[tag], []
        elif tag in _CELL_TAGS:
            self._parts.append(" | " if self._cells_in_row else " ")
            self._cells_in_row += 1
        elif tag in _BLOCK_TAGS:
            self._flush()
            if tag == "tr":
                self._cells_in_row = 0
            elif tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS and not self._skip_depth:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag == "title" and self._in_title:
            self._in_title = False
            self.title = _collapse("".join(self._title_parts))
        elif tag in _HEADING_TAGS and self._heading_level is not None:
            self._close_heading()
        elif tag in _BLOCK_TAGS:
            self._flush()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self._title_parts.append(data)
        elif self._heading_level is not None:
            self._heading_parts.append(data)
        else:
            self._parts.append(data if self._pre_depth else re.sub(r"\s+", " ", data))

    def close(self) -> None:
        super().close()
        if self._heading_level is not None:
            self._close_heading()
        self._flush()

    def _close_heading(self) -> None:
        assert self._heading_level is not None
        text = _collapse("".join(self._heading_parts))
        self._headings.open(self._heading_level, text)
        if self._heading_level == 1 and self.first_h1 is None and text:
            self.first_h1 = text
        self._heading_level, self._heading_parts = None, []

    def _flush(self) -> None:
        """End the current block: collapse spaces within each line (only ``<pre>`` text keeps line breaks)."""
        lines = (" ".join(line.split()) for line in "".join(self._parts).split("\n"))
        block = _block("\n".join(line for line in lines if line), self._headings.path)
        if block is not None:
            self.blocks.append(block)
        self._parts = []


def _parse_html(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """HTML: visible text only; ``<title>`` (else the first h1) is the title."""
    parser = _HtmlTextParser()
    parser.feed(decode_text(data))
    parser.close()
    return parser.title or parser.first_h1 or stem, parser.blocks


# --------------------------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------------------------------

_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_DOCX_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)


def _local(tag: str) -> str:
    """An element's tag without its namespace, so transitional and strict OOXML read the same."""
    return tag.rsplit("}", 1)[-1]


def _attribute(element: ElementTree.Element, name: str) -> str | None:
    """An attribute by local name, whatever its namespace (``w:val`` in either OOXML flavour)."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _child(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    """The first direct child with local name ``name``."""
    return next((child for child in element if _local(child.tag) == name), None)


def _read_docx_part(archive: zipfile.ZipFile, name: str) -> bytes | None:
    """One part of the package, or ``None`` if absent; refuses parts that would inflate absurdly."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_DOCX_XML_BYTES:
        raise ExtractionError(f"DOCX could not be parsed: {name} is too large")
    return archive.read(info)


def _parse_docx(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """DOCX: ``word/document.xml`` paragraphs and table rows; Heading1–9/Title styles build the heading path."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            document = _read_docx_part(archive, "word/document.xml")
            core = _read_docx_part(archive, "docProps/core.xml")
    except zipfile.BadZipFile as exc:
        raise ExtractionError("DOCX could not be parsed: not a ZIP archive") from exc
    if document is None:
        raise ExtractionError("DOCX could not be parsed: word/document.xml is missing")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise ExtractionError(f"DOCX could not be parsed: {_short_reason(exc)}") from exc
    reader = _DocxReader()
    body = _child(root, "body")
    reader.read(body if body is not None else root)
    return _docx_core_title(core) or reader.first_heading or stem, reader.blocks


def _docx_core_title(core: bytes | None) -> str | None:
    """``dc:title`` from ``docProps/core.xml``; a missing or broken part just means no title."""
    if core is None:
        return None
    try:
        element = ElementTree.fromstring(core).find(_DC_TITLE)
    except ElementTree.ParseError:
        return None
    text = element.text if element is not None else None
    return text.strip() if text and text.strip() else None


class _DocxReader:
    """Walks a DOCX body in document order, turning paragraphs and table rows into blocks."""

    def __init__(self) -> None:
        self.blocks: list[TextBlock] = []
        self.first_heading: str | None = None
        self._headings = _HeadingPath()

    def read(self, container: ElementTree.Element) -> None:
        for element in container:
            name = _local(element.tag)
            if name == "p":
                self._paragraph(element)
            elif name == "tbl":
                self._table(element)
            elif name in ("sdt", "sdtContent", "customXml", "ins", "smartTag"):
                self.read(element)  # content controls and tracked insertions wrap ordinary paragraphs

    def _paragraph(self, paragraph: ElementTree.Element) -> None:
        text = _docx_paragraph_text(paragraph)
        level = _docx_heading_level(paragraph)
        if level is None:
            self._append(text)
            return
        heading = _collapse(text)
        self._headings.open(level, heading)
        if level <= 1 and heading and self.first_heading is None:
            self.first_heading = heading

    def _table(self, table: ElementTree.Element) -> None:
        """Each row becomes one block of ``cell | cell`` so a row's facts stay together."""
        for row in (child for child in table if _local(child.tag) == "tr"):
            cells = [_docx_cell_text(cell) for cell in row if _local(cell.tag) == "tc"]
            self._append(" | ".join(cell for cell in cells if cell))

    def _append(self, text: str) -> None:
        block = _block(text, self._headings.path)
        if block is not None:
            self.blocks.append(block)


def _docx_cell_text(cell: ElementTree.Element) -> str:
    """The paragraphs of one table cell (nested tables included) on one line."""
    parts = [_docx_paragraph_text(p) for p in cell.iter() if _local(p.tag) == "p"]
    return _collapse(" ".join(parts))


def _docx_paragraph_text(paragraph: ElementTree.Element) -> str:
    """Concatenate a paragraph's runs: ``w:t`` text, ``w:tab`` as a tab, ``w:br``/``w:cr`` as a line break.

    Deleted text (``w:delText``) and field instructions (``w:instrText``) are different tags, so they are skipped.
    """
    parts: list[str] = []
    for element in _docx_run_elements(paragraph):
        name = _local(element.tag)
        if name == "t" and element.text:
            parts.append(element.text)
        elif name == "tab":
            parts.append("\t")
        elif name in ("br", "cr"):
            parts.append("\n")
        elif name == "noBreakHyphen":
            parts.append("-")
    return "".join(parts)


def _docx_run_elements(paragraph: ElementTree.Element) -> Iterator[ElementTree.Element]:
    """Every element of a paragraph except its properties (``w:pPr`` holds tab-stop ``w:tab`` s that are not text)."""
    for child in paragraph:
        if _local(child.tag) != "pPr":
            yield from child.iter()


def _docx_heading_level(paragraph: ElementTree.Element) -> int | None:
    """0 for the Title style, 1–9 for Heading1–Heading9 (or an explicit outline level), else ``None``."""
    properties = _child(paragraph, "pPr")
    if properties is None:
        return None
    style = _child(properties, "pStyle")
    style_id = (_attribute(style, "val") or "") if style is not None else ""
    if style_id.lower() == "title":
        return 0
    if (match := _DOCX_HEADING_STYLE.fullmatch(style_id)) is not None:
        return int(match.group(1))
    outline = _child(properties, "outlineLvl")
    value = _attribute(outline, "val") if outline is not None else None
    if value is not None and value.isdigit() and int(value) < 9:
        return int(value) + 1
    return None


# --------------------------------------------------------------------------------------------------------------------
# JSON and JSON Lines
# --------------------------------------------------------------------------------------------------------------------


class _JsonNumber(str):
    """A JSON float kept in its source spelling (``249.00`` stays ``249.00`` rather than becoming ``249.0``)."""


def _load_json(text: str) -> Any:
    """``json.loads`` that keeps floats as written, so indexed text matches what the author typed."""
    return json.loads(text, parse_float=_JsonNumber)


def _json_scalar(value: Any) -> str:
    """A JSON leaf as text: strings verbatim, everything else in its JSON spelling (``true``, ``null``, ``1.5``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _flatten_json(value: Any, path: str = "") -> Iterator[str]:
    """Yield ``path: value`` lines for every scalar leaf (paths like ``a.b[0].c``); empty containers yield nothing."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _flatten_json(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _flatten_json(child, f"{path}[{index}]")
    else:
        yield f"{path}: {_json_scalar(value)}" if path else _json_scalar(value)


def _json_block(value: Any) -> TextBlock | None:
    """One block holding the flattened lines of ``value``."""
    return _block("\n".join(_flatten_json(value)), ())


def _parse_json(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """JSON: one block for an object, one block per element for an array; a string ``title`` field is the title."""
    text = decode_text(data)
    if not text.strip():
        return stem, []
    try:
        value = _load_json(text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"Invalid JSON: line {exc.lineno} column {exc.colno}") from exc
    items = value if isinstance(value, list) else [value]
    blocks = [block for item in items if (block := _json_block(item)) is not None]
    title = value.get("title") if isinstance(value, dict) else None
    if isinstance(title, str) and not isinstance(title, _JsonNumber) and title.strip():
        return title, blocks
    return stem, blocks


def _parse_jsonl(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """JSON Lines: one block per non-empty line; the first bad line fails the file, naming its line number."""
    blocks: list[TextBlock] = []
    for number, line in enumerate(decode_text(data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = _load_json(line)
        except json.JSONDecodeError as exc:
            raise ExtractionError(f"Invalid JSON on line {number}: column {exc.colno}") from exc
        block = _json_block(value)
        if block is not None:
            blocks.append(block)
    return stem, blocks


# --------------------------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------------------------


def _parse_image(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """Images carry no text here (no OCR); only their metadata is searchable."""
    return stem, []


_PARSERS: dict[str, Callable[[bytes, str], tuple[str, list[TextBlock]]]] = {
    "txt": _parse_txt,
    "markdown": _parse_markdown,
    "html": _parse_html,
    "pdf": _parse_pdf,
    "docx": _parse_docx,
    "json": _parse_json,
    "jsonl": _parse_jsonl,
    "image": _parse_image,
}

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "ExtractedDocument",
    "ExtractionError",
    "TextBlock",
    "decode_text",
    "detect_format",
    "extract",
]
