"""Markdown: a line-oriented, CommonMark-ish reader that turns a document into heading-pathed text blocks."""

from __future__ import annotations

import re

from chalicelib.core.extraction.records import TextBlock, _block, _collapse, _HeadingPath
from chalicelib.core.extraction.text import decode_text

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
