"""Script-aware text primitives shared by chunking and the analyzers.

Chinese and Japanese have no spaces between words, so everything here treats a run of CJK characters differently from
a run of Latin/other text: CJK runs are measured per character and indexed as overlapping bigrams (what OpenSearch's
``cjk`` analyzer does), other text by words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

# Han (incl. extension A and compatibility ideographs), Hiragana, Katakana (incl. half-width) and Hangul.
_CJK_CLASS = (
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\uac00-\ud7af"  # Hangul syllables
)
CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# English function words that carry no subject; used where a light notion of "content word" is enough.
ENGLISH_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "did", "for", "from", "has", "have", "how", "i", "in", "is", "it", "its", "it's", "me", "my", "no", "not", "of", "on", "or", "our", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "about", "tell", "more", "also", "please"]
)

# Sentence ends: Latin punctuation followed by space, or CJK full-width punctuation (no space follows those).
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n{2,}")


def is_cjk(char: str) -> bool:
    return bool(_CJK_CHAR.match(char))


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of one CJK run; a lone character stays a unigram (as the ``cjk`` analyzer does)."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def split_scripts(text: str) -> Iterator[tuple[bool, str]]:
    """Yield ``(is_cjk, segment)`` pieces of ``text`` in order; together they cover the whole string."""
    position = 0
    for match in CJK_RUN.finditer(text):
        if match.start() > position:
            yield False, text[position : match.start()]
        yield True, match.group()
        position = match.end()
    if position < len(text):
        yield False, text[position:]


def words(text: str) -> list[str]:
    """Lower-cased word tokens of non-CJK text, with every CJK character as its own token.

    This is the unit the chunker counts and the rewriter compares; it needs no stemmer.
    """
    tokens: list[str] = []
    for cjk, segment in split_scripts(text):
        if cjk:
            tokens.extend(segment)
        else:
            tokens.extend(word.lower() for word in _WORD.findall(segment))
    return tokens


def split_sentences(text: str) -> list[str]:
    """Split into sentences, keeping each sentence's trailing punctuation; blank pieces are dropped."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]


def content_terms(text: str) -> set[str]:
    """Distinct content terms: suffix-stripped English words without stop words, and CJK bigrams.

    The local reranker runs this over every candidate of every request, so each word is lower-cased and stemmed once
    per text, not once per occurrence."""
    terms: set[str] = set()
    for cjk, segment in split_scripts(text):
        if cjk:
            terms.update(cjk_bigrams(segment))
        else:
            distinct = {word.lower() for word in set(_WORD.findall(segment))}
            terms.update(map(_stem, distinct - ENGLISH_STOPWORDS))
    return terms


def content_term_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, term)`` for every occurrence of a content term in ``text`` (the terms of ``content_terms``), in
    order, as code-point offsets: what a caller highlights. CJK bigrams overlap, as they are indexed."""
    position = 0
    for cjk, segment in split_scripts(text):
        if cjk:
            if len(segment) == 1:
                yield position, position + 1, segment
            for offset in range(len(segment) - 1):
                yield position + offset, position + offset + 2, segment[offset : offset + 2]
        else:
            for match in _WORD.finditer(segment):
                word = match.group().lower()
                if word not in ENGLISH_STOPWORDS:
                    yield position + match.start(), position + match.end(), _stem(word)
        position += len(segment)


@functools.lru_cache(maxsize=1 << 16)  # a corpus repeats its words; stemming each once keeps reranking cheap
def _stem(word: str) -> str:
    """A deliberately light stemmer: strip common English inflections so "vaccines" meets "vaccine"."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word
