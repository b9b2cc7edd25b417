"""Two processes on one data directory (issue 12 #5): the seed script writing while the server answers Retrieves.

A second writer waits for the first (a file lock per collection beside its tantivy index) instead of failing with
tantivy's ``LockBusy``, and a reader whose derived index fell behind catches up without a 500.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus, RecallQuery
from chalicelib.search.embedded.backend import EmbeddedBackend

COLLECTION = "kb:ws_processes:one"
WRITES = 40


def _record(doc_id: str) -> DocumentRecord:
    return DocumentRecord(doc_id, doc_id, f"mem://{doc_id}", "text/plain", 1, "v1", DocumentStatus.INDEXED,
                          chunk_count=1)


def _chunk(doc_id: str, text: str) -> ChunkRecord:
    return ChunkRecord(f"{doc_id}_0", doc_id, 0, text, text, [1.0, 0.0, 0.0, 0.0], {})


def _write_many(directory: str, prefix: str, start: multiprocessing.synchronize.Event) -> None:
    backend = EmbeddedBackend(Path(directory))
    start.wait()
    for number in range(WRITES):
        doc_id = f"{prefix}{number}"
        backend.upsert_documents(COLLECTION, [(_record(doc_id), [_chunk(doc_id, f"okapi {prefix} {number}")])])


def test_two_processes_write_and_read_one_directory_without_errors(tmp_path: Path) -> None:
    reader = EmbeddedBackend(tmp_path)
    reader.create_collection(COLLECTION, 4)
    reader.upsert_documents(COLLECTION, [(_record("seed"), [_chunk("seed", "okapi seed")])])
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_write_many, args=(str(tmp_path), prefix, start)) for prefix in ("a", "b")]
    for writer in writers:
        writer.start()
    start.set()
    errors: list[str] = []
    reads = 0
    query = RecallQuery(text="okapi", vector=[1.0, 0.0, 0.0, 0.0], dense_top_k=5, sparse_top_k=500)
    while any(writer.is_alive() for writer in writers) or reads == 0:
        try:
            reader.recall(COLLECTION, query)
        except Exception as exc:  # noqa: BLE001 — the point is to count every kind of failure
            errors.append(repr(exc))
        reads += 1
        time.sleep(0.002)
    for writer in writers:
        writer.join(60)

    assert [writer.exitcode for writer in writers] == [0, 0]
    assert errors == []
    found = {hit.chunk.doc_id for hit in reader.recall(COLLECTION, query).sparse}
    expected = {"seed"} | {f"{prefix}{number}" for prefix in ("a", "b") for number in range(WRITES)}
    assert found == expected  # the sparse index holds every write of both processes, none lost to a race
    assert reader.count_chunks(COLLECTION) == len(expected)
