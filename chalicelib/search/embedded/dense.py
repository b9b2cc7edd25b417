"""Exact kNN over one collection: an in-memory float32 matrix of unit vectors, scored with one matrix-vector product.

The product runs on one BLAS thread (``serve_on_one_blas_thread``): a request's matrix-vector product is memory-bound
and short, and OpenBLAS's second thread only waits for the core that another request (or process) holds. Measured on
this machine with the other core busy: 8,000 × 512 took 7.8 ms on two threads and 0.29 ms on one; 100,000 × 384 16.8
and 13.5 ms (README, Benchmarks).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from chalicelib.search.embedded.ivf import IVF_MIN_ROWS, InvertedLists


@dataclass(frozen=True, slots=True)
class DenseMatrix:
    """Row ``i`` is the chunk with integer key ``keys[i]``; rows are L2-normalised so a dot product is the cosine.

    From ``IVF_MIN_ROWS`` rows on, the vectors are held in an inverted-file index's list order (``ivf``) and searched
    approximately (chalicelib/search/embedded/ivf.py); ``keys`` and masks stay in row order.
    """

    keys: np.ndarray  # int64, shape (n,)
    vectors: np.ndarray  # float32, shape (n, dimension): in row order, or in ``ivf.order`` when there is an index
    ivf: InvertedLists | None = None

    @classmethod
    def build(cls, keys: Sequence[int], vectors: Sequence[np.ndarray], dimension: int) -> DenseMatrix:
        if not keys:
            return cls(np.zeros(0, dtype=np.int64), np.zeros((0, dimension), dtype=np.float32))
        return cls.from_matrix(np.asarray(keys, dtype=np.int64), np.vstack(vectors).astype(np.float32, copy=False))

    @classmethod
    def from_matrix(cls, keys: np.ndarray, matrix: np.ndarray) -> DenseMatrix:
        """Over ``matrix`` itself (float32, one row per key), normalised in place; indexed from IVF_MIN_ROWS rows."""
        matrix = normalise_rows(matrix)
        if len(keys) < IVF_MIN_ROWS:
            return cls(keys, matrix)
        lists = InvertedLists.build(matrix)
        return cls(keys, lists.vectors, lists)

    def search(self, query: Sequence[float], k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-``k`` ``(key, cosine)`` pairs, best first, among the rows where ``mask`` is true."""
        if k <= 0 or len(self.keys) == 0:
            return []
        vector = np.asarray(query, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return []
        vector = vector / norm
        found = self.ivf.search(vector, k, mask) if self.ivf is not None else None
        rows, scores = found if found is not None else self._exact(vector, k, mask)
        return list(zip(self.keys[rows].tolist(), scores.tolist(), strict=True))

    def _exact(self, vector: np.ndarray, k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        scores = self.vectors @ vector
        rows = self.ivf.order if self.ivf is not None else None
        if mask is not None:
            scores = np.where(mask if rows is None else mask[rows], scores, -np.inf)
        candidates = int(np.count_nonzero(mask)) if mask is not None else len(scores)
        k = min(k, candidates)
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return (top if rows is None else rows[top]), scores[top]


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    if matrix.flags.writeable and matrix.flags.owndata:
        matrix /= norms  # in place: at a million rows a second copy is 1.5 GB
        return matrix
    return matrix / norms


@functools.cache
def serve_on_one_blas_thread() -> None:
    """Limit this process's BLAS to one thread, once (the limit holds until the process ends). Code that wants more
    for a call of its own sets its own limit around it, as the USE embedder does."""
    ThreadpoolController().limit(limits=1, user_api="blas")
