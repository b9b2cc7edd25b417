"""The retrieval pipeline shared by every operation that searches chunks.

    [rewrite from history] → embed (query text; query images when the knowledge base has an image index)
    → dense + sparse [+ image] recall (filters inside each leg) → fuse → [rerank]
    → drop scores at or below the threshold → top N

Backends only recall; everything after recall happens here, the same for every backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from chalicelib.api.errors import InternalError
from chalicelib.core.filters import Group
from chalicelib.core.fusion import FusedCandidate, FusionConfig, fuse
from chalicelib.core.images import ImageQueryEmbedder
from chalicelib.models.base import (
    ChatMessage,
    Embedder,
    QueryRewriter,
    RerankCandidate,
    Reranker,
    RerankMode,
    RerankRequest,
)
from chalicelib.models.registry import RerankerRegistry
from chalicelib.search.base import RecallQuery, SearchBackend, StoredChunk


@dataclass(frozen=True, slots=True)
class RerankOptions:
    model_name: str | None  # None: the collection's default
    mode: RerankMode = RerankMode.QA
    instruction: str = ""
    min_score: float | None = None  # results must score above this


@dataclass(frozen=True, slots=True)
class RetrievalQuery:
    text: str
    dense_top_k: int = 100
    sparse_top_k: int = 100
    top_n: int = 5
    filters: Group | None = None
    rerank: RerankOptions | None = None  # None: no reranking, the fused score is the score
    history: Sequence[ChatMessage] = ()
    rewrite: bool = False
    # Image references (S3 URIs or URLs) searched against the image index; DenseSimilarityTopK bounds that leg too.
    # Callers pass them only for a collection that has an image index (the documented behaviour otherwise: ignored).
    images: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    chunk: StoredChunk
    score: float  # in [0, 1], higher is better: the rerank score when reranking ran, else the fused score


@dataclass(slots=True)
class RetrievalResult:
    chunks: list[RetrievedChunk]
    query: str  # the query actually searched (after rewriting)
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    def __init__(
        self,
        backend: SearchBackend,
        embedder: Embedder,
        rerankers: RerankerRegistry,
        rewriter: QueryRewriter,
        fusion: FusionConfig,
        image_queries: ImageQueryEmbedder | None = None,
    ) -> None:
        self._backend = backend
        self._embedder = embedder
        self._rerankers = rerankers
        self._rewriter = rewriter
        self._fusion = fusion
        self._image_queries = image_queries

    def retrieve(self, collection: str, query: RetrievalQuery, *, default_reranker: str | None = None) -> RetrievalResult:
        timings: dict[str, float] = {}
        # Resolve the reranker before any work, so a bad model name fails fast.
        reranker = (
            self._rerankers.get(query.rerank.model_name or default_reranker) if query.rerank is not None else None
        )
        image_vectors: list[list[float]] = []
        if query.images and query.dense_top_k > 0:
            if self._image_queries is None:
                raise InternalError(
                    "this knowledge base has an image index but no multimodal embedder is configured "
                    "(SIFT_IMAGE_EMBEDDER)"
                )
            with _timed(timings, "embed_images"):
                image_vectors = self._image_queries.vectors(query.images)
        text = query.text
        if query.rewrite and query.history:
            with _timed(timings, "rewrite"):
                text = self._rewriter.rewrite(query.history, query.text)
        vector = None
        if query.dense_top_k > 0:
            with _timed(timings, "embed"):
                vector = self._embedder.embed_query(text)
        recall_query = RecallQuery(
            text, vector, query.dense_top_k, query.sparse_top_k, query.filters,
            image_vectors=image_vectors, image_top_k=query.dense_top_k if image_vectors else 0,
        )
        with _timed(timings, "recall"):
            recalled = self._backend.recall(collection, recall_query)
        with _timed(timings, "fuse"):
            candidates = fuse(
                recalled.dense, recalled.sparse, self._fusion,
                dense_on=query.dense_top_k > 0, sparse_on=query.sparse_top_k > 0, image=recalled.image,
            )
        if reranker is None or query.rerank is None:
            return RetrievalResult([RetrievedChunk(c.chunk, c.score) for c in candidates[: query.top_n]], text, timings)
        with _timed(timings, "rerank"):
            ranked = self._rerank(reranker, query.rerank, text, candidates)
        threshold = query.rerank.min_score
        kept = [item for item in ranked if threshold is None or item.score > threshold]
        return RetrievalResult(kept[: query.top_n], text, timings)

    def _rerank(
        self, reranker: Reranker, options: RerankOptions, text: str, candidates: Sequence[FusedCandidate]
    ) -> list[RetrievedChunk]:
        if not candidates:
            return []
        request = RerankRequest(text, options.mode, options.instruction)
        scores = reranker.rerank(
            request,
            # An image chunk found by a query image carries that similarity as its dense score.
            [
                RerankCandidate(
                    c.chunk.text, c.dense_score if c.dense_score is not None else c.image_score, c.sparse_score,
                    c.score,
                )
                for c in candidates
            ],
        )
        order = sorted(range(len(candidates)), key=lambda index: (-scores[index], index))
        return [RetrievedChunk(candidates[index].chunk, scores[index]) for index in order]


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000.0
