"""How each API family wraps results and errors on the wire.

Bailian (knowledge base): ``{Code, Data, Message, RequestId, Status, Success}`` — ``Status`` is the HTTP status as a
string, as in the documented sample. Error codes are ``Index.*``-prefixed where the family documents one
(``Index.InvalidParameter``); the others follow the same style.

IMM (Intelligent Media Management): no envelope around the data — a success is the operation's documented keys next to
``RequestId`` (``{"RequestId": ..., "Project": {...}}``), a failure is ``{Code, Message, RequestId}`` with the HTTP
status carrying the rest. The codes are IMM's common error codes: ``InvalidArgument`` for every bad parameter (and for
a body that is too large: IMM has no separate code for it), ``ResourceNotFound``, ``ResourceAlreadyExists``,
``Throttling``, ``InternalError`` and ``ServiceUnavailable``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from chalicelib.core.errors import ErrorKind, ServiceError


class Family(enum.Enum):
    BAILIAN = "bailian"
    IMM = "imm"

    @property
    def api_version(self) -> str:
        """The API version the official SDKs of the family send (``x-acs-version``, or ``Version`` in the query)."""
        return _API_VERSIONS[self]


_API_VERSIONS = {Family.BAILIAN: "2023-12-29", Family.IMM: "2020-09-30"}


_BAILIAN_CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_PARAMETER: "Index.InvalidParameter",
    ErrorKind.UNAUTHENTICATED: "InvalidAccessKeyId",
    ErrorKind.FORBIDDEN: "Forbidden.RAM",
    ErrorKind.NOT_FOUND: "Index.NotFound",
    ErrorKind.METHOD_NOT_ALLOWED: "UnsupportedHTTPMethod",
    ErrorKind.ALREADY_EXISTS: "Index.AlreadyExists",
    ErrorKind.PAYLOAD_TOO_LARGE: "Index.InvalidParameter",
    ErrorKind.THROTTLING: "Throttling",
    ErrorKind.INTERNAL: "InternalError",
    ErrorKind.SERVICE_UNAVAILABLE: "ServiceUnavailable",
}

_IMM_CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_PARAMETER: "InvalidArgument",
    ErrorKind.UNAUTHENTICATED: "InvalidAccessKeyId",
    ErrorKind.FORBIDDEN: "Forbidden.RAM",
    ErrorKind.NOT_FOUND: "ResourceNotFound",
    ErrorKind.METHOD_NOT_ALLOWED: "UnsupportedHTTPMethod",
    ErrorKind.ALREADY_EXISTS: "ResourceAlreadyExists",
    ErrorKind.PAYLOAD_TOO_LARGE: "InvalidArgument",
    ErrorKind.THROTTLING: "Throttling",
    ErrorKind.INTERNAL: "InternalError",
    ErrorKind.SERVICE_UNAVAILABLE: "ServiceUnavailable",
}

INTERNAL_MESSAGE = "The request failed because of an internal error; it has been logged with its RequestId."


def success(family: Family, data: Any, request_id: str) -> dict[str, Any]:
    if family is Family.IMM:
        return _imm_success(data, request_id)
    return {"Code": "Success", "Data": data, "Message": "success", "RequestId": request_id, "Status": "200",
            "Success": True}


def failure(family: Family, error: ServiceError, request_id: str, *, host: str = "") -> dict[str, Any]:
    """The family's error body. An error of the protocol itself (an unknown action, a wrong version) carries its own
    code (``error.code``), the same in both families, as the gateway of either answers it.

    IMM's errors carry ``HostId`` (the endpoint that answered) and ``Recommend`` (a diagnosis link; Sift has none, so
    it is empty), which the SDKs read into their exceptions' data beside ``Code``, ``Message`` and ``RequestId``.
    """
    if family is Family.IMM:
        return {"RequestId": request_id, "HostId": host or "sift", "Code": error.code or _IMM_CODES[error.kind],
                "Message": error.message, "Recommend": ""}
    return {
        "Code": error.code or _BAILIAN_CODES[error.kind],
        "Message": error.message,
        "RequestId": request_id,
        "Status": str(error.kind.status),
        "Success": False,
    }


def _imm_success(data: Any, request_id: str) -> dict[str, Any]:
    """``RequestId`` first, then the operation's keys; the request id of this call always wins.

    IMM handlers return the response keys as a mapping (``None`` for operations that answer with ``RequestId``
    alone, such as DeleteFileMeta); anything else is a programming error, not a caller's.
    """
    if data is None:
        return {"RequestId": request_id}
    if not isinstance(data, Mapping):
        raise TypeError(f"an IMM handler must return a mapping of response keys, not {type(data).__name__}")
    return {"RequestId": request_id, **{key: value for key, value in data.items() if key != "RequestId"}}
