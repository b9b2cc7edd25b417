"""SQLite catalog for the ``local`` stage (stdlib ``sqlite3``, WAL).

Every row keeps its record as a JSON ``body`` (``chalicelib.store.codec``, as in DynamoDB); the other columns are only
the keys and what a query filters or sorts on. A field added to a record later with a default therefore round-trips
without a migration (and a field this code does not know is ignored: see the codec), and the schema is
``CREATE ... IF NOT EXISTS`` throughout, so an existing database gains new tables when it is opened by newer code.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.core.access_keys import AccessKey
from chalicelib.core.errors import AlreadyExistsError
from chalicelib.core.ports.catalog import (
    Binding,
    Category,
    DataCenterFile,
    Dataset,
    HistoryRecord,
    Job,
    KnowledgeBase,
    Project,
    UploadLease,
)
from chalicelib.store.codec import dumps, loads
from chalicelib.store.compare_and_swap import compare_and_swap

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge_bases (
    workspace_id TEXT NOT NULL, index_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    source_uri TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (workspace_id, index_id), UNIQUE (workspace_id, name)
);
CREATE TABLE IF NOT EXISTS jobs (
    workspace_id TEXT NOT NULL, index_id TEXT NOT NULL, job_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (workspace_id, index_id, job_id)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id TEXT NOT NULL, index_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_index ON history (workspace_id, index_id, seq);
CREATE TABLE IF NOT EXISTS projects (
    name TEXT NOT NULL PRIMARY KEY, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    project_name TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (project_name, name)
);
CREATE TABLE IF NOT EXISTS categories (
    workspace_id TEXT NOT NULL, category_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (workspace_id, category_id)
);
CREATE TABLE IF NOT EXISTS upload_leases (
    workspace_id TEXT NOT NULL, lease_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (workspace_id, lease_id)
);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id TEXT NOT NULL, file_id TEXT NOT NULL,
    category_id TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (workspace_id, file_id)
);
CREATE INDEX IF NOT EXISTS files_by_category ON files (workspace_id, category_id, seq);
CREATE TABLE IF NOT EXISTS access_keys (
    key_id TEXT NOT NULL PRIMARY KEY, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    key_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (key_id, nonce)
);
CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at);
CREATE TABLE IF NOT EXISTS bindings (
    project_name TEXT NOT NULL, dataset_name TEXT NOT NULL, uri TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (project_name, dataset_name, uri)
);
"""


