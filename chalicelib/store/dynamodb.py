"""The DynamoDB catalog for the AWS stages: the ``Catalog`` methods on one table (``chalicelib.store.dynamodb_items``
lays the table out; ``chalicelib.store.dynamodb_table`` makes the calls and translates their errors).

The behaviour is the SQLite catalog's (``chalicelib.store.sqlite``): same ordering, same name filter, same paging
with total counts, same uniqueness rules and errors. The contract tests hold both to one suite.

The table's layout, and why it has that shape (uniqueness, listings without OFFSET, history order, lookups by URI),
are ``chalicelib.store.dynamodb_items``'s docstring. The **compare-and-swap** of ``update_knowledge_base`` reads the
item strongly consistently and rewrites its body with an ``UpdateItem`` conditioned on the body read
(``ConditionalCheckFailed``: read again; see ``chalicelib.store.compare_and_swap``). Only the body changes: the keys,
the name reservation and the GSI keys hold the fields an update may not change.

Errors are those of ``chalicelib.store.dynamodb_table``. Limit: an item holds at most 400 KB, so a job with several
thousand documents (or a huge history record) cannot be stored; the write fails with ``InternalError``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

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
from chalicelib.store.compare_and_swap import compare_and_swap
from chalicelib.store.dynamodb_items import (
    ACCESS_KEYS_PK,
    BINDING_PARTITION,
    GSI_NAME,
    PROJECT_SK,
    SOURCE_PARTITION,
    TABLE_DEFINITION,
    TIME_TO_LIVE,
    TIME_TO_LIVE_ATTRIBUTE,
    binding_sk,
    body,
    create_table,
    data_center_pk,
    dataset_sk,
    escape,
    index_pk,
    item,
    job_sk,
    kb_sk,
    key,
    name_sk,
    project_pk,
    record,
    s,
    uri_sort_key,
    workspace_pk,
)
from chalicelib.store.dynamodb_table import TABLE_ENV_VAR, CatalogTable, ConditionFailed, TransactionCancelled

# The table's definition is imported from here by the scripts and tests that create or template the table.
__all__ = ["TABLE_DEFINITION", "TABLE_ENV_VAR", "TIME_TO_LIVE", "DynamoDbCatalog", "create_table"]

R = TypeVar("R", Category, UploadLease, DataCenterFile)


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
        self._table = CatalogTable(client, table_name, sleep=sleep, query_limit=query_limit)
        self._client = client
        self._clock = clock
        self._history_lock = threading.Lock()
        self._last_history_ns = 0

    # knowledge bases ---------------------------------------------------------------------------------------------

    def create_knowledge_base(self, kb: KnowledgeBase) -> None:
        pk = workspace_pk(kb.workspace_id)
        kb_item = item(pk, kb_sk(kb.index_id), "KB", kb)
        if kb.source_uri is not None:
            kb_item["gsi1pk"] = s(SOURCE_PARTITION)
            kb_item["gsi1sk"] = s(uri_sort_key(kb.source_uri))
        reservation = {"pk": s(pk), "sk": s(name_sk(kb.name)), "type": s("NAME"), "index_id": s(kb.index_id)}
        vacant = {"ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self._table.transact(
                "create the knowledge base",
                {"Put": {"Item": kb_item, **vacant}},
                {"Put": {"Item": reservation, **vacant}},
            )
        except TransactionCancelled as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                raise AlreadyExistsError("index", kb.index_id) from exc
            if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
                raise AlreadyExistsError("index", kb.name) from exc
            raise self._table.cancellation_error("create the knowledge base", exc) from exc

    def get_knowledge_base(self, workspace_id: str, index_id: str) -> KnowledgeBase | None:
        return self._table.get_record(
            KnowledgeBase, workspace_pk(workspace_id), kb_sk(index_id), "read the knowledge base"
        )

    def list_knowledge_bases(
        self, workspace_id: str, *, name: str | None, offset: int, limit: int
    ) -> tuple[list[KnowledgeBase], int]:
        kbs = self._table.records(KnowledgeBase, "list knowledge bases", workspace_pk(workspace_id), "KB#")
        if name:
            kbs = [kb for kb in kbs if name in kb.name]  # literal, case-sensitive substring, like SQLite's instr
        kbs.sort(key=lambda kb: (kb.created_at, kb.index_id))
        return kbs[offset : offset + limit], len(kbs)

    def knowledge_bases_for_uri(self, uri: str) -> list[KnowledgeBase]:
        kbs = (
            record(KnowledgeBase, found)
            for found in self._by_uri("find knowledge bases by source URI", SOURCE_PARTITION, uri)
        )
        return [kb for kb in kbs if kb.source_uri is not None and uri.startswith(kb.source_uri)]

    def update_knowledge_base(
        self, workspace_id: str, index_id: str, change: Callable[[KnowledgeBase], KnowledgeBase]
    ) -> KnowledgeBase | None:
        """Compare-and-swap: an ``UpdateItem`` of the body conditioned on the body read (see the module docstring)."""
        pk, sk = workspace_pk(workspace_id), kb_sk(index_id)

        def read() -> tuple[dict[str, str], KnowledgeBase] | None:
            found = self._table.get(pk, sk, "read the knowledge base")
            return (found["body"], record(KnowledgeBase, found)) if found else None

        def write(stored: dict[str, str], new: KnowledgeBase) -> bool:
            try:
                self._table.call(
                    "update the knowledge base",
                    self._client.update_item,
                    TableName=self._table.name,
                    Key=key(pk, sk),
                    UpdateExpression="SET #body = :new",
                    ConditionExpression="#body = :old",
                    ExpressionAttributeNames={"#body": "body"},
                    ExpressionAttributeValues={":new": body(new), ":old": stored},
                )
            except ConditionFailed:
                return False
            return True

        return compare_and_swap(read, write, change)

    def delete_knowledge_base(self, workspace_id: str, index_id: str) -> bool:
        """Delete the knowledge base and its name reservation atomically, then its jobs and history.

        The knowledge base goes first, so it stops being visible (and matching S3 events) before the slower purge.
        Like SQLite, the jobs and history of the index are purged even when the knowledge base did not exist.
        """
        pk, sk = workspace_pk(workspace_id), kb_sk(index_id)
        found = self._table.get(pk, sk, "read the knowledge base")
        removed = False
        if found:
            name = record(KnowledgeBase, found).name
            try:
                self._table.transact(
                    "delete the knowledge base",
                    {"Delete": {"Key": key(pk, sk), "ConditionExpression": "attribute_exists(pk)"}},
                    {
                        "Delete": {
                            "Key": key(pk, name_sk(name)),
                            # never free a name that (inconsistently) belongs to another index
                            "ConditionExpression": "attribute_not_exists(pk) OR index_id = :index",
                            "ExpressionAttributeValues": {":index": s(index_id)},
                        }
                    },
                )
                removed = True
            except TransactionCancelled as exc:
                if exc.reasons[:1] != ["ConditionalCheckFailed"]:  # else: deleted concurrently, report it absent
                    raise self._table.cancellation_error("delete the knowledge base", exc) from exc
        self._table.delete_partition(index_pk(workspace_id, index_id))
        return removed

    # jobs --------------------------------------------------------------------------------------------------------

    def put_job(self, job: Job) -> None:
        self._table.put("save the job", item(index_pk(job.workspace_id, job.index_id), job_sk(job.job_id), "JOB", job))

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job | None:
        return self._table.get_record(Job, index_pk(workspace_id, index_id), job_sk(job_id), "read the job")

    # history -----------------------------------------------------------------------------------------------------

    def add_history(self, history: HistoryRecord) -> None:
        pk = index_pk(history.workspace_id, history.index_id)
        self._table.put("save the history record", item(pk, self._history_sk(), "HIST", history))

    def _history_sk(self) -> str:
        """``HIST#`` + a strictly increasing 20-digit nanosecond time + 64 random bits (see ``dynamodb_items``)."""
        with self._history_lock:
            now = max(self._clock(), self._last_history_ns + 1)
            self._last_history_ns = now
        return f"HIST#{now:020d}#{os.urandom(8).hex()}"

    def list_history(
        self, workspace_id: str, index_id: str, *, offset: int, limit: int
    ) -> tuple[list[HistoryRecord], int]:
        condition = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": s(index_pk(workspace_id, index_id)), ":prefix": s("HIST#")},
            "ConsistentRead": True,
        }
        wanted = max(offset, 0) + max(limit, 0)
        items = self._table.query(
            "list the history", ScanIndexForward=False, ProjectionExpression="body", max_items=wanted, **condition
        )
        records = [record(HistoryRecord, found) for found in items][offset:wanted]
        return records, self._table.count("count the history", **condition)

    # media: projects, datasets, bindings -------------------------------------------------------------------------

    def create_project(self, project: Project) -> None:
        self._table.put_new(
            item(project_pk(project.name), PROJECT_SK, "PROJECT", project),
            "create the project",
            "project",
            project.name,
        )

    def get_project(self, name: str) -> Project | None:
        return self._table.get_record(Project, project_pk(name), PROJECT_SK, "read the project")

    def create_dataset(self, dataset: Dataset) -> None:
        """Unique per project; the project's existence is the caller's to check (see ``dynamodb_items``)."""
        self._table.put_new(
            item(project_pk(dataset.project_name), dataset_sk(dataset.name), "DS", dataset),
            "create the dataset",
            "dataset",
            dataset.name,
        )

    def get_dataset(self, project_name: str, name: str) -> Dataset | None:
        return self._table.get_record(Dataset, project_pk(project_name), dataset_sk(name), "read the dataset")

    def list_datasets(
        self, project_name: str, *, prefix: str | None, offset: int, limit: int
    ) -> tuple[list[Dataset], int]:
        """DynamoDB orders and filters by the sort key; the page is sliced in Python (see ``dynamodb_items``)."""
        datasets = self._table.records(Dataset, "list datasets", project_pk(project_name), dataset_sk(prefix or ""))
        start = max(offset, 0)
        return datasets[start : start + max(limit, 0)], len(datasets)

    def create_binding(self, binding: Binding) -> None:
        self._table.put_new(self._binding_item(binding), "create the binding", "binding", binding.uri)

    def get_binding(self, project_name: str, dataset_name: str, uri: str) -> Binding | None:
        return self._table.get_record(
            Binding, project_pk(project_name), binding_sk(dataset_name, uri), "read the binding"
        )

    def put_binding(self, binding: Binding) -> None:
        """An upsert (unconditional PutItem): replaces the binding, and inserts it when it does not exist.

        Same as SQLite. The whole item is rewritten, GSI keys included, so the binding stays findable by URI.
        """
        self._table.put("save the binding", self._binding_item(binding))

    def bindings_for_uri(self, uri: str) -> list[Binding]:
        """The GSI Query of ``knowledge_bases_for_uri`` on the ``BINDING`` partition (eventually consistent)."""
        bindings = (record(Binding, found) for found in self._by_uri("find bindings by URI", BINDING_PARTITION, uri))
        return [binding for binding in bindings if uri.startswith(binding.uri)]

    @staticmethod
    def _binding_item(binding: Binding) -> dict[str, Any]:
        pk, sk = project_pk(binding.project_name), binding_sk(binding.dataset_name, binding.uri)
        return item(pk, sk, "BIND", binding) | {"gsi1pk": s(BINDING_PARTITION), "gsi1sk": s(uri_sort_key(binding.uri))}

    def _by_uri(self, operation: str, partition: str, uri: str) -> list[dict[str, Any]]:
        """The GSI partition's items sorting at or before ``uri``, every prefix of ``uri`` among them."""
        return self._table.query(
            operation,
            IndexName=GSI_NAME,
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk <= :uri",
            ExpressionAttributeValues={":pk": s(partition), ":uri": s(uri_sort_key(uri))},
            ProjectionExpression="body",
        )

    # data center: categories, upload leases, files ------------------------------------------------------------------

    def create_category(self, category: Category) -> None:
        self._table.put_new(
            self._data_center_item(category.workspace_id, f"CAT#{category.category_id}", category),
            "create the category",
            "category",
            category.category_id,
        )

    def get_category(self, workspace_id: str, category_id: str) -> Category | None:
        return self._data_center_record(Category, workspace_id, f"CAT#{category_id}", "read the category")

    def list_categories(self, workspace_id: str) -> list[Category]:
        categories = self._data_center_records(Category, workspace_id, "CAT#", "list categories")
        return sorted(categories, key=lambda category: (category.created_at, category.category_id))

    def delete_category(self, workspace_id: str, category_id: str) -> bool:
        return self._table.delete_existing(data_center_pk(workspace_id), f"CAT#{category_id}", "delete the category")

    def put_lease(self, lease: UploadLease) -> None:
        """With a TTL a day after the lease expires: DynamoDB drops leases no AddFile took (``TIME_TO_LIVE``)."""
        lease_item = self._data_center_item(lease.workspace_id, f"LEASE#{lease.lease_id}", lease)
        lease_item[TIME_TO_LIVE_ATTRIBUTE] = {"N": str(int(lease.expires_at) + 24 * 3600)}
        self._table.put("save the upload lease", lease_item)

    def get_lease(self, workspace_id: str, lease_id: str) -> UploadLease | None:
        return self._data_center_record(UploadLease, workspace_id, f"LEASE#{lease_id}", "read the upload lease")

    def list_leases(self, workspace_id: str) -> list[UploadLease]:
        return self._data_center_records(UploadLease, workspace_id, "LEASE#", "list upload leases")

    def take_lease(self, workspace_id: str, lease_id: str) -> bool:
        return self._table.delete_existing(data_center_pk(workspace_id), f"LEASE#{lease_id}", "take the upload lease")

    def put_file(self, file: DataCenterFile) -> None:
        self._table.put("save the file", self._data_center_item(file.workspace_id, f"FILE#{file.file_id}", file))

    def get_file(self, workspace_id: str, file_id: str) -> DataCenterFile | None:
        return self._data_center_record(DataCenterFile, workspace_id, f"FILE#{file_id}", "read the file")

    def list_files(self, workspace_id: str, *, category_id: str | None) -> list[DataCenterFile]:
        files = self._data_center_records(DataCenterFile, workspace_id, "FILE#", "list files")
        wanted = [file for file in files if category_id is None or file.category_id == category_id]
        return sorted(wanted, key=lambda file: (file.created_at, file.file_id))

    def delete_file(self, workspace_id: str, file_id: str) -> bool:
        return self._table.delete_existing(data_center_pk(workspace_id), f"FILE#{file_id}", "delete the file")

    @staticmethod
    def _data_center_item(workspace_id: str, sk: str, data: Category | UploadLease | DataCenterFile) -> dict[str, Any]:
        return item(data_center_pk(workspace_id), sk, sk.split("#", 1)[0], data)

    def _data_center_record(self, cls: type[R], workspace_id: str, sk: str, operation: str) -> R | None:
        return self._table.get_record(cls, data_center_pk(workspace_id), sk, operation)

    def _data_center_records(self, cls: type[R], workspace_id: str, prefix: str, operation: str) -> list[R]:
        return self._table.records(cls, operation, data_center_pk(workspace_id), prefix)

    # access keys and the nonces they used ---------------------------------------------------------------------------

    def put_access_key(self, access_key: AccessKey) -> None:
        self._table.put("save the access key", item(ACCESS_KEYS_PK, f"KEY#{access_key.key_id}", "KEY", access_key))

    def get_access_key(self, key_id: str) -> AccessKey | None:
        return self._table.get_record(AccessKey, ACCESS_KEYS_PK, f"KEY#{key_id}", "read the access key")

    def list_access_keys(self) -> list[AccessKey]:
        return self._table.records(AccessKey, "list the access keys", ACCESS_KEYS_PK, "KEY#")

    def use_nonce(self, key_id: str, nonce: str, expires_at: float) -> bool:
        """A PutItem conditioned on no unexpired item with this nonce (TTL deletion lags by hours, so an expired one
        may still be there and is overwritten)."""
        nonce_item = {
            "pk": s(f"NONCE#{escape(key_id)}"),
            "sk": s(nonce),
            "type": s("NONCE"),
            TIME_TO_LIVE_ATTRIBUTE: {"N": str(int(expires_at))},
        }
        try:
            self._table.put(
                "record the nonce",
                nonce_item,
                ConditionExpression="attribute_not_exists(pk) OR #expires < :now",
                ExpressionAttributeNames={"#expires": TIME_TO_LIVE_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(int(self._clock() // 1_000_000_000))}},
            )
        except ConditionFailed:
            return False
        return True
