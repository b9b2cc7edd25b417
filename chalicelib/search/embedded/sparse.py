"""BM25 over one collection with tantivy, on disk, derived from SQLite.

Each tantivy document holds the chunk's integer key (indexed and fast, so a filter becomes a term-set query on it)
and its pre-analysed terms. A ``generation`` file beside the index records which SQLite generation it reflects.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import tantivy

from chalicelib.search.embedded.analyzer import analyze

_KEY = "key"
_DOC = "doc_id"
_TERMS = "terms"
_GENERATION_FILE = "sift-generation"
# tantivy's writer splits this between its indexing threads; 64 MB keeps bulk loads to a few segments.
_WRITER_HEAP_BYTES = 64 * 1024 * 1024


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field(_KEY, stored=True, indexed=True, fast=True)
    builder.add_text_field(_DOC, stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field(_TERMS, stored=False, tokenizer_name="whitespace", index_option="freq")
    return builder.build()


class SparseIndex:
    """One collection's tantivy index. Not thread-safe by itself: the backend serialises writes per collection."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._schema = _schema()
        self._index = tantivy.Index(self._schema, path=str(directory))
        # The generation this instance's searcher reflects. Another process (or instance) may move the on-disk
        # index and its marker; a searcher from before that must be reloaded, not trusted.
        self._loaded = self.generation

    @property
    def generation(self) -> int:
        marker = self._directory / _GENERATION_FILE
        try:
            return int(marker.read_text())
        except (FileNotFoundError, ValueError):
            return -1

    def _mark(self, generation: int) -> None:
        marker = self._directory / _GENERATION_FILE
        temporary = marker.with_suffix(".tmp")
        temporary.write_text(str(generation))
        temporary.replace(marker)

    def rebuild(self, rows: Iterable[tuple[int, str, str]], generation: int) -> None:
        """Replace the whole index with ``(key, doc_id, search_text)`` rows (re-creating a deleted directory)."""
        if not self._directory.is_dir():
            self._directory.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema, path=str(self._directory))
        self._commit(rows, generation, delete_all=True)

    def apply(
        self, deleted_doc_ids: Sequence[str], added: Iterable[tuple[int, str, str]], generation: int
    ) -> None:
        """Incrementally delete every chunk of ``deleted_doc_ids`` and add ``added`` rows, in one commit."""
        self._commit(added, generation, deleted_doc_ids=deleted_doc_ids)

    def _commit(
        self,
        rows: Iterable[tuple[int, str, str]],
        generation: int,
        *,
        delete_all: bool = False,
        deleted_doc_ids: Sequence[str] = (),
    ) -> None:
        writer = self._index.writer(_WRITER_HEAP_BYTES)
        if delete_all:
            writer.delete_all_documents()
        for doc_id in deleted_doc_ids:
            writer.delete_documents_by_term(_DOC, doc_id)
        for key, doc_id, text in rows:
            writer.add_document(self._document(key, doc_id, text))
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._mark(generation)
        self._loaded = generation

    def reflects(self, generation: int) -> bool:
        """Whether this instance's searcher already reflects ``generation``: the common case, answered with one stat
        and no read (the marker's existence: a deleted index directory must be rebuilt, not searched from memory)."""
        return self._loaded == generation and (self._directory / _GENERATION_FILE).exists()

    def reload_if_moved(self) -> None:
        """Reload the searcher when the on-disk index moved past what it reflects (another process rebuilt it)."""
        marker = self.generation
        if marker != self._loaded:
            self._index.reload()
            self._loaded = marker

    def search(self, text: str, k: int, allowed_keys: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Top-``k`` ``(key, bm25)`` pairs, best first; ``allowed_keys`` restricts the candidates (a filter). Callers
        bring the searcher up to date first (``reflects``, ``reload_if_moved``)."""
        terms = analyze(text)
        if k <= 0 or not terms or (allowed_keys is not None and len(allowed_keys) == 0):
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, _TERMS, term)) for term in terms]
        )
        if allowed_keys is not None:
            # Scored 0 so the filter restricts the candidates without adding to their BM25 scores.
            restriction = tantivy.Query.const_score_query(
                tantivy.Query.term_set_query(self._schema, _KEY, list(allowed_keys)), 0.0
            )
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, restriction)])
        searcher = self._index.searcher()
        hits = searcher.search(query, k).hits
        return [(searcher.doc(address)[_KEY][0], float(score)) for score, address in hits]

    def destroy(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)

    def _document(self, key: int, doc_id: str, text: str) -> tantivy.Document:
        document = tantivy.Document()
        document.add_unsigned(_KEY, key)
        document.add_text(_DOC, doc_id)
        document.add_text(_TERMS, " ".join(analyze(text)))
        return document
