"""The reindex's record updates (``chalicelib.core.reindex.KnowledgeBaseUpdates``) as the catalog's compare-and-swap.

A reindex claims, swaps and releases index versions with ``Catalog.update_knowledge_base`` (both catalogs implement
it; see ``chalicelib.store.compare_and_swap``). ``CatalogKnowledgeBaseUpdates`` hands a catalog to the reindex under
the ``update`` name it calls; the two named classes build the catalog from what composition has at hand (a SQLite
path; a DynamoDB client and table name).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.core.ports.catalog import Catalog, KnowledgeBase

Change = Callable[[KnowledgeBase], KnowledgeBase]


class CatalogKnowledgeBaseUpdates:
    """``KnowledgeBaseUpdates`` on a catalog: ``update`` is its ``update_knowledge_base``."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def update(self, workspace_id: str, index_id: str, change: Change) -> KnowledgeBase | None:
        return self._catalog.update_knowledge_base(workspace_id, index_id, change)


class SqliteKnowledgeBaseUpdates:
    """On the SQLite catalog file, opened at the first update (a service that never reindexes never opens it)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None

    def update(self, workspace_id: str, index_id: str, change: Change) -> KnowledgeBase | None:
        with self._lock:
            if self._catalog is None:
                from chalicelib.store.sqlite import SqliteCatalog

                self._catalog = SqliteCatalog(self._path)
            catalog = self._catalog
        return catalog.update_knowledge_base(workspace_id, index_id, change)


class DynamoDbKnowledgeBaseUpdates(CatalogKnowledgeBaseUpdates):
    """On the DynamoDB catalog table."""

    def __init__(self, client: Any, table_name: str) -> None:
        from chalicelib.store.dynamodb import DynamoDbCatalog

        super().__init__(DynamoDbCatalog(client, table_name))
