"""Fusion of the dense and sparse recall legs (``chalicelib.core.fusion``): confidence-weighted min-max (the default),
min-max and reciprocal rank fusion."""

from __future__ import annotations

import pytest

from chalicelib.core.fusion import FusedCandidate, FusionConfig, FusionMethod, fuse
from chalicelib.core.ports.search import ScoredChunk, StoredChunk

MINMAX = FusionConfig(method=FusionMethod.MINMAX)
CONFIDENCE = FusionConfig()
RRF = FusionConfig(method=FusionMethod.RRF)


def hit(chunk_id: str, score: float) -> ScoredChunk:
    return ScoredChunk(StoredChunk(chunk_id, f"doc-{chunk_id}", 0, f"text of {chunk_id}", {}), score)


def legs(*pairs: tuple[str, float]) -> list[ScoredChunk]:
    return [hit(chunk_id, score) for chunk_id, score in pairs]


def scores(fused: list[FusedCandidate]) -> dict[str, float]:
    return {candidate.chunk.chunk_id: candidate.score for candidate in fused}


def order(fused: list[FusedCandidate]) -> list[str]:
    return [candidate.chunk.chunk_id for candidate in fused]


def both(dense: list[ScoredChunk], sparse: list[ScoredChunk], config: FusionConfig = MINMAX) -> list[FusedCandidate]:
    return fuse(dense, sparse, config, dense_on=True, sparse_on=True)


# --- minmax -----------------------------------------------------------------------------------------------------------


def test_minmax_normalises_each_leg_and_weighs_them_equally_by_default() -> None:
    dense = legs(("a", 0.9), ("b", 0.5), ("c", 0.1))
    sparse = legs(("b", 12.0), ("c", 4.0), ("a", 2.0))

    fused = scores(both(dense, sparse))

    # dense normalised: a 1, b 0.5, c 0; sparse normalised: b 1, c 0.2, a 0.
    assert fused == pytest.approx({"a": 0.5, "b": 0.75, "c": 0.1})


@pytest.mark.parametrize(
    ("dense_weight", "expected"),
    [(0.0, {"a": 0.0, "b": 1.0}), (1.0, {"a": 1.0, "b": 0.0}), (0.8, {"a": 0.8, "b": 0.2})],
)
def test_minmax_dense_weight_moves_the_balance(dense_weight: float, expected: dict[str, float]) -> None:
    dense = legs(("a", 0.9), ("b", 0.3))
    sparse = legs(("b", 8.0), ("a", 1.0))

    fused = both(dense, sparse, FusionConfig(dense_weight=dense_weight))

    assert scores(fused) == pytest.approx(expected)


def test_minmax_a_chunk_missing_from_a_leg_gets_zero_from_it() -> None:
    dense = legs(("only-dense", 0.8), ("shared", 0.2))
    sparse = legs(("shared", 5.0), ("only-sparse", 1.0))

    fused = scores(both(dense, sparse))

    assert fused == pytest.approx({"only-dense": 0.5, "shared": 0.5, "only-sparse": 0.0})


def test_minmax_a_single_hit_leg_normalises_to_one() -> None:
    fused = both(legs(("a", 0.12)), legs(("b", 3.5)))

    assert scores(fused) == pytest.approx({"a": 0.5, "b": 0.5})
    assert {candidate.chunk.chunk_id: candidate.sparse_score for candidate in fused} == {"a": None, "b": 1.0}


def test_minmax_equal_scores_within_a_leg_all_normalise_to_one() -> None:
    fused = fuse(legs(("a", 0.4), ("b", 0.4)), [], MINMAX, dense_on=True, sparse_on=False)

    assert scores(fused) == {"a": 1.0, "b": 1.0}


def test_fusion_deduplicates_by_chunk_id_and_keeps_both_raw_signals() -> None:
    dense = legs(("x", 0.7), ("y", 0.1))
    sparse = legs(("y", 9.0), ("x", 3.0))

    fused = both(dense, sparse)

    assert sorted(order(fused)) == ["x", "y"]
    by_id = {candidate.chunk.chunk_id: candidate for candidate in fused}
    assert by_id["x"].dense_score == 0.7  # raw cosine
    assert by_id["x"].sparse_score == 0.0  # min-max normalised BM25
    assert by_id["y"].dense_score == 0.1
    assert by_id["y"].sparse_score == 1.0


