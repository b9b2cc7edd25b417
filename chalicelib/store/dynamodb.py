"""DynamoDB catalog for the AWS stages: one table with generic ``pk``/``sk`` string keys and one sparse GSI.

The behaviour is the SQLite catalog's (``chalicelib.store.sqlite``): same ordering, same name filter, same paging
with total counts, same uniqueness rules and errors. The contract tests hold both to one suite.

Items (``{ws}``, ``{index}``, ``{project}`` and ``{dataset}`` are escaped, so a ``#`` inside an id cannot make two
keys collide; the last component of a key needs no escaping, since nothing follows it)::

    pk                  sk                            item
    WS#{ws}             KB#{index_id}                 a knowledge base (+ gsi1pk/gsi1sk when it has a source_uri)
    WS#{ws}             NAME#{name}                   the reservation that makes (workspace, name) unique
    IDX#{ws}#{index}    JOB#{job_id}                  an indexing job (ids sort, so a Query lists jobs by id)
    IDX#{ws}#{index}    HIST#{ns:020d}#{random hex}   a retrieval history record (newest first = Query backwards)
    PRJ#{project}       PROJECT                       a media project
    PRJ#{project}       DS#{name}                     a dataset of the project (names sort, so a Query lists them)
    PRJ#{project}       BIND#{dataset}#URI#{uri}      a binding of the dataset (+ gsi1pk/gsi1sk, always)
    PRJ#{project}       BIND#{dataset}#SHA256#{hex}   the same, when the URI would not fit in a sort key (1024 bytes)
    DC#{ws}             CAT#{category_id}             a data-center category
    DC#{ws}             LEASE#{lease_id}              an upload lease (taken by AddFile; else expired by its TTL)
    DC#{ws}             FILE#{file_id}                a data-center file
    ACCESSKEYS          KEY#{key_id}                  an access key (its secret sealed)
    NONCE#{key_id}      {nonce}                       a nonce the key used (expired by its TTL)

    gsi1 (sparse):  gsi1pk = "SOURCE",  gsi1sk = "URI#" + source_uri   (only knowledge bases with a source_uri)
                    gsi1pk = "BINDING", gsi1sk = "URI#" + uri          (every binding)

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
- **Media: one partition per project** holds the project, its datasets and their bindings, so a future delete of a
  project is one Query of its partition, like ``_purge``. Each of them is unique by its primary key alone, so a
  create is one ``PutItem`` conditioned on ``attribute_not_exists`` (no reservation item, no transaction); a failed
  condition becomes ``AlreadyExistsError("project" | "dataset" | "binding", name or URI)``. The catalog does not check
  that a dataset's project (or a binding's dataset) exists: the protocol leaves that to the caller, as SQLite does.
- **Datasets are listed by a Query of** ``begins_with(sk, "DS#" + prefix)``: the key sorts by name in UTF-8 byte
  order (= code point order, SQLite's BINARY collation), and ``begins_with`` is the literal, case-sensitive prefix
  test, so DynamoDB filters and orders; the whole match is read to count it and sliced in Python (a ``Select=COUNT``
  Query would read the same items again for the total).
- **Bindings by URI** use the knowledge bases' GSI with their own partition value ``BINDING``: a Query names one
  ``gsi1pk``, so ``knowledge_bases_for_uri`` and ``bindings_for_uri`` never see each other's items and the table
  definition is unchanged. The trade-offs are those of the knowledge bases (above), per partition, except that a
  binding is rewritten as its state changes (a few writes per binding). In the base-table key, the URI is the
  binding's identity and cannot be cut like the GSI sort key, so a URI too long for the 1024-byte sort key is replaced
  by its SHA-256 (a different marker, so the two forms never collide); the body keeps the URI.
- **The data center: one partition per workspace** holds its categories, upload leases and files. Listings Query the
  partition by sort-key prefix and order in Python by (created_at, id), as SQLite orders by insertion; a workspace's
  data center is expected to stay within what one paged Query reads comfortably (thousands of files). A lease is
  taken by a conditional ``DeleteItem`` (``attribute_exists``), so exactly one AddFile makes a file of it.
- Base-table reads are strongly consistent, like SQLite's read-your-writes (a job polled right after it is put).

Errors: a failed ``attribute_not_exists`` condition becomes ``AlreadyExistsError``; throttling (after botocore's own
retries) becomes ``ThrottlingError``; a missing table becomes ``InternalError`` naming the table and
``SIFT_CATALOG_TABLE``; timeouts become ``ServiceUnavailableError``; anything else is ``InternalError``. The original
exception is always the ``__cause__``.

Limit: an item holds at most 400 KB, so a job with several thousand documents (or a huge history record) cannot be
stored; the write fails with ``InternalError``.

This is the only module of the catalog that imports botocore; the client comes in through the constructor.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
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

from chalicelib.core.access_keys import AccessKey
from chalicelib.core.errors import (
    AlreadyExistsError,
    InternalError,
    ServiceError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.core.ports.catalog import (
    Binding,
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

T = TypeVar("T")
R = TypeVar("R", Category, UploadLease, DataCenterFile)

TABLE_ENV_VAR: Final = "SIFT_CATALOG_TABLE"
GSI_NAME: Final = "gsi1"
# Items with this attribute (epoch seconds) are deleted by DynamoDB after that time: upload leases no AddFile took.
TIME_TO_LIVE_ATTRIBUTE: Final = "expires"
TIME_TO_LIVE: Final[dict[str, Any]] = {"AttributeName": TIME_TO_LIVE_ATTRIBUTE, "Enabled": True}

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
    client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=TIME_TO_LIVE)


# --- keys -------------------------------------------------------------------------------------------------------------

_SOURCE_PARTITION: Final = "SOURCE"
_ACCESS_KEYS_PK: Final = "ACCESSKEYS"
_BINDING_PARTITION: Final = "BINDING"  # the GSI partition of bindings: never "SOURCE" (see the module docstring)
_PROJECT_SK: Final = "PROJECT"
_DATASET_PREFIX: Final = "DS#"
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


def _project_pk(project_name: str) -> str:
    return f"PRJ#{_escape(project_name)}"


def _dataset_sk(name: str) -> str:
    return f"{_DATASET_PREFIX}{name}"


def _binding_sk(dataset_name: str, uri: str) -> str:
    """The binding's identity within its project: the URI itself when it fits in a sort key, else its SHA-256.

    Unlike the GSI sort key, this key cannot be cut: two URIs sharing their first kilobyte would collide. The
    ``URI#`` / ``SHA256#`` marker follows an escaped component, so the two forms can never be equal.
    """
    head = f"BIND#{_escape(dataset_name)}#"
    key = f"{head}URI#{uri}"
    if len(key.encode()) <= _MAX_SORT_KEY_BYTES:
        return key
    return f"{head}SHA256#{hashlib.sha256(uri.encode()).hexdigest()}"


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


def _project_from(item: Mapping[str, Any]) -> Project:
    return Project(**_known(Project, _body(item)))


def _dataset_from(item: Mapping[str, Any]) -> Dataset:
    return Dataset(**_known(Dataset, _body(item)))


def _binding_from(item: Mapping[str, Any]) -> Binding:
    return Binding(**_known(Binding, _body(item)))


def _data_center_pk(workspace_id: str) -> str:
    return f"DC#{_escape(workspace_id)}"


# --- errors -----------------------------------------------------------------------------------------------------------


class _TransactionCancelled(Exception):
    """``TransactionCanceledException`` with its per-item reason codes, for the caller to interpret."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class _ConditionFailed(Exception):
    """``ConditionalCheckFailedException`` of a single-item write, for the caller to name what already exists."""


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

    # media: projects, datasets, bindings -------------------------------------------------------------------------

    def create_project(self, project: Project) -> None:
        item = {
            "pk": _s(_project_pk(project.name)), "sk": _s(_PROJECT_SK), "type": _s("PROJECT"),
            "body": _dump(dataclasses.asdict(project)),
        }
        self._put_new(item, "create the project", "project", project.name)

    def get_project(self, name: str) -> Project | None:
        item = self._get(_project_pk(name), _PROJECT_SK, "read the project")
        return _project_from(item) if item else None

    def create_dataset(self, dataset: Dataset) -> None:
        """Unique per project; the project's existence is the caller's to check (see the module docstring)."""
        item = {
            "pk": _s(_project_pk(dataset.project_name)), "sk": _s(_dataset_sk(dataset.name)), "type": _s("DS"),
            "body": _dump(dataclasses.asdict(dataset)),
        }
        self._put_new(item, "create the dataset", "dataset", dataset.name)

    def get_dataset(self, project_name: str, name: str) -> Dataset | None:
        item = self._get(_project_pk(project_name), _dataset_sk(name), "read the dataset")
        return _dataset_from(item) if item else None

    def list_datasets(
        self, project_name: str, *, prefix: str | None, offset: int, limit: int
    ) -> tuple[list[Dataset], int]:
        """DynamoDB orders and filters by the sort key; the page is sliced in Python (see the module docstring)."""
        datasets = [
            _dataset_from(item)
            for item in self._query(
                "list datasets",
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": _s(_project_pk(project_name)), ":prefix": _s(_dataset_sk(prefix or "")),
                },
                ProjectionExpression="body",
                ConsistentRead=True,
            )
        ]
        start = max(offset, 0)
        return datasets[start : start + max(limit, 0)], len(datasets)

    def create_binding(self, binding: Binding) -> None:
        self._put_new(self._binding_item(binding), "create the binding", "binding", binding.uri)

    def get_binding(self, project_name: str, dataset_name: str, uri: str) -> Binding | None:
        item = self._get(_project_pk(project_name), _binding_sk(dataset_name, uri), "read the binding")
        return _binding_from(item) if item else None

    def put_binding(self, binding: Binding) -> None:
        """An upsert (unconditional PutItem): replaces the binding, and inserts it when it does not exist.

        Same as SQLite. The whole item is rewritten, GSI keys included, so the binding stays findable by URI.
        """
        self._call("save the binding", self._client.put_item, TableName=self._table, Item=self._binding_item(binding))

    def bindings_for_uri(self, uri: str) -> list[Binding]:
        """The GSI Query of ``knowledge_bases_for_uri`` on the ``BINDING`` partition (eventually consistent)."""
        candidates = self._query(
            "find bindings by URI",
            IndexName=GSI_NAME,
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :uri",
            ExpressionAttributeValues={":pk": _s(_BINDING_PARTITION), ":uri": _s(_uri_sort_key(uri))},
            ProjectionExpression="body",
        )
        bindings = (_binding_from(item) for item in candidates)
        return [binding for binding in bindings if uri.startswith(binding.uri)]

    @staticmethod
    def _binding_item(binding: Binding) -> dict[str, Any]:
        return {
            "pk": _s(_project_pk(binding.project_name)), "sk": _s(_binding_sk(binding.dataset_name, binding.uri)),
            "type": _s("BIND"), "body": _dump(dataclasses.asdict(binding)),
            "gsi1pk": _s(_BINDING_PARTITION), "gsi1sk": _s(_uri_sort_key(binding.uri)),
        }

    # data center: categories, upload leases, files ------------------------------------------------------------------

    def create_category(self, category: Category) -> None:
        self._put_new(self._data_center_item(category.workspace_id, f"CAT#{category.category_id}", category),
                      "create the category", "category", category.category_id)

    def get_category(self, workspace_id: str, category_id: str) -> Category | None:
        return self._data_center_record(Category, workspace_id, f"CAT#{category_id}", "read the category")

    def list_categories(self, workspace_id: str) -> list[Category]:
        categories = [Category(**_known(Category, _body(item)))
                      for item in self._data_center_items(workspace_id, "CAT#", "list categories")]
        return sorted(categories, key=lambda category: (category.created_at, category.category_id))

    def delete_category(self, workspace_id: str, category_id: str) -> bool:
        return self._delete_existing(_data_center_pk(workspace_id), f"CAT#{category_id}", "delete the category")

    def put_lease(self, lease: UploadLease) -> None:
        """With a TTL a day after the lease expires: DynamoDB drops leases no AddFile took (``TIME_TO_LIVE``)."""
        item = self._data_center_item(lease.workspace_id, f"LEASE#{lease.lease_id}", lease)
        item[TIME_TO_LIVE_ATTRIBUTE] = {"N": str(int(lease.expires_at) + 24 * 3600)}
        self._call("save the upload lease", self._client.put_item, TableName=self._table, Item=item)

    def get_lease(self, workspace_id: str, lease_id: str) -> UploadLease | None:
        return self._data_center_record(UploadLease, workspace_id, f"LEASE#{lease_id}", "read the upload lease")

    def list_leases(self, workspace_id: str) -> list[UploadLease]:
        return [UploadLease(**_known(UploadLease, _body(item)))
                for item in self._data_center_items(workspace_id, "LEASE#", "list upload leases")]

    def take_lease(self, workspace_id: str, lease_id: str) -> bool:
        return self._delete_existing(_data_center_pk(workspace_id), f"LEASE#{lease_id}", "take the upload lease")

    def put_file(self, file: DataCenterFile) -> None:
        self._call("save the file", self._client.put_item, TableName=self._table,
                   Item=self._data_center_item(file.workspace_id, f"FILE#{file.file_id}", file))

    def get_file(self, workspace_id: str, file_id: str) -> DataCenterFile | None:
        return self._data_center_record(DataCenterFile, workspace_id, f"FILE#{file_id}", "read the file")

    def list_files(self, workspace_id: str, *, category_id: str | None) -> list[DataCenterFile]:
        files = [DataCenterFile(**_known(DataCenterFile, _body(item)))
                 for item in self._data_center_items(workspace_id, "FILE#", "list files")]
        wanted = [file for file in files if category_id is None or file.category_id == category_id]
        return sorted(wanted, key=lambda file: (file.created_at, file.file_id))

    def delete_file(self, workspace_id: str, file_id: str) -> bool:
        return self._delete_existing(_data_center_pk(workspace_id), f"FILE#{file_id}", "delete the file")

    @staticmethod
    def _data_center_item(workspace_id: str, sk: str, record: Category | UploadLease | DataCenterFile) -> dict[str, Any]:
        return {"pk": _s(_data_center_pk(workspace_id)), "sk": _s(sk), "type": _s(sk.split("#", 1)[0]),
                "body": _dump(dataclasses.asdict(record))}

    def _data_center_record(self, cls: type[R], workspace_id: str, sk: str, operation: str) -> R | None:
        item = self._get(_data_center_pk(workspace_id), sk, operation)
        return cls(**_known(cls, _body(item))) if item else None

    def _data_center_items(self, workspace_id: str, prefix: str, operation: str) -> list[dict[str, Any]]:
        return self._query(
            operation,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": _s(_data_center_pk(workspace_id)), ":prefix": _s(prefix)},
            ProjectionExpression="body",
            ConsistentRead=True,
        )

    def _delete_existing(self, pk: str, sk: str, operation: str) -> bool:
        """DeleteItem conditioned on the item existing: True for the one caller that deleted it."""
        try:
            self._call(operation, self._client.delete_item, TableName=self._table,
                       Key={"pk": _s(pk), "sk": _s(sk)}, ConditionExpression="attribute_exists(pk)")
        except _ConditionFailed:
            return False
        return True

    # access keys and the nonces they used ---------------------------------------------------------------------------

    def put_access_key(self, key: AccessKey) -> None:
        item = {"pk": _s(_ACCESS_KEYS_PK), "sk": _s(f"KEY#{key.key_id}"), "type": _s("KEY"),
                "body": _dump(dataclasses.asdict(key))}
        self._call("save the access key", self._client.put_item, TableName=self._table, Item=item)

    def get_access_key(self, key_id: str) -> AccessKey | None:
        item = self._get(_ACCESS_KEYS_PK, f"KEY#{key_id}", "read the access key")
        return AccessKey(**_known(AccessKey, _body(item))) if item else None

    def list_access_keys(self) -> list[AccessKey]:
        items = self._query(
            "list the access keys",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": _s(_ACCESS_KEYS_PK), ":prefix": _s("KEY#")},
            ProjectionExpression="body",
            ConsistentRead=True,
        )
        return [AccessKey(**_known(AccessKey, _body(item))) for item in items]

    def use_nonce(self, key_id: str, nonce: str, expires_at: float) -> bool:
        """A PutItem conditioned on no unexpired item with this nonce (TTL deletion lags by hours, so an expired one
        may still be there and is overwritten)."""
        item = {"pk": _s(f"NONCE#{_escape(key_id)}"), "sk": _s(nonce), "type": _s("NONCE"),
                TIME_TO_LIVE_ATTRIBUTE: {"N": str(int(expires_at))}}
        try:
            self._call("record the nonce", self._client.put_item, TableName=self._table, Item=item,
                       ConditionExpression="attribute_not_exists(pk) OR #expires < :now",
                       ExpressionAttributeNames={"#expires": TIME_TO_LIVE_ATTRIBUTE},
                       ExpressionAttributeValues={":now": {"N": str(int(self._clock() // 1_000_000_000))}})
        except _ConditionFailed:
            return False
        return True

    def _put_new(self, item: dict[str, Any], operation: str, resource: str, name: str) -> None:
        """PutItem only if no item has this key; otherwise ``AlreadyExistsError(resource, name)``."""
        try:
            self._call(
                operation,
                self._client.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except _ConditionFailed as exc:
            raise AlreadyExistsError(resource, name) from exc

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
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed(str(error.get("Message", ""))) from exc
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
