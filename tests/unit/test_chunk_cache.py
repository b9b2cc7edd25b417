"""The embedded backend's chunk cache: a recalled chunk is built once until its collection changes, within a budget."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from chalicelib.core.ports.search import ChunkRecord, RecallQuery, StoredChunk
from chalicelib.search.embedded.backend import EmbeddedBackend
from chalicelib.search.embedded.chunk_cache import ChunkCache
from tests.contract.test_backend_contract import document


class CountingBuilds:
    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.builds: list[list[int]] = []

    def __call__(self, keys: Sequence[int]) -> dict[int, StoredChunk]:
        self.builds.append(list(keys))
        return {key: StoredChunk(f"c{key}", "d", key, self.texts[key], {}) for key in keys if key in self.texts}


def texts(found: dict[int, StoredChunk]) -> dict[int, str]:
    return {key: chunk.text for key, chunk in found.items()}


def test_a_chunk_is_built_once_and_a_missing_key_is_left_out() -> None:
    source = CountingBuilds({1: "one", 2: "two"})
    cache = ChunkCache()
    assert texts(cache.get("c", 5, [1, 2, 3], source)) == {1: "one", 2: "two"}
    again = cache.get("c", 5, [2, 1], source)
    assert texts(again) == {2: "two", 1: "one"} and source.builds == [[1, 2, 3]]
    assert cache.get("c", 5, [1], source)[1] is again[1]  # the same object, not a copy
    assert cache.get("c", 5, [3], source) == {} and source.builds[-1] == [3]  # a missing key is never cached


def test_a_new_generation_drops_the_collections_chunks_only() -> None:
    source = CountingBuilds({1: "one"})
    cache = ChunkCache()
    cache.get("a", 1, [1], source)
    cache.get("b", 1, [1], source)
    source.texts[1] = "rewritten"
    assert texts(cache.get("a", 2, [1], source)) == {1: "rewritten"}
    assert texts(cache.get("b", 1, [1], source)) == {1: "one"}
    assert len(source.builds) == 3


def test_the_budget_evicts_the_least_recently_used() -> None:
    source = CountingBuilds({key: "x" * 10 for key in range(5)})
    cache = ChunkCache(budget_chars=30)
    cache.get("c", 1, [0, 1, 2], source)
    cache.get("c", 1, [0], source)  # 0 is now the most recent
    cache.get("c", 1, [3], source)  # over budget: 1 goes
    source.builds.clear()
    cache.get("c", 1, [0, 2, 3], source)
    assert source.builds == []
    cache.get("c", 1, [1], source)
    assert source.builds == [[1]]


def test_recall_sees_a_rewrite_made_through_another_backend(tmp_path: Path) -> None:
    """Two backends on one directory (two processes, in effect): a chunk rewritten by one is read anew by the other."""
    reader, writer = EmbeddedBackend(tmp_path), EmbeddedBackend(tmp_path)
    reader.create_collection("c", 2)

    def write(text: str) -> None:
        writer.upsert_documents("c", [(document("d"), [ChunkRecord("d_0", "d", 0, text, text, [1.0, 0.0], {"k": 1})])])

    write("first words")
    assert [hit.chunk.text for hit in reader.recall("c", RecallQuery("words", [1.0, 0.0], 5, 5)).dense] == ["first words"]
    write("second words")
    recalled = reader.recall("c", RecallQuery("words", [1.0, 0.0], 5, 5))
    assert [hit.chunk.text for hit in recalled.dense] == [hit.chunk.text for hit in recalled.sparse] == ["second words"]
    assert dict(recalled.dense[0].chunk.metadata) == {"k": 1}


def test_a_sparse_index_deleted_under_a_running_backend_is_rebuilt_on_the_next_recall(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    backend.create_collection("c", 2)
    backend.upsert_documents("c", [(document("d"), [ChunkRecord("d_0", "d", 0, "tent", "tent", [1.0, 0.0], {})])])
    assert [hit.chunk.text for hit in backend.recall("c", RecallQuery("tent", None, 0, 5)).sparse] == ["tent"]
    shutil.rmtree(tmp_path / "tantivy")
    assert [hit.chunk.text for hit in backend.recall("c", RecallQuery("tent", None, 0, 5)).sparse] == ["tent"]
    assert (tmp_path / "tantivy").is_dir()


def test_a_filter_is_evaluated_once_per_snapshot_and_again_after_a_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.core.filters import Equals, all_of
    from chalicelib.search.embedded import backend as embedded

    calls: list[int] = []
    real = embedded.matches
    monkeypatch.setattr(embedded, "matches", lambda group, item: calls.append(1) or real(group, item))
    store = EmbeddedBackend(tmp_path)
    store.create_collection("c", 2)

    def write(doc: str, year: int | bool) -> None:
        chunk = ChunkRecord(f"{doc}_0", doc, 0, "tent", "tent", [1.0, 0.0], {"year": year})
        store.upsert_documents("c", [(document(doc), [chunk])])

    write("a", 2024)
    write("b", True)
    write("d", 1)

    def kept(value: int | bool) -> list[str]:
        recalled = store.recall("c", RecallQuery("tent", [1.0, 0.0], 5, 5, all_of(Equals("year", value))))
        return sorted(hit.chunk.doc_id for hit in recalled.dense)

    assert kept(2024) == ["a"] and len(calls) == 3
    assert kept(2024) == ["a"] and len(calls) == 3  # the same filter on the same snapshot: the cached mask
    # Equals(year, 1) == Equals(year, True) as dataclasses, yet they keep different chunks: never one mask.
    assert kept(1) == ["d"] and kept(True) == ["b"] and len(calls) == 9
    write("e", 2024)  # a new generation: a new snapshot, its masks evaluated anew
    assert kept(2024) == ["a", "e"] and len(calls) == 13


def test_a_snapshot_read_is_one_consistent_view_while_another_process_writes(tmp_path: Path) -> None:
    """Rows another connection commits between the snapshot's count and its rows are not in it (nor do they
    overflow the matrix sized by that count)."""
    from chalicelib.search.embedded.store import SqliteStore

    reader, writer = SqliteStore(tmp_path / "sift.db"), SqliteStore(tmp_path / "sift.db")
    reader.create_collection("c", 2)

    def chunk(doc: str) -> ChunkRecord:
        return ChunkRecord(f"{doc}_0", doc, 0, doc, doc, [1.0, 0.0], {})

    writer.upsert_document("c", document("a"), [chunk("a")])
    written: list[str] = []

    def write_once(statement: str) -> None:
        if statement.startswith("SELECT id, chunk_id") and not written:
            written.append("b")
            writer.upsert_document("c", document("b"), [chunk("b")])

    reader._connection.set_trace_callback(write_once)
    columns = reader.chunk_columns("c", 2, 0)
    reader._connection.set_trace_callback(None)
    assert written == ["b"]
    assert [doc_id for _, doc_id, _ in columns.identities] == ["a"] and len(columns.keys) == 1
    assert columns.generation == reader.generation("c") - 1  # the generation of the rows it holds, not the newer one
