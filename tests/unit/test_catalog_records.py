"""The catalogs' stored records, on both catalogs: the compare-and-swap ``Catalog.update_knowledge_base`` (how a
reindex claims, swaps and releases versions) and the one record codec (``chalicelib.store.codec``) they both read with.

Each test gets a catalog and a raw writer that stores a body as another process (or another code version) would,
straight into the SQLite row or the DynamoDB item, behind the catalog's back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.core.access_keys import AccessKey
from chalicelib.core.errors import ThrottlingError
from chalicelib.core.ports.catalog import (
    Binding,
    Catalog,
    Category,
    DataCenterFile,
    Dataset,
    HistoryRecord,
    Job,
    JobDocument,
    JobStatus,
    KnowledgeBase,
    Project,
    UploadLease,
)
from chalicelib.store import codec
from chalicelib.store.dynamodb import DynamoDbCatalog, create_table
from chalicelib.store.sqlite import SqliteCatalog

TABLE = "sift-test-catalog"
KB = KnowledgeBase(
    "ws_1", "kb_1", "handbook", "", "s3://docs/kb/", 500, 50, "qwen3-rerank-hybrid", None, "sift/hashing-256",
    "2026-01-01T00:00:00.000Z",
)  # fmt: skip
JOB = Job(
    "job_1", "ws_1", "kb_1", JobStatus.PARTIAL, "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z",
    documents=(JobDocument("doc_1", "a.txt", "FINISH"), JobDocument("doc_2", "b.txt", "FAILED", "unreadable", False)),
    counts={"total": 2, "indexed": 1, "empty": 0, "failed": 1},
)  # fmt: skip

# Where the raw writer puts a body: the SQLite table (the row is the only one of its table in these tests) and the
# DynamoDB item key of each kind of record.
RAW_PLACES: dict[str, tuple[str, dict[str, Any]]] = {
    "kb": ("knowledge_bases", {"pk": {"S": "WS#ws_1"}, "sk": {"S": "KB#kb_1"}}),
    "job": ("jobs", {"pk": {"S": "IDX#ws_1#kb_1"}, "sk": {"S": "JOB#job_1"}}),
}

Write = Callable[[str, dict[str, Any]], None]


@pytest.fixture(params=["sqlite", "dynamodb"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Catalog, Write]]:
    """(catalog, raw writer): ``write("kb" | "job", body)`` stores the body as another process would."""
    if request.param == "sqlite":
        sqlite_catalog = SqliteCatalog(tmp_path / "catalog.db")

        def write_sqlite(kind: str, body: dict[str, Any]) -> None:
            sqlite_catalog._execute(f"UPDATE {RAW_PLACES[kind][0]} SET body = ?", (json.dumps(body),))

        yield sqlite_catalog, write_sqlite
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)

        def write_dynamodb(kind: str, body: dict[str, Any]) -> None:
            client.update_item(
                TableName=TABLE,
                Key=RAW_PLACES[kind][1],
                UpdateExpression="SET body = :b",
                ExpressionAttributeValues={":b": {"S": json.dumps(body)}},
            )

        yield DynamoDbCatalog(client, TABLE), write_dynamodb


# --- compare-and-swap -------------------------------------------------------------------------------------------------


def test_an_update_writes_the_changed_record(stores: tuple[Catalog, Write]) -> None:
    catalog, _ = stores
    catalog.create_knowledge_base(KB)

    swapped = catalog.update_knowledge_base("ws_1", "kb_1", lambda kb: replace(kb, index_version=kb.index_version + 1))

    assert swapped is not None and swapped.index_version == 2
    stored = catalog.get_knowledge_base("ws_1", "kb_1")
    assert stored == swapped and stored.collection == "kb:ws_1:kb_1:v2"
    assert catalog.knowledge_bases_for_uri("s3://docs/kb/a.txt") == [stored]  # still found by its SourceURI
    assert catalog.list_knowledge_bases("ws_1", name="handbook", offset=0, limit=10) == ([stored], 1)


def test_an_update_of_a_missing_record_or_a_refusal_writes_nothing(stores: tuple[Catalog, Write]) -> None:
    catalog, _ = stores
    assert catalog.update_knowledge_base("ws_1", "kb_1", lambda kb: replace(kb, index_version=9)) is None
    catalog.create_knowledge_base(KB)
    assert catalog.update_knowledge_base("ws_1", "kb_1", lambda kb: kb) == KB

    def refuse(kb: KnowledgeBase) -> KnowledgeBase:
        raise LookupError("not yours")

    with pytest.raises(LookupError):
        catalog.update_knowledge_base("ws_1", "kb_1", refuse)
    for field, value in [("source_uri", "s3://elsewhere/"), ("name", "renamed"), ("index_id", "kb_2")]:
        with pytest.raises(ValueError, match=field):
            catalog.update_knowledge_base("ws_1", "kb_1", lambda kb, f=field, v=value: replace(kb, **{f: v}))
    assert catalog.get_knowledge_base("ws_1", "kb_1") == KB


def test_a_record_changed_between_the_read_and_the_write_is_read_again(stores: tuple[Catalog, Write]) -> None:
    """Compare-and-swap: two reindexes racing for a version cannot both win."""
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    seen: list[KnowledgeBase] = []

    def claim(kb: KnowledgeBase) -> KnowledgeBase:
        seen.append(kb)
        if len(seen) == 1:  # another job claims the record between this read and this write
            write("kb", dataclasses.asdict(replace(kb, reindex_job_id="job_other")))
        if kb.reindex_job_id:
            raise LookupError(f"held by {kb.reindex_job_id}")
        return replace(kb, reindex_job_id="job_mine")

    with pytest.raises(LookupError, match="job_other"):
        catalog.update_knowledge_base("ws_1", "kb_1", claim)
    assert [kb.reindex_job_id for kb in seen] == ["", "job_other"]
    stored = catalog.get_knowledge_base("ws_1", "kb_1")
    assert stored is not None and stored.reindex_job_id == "job_other"


def test_a_lost_race_retries_on_the_new_record_and_then_wins(stores: tuple[Catalog, Write]) -> None:
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    calls = iter(range(100))

    def bump(kb: KnowledgeBase) -> KnowledgeBase:
        if next(calls) == 0:  # another writer edits the description between this read and this write
            write("kb", dataclasses.asdict(replace(kb, description="edited")))
        return replace(kb, index_version=kb.index_version + 1)

    swapped = catalog.update_knowledge_base("ws_1", "kb_1", bump)

    assert swapped == replace(KB, description="edited", index_version=2)
    assert catalog.get_knowledge_base("ws_1", "kb_1") == swapped  # the other writer's edit is kept


def test_a_record_that_keeps_changing_gives_up_as_throttling(stores: tuple[Catalog, Write]) -> None:
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    writes = iter(range(100))

    def contended(kb: KnowledgeBase) -> KnowledgeBase:
        write("kb", dataclasses.asdict(replace(kb, description=f"edit {next(writes)}")))
        return replace(kb, index_version=2)

    with pytest.raises(ThrottlingError):
        catalog.update_knowledge_base("ws_1", "kb_1", contended)
    assert catalog.get_knowledge_base("ws_1", "kb_1").index_version == 1  # type: ignore[union-attr]


def test_a_record_deleted_between_the_read_and_the_write_is_not_recreated(stores: tuple[Catalog, Write]) -> None:
    catalog, _ = stores
    catalog.create_knowledge_base(KB)

    def delete_first(kb: KnowledgeBase) -> KnowledgeBase:
        catalog.delete_knowledge_base("ws_1", "kb_1")
        return replace(kb, index_version=2)

    assert catalog.update_knowledge_base("ws_1", "kb_1", delete_first) is None
    assert catalog.get_knowledge_base("ws_1", "kb_1") is None


def test_a_record_written_before_versions_existed_is_updated_too(stores: tuple[Catalog, Write]) -> None:
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    old_body = {
        key: value for key, value in dataclasses.asdict(KB).items() if key not in ("index_version", "reindex_job_id")
    }
    write("kb", old_body)
    assert catalog.get_knowledge_base("ws_1", "kb_1") == KB  # read with the defaults: version 1

    swapped = catalog.update_knowledge_base("ws_1", "kb_1", lambda kb: replace(kb, index_version=2))

    assert swapped is not None and catalog.get_knowledge_base("ws_1", "kb_1") == swapped


# --- the record codec -------------------------------------------------------------------------------------------------


def test_a_newer_writers_unknown_keys_are_ignored_on_both_catalogs(stores: tuple[Catalog, Write]) -> None:
    """A rolling deploy: a newer version wrote a field this version does not know; the record still reads."""
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    catalog.put_job(JOB)
    job_body = codec.to_dict(JOB)
    job_body["documents"][0]["retries"] = 3  # nested records follow the same policy

    write("kb", codec.to_dict(KB) | {"shard_count": 4})
    write("job", job_body | {"priority": "high"})

    assert catalog.get_knowledge_base("ws_1", "kb_1") == KB
    assert catalog.list_knowledge_bases("ws_1", name=None, offset=0, limit=10) == ([KB], 1)
    assert catalog.knowledge_bases_for_uri("s3://docs/kb/a.txt") == [KB]
    assert catalog.get_job("ws_1", "kb_1", "job_1") == JOB


def test_an_older_writers_missing_optional_keys_take_their_defaults_on_both_catalogs(
    stores: tuple[Catalog, Write],
) -> None:
    """A record written before a field existed reads with the field's default."""
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    catalog.put_job(JOB)
    optional_kb = {"image_embedding_model", "image_dimension", "index_version", "source_type", "document_ids"}
    kb_body = {key: value for key, value in codec.to_dict(KB).items() if key not in optional_kb}
    job_body = {key: value for key, value in codec.to_dict(JOB).items() if key not in {"message", "counts"}}
    job_body["documents"] = [{"doc_id": "doc_1", "name": "a.txt", "status": "FINISH"}]

    write("kb", kb_body)
    write("job", job_body)

    assert catalog.get_knowledge_base("ws_1", "kb_1") == KB
    assert catalog.get_job("ws_1", "kb_1", "job_1") == replace(JOB, documents=JOB.documents[:1], counts={})

    write("job", {key: value for key, value in job_body.items() if key != "documents"})
    assert catalog.get_job("ws_1", "kb_1", "job_1") == replace(JOB, documents=(), counts={})


