"""The embedded backend's chunk-text cache: SQLite is read once per text until the collection changes, within a budget."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chalicelib.core.ports.search import ChunkRecord, RecallQuery
from chalicelib.search.embedded.backend import EmbeddedBackend
from chalicelib.search.embedded.texts import ChunkTexts
from tests.contract.test_backend_contract import document


class CountingReads:
    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.reads: list[list[int]] = []

    def __call__(self, keys: Sequence[int]) -> dict[int, str]:
        self.reads.append(list(keys))
        return {key: self.texts[key] for key in keys if key in self.texts}


def test_a_text_is_read_once_and_a_missing_key_is_left_out() -> None:
    store = CountingReads({1: "one", 2: "two"})
    texts = ChunkTexts(store)
    assert texts.get("c", 5, [1, 2, 3]) == {1: "one", 2: "two"}
    assert texts.get("c", 5, [2, 1]) == {2: "two", 1: "one"}
    assert store.reads == [[1, 2, 3]]
    assert texts.get("c", 5, [3]) == {} and store.reads[-1] == [3]  # missing keys are asked for again, never cached


def test_a_new_generation_drops_the_collections_texts_only() -> None:
    store = CountingReads({1: "one"})
    texts = ChunkTexts(store)
    texts.get("a", 1, [1])
    texts.get("b", 1, [1])
    store.texts[1] = "rewritten"
    assert texts.get("a", 2, [1]) == {1: "rewritten"}
    assert texts.get("b", 1, [1]) == {1: "one"}
    assert len(store.reads) == 3


def test_the_budget_evicts_the_least_recently_used() -> None:
    store = CountingReads({key: "x" * 10 for key in range(5)})
    texts = ChunkTexts(store, budget_chars=30)
    texts.get("c", 1, [0, 1, 2])
    texts.get("c", 1, [0])  # 0 is now the most recent
    texts.get("c", 1, [3])  # over budget: 1 goes
    store.reads.clear()
    texts.get("c", 1, [0, 2, 3])
    assert store.reads == []
    texts.get("c", 1, [1])
    assert store.reads == [[1]]


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
