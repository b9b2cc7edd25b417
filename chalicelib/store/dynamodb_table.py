"""The DynamoDB catalog's calls on its table: each client call with its failures as service errors, reads of records,
paged Queries, conditional writes and retried batch deletes.

Errors: a failed condition of a single-item write is ``ConditionFailed`` and a cancelled transaction
``TransactionCancelled`` (with its reasons), for the catalog to interpret (usually ``AlreadyExistsError``); throttling
(after botocore's own retries) becomes ``ThrottlingError``; a missing table becomes ``InternalError`` naming the table
and ``SIFT_CATALOG_TABLE``; timeouts become ``ServiceUnavailableError``; anything else is ``InternalError``. The
original exception is always the ``__cause__``. Base-table reads are strongly consistent.

This is the only module of the catalogs that imports botocore; the client comes in through the constructor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from chalicelib.core.errors import (
    AlreadyExistsError,
    InternalError,
    ServiceError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.store.dynamodb_items import key, record, s

R = TypeVar("R")
T = TypeVar("T")

TABLE_ENV_VAR: Final = "SIFT_CATALOG_TABLE"
_BATCH_SIZE: Final = 25  # BatchWriteItem's limit
_BATCH_ATTEMPTS: Final = 6
_BATCH_BASE_DELAY: Final = 0.05  # seconds; unprocessed items are retried after 0.05 s, 0.1 s, 0.2 s, ...
_THROTTLING_CODES: Final = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_RETRYABLE_CANCELLATIONS: Final = frozenset({"TransactionConflict", "ProvisionedThroughputExceeded", "ThrottlingError"})
_TIMEOUTS: Final = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)


class TransactionCancelled(Exception):
    """``TransactionCanceledException`` with its per-item reason codes, for the caller to interpret."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class ConditionFailed(Exception):
    """``ConditionalCheckFailedException`` of a single-item write, for the caller to name what already exists."""


