"""DynamoDB catalog for the AWS stages: one table with generic ``pk``/``sk`` string keys and one sparse GSI.

The behaviour is the SQLite catalog's (``chalicelib.store.sqlite``): same ordering, same name filter, same paging
with total counts, same uniqueness rules and errors. The contract tests hold both to one suite.

Items (``{ws}`` and ``{index}`` are escaped, so a ``#`` inside an id cannot make two keys collide)::

    pk                  sk                            item
    WS#{ws}             KB#{index_id}                 a knowledge base (+ gsi1pk/gsi1sk when it has a source_uri)
    WS#{ws}             NAME#{name}                   the reservation that makes (workspace, name) unique
    IDX#{ws}#{index}    JOB#{job_id}                  an indexing job (ids sort, so a Query lists jobs by id)
    IDX#{ws}#{index}    HIST#{ns:020d}#{random hex}   a retrieval history record (newest first = Query backwards)

    gsi1 (sparse):  gsi1pk = "SOURCE", gsi1sk = "URI#" + source_uri   (only knowledge bases with a source_uri)

Why this shape:

- **Uniqueness.** DynamoDB has no unique constraint besides the primary key, so (workspace, name) gets an item of
  its own. ``create_knowledge_base`` writes the knowledge base and the reservation in one ``TransactWriteItems``,
  both conditioned on ``attribute_not_exists``: either both exist or neither, and the cancellation reason says which
  rule was broken (reported like SQLite: the index id when it is taken, otherwise the name).
- **Bodies are JSON strings** (``dataclasses.asdict``, as in SQLite), not DynamoDB maps: floats survive without
  ``Decimal``, and a field added later with a default round-trips without a migration. Unknown body keys are dropped
  on read, so a rollback to code that predates a field can still read items written by the newer code.
- **One partition per knowledge base for its jobs and history**, so deleting a knowledge base is one paged Query of
  that partition plus ``BatchWriteItem`` deletes.
- **No OFFSET in DynamoDB.** Listings read the partition with pagination and slice in Python. Knowledge bases: the
  whole workspace partition is read (needed anyway to sort by (created_at, index id), filter by name substring and
  count); it holds one knowledge base and one reservation item per index of the workspace, which stays small.
  History: the page is read newest-first and the Query stops after offset + limit items; the total is a
  ``Select=COUNT`` Query, which transfers no items but is billed for every item it counts — a deep page or the total
  of a long history costs read capacity proportional to the history of that one knowledge base.
- **History order.** SQLite orders by an autoincrement sequence, i.e. by insertion, whatever ``created_at`` says
  (it is caller-supplied, may be empty and has one-second resolution). The sort key here is the catalog's own
  clock in nanoseconds, forced strictly increasing per catalog instance (one per process; a Lambda container serves
  one request at a time), so records added in the same instant keep their insertion order. A random suffix keeps
  two writers (containers) from ever overwriting each other; between containers, order is only as good as their
  clocks, which is inherent without a global counter.
- **``knowledge_bases_for_uri``** must find every knowledge base of any workspace whose source_uri is a prefix of an
  object URI. DynamoDB cannot match "key is a prefix of this value", so all knowledge bases with a source_uri share
  one GSI partition sorted by source_uri; every prefix of the URI sorts at or before it, so the Query asks for
  ``gsi1sk <= "URI#" + uri`` and Python keeps the real prefixes. Trade-off: each S3 event reads every source-bound
  knowledge base sorting below its URI (all of them, in the worst case), and the GSI partition takes every such
  knowledge base's writes (rare: create and delete only). Partitioning by bucket would bound the read, but a raw
  prefix like ``s3://b`` would then need a lookup per candidate bucket; at the expected number of knowledge bases a
  single partition is cheaper and simpler. The GSI is eventually consistent: a knowledge base created a moment ago
  may miss an event.
- Base-table reads are strongly consistent, like SQLite's read-your-writes (a job polled right after it is put).

Errors: throttling (after botocore's own retries) becomes ``ThrottlingError``; a missing table becomes
``InternalError`` naming the table and ``SIFT_CATALOG_TABLE``; timeouts become ``ServiceUnavailableError``;
anything else is ``InternalError``. The original exception is always the ``__cause__``.

Limit: an item holds at most 400 KB, so a job with several thousand documents (or a huge history record) cannot be
stored; the write fails with ``InternalError``.

This is the only module of the catalog that imports botocore; the client comes in through the constructor.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from chalicelib.api.errors import (
    AlreadyExistsError,
    InternalError,
    ServiceError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.store.base import HistoryRecord, Job, JobDocument, JobStatus, KnowledgeBase

T = TypeVar("T")

TABLE_ENV_VAR: Final = "SIFT_CATALOG_TABLE"
GSI_NAME: Final = "gsi1"

# The table, as CreateTable parameters (minus TableName). The property names and shapes are those of an
# ``AWS::DynamoDB::Table`` resource too, so the template can be generated from this dict.
TABLE_DEFINITION: Final[dict[str, Any]] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": GSI_NAME,
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["body"]},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_table(client: Any, table_name: str) -> None:
    """Create the catalog table (tests, local development) and wait until it is usable."""
    client.create_table(TableName=table_name, **copy.deepcopy(TABLE_DEFINITION))
    client.get_waiter("table_exists").wait(TableName=table_name)


# --- keys -------------------------------------------------------------------------------------------------------------

_SOURCE_PARTITION: Final = "SOURCE"
_MAX_SORT_KEY_BYTES: Final = 1024  # DynamoDB's limit for a sort key value
_BATCH_SIZE: Final = 25  # BatchWriteItem's limit
_BATCH_ATTEMPTS: Final = 6
_BATCH_BASE_DELAY: Final = 0.05  # seconds; unprocessed items are retried after 0.05 s, 0.1 s, 0.2 s, ...
_THROTTLING_CODES: Final = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_RETRYABLE_CANCELLATIONS: Final = frozenset({"TransactionConflict", "ProvisionedThroughputExceeded", "ThrottlingError"})
_TIMEOUTS: Final = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)


def _escape(part: str) -> str:
    """Make ``#`` (the key separator) impossible inside a key component."""
    return part.replace("%", "%25").replace("#", "%23")


