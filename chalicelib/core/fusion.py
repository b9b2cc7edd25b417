"""Fusion of the dense and sparse recall legs into one candidate list, identical for every backend.

Three methods, all giving scores in [0, 1]:
- ``confidence`` (default): each leg min-max normalised as in ``minmax``, combined with a weight per query that
  favours the leg that is surer of its answer: a leg's confidence is how far its best normalised score stands above
  its ``CONFIDENCE_RANK``-th best (1 minus that score), cubed, and the dense weight ``w`` is a prior on it:
  ``w·c_d / (w·c_d + (1 - w)·c_s)``. Why: no fixed weight serves every shared set (README, Benchmarks). BM25 is the
  better leg on SciFact and CMRC 2018 and far the worse on KdConv, whose terse triples share their entity's terms, so
  its BM25 top is a plateau of near-equal scores; a leg whose top stands out is the one to trust for that query.
  Chosen on the named tuning half of each set: fixed weights 0.5–0.8, RRF, theoretical-minimum and z-score
  normalisation all lost more than 0.01 nDCG@10 to the dense leg on KdConv; this is within it on every set (with e5,
  the default embedder).
- ``minmax``: each leg's scores are min-max normalised over what that leg returned, then combined as
  ``w * dense + (1 - w) * sparse``; a chunk one leg did not return gets 0 from it.
- ``rrf``: reciprocal rank fusion, ``sum(1 / (k + rank))``, divided by its maximum so the best possible is 1.
When a leg is switched off (top-K 0) the other leg's normalised score is the fused score.

Every candidate carries its call's ``FusionTrace``: the legs as fusion saw them and the weight it used, so a caller
can explain (and recompute) any fused score without a second pass — it costs nothing until asked.

The image leg (query images against a knowledge base's image index) is a second embedding-similarity leg: in
``minmax`` a chunk's dense-side score is the better of its normalised text-vector and image-vector scores, so an image
found by a query image weighs what a passage found by the query text weighs; in ``rrf`` it is one more ranked list.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.ports.search import ScoredChunk, StoredChunk


class FusionMethod(enum.Enum):
    CONFIDENCE = "confidence"
    MINMAX = "minmax"
    RRF = "rrf"


# ``confidence``: the rank whose normalised score a leg's best is compared with, and the power of that gap.
CONFIDENCE_RANK = 6
CONFIDENCE_POWER = 3


@dataclass(frozen=True, slots=True)
class FusionConfig:
    method: FusionMethod = FusionMethod.CONFIDENCE
    dense_weight: float = 0.5
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError("dense_weight must be within [0, 1]")
        if self.rrf_k < 1:
            raise ValueError("rrf_k must be at least 1")


@dataclass(frozen=True, slots=True)
class FusionOverride:
    """One request's fusion settings (the ``Fusion`` extension): each one given replaces the stage's."""

    method: FusionMethod | None = None
    dense_weight: float | None = None
    rrf_k: int | None = None

    def applied_to(self, stage: FusionConfig) -> FusionConfig:
        """The stage's config with this request's settings; a weight the chosen method has no use for is refused,
        so a caller never believes a setting took effect when it did not."""
        method = self.method or stage.method
        if self.dense_weight is not None and method is FusionMethod.RRF:
            raise InvalidParameterError("Fusion.DenseWeight", "applies to the minmax and confidence methods, not rrf")
        if self.rrf_k is not None and method is not FusionMethod.RRF:
            raise InvalidParameterError("Fusion.RrfK", f"applies to the rrf method only, not {method.value}")
        return FusionConfig(
            method,
            stage.dense_weight if self.dense_weight is None else self.dense_weight,
            stage.rrf_k if self.rrf_k is None else self.rrf_k,
        )


@dataclass(frozen=True, slots=True)
class LegScore:
    """Where one leg placed a chunk."""

    score: float  # the leg's raw score: cosine for the similarity legs, BM25 for the sparse leg
    normalized: float  # min-max over what the leg returned (``minmax`` and ``confidence`` combine these)
    rank: int  # 1-based, in the leg's own list (``rrf`` combines these)


@dataclass(frozen=True, slots=True)
class FusionTrace:
    """How one ``fuse`` call combined its legs: the legs as returned, and the weight it used.

    ``dense_weight`` is the similarity side's weight actually applied (per query with ``confidence``; 1 or 0 when a
    side was off) and ``prior_dense_weight`` the configured one; both are None for ``rrf``, ``rrf_k`` is None for the
    others. ``legs`` is how many legs were on (``rrf`` divides by its best possible score, ``legs / (k + 1)``).
    """

    method: FusionMethod
    dense_weight: float | None
    prior_dense_weight: float | None
    rrf_k: int | None
    legs: int
    dense: Sequence[ScoredChunk]
    sparse: Sequence[ScoredChunk]
    image: Sequence[ScoredChunk]
    image_on: bool
    normalized: Mapping[str, Mapping[str, float]]  # leg name → chunk id → normalised score

    def leg(self, name: str, chunk_id: str) -> LegScore | None:
        """``name`` ("dense", "sparse" or "image")'s placing of the chunk; None when that leg did not return it."""
        hits: Sequence[ScoredChunk] = getattr(self, name)
        for rank, hit in enumerate(hits, start=1):
            if hit.chunk.chunk_id == chunk_id:
                return LegScore(hit.score, self.normalized[name][chunk_id], rank)
        return None