class CatalogTable:
    """One catalog table through the low-level client it is given (never creates one).

    ``sleep`` paces retries of unprocessed batch deletes; ``query_limit`` caps the items per Query request (``None``:
    DynamoDB's 1 MB pages) — tests set it small to exercise paging.
    """

    def __init__(
        self, client: Any, name: str, *, sleep: Callable[[float], None] = time.sleep, query_limit: int | None = None
    ) -> None:
        if query_limit is not None and query_limit < 1:
            raise ValueError("query_limit must be at least 1")
        self.client = client
        self.name = name
        self._sleep = sleep
        self._query_limit = query_limit

    def get(self, pk: str, sk: str, operation: str) -> dict[str, Any] | None:
        response = self.call(operation, self.client.get_item, TableName=self.name, Key=key(pk, sk), ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def get_record(self, cls: type[R], pk: str, sk: str, operation: str) -> R | None:
        """The record of type ``cls`` in the item (pk, sk), or None."""
        found = self.get(pk, sk, operation)
        return record(cls, found) if found else None

    def put(self, operation: str, item: dict[str, Any], **condition: Any) -> None:
        """PutItem (under ``condition``: ``ConditionExpression`` etc., else unconditionally)."""
        self.call(operation, self.client.put_item, TableName=self.name, Item=item, **condition)

    def put_new(self, item: dict[str, Any], operation: str, resource: str, name: str) -> None:
        """PutItem only if no item has this key; otherwise ``AlreadyExistsError(resource, name)``."""
        try:
            self.put(operation, item, ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailed as exc:
            raise AlreadyExistsError(resource, name) from exc

    def delete_existing(self, pk: str, sk: str, operation: str) -> bool:
        """DeleteItem conditioned on the item existing: True for the one caller that deleted it."""
        try:
            self.call(
                operation,
                self.client.delete_item,
                TableName=self.name,
                Key=key(pk, sk),
                ConditionExpression="attribute_exists(pk)",
            )
        except ConditionFailed:
            return False
        return True

    def transact(self, operation: str, *actions: dict[str, Any]) -> None:
        """One ``TransactWriteItems`` of ``{"Put": ...}`` / ``{"Delete": ...}`` actions (the table name is added)."""
        items = [{kind: {"TableName": self.name, **action} for kind, action in entry.items()} for entry in actions]
        self.call(operation, self.client.transact_write_items, TransactItems=items)

    def query(self, operation: str, *, max_items: int | None = None, **parameters: Any) -> list[dict[str, Any]]:
        """Every item of a Query (following ``LastEvaluatedKey``), or the first ``max_items``."""
        items: list[dict[str, Any]] = []
        for page in self._pages(operation, max_items=max_items, **parameters):
            items.extend(page.get("Items", []))
        return items if max_items is None else items[:max_items]

    def query_prefix(self, operation: str, pk: str, prefix: str) -> list[dict[str, Any]]:
        """The bodies of the partition's items whose sort key starts with ``prefix``, in sort-key order."""
        return self.query(
            operation,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": s(pk), ":prefix": s(prefix)},
            ProjectionExpression="body",
            ConsistentRead=True,
        )

    def records(self, cls: type[R], operation: str, pk: str, prefix: str) -> list[R]:
        """The records of type ``cls`` under ``query_prefix``."""
        return [record(cls, found) for found in self.query_prefix(operation, pk, prefix)]

    def count(self, operation: str, **parameters: Any) -> int:
        return sum(int(page.get("Count", 0)) for page in self._pages(operation, Select="COUNT", **parameters))

    def delete_partition(self, pk: str) -> None:
        """Delete every item of a partition: paged Query of the keys, ``BatchWriteItem`` in groups of 25."""
        keys = self.query(
            "list the items of the knowledge base",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(pk)},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        )
        for start in range(0, len(keys), _BATCH_SIZE):
            batch = [
                {"DeleteRequest": {"Key": {"pk": k["pk"], "sk": k["sk"]}}} for k in keys[start : start + _BATCH_SIZE]
            ]
            self._batch_write(batch)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """One ``BatchWriteItem``, retrying its unprocessed items with exponential backoff."""
        pending: dict[str, Any] = {self.name: requests}
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._sleep(_BATCH_BASE_DELAY * (2 ** (attempt - 1)))
            response = self.call(
                "delete the items of the knowledge base", self.client.batch_write_item, RequestItems=pending
            )
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
        raise ThrottlingError("The catalog is throttling requests (delete the knowledge base); retry later")

    def _pages(self, operation: str, *, max_items: int | None = None, **parameters: Any) -> Iterator[dict[str, Any]]:
        fetched = 0
        start: dict[str, Any] | None = None
        while True:
            request = {"TableName": self.name, **parameters}
            limit = self._query_limit
            if max_items is not None:
                if fetched >= max_items:
                    return
                limit = min(limit or max_items, max_items - fetched)
            if limit is not None:
                request["Limit"] = limit
            if start is not None:
                request["ExclusiveStartKey"] = start
            page = self.call(operation, self.client.query, **request)
            fetched += int(page.get("Count", 0))
            yield page
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def call(self, operation: str, method: Callable[..., T], **parameters: Any) -> T:
        """Call the client, translating its failures into service errors (see the module docstring)."""
        try:
            return method(**parameters)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "TransactionCanceledException":
                reasons = [str(reason.get("Code", "None")) for reason in exc.response.get("CancellationReasons", [])]
                raise TransactionCancelled(reasons) from exc
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(str(error.get("Message", ""))) from exc
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
                f"The catalog table {self.name!r} does not exist; create it or set {TABLE_ENV_VAR} to the name "
                "of an existing catalog table"
            )
        return InternalError(f"The catalog failed to {operation} ({code or 'unknown error'}: {message})")

    @staticmethod
    def cancellation_error(operation: str, exc: TransactionCancelled) -> ServiceError:
        if _RETRYABLE_CANCELLATIONS.intersection(exc.reasons):
            return ThrottlingError(f"The catalog is busy with a concurrent change ({operation}); retry later")
        return InternalError(f"The catalog failed to {operation} (transaction cancelled: {exc})")
