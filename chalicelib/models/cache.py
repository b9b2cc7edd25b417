"""An on-disk embedding cache keyed by model name and text, so re-indexing unchanged text costs nothing.

Benchmarks use it so a rerun takes seconds instead of minutes; the ``local`` stage uses it so re-seeding the demo
knowledge base does not re-embed. Vectors are stored as float32 blobs in SQLite.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from chalicelib.core.ports.models import Embedder


class CachingEmbedder:
    """Wraps an ``Embedder``; only texts not seen before with the same model reach it."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._inner = inner
        self._connection = sqlite3.connect(path, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def _key(self, kind: str, text: str) -> bytes:
        # Queries and documents are cached apart: some models embed them differently (e.g. Cohere input types).
        return hashlib.sha256(f"{self._inner.name}\x00{kind}\x00{text}".encode()).digest()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed("document", texts, self._inner.embed_documents)

    def embed_query(self, text: str) -> list[float]:
        return self._embed("query", [text], lambda texts: [self._inner.embed_query(texts[0])])[0]

    def _embed(
        self, kind: str, texts: Sequence[str], compute: Callable[[Sequence[str]], list[list[float]]]
    ) -> list[list[float]]:
        keys = [self._key(kind, text) for text in texts]
        found: dict[bytes, list[float]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                rows = self._connection.execute(
                    f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(batch))})", batch
                ).fetchall()
                found.update((key, np.frombuffer(blob, dtype=np.float32).tolist()) for key, blob in rows)
        missing = [index for index, key in enumerate(keys) if key not in found]
        if missing:
            vectors = compute([texts[index] for index in missing])
            with self._lock, self._connection:
                self._connection.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?)",
                    [(keys[index], np.asarray(vector, dtype=np.float32).tobytes())
                     for index, vector in zip(missing, vectors)],
                )
            found.update((keys[index], vector) for index, vector in zip(missing, vectors))
        return [found[key] for key in keys]
