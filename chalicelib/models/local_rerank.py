"""Local rerankers for the ``local`` stage: no cross-encoder weights can be shipped or downloaded here.

They reorder the first ``RERANK_DEPTH`` (20) fused candidates — as many as a Retrieve can return (``RerankTopN`` ≤ 20)
— and leave the rest in fused order below them (``Reranker.depth``). So reranking chooses which of the chunks fused
recall ranked highest come first; it never swaps in a chunk recall ranked lower, and cannot cost recall at any depth
from 20 down the list. Measured (README, Benchmarks): reordering all 200 candidates with these signals lost
Recall@20 on KdConv and nDCG@10 on SciFact; reordering the first 20 lifts nDCG@10 on every shared set with the
default embedder (e5; with a weak dense leg, as USE's on SciFact, the dense term can lower it).

A candidate's rerank score adds two signals to its fused score:

- **dense**: its dense cosine, min-max normalised over the candidates the dense leg found (one it did not find gets 0,
  as in fusion: it ranked below everything that leg returned). Raw cosines would not do: multilingual-e5's all lie in
  ~0.75–0.9, so a raw term is a flat bonus for having been found by the dense leg rather than a measure of closeness.
- **coverage**: the share of the query's distinct content terms (suffix-stripped English words, CJK bigrams) the
  candidate contains, each term weighted by how rare it is among the candidates, ``log(1 + n / (1 + df))`` — a term
  every candidate holds says nothing about which of them answers.

``score = (fused + dense_weight · dense + coverage_weight · coverage) / (1 + dense_weight + coverage_weight)``, in
[0, 1]. A ``hybrid`` reranker weighs text matching, a ``semantic`` one the dense similarity (the documented difference
between ``qwen3-rerank-hybrid`` and ``qwen3-rerank``). ``RerankMode`` moves the weights: ``qa`` (the default, and
the weights chosen by measurement) balances both, ``similar`` favours semantic similarity, ``custom`` adds the words
of ``RerankInstruct`` to the terms a candidate is rewarded for covering.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.core.ports.models import RerankCandidate, RerankMode, RerankRequest
from chalicelib.core.text import content_terms

# The largest RerankTopN a Retrieve may ask for: the local rerankers reorder this many fused candidates.
RERANK_DEPTH = 20


@dataclass(frozen=True, slots=True)
class RerankWeights:
    """Weights of the two signals beside the fused score (whose weight is 1)."""

    dense: float
    coverage: float


# hybrid/qa was chosen on the named tuning half of each shared set (README, Benchmarks); semantic/qa leans further on
# the dense similarity as far as it can without lowering nDCG@10 on any shared set (dense 0.6 lowered SciFact's); the
# other modes are set relative to them so that each moves the ranking the documented way (``similar`` may lower
# nDCG@10 where BM25 is the better leg: that is what asking for semantic similarity means).
_HYBRID = {
    RerankMode.QA: RerankWeights(dense=0.3, coverage=0.5),
    RerankMode.SIMILAR: RerankWeights(dense=0.6, coverage=0.2),
    RerankMode.CUSTOM: RerankWeights(dense=0.3, coverage=0.5),
}
_SEMANTIC = {
    RerankMode.QA: RerankWeights(dense=0.4, coverage=0.2),
    RerankMode.SIMILAR: RerankWeights(dense=1.0, coverage=0.0),
    RerankMode.CUSTOM: RerankWeights(dense=0.4, coverage=0.3),
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

    @property
    def depth(self) -> int:
        return RERANK_DEPTH

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        weights = self._weights[request.mode]
        wanted = content_terms(request.query)
        if request.mode is RerankMode.CUSTOM and request.instruction:
            wanted |= content_terms(request.instruction)
        dense = _normalised_dense(candidates)
        coverage = _weighted_coverage(wanted, [candidate_terms(candidate.text) for candidate in candidates])
        total = 1.0 + weights.dense + weights.coverage
        return [
            min(1.0, max(0.0, (candidate.fused_score + weights.dense * closeness + weights.coverage * covered) / total))
            for candidate, closeness, covered in zip(candidates, dense, coverage)
        ]


def _normalised_dense(candidates: Sequence[RerankCandidate]) -> list[float]:
    """Each candidate's dense cosine min-max normalised over those that have one; 0 for the others (and for all,
    when every found candidate is equally close)."""
    found = [candidate.dense_score for candidate in candidates if candidate.dense_score is not None]
    if not found:
        return [0.0] * len(candidates)
    low, span = min(found), max(found) - min(found)
    return [
        (candidate.dense_score - low) / span if candidate.dense_score is not None and span > 0 else 0.0
        for candidate in candidates
    ]


@functools.lru_cache(maxsize=8192)
def candidate_terms(text: str) -> frozenset[str]:
    """A candidate's content terms, kept for the 8,192 chunks reranked most recently (SciFact has 8,700; ~6 KB each,
    the stems shared): popular chunks come back request after request, and analysing one is the reranker's largest
    cost (~0.1 ms per 1,200 characters)."""
    return frozenset(content_terms(text))


def _weighted_coverage(wanted: set[str], per_candidate: Sequence[frozenset[str]]) -> list[float]:
    """The share of ``wanted`` each candidate covers, each term weighted by its rarity among the candidates."""
    if not wanted:
        return [0.0] * len(per_candidate)
    count = len(per_candidate)
    weight = {
        term: math.log(1.0 + count / (1.0 + sum(1 for terms in per_candidate if term in terms))) for term in wanted
    }
    total = sum(weight.values())
    return [sum(weight[term] for term in wanted & terms) / total for terms in per_candidate]
