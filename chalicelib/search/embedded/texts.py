"""Chunk texts by key, read from SQLite once and kept in memory up to a budget, until the collection changes.

A recall returns up to DenseSimilarityTopK + SparseSimilarityTopK chunks, and reading their texts row by row was the
largest cost of a Retrieve beyond the two searches themselves (1.9 ms of 5.3 on SciFact). Everything else a hit needs —
its ids, position and metadata — is already in the dense snapshot; the texts are what a snapshot does not hold, because
at a million chunks they would be a gigabyte. So they are cached here, least recently used first out, and a collection's
entries are dropped whenever its generation moves (a write anywhere in it: SQLite may reuse a deleted row's key).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Characters kept per backend, across collections: SciFact's 8,700 chunks are 9 M; at the budget a cold miss costs one
# indexed SQLite read per chunk, which is what every read cost before the cache.
DEFAULT_BUDGET_CHARS = 64 * 1024 * 1024


@dataclass(slots=True)
class _CollectionTexts:
    generation: int
    texts: OrderedDict[int, str] = field(default_factory=OrderedDict)


class ChunkTexts:
    def __init__(self, read: Callable[[Sequence[int]], dict[int, str]], budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        self._read = read
        self._budget = budget_chars
        self._held = 0
        self._collections: dict[str, _CollectionTexts] = {}
        self._lock = threading.Lock()

    def get(self, collection: str, generation: int, keys: Sequence[int]) -> dict[int, str]:
        """The texts of ``keys`` that exist, as of ``generation`` (the one the caller's snapshot reflects)."""
        with self._lock:
            cached = self._collection(collection, generation)
            found = {}
            missing = []
            for key in keys:
                text = cached.texts.get(key)
                if text is None:
                    missing.append(key)
                else:
                    cached.texts.move_to_end(key)
                    found[key] = text
        if not missing:
            return found
        read = self._read(missing)
        with self._lock:
            cached = self._collection(collection, generation)
            for key, text in read.items():
                if key not in cached.texts:
                    cached.texts[key] = text
                    self._held += len(text)
            self._evict()
        found.update(read)
        return found

    def _collection(self, collection: str, generation: int) -> _CollectionTexts:
        cached = self._collections.get(collection)
        if cached is None or cached.generation != generation:
            if cached is not None:
                self._held -= sum(len(text) for text in cached.texts.values())
            cached = self._collections[collection] = _CollectionTexts(generation)
        return cached

    def _evict(self) -> None:
        while self._held > self._budget:
            largest = max(self._collections.values(), key=lambda entry: len(entry.texts))
            if not largest.texts:
                return
            _, text = largest.texts.popitem(last=False)
            self._held -= len(text)
