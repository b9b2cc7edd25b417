"""The embedded backend: SQLite is the store of record; tantivy and a numpy matrix are derived search indexes.

Writes go to SQLite first (a transaction per document), then to the derived indexes, under one writer lock per
collection that every process on the directory shares (``locks.py``). Before a search, each derived
index is compared with the collection's SQLite generation and rebuilt when it is missing or behind — after a crash
between the two writes, after another process wrote, or on a fresh machine that only has the SQLite file.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from chalicelib.core.filters import Group, matches
from chalicelib.core.ports.search import (
    ChunkRecord,
    DocumentRecord,
    RecallQuery,
    RecallResult,
    ScoredChunk,
    StoredChunk,
)
from chalicelib.search.embedded.chunk_cache import ChunkCache
from chalicelib.search.embedded.dense import DenseMatrix, serve_on_one_blas_thread
from chalicelib.search.embedded.locks import CollectionLock
from chalicelib.search.embedded.sparse import SparseIndex
from chalicelib.search.embedded.store import SqliteStore


@dataclass(slots=True)
class _DenseSnapshot:
    generation: int
    matrix: DenseMatrix  # rows in ascending key order
    metadata: list[dict[str, Any]]
    identities: list[tuple[str, str, int]]  # per row: chunk id, document id, position
    image_matrix: DenseMatrix  # the image index: only the chunks with an image vector
    image_rows: np.ndarray  # for each image-matrix row, its row in ``matrix`` / ``metadata`` (to apply filter masks)
    # The masks of the filters searched most recently, by their canonical form: evaluating a filter is a Python call
    # per chunk (0.74 s at a million), and an application tends to send the same few filters again and again.
    masks: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)
    masks_lock: threading.Lock = field(default_factory=threading.Lock)

    def mask(self, filters: Group | None) -> np.ndarray | None:
        """Which rows ``filters`` keeps (None: all), computed once per snapshot for each recent filter."""
        if filters is None:
            return None
        # repr, not the dataclasses' equality: that holds Equals(f, 1) == Equals(f, True), which filter differently.
        canonical = repr(filters)
        with self.masks_lock:
            found = self.masks.get(canonical)
            if found is None:
                found = np.fromiter(
                    (matches(filters, item) for item in self.metadata), dtype=bool, count=len(self.metadata)
                )
                found.flags.writeable = False  # shared by every request that sends this filter
                self.masks[canonical] = found
                while len(self.masks) > _CACHED_MASKS:
                    self.masks.popitem(last=False)
            self.masks.move_to_end(canonical)
            return found


# Filter masks kept per collection snapshot: a bit each per chunk, 1 MB a mask at a million chunks.
_CACHED_MASKS = 32


class EmbeddedBackend:
    """``SearchBackend`` on one directory: ``sift.db`` plus ``tantivy/<collection>/``."""

    def __init__(self, directory: Path) -> None:
        serve_on_one_blas_thread()
        self._directory = directory
        self._store = SqliteStore(directory / "sift.db")
        self._chunks = ChunkCache()
        self._sparse: dict[str, SparseIndex] = {}
        self._dense: dict[str, _DenseSnapshot] = {}
        self._locks: dict[str, CollectionLock] = {}
        self._guard = threading.Lock()

    # collections -------------------------------------------------------------------------------------------------

    def create_collection(self, collection: str, dimension: int, image_dimension: int = 0) -> None:
        existing = self._store.dimension(collection)
        if existing is not None and existing != dimension:
            raise ValueError(f"collection {collection!r} exists with dimension {existing}, not {dimension}")
        existing_image = self._store.image_dimension(collection)
        if existing is not None and existing_image != image_dimension:
            raise ValueError(
                f"collection {collection!r} exists with image dimension {existing_image}, not {image_dimension}"
            )
        self._store.create_collection(collection, dimension, image_dimension)

    def delete_collection(self, collection: str) -> None:
        with self._lock(collection).held():
            self._store.delete_collection(collection)
            self._dense.pop(collection, None)
            self._sparse_index(collection).destroy()
            self._sparse.pop(collection, None)

    # documents ---------------------------------------------------------------------------------------------------

    def upsert_documents(
        self, collection: str, documents: Sequence[tuple[DocumentRecord, Sequence[ChunkRecord]]]
    ) -> None:
        if not documents:
            return
        with self._lock(collection).held():
            sparse = self._sparse_index(collection)
            in_sync = sparse.generation == self._store.generation(collection)
            for document, chunks in documents:
                self._store.upsert_document(collection, document, chunks)
            if in_sync:
                doc_ids = [document.doc_id for document, _ in documents]
                generation, rows = self._store.text_rows(collection, doc_ids)
                sparse.apply(doc_ids, rows, generation)
            # Otherwise the next search rebuilds the sparse index from SQLite as a whole.

    def delete_document(self, collection: str, doc_id: str) -> bool:
        with self._lock(collection).held():
            sparse = self._sparse_index(collection)
            in_sync = sparse.generation == self._store.generation(collection)
            removed = self._store.delete_document(collection, doc_id)
            if removed and in_sync:
                sparse.apply([doc_id], [], self._store.generation(collection))
        return removed

    def get_document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        return self._store.get_document(collection, doc_id)

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        return self._store.get_documents(collection, doc_ids)

    def list_documents(self, collection: str, *, offset: int, limit: int) -> tuple[list[DocumentRecord], int]:
        return self._store.list_documents(collection, offset, limit)

    def count_chunks(self, collection: str) -> int:
        return self._store.count_chunks(collection)

    def document_vector(self, collection: str, doc_id: str) -> list[float] | None:
        return self._store.first_vector(collection, doc_id)

    # search ------------------------------------------------------------------------------------------------------

    def recall(self, collection: str, query: RecallQuery) -> RecallResult:
        dense_snapshot = self._dense_snapshot(collection)
        mask = dense_snapshot.mask(query.filters)
        dense_hits: list[tuple[int, float]] = []
        if query.dense_top_k > 0 and query.vector is not None:
            dense_hits = dense_snapshot.matrix.search(query.vector, query.dense_top_k, mask)
        sparse_hits: list[tuple[int, float]] = []
        if query.sparse_top_k > 0:
            allowed = None if mask is None else dense_snapshot.matrix.keys[mask].tolist()
            sparse_hits = self._synced_sparse(collection).search(query.text, query.sparse_top_k, allowed)
        image_hits = _image_search(dense_snapshot, query, mask)
        keys = {key for key, _ in dense_hits} | {key for key, _ in sparse_hits} | {key for key, _ in image_hits}
        chunks = self._stored_chunks(collection, dense_snapshot, list(keys))
        return RecallResult(
            dense=[ScoredChunk(chunks[key], score) for key, score in dense_hits if key in chunks],
            sparse=[ScoredChunk(chunks[key], score) for key, score in sparse_hits if key in chunks],
            image=[ScoredChunk(chunks[key], score) for key, score in image_hits if key in chunks],
        )

    def _stored_chunks(self, collection: str, snapshot: _DenseSnapshot, keys: list[int]) -> dict[int, StoredChunk]:
        """The hits as chunks, from the chunk cache or built: ids, position and metadata from the snapshot, the text
        from SQLite. A key the snapshot or SQLite no longer has (written away by another process since) is left out,
        as is its hit."""

        def build(missing: Sequence[int]) -> dict[int, StoredChunk]:
            texts = self._store.texts_by_key(missing)
            row_keys = snapshot.matrix.keys
            rows = np.searchsorted(row_keys, missing)
            built: dict[int, StoredChunk] = {}
            for key, row in zip(missing, rows.tolist(), strict=True):
                text = texts.get(key)
                if text is None or row >= len(row_keys) or row_keys[row] != key:
                    continue
                chunk_id, doc_id, position = snapshot.identities[row]
                # Read-only: the snapshot's metadata is shared by every request until the collection changes.
                built[key] = StoredChunk(chunk_id, doc_id, position, text, MappingProxyType(snapshot.metadata[row]))
            return built

        return self._chunks.get(collection, snapshot.generation, keys, build) if keys else {}

    # derived indexes ---------------------------------------------------------------------------------------------

    def _dense_snapshot(self, collection: str) -> _DenseSnapshot:
        generation = self._store.generation(collection)
        snapshot = self._dense.get(collection)
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._lock(collection).held_in_process():
            columns = self._store.chunk_columns(
                collection, self._store.dimension(collection) or 0, self._store.image_dimension(collection)
            )
            snapshot = _DenseSnapshot(
                columns.generation,
                DenseMatrix.from_matrix(columns.keys, columns.vectors),
                columns.metadata,
                columns.identities,
                DenseMatrix.from_matrix(columns.keys[columns.image_rows], columns.image_vectors),
                columns.image_rows,
            )
            self._dense[collection] = snapshot
        return snapshot

    def _synced_sparse(self, collection: str) -> SparseIndex:
        sparse = self._sparse_index(collection)
        current = self._store.generation(collection)
        if sparse.reflects(current):  # SQLite's generation only grows, and the marker follows it: nothing to read
            return sparse
        if sparse.generation != current:
            with self._lock(collection).held():
                generation, rows = self._store.text_rows(collection)
                if sparse.generation != generation:
                    sparse.rebuild(rows, generation)
        sparse.reload_if_moved()
        return sparse

    def _sparse_index(self, collection: str) -> SparseIndex:
        with self._guard:
            index = self._sparse.get(collection)
            if index is None:
                index = SparseIndex(self._tantivy_path(collection))
                self._sparse[collection] = index
            return index

    def _lock(self, collection: str) -> CollectionLock:
        """The collection's writer lock; its file sits beside the tantivy index, which a rebuild may delete."""
        with self._guard:
            lock = self._locks.get(collection)
            if lock is None:
                lock = CollectionLock(self._tantivy_path(collection).with_suffix(".lock"))
                self._locks[collection] = lock
            return lock

    def _tantivy_path(self, collection: str) -> Path:
        return self._directory / "tantivy" / hashlib.sha1(collection.encode()).hexdigest()[:16]


def _image_search(snapshot: _DenseSnapshot, query: RecallQuery, mask: np.ndarray | None) -> list[tuple[int, float]]:
    """Top ``image_top_k`` image chunks by their best cosine to any query image, filters applied."""
    if query.image_top_k <= 0 or not query.image_vectors or len(snapshot.image_matrix.keys) == 0:
        return []
    image_mask = None if mask is None else mask[snapshot.image_rows]
    best: dict[int, float] = {}
    for vector in query.image_vectors:
        for key, score in snapshot.image_matrix.search(vector, query.image_top_k, image_mask):
            best[key] = max(score, best.get(key, -1.0))
    ranked = sorted(best.items(), key=lambda item: -item[1])
    return ranked[: query.image_top_k]