class SqliteCatalog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    # knowledge bases ---------------------------------------------------------------------------------------------

    def create_knowledge_base(self, kb: KnowledgeBase) -> None:
        try:
            self._execute(
                "INSERT INTO knowledge_bases VALUES (?, ?, ?, ?, ?, ?)",
                (kb.workspace_id, kb.index_id, kb.name, dumps(kb), kb.source_uri, kb.created_at),
            )
        except sqlite3.IntegrityError as exc:
            taken = self.get_knowledge_base(kb.workspace_id, kb.index_id)
            raise AlreadyExistsError("index", kb.index_id if taken else kb.name) from exc

    def get_knowledge_base(self, workspace_id: str, index_id: str) -> KnowledgeBase | None:
        rows = self._execute(
            "SELECT body FROM knowledge_bases WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id)
        )
        return loads(KnowledgeBase, rows[0][0]) if rows else None

    def list_knowledge_bases(
        self, workspace_id: str, *, name: str | None, offset: int, limit: int
    ) -> tuple[list[KnowledgeBase], int]:
        where, parameters = "workspace_id = ?", [workspace_id]
        if name:
            where += " AND instr(name, ?) > 0"
            parameters.append(name)
        rows = self._execute(
            f"SELECT body FROM knowledge_bases WHERE {where} ORDER BY created_at, index_id LIMIT ? OFFSET ?",
            (*parameters, limit, offset),
        )
        total = self._execute(f"SELECT COUNT(*) FROM knowledge_bases WHERE {where}", tuple(parameters))[0][0]
        return [loads(KnowledgeBase, row[0]) for row in rows], total

    def knowledge_bases_for_uri(self, uri: str) -> list[KnowledgeBase]:
        rows = self._execute(
            "SELECT body FROM knowledge_bases WHERE source_uri IS NOT NULL AND substr(?, 1, length(source_uri)) = source_uri",
            (uri,),
        )
        return [loads(KnowledgeBase, row[0]) for row in rows]

    def update_knowledge_base(
        self, workspace_id: str, index_id: str, change: Callable[[KnowledgeBase], KnowledgeBase]
    ) -> KnowledgeBase | None:
        """Compare-and-swap (``chalicelib.store.compare_and_swap``): the write is one ``UPDATE`` (its own transaction)
        whose ``WHERE`` names the body read, so it writes nothing when another connection changed the record since."""

        def read() -> tuple[str, KnowledgeBase] | None:
            rows = self._execute(
                "SELECT body FROM knowledge_bases WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id)
            )
            return (rows[0][0], loads(KnowledgeBase, rows[0][0])) if rows else None

        def write(body: str, new: KnowledgeBase) -> bool:
            written = self._rowcount(
                "UPDATE knowledge_bases SET body = ? WHERE workspace_id = ? AND index_id = ? AND body = ?",
                (dumps(new), workspace_id, index_id, body),
            )
            return written == 1

        return compare_and_swap(read, write, change)

    def delete_knowledge_base(self, workspace_id: str, index_id: str) -> bool:
        with self._lock:
            removed = self._db.execute(
                "DELETE FROM knowledge_bases WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id)
            ).rowcount
            self._db.execute("DELETE FROM jobs WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id))
            self._db.execute("DELETE FROM history WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id))
        return bool(removed)

    # jobs --------------------------------------------------------------------------------------------------------

    def put_job(self, job: Job) -> None:
        self._execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)", (job.workspace_id, job.index_id, job.job_id, dumps(job))
        )

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job | None:
        rows = self._execute(
            "SELECT body FROM jobs WHERE workspace_id = ? AND index_id = ? AND job_id = ?",
            (workspace_id, index_id, job_id),
        )
        return loads(Job, rows[0][0]) if rows else None

    # history -----------------------------------------------------------------------------------------------------

    def add_history(self, record: HistoryRecord) -> None:
        self._execute(
            "INSERT INTO history (workspace_id, index_id, body) VALUES (?, ?, ?)",
            (record.workspace_id, record.index_id, dumps(record)),
        )

    def list_history(
        self, workspace_id: str, index_id: str, *, offset: int, limit: int
    ) -> tuple[list[HistoryRecord], int]:
        rows = self._execute(
            "SELECT body FROM history WHERE workspace_id = ? AND index_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
            (workspace_id, index_id, limit, offset),
        )
        total = self._execute(
            "SELECT COUNT(*) FROM history WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id)
        )[0][0]
        return [loads(HistoryRecord, row[0]) for row in rows], total

    # media: projects, datasets, bindings -------------------------------------------------------------------------

    def create_project(self, project: Project) -> None:
        try:
            self._execute("INSERT INTO projects VALUES (?, ?)", (project.name, dumps(project)))
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError("project", project.name) from exc

    def get_project(self, name: str) -> Project | None:
        rows = self._execute("SELECT body FROM projects WHERE name = ?", (name,))
        return loads(Project, rows[0][0]) if rows else None

    def create_dataset(self, dataset: Dataset) -> None:
        """Unique per project; the project's existence is the caller's to check (the catalog does not enforce it)."""
        try:
            self._execute("INSERT INTO datasets VALUES (?, ?, ?)", (dataset.project_name, dataset.name, dumps(dataset)))
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError("dataset", dataset.name) from exc

    def get_dataset(self, project_name: str, name: str) -> Dataset | None:
        rows = self._execute("SELECT body FROM datasets WHERE project_name = ? AND name = ?", (project_name, name))
        return loads(Dataset, rows[0][0]) if rows else None

    def list_datasets(
        self, project_name: str, *, prefix: str | None, offset: int, limit: int
    ) -> tuple[list[Dataset], int]:
        """Ordered by name in SQLite's BINARY collation (UTF-8 bytes = code points, as DynamoDB sorts its keys).

        The prefix test is ``instr(name, prefix) = 1`` rather than ``LIKE``: literal (``%`` and ``_`` are just
        characters) and case-sensitive, like the knowledge-base name filter.
        """
        where, parameters = "project_name = ?", [project_name]
        if prefix:
            where += " AND instr(name, ?) = 1"
            parameters.append(prefix)
        rows = self._execute(
            f"SELECT body FROM datasets WHERE {where} ORDER BY name LIMIT ? OFFSET ?", (*parameters, limit, offset)
        )
        total = self._execute(f"SELECT COUNT(*) FROM datasets WHERE {where}", tuple(parameters))[0][0]
        return [loads(Dataset, row[0]) for row in rows], total

    def create_binding(self, binding: Binding) -> None:
        try:
            self._execute(
                "INSERT INTO bindings VALUES (?, ?, ?, ?)",
                (binding.project_name, binding.dataset_name, binding.uri, dumps(binding)),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError("binding", binding.uri) from exc

    def get_binding(self, project_name: str, dataset_name: str, uri: str) -> Binding | None:
        rows = self._execute(
            "SELECT body FROM bindings WHERE project_name = ? AND dataset_name = ? AND uri = ?",
            (project_name, dataset_name, uri),
        )
        return loads(Binding, rows[0][0]) if rows else None

    def put_binding(self, binding: Binding) -> None:
        """An upsert: replaces the binding, and inserts it when it does not exist (like ``put_job``).

        Its callers update a binding they have just created, so inserting is the harmless reading of "missing"; the
        DynamoDB catalog does the same (an unconditional PutItem).
        """
        self._execute(
            "INSERT OR REPLACE INTO bindings VALUES (?, ?, ?, ?)",
            (binding.project_name, binding.dataset_name, binding.uri, dumps(binding)),
        )

    def bindings_for_uri(self, uri: str) -> list[Binding]:
        """Literal, case-sensitive prefix test like ``knowledge_bases_for_uri`` (a scan; bindings are few)."""
        rows = self._execute("SELECT body FROM bindings WHERE substr(?, 1, length(uri)) = uri", (uri,))
        return [loads(Binding, row[0]) for row in rows]

    # data center: categories, upload leases, files ------------------------------------------------------------------

    def create_category(self, category: Category) -> None:
        try:
            self._execute(
                "INSERT INTO categories VALUES (?, ?, ?)",
                (category.workspace_id, category.category_id, dumps(category)),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExistsError("category", category.category_id) from exc

    def get_category(self, workspace_id: str, category_id: str) -> Category | None:
        rows = self._execute(
            "SELECT body FROM categories WHERE workspace_id = ? AND category_id = ?", (workspace_id, category_id)
        )
        return loads(Category, rows[0][0]) if rows else None

    def list_categories(self, workspace_id: str) -> list[Category]:
        rows = self._execute("SELECT body FROM categories WHERE workspace_id = ? ORDER BY rowid", (workspace_id,))
        return [loads(Category, row[0]) for row in rows]

    def delete_category(self, workspace_id: str, category_id: str) -> bool:
        return bool(
            self._rowcount(
                "DELETE FROM categories WHERE workspace_id = ? AND category_id = ?", (workspace_id, category_id)
            )
        )

    def put_lease(self, lease: UploadLease) -> None:
        self._execute(
            "INSERT OR REPLACE INTO upload_leases VALUES (?, ?, ?)", (lease.workspace_id, lease.lease_id, dumps(lease))
        )

    def get_lease(self, workspace_id: str, lease_id: str) -> UploadLease | None:
        rows = self._execute(
            "SELECT body FROM upload_leases WHERE workspace_id = ? AND lease_id = ?", (workspace_id, lease_id)
        )
        return loads(UploadLease, rows[0][0]) if rows else None

    def list_leases(self, workspace_id: str) -> list[UploadLease]:
        rows = self._execute("SELECT body FROM upload_leases WHERE workspace_id = ?", (workspace_id,))
        return [loads(UploadLease, row[0]) for row in rows]

    def take_lease(self, workspace_id: str, lease_id: str) -> bool:
        return bool(
            self._rowcount(
                "DELETE FROM upload_leases WHERE workspace_id = ? AND lease_id = ?", (workspace_id, lease_id)
            )
        )

    def put_file(self, file: DataCenterFile) -> None:
        """Insert, or replace the body of an existing file (its place in the listing order stays)."""
        with self._lock:
            updated = self._db.execute(
                "UPDATE files SET body = ?, category_id = ? WHERE workspace_id = ? AND file_id = ?",
                (dumps(file), file.category_id, file.workspace_id, file.file_id),
            ).rowcount
            if not updated:
                self._db.execute(
                    "INSERT INTO files (workspace_id, file_id, category_id, body) VALUES (?, ?, ?, ?)",
                    (file.workspace_id, file.file_id, file.category_id, dumps(file)),
                )

    def get_file(self, workspace_id: str, file_id: str) -> DataCenterFile | None:
        rows = self._execute("SELECT body FROM files WHERE workspace_id = ? AND file_id = ?", (workspace_id, file_id))
        return loads(DataCenterFile, rows[0][0]) if rows else None

    def list_files(self, workspace_id: str, *, category_id: str | None) -> list[DataCenterFile]:
        if category_id is None:
            rows = self._execute("SELECT body FROM files WHERE workspace_id = ? ORDER BY seq", (workspace_id,))
        else:
            rows = self._execute(
                "SELECT body FROM files WHERE workspace_id = ? AND category_id = ? ORDER BY seq",
                (workspace_id, category_id),
            )
        return [loads(DataCenterFile, row[0]) for row in rows]

    def delete_file(self, workspace_id: str, file_id: str) -> bool:
        return bool(self._rowcount("DELETE FROM files WHERE workspace_id = ? AND file_id = ?", (workspace_id, file_id)))

    # access keys and the nonces they used ---------------------------------------------------------------------------

    def put_access_key(self, key: AccessKey) -> None:
        self._execute("INSERT OR REPLACE INTO access_keys VALUES (?, ?)", (key.key_id, dumps(key)))

    def get_access_key(self, key_id: str) -> AccessKey | None:
        rows = self._execute("SELECT body FROM access_keys WHERE key_id = ?", (key_id,))
        return loads(AccessKey, rows[0][0]) if rows else None

    def list_access_keys(self) -> list[AccessKey]:
        return [loads(AccessKey, row[0]) for row in self._execute("SELECT body FROM access_keys")]

    def use_nonce(self, key_id: str, nonce: str, expires_at: float) -> bool:
        """One transaction: drop expired nonces, then insert this one unless it is there (another process's
        insert of the same nonce makes this one's a no-op: exactly one caller sees True)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO nonces VALUES (?, ?, ?)", (key_id, nonce, expires_at)
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return bool(inserted)

    def _rowcount(self, sql: str, parameters: tuple[Any, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, parameters).rowcount
