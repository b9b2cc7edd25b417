"""How each API family wraps results and errors on the wire.

Bailian (knowledge base): ``{Code, Data, Message, RequestId, Status, Success}`` — ``Status`` is the HTTP status as a
string, as in the documented sample. Error codes are ``Index.*``-prefixed where the family documents one
(``Index.InvalidParameter``); the others follow the same style.
"""

from __future__ import annotations

import enum
from typing import Any

from chalicelib.api.errors import ErrorKind, ServiceError


class Family(enum.Enum):
    BAILIAN = "bailian"


_BAILIAN_CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_PARAMETER: "Index.InvalidParameter",
    ErrorKind.NOT_FOUND: "Index.NotFound",
    ErrorKind.ALREADY_EXISTS: "Index.AlreadyExists",
    ErrorKind.PAYLOAD_TOO_LARGE: "Index.InvalidParameter",
    ErrorKind.THROTTLING: "Throttling",
    ErrorKind.INTERNAL: "InternalError",
    ErrorKind.SERVICE_UNAVAILABLE: "ServiceUnavailable",
}

INTERNAL_MESSAGE = "The request failed because of an internal error; it has been logged with its RequestId."


def success(family: Family, data: Any, request_id: str) -> dict[str, Any]:
    return {"Code": "Success", "Data": data, "Message": "success", "RequestId": request_id, "Status": "200",
            "Success": True}


def failure(family: Family, error: ServiceError, request_id: str) -> dict[str, Any]:
    return {
        "Code": _BAILIAN_CODES[error.kind],
        "Message": error.message,
        "RequestId": request_id,
        "Status": str(error.kind.status),
        "Success": False,
    }
