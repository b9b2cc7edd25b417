"""Recalled chunks by key, built once (ids and metadata from the dense snapshot, the text from SQLite) and kept in
memory up to a budget, until the collection changes.

A recall returns up to DenseSimilarityTopK + SparseSimilarityTopK chunks, and reading and decoding their rows one by
one was the largest cost of a Retrieve beyond the two searches themselves (1.9 ms of 5.3 on SciFact). A chunk's ids,
position and metadata are in the dense snapshot already; its text is not, because at a million chunks the texts would
be a gigabyte. So the chunks built are kept here, least recently used out first, within a budget of text characters,
and a collection's entries are dropped whenever its generation moves (a write anywhere in it: SQLite may reuse a
deleted row's key).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.core.ports.search import StoredChunk

# Text characters kept per backend, across collections: SciFact's 8,700 chunks are 9 M. Past the budget a miss costs
# one indexed SQLite read per chunk, which is what every hit cost before the cache.
DEFAULT_BUDGET_CHARS = 64 * 1024 * 1024

ChunkBuilder = Callable[[Sequence[int]], dict[int, StoredChunk]]


@dataclass(slots=True)
class _CollectionChunks:
    generation: int
    chunks: OrderedDict[int, StoredChunk] = field(default_factory=OrderedDict)


class ChunkCache:
    def __init__(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        self._budget = budget_chars
        self._held = 0
        self._collections: dict[str, _CollectionChunks] = {}
        self._lock = threading.Lock()

    def get(self, collection: str, generation: int, keys: Sequence[int], build: ChunkBuilder) -> dict[int, StoredChunk]:
        """The chunks of ``keys`` that exist as of ``generation`` (the one the caller's snapshot reflects); ``build``
        makes the ones not held (leaving out keys that no longer exist)."""
        with self._lock:
            cached = self._collection(collection, generation)
            found: dict[int, StoredChunk] = {}
            missing = []
            for key in keys:
                chunk = cached.chunks.get(key)
                if chunk is None:
                    missing.append(key)
                else:
                    cached.chunks.move_to_end(key)
                    found[key] = chunk
        if not missing:
            return found
        built = build(missing)
        with self._lock:
            cached = self._collection(collection, generation)
            for key, chunk in built.items():
                if key not in cached.chunks:
                    cached.chunks[key] = chunk
                    self._held += len(chunk.text)
            self._evict()
        found.update(built)
        return found

    def _collection(self, collection: str, generation: int) -> _CollectionChunks:
        cached = self._collections.get(collection)
        if cached is None or cached.generation != generation:
            if cached is not None:
                self._held -= sum(len(chunk.text) for chunk in cached.chunks.values())
            cached = self._collections[collection] = _CollectionChunks(generation)
        return cached

    def _evict(self) -> None:
        while self._held > self._budget:
            largest = max(self._collections.values(), key=lambda entry: len(entry.chunks))
            if not largest.chunks:
                return
            _, chunk = largest.chunks.popitem(last=False)
            self._held -= len(chunk.text)
