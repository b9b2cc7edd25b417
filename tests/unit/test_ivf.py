"""The dense leg's inverted-file index above IVF_MIN_ROWS rows: its top-100 against exact search on clustered data,
filters inside the probed lists, and the exact fallback when they cannot fill k."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.search.embedded.dense import DenseMatrix
from chalicelib.search.embedded.ivf import IVF_MIN_ROWS, probes_for

DIMENSION = 48


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """Rows around 400 topics (as embeddings of a corpus cluster), and queries near random rows."""
    rng = np.random.default_rng(7)
    topics = rng.standard_normal((400, DIMENSION)).astype(np.float32)
    count = IVF_MIN_ROWS + 10_000
    rows = topics[rng.integers(0, len(topics), count)] + 0.35 * rng.standard_normal((count, DIMENSION))
    queries = rows[rng.integers(0, count, 100)] + 0.35 * rng.standard_normal((100, DIMENSION))
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True), queries.astype(np.float32)


def build(rows: np.ndarray) -> DenseMatrix:
    return DenseMatrix.build(list(range(10, 10 + len(rows))), list(rows), DIMENSION)


@pytest.fixture(scope="module")
def indexed(clustered: tuple[np.ndarray, np.ndarray]) -> DenseMatrix:
    return build(clustered[0])


def exact(rows: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[int]:
    scores = rows @ (query / np.linalg.norm(query))  # the rows are unit already
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, k)[:k]
    return [10 + int(i) for i in top[np.argsort(-scores[top], kind="stable")]]


def test_below_the_threshold_the_search_is_exact(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    rows, queries = clustered
    small = build(rows[: IVF_MIN_ROWS - 1])
    assert small.ivf is None
    assert [key for key, _ in small.search(queries[0], 100)] == exact(rows[: IVF_MIN_ROWS - 1], queries[0], 100)


def test_top_100_recall_against_exact_search(clustered: tuple[np.ndarray, np.ndarray], indexed: DenseMatrix) -> None:
    rows, queries = clustered
    matrix = indexed
    assert matrix.ivf is not None and matrix.ivf.nprobe == probes_for(len(matrix.ivf.centroids))
    recalls = []
    for query in queries:
        found = matrix.search(query, 100)
        scores = [score for _, score in found]
        assert len(found) == 100 and scores == sorted(scores, reverse=True)
        recalls.append(len({key for key, _ in found} & set(exact(rows, query, 100))) / 100)
    assert float(np.mean(recalls)) >= 0.95, np.mean(recalls)


def test_a_filter_applies_inside_the_lists_and_a_selective_one_falls_back_to_exact(
    clustered: tuple[np.ndarray, np.ndarray], indexed: DenseMatrix,
) -> None:
    rows, queries = clustered
    matrix = indexed
    half = np.arange(len(rows)) % 2 == 0
    found = matrix.search(queries[1], 50, half)
    assert len(found) == 50 and all((key - 10) % 2 == 0 for key, _ in found)
    rare = np.zeros(len(rows), dtype=bool)
    rare[[5, 150_000, len(rows) - 1]] = True  # three rows, in lists the query most likely does not probe
    assert sorted(key for key, _ in matrix.search(queries[1], 10, rare)) == [15, 150_010, len(rows) + 9]
    assert matrix.search(queries[1], 10, np.zeros(len(rows), dtype=bool)) == []
