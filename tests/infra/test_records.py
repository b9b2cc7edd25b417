"""The conditional knowledge-base record updates (the reindex's swap), on both catalogs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.core.errors import ThrottlingError
from chalicelib.core.ports.catalog import Catalog, KnowledgeBase
from chalicelib.core.reindex import KnowledgeBaseUpdates
from chalicelib.store.dynamodb import DynamoDbCatalog, create_table
from chalicelib.store.sqlite import SqliteCatalog
from chalicelib.workflows.records import DynamoDbKnowledgeBaseUpdates, SqliteKnowledgeBaseUpdates

TABLE = "sift-test-catalog"
KB = KnowledgeBase("ws_1", "kb_1", "handbook", "", "s3://docs/kb/", 500, 50, "qwen3-rerank-hybrid", None,
                   "sift/hashing-256", "2026-01-01T00:00:00.000Z")


@pytest.fixture(params=["sqlite", "dynamodb"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[Catalog, KnowledgeBaseUpdates, Any]]:
    """(catalog, updates, raw writer): the writer stores a record body as another process would, between two reads."""
    if request.param == "sqlite":
        path = tmp_path / "catalog.db"
        sqlite_catalog = SqliteCatalog(path)

        def write_sqlite(body: dict[str, Any]) -> None:
            sqlite_catalog._execute("UPDATE knowledge_bases SET body = ?", (json.dumps(body),))

        yield sqlite_catalog, SqliteKnowledgeBaseUpdates(path), write_sqlite
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)

        def write_dynamodb(body: dict[str, Any]) -> None:
            client.update_item(
                TableName=TABLE, Key={"pk": {"S": "WS#ws_1"}, "sk": {"S": "KB#kb_1"}},
                UpdateExpression="SET body = :b", ExpressionAttributeValues={":b": {"S": json.dumps(body)}},
            )

        yield DynamoDbCatalog(client, TABLE), DynamoDbKnowledgeBaseUpdates(client, TABLE), write_dynamodb


def test_an_update_writes_the_changed_record(stores: tuple[Catalog, KnowledgeBaseUpdates, Any]) -> None:
    catalog, updates, _ = stores
    catalog.create_knowledge_base(KB)

    swapped = updates.update("ws_1", "kb_1", lambda kb: replace(kb, index_version=kb.index_version + 1))

    assert swapped is not None and swapped.index_version == 2
    stored = catalog.get_knowledge_base("ws_1", "kb_1")
    assert stored == swapped and stored.collection == "kb:ws_1:kb_1:v2"
    assert catalog.knowledge_bases_for_uri("s3://docs/kb/a.txt") == [stored]  # still found by its SourceURI


def test_an_update_of_a_missing_record_or_a_refusal_writes_nothing(
    stores: tuple[Catalog, KnowledgeBaseUpdates, Any]
) -> None:
    catalog, updates, _ = stores
    assert updates.update("ws_1", "kb_1", lambda kb: replace(kb, index_version=9)) is None
    catalog.create_knowledge_base(KB)
    assert updates.update("ws_1", "kb_1", lambda kb: kb) == KB

    def refuse(kb: KnowledgeBase) -> KnowledgeBase:
        raise LookupError("not yours")

    with pytest.raises(LookupError):
        updates.update("ws_1", "kb_1", refuse)
    with pytest.raises(ValueError, match="source_uri"):
        updates.update("ws_1", "kb_1", lambda kb: replace(kb, source_uri="s3://elsewhere/"))
    assert catalog.get_knowledge_base("ws_1", "kb_1") == KB


def test_a_record_changed_between_the_read_and_the_write_is_read_again(
    stores: tuple[Catalog, KnowledgeBaseUpdates, Any]
) -> None:
    """Compare-and-swap: two reindexes racing for a version cannot both win."""
    catalog, updates, write = stores
    catalog.create_knowledge_base(KB)
    seen: list[KnowledgeBase] = []

    def claim(kb: KnowledgeBase) -> KnowledgeBase:
        seen.append(kb)
        if len(seen) == 1:  # another job claims the record between this read and this write
            write(dataclasses.asdict(replace(kb, reindex_job_id="job_other")))
        if kb.reindex_job_id:
            raise LookupError(f"held by {kb.reindex_job_id}")
        return replace(kb, reindex_job_id="job_mine")

    with pytest.raises(LookupError, match="job_other"):
        updates.update("ws_1", "kb_1", claim)
    assert [kb.reindex_job_id for kb in seen] == ["", "job_other"]
    stored = catalog.get_knowledge_base("ws_1", "kb_1")
    assert stored is not None and stored.reindex_job_id == "job_other"


def test_a_record_that_keeps_changing_gives_up_as_throttling(
    stores: tuple[Catalog, KnowledgeBaseUpdates, Any]
) -> None:
    catalog, updates, write = stores
    catalog.create_knowledge_base(KB)
    writes = iter(range(100))

    def contended(kb: KnowledgeBase) -> KnowledgeBase:
        write(dataclasses.asdict(replace(kb, description=f"edit {next(writes)}")))
        return replace(kb, index_version=2)

    with pytest.raises(ThrottlingError):
        updates.update("ws_1", "kb_1", contended)


def test_a_record_written_before_versions_existed_is_updated_too(
    stores: tuple[Catalog, KnowledgeBaseUpdates, Any]
) -> None:
    catalog, updates, write = stores
    catalog.create_knowledge_base(KB)
    old_body = {key: value for key, value in dataclasses.asdict(KB).items()
                if key not in ("index_version", "reindex_job_id")}
    write(old_body)
    assert catalog.get_knowledge_base("ws_1", "kb_1") == KB  # read with the defaults: version 1

    swapped = updates.update("ws_1", "kb_1", lambda kb: replace(kb, index_version=2))

    assert swapped is not None and catalog.get_knowledge_base("ws_1", "kb_1") == swapped