def test_fusion_ties_keep_the_order_chunks_were_first_seen() -> None:
    # Every chunk fuses to 0.5: dense hits are seen first (in leg order), then sparse-only ones.
    dense = legs(("d1", 0.9), ("d2", 0.9))
    sparse = legs(("s1", 2.0), ("s2", 2.0))

    assert order(both(dense, sparse)) == ["d1", "d2", "s1", "s2"]
    assert order(both(list(reversed(dense)), list(reversed(sparse)))) == ["d2", "d1", "s2", "s1"]


def test_fusion_ranks_best_first() -> None:
    dense = legs(("a", 0.2), ("b", 0.9), ("c", 0.5))

    fused = fuse(dense, [], MINMAX, dense_on=True, sparse_on=False)

    assert order(fused) == ["b", "c", "a"]
    assert [candidate.score for candidate in fused] == pytest.approx([1.0, 0.42857, 0.0], abs=1e-5)


@pytest.mark.parametrize("dense_weight", [0.0, 0.3, 1.0])
def test_minmax_with_the_sparse_leg_off_uses_dense_alone_whatever_the_weight(dense_weight: float) -> None:
    config = FusionConfig(dense_weight=dense_weight)

    fused = fuse(legs(("a", 0.9), ("b", 0.5)), [], config, dense_on=True, sparse_on=False)

    assert scores(fused) == pytest.approx({"a": 1.0, "b": 0.0})


@pytest.mark.parametrize("dense_weight", [0.0, 0.7, 1.0])
def test_minmax_with_the_dense_leg_off_uses_sparse_alone_whatever_the_weight(dense_weight: float) -> None:
    config = FusionConfig(dense_weight=dense_weight)

    fused = fuse([], legs(("a", 4.0), ("b", 2.0), ("c", 1.0)), config, dense_on=False, sparse_on=True)

    assert scores(fused) == pytest.approx({"a": 1.0, "b": 1 / 3, "c": 0.0})


def test_fusion_of_two_empty_legs_is_empty() -> None:
    assert both([], []) == []
    assert both([], [], RRF) == []


def test_minmax_scores_stay_in_unit_interval_with_negative_cosines() -> None:
    fused = both(legs(("a", -0.2), ("b", -0.9)), legs(("b", 0.5)))

    # dense: a (the least negative) normalises to 1, b to 0; sparse: b to 1.
    assert scores(fused) == pytest.approx({"a": 0.5, "b": 0.5})
    assert all(0.0 <= candidate.score <= 1.0 for candidate in fused)


# --- rrf --------------------------------------------------------------------------------------------------------------


def test_rrf_first_in_both_legs_scores_exactly_one() -> None:
    dense = legs(("top", 0.9), ("x", 0.5))
    sparse = legs(("top", 7.0), ("y", 1.0))

    fused = both(dense, sparse, RRF)

    assert order(fused)[0] == "top"
    assert fused[0].score == pytest.approx(1.0)


def test_rrf_uses_ranks_not_raw_scores() -> None:
    k = 60
    dense = legs(("a", 0.99), ("b", 0.98), ("c", 0.01))
    sparse = legs(("c", 100.0), ("a", 99.0))

    fused = scores(both(dense, sparse, RRF))

    best = 2 / (k + 1)
    assert fused["a"] == pytest.approx((1 / (k + 1) + 1 / (k + 2)) / best)
    assert fused["b"] == pytest.approx((1 / (k + 2)) / best)
    assert fused["c"] == pytest.approx((1 / (k + 3) + 1 / (k + 1)) / best)


def test_rrf_scores_lie_in_the_unit_interval() -> None:
    dense = legs(*[(f"d{i}", 1 - i / 100) for i in range(50)])
    sparse = legs(*[(f"d{i}", 50.0 - i) for i in reversed(range(50))])

    fused = both(dense, sparse, RRF)

    assert all(0.0 < candidate.score <= 1.0 for candidate in fused)


def test_rrf_with_one_leg_off_normalises_against_that_leg_alone() -> None:
    fused = fuse(legs(("a", 0.3), ("b", 0.2)), [], RRF, dense_on=True, sparse_on=False)

    assert fused[0].score == pytest.approx(1.0)
    assert fused[1].score == pytest.approx(61 / 62)


def test_rrf_best_possible_is_one_so_a_hit_found_by_one_of_two_legs_scores_at_most_half() -> None:
    """Pinned: with both legs on, a chunk only one leg found (e.g. sparse found nothing) tops out at 0.5."""
    fused = both(legs(("a", 0.99)), [], RRF)

    assert fused[0].score == pytest.approx(0.5)


