"""The ``SearchBackend`` contract: what every backend (embedded today, OpenSearch later) must do identically.

Tests in the first part take the parametrised ``backend`` fixture and speak only the protocol of
``chalicelib.core.ports.search``. The last part ("embedded backend: derived indexes") is specific to the embedded backend,
whose SQLite file is the store of record and whose tantivy and numpy indexes are derived from it.

Vectors are hand-made 4-dimensional ones or seeded numpy draws, so every expected ranking can be worked out by hand or
by a brute-force oracle.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chalicelib.api.search_filters import parse_search_filters
from chalicelib.core.filters import Group, matches
from chalicelib.core.ports.search import (
    ChunkRecord,
    DocumentRecord,
    DocumentStatus,
    RecallQuery,
    RecallResult,
    ScoredChunk,
    SearchBackend,
)
from chalicelib.search.embedded.backend import EmbeddedBackend
from chalicelib.search.embedded.store import SqliteStore

# --- helpers ----------------------------------------------------------------------------------------------------------


def document(
    doc_id: str,
    *,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    title: str = "",
    version: str = "v1",
    status: DocumentStatus = DocumentStatus.INDEXED,
) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id,
        name=name if name is not None else f"{doc_id}.txt",
        uri=f"s3://bucket/docs/{doc_id}.txt",
        content_type="text/plain",
        size=123,
        version=version,
        status=status,
        title=title,
        metadata=dict(metadata or {}),
        created_at="2025-01-01T00:00:00Z",
        updated_at="2025-01-02T00:00:00Z",
    )


def chunk(
    doc_id: str,
    position: int,
    text: str,
    vector: Sequence[float],
    *,
    metadata: Mapping[str, Any] | None = None,
    search_text: str | None = None,
) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=f"{doc_id}_{position}",
        doc_id=doc_id,
        position=position,
        text=text,
        search_text=text if search_text is None else search_text,
        vector=[float(value) for value in vector],
        metadata=dict(metadata or {}),
    )


def put(
    backend: SearchBackend,
    collection: str,
    doc_id: str,
    texts: Sequence[tuple[str, Sequence[float]]],
    **document_fields: Any,
) -> DocumentRecord:
    """Upsert one document whose chunks are ``(text, vector)`` pairs, at positions 0, 1, ..."""
    record = document(doc_id, **document_fields)
    backend.upsert_documents(
        collection, [(record, [chunk(doc_id, position, text, vector) for position, (text, vector) in enumerate(texts)])]
    )
    return record


def recall(
    backend: SearchBackend,
    collection: str,
    *,
    text: str = "",
    vector: Sequence[float] | None = None,
    dense: int = 0,
    sparse: int = 0,
    filters: Group | None = None,
) -> RecallResult:
    return backend.recall(collection, RecallQuery(text, vector, dense, sparse, filters))


def ids(hits: Sequence[ScoredChunk]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]


def sparse_ids(backend: SearchBackend, collection: str, text: str, k: int = 10) -> list[str]:
    return ids(recall(backend, collection, text=text, sparse=k).sparse)


def dense_ids(backend: SearchBackend, collection: str, vector: Sequence[float], k: int = 10) -> list[str]:
    return ids(recall(backend, collection, vector=vector, dense=k).dense)


def filters(raw: list[dict[str, Any]]) -> Group:
    tree = parse_search_filters(raw)
    assert tree is not None
    return tree


E1, E2, E3, E4 = [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]


# --- collections ------------------------------------------------------------------------------------------------------


def test_create_collection_twice_is_a_no_op_that_keeps_the_data(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "a", [("alpha text", E1)])

    backend.create_collection(collection, 4)

    assert backend.get_document(collection, "a") is not None
    assert backend.count_chunks(collection) == 1
    assert sparse_ids(backend, collection, "alpha") == ["a_0"]


def test_create_existing_collection_with_another_dimension_raises(backend: SearchBackend, collection: str) -> None:
    with pytest.raises(ValueError):
        backend.create_collection(collection, 8)


def test_deleted_collection_recalls_nothing_and_reports_nothing(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "a", [("alpha text", E1), ("beta text", E2)])

    backend.delete_collection(collection)

    # Pinned: every read on a deleted collection answers "empty" rather than raising.
    result = recall(backend, collection, text="alpha", vector=E1, dense=10, sparse=10)
    assert result.dense == [] and result.sparse == []
    assert backend.list_documents(collection, offset=0, limit=10) == ([], 0)
    assert backend.count_chunks(collection) == 0
    assert backend.get_document(collection, "a") is None
    assert backend.delete_document(collection, "a") is False


def test_delete_collection_is_idempotent_and_ignores_unknown_names(backend: SearchBackend, collection: str) -> None:
    backend.delete_collection(collection)
    backend.delete_collection(collection)
    backend.delete_collection("kb:ws_contract:never-created")


def test_recall_on_a_collection_that_never_existed_is_empty(backend: SearchBackend) -> None:
    result = recall(backend, "kb:ws_contract:never-created", text="alpha", vector=E1, dense=10, sparse=10)
    assert result.dense == [] and result.sparse == []


def test_recreated_collection_starts_empty(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "a", [("alpha text", E1)])
    assert sparse_ids(backend, collection, "alpha") == ["a_0"]  # the derived indexes are warm

    backend.delete_collection(collection)
    backend.create_collection(collection, 4)

    assert backend.count_chunks(collection) == 0
    assert sparse_ids(backend, collection, "alpha") == []
    assert dense_ids(backend, collection, E1) == []
    put(backend, collection, "b", [("bravo text", E2)])
    assert sparse_ids(backend, collection, "alpha bravo") == ["b_0"]
    assert dense_ids(backend, collection, E1) == ["b_0"]


def test_collections_are_isolated_even_with_the_same_ids(
    backend: SearchBackend, make_collection: Callable[[int], str]
) -> None:
    first, second = make_collection(4), make_collection(4)
    put(backend, first, "same", [("apple orchard", E1)])
    put(backend, second, "same", [("banana plantation", E2)])

    assert sparse_ids(backend, first, "apple banana") == ["same_0"]
    assert recall(backend, first, text="banana", sparse=10).sparse == []
    assert [hit.chunk.text for hit in recall(backend, second, vector=E1, dense=10).dense] == ["banana plantation"]

    assert backend.delete_document(first, "same") is True
    assert backend.get_document(second, "same") is not None
    assert sparse_ids(backend, second, "banana") == ["same_0"]

    backend.delete_collection(first)
    assert backend.count_chunks(second) == 1
    assert sparse_ids(backend, second, "banana") == ["same_0"]


# --- documents --------------------------------------------------------------------------------------------------------


def test_get_document_returns_what_was_written(backend: SearchBackend, collection: str) -> None:
    record = dataclasses.replace(
        document("d1", title="Pricing", metadata={"team": "search"}), reason="", chunk_count=99
    )
    backend.upsert_documents(collection, [(record, [chunk("d1", 0, "one", E1), chunk("d1", 1, "two", E2)])])

    stored = backend.get_document(collection, "d1")

    # chunk_count is what was actually written, whatever the record claimed.
    assert stored == dataclasses.replace(record, chunk_count=2)
    assert backend.get_document(collection, "missing") is None


def test_failed_and_empty_documents_are_listed_without_chunks(backend: SearchBackend, collection: str) -> None:
    failed = dataclasses.replace(document("f", status=DocumentStatus.FAILED), reason="cannot parse PDF")
    empty = document("e", status=DocumentStatus.EMPTY)
    backend.upsert_documents(collection, [(failed, []), (empty, [])])

    assert backend.get_document(collection, "f") == failed
    assert backend.get_document(collection, "e") == empty
    assert backend.count_chunks(collection) == 0
    assert backend.list_documents(collection, offset=0, limit=10)[1] == 2


def test_upsert_of_nothing_is_a_no_op(backend: SearchBackend, collection: str) -> None:
    backend.upsert_documents(collection, [])
    assert backend.list_documents(collection, offset=0, limit=10) == ([], 0)


def test_list_documents_orders_by_name_and_pages(backend: SearchBackend, collection: str) -> None:
    names = ["delta.pdf", "alpha.txt", "echo.md", "charlie.docx", "bravo.html"]
    for index, name in enumerate(names):
        put(backend, collection, f"doc{index}", [(f"text {index}", E1)], name=name)

    everything, total = backend.list_documents(collection, offset=0, limit=100)
    first_page, total_1 = backend.list_documents(collection, offset=0, limit=2)
    second_page, total_2 = backend.list_documents(collection, offset=2, limit=2)
    last_page, total_3 = backend.list_documents(collection, offset=4, limit=2)
    beyond, total_4 = backend.list_documents(collection, offset=10, limit=2)

    assert [record.name for record in everything] == sorted(names)
    assert total == total_1 == total_2 == total_3 == total_4 == 5
    assert [record.name for record in first_page] == ["alpha.txt", "bravo.html"]
    assert [record.name for record in second_page] == ["charlie.docx", "delta.pdf"]
    assert [record.name for record in last_page] == ["echo.md"]
    assert beyond == []


def test_reupsert_replaces_all_chunks_of_the_document(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "doc", [("alpha words", E1), ("bravo words", E2), ("charlie words", E3)], version="v1")
    put(backend, collection, "other", [("alpha bravo charlie neighbour", E4)])
    assert backend.count_chunks(collection) == 4
    assert set(sparse_ids(backend, collection, "bravo")) == {"doc_1", "other_0"}  # the sparse index is warm

    put(backend, collection, "doc", [("delta words", E2)], version="v2")

    assert backend.count_chunks(collection) == 2
    stored = backend.get_document(collection, "doc")
    assert stored is not None and stored.version == "v2" and stored.chunk_count == 1
    for old in ("alpha", "bravo", "charlie"):
        assert sparse_ids(backend, collection, old) == ["other_0"], old
    assert sparse_ids(backend, collection, "delta") == ["doc_0"]
    assert [hit.chunk.text for hit in recall(backend, collection, vector=E2, dense=10).dense][0] == "delta words"
    assert set(dense_ids(backend, collection, E1)) == {"doc_0", "other_0"}


def test_reupsert_with_the_same_chunk_ids_replaces_their_text(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "doc", [("original wording", E1)])
    assert sparse_ids(backend, collection, "original") == ["doc_0"]

    put(backend, collection, "doc", [("revised wording", E1)])

    assert sparse_ids(backend, collection, "original") == []
    assert [hit.chunk.text for hit in recall(backend, collection, text="wording", sparse=10).sparse] == [
        "revised wording"
    ]
    assert backend.count_chunks(collection) == 1


def test_upserting_one_document_leaves_the_others_alone(backend: SearchBackend, collection: str) -> None:
    backend.upsert_documents(
        collection,
        [
            (document("a"), [chunk("a", 0, "apple pie", E1)]),
            (document("b"), [chunk("b", 0, "banana bread", E2), chunk("b", 1, "banana split", E3)]),
        ],
    )
    put(backend, collection, "a", [("apricot jam", E1)])

    assert sorted(sparse_ids(backend, collection, "banana")) == ["b_0", "b_1"]
    assert backend.count_chunks(collection) == 3


def test_delete_document_reports_whether_it_existed_and_clears_both_legs(
    backend: SearchBackend, collection: str
) -> None:
    put(backend, collection, "gone", [("zebra stripes", E1), ("zebra crossing", E2)])
    put(backend, collection, "kept", [("zebra herd", E3)])
    assert set(sparse_ids(backend, collection, "zebra")) == {"gone_0", "gone_1", "kept_0"}
    assert set(dense_ids(backend, collection, E1)) == {"gone_0", "gone_1", "kept_0"}

    assert backend.delete_document(collection, "gone") is True
    assert backend.delete_document(collection, "gone") is False

    assert sparse_ids(backend, collection, "zebra") == ["kept_0"]
    assert dense_ids(backend, collection, E1) == ["kept_0"]
    assert backend.count_chunks(collection) == 1
    assert backend.get_document(collection, "gone") is None
    assert backend.list_documents(collection, offset=0, limit=10)[1] == 1


def test_unicode_and_nested_metadata_round_trip(backend: SearchBackend, collection: str) -> None:
    document_metadata = {
        "作者": "张三",
        "标签": ["数据", "检索", "🙂"],
        "nested": {"levels": [1, [2, 3], {"深": "层"}], "none": None, "flag": False},
        "price": 12.5,
        "count": 3,
    }
    chunk_metadata = {"分类": "新闻", "tags": [["a", "b"], ["c"]], "position": 0, "ratio": 0.25}
    record = document("unicode", name="阿里云百炼文档介绍.pdf", title="阿里云百炼文档", metadata=document_metadata)
    backend.upsert_documents(
        collection, [(record, [chunk("unicode", 0, "阿里云百炼平台介绍", E1, metadata=chunk_metadata)])]
    )

    stored = backend.get_document(collection, "unicode")
    assert stored is not None
    assert stored.metadata == document_metadata
    assert stored.name == "阿里云百炼文档介绍.pdf" and stored.title == "阿里云百炼文档"
    (hit,) = recall(backend, collection, text="阿里云", sparse=10).sparse
    assert hit.chunk.metadata == chunk_metadata
    assert hit.chunk.text == "阿里云百炼平台介绍"
    assert (hit.chunk.doc_id, hit.chunk.position) == ("unicode", 0)


def test_attributes_are_stored_and_returned_as_given(backend: SearchBackend, collection: str) -> None:
    attributes = {
        "Labels": [{"LabelName": "风景", "LabelConfidence": 0.9891784601980591}],
        "CustomId": "\t\nmember-image-id-0001",
        "EXIF": {"Compression": {"value": 6}},
        "OSSCRC64": 559890638950338000,
    }
    record = dataclasses.replace(document("photo"), attributes=attributes)
    backend.upsert_documents(collection, [(record, [chunk("photo", 0, "scenery", E1)])])
    stored = backend.get_document(collection, "photo")
    assert stored is not None and stored.attributes == attributes
    assert "Labels" not in recall(backend, collection, text="scenery", sparse=1).sparse[0].chunk.metadata


def test_document_vector_is_the_first_chunks_stored_vector(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "doc", [("first", [3.0, 4.0, 0.0, 0.0]), ("second", E3)])
    vector = backend.document_vector(collection, "doc")
    assert vector is not None
    norm = sum(value * value for value in vector) ** 0.5
    assert [round(value / norm, 4) for value in vector] == [0.6, 0.8, 0.0, 0.0]  # a backend may store it normalised
    assert backend.document_vector(collection, "missing") is None
    assert backend.document_vector("kb:ws_contract:never-created", "doc") is None


def test_get_documents_returns_the_existing_records_by_id(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "a", [("alpha", E1)])
    put(backend, collection, "b", [("beta", E2)], metadata={"k": "v"})
    found = backend.get_documents(collection, ["b", "missing", "a", "b"])
    assert set(found) == {"a", "b"}
    assert found["b"] == backend.get_document(collection, "b")
    assert backend.get_documents(collection, []) == {}
    assert backend.get_documents("kb:ws_contract:never-created", ["a"]) == {}


# --- dense leg --------------------------------------------------------------------------------------------------------


def test_dense_recall_matches_a_brute_force_cosine_oracle(
    backend: SearchBackend, make_collection: Callable[[int], str]
) -> None:
    rng = np.random.default_rng(20240601)
    count, dimension, k = 40, 16, 10
    # Rows of very different lengths: a backend ranking by raw dot product instead of cosine would fail.
    vectors = rng.normal(size=(count, dimension)) * rng.uniform(0.05, 20.0, size=(count, 1))
    collection = make_collection(dimension)
    backend.upsert_documents(
        collection,
        [(document(f"d{i:02d}"), [chunk(f"d{i:02d}", 0, f"text {i}", vectors[i])]) for i in range(count)],
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    for query in rng.normal(size=(5, dimension)):
        cosine = unit @ (query / np.linalg.norm(query))
        expected = [f"d{i:02d}_0" for i in np.argsort(-cosine, kind="stable")[:k]]

        hits = recall(backend, collection, vector=query.tolist(), dense=k).dense

        assert ids(hits) == expected
        for hit in hits:
            assert hit.score == pytest.approx(cosine[int(hit.chunk.doc_id[1:])], abs=1e-5)


def test_dense_scores_are_raw_cosines(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "same", [("same direction", [2.0, 0, 0, 0])])
    put(backend, collection, "opposite", [("opposite direction", [-3.0, 0, 0, 0])])
    put(backend, collection, "diagonal", [("diagonal", [1.0, 1.0, 0, 0])])

    hits = recall(backend, collection, vector=[0.5, 0, 0, 0], dense=10).dense

    assert [(hit.chunk.doc_id, round(hit.score, 5)) for hit in hits] == [
        ("same", 1.0),
        ("diagonal", round(1 / np.sqrt(2), 5)),
        ("opposite", -1.0),
    ]


def test_dense_top_k_is_respected_and_zero_switches_the_leg_off(backend: SearchBackend, collection: str) -> None:
    for index in range(6):
        put(backend, collection, f"d{index}", [(f"zebra {index}", [1.0, index / 10, 0, 0])])

    assert len(recall(backend, collection, vector=E1, dense=3).dense) == 3
    assert len(recall(backend, collection, vector=E1, dense=100).dense) == 6
    off = recall(backend, collection, text="zebra", vector=E1, dense=0, sparse=10)
    assert off.dense == [] and len(off.sparse) == 6
    no_vector = recall(backend, collection, text="zebra", vector=None, dense=10, sparse=10)
    assert no_vector.dense == [] and len(no_vector.sparse) == 6


# --- sparse leg -------------------------------------------------------------------------------------------------------


@pytest.fixture
def texts(backend: SearchBackend, collection: str) -> str:
    """A small mixed-language collection: one chunk per document, doc id == a short label."""
    corpus = {
        "zebra": "A zebra crossing guide for pedestrians",
        "zebra_only": "The zebra is an animal with stripes",
        "crossing": "Railway crossing safety rules",
        "runs": "The service runs every night",
        "cloud_zh": "阿里云百炼是一站式的大模型开发平台",
        "weather_zh": "今天天气很好，我们去公园散步",
        "mixed": "Model Studio 百炼 supports retrieval-augmented generation",
        "english_bailian": "Bailian is the English name of the platform",
    }
    backend.upsert_documents(
        collection, [(document(key), [chunk(key, 0, text, E1)]) for key, text in corpus.items()]
    )
    return collection


def test_sparse_ranks_the_chunk_matching_every_query_term_first(backend: SearchBackend, texts: str) -> None:
    result = sparse_ids(backend, texts, "zebra crossing")

    assert result[0] == "zebra_0"
    assert set(result) == {"zebra_0", "zebra_only_0", "crossing_0"}


def test_sparse_matching_ignores_case(backend: SearchBackend, texts: str) -> None:
    assert sparse_ids(backend, texts, "RAILWAY Safety") == ["crossing_0"]


def test_sparse_matching_stems_english(backend_name: str, backend: SearchBackend, texts: str) -> None:
    if backend_name == "opensearch-memory":
        pytest.skip("the in-memory node matches whole tokens; it does not run the index's English stemmer")
    assert sparse_ids(backend, texts, "running") == ["runs_0"]
    assert sparse_ids(backend, texts, "stripe") == ["zebra_only_0"]
    assert set(sparse_ids(backend, texts, "crossings")) == {"zebra_0", "crossing_0"}


def test_sparse_finds_chinese_by_bigrams(backend: SearchBackend, texts: str) -> None:
    assert sparse_ids(backend, texts, "阿里云") == ["cloud_zh_0"]
    assert sparse_ids(backend, texts, "天气") == ["weather_zh_0"]
    # Two characters that never appear next to each other in the collection match nothing.
    assert sparse_ids(backend, texts, "云天") == []


def test_sparse_handles_mixed_english_and_chinese(backend: SearchBackend, texts: str) -> None:
    mixed = sparse_ids(backend, texts, "百炼 retrieval")
    assert mixed[0] == "mixed_0"  # the only chunk holding both terms
    assert "cloud_zh_0" in mixed  # matches 百炼 alone
    assert set(sparse_ids(backend, texts, "Bailian 天气")) == {"english_bailian_0", "weather_zh_0"}


@pytest.mark.parametrize("query", ["", "   ", "?!,.", "\n\t"])
def test_sparse_with_an_empty_query_returns_nothing(backend: SearchBackend, texts: str, query: str) -> None:
    result = recall(backend, texts, text=query, vector=E1, dense=10, sparse=10)
    assert result.sparse == []
    assert len(result.dense) == 8  # the other leg is unaffected


def test_sparse_top_k_is_respected_and_zero_switches_the_leg_off(backend: SearchBackend, texts: str) -> None:
    assert len(sparse_ids(backend, texts, "zebra crossing", k=2)) == 2
    assert len(sparse_ids(backend, texts, "zebra crossing", k=1)) == 1
    off = recall(backend, texts, text="zebra", vector=E1, dense=10, sparse=0)
    assert off.sparse == [] and len(off.dense) == 8


def test_sparse_scores_are_positive_and_descending(backend: SearchBackend, texts: str) -> None:
    hits = recall(backend, texts, text="zebra crossing stripes", sparse=10).sparse
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


def test_sparse_matches_search_text_but_returns_text(backend: SearchBackend, collection: str) -> None:
    backend.upsert_documents(
        collection,
        [
            (
                document("priced", title="Pricing"),
                [chunk("priced", 0, "It costs five dollars.", E1, search_text="Pricing\nIt costs five dollars.")],
            )
        ],
    )

    (hit,) = recall(backend, collection, text="pricing", sparse=10).sparse
    assert hit.chunk.text == "It costs five dollars."


# --- filters --------------------------------------------------------------------------------------------------------


def test_filters_apply_inside_each_leg_not_after_it(backend: SearchBackend, collection: str) -> None:
    """With k=1 a post-filter would keep only the (non-matching) best hit and return nothing."""
    decoys = [
        (document(f"decoy{i:02d}"), [chunk(f"decoy{i:02d}", 0, "zebra zebra", [1.0, i / 100, 0, 0],
                                           metadata={"audience": "public"})])
        for i in range(30)
    ]
    target = (
        document("target"),
        [chunk("target", 0, "a long passage that mentions a zebra once among many other words", [0.2, 1.0, 0, 0],
               metadata={"audience": "internal"})],
    )
    backend.upsert_documents(collection, [*decoys, target])
    internal = filters([{"audience": "internal"}])

    unfiltered = recall(backend, collection, text="zebra", vector=E1, dense=31, sparse=31)
    assert ids(unfiltered.dense)[-1] == "target_0" and ids(unfiltered.sparse)[-1] == "target_0"

    filtered = recall(backend, collection, text="zebra", vector=E1, dense=1, sparse=1, filters=internal)
    assert ids(filtered.dense) == ["target_0"]
    assert ids(filtered.sparse) == ["target_0"]


def test_a_filter_matching_nothing_empties_both_legs(backend: SearchBackend, collection: str) -> None:
    put(backend, collection, "a", [("zebra", E1)], metadata={})
    backend.upsert_documents(collection, [(document("b"), [chunk("b", 0, "zebra", E1, metadata={"lang": "en"})])])

    result = recall(backend, collection, text="zebra", vector=E1, dense=10, sparse=10,
                    filters=filters([{"lang": "fr"}]))

    assert result.dense == [] and result.sparse == []


# A metadata-rich collection: missing fields, list values, numeric-looking strings, null, Chinese keys and values.
CATALOGUE: dict[str, dict[str, Any]] = {
    "c01": {"category": "news", "price": 5, "tags": ["python", "search"], "published": True, "title": "Retrieval news"},
    "c02": {"category": "news", "price": 49.5, "tags": ["rust"], "published": False, "title": "Rust weekly"},
    "c03": {"category": "blog", "price": 120, "tags": ["rust", "search"], "published": True,
            "title": "Dense retrieval deep dive"},
    "c04": {"category": "blog", "price": 10, "tags": ["python"], "published": True, "title": "Python tips"},
    "c05": {"category": "wiki", "price": 0, "tags": [], "published": False, "title": "BM25 explained"},
    "c06": {"category": "wiki", "price": 3.0, "title": "Tokenizers"},
    "c07": {"category": "blog", "price": 250, "tags": ["go"], "published": False, "title": "Go services"},
    "c08": {"分类": "新闻", "price": 75, "published": True, "title": "阿里云百炼发布"},
    "c09": {"分类": "博客", "price": 3, "tags": ["python", "rust"], "title": "混合检索 Retrieval"},
    "c10": {"category": "news", "price": "15", "title": "price stored as a string"},
    "c11": {"category": "NEWS", "price": None, "published": True, "title": "upper-case category"},
    "c12": {"category": ["news", "blog"], "price": 99, "title": "cross-posted"},
}

def _values(metadata: Mapping[str, Any], field: str) -> list[Any]:
    """A field's stored values: an array's elements, a single value, nothing when the field is absent."""
    if field not in metadata:
        return []
    value = metadata[field]
    return list(value) if isinstance(value, list) else [value]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has(metadata: Mapping[str, Any], field: str, *wanted: Any) -> bool:
    """Some stored value equals one of ``wanted``, like with like (a string never equals a number, nor 1 True)."""
    return any(type(value) is type(target) or (_number(value) and _number(target))
               for value in _values(metadata, field) for target in wanted if value == target)


def _numbers(metadata: Mapping[str, Any], field: str) -> list[float]:
    return [value for value in _values(metadata, field) if _number(value)]


def _contains(metadata: Mapping[str, Any], field: str, text: str) -> bool:
    return any(isinstance(value, str) and text.casefold() in value.casefold() for value in _values(metadata, field))


# Each filter with its oracle: the documented semantics written out as plain Python over the fixture metadata,
# independently of chalicelib.core.filters (which the embedded backend filters with), so the two can disagree.
FILTER_TABLE: dict[str, tuple[list[dict[str, Any]], Callable[[Mapping[str, Any]], bool]]] = {
    "eq": ([{"category": "news"}], lambda m: _has(m, "category", "news")),
    "eq-object": ([{"category": {"eq": "blog"}}], lambda m: _has(m, "category", "blog")),
    "neq": ([{"category": {"neq": "news"}}], lambda m: not _has(m, "category", "news")),
    "like": ([{"title": {"like": "RETRIEV"}}], lambda m: _contains(m, "title", "retriev")),
    "range": ([{"price": {"gte": 10, "lt": 100}}], lambda m: any(10 <= v < 100 for v in _numbers(m, "price"))),
    "gt": ([{"price": {"gt": 99}}], lambda m: any(v > 99 for v in _numbers(m, "price"))),
    "any-of": ([{"category": ["news", "wiki"]}], lambda m: _has(m, "category", "news", "wiki")),
    "any-of-on-lists": ([{"tags": ["go", "rust"]}], lambda m: _has(m, "tags", "go", "rust")),
    "number-equality": ([{"price": 3}], lambda m: _has(m, "price", 3)),
    "boolean": ([{"published": True}], lambda m: _has(m, "published", True)),
    "or-group": ([{"_operator": "OR", "category": "wiki", "price": {"gt": 200}}],
                 lambda m: _has(m, "category", "wiki") or any(v > 200 for v in _numbers(m, "price"))),
    "and-of-subgroups": ([{"category": "news"}, {"published": True}],
                         lambda m: _has(m, "category", "news") and _has(m, "published", True)),
    "nested-conditions": (
        [{"category": "blog", "_conditions": [{"price": {"gte": 100}}, {"tags": "python"}],
          "_conditions_operator": "OR"}],
        lambda m: _has(m, "category", "blog") and (any(v >= 100 for v in _numbers(m, "price"))
                                                   or _has(m, "tags", "python")),
    ),
    "nested-inheriting-or": (
        [{"_operator": "OR", "分类": "新闻", "_conditions": [{"tags": "go"}, {"price": 0}]}],
        lambda m: _has(m, "分类", "新闻") or _has(m, "tags", "go") or _has(m, "price", 0),
    ),
    "chinese-like": ([{"分类": {"like": "新"}}], lambda m: _contains(m, "分类", "新")),
}


@pytest.fixture
def catalogue(backend: SearchBackend, collection: str) -> str:
    rng = np.random.default_rng(7)
    backend.upsert_documents(
        collection,
        [
            (document(key), [chunk(key, 0, f"common words for {key}", rng.normal(size=4) + 0.1, metadata=metadata)])
            for key, metadata in CATALOGUE.items()
        ],
    )
    return collection


@pytest.mark.parametrize("name", FILTER_TABLE)
def test_filtered_recall_agrees_with_the_python_oracle(backend: SearchBackend, catalogue: str, name: str) -> None:
    raw, oracle = FILTER_TABLE[name]
    expected = {f"{key}_0" for key, metadata in CATALOGUE.items() if oracle(metadata)}
    assert 0 < len(expected) < len(CATALOGUE)  # the filter discriminates, so agreement means something

    result = recall(backend, catalogue, text="common", vector=[1.0, 1.0, 1.0, 1.0], dense=100, sparse=100,
                    filters=filters(raw))

    assert set(ids(result.dense)) == expected
    assert set(ids(result.sparse)) == expected


def test_filtered_recall_oracle_spot_checks() -> None:
    """Guards the oracle table itself against drifting into trivial filters (values worked out by hand), and the
    filter evaluator against the oracle."""
    def selected(name: str) -> set[str]:
        return {key for key, metadata in CATALOGUE.items() if FILTER_TABLE[name][1](metadata)}

    assert selected("eq") == {"c01", "c02", "c10", "c12"}
    assert selected("range") == {"c02", "c04", "c08", "c12"}
    assert selected("number-equality") == {"c06", "c09"}
    assert selected("nested-conditions") == {"c03", "c04", "c07"}
    assert selected("nested-inheriting-or") == {"c05", "c07", "c08"}
    for name, (raw, oracle) in FILTER_TABLE.items():
        tree = filters(raw)
        assert {key for key, m in CATALOGUE.items() if matches(tree, m)} == selected(name), name


# --- image index ------------------------------------------------------------------------------------------------------
# A collection created with an image dimension holds image chunks (text vector + image vector) beside text chunks; the
# image leg searches only image chunks, once per query image, keeping each chunk's best cosine.


def image_chunk(
    doc_id: str, text: str, image_vector: Sequence[float], *, metadata: Mapping[str, Any] | None = None
) -> ChunkRecord:
    return dataclasses.replace(
        chunk(doc_id, 0, text, E4, metadata=metadata), image_vector=[float(value) for value in image_vector]
    )


@pytest.fixture
def image_collection(backend: SearchBackend, make_collection: Callable[..., str]) -> str:
    name = make_collection(4, 3)
    backend.upsert_documents(name, [
        (document("cat"), [image_chunk("cat", "cat.png", [1.0, 0.0, 0.0], metadata={"kind": "pet"})]),
        (document("dog"), [image_chunk("dog", "dog.png", [0.8, 0.6, 0.0], metadata={"kind": "pet"})]),
        (document("car"), [image_chunk("car", "car.png", [0.0, 0.0, 1.0], metadata={"kind": "vehicle"})]),
        (document("notes"), [chunk("notes", 0, "cat care notes", E1)]),
    ])
    return name


def image_recall(
    backend: SearchBackend, collection: str, images: Sequence[Sequence[float]], k: int = 10,
    filters: Group | None = None,
) -> list[tuple[str, float]]:
    result = backend.recall(collection, RecallQuery("", None, 0, 0, filters, image_vectors=images, image_top_k=k))
    assert result.dense == [] and result.sparse == []
    return [(hit.chunk.chunk_id, round(hit.score, 4)) for hit in result.image]


def test_image_leg_ranks_image_chunks_by_cosine_and_ignores_text_chunks(
    backend: SearchBackend, image_collection: str
) -> None:
    assert image_recall(backend, image_collection, [[1.0, 0.0, 0.0]]) == [
        ("cat_0", 1.0), ("dog_0", 0.8), ("car_0", 0.0),
    ]


def test_image_leg_keeps_each_chunks_best_score_over_the_query_images(
    backend: SearchBackend, image_collection: str
) -> None:
    hits = image_recall(backend, image_collection, [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]], k=2)
    assert sorted(hits) == [("car_0", 1.0), ("cat_0", 1.0)]


def test_image_leg_applies_filters_and_top_k(backend: SearchBackend, image_collection: str) -> None:
    pets_only = filters([{"kind": "pet"}])
    assert image_recall(backend, image_collection, [[0.0, 0.6, 0.8]], filters=pets_only) == [
        ("dog_0", 0.36), ("cat_0", 0.0),
    ]
    assert image_recall(backend, image_collection, [[0.6, 0.8, 0.0]], k=1) == [("dog_0", 0.96)]


def test_image_leg_is_off_without_images_or_top_k(backend: SearchBackend, image_collection: str) -> None:
    assert image_recall(backend, image_collection, []) == []
    assert image_recall(backend, image_collection, [[1.0, 0.0, 0.0]], k=0) == []


def test_image_chunks_take_part_in_the_text_legs(backend: SearchBackend, image_collection: str) -> None:
    assert set(sparse_ids(backend, image_collection, "cat")) == {"notes_0", "cat_0"}
    assert dense_ids(backend, image_collection, E4, k=3)[0] in {"cat_0", "dog_0", "car_0"}


def test_deleting_an_image_document_removes_it_from_the_image_leg(
    backend: SearchBackend, image_collection: str
) -> None:
    assert backend.delete_document(image_collection, "cat")
    assert [hit for hit, _ in image_recall(backend, image_collection, [[1.0, 0.0, 0.0]])] == ["dog_0", "car_0"]


def test_collection_without_an_image_index_rejects_image_vectors(backend: SearchBackend, collection: str) -> None:
    with pytest.raises(ValueError):
        backend.upsert_documents(collection, [(document("cat"), [image_chunk("cat", "cat.png", [1.0, 0.0, 0.0])])])
    assert backend.get_document(collection, "cat") is None


def test_recreating_a_collection_with_another_image_dimension_raises(
    backend: SearchBackend, image_collection: str
) -> None:
    backend.create_collection(image_collection, 4, 3)  # same dimensions: a no-op
    with pytest.raises(ValueError):
        backend.create_collection(image_collection, 4, 5)


# --- embedded backend: derived indexes -------------------------------------------------------------------------------
# SQLite is the store of record; tantivy (``<dir>/tantivy``) and the numpy matrix are derived from it and must be
# rebuilt from it.

COLLECTION = "kb:ws_contract:embedded"
# A stale tantivy reader would show for ~0.5 s after another instance commits (tantivy reloads by itself after
# that); each test below repeats its scenario so it cannot pass by the reader's own reload on a slow machine.
STALE_READER_ATTEMPTS = 3
QUERIES: list[tuple[str, list[float]]] = [
    ("zebra crossing", E1),
    ("running services", E2),
    ("阿里云 平台", E3),
    ("Bailian 天气", [0.5, 0.5, 0.5, 0.5]),
]


def seed_embedded(backend: EmbeddedBackend) -> None:
    backend.create_collection(COLLECTION, 4)
    rows = {
        "zebra": ("A zebra crossing guide", [0.9, 0.1, 0.0, 0.1]),
        "runs": ("The service runs every night", [0.1, 0.9, 0.2, 0.0]),
        "cloud": ("阿里云百炼是一站式的大模型开发平台", [0.0, 0.2, 0.9, 0.1]),
        "weather": ("今天天气很好", [0.1, 0.0, 0.3, 0.9]),
        "mixed": ("Bailian 百炼 zebra services", [0.4, 0.4, 0.4, 0.4]),
    }
    backend.upsert_documents(
        COLLECTION, [(document(key), [chunk(key, 0, text, vector)]) for key, (text, vector) in rows.items()]
    )


def snapshot(backend: EmbeddedBackend) -> list[tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
    """Both legs' (chunk id, rounded score) lists for a fixed set of queries."""
    results = []
    for text, vector in QUERIES:
        result = recall(backend, COLLECTION, text=text, vector=vector, dense=10, sparse=10)
        results.append((
            [(hit.chunk.chunk_id, round(hit.score, 4)) for hit in result.dense],
            [(hit.chunk.chunk_id, round(hit.score, 4)) for hit in result.sparse],
        ))
    return results


