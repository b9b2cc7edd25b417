"""Sift's retrieval extensions on both families' search operations (Retrieve, ContextualRetrieval, SemanticQuery):
``Fusion`` (this request's fusion settings) and ``Explain`` (why each result ranked where it did).

Both are off unless sent, so the documented requests and responses are unchanged; no official SDK sends them (call
with a JSON body, or add them to the query string: ``Explain=true``, ``Fusion={"Method":"rrf"}`` JSON-encoded).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from chalicelib.api.common import RequestModel
from chalicelib.core.explain import Explanation, QueryExplanation
from chalicelib.core.fusion import FusionMethod, FusionOverride, LegScore

MAX_RRF_K = 10_000


class FusionRequest(RequestModel):
    """``Fusion``: ``Method`` (confidence, minmax, rrf), ``DenseWeight`` (0–1, minmax and confidence) and ``RrfK``
    (1–10000, rrf); each one given replaces the stage's setting (SIFT_FUSION, SIFT_DENSE_WEIGHT, SIFT_RRF_K)."""

    method: Literal["confidence", "minmax", "rrf"] | None = None
    dense_weight: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    rrf_k: Annotated[int, Field(ge=1, le=MAX_RRF_K)] | None = None

    def override(self) -> FusionOverride:
        return FusionOverride(
            FusionMethod(self.method) if self.method else None, self.dense_weight, self.rrf_k
        )


def fusion_override(fusion: FusionRequest | None) -> FusionOverride | None:
    return fusion.override() if fusion is not None else None


def explanation_view(explanation: Explanation) -> dict[str, Any]:
    """The ``Explain`` object (README, "Explained scores"): PascalCase, every key present, null where not applicable."""
    rerank = explanation.rerank
    return {
        "Score": explanation.score,
        "FusedScore": explanation.fused_score,
        "Queries": [_query_view(query) for query in explanation.queries],
        "Rerank": None if rerank is None else {
            "Model": rerank.model, "Mode": rerank.mode, "Score": rerank.score, "Rank": rerank.rank,
            "Depth": rerank.depth, "Floor": rerank.floor,
        },
        "Matches": [{"Term": match.term, "Start": match.start, "End": match.end} for match in explanation.matches],
    }


def _query_view(query: QueryExplanation) -> dict[str, Any]:
    fusion = query.fusion
    return {
        "Text": query.text,
        "Dense": _leg_view(query.dense),
        "Sparse": _leg_view(query.sparse),
        "Image": _leg_view(query.image),
        "Fusion": None if fusion is None else {
            "Method": fusion.method.value, "DenseWeight": fusion.dense_weight,
            "PriorDenseWeight": fusion.prior_dense_weight, "RrfK": fusion.rrf_k, "Legs": fusion.legs,
        },
        "FusedScore": query.fused_score,
    }


def _leg_view(leg: LegScore | None) -> dict[str, Any] | None:
    return None if leg is None else {"Score": leg.score, "Normalized": leg.normalized, "Rank": leg.rank}
