"""Places and labels in the query: the vocabulary's match keys (whole values, address parts, suffix-less forms,
plurals) built once per vocabulary, their occurrences in the query, and the non-overlapping selection."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from chalicelib.core.query_conditions import Vocabulary
from chalicelib.core.query_parse.normalise import _fold, _normalise
from chalicelib.core.query_parse.remainder import _CJK_ANY_TOKENS
from chalicelib.core.query_parse.time_builders import _E
from chalicelib.core.text import CJK_RUN, is_cjk


@dataclass(frozen=True, slots=True)
class _Term:
    place: bool  # else a label
    value: str  # the condition value: a substring of a vocabulary value, as the vocabulary spells it
    whole: bool  # a whole vocabulary value (not a component, suffix-less form or plural)


@dataclass(frozen=True, slots=True)
class _Occurrence:
    start: int
    end: int
    term: _Term


@dataclass(frozen=True, slots=True)
class _Matcher:
    terms: dict[str, _Term]  # folded key → the best term with that key
    lengths: tuple[int, ...]  # distinct key lengths, longest first


_CJK_ADMIN: Final = r"(?:特别行政区|自治区|自治州|自治县|新区|街道|省|市|区|县|镇|乡)"
_CJK_ADMIN_SPLIT: Final = re.compile(_CJK_ADMIN)
_CJK_ADMIN_END: Final = re.compile(rf"{_CJK_ADMIN}$")
_LATIN_ADMIN_END: Final = re.compile(r"\s+(?:city|province|district|county|township)$", re.IGNORECASE)
_QUERY_ADMIN_SUFFIX: Final = re.compile(
    rf"{_CJK_ADMIN}|\s+(?:city|province|district|county|township){_E}", re.IGNORECASE
)
_PART_SPLIT: Final = re.compile(r"[,;，；、]")


def _key(text: str) -> str:
    return _fold(_normalise(text))


def _place_parts(value: str) -> Iterable[str]:
    """Comma-separated parts and Chinese administrative components of an address, each with and without suffix."""
    for part in _PART_SPLIT.split(value):
        part = part.strip()
        if not part:
            continue
        pieces = [part]
        if CJK_RUN.search(part):
            position = 0
            for match in _CJK_ADMIN_SPLIT.finditer(part):
                pieces.append(part[position : match.end()])
                position = match.end()
            if 0 < position < len(part):
                pieces.append(part[position:])
        for piece in pieces:
            piece = piece.strip()
            yield piece
            suffix = _CJK_ADMIN_END.search(piece) or _LATIN_ADMIN_END.search(piece)
            if suffix is not None:
                yield piece[: suffix.start()].strip()


def _plurals(value: str) -> list[str]:
    """Regular English plurals of a label ending in a Latin letter (``Beach`` → ``Beaches``)."""
    if not re.search(r"[A-Za-z]{2}$", value):
        return []
    if re.search(r"(?:s|x|z|ch|sh)$", value, re.IGNORECASE):
        return [value + "es"]
    if re.search(r"[^aeiouAEIOU]y$", value):
        return [value[:-1] + "ies"]
    return [value + "s"]


def _better(candidate: _Term, current: _Term | None) -> bool:
    if current is None:
        return True
    return (candidate.whole, candidate.place) > (current.whole, current.place)


@lru_cache(maxsize=16)
def _matcher(vocabulary: Vocabulary) -> _Matcher:
    """Keys of every place and label form, built once per vocabulary (vocabularies are hashable and immutable)."""
    terms: dict[str, _Term] = {}

    def add(form: str, term: _Term) -> None:
        key = _key(form)
        minimum = 1 if term.whole else 2
        if len(key) >= minimum and _better(term, terms.get(key)):
            terms[key] = term

    for value in sorted(vocabulary.places):
        if not value.strip():
            continue
        add(value, _Term(True, value.strip(), True))
        for part in _place_parts(value):
            add(part, _Term(True, part, False))
    for value in sorted(vocabulary.labels):
        if not value.strip():
            continue
        add(value, _Term(False, value.strip(), True))
        for plural in _plurals(value.strip()):
            add(plural, _Term(False, value.strip(), False))
    return _Matcher(terms, tuple(sorted({len(key) for key in terms}, reverse=True)))


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _occurrences(folded: str, matcher: _Matcher) -> list[_Occurrence]:
    """Every place where a vocabulary key occurs in the folded query (Latin keys on word boundaries)."""
    found: list[_Occurrence] = []
    size = len(folded)
    lengths = [length for length in matcher.lengths if length <= size]
    for start in range(size):
        if folded[start].isspace():
            continue
        for length in lengths:
            end = start + length
            if end > size:
                continue
            term = matcher.terms.get(folded[start:end])
            if term is None:
                continue
            if _is_latin(folded[start]) and start > 0 and _is_latin(folded[start - 1]):
                continue
            if _is_latin(folded[end - 1]) and end < size and _is_latin(folded[end]):
                continue
            found.append(_Occurrence(start, end, term))
    return found


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in spans)


def _stands_apart(query: str, start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    """A one-character CJK term is a word of its own: each side is taken, non-CJK, the edge or a function word."""
    left_ok = (
        start == 0
        or not is_cjk(query[start - 1])
        or _overlaps(start - 1, start, taken)
        or query[:start].endswith(_CJK_ANY_TOKENS)
    )
    right_ok = (
        end == len(query)
        or not is_cjk(query[end])
        or _overlaps(end, end + 1, taken)
        or query[end:].startswith(_CJK_ANY_TOKENS)
    )
    return left_ok and right_ok


def _select_terms(query: str, occurrences: list[_Occurrence], taken: list[tuple[int, int]]) -> list[_Occurrence]:
    """Longest first (whole values, then places, before others of the same length), never overlapping."""
    ranked = sorted(occurrences, key=lambda o: (-(o.end - o.start), not o.term.whole, not o.term.place, o.start))
    chosen: list[_Occurrence] = []
    for occurrence in ranked:
        if _overlaps(occurrence.start, occurrence.end, taken):
            continue
        single_cjk = occurrence.end - occurrence.start == 1 and is_cjk(query[occurrence.start])
        if single_cjk and not _stands_apart(query, occurrence.start, occurrence.end, taken):
            continue
        end = occurrence.end
        if occurrence.term.place:  # "杭州市" against a dataset holding "杭州": the suffix goes with the place
            suffix = _QUERY_ADMIN_SUFFIX.match(query, end)
            if suffix is not None and not _overlaps(end, suffix.end(), taken):
                end = suffix.end()
        chosen.append(_Occurrence(occurrence.start, end, occurrence.term))
        taken.append((occurrence.start, end))
    return sorted(chosen, key=lambda o: o.start)