def test_embedded_rebuilds_the_sparse_index_from_sqlite_when_its_directory_is_gone(tmp_path: Path) -> None:
    first = EmbeddedBackend(tmp_path)
    seed_embedded(first)
    before = snapshot(first)
    assert all(dense and sparse for dense, sparse in before)

    shutil.rmtree(tmp_path / "tantivy")
    rebuilt = EmbeddedBackend(tmp_path)

    assert snapshot(rebuilt) == before
    assert (tmp_path / "tantivy").is_dir()


def test_embedded_second_instance_on_the_same_directory_agrees(tmp_path: Path) -> None:
    first = EmbeddedBackend(tmp_path)
    seed_embedded(first)
    before = snapshot(first)

    assert snapshot(EmbeddedBackend(tmp_path)) == before


def test_embedded_instance_sees_a_sparse_index_built_by_another_instance(tmp_path: Path) -> None:
    # tantivy's reader reloads by itself about 0.5 s after a commit; repeating in fresh directories keeps this
    # (no-sleep) test from ever passing by luck on a slow machine.
    for attempt in range(STALE_READER_ATTEMPTS):
        directory = tmp_path / f"attempt{attempt}"
        writer = EmbeddedBackend(directory)
        seed_embedded(writer)  # writes only; the incremental sparse update is skipped (the index is not built yet)
        other = snapshot(EmbeddedBackend(directory))  # builds the tantivy index from SQLite

        assert snapshot(writer) == other


