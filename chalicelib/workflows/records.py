"""Compare-and-swap of a knowledge-base record in either catalog: how a reindex claims, swaps and releases versions.

A reindex moves the live version by rewriting the knowledge base's catalog record, so the write must be conditional:
read the stored record, compute the new one, write it only if the stored one is still what was read, else read again.
Two reindexes, or a reindex and a delete, can then never both win. Both catalogs do this natively: SQLite with an
``UPDATE ... WHERE body = <the body read>``, DynamoDB with ``UpdateItem`` and a ``ConditionExpression`` on the body.
The condition compares the raw stored body (not a re-serialised record), so records written by older code versions,
without the newer fields, are updated too.

These classes read the catalogs' storage layout (``chalicelib.store.sqlite``'s ``knowledge_bases`` table and
``chalicelib.store.dynamodb``'s item keys and body encoding), and they belong in those modules as a
``Catalog.update_knowledge_base`` method; they live here only because those modules had other owners when reindex was
written. Composition builds the one matching the configured catalog (``build_knowledge_base_updates``).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import InternalError, ServiceUnavailableError, ThrottlingError
from chalicelib.core.ports.catalog import KnowledgeBase
from chalicelib.store.dynamodb import _THROTTLING_CODES, _dump, _kb_from, _kb_sk, _workspace_pk

# A record that changes under us this many times in a row is contended beyond reason: the caller retries later.
ATTEMPTS: Final = 5

Change = Callable[[KnowledgeBase], KnowledgeBase]


class SqliteKnowledgeBaseUpdates:
    """On the SQLite catalog file; each update opens its own connection, so any thread may call it."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def update(self, workspace_id: str, index_id: str, change: Change) -> KnowledgeBase | None:
        for _ in range(ATTEMPTS):
            with closing(sqlite3.connect(self._path, timeout=10, isolation_level=None)) as db:
                row = db.execute(
                    "SELECT body FROM knowledge_bases WHERE workspace_id = ? AND index_id = ?", (workspace_id, index_id)
                ).fetchone()
                if row is None:
                    return None
                current = _record(json.loads(row[0]))
                new = change(current)
                if new == current:
                    return current
                _check_identity(current, new)
                written = db.execute(
                    "UPDATE knowledge_bases SET body = ? WHERE workspace_id = ? AND index_id = ? AND body = ?",
                    (json.dumps(dataclasses.asdict(new)), workspace_id, index_id, row[0]),
                ).rowcount
                if written == 1:
                    return new
        raise ThrottlingError("The knowledge base is being changed concurrently; retry later")


class DynamoDbKnowledgeBaseUpdates:
    """On the DynamoDB catalog table: strongly consistent read, conditional ``UpdateItem`` of the body."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def update(self, workspace_id: str, index_id: str, change: Change) -> KnowledgeBase | None:
        key = {"pk": {"S": _workspace_pk(workspace_id)}, "sk": {"S": _kb_sk(index_id)}}
        for _ in range(ATTEMPTS):
            item = self._call(self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            if not item:
                return None
            current = _kb_from(item)
            new = change(current)
            if new == current:
                return current
            _check_identity(current, new)
            try:
                self._call(
                    self._client.update_item,
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #body = :new",
                    ConditionExpression="#body = :old",
                    ExpressionAttributeNames={"#body": "body"},
                    ExpressionAttributeValues={":new": _dump(dataclasses.asdict(new)), ":old": item["body"]},
                )
            except _Changed:
                continue
            return new
        raise ThrottlingError("The knowledge base is being changed concurrently; retry later")

    def _call(self, method: Callable[..., dict[str, Any]], **parameters: Any) -> dict[str, Any]:
        try:
            return method(**parameters)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "ConditionalCheckFailedException":
                raise _Changed from exc
            if code in _THROTTLING_CODES:
                raise ThrottlingError("The catalog is throttling requests (update the knowledge base); retry later") from exc
            raise InternalError(
                f"The catalog failed to update the knowledge base ({code or 'unknown error'}: {error.get('Message', '')})"
            ) from exc
        except BotoCoreError as exc:
            raise ServiceUnavailableError(f"The catalog did not answer ({type(exc).__name__}); retry later") from exc


class _Changed(Exception):
    """The record changed between the read and the conditional write."""


def _record(body: dict[str, Any]) -> KnowledgeBase:
    names = {item.name for item in dataclasses.fields(KnowledgeBase)}
    return KnowledgeBase(**{key: value for key, value in body.items() if key in names})


def _check_identity(current: KnowledgeBase, new: KnowledgeBase) -> None:
    """The catalogs index these fields outside the body (keys, name reservations, the SourceURI index): fixed here."""
    for name in ("workspace_id", "index_id", "name", "source_uri"):
        if getattr(current, name) != getattr(new, name):
            raise ValueError(f"an update of the knowledge base record cannot change {name}")
