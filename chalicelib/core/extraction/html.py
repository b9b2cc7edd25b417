"""HTML: the visible text of a page as blocks, with ``<title>`` and the h1–h6 heading path (``html.parser`` only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from chalicelib.core.extraction.records import TextBlock, _block, _collapse, _HeadingPath
from chalicelib.core.extraction.text import decode_text

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
