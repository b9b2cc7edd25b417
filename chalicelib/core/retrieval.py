"""The retrieval pipeline shared by every operation that searches chunks.

    [rewrite from history] → embed (query text; query images when the knowledge base has an image index)
    → dense + sparse [+ image] recall (filters inside each leg) → fuse → [rerank]
    → drop scores at or below the threshold → top N [→ explain]

Backends only recall; everything after recall happens here, the same for every backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from chalicelib.core.errors import InternalError
from chalicelib.core.explain import Explanation, Recall, RerankRun, explain, query_terms
from chalicelib.core.filters import Group
from chalicelib.core.fusion import FusedCandidate, FusionConfig, FusionOverride, fuse
from chalicelib.core.images import ImageQueryEmbedder
from chalicelib.core.ports.models import (
    ChatMessage,
    Embedder,
    QueryRewriter,
    RerankCandidate,
    Reranker,
    RerankMode,
    RerankRequest,
)
from chalicelib.core.ports.search import RecallQuery, SearchBackend, StoredChunk
from chalicelib.core.rerankers import RerankerRegistry
from chalicelib.core.telemetry import record_stage_timings


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
    fusion: FusionOverride | None = None  # this request's fusion settings over the stage's (the Fusion extension)
    explain: bool = False  # attach an Explanation to every chunk returned (the Explain extension)


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    chunk: StoredChunk
    score: float  # in [0, 1], higher is better: the rerank score when reranking ran, else the fused score
    explanation: Explanation | None = None  # with RetrievalQuery.explain


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
        reranker = self._reranker(query, default_reranker)
        image_vectors = self._image_vectors(query, timings)
        text = query.text
        if query.rewrite and query.history:
            with _timed(timings, "rewrite"):
                text = self._rewriter.rewrite(query.history, query.text)
        candidates = self.candidates(collection, text, query, timings, image_vectors=image_vectors)
        recalls = [Recall(text, candidates[0].trace if candidates else None)]
        per_text = [{c.chunk.chunk_id: c.score for c in candidates}] if query.explain else []
        result = RetrievalResult(
            self.finish(reranker, query, text, candidates, timings, recalls=recalls, per_text=per_text), text, timings
        )
        record_stage_timings(timings)  # per-stage latency metrics of the request in progress (no-op outside one)
        return result

    def retrieve_many(
        self,
        collection: str,
        texts: Sequence[str],
        query: RetrievalQuery,
        *,
        rerank_text: str,
        default_reranker: str | None = None,
    ) -> RetrievalResult:
        """Recall once per text, average the fused scores (a chunk one text missed scores 0 there), then finish as
        ``retrieve`` does, reranking against ``rerank_text``. Conversations use it: the question in focus and the
        conversation as a whole find different things, and both belong in the answer."""
        timings: dict[str, float] = {}
        reranker = self._reranker(query, default_reranker)
        merged: dict[str, FusedCandidate] = {}
        totals: dict[str, float] = {}
        recalls: list[Recall] = []
        per_text: list[dict[str, float]] = []
        for position, text in enumerate(texts):
            leg_timings: dict[str, float] = {}
            found = self.candidates(collection, text, query, leg_timings)
            for candidate in found:
                chunk_id = candidate.chunk.chunk_id
                merged.setdefault(chunk_id, candidate)
                totals[chunk_id] = totals.get(chunk_id, 0.0) + candidate.score
            recalls.append(Recall(text, found[0].trace if found else None))
            if query.explain:
                per_text.append({c.chunk.chunk_id: c.score for c in found})
            timings.update({f"{stage}_{position}": value for stage, value in leg_timings.items()})
        ranked = sorted(merged, key=totals.__getitem__, reverse=True)  # stable: ties keep first-seen order, as fuse
        candidates = [replace(merged[chunk_id], score=totals[chunk_id] / len(texts)) for chunk_id in ranked]
        chunks = self.finish(reranker, query, rerank_text, candidates, timings, recalls=recalls, per_text=per_text)
        result = RetrievalResult(chunks, rerank_text, timings)
        record_stage_timings(timings)
        return result

    def candidates(
        self,
        collection: str,
        text: str,
        query: RetrievalQuery,
        timings: dict[str, float],
        *,
        image_vectors: Sequence[Sequence[float]] = (),
    ) -> list[FusedCandidate]:
        """Embed ``text``, recall both legs (and the image leg) with the query's filters and top-Ks, fuse.

        Without text (a Retrieve by ``Images`` alone) the text legs are off; with neither text nor query images there
        is nothing to search by, and nothing is found.
        """
        has_text = bool(text.strip())
        dense_top_k = query.dense_top_k if has_text else 0
        sparse_top_k = query.sparse_top_k if has_text else 0
        if not (dense_top_k or sparse_top_k or image_vectors):
            return []
        vector = None
        if dense_top_k > 0:
            with _timed(timings, "embed"):
                vector = self._embedder.embed_query(text)
        recall_query = RecallQuery(
            text, vector, dense_top_k, sparse_top_k, query.filters,
            image_vectors=image_vectors, image_top_k=query.dense_top_k if image_vectors else 0,
        )
        with _timed(timings, "recall"):
            recalled = self._backend.recall(collection, recall_query)
        fusion = self._fusion if query.fusion is None else query.fusion.applied_to(self._fusion)
        with _timed(timings, "fuse"):
            return fuse(
                recalled.dense, recalled.sparse, fusion,
                dense_on=dense_top_k > 0, sparse_on=sparse_top_k > 0, image=recalled.image,
            )

    def finish(
        self,
        reranker: Reranker | None,
        query: RetrievalQuery,
        text: str,
        candidates: Sequence[FusedCandidate],
        timings: dict[str, float],
        *,
        recalls: Sequence[Recall] = (),
        per_text: Sequence[dict[str, float]] = (),
    ) -> list[RetrievedChunk]:
        """Rerank (when asked, and when there is a text to rerank against), drop scores at or below the threshold,
        keep the top N; with ``query.explain``, explain each one kept from ``recalls`` (each query text's fusion) and
        ``per_text`` (each text's fused score per chunk id)."""
        rerun: RerankRun | None = None
        if reranker is None or query.rerank is None or not text.strip():
            kept = [RetrievedChunk(c.chunk, c.score) for c in candidates[: query.top_n]]
        else:
            with _timed(timings, "rerank"):
                ranked, reordered = self._rerank(reranker, query.rerank, text, candidates)
            threshold = query.rerank.min_score
            kept = [item for item in ranked if threshold is None or item.score > threshold][: query.top_n]
            head = [(item.chunk.chunk_id, item.score) for item in ranked[:reordered]]
            rerun = RerankRun(reranker.name, query.rerank.mode.value, reranker.depth, head)
        if not query.explain:
            return kept
        terms = query_terms(recall.text for recall in recalls)
        return [
            replace(item, explanation=explain(
                item.chunk, item.score, recalls, [scores.get(item.chunk.chunk_id) for scores in per_text], rerun, terms
            ))
            for item in kept
        ]

    def _reranker(self, query: RetrievalQuery, default_reranker: str | None) -> Reranker | None:
        return self._rerankers.get(query.rerank.model_name or default_reranker) if query.rerank is not None else None

    def _image_vectors(self, query: RetrievalQuery, timings: dict[str, float]) -> list[list[float]]:
        if not query.images or query.dense_top_k <= 0:
            return []
        if self._image_queries is None:
            raise InternalError(
                "this knowledge base has an image index but no multimodal embedder is configured "
                "(SIFT_IMAGE_EMBEDDER)"
            )
        with _timed(timings, "embed_images"):
            return self._image_queries.vectors(query.images)

    def _rerank(
        self, reranker: Reranker, options: RerankOptions, text: str, candidates: Sequence[FusedCandidate]
    ) -> tuple[list[RetrievedChunk], int]:
        """The candidates reranked, and how many of them (the head, first) the reranker scored."""
        if not candidates:
            return [], 0
        depth = reranker.depth
        head, tail = (candidates, ()) if depth is None else (candidates[:depth], candidates[depth:])
        request = RerankRequest(text, options.mode, options.instruction)
        scores = reranker.rerank(
            request,
            # An image chunk found by a query image carries that similarity as its dense score.
            [
                RerankCandidate(
                    rerank_text(c.chunk), c.dense_score if c.dense_score is not None else c.image_score,
                    c.sparse_score, c.score,
                )
                for c in head
            ],
        )
        order = sorted(range(len(head)), key=lambda index: (-scores[index], index))
        ranked = [RetrievedChunk(head[index].chunk, scores[index]) for index in order]
        # Below the reordered head, in fused order; a tail score never exceeds the head's lowest, so the list stays
        # sorted by score (and RerankMinScore cuts it at one place).
        floor = ranked[-1].score
        return ranked + [RetrievedChunk(c.chunk, min(c.score, floor)) for c in tail], len(ranked)


def rerank_text(chunk: StoredChunk) -> str:
    """What a reranker judges: the chunk with its document's title in front, as the recall legs matched it — a chunk
    that never repeats its document's subject ("Tickets: free") is only relevant through that title."""
    title = str(chunk.metadata.get("hier_title") or chunk.metadata.get("title") or "").strip()
    return f"{title}\n{chunk.text}" if title and title not in chunk.text else chunk.text


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000.0


def require_same_model(what: str, built_with: str, configured: str) -> None:
    """``InternalError`` (the deployment is misconfigured, not the request) unless ``what`` was embedded by the
    configured model; a reindex (SubmitReindexJob) rebuilds an index with the configured one."""
    if built_with and built_with != configured:
        raise InternalError(
            f"{what} was embedded with {built_with!r}, but this deployment's embedder is {configured!r} "
            "(SIFT_EMBEDDER); configure that model, or rebuild the index with SubmitReindexJob"
        )