@dataclass(frozen=True, slots=True)
class FusedCandidate:
    chunk: StoredChunk
    score: float  # fused, in [0, 1]
    dense_score: float | None  # the raw cosine, when the dense leg returned the chunk
    sparse_score: float | None  # min-max normalised BM25, when the sparse leg returned it
    image_score: float | None = None  # the raw cosine to the closest query image, when the image leg returned it
    trace: FusionTrace | None = None  # the fusion that scored it (shared by every candidate of the call)


def fuse(
    dense: Sequence[ScoredChunk],
    sparse: Sequence[ScoredChunk],
    config: FusionConfig,
    *,
    dense_on: bool,
    sparse_on: bool,
    image: Sequence[ScoredChunk] = (),
) -> list[FusedCandidate]:
    """Merge the legs (deduplicated by chunk id), best first; ties keep the order the chunk was first seen."""
    image_on = bool(image)
    dense_normal = _minmax(dense)
    image_normal = _minmax(image)
    sparse_normal = _minmax(sparse)
    dense_raw = {hit.chunk.chunk_id: hit.score for hit in dense}
    image_raw = {hit.chunk.chunk_id: hit.score for hit in image}
    chunks: dict[str, StoredChunk] = {}
    for hit in [*dense, *image, *sparse]:
        chunks.setdefault(hit.chunk.chunk_id, hit.chunk)

    legs = int(dense_on) + int(image_on) + int(sparse_on)
    rrf = config.method is FusionMethod.RRF
    weight: float | None = None
    if rrf:
        fused = _rrf([dense, image, sparse], config.rrf_k, legs=legs)
    else:
        similarity_on = dense_on or image_on
        applied = config.dense_weight if similarity_on and sparse_on else (1.0 if similarity_on else 0.0)
        if config.method is FusionMethod.CONFIDENCE and similarity_on and sparse_on:
            similarity = max(_confidence(dense_normal), _confidence(image_normal))
            applied = _confident_weight(config.dense_weight, similarity, _confidence(sparse_normal))
        similar = _better_of(dense_normal, image_normal) if image_on else dense_normal
        fused = {
            chunk_id: applied * similar.get(chunk_id, 0.0) + (1.0 - applied) * sparse_normal.get(chunk_id, 0.0)
            for chunk_id in chunks
        }
        weight = applied
    trace = FusionTrace(
        config.method, weight, None if rrf else config.dense_weight, config.rrf_k if rrf else None, legs,
        dense, sparse, image, image_on, {"dense": dense_normal, "sparse": sparse_normal, "image": image_normal},
    )
    # Stable, so equal scores keep the order the chunks were first seen in (``reverse`` keeps stability).
    ranked = sorted(chunks, key=fused.__getitem__, reverse=True)
    return [
        FusedCandidate(
            chunks[chunk_id], _clamp(fused[chunk_id]), dense_raw.get(chunk_id), sparse_normal.get(chunk_id),
            image_raw.get(chunk_id), trace,
        )
        for chunk_id in ranked
    ]


def _better_of(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    """Per chunk, the higher of two legs' normalised scores (the text-vector and image-vector similarity legs)."""
    better = dict(first)
    for chunk_id, score in second.items():
        if score > better.get(chunk_id, 0.0):
            better[chunk_id] = score
    return better


def _minmax(hits: Sequence[ScoredChunk]) -> dict[str, float]:
    if not hits:
        return {}
    scores = [hit.score for hit in hits]
    low, high = min(scores), max(scores)
    span = high - low
    if span > 0:
        return {hit.chunk.chunk_id: (hit.score - low) / span for hit in hits}
    # One hit, or all tied: full marks if they are evidence at all; a leg of zero (or negative) similarities is not.
    return {hit.chunk.chunk_id: 1.0 if high > 0 else 0.0 for hit in hits}


def _confidence(normal: dict[str, float]) -> float:
    """How far a leg's best normalised score stands above its ``CONFIDENCE_RANK``-th best (its last, when it returned
    fewer), to the ``CONFIDENCE_POWER``: 1 for a single hit, 0 for a leg of ties or of nothing."""
    if not normal:
        return 0.0
    ranked = sorted(normal.values(), reverse=True)
    if len(ranked) == 1:
        return ranked[0]
    return (ranked[0] - ranked[min(CONFIDENCE_RANK, len(ranked)) - 1]) ** CONFIDENCE_POWER


def _confident_weight(prior: float, dense: float, sparse: float) -> float:
    """The dense leg's weight: the prior scaled by the legs' confidences; the prior alone when neither has any."""
    total = prior * dense + (1.0 - prior) * sparse
    return prior * dense / total if total > 0 else prior


def _rrf(ranked_lists: Sequence[Sequence[ScoredChunk]], k: int, legs: int) -> dict[str, float]:
    scores: dict[str, float] = {}
    for hits in ranked_lists:
        for rank, hit in enumerate(hits, start=1):
            scores[hit.chunk.chunk_id] = scores.get(hit.chunk.chunk_id, 0.0) + 1.0 / (k + rank)
    best = max(legs, 1) / (k + 1)
    return {chunk_id: score / best for chunk_id, score in scores.items()}


def _clamp(value: float) -> float:
    # The scores are within [0, 1] but for float rounding; comparing first is cheaper than min(max()) per candidate.
    return value if 0.0 <= value <= 1.0 else min(1.0, max(0.0, value))