def _workspace_pk(workspace_id: str) -> str:
    return f"WS#{_escape(workspace_id)}"


def _kb_sk(index_id: str) -> str:
    return f"KB#{index_id}"


def _name_sk(name: str) -> str:
    return f"NAME#{name}"


def _index_pk(workspace_id: str, index_id: str) -> str:
    return f"IDX#{_escape(workspace_id)}#{_escape(index_id)}"


def _job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _uri_sort_key(uri: str) -> str:
    """``URI#`` + uri, cut to DynamoDB's 1024-byte sort key limit at a character boundary.

    Cutting keeps the GSI query correct: if ``p`` is a prefix of ``u``, the cut of ``p`` is a prefix of the cut of
    ``u`` and so sorts at or before it; the exact prefix test runs in Python on the stored body.
    """
    encoded = f"URI#{uri}".encode()
    return encoded[:_MAX_SORT_KEY_BYTES].decode(errors="ignore")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


# --- bodies -----------------------------------------------------------------------------------------------------------


def _dump(value: Mapping[str, Any]) -> dict[str, str]:
    return _s(json.dumps(value, ensure_ascii=False))


def _known(cls: type[Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's keys that ``cls`` still has (items outlive code versions; see the module docstring)."""
    names = {item.name for item in dataclasses.fields(cls)}
    return {key: value for key, value in body.items() if key in names}


def _body(item: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(item["body"]["S"])
    return body


def _kb_from(item: Mapping[str, Any]) -> KnowledgeBase:
    return KnowledgeBase(**_known(KnowledgeBase, _body(item)))


def _job_from(item: Mapping[str, Any]) -> Job:
    body = _known(Job, _body(item))
    body["status"] = JobStatus(body["status"])
    body["documents"] = tuple(JobDocument(**_known(JobDocument, document)) for document in body.get("documents", ()))
    return Job(**body)


def _history_from(item: Mapping[str, Any]) -> HistoryRecord:
    return HistoryRecord(**_known(HistoryRecord, _body(item)))


# --- errors -----------------------------------------------------------------------------------------------------------


class _TransactionCancelled(Exception):
    """``TransactionCanceledException`` with its per-item reason codes, for the caller to interpret."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class DynamoDbCatalog:
    """The ``Catalog`` on one DynamoDB table, through the low-level client it is given (never creates one).

    ``clock`` (nanoseconds) orders history; ``sleep`` paces retries of unprocessed batch deletes; ``query_limit``
    caps the items per Query request (``None``: DynamoDB's 1 MB pages) — tests set it small to exercise paging.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        query_limit: int | None = None,
    ) -> None:
        if query_limit is not None and query_limit < 1:
            raise ValueError("query_limit must be at least 1")
        self._client = client
        self._table = table_name
        self._clock = clock
        self._sleep = sleep
        self._query_limit = query_limit
        self._history_lock = threading.Lock()
        self._last_history_ns = 0

    # knowledge bases ---------------------------------------------------------------------------------------------

    def create_knowledge_base(self, kb: KnowledgeBase) -> None:
        pk = _workspace_pk(kb.workspace_id)
        item: dict[str, Any] = {
            "pk": _s(pk), "sk": _s(_kb_sk(kb.index_id)), "type": _s("KB"), "body": _dump(dataclasses.asdict(kb)),
        }
        if kb.source_uri is not None:
            item["gsi1pk"] = _s(_SOURCE_PARTITION)
            item["gsi1sk"] = _s(_uri_sort_key(kb.source_uri))
        reservation = {
            "pk": _s(pk), "sk": _s(_name_sk(kb.name)), "type": _s("NAME"), "index_id": _s(kb.index_id),
        }
        vacant = {"ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self._call(
                "create the knowledge base",
                self._client.transact_write_items,
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": item, **vacant}},
                    {"Put": {"TableName": self._table, "Item": reservation, **vacant}},
                ],
            )
        except _TransactionCancelled as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                raise AlreadyExistsError("index", kb.index_id) from exc
            if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise AlreadyExistsError("index", kb.name) from exc
            raise self._cancellation_error("create the knowledge base", exc) from exc

    def get_knowledge_base(self, workspace_id: str, index_id: str) -> KnowledgeBase | None:
        item = self._get(_workspace_pk(workspace_id), _kb_sk(index_id), "read the knowledge base")
        return _kb_from(item) if item else None

    def list_knowledge_bases(
        self, workspace_id: str, *, name: str | None, offset: int, limit: int
    ) -> tuple[list[KnowledgeBase], int]:
        kbs = [
            _kb_from(item)
            for item in self._query(
                "list knowledge bases",
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": _s(_workspace_pk(workspace_id)), ":prefix": _s("KB#")},
                ProjectionExpression="body",
                ConsistentRead=True,
            )
        ]
        if name:
            kbs = [kb for kb in kbs if name in kb.name]  # literal, case-sensitive substring, like SQLite's instr
        kbs.sort(key=lambda kb: (kb.created_at, kb.index_id))
        return kbs[offset : offset + limit], len(kbs)

    def knowledge_bases_for_uri(self, uri: str) -> list[KnowledgeBase]:
        candidates = self._query(
            "find knowledge bases by source URI",
            IndexName=GSI_NAME,
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :uri",
            ExpressionAttributeValues={":pk": _s(_SOURCE_PARTITION), ":uri": _s(_uri_sort_key(uri))},
            ProjectionExpression="body",
        )
        kbs = (_kb_from(item) for item in candidates)
        return [kb for kb in kbs if kb.source_uri is not None and uri.startswith(kb.source_uri)]

    def delete_knowledge_base(self, workspace_id: str, index_id: str) -> bool:
        """Delete the knowledge base and its name reservation atomically, then its jobs and history.

        The knowledge base goes first, so it stops being visible (and matching S3 events) before the slower purge.
        Like SQLite, the jobs and history of the index are purged even when the knowledge base did not exist.
        """
        pk, sk = _workspace_pk(workspace_id), _kb_sk(index_id)
        item = self._get(pk, sk, "read the knowledge base")
        removed = False
        if item:
            name = _kb_from(item).name
            try:
                self._call(
                    "delete the knowledge base",
                    self._client.transact_write_items,
                    TransactItems=[
                        {"Delete": {
                            "TableName": self._table, "Key": {"pk": _s(pk), "sk": _s(sk)},
                            "ConditionExpression": "attribute_exists(pk)",
                        }},
                        {"Delete": {
                            "TableName": self._table, "Key": {"pk": _s(pk), "sk": _s(_name_sk(name))},
                            # never free a name that (inconsistently) belongs to another index
                            "ConditionExpression": "attribute_not_exists(pk) OR index_id = :index",
                            "ExpressionAttributeValues": {":index": _s(index_id)},
                        }},
                    ],
                )
                removed = True
            except _TransactionCancelled as exc:
                if exc.reasons[:1] != ["ConditionalCheckFailed"]:  # else: deleted concurrently, report it absent
                    raise self._cancellation_error("delete the knowledge base", exc) from exc
        self._purge(_index_pk(workspace_id, index_id))
        return removed

    def _purge(self, pk: str) -> None:
        """Delete every item of a partition: paged Query of the keys, ``BatchWriteItem`` in groups of 25."""
        keys = self._query(
            "list the items of the knowledge base",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(pk)},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        )
        batch: list[dict[str, Any]] = []
        for key in keys:
            batch.append({"DeleteRequest": {"Key": {"pk": key["pk"], "sk": key["sk"]}}})
            if len(batch) == _BATCH_SIZE:
                self._batch_write(batch)
                batch = []
        if batch:
            self._batch_write(batch)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """One ``BatchWriteItem``, retrying its unprocessed items with exponential backoff."""
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._sleep(_BATCH_BASE_DELAY * (2 ** (attempt - 1)))
            response = self._call(
                "delete the items of the knowledge base", self._client.batch_write_item, RequestItems=pending
            )
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
        raise ThrottlingError("The catalog is throttling requests (delete the knowledge base); retry later")

    # jobs --------------------------------------------------------------------------------------------------------

    def put_job(self, job: Job) -> None:
        body = dataclasses.asdict(job) | {"status": job.status.value}
        self._call(
            "save the job",
            self._client.put_item,
            TableName=self._table,
            Item={
                "pk": _s(_index_pk(job.workspace_id, job.index_id)), "sk": _s(_job_sk(job.job_id)),
                "type": _s("JOB"), "body": _dump(body),
            },
        )

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job | None:
        item = self._get(_index_pk(workspace_id, index_id), _job_sk(job_id), "read the job")
        return _job_from(item) if item else None

    # history -----------------------------------------------------------------------------------------------------

    def add_history(self, record: HistoryRecord) -> None:
        self._call(
            "save the history record",
            self._client.put_item,
            TableName=self._table,
            Item={
                "pk": _s(_index_pk(record.workspace_id, record.index_id)), "sk": _s(self._history_sk()),
                "type": _s("HIST"), "body": _dump(dataclasses.asdict(record)),
            },
        )

    def _history_sk(self) -> str:
        """``HIST#`` + a strictly increasing 20-digit nanosecond time + 64 random bits (see the module docstring)."""
        with self._history_lock:
            now = max(self._clock(), self._last_history_ns + 1)
            self._last_history_ns = now
        return f"HIST#{now:020d}#{os.urandom(8).hex()}"

    def list_history(
        self, workspace_id: str, index_id: str, *, offset: int, limit: int
    ) -> tuple[list[HistoryRecord], int]:
        key = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(_index_pk(workspace_id, index_id)), ":prefix": _s("HIST#")},
            "ConsistentRead": True,
        }
        wanted = max(offset, 0) + max(limit, 0)
        items = self._query(
            "list the history", ScanIndexForward=False, ProjectionExpression="body", max_items=wanted, **key
        )
        records = [_history_from(item) for item in items][offset:wanted]
        return records, self._count("count the history", **key)

    # DynamoDB plumbing -------------------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str, operation: str) -> dict[str, Any] | None:
        response = self._call(
            operation,
            self._client.get_item,
            TableName=self._table,
            Key={"pk": _s(pk), "sk": _s(sk)},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _query(self, operation: str, *, max_items: int | None = None, **parameters: Any) -> list[dict[str, Any]]:
        """Every item of a Query (following ``LastEvaluatedKey``), or the first ``max_items``."""
        items: list[dict[str, Any]] = []
        for page in self._pages(operation, max_items=max_items, **parameters):
            items.extend(page.get("Items", []))
        return items if max_items is None else items[:max_items]

    def _count(self, operation: str, **parameters: Any) -> int:
        return sum(int(page.get("Count", 0)) for page in self._pages(operation, Select="COUNT", **parameters))

    def _pages(self, operation: str, *, max_items: int | None = None, **parameters: Any) -> Iterator[dict[str, Any]]:
        fetched = 0
        start: dict[str, Any] | None = None
        while True:
            request = {"TableName": self._table, **parameters}
            limit = self._query_limit
            if max_items is not None:
                if fetched >= max_items:
                    return
                limit = min(limit or max_items, max_items - fetched)
            if limit is not None:
                request["Limit"] = limit
            if start is not None:
                request["ExclusiveStartKey"] = start
            page = self._call(operation, self._client.query, **request)
            fetched += int(page.get("Count", 0))
            yield page
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _call(self, operation: str, method: Callable[..., T], **parameters: Any) -> T:
        """Call the client, translating its failures into service errors (see the module docstring)."""
        try:
            return method(**parameters)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "TransactionCanceledException":
                reasons = [str(reason.get("Code", "None")) for reason in exc.response.get("CancellationReasons", [])]
                raise _TransactionCancelled(reasons) from exc
            raise self._client_error(operation, code, str(error.get("Message", ""))) from exc
        except _TIMEOUTS as exc:
            raise ServiceUnavailableError(f"The catalog did not answer in time ({operation}); retry later") from exc
        except BotoCoreError as exc:
            raise InternalError(f"The catalog failed to {operation} ({type(exc).__name__}: {exc})") from exc

    def _client_error(self, operation: str, code: str, message: str) -> ServiceError:
        if code in _THROTTLING_CODES:
            return ThrottlingError(f"The catalog is throttling requests ({operation}); retry later")
        if code == "ResourceNotFoundException":
            return InternalError(
                f"The catalog table {self._table!r} does not exist; create it or set {TABLE_ENV_VAR} to the name "
                "of an existing catalog table"
            )
        return InternalError(f"The catalog failed to {operation} ({code or 'unknown error'}: {message})")

    def _cancellation_error(self, operation: str, exc: _TransactionCancelled) -> ServiceError:
        if _RETRYABLE_CANCELLATIONS.intersection(exc.reasons):
            return ThrottlingError(f"The catalog is busy with a concurrent change ({operation}); retry later")
        return InternalError(f"The catalog failed to {operation} (transaction cancelled: {exc})")
