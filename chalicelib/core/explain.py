"""Explained scores (the ``Explain`` extension): why a chunk ranked where it did, in numbers a caller can recompute.

An explanation says, for every query text the retrieval recalled with (one; a conversation's focus and context), where
each leg placed the chunk (raw score, normalised score, rank in the leg's own list) and the fusion that combined them
(method, the weight applied, RRF's k); the fused score (their mean over the query texts); what the reranker made of it;
and where the query's terms occur in the chunk's text. It is built from what retrieval already holds (each candidate
carries its ``FusionTrace``): no second recall, no extra round trip on any backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chalicelib.core.fusion import FusionMethod, FusionTrace, LegScore
from chalicelib.core.ports.search import StoredChunk
from chalicelib.core.text import content_term_spans, content_terms


@dataclass(frozen=True, slots=True)
class FusionUsed:
    method: FusionMethod
    dense_weight: float | None  # applied to the similarity side (None for rrf)
    prior_dense_weight: float | None  # the configured weight (None for rrf)
    rrf_k: int | None  # None unless rrf
    legs: int  # legs on


@dataclass(frozen=True, slots=True)
class QueryExplanation:
    """One recall's view of the chunk: the text searched, each leg's placing (None: not returned), the fused score."""

    text: str
    dense: LegScore | None
    sparse: LegScore | None
    image: LegScore | None
    fusion: FusionUsed | None  # None where no fusion ran (a search by one stored vector)
    fused_score: float


@dataclass(frozen=True, slots=True)
class RerankExplanation:
    model: str  # the reranker that scored (its engine's name)
    mode: str
    score: float | None  # None: below the reranker's depth, kept in fused order
    rank: int | None  # 1-based among the reranked candidates
    depth: int | None  # how many fused candidates it reorders (None: all)
    floor: float | None  # for a chunk below the depth: the lowest reranked score, its score's cap


@dataclass(frozen=True, slots=True)
class TermMatch:
    term: str  # the query term (as analysed: lower-cased, lightly stemmed; CJK bigrams)
    start: int  # code-point offsets into the chunk's text
    end: int


@dataclass(frozen=True, slots=True)
class Explanation:
    score: float  # the reported score
    fused_score: float  # before reranking: the mean of the queries' fused scores
    queries: tuple[QueryExplanation, ...]
    rerank: RerankExplanation | None
    matches: tuple[TermMatch, ...]


@dataclass(frozen=True, slots=True)
class Recall:
    """One query text and the fusion of what it recalled (None: it found nothing)."""

    text: str
    trace: FusionTrace | None


@dataclass(frozen=True, slots=True)
class RerankRun:
    """What reranking did to a candidate list: its reranker, the scores of the head it reordered, best first."""

    model: str
    mode: str
    depth: int | None
    head: Sequence[tuple[str, float]]  # (chunk id, rerank score), in reranked order


def explain(
    chunk: StoredChunk,
    score: float,
    recalls: Sequence[Recall],
    query_fused: Sequence[float | None],
    rerank: RerankRun | None,
    terms: frozenset[str],
) -> Explanation:
    """The explanation of ``chunk``, reported with ``score``. ``query_fused[i]`` is its fused score under
    ``recalls[i]`` (None: that recall did not find it); the fused score is their mean. ``terms``: the query terms
    to find in its text (``query_terms``, once per request)."""
    queries = tuple(_query(recall, chunk.chunk_id, fused) for recall, fused in zip(recalls, query_fused, strict=True))
    fused_score = sum(query.fused_score for query in queries) / len(queries) if queries else 0.0
    return Explanation(
        score, fused_score, queries, _rerank_explanation(rerank, chunk.chunk_id),
        term_matches(terms, chunk.text),
    )


def _query(recall: Recall, chunk_id: str, fused: float | None) -> QueryExplanation:
    trace = recall.trace
    fusion = None if trace is None else FusionUsed(
        trace.method, trace.dense_weight, trace.prior_dense_weight, trace.rrf_k, trace.legs
    )
    if trace is None or fused is None:
        return QueryExplanation(recall.text, None, None, None, fusion, 0.0)
    image = trace.leg("image", chunk_id) if trace.image_on else None
    return QueryExplanation(
        recall.text, trace.leg("dense", chunk_id), trace.leg("sparse", chunk_id), image, fusion, fused
    )


def _rerank_explanation(rerank: RerankRun | None, chunk_id: str) -> RerankExplanation | None:
    if rerank is None:
        return None
    for rank, (reranked_id, rerank_score) in enumerate(rerank.head, start=1):
        if reranked_id == chunk_id:
            return RerankExplanation(rerank.model, rerank.mode, rerank_score, rank, rerank.depth, None)
    floor = rerank.head[-1][1] if rerank.head else None
    return RerankExplanation(rerank.model, rerank.mode, None, None, rerank.depth, floor)


def query_terms(query_texts: Iterable[str]) -> frozenset[str]:
    """The content terms of the query texts (the terms the local reranker counts)."""
    return frozenset().union(*(content_terms(text) for text in query_texts))


def term_matches(terms: frozenset[str], text: str) -> tuple[TermMatch, ...]:
    """Where ``terms`` occur in ``text``, in order."""
    if not terms:
        return ()
    return tuple(TermMatch(term, start, end) for start, end, term in content_term_spans(text) if term in terms)