def test_embedded_live_instance_rebuilds_a_deleted_sparse_directory(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    seed_embedded(backend)
    before = snapshot(backend)

    shutil.rmtree(tmp_path / "tantivy")

    assert snapshot(backend) == before


def test_embedded_sparse_index_behind_sqlite_is_rebuilt_before_search(tmp_path: Path) -> None:
    """A write that reached SQLite but not tantivy (a crash between the two) is caught up on the next recall."""
    backend = EmbeddedBackend(tmp_path)
    seed_embedded(backend)
    assert sparse_ids(backend, COLLECTION, "okapi") == []

    # Write through a bare SqliteStore: SQLite's generation moves on, the tantivy marker does not.
    SqliteStore(tmp_path / "sift.db").upsert_document(
        COLLECTION, document("late"), [chunk("late", 0, "an okapi arrives late", E4)]
    )

    assert sparse_ids(backend, COLLECTION, "okapi") == ["late_0"]
    assert dense_ids(backend, COLLECTION, E4, k=1) == ["late_0"]


def test_embedded_dense_leg_catches_up_with_another_instance(tmp_path: Path) -> None:
    reader = EmbeddedBackend(tmp_path)
    seed_embedded(reader)
    assert dense_ids(reader, COLLECTION, E4, k=1) == ["weather_0"]  # the dense snapshot is warm

    writer = EmbeddedBackend(tmp_path)
    put(writer, COLLECTION, "late", [("an okapi arrives late", [0, 0, 0, 5.0])])
    assert dense_ids(reader, COLLECTION, E4, k=1) == ["late_0"]

    writer.delete_document(COLLECTION, "late")
    assert dense_ids(reader, COLLECTION, E4, k=1) == ["weather_0"]


def test_embedded_sparse_leg_catches_up_with_another_instance(tmp_path: Path) -> None:
    reader = EmbeddedBackend(tmp_path)
    seed_embedded(reader)
    writer = EmbeddedBackend(tmp_path)

    for round_ in range(STALE_READER_ATTEMPTS):
        assert sparse_ids(reader, COLLECTION, f"okapi{round_}") == []  # the reader is warm
        put(writer, COLLECTION, f"late{round_}", [(f"okapi{round_} arrives late", E4)])
        assert sparse_ids(reader, COLLECTION, f"okapi{round_}") == [f"late{round_}_0"]


def test_embedded_stale_sparse_reader_never_returns_an_unrelated_chunk(tmp_path: Path) -> None:
    for attempt in range(STALE_READER_ATTEMPTS):
        directory = tmp_path / f"attempt{attempt}"
        reader = EmbeddedBackend(directory)
        reader.create_collection(COLLECTION, 4)
        put(reader, COLLECTION, "pets", [("the dog runs fast", E1)])
        assert sparse_ids(reader, COLLECTION, "dog") == ["pets_0"]

        # One commit: the document is rewritten and its new chunk takes the freed integer key.
        put(EmbeddedBackend(directory), COLLECTION, "pets", [("cats sleep all day", E4)])

        assert [hit.chunk.text for hit in recall(reader, COLLECTION, text="dog", sparse=10).sparse] == []


def test_embedded_dense_leg_notices_a_collection_recreated_by_another_instance(tmp_path: Path) -> None:
    reader = EmbeddedBackend(tmp_path)
    reader.create_collection(COLLECTION, 4)
    put(reader, COLLECTION, "old", [("the dog runs fast", E1)])
    assert dense_ids(reader, COLLECTION, E1) == ["old_0"]

    writer = EmbeddedBackend(tmp_path)
    writer.delete_collection(COLLECTION)
    writer.create_collection(COLLECTION, 4)
    put(writer, COLLECTION, "new", [("cats sleep all day", E4)])

    hits = recall(reader, COLLECTION, vector=E1, dense=10).dense
    assert [(hit.chunk.chunk_id, round(hit.score, 4)) for hit in hits] == [("new_0", 0.0)]


def test_embedded_upsert_into_a_missing_collection_raises_and_writes_nothing(tmp_path: Path) -> None:
    """Pinned current behaviour: the raw SQLite foreign-key error escapes (no friendlier error type exists)."""
    backend = EmbeddedBackend(tmp_path)

    with pytest.raises(sqlite3.IntegrityError):
        put(backend, "kb:ws_contract:missing", "a", [("alpha", E1)])

    assert backend.get_document("kb:ws_contract:missing", "a") is None
    assert backend.count_chunks("kb:ws_contract:missing") == 0


def test_embedded_rejects_a_vector_of_the_wrong_dimension_atomically(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    seed_embedded(backend)
    before = snapshot(backend)

    with pytest.raises(ValueError):
        put(backend, COLLECTION, "zebra", [("replacement", E1), ("bad", [1.0, 0.0])])

    assert snapshot(backend) == before
    stored = backend.get_document(COLLECTION, "zebra")
    assert stored is not None and stored.chunk_count == 1
