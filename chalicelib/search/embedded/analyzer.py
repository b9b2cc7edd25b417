"""Text analysis for the embedded sparse index: English stemming plus CJK bigrams.

This mirrors the OpenSearch mapping (an English stemmed field next to the built-in ``cjk`` bigram analysis), so both
backends see the same terms. Latin text goes through tantivy's own analyzer (simple tokenizer, lower-casing, a length
cap, the Snowball English stemmer); CJK runs become overlapping bigrams. The result is fed to tantivy pre-analysed, with
its ``whitespace`` tokenizer, so indexing and querying cannot drift apart.
"""

from __future__ import annotations

import functools

import tantivy

from chalicelib.core.text import cjk_bigrams, split_scripts

# Tokens of this many UTF-8 bytes or more (tantivy's remove_long counts bytes) are almost always base64, hashes or
# URLs; indexing them only bloats the dictionary. 40 bytes is 40 ASCII letters but only about 20 Cyrillic or accented.
_MAX_TOKEN_LENGTH = 40


@functools.lru_cache(maxsize=1)
def _latin_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(_MAX_TOKEN_LENGTH))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def analyze(text: str) -> list[str]:
    """The index terms of ``text``, in order (duplicates kept: term frequency matters to BM25)."""
    analyzer = _latin_analyzer()
    terms: list[str] = []
    for cjk, segment in split_scripts(text):
        if cjk:
            terms.extend(cjk_bigrams(segment))
        elif segment.strip():
            terms.extend(analyzer.analyze(segment))
    return terms
