"""Local models: the hashing embedder, the embedding cache, the local reranker and the context rewriter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from chalicelib.core.ports.models import ChatMessage, RerankCandidate, RerankMode, RerankRequest
from chalicelib.models.cache import CachingEmbedder
from chalicelib.models.local import HashingEmbedder
from chalicelib.models.local_rerank import FAMILIES, LocalReranker
from chalicelib.models.local_rewrite import ContextRewriter


def cosine(left: Sequence[float], right: Sequence[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right))
    norms = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
    return dot / norms if norms else 0.0


def norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


# --- HashingEmbedder --------------------------------------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_across_instances() -> None:
    text = "Sift retrieves chunks 阿里云百炼"
    assert HashingEmbedder().embed_query(text) == HashingEmbedder().embed_query(text)
    assert HashingEmbedder().embed_documents([text, "other"]) == HashingEmbedder().embed_documents([text, "other"])


@pytest.mark.parametrize("dimension", [8, 64, 256, 384])
def test_hashing_embedder_has_the_requested_dimension_and_unit_norm(dimension: int) -> None:
    embedder = HashingEmbedder(dimension)

    vector = embedder.embed_query("a reasonably long sentence with several different words in it")

    assert embedder.dimension == dimension
    assert len(vector) == dimension
    assert norm(vector) == pytest.approx(1.0)
    assert embedder.name == f"sift/hashing-{dimension}"


def test_hashing_embedder_documents_and_queries_share_one_space() -> None:
    embedder = HashingEmbedder()
    texts = ["first text", "second text", "阿里云"]
    assert embedder.embed_documents(texts) == [embedder.embed_query(text) for text in texts]
    assert embedder.embed_documents([]) == []


def test_hashing_embedder_ignores_case_and_punctuation() -> None:
    embedder = HashingEmbedder()
    assert embedder.embed_query("Hello, World!") == embedder.embed_query("hello world")


def test_hashing_embedder_of_text_without_words_is_the_zero_vector() -> None:
    """Pinned: nothing to hash gives an all-zero (not normalised) vector."""
    assert HashingEmbedder(16).embed_query(" ,.!? ") == [0.0] * 16


def test_hashing_embedder_puts_similar_texts_closer_than_unrelated_ones() -> None:
    embedder = HashingEmbedder()
    anchor = embedder.embed_query("the quick brown fox jumps over the lazy dog")
    similar = embedder.embed_query("a quick brown fox jumped over a lazy dog")
    unrelated = embedder.embed_query("quarterly revenue report for the finance committee")

    assert cosine(anchor, similar) > cosine(anchor, unrelated)
    assert cosine(anchor, similar) > 0.5


def test_hashing_embedder_relates_chinese_texts_sharing_characters() -> None:
    embedder = HashingEmbedder()
    anchor = embedder.embed_query("阿里云百炼平台介绍")
    similar = embedder.embed_query("阿里云百炼是什么")
    unrelated = embedder.embed_query("今天天气很好")

    assert cosine(anchor, similar) > cosine(anchor, unrelated)


# --- CachingEmbedder --------------------------------------------------------------------------------------------------


class CountingEmbedder:
    """A real ``Embedder``: vectors derived from the text, and a record of every text that reached it."""

    def __init__(self, name: str = "fake/counting", dimension: int = 3) -> None:
        self._name = name
        self._dimension = dimension
        self.document_texts: list[str] = []
        self.query_texts: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str, kind: float) -> list[float]:
        # Values exactly representable in float32, so cached and fresh vectors compare equal.
        return [float(len(text)), float(sum(map(ord, text)) % 97), kind][: self._dimension]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.document_texts.extend(texts)
        return [self._vector(text, 1.0) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        self.query_texts.append(text)
        return self._vector(text, 2.0)


def test_cache_answers_repeated_texts_without_the_inner_embedder(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cache = CachingEmbedder(inner, tmp_path / "cache.db")

    first = cache.embed_documents(["alpha", "beta"])
    second = cache.embed_documents(["beta", "gamma", "alpha"])

    assert inner.document_texts == ["alpha", "beta", "gamma"]
    assert second == [first[1], inner._vector("gamma", 1.0), first[0]]


def test_cache_answers_repeated_queries_without_the_inner_embedder(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cache = CachingEmbedder(inner, tmp_path / "cache.db")

    assert cache.embed_query("what is sift?") == cache.embed_query("what is sift?")
    assert inner.query_texts == ["what is sift?"]


def test_cache_keeps_query_and_document_vectors_apart(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    cache = CachingEmbedder(inner, tmp_path / "cache.db")

    as_document = cache.embed_documents(["same text"])[0]
    as_query = cache.embed_query("same text")

    assert inner.document_texts == ["same text"] and inner.query_texts == ["same text"]
    assert as_document != as_query
    assert cache.embed_documents(["same text"])[0] == as_document
    assert cache.embed_query("same text") == as_query
    assert len(inner.document_texts) == 1 and len(inner.query_texts) == 1


def test_cache_persists_across_instances_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "cache.db"
    first = CachingEmbedder(CountingEmbedder(), path)
    documents = first.embed_documents(["one", "two"])
    query = first.embed_query("three")

    inner = CountingEmbedder()
    second = CachingEmbedder(inner, path)

    assert second.embed_documents(["two", "one"]) == [documents[1], documents[0]]
    assert second.embed_query("three") == query
    assert inner.document_texts == [] and inner.query_texts == []


def test_cache_keys_include_the_model_name(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    CachingEmbedder(CountingEmbedder("model-a"), path).embed_documents(["shared"])

    other = CountingEmbedder("model-b")
    CachingEmbedder(other, path).embed_documents(["shared"])

    assert other.document_texts == ["shared"]


def test_cache_delegates_name_and_dimension(tmp_path: Path) -> None:
    cache = CachingEmbedder(CountingEmbedder("fake/x", 2), tmp_path / "cache.db")
    assert (cache.name, cache.dimension) == ("fake/x", 2)


def test_cache_of_no_texts_does_not_call_the_inner_embedder(tmp_path: Path) -> None:
    inner = CountingEmbedder()
    assert CachingEmbedder(inner, tmp_path / "cache.db").embed_documents([]) == []
    assert inner.document_texts == []


def test_cache_serves_float32_vectors(tmp_path: Path) -> None:
    """Pinned: vectors are stored as float32, so a cache hit is the fresh vector rounded to float32 precision."""
    cache = CachingEmbedder(HashingEmbedder(8), tmp_path / "cache.db")
    fresh = cache.embed_query("zebra crossing guide")
    cached = cache.embed_query("zebra crossing guide")

    assert cached == pytest.approx(fresh, abs=1e-7)


def test_cache_wraps_the_hashing_embedder_transparently(tmp_path: Path) -> None:
    embedder = HashingEmbedder(32)
    cache = CachingEmbedder(embedder, tmp_path / "cache.db")
    texts = ["first", "second 阿里云"]

    for _ in range(2):
        for got, expected in zip(cache.embed_documents(texts), embedder.embed_documents(texts)):
            assert got == pytest.approx(expected, abs=1e-7)


# --- LocalReranker ----------------------------------------------------------------------------------------------------


def candidate(
    text: str, *, dense: float | None = 0.5, sparse: float | None = 0.5, fused: float = 0.5
) -> RerankCandidate:
    return RerankCandidate(text=text, dense_score=dense, sparse_score=sparse, fused_score=fused)


ALL_SETTINGS = [(family, mode) for family in sorted(FAMILIES) for mode in RerankMode]


@pytest.mark.parametrize(("family", "mode"), ALL_SETTINGS)
def test_reranker_scores_stay_in_the_unit_interval(family: str, mode: RerankMode) -> None:
    reranker = LocalReranker(family)
    request = RerankRequest("warranty battery", mode, instruction="battery")
    candidates = [
        candidate("warranty battery details", dense=1.0, fused=1.0),
        candidate("nothing relevant", dense=-0.9, sparse=None, fused=0.0),
        candidate("warranty", dense=None, sparse=None, fused=0.3),
        candidate("", dense=0.2, fused=1.5),  # out-of-range inputs are still clamped
    ]

    scores = reranker.rerank(request, candidates)

    assert len(scores) == len(candidates)
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores[0] == pytest.approx(1.0)


def test_reranker_of_no_candidates_is_empty() -> None:
    assert LocalReranker().rerank(RerankRequest("anything"), []) == []


@pytest.mark.parametrize(
    ("family", "mode"),
    [setting for setting in ALL_SETTINGS if FAMILIES[setting[0]][setting[1]].coverage > 0],
)
def test_reranker_prefers_the_candidate_holding_the_query_terms_all_else_equal(family: str, mode: RerankMode) -> None:
    request = RerankRequest("how long is the warranty", mode, instruction="answer briefly")

    covering, other = LocalReranker(family).rerank(
        request, [candidate("The warranty lasts two years."), candidate("The battery lasts two hours.")]
    )

    assert covering > other


def test_semantic_similar_mode_ignores_the_text() -> None:
    """Pinned: ``semantic`` in ``similar`` mode gives query-term coverage no weight at all."""
    request = RerankRequest("warranty", RerankMode.SIMILAR)
    scores = LocalReranker("semantic").rerank(request, [candidate("warranty"), candidate("battery")])
    assert scores[0] == scores[1]


def test_reranker_matches_plural_s_and_chinese_bigrams() -> None:
    reranker = LocalReranker()

    english = reranker.rerank(RerankRequest("trials"), [candidate("a vaccine trial"), candidate("a drug test")])
    chinese = reranker.rerank(RerankRequest("阿里云"), [candidate("阿里云百炼平台"), candidate("今天天气很好")])

    assert english[0] > english[1]
    assert chinese[0] > chinese[1]


def test_reranker_matches_vaccines_with_vaccine_as_documented() -> None:
    covering, other = LocalReranker().rerank(
        RerankRequest("vaccines"), [candidate("a vaccine trial"), candidate("a drug trial")]
    )
    assert covering > other


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_similar_mode_weighs_dense_similarity_more_than_qa_mode(family: str) -> None:
    close = candidate("warranty terms", dense=0.9, sparse=None, fused=0.3)
    fused_favourite = candidate("warranty terms", dense=0.1, sparse=None, fused=0.6)
    reranker = LocalReranker(family)

    qa = reranker.rerank(RerankRequest("warranty", RerankMode.QA), [close, fused_favourite])
    similar = reranker.rerank(RerankRequest("warranty", RerankMode.SIMILAR), [close, fused_favourite])

    # Moving from qa to similar, the semantically close candidate gains on the fused favourite.
    assert similar[0] - similar[1] > qa[0] - qa[1]


def test_hybrid_qa_and_similar_order_the_same_candidates_differently() -> None:
    close = candidate("warranty", dense=0.9, sparse=None, fused=0.3)
    fused_favourite = candidate("warranty", dense=0.1, sparse=None, fused=0.65)
    reranker = LocalReranker("hybrid")

    qa = reranker.rerank(RerankRequest("warranty", RerankMode.QA), [close, fused_favourite])
    similar = reranker.rerank(RerankRequest("warranty", RerankMode.SIMILAR), [close, fused_favourite])

    assert qa[1] > qa[0]
    assert similar[0] > similar[1]


def test_semantic_family_leans_on_dense_similarity_more_than_hybrid() -> None:
    close = candidate("warranty", dense=0.9, sparse=None, fused=0.3)
    fused_favourite = candidate("warranty", dense=0.1, sparse=None, fused=0.65)
    request = RerankRequest("warranty", RerankMode.QA)

    hybrid = LocalReranker("hybrid").rerank(request, [close, fused_favourite])
    semantic = LocalReranker("semantic").rerank(request, [close, fused_favourite])

    assert hybrid[1] > hybrid[0]
    assert semantic[0] > semantic[1]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_custom_mode_rewards_covering_the_instruction(family: str) -> None:
    candidates = [candidate("the warranty covers the battery"), candidate("the warranty covers the screen")]
    custom = RerankRequest("warranty", RerankMode.CUSTOM, instruction="prefer passages about the battery")
    qa_with_instruction = RerankRequest("warranty", RerankMode.QA, instruction="prefer passages about the battery")

    battery, screen = LocalReranker(family).rerank(custom, candidates)
    qa_battery, qa_screen = LocalReranker(family).rerank(qa_with_instruction, candidates)

    assert battery > screen
    assert qa_battery == qa_screen  # the instruction is used only in custom mode, as documented


def test_a_candidate_the_dense_leg_missed_counts_as_the_least_close() -> None:
    # Cosines are normalised over the candidates the dense leg found, as fusion does: e5's raw cosines all lie in
    # ~0.75-0.9, so a raw cosine would reward being found rather than being close.
    least, missed, closest = LocalReranker().rerank(
        RerankRequest("x"), [candidate("y", dense=0.78), candidate("y", dense=None), candidate("y", dense=0.86)]
    )
    assert least == missed < closest
    weights = FAMILIES["hybrid"][RerankMode.QA]
    assert closest - least == pytest.approx(weights.dense / (1 + weights.dense + weights.coverage))


def test_a_query_term_every_candidate_holds_weighs_less_than_a_rare_one() -> None:
    texts = ["tent", "warranty", "tent poles", "tent pegs", "tent fly", "tent care"]
    scores = LocalReranker().rerank(RerankRequest("tent warranty"), [candidate(text) for text in texts])
    # Plain coverage would tie "tent" and "warranty" (one of two terms each); "warranty" is the one that discriminates.
    assert scores[1] > scores[0]
    assert scores[0] == max(scores[2:])


def test_the_local_reranker_reorders_as_many_candidates_as_a_retrieve_can_return() -> None:
    assert LocalReranker().depth == LocalReranker("semantic").depth == 20  # RerankTopN's maximum


def test_unknown_reranker_family_raises() -> None:
    with pytest.raises(ValueError, match="hybrid"):
        LocalReranker("cross-encoder")


def test_reranker_names_identify_the_family() -> None:
    assert LocalReranker("hybrid").name == "sift/local-hybrid-reranker"
    assert LocalReranker("semantic").name == "sift/local-semantic-reranker"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_mode_keeps_the_fused_score_and_similar_leans_on_the_dense_one(family: str) -> None:
    weights = FAMILIES[family]
    assert all(weight.dense >= 0 and weight.coverage >= 0 for weight in weights.values())
    assert weights[RerankMode.SIMILAR].dense > weights[RerankMode.QA].dense
    assert weights[RerankMode.SIMILAR].coverage < weights[RerankMode.QA].coverage


# --- ContextRewriter --------------------------------------------------------------------------------------------------

PRODUCT_CHAT = [
    ChatMessage("user", "Tell me about the Acme X200 vacuum cleaner"),
    ChatMessage("assistant", "The Acme X200 is a cordless vacuum."),
]


def appended(query: str, rewritten: str) -> list[str]:
    assert rewritten.startswith(query)
    return rewritten[len(query) :].split()


def test_rewriter_gives_a_follow_up_the_subject_from_history() -> None:
    query = "what about its warranty?"

    added = appended(query, ContextRewriter().rewrite(PRODUCT_CHAT, query))

    assert {"acme", "x200", "vacuum"} <= set(added)
    assert not {"the", "about", "is", "a", "tell", "me"} & set(added)  # stop words and one-letter words stay out


def test_rewriter_leaves_a_question_without_history_unchanged() -> None:
    assert ContextRewriter().rewrite([], "How long is the warranty?") == "How long is the warranty?"


def test_rewriter_leaves_a_self_contained_question_unchanged_apart_from_new_context_words() -> None:
    query = "How long is the Acme X200 vacuum warranty?"

    added = appended(query, ContextRewriter().rewrite(PRODUCT_CHAT, query))

    # Only words the question does not have, from the user's turn; assistant turns are a fallback, unused here.
    assert set(added) == {"cleaner"}


def test_rewriter_falls_back_to_assistant_turns_when_the_user_named_nothing_new() -> None:
    history = [ChatMessage("user", "price?"), ChatMessage("assistant", "The Zephyr router costs 99 dollars.")]
    added = appended("price?", ContextRewriter().rewrite(history, "price?"))
    assert added == ["zephyr", "router", "costs", "99", "dollars"]


def test_rewriter_adds_each_word_once() -> None:
    history = [ChatMessage("user", "zephyr router zephyr"), ChatMessage("assistant", "The Zephyr router is fast.")]
    added = appended("price?", ContextRewriter().rewrite(history, "price?"))
    assert sorted(added) == ["router", "zephyr"]


@pytest.mark.parametrize("budget", [0, 1, 2, 3])
def test_rewriter_respects_its_word_budget(budget: int) -> None:
    query = "what about its warranty?"

    rewritten = ContextRewriter(budget=budget).rewrite(PRODUCT_CHAT, query)

    assert len(appended(query, rewritten)) == budget
    if budget == 0:
        assert rewritten == query


def test_rewriter_reads_only_the_most_recent_turns() -> None:
    history = [
        ChatMessage("user", "Tell me about the Zephyr router"),
        ChatMessage("assistant", "Zephyr supports mesh networking."),
        ChatMessage("user", "And the Acme X200 vacuum?"),
        ChatMessage("assistant", "It is cordless."),
    ]

    added = appended("price?", ContextRewriter(turns=2).rewrite(history, "price?"))

    assert set(added) == {"acme", "x200", "vacuum"}


def test_rewriter_uses_chinese_history() -> None:
    history = [ChatMessage("user", "阿里云百炼是什么？"), ChatMessage("assistant", "它是一个大模型开发平台。")]

    rewritten = ContextRewriter().rewrite(history, "它怎么收费？")

    assert rewritten.startswith("它怎么收费？ ")
    assert "阿里云百炼" in rewritten
    # CJK context is appended as whole runs (clauses) from the user's turn; the assistant's turn is a fallback.
    assert appended("它怎么收费？", rewritten) == ["阿里云百炼是什么"]


def test_rewriter_name() -> None:
    assert ContextRewriter().name == "sift/context-rewriter"


def test_rewriter_does_not_repeat_a_chinese_subject_the_question_already_has() -> None:
    history = [ChatMessage("user", "阿里云百炼")]
    assert ContextRewriter().rewrite(history, "阿里云百炼怎么样") == "阿里云百炼怎么样"


def test_rewriter_budget_bounds_chinese_characters_too() -> None:
    history = [ChatMessage("user", "一二三四五六七八九十" * 10)]
    rewritten = ContextRewriter(budget=3).rewrite(history, "问")
    assert len(rewritten) - len("问 ") <= 3


def test_rewriter_prefers_the_user_turn_of_the_latest_exchange() -> None:
    history = [ChatMessage("user", "Tell me about the Zephyr router"), ChatMessage("assistant", "It supports mesh.")]
    assert ContextRewriter(budget=1).rewrite(history, "price?") == "price? zephyr"
