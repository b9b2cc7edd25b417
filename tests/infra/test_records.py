"""The reindex's record updates (``chalicelib.workflows.records``) are the catalog's compare-and-swap, on both catalogs.

The compare-and-swap itself (conditional write, re-read on a lost race, refusals, throttling, old records) is tested
on both catalogs in ``tests/unit/test_catalog_records.py``; here, that each ``KnowledgeBaseUpdates`` composition builds
runs it on the catalog's storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib.core.ports.catalog import Catalog, KnowledgeBase
from chalicelib.core.reindex import KnowledgeBaseUpdates
from chalicelib.store.dynamodb import DynamoDbCatalog, create_table
from chalicelib.store.sqlite import SqliteCatalog
from chalicelib.workflows.records import (
    CatalogKnowledgeBaseUpdates,
    DynamoDbKnowledgeBaseUpdates,
    SqliteKnowledgeBaseUpdates,
)

TABLE = "sift-test-catalog"
KB = KnowledgeBase(
    "ws_1", "kb_1", "handbook", "", "s3://docs/kb/", 500, 50, "qwen3-rerank-hybrid", None, "sift/hashing-256",
    "2026-01-01T00:00:00.000Z",
)  # fmt: skip


@pytest.fixture(params=["sqlite", "dynamodb", "catalog"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Catalog, KnowledgeBaseUpdates]]:
    """(catalog, updates): the updates as composition builds them, on the catalog's storage."""
    path = tmp_path / "catalog.db"
    if request.param == "sqlite":
        yield SqliteCatalog(path), SqliteKnowledgeBaseUpdates(path)
        return
    if request.param == "catalog":
        catalog = SqliteCatalog(path)
        yield catalog, CatalogKnowledgeBaseUpdates(catalog)
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield DynamoDbCatalog(client, TABLE), DynamoDbKnowledgeBaseUpdates(client, TABLE)


def test_an_update_is_the_catalogs_compare_and_swap(stores: tuple[Catalog, KnowledgeBaseUpdates]) -> None:
    catalog, updates = stores
    assert updates.update("ws_1", "kb_1", lambda kb: replace(kb, index_version=9)) is None
    catalog.create_knowledge_base(KB)

    swapped = updates.update("ws_1", "kb_1", lambda kb: replace(kb, index_version=kb.index_version + 1))

    assert swapped is not None and swapped.index_version == 2
    assert catalog.get_knowledge_base("ws_1", "kb_1") == swapped
    with pytest.raises(ValueError, match="source_uri"):
        updates.update("ws_1", "kb_1", lambda kb: replace(kb, source_uri="s3://elsewhere/"))


def test_the_sqlite_updates_open_the_catalog_file_only_when_first_used(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "catalog.db"
    updates = SqliteKnowledgeBaseUpdates(path)
    assert not path.parent.exists()
    assert updates.update("ws_1", "kb_1", lambda kb: kb) is None
    assert path.exists()
