"""Local rerankers for the ``local`` stage: no cross-encoder weights can be shipped or downloaded here.

They re-score the fused candidate set from three signals:
- the fused recall score (dense and BM25 together),
- the candidate's dense cosine similarity, mapped to [0, 1],
- query-term coverage: the share of the query's distinct content terms that the candidate contains, with a light
  suffix-stripping match for English and bigram matching for CJK. This is the "text matching" a hybrid reranker adds.
A ``hybrid`` reranker weighs all three; a ``semantic`` one leans on the dense similarity (the documented difference
between ``qwen3-rerank-hybrid`` and ``qwen3-rerank``). ``RerankMode`` moves the weights: ``qa`` favours coverage of
the question's terms, ``similar`` favours semantic similarity, ``custom`` adds the words of ``RerankInstruct`` to the
terms a candidate is rewarded for covering. Each weight set sums to 1, so scores stay in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.core.ports.models import RerankCandidate, RerankMode, RerankRequest
from chalicelib.core.text import content_terms


@dataclass(frozen=True, slots=True)
class RerankWeights:
    fused: float
    dense: float
    coverage: float


_HYBRID = {
    RerankMode.QA: RerankWeights(fused=0.7, dense=0.1, coverage=0.2),
    RerankMode.SIMILAR: RerankWeights(fused=0.6, dense=0.3, coverage=0.1),
    RerankMode.CUSTOM: RerankWeights(fused=0.6, dense=0.1, coverage=0.3),
}
_SEMANTIC = {
    RerankMode.QA: RerankWeights(fused=0.4, dense=0.5, coverage=0.1),
    RerankMode.SIMILAR: RerankWeights(fused=0.3, dense=0.7, coverage=0.0),
    RerankMode.CUSTOM: RerankWeights(fused=0.3, dense=0.4, coverage=0.3),
}
FAMILIES: dict[str, dict[RerankMode, RerankWeights]] = {"hybrid": _HYBRID, "semantic": _SEMANTIC}


class LocalReranker:
    def __init__(self, family: str = "hybrid") -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown local reranker family {family!r}; known: {sorted(FAMILIES)}")
        self._family = family
        self._weights = FAMILIES[family]

    @property
    def name(self) -> str:
        return f"sift/local-{self._family}-reranker"

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        weights = self._weights[request.mode]
        wanted = content_terms(request.query)
        if request.mode is RerankMode.CUSTOM and request.instruction:
            wanted |= content_terms(request.instruction)
        scores = []
        for candidate in candidates:
            dense = max(0.0, candidate.dense_score) if candidate.dense_score is not None else 0.0
            coverage = _coverage(wanted, candidate.text)
            score = weights.fused * candidate.fused_score + weights.dense * dense + weights.coverage * coverage
            scores.append(min(1.0, max(0.0, score)))
        return scores


def _coverage(wanted: set[str], text: str) -> float:
    if not wanted:
        return 0.0
    return len(wanted & content_terms(text)) / len(wanted)
