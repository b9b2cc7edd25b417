"""Translation of opensearch-py failures into the service's error hierarchy (``chalicelib.core.errors``).

Why: a caller must never see a raw client traceback. Failures that a retry may cure (timeouts, lost connections,
429 and 5xx answers) become ``ServiceUnavailableError`` (503) — except a whole request rejected with HTTP 429, which is
reported as ``ThrottlingError`` (429) — and everything else (a bad mapping, a malformed query: a bug on our side)
becomes ``InternalError`` (500). Every translation keeps the original exception as ``__cause__`` for the logs.
The same rules apply to failures OpenSearch reports inside an answer that did not raise: a search that timed out or
lost shards (``check_search``: a partial answer would pass for a complete one) and failed bulk items
(``bulk_failure``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from chalicelib.core.errors import InternalError, ServiceError, ServiceUnavailableError, ThrottlingError

TIMEOUT_MESSAGE: Final = "OpenSearch did not answer in time; retry the request"


def is_retryable_status(status: object) -> bool:
    """429 (too many requests / rejected execution) and every 5xx may succeed when tried again."""
    return isinstance(status, int) and (status == 429 or 500 <= status < 600)


def error_reason(error: object) -> str:
    """A one-line ``type: reason`` from an OpenSearch error object (a dict with ``type``/``reason``, or a string)."""
    if isinstance(error, Mapping):
        kind = error.get("type")
        reason = error.get("reason")
        causes = error.get("caused_by")
        text = ": ".join(str(part) for part in (kind, reason) if part)
        if isinstance(causes, Mapping) and causes.get("reason"):
            text = f"{text} (caused by {causes.get('type', 'error')}: {causes['reason']})"
        return text or "unknown error"
    return str(error) if error else "unknown error"


def classify(status: object, message: str) -> ServiceError:
    """The service error for a failed item (msearch response, bulk item) with this HTTP status."""
    if is_retryable_status(status) or status == 408:
        return ServiceUnavailableError(f"{message}; retry the request")
    return InternalError(message)


def error_type(error: object) -> str | None:
    """The OpenSearch error ``type`` of a ``TransportError`` or a response item, if it names one."""
    info: Any = error
    if isinstance(error, Exception):
        info = error.args[2] if len(error.args) > 2 else None
    if isinstance(info, Mapping):
        detail = info.get("error")
        if isinstance(detail, Mapping):
            return str(detail.get("type")) if detail.get("type") else None
    return None


def check_search(item: Mapping[str, Any], what: str) -> None:
    """Raise for a search answer (an msearch item or a search response) that timed out or lost shards: a partial
    answer would pass for a complete one."""
    if item.get("timed_out"):
        raise ServiceUnavailableError(f"OpenSearch timed out during the {what}; retry the request")
    shards = item.get("_shards") or {}
    if shards.get("failed"):
        failures = shards.get("failures") or [{}]
        status = failures[0].get("status")
        reason = error_reason(failures[0].get("reason"))
        raise classify(status, f"OpenSearch failed the {what} on {shards['failed']} shard(s): {reason}")


def bulk_failure(action: str, failures: Sequence[Mapping[str, Any]], noun: str | None) -> ServiceError:
    """The service error for bulk items that failed: 503 when every failure may pass on a retry, else 500. The first
    failure's ``_id`` is quoted as ``noun`` (``None``: not quoted)."""
    first = failures[0]
    subject = f"{noun} {first['_id']!r}, " if noun and first.get("_id") else ""
    message = (
        f"OpenSearch failed to {action} "
        f"(first: {subject}HTTP {first.get('status')}: {error_reason(first.get('error'))})"
    )
    if all(is_retryable_status(failure.get("status")) for failure in failures):
        return ServiceUnavailableError(f"{message}; retry the request")
    return InternalError(message)


def translate(exc: TransportError, action: str) -> ServiceError:
    """The service error for an exception raised by the client while doing ``action`` (e.g. "recall")."""
    if isinstance(exc, (ConnectionTimeout, OpenSearchConnectionError)):
        return ServiceUnavailableError(TIMEOUT_MESSAGE)
    status = exc.status_code
    reason = _transport_reason(exc)
    if status == 429:
        return ThrottlingError(f"OpenSearch is throttling requests ({action}): {reason}; slow down and retry")
    if is_retryable_status(status):
        return ServiceUnavailableError(f"OpenSearch failed to {action} (HTTP {status}): {reason}; retry the request")
    return InternalError(f"OpenSearch failed to {action} (HTTP {status}): {reason}")


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Run client calls, re-raising any ``TransportError`` as the matching service error (``from`` the original)."""
    try:
        yield
    except TransportError as exc:
        raise translate(exc, action) from exc


def _transport_reason(exc: TransportError) -> str:
    info: Any = exc.info if len(exc.args) > 2 else None
    if isinstance(info, Mapping) and "error" in info:
        error = info["error"]
        if isinstance(error, Mapping) and isinstance(error.get("root_cause"), list) and error["root_cause"]:
            return error_reason(error["root_cause"][0])
        return error_reason(error)
    detail = exc.error if len(exc.args) > 1 else None
    return str(detail) if detail else exc.__class__.__name__
