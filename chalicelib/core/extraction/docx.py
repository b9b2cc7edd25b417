"""DOCX: paragraphs and table rows of ``word/document.xml`` (zip + XML, standard library only), Heading styles as the
heading path."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

from chalicelib.core.extraction.records import (
    MAX_DOCUMENT_BYTES,
    ExtractionError,
    TextBlock,
    _block,
    _collapse,
    _HeadingPath,
    _short_reason,
)

# A DOCX part that inflates beyond this is a zip bomb, not a document.
_MAX_DOCX_XML_BYTES = 4 * MAX_DOCUMENT_BYTES

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
