"""The records every extraction parser produces (``TextBlock``, ``ExtractedDocument``, ``ExtractionError``) and the
small helpers the parsers share to build them: blocks, titles, heading paths and bounded failure reasons."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
_MAX_TITLE_CHARS = 200
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


def _first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped, or ``""``."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


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
