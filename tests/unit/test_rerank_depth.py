"""A reranker with a depth reorders only that many fused candidates, best first; the rest follow in fused order, so
reranking never swaps in a chunk recall ranked lower (the local rerankers: depth 20, RerankTopN's maximum)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.core.fusion import FusedCandidate, FusionConfig
from chalicelib.core.ports.models import RerankCandidate, RerankRequest
from chalicelib.core.ports.search import StoredChunk
from chalicelib.core.rerankers import RerankerRegistry
from chalicelib.core.retrieval import RerankOptions, RetrievalQuery, Retriever


class Reversing:
    """Scores its candidates in reverse of the order it receives them, and records what it was given."""

    def __init__(self, depth: int | None) -> None:
        self._depth = depth
        self.seen: list[str] = []

    @property
    def name(self) -> str:
        return "reversing"

    @property
    def depth(self) -> int | None:
        return self._depth

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        self.seen = [candidate.text for candidate in candidates]
        return [0.9 * (index + 1) / len(candidates) for index in range(len(candidates))]


def fused(count: int) -> list[FusedCandidate]:
    return [
        FusedCandidate(StoredChunk(f"c{index}", f"d{index}", 0, f"chunk {index}", {}), 1.0 - index / 10, 0.5, 0.5)
        for index in range(count)
    ]


def finish(reranker: Reversing, count: int, top_n: int) -> list[tuple[str, float]]:
    registry = RerankerRegistry({"reversing": reranker}, default="reversing")
    retriever = Retriever(None, None, registry, None, FusionConfig())  # type: ignore[arg-type]  # finish uses neither
    query = RetrievalQuery("chunk", top_n=top_n, rerank=RerankOptions(model_name="reversing"))
    chunks = retriever.finish(reranker, query, "chunk", fused(count), {})
    return [(item.chunk.chunk_id, item.score) for item in chunks]


def test_a_reranker_with_a_depth_sees_only_the_head_and_the_tail_keeps_its_fused_order() -> None:
    reranker = Reversing(depth=3)
    ranked = finish(reranker, count=6, top_n=6)
    assert reranker.seen == ["chunk 0", "chunk 1", "chunk 2"]
    assert [chunk_id for chunk_id, _ in ranked] == ["c2", "c1", "c0", "c3", "c4", "c5"]
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)  # the tail never scores above the head's lowest
    assert scores[3:] == [0.3, 0.3, 0.3]  # capped at the head's lowest (0.3), their fused 0.7, 0.6, 0.5 above it


def test_a_reranker_without_a_depth_reorders_every_candidate() -> None:
    reranker = Reversing(depth=None)
    ranked = finish(reranker, count=6, top_n=6)
    assert len(reranker.seen) == 6
    assert [chunk_id for chunk_id, _ in ranked] == ["c5", "c4", "c3", "c2", "c1", "c0"]


def test_top_n_within_the_depth_returns_the_reordered_head() -> None:
    assert [chunk_id for chunk_id, _ in finish(Reversing(depth=4), count=10, top_n=2)] == ["c3", "c2"]