def test_a_missing_key_without_a_default_is_a_corrupt_record(stores: tuple[Catalog, Write]) -> None:
    catalog, write = stores
    catalog.create_knowledge_base(KB)
    write("kb", {key: value for key, value in codec.to_dict(KB).items() if key != "chunk_size"})

    with pytest.raises(TypeError, match="chunk_size"):
        catalog.get_knowledge_base("ws_1", "kb_1")


RECORDS = [
    KB,
    replace(KB, source_uri=None, rerank_min_score=0.25, source_type="DATA_CENTER_FILE", document_ids=("f_1",)),
    JOB,
    HistoryRecord("r_1", "ws_1", "kb_1", "问题", "question", {"Query": "问题"}, [{"nid": "n", "score": 0.5}], "t"),
    Project("p1", "媒体项目", "t0", "t1"),
    Dataset("p1", "ds1", "", "sift/hashing-256", "t0", "t1", "sift/clip", 512),
    Binding("p1", "ds1", "s3://b/media/", "Failed", "t0", "t1", "no such bucket"),
    Category("ws_1", "cate_1", "类目", "UNSTRUCTURED", "", "t0"),
    UploadLease("ws_1", "lease_1", "default", "UNSTRUCTURED", "手册.pdf", "0" * 32, 12, "k", 1_900_000_000.5, "t0"),
    DataCenterFile("ws_1", "f_1", "default", "UNSTRUCTURED", "a.md", 1, "f" * 32, "k", "P", "PARSING", "t0", "t0",
                   tags=("政策",)),
    AccessKey("AK1", "sealed", "admin", "t0", workspaces=("ws_1",), description="ops"),
]  # fmt: skip


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: type(record).__name__)
def test_every_record_round_trips_through_json(record: Any) -> None:
    text = codec.dumps(record)

    assert codec.loads(type(record), text) == record
    assert json.loads(text) == codec.to_dict(record)  # plain JSON values: enums by value, tuples as lists
    assert "\\u" not in text  # non-ASCII stored as it is, on both catalogs


def test_a_jobs_status_is_stored_by_value() -> None:
    assert codec.to_dict(JOB)["status"] == "PARTIAL"
    assert codec.from_dict(Job, codec.to_dict(JOB)).status is JobStatus.PARTIAL
