"""Cut extracted text blocks into retrieval chunks, the way Bailian's ``ChunkSize``/``OverlapSize`` settings describe.

Sizes count characters, as Bailian does. Chunks are packed from whole sentences (``split_sentences``) so a chunk rarely
ends mid-thought; only a sentence longer than a chunk is cut, at word boundaries for Latin text and between characters
for CJK text, which has no spaces. Consecutive blocks under the same heading path are packed together so short
paragraphs do not become tiny chunks, but a chunk never spans two heading paths: its ``headings`` must describe all of
its text. Each chunk after the first in a section repeats the tail of the previous one (the overlap) so a fact cut at a
boundary is still findable in one piece.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from chalicelib.core.chunk_sizes import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, MAX_CHUNK_SIZE, MAX_OVERLAP
from chalicelib.core.extraction import TextBlock
from chalicelib.core.text import is_cjk, split_scripts, split_sentences

# Separator between two paragraphs (blocks) packed into one chunk.
_BLOCK_SEPARATOR = "\n"
_WORD_WITH_SPACE = re.compile(r"(\s*)(\S+)")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document to index: its text, the heading path it sits under and its 0-based order."""

    text: str
    headings: tuple[str, ...]
    position: int


@dataclass(frozen=True, slots=True)
class _Unit:
    """The smallest piece the packer moves: a sentence, or a slice of a sentence too long for one chunk.

    ``separator`` is what joins it to the unit before it when both land in the same chunk ("" between CJK sentences,
    a space between Latin ones, a newline between paragraphs); it is dropped when the unit starts a chunk.
    """

    text: str
    separator: str


def chunk_blocks(
    blocks: Sequence[TextBlock], *, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    """Split ``blocks`` into chunks of at most ``chunk_size`` characters, consecutive ones sharing up to ``overlap``.

    Deterministic: the same blocks and sizes always give the same chunks. Raises ``ValueError`` for sizes outside
    ``1 <= chunk_size <= MAX_CHUNK_SIZE`` and ``0 <= overlap < chunk_size`` (overlap is also capped at MAX_OVERLAP).
    """
    _validate_sizes(chunk_size, overlap)
    chunks: list[Chunk] = []
    for headings, section in _sections(blocks):
        packer = _Packer(chunk_size, overlap)
        for units in _block_units(section, chunk_size, overlap):
            packer.add_block(units)
        for text in packer.finish():
            chunks.append(Chunk(text=text, headings=headings, position=len(chunks)))
    return chunks


def _validate_sizes(chunk_size: int, overlap: int) -> None:
    """Reject sizes that could not produce valid chunks (or would make every chunk repeat the last)."""
    if chunk_size < 1 or chunk_size > MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE}, got {chunk_size}")
    if overlap < 0 or overlap > MAX_OVERLAP:
        raise ValueError(f"overlap must be between 0 and {MAX_OVERLAP}, got {overlap}")
    if overlap >= chunk_size:
        raise ValueError(f"overlap ({overlap}) must be smaller than chunk_size ({chunk_size})")


def _sections(blocks: Iterable[TextBlock]) -> Iterator[tuple[tuple[str, ...], list[TextBlock]]]:
    """Group consecutive non-blank blocks that share a heading path; each group is chunked on its own."""
    readable = (block for block in blocks if block.text.strip())
    for headings, group in itertools.groupby(readable, key=lambda block: block.headings):
        yield headings, list(group)


# --------------------------------------------------------------------------------------------------------------------
# Units: sentences, and slices of over-long sentences
# --------------------------------------------------------------------------------------------------------------------


