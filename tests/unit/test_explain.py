"""Explained scores in the core: the fusion trace, per-request fusion settings, term spans, and the explanation of a
reranked tail and of a conversation's recalls."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.explain import Recall, query_terms, term_matches
from chalicelib.core.fusion import FusionConfig, FusionMethod, FusionOverride, LegScore, fuse
from chalicelib.core.ports.models import RerankCandidate, RerankRequest
from chalicelib.core.ports.search import RecallQuery, RecallResult, ScoredChunk, StoredChunk
from chalicelib.core.rerankers import RerankerRegistry
from chalicelib.core.retrieval import RerankOptions, RetrievalQuery, Retriever
from chalicelib.core.text import content_term_spans
from tests.unit.test_rerank_depth import Reversing


def hits(*pairs: tuple[str, float]) -> list[ScoredChunk]:
    return [ScoredChunk(StoredChunk(chunk_id, chunk_id, 0, f"text of {chunk_id}", {}), score) for chunk_id, score in pairs]


# --- the trace ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(FusionMethod))
def test_every_fused_score_is_recomputable_from_its_trace(method: FusionMethod) -> None:
    dense = hits(("a", 0.9), ("b", 0.8), ("c", 0.4))
    sparse = hits(("c", 12.0), ("d", 7.0), ("a", 1.0))
    for candidate in fuse(dense, sparse, FusionConfig(method, 0.4, 7), dense_on=True, sparse_on=True):
        trace = candidate.trace
        assert trace is not None and trace.legs == 2 and trace.method is method
        legs = [trace.leg("dense", candidate.chunk.chunk_id), trace.leg("sparse", candidate.chunk.chunk_id)]
        if method is FusionMethod.RRF:
            assert trace.dense_weight is None and trace.rrf_k == 7
            score = sum(1 / (7 + leg.rank) for leg in legs if leg) / (2 / 8)
        else:
            assert trace.rrf_k is None and trace.prior_dense_weight == 0.4
            assert trace.dense_weight is not None
            score = sum(weight * leg.normalized for weight, leg in zip((trace.dense_weight, 1 - trace.dense_weight),
                                                                       legs, strict=True) if leg)
        assert candidate.score == pytest.approx(min(1.0, score))


def test_the_trace_reports_raw_scores_ranks_and_the_normalised_ones() -> None:
    (top, *_) = fuse(hits(("a", 0.9), ("b", 0.5)), hits(("b", 3.0), ("a", 1.0)), FusionConfig(FusionMethod.MINMAX),
                     dense_on=True, sparse_on=True)
    assert top.trace is not None
    assert top.trace.leg("dense", "a") == LegScore(0.9, 1.0, 1)
    assert top.trace.leg("sparse", "a") == LegScore(1.0, 0.0, 2)
    assert top.trace.leg("sparse", "zzz") is None
    assert top.trace.dense_weight == 0.5


def test_with_one_leg_off_the_applied_weight_is_all_on_the_other() -> None:
    (top,) = fuse([], hits(("a", 2.0)), FusionConfig(), dense_on=False, sparse_on=True)
    assert top.trace is not None and top.trace.dense_weight == 0.0 and top.trace.legs == 1


# --- per-request fusion -----------------------------------------------------------------------------------------------


def test_an_override_replaces_only_what_it_gives() -> None:
    stage = FusionConfig(FusionMethod.CONFIDENCE, 0.5, 60)
    assert FusionOverride().applied_to(stage) == stage
    assert FusionOverride(dense_weight=0.2).applied_to(stage) == FusionConfig(FusionMethod.CONFIDENCE, 0.2, 60)
    assert FusionOverride(FusionMethod.RRF, rrf_k=5).applied_to(stage) == FusionConfig(FusionMethod.RRF, 0.5, 5)
    rrf_stage = FusionConfig(FusionMethod.RRF)
    assert FusionOverride(rrf_k=9).applied_to(rrf_stage).rrf_k == 9  # the stage's method is rrf


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (FusionOverride(FusionMethod.RRF, dense_weight=0.3), "Fusion.DenseWeight"),
        (FusionOverride(rrf_k=3), "Fusion.RrfK"),
        (FusionOverride(FusionMethod.MINMAX, rrf_k=3), "Fusion.RrfK"),
    ],
)
def test_a_setting_the_method_does_not_use_is_refused(override: FusionOverride, field: str) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        override.applied_to(FusionConfig())
    assert raised.value.field == field


# --- term spans -----------------------------------------------------------------------------------------------------


def test_spans_are_code_point_offsets_of_the_analysed_terms() -> None:
    text = "😀 Tents: the tent's 帐篷防水。"
    spans = list(content_term_spans(text))
    assert [(text[start:end], term) for start, end, term in spans] == [
        ("Tents", "tent"), ("tent", "tent"), ("s", "s"), ("帐篷", "帐篷"), ("篷防", "篷防"), ("防水", "防水"),
    ]  # "the" is a stop word; the emoji before them counts one code point; CJK bigrams overlap


def test_matches_are_only_the_query_terms() -> None:
    text = "The warranty on tents lasts five years; 帐篷保修五年。"
    matches = term_matches(query_terms(["tent warranty", "帐篷保修"]), text)
    assert [text[m.start:m.end] for m in matches] == ["warranty", "tents", "帐篷", "篷保", "保修"]
    assert term_matches(query_terms(["the of"]), text) == ()


# --- explanations through the retriever -----------------------------------------------------------------------------


class TwoTextBackend:
    """Recall answers per query text: each text finds a different pair of chunks."""

    def recall(self, collection: str, query: RecallQuery) -> RecallResult:
        if query.text == "first":
            return RecallResult(hits(("a", 0.9), ("b", 0.7)), hits(("a", 5.0)))
        return RecallResult(hits(("b", 0.8), ("c", 0.6)), hits(("c", 4.0), ("b", 2.0)))


class FixedEmbedder:
    name, dimension = "fixed", 2

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


def test_a_conversation_explains_each_recall_and_averages_them() -> None:
    retriever = Retriever(TwoTextBackend(), FixedEmbedder(), RerankerRegistry({"r": Reversing(None)}, "r"),  # type: ignore[arg-type]
                          None, FusionConfig(FusionMethod.MINMAX))  # type: ignore[arg-type]
    result = retriever.retrieve_many("c", ["first", "second"], RetrievalQuery("q", top_n=3, explain=True),
                                     rerank_text="q")
    by_id = {item.chunk.chunk_id: item for item in result.chunks}
    a = by_id["a"].explanation
    assert a is not None and [query.text for query in a.queries] == ["first", "second"]
    assert a.queries[1].dense is None and a.queries[1].fused_score == 0.0 and a.queries[1].fusion is not None
    assert a.fused_score == pytest.approx((a.queries[0].fused_score + 0.0) / 2) == pytest.approx(by_id["a"].score)
    b = by_id["b"].explanation
    assert b is not None and all(query.dense is not None for query in b.queries)
    assert b.rerank is None


class Halving:
    """Scores in fused order, each half the one before; a depth of 1."""

    name, depth = "halving", 1

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        return [0.5 / 2**index for index in range(len(candidates))]


def test_a_chunk_below_the_rerank_depth_explains_its_capped_score() -> None:
    registry = RerankerRegistry({"halving": Halving()}, default="halving")  # type: ignore[dict-item]
    retriever = Retriever(None, None, registry, None, FusionConfig())  # type: ignore[arg-type]
    candidates = fuse(hits(("c0", 0.9), ("c1", 0.8), ("c2", 0.7)), [], FusionConfig(), dense_on=True, sparse_on=False)
    query = RetrievalQuery("chunk", top_n=3, rerank=RerankOptions(model_name="halving"), explain=True)
    recalls = [Recall("chunk", candidates[0].trace)]
    per_text = [{c.chunk.chunk_id: c.score for c in candidates}]
    head, *tail = retriever.finish(Halving(), query, "chunk", candidates, {}, recalls=recalls, per_text=per_text)  # type: ignore[arg-type]
    assert head.explanation is not None and head.explanation.rerank is not None
    assert (head.explanation.rerank.score, head.explanation.rerank.rank, head.explanation.rerank.depth) == (0.5, 1, 1)
    for item in tail:
        assert item.explanation is not None and item.explanation.rerank is not None
        assert item.explanation.rerank.score is None and item.explanation.rerank.floor == 0.5
        assert item.score == min(item.explanation.fused_score, 0.5) == item.explanation.score
    assert [item.score for item in tail] == [0.5, 0.0]  # fused 0.5 and 0.0 (min-max over the dense leg)