def test_rrf_k_changes_the_spread() -> None:
    dense = legs(("a", 0.9), ("b", 0.8))

    tight = fuse(dense, [], FusionConfig(method=FusionMethod.RRF, rrf_k=1), dense_on=True, sparse_on=False)
    loose = fuse(dense, [], FusionConfig(method=FusionMethod.RRF, rrf_k=1000), dense_on=True, sparse_on=False)

    assert tight[1].score == pytest.approx(2 / 3)
    assert loose[1].score == pytest.approx(1001 / 1002)


# --- configuration ----------------------------------------------------------------------------------------------------


def test_fusion_config_defaults() -> None:
    assert CONFIDENCE.method is FusionMethod.CONFIDENCE
    assert CONFIDENCE.dense_weight == 0.5
    assert CONFIDENCE.rrf_k == 60


@pytest.mark.parametrize("dense_weight", [-0.01, 1.01, 2.0])
def test_fusion_config_rejects_a_weight_outside_the_unit_interval(dense_weight: float) -> None:
    with pytest.raises(ValueError, match="dense_weight"):
        FusionConfig(dense_weight=dense_weight)


@pytest.mark.parametrize("dense_weight", [0.0, 1.0])
def test_fusion_config_accepts_the_weight_bounds(dense_weight: float) -> None:
    assert FusionConfig(dense_weight=dense_weight).dense_weight == dense_weight


@pytest.mark.parametrize("rrf_k", [0, -5])
def test_fusion_config_rejects_an_rrf_k_below_one(rrf_k: int) -> None:
    with pytest.raises(ValueError, match="rrf_k"):
        FusionConfig(method=FusionMethod.RRF, rrf_k=rrf_k)


def test_fusion_method_values_are_the_configuration_names() -> None:
    assert FusionMethod("confidence") is FusionMethod.CONFIDENCE
    assert FusionMethod("minmax") is FusionMethod.MINMAX
    assert FusionMethod("rrf") is FusionMethod.RRF


# --- the image leg ----------------------------------------------------------------------------------------------------


def test_minmax_image_leg_counts_as_dense_similarity() -> None:
    """An image found only by a query image scores like a passage found only by the query text."""
    fused = fuse(
        legs(("text", 0.8), ("both", 0.4)), legs(("text", 5.0), ("other", 1.0)), MINMAX,
        dense_on=True, sparse_on=True, image=legs(("photo", 0.9), ("both", 0.3)),
    )
    scores = {candidate.chunk.chunk_id: round(candidate.score, 4) for candidate in fused}
    # dense side: text 1.0, both max(0.0, 0.0); image side: photo 1.0, both 0.0; sparse: text 1.0, other 0.0
    assert scores == {"text": 1.0, "photo": 0.5, "both": 0.0, "other": 0.0}
    photo = next(candidate for candidate in fused if candidate.chunk.chunk_id == "photo")
    assert (photo.dense_score, photo.image_score, photo.sparse_score) == (None, 0.9, None)


def test_minmax_image_leg_alone_when_the_text_legs_found_nothing() -> None:
    fused = fuse([], [], MINMAX, dense_on=True, sparse_on=True, image=legs(("a", 0.9), ("b", 0.5)))
    assert [(c.chunk.chunk_id, round(c.score, 4)) for c in fused] == [("a", 0.5), ("b", 0.0)]


def test_rrf_image_leg_is_one_more_ranked_list() -> None:
    fused = fuse(
        legs(("a", 0.9)), legs(("a", 3.0)), RRF, dense_on=True, sparse_on=True, image=legs(("a", 0.7)),
    )
    assert [(c.chunk.chunk_id, round(c.score, 4)) for c in fused] == [("a", 1.0)]


def test_a_leg_of_equal_zero_similarities_is_no_evidence() -> None:
    """A query sharing nothing with any chunk gives cosines of 0; min-max must not turn that into full marks."""
    fused = fuse(legs(("a", 0.0), ("b", 0.0)), [], MINMAX, dense_on=True, sparse_on=True, image=legs(("b", 0.9)))
    assert [(c.chunk.chunk_id, round(c.score, 4)) for c in fused] == [("b", 0.5), ("a", 0.0)]