def _block_units(section: Sequence[TextBlock], chunk_size: int, overlap: int) -> Iterator[list[_Unit]]:
    """The units of each block of a section: its sentences with their separators, over-long sentences sliced.

    Slices are kept short enough (``chunk_size - overlap - 1`` when that is reasonable) that the overlap carried into
    the next chunk still fits beside the following slice, so long sentences get overlap too.
    """
    slice_limit = max(chunk_size - overlap - 1, chunk_size // 2, 1)
    for block in section:
        units: list[_Unit] = []
        for index, (separator, sentence) in enumerate(_sentences_with_separators(block.text)):
            separator = _BLOCK_SEPARATOR if index == 0 else separator
            if len(sentence) <= chunk_size:
                units.append(_Unit(sentence, separator))
            else:
                units.extend(_slice_sentence(sentence, separator, slice_limit, chunk_size))
        if units:
            yield units


def _sentences_with_separators(text: str) -> Iterator[tuple[str, str]]:
    """``(separator, sentence)`` pairs where the separator reproduces the gap the original text had before it.

    The gap is normalised: nothing (CJK sentences follow each other directly), a newline if it held one (list items),
    otherwise a single space.
    """
    cursor = 0
    for sentence in split_sentences(text):
        start = text.find(sentence, cursor)
        if start < 0:  # cannot happen with split_sentences' stripping; fall back to the script rule
            yield ("" if _is_wide(sentence[0]) else " "), sentence
            continue
        yield _normalise_gap(text[cursor:start] if cursor else ""), sentence
        cursor = start + len(sentence)


def _normalise_gap(gap: str) -> str:
    """Reduce a run of whitespace to the one separator character (or none) that keeps its meaning."""
    if not gap:
        return ""
    return "\n" if "\n" in gap else " "


def _is_wide(char: str) -> bool:
    """CJK characters and full-width punctuation (。，！), which are written without spaces around them."""
    return is_cjk(char) or "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef"


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(separator, token)`` pairs: whitespace-delimited words for Latin text, single characters for CJK runs.

    Joining the tokens with their separators reproduces ``text`` with whitespace normalised, so slicing on token
    boundaries never cuts a Latin word and may cut CJK text anywhere.
    """
    tokens: list[tuple[str, str]] = []
    pending = ""
    for cjk, segment in split_scripts(text):
        if cjk:
            for char in segment:
                tokens.append((_normalise_gap(pending), char))
                pending = ""
            continue
        end = 0
        for match in _WORD_WITH_SPACE.finditer(segment):
            tokens.append((_normalise_gap(pending + match.group(1)), match.group(2)))
            pending, end = "", match.end()
        pending += segment[end:]
    return tokens


def _join_tokens(tokens: Sequence[tuple[str, str]]) -> str:
    """Reassemble tokens; the first token's separator is dropped."""
    return tokens[0][1] + "".join(separator + token for separator, token in tokens[1:]) if tokens else ""


def _bounded_tokens(tokens: Iterable[tuple[str, str]], chunk_size: int) -> Iterator[tuple[str, str]]:
    """Tokens no longer than ``chunk_size``: a single word that exceeds a whole chunk is cut into pieces."""
    for separator, token in tokens:
        for start in range(0, len(token), chunk_size):
            yield (separator if start == 0 else ""), token[start : start + chunk_size]


def _slice_sentence(sentence: str, separator: str, limit: int, chunk_size: int) -> Iterator[_Unit]:
    """Cut an over-long sentence into units of at most ``limit`` characters on token boundaries.

    A single word between ``limit`` and ``chunk_size`` characters becomes a unit of its own rather than being cut.
    """
    piece: list[tuple[str, str]] = []
    length = 0
    for token_separator, token in _bounded_tokens(_tokens(sentence), chunk_size):
        if piece and length + len(token_separator) + len(token) > limit:
            yield _Unit(_join_tokens(piece), separator)
            # The next slice is joined to this one by the whitespace (or none, inside CJK) the cut fell on.
            separator, piece, length = token_separator, [], 0
        length += (len(token_separator) if piece else 0) + len(token)
        piece.append((token_separator, token))
    if piece:
        yield _Unit(_join_tokens(piece), separator)


# --------------------------------------------------------------------------------------------------------------------
# Packing and overlap
# --------------------------------------------------------------------------------------------------------------------


class _Packer:
    """Greedily fills chunks with units; every chunk after the first opens with the overlap tail of the one before.

    Whole blocks are preferred: a block that fits in a chunk on its own but not in the space left is moved to a fresh
    chunk instead of being split, so short paragraphs and records stay in one piece. Such a chunk starts on a clean
    paragraph boundary, so its overlap is whole sentences only; a stray word tail of the previous paragraph (or JSON
    record) would only mislead.
    """

    def __init__(self, chunk_size: int, overlap: int) -> None:
        self._chunk_size = chunk_size
        self._overlap = overlap
        self._texts: list[str] = []
        self._current: list[_Unit] = []
        self._length = 0

    def add_block(self, units: Sequence[_Unit]) -> None:
        """Add one block's units, starting a new chunk first if that keeps the block whole."""
        separator = units[0].separator
        block_length = _joined_length(units)
        if (
            self._current
            and block_length <= self._chunk_size
            and self._length + len(separator) + block_length > self._chunk_size
        ):
            self._break(len(separator) + block_length, partial_overlap=False)
        for unit in units:
            self._add(unit)

    def finish(self) -> list[str]:
        """The chunk texts, including the one still being filled."""
        if self._current:
            self._texts.append(_join_units(self._current))
            self._current, self._length = [], 0
        return self._texts

    def _add(self, unit: _Unit) -> None:
        if self._current and self._length + len(unit.separator) + len(unit.text) > self._chunk_size:
            self._break(len(unit.separator) + len(unit.text), partial_overlap=True)
        self._length += (len(unit.separator) if self._current else 0) + len(unit.text)
        self._current.append(unit)

    def _break(self, incoming: int, *, partial_overlap: bool) -> None:
        """Close the current chunk; the next starts with as much overlap as fits beside ``incoming`` characters."""
        self._texts.append(_join_units(self._current))
        budget = min(self._overlap, self._chunk_size - incoming)
        self._current = _overlap_tail(self._current, budget, partial=partial_overlap)
        self._length = _joined_length(self._current)


def _join_units(units: Sequence[_Unit]) -> str:
    """The text of a chunk: units joined by their separators (the first unit's separator is dropped)."""
    return units[0].text + "".join(unit.separator + unit.text for unit in units[1:])


def _joined_length(units: Sequence[_Unit]) -> int:
    """``len(_join_units(units))`` without building the string."""
    if not units:
        return 0
    return sum(len(unit.text) for unit in units) + sum(len(unit.separator) for unit in units[1:])


def _overlap_tail(units: Sequence[_Unit], budget: int, *, partial: bool = True) -> list[_Unit]:
    """The trailing whole units of a chunk totalling at most ``budget`` characters.

    If even the last unit is longer than the budget and ``partial`` is set, its trailing words (or CJK characters)
    that fit are used instead.
    """
    if budget <= 0:
        return []
    tail: list[_Unit] = []
    length = 0
    for unit in reversed(units):
        added = len(unit.text) + (len(tail[0].separator) if tail else 0)
        if length + added > budget:
            break
        tail.insert(0, unit)
        length += added
    if tail or not partial:
        return tail
    partial_text = _trailing_tokens(units[-1].text, budget)
    return [_Unit(partial_text, units[-1].separator)] if partial_text else []


def _trailing_tokens(text: str, budget: int) -> str:
    """The longest run of whole tokens at the end of ``text`` that fits in ``budget`` characters."""
    tokens = _tokens(text)
    kept: list[tuple[str, str]] = []
    length = 0
    for token in reversed(tokens):
        added = len(token[1]) + (len(kept[0][0]) if kept else 0)
        if length + added > budget:
            break
        kept.insert(0, token)
        length += added
    return _join_tokens(kept)