def test_rerankers_see_the_chunk_with_its_documents_title() -> None:
    from chalicelib.core.ports.search import StoredChunk
    from chalicelib.core.retrieval import rerank_text

    assert rerank_text(StoredChunk("c", "d", 0, "门票：免费", {"title": "故宫"})) == "故宫\n门票：免费"
    assert rerank_text(StoredChunk("c", "d", 0, "x", {"title": "T", "hier_title": "T > Prices"})) == "T > Prices\nx"
    assert rerank_text(StoredChunk("c", "d", 0, "Tent guide: poles", {"title": "Tent guide"})) == "Tent guide: poles"
    assert rerank_text(StoredChunk("c", "d", 0, "plain", {})) == "plain"


# --- confidence (the default) -----------------------------------------------------------------------------------------

PLATEAU = [(f"p{index}", 10.0 - index * 0.01) for index in range(8)] + [("low", 1.0)]  # near-equal scores at the top


def test_confidence_trusts_the_leg_whose_best_stands_out() -> None:
    # Dense: one clear winner; sparse: a plateau of near-equal BM25 scores (KdConv's triples of one entity).
    dense = legs(("d", 0.9), ("p3", 0.5), *((f"x{index}", 0.49 - index * 0.01) for index in range(6)))
    sparse = legs(*PLATEAU)

    fused = both(dense, sparse, CONFIDENCE)

    assert order(fused)[0] == "d"  # minmax 0.5 puts the plateau's top first: 0.5 + 0.5·0.0 < 0.5·1 + 0.5·(~1)
    assert order(both(dense, sparse, MINMAX))[0] == "p3"


def test_confidence_weight_is_the_prior_scaled_by_each_legs_gap_cubed() -> None:
    dense = legs(("a", 1.0), ("b", 0.5), ("c", 0.0))  # 3 hits: best 1, last 0 -> confidence 1
    sparse = legs(("b", 4.0), ("a", 3.0), ("c", 2.0))  # normalised b 1, a 0.5, c 0 -> confidence 1
    assert scores(both(dense, sparse, CONFIDENCE)) == pytest.approx(scores(both(dense, sparse, MINMAX)))

    six = legs(("a", 1.0), ("b", 0.9), ("c", 0.8), ("d", 0.7), ("e", 0.6), ("f", 0.5), ("g", 0.0))
    flat = legs(*((name, 2.0 - index * 0.001) for index, name in enumerate("gfedcba")))
    # dense: 6th best normalised 0.5 -> (1 - 0.5)^3 = 0.125; sparse: 6th best 1 - 5·0.001/0.006 -> (0.833)^3 = 0.579
    weight = 0.125 / (0.125 + (5 / 6) ** 3)
    fused = scores(both(six, flat, CONFIDENCE))
    assert fused["a"] == pytest.approx(weight * 1.0 + (1 - weight) * 0.0)
    assert fused["g"] == pytest.approx(weight * 0.0 + (1 - weight) * 1.0)


def test_confidence_dense_weight_is_a_prior() -> None:
    dense = legs(("a", 0.9), ("b", 0.3))
    sparse = legs(("b", 8.0), ("a", 1.0))
    for dense_weight, expected in ((0.0, {"a": 0.0, "b": 1.0}), (1.0, {"a": 1.0, "b": 0.0})):
        config = FusionConfig(method=FusionMethod.CONFIDENCE, dense_weight=dense_weight)
        assert scores(both(dense, sparse, config)) == pytest.approx(expected)


def test_confidence_falls_back_to_the_prior_when_neither_leg_is_sure() -> None:
    dense = legs(("a", 0.5), ("b", 0.5))  # all tied: normalised 1, 1 -> confidence 0
    sparse = legs(("b", 3.0), ("a", 3.0))
    assert scores(both(dense, sparse, CONFIDENCE)) == pytest.approx({"a": 1.0, "b": 1.0})


@pytest.mark.parametrize("dense_on", [True, False])
def test_confidence_with_one_leg_off_uses_the_other_alone(dense_on: bool) -> None:
    dense, sparse = legs(("a", 0.9), ("b", 0.1)), legs(("b", 5.0), ("a", 1.0))
    fused = fuse(dense if dense_on else [], [] if dense_on else sparse, CONFIDENCE, dense_on=dense_on,
                 sparse_on=not dense_on)
    assert order(fused)[0] == ("a" if dense_on else "b")
    assert fused[0].score == 1.0
