"""The one error hierarchy of the service.

Every failure a caller can see is a ``ServiceError``: it carries an ``ErrorKind`` (which fixes the HTTP status) and a
message written for the caller. Each API family renders the kind with its own documented code (see
``chalicelib.api.envelopes``), so the core never needs to know which family it is serving.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence


class ErrorKind(enum.Enum):
    """What went wrong, independent of the API family that reports it."""

    INVALID_PARAMETER = 400
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    ALREADY_EXISTS = 409
    PAYLOAD_TOO_LARGE = 413
    THROTTLING = 429
    INTERNAL = 500
    SERVICE_UNAVAILABLE = 503

    @property
    def status(self) -> int:
        return self.value


class ServiceError(Exception):
    """A failure with a caller-facing message; ``kind`` decides the HTTP status and the documented code."""

    kind: ErrorKind = ErrorKind.INTERNAL
    # A code of its own, for errors of the protocol rather than of an operation (``InvalidAction.NotFound``); ``None``
    # lets the family render ``kind`` with its documented code.
    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameterError(ServiceError):
    """A request parameter is missing, of the wrong type, out of range or otherwise unusable.

    ``field`` is the parameter's wire name (e.g. ``Rerank[0].RerankTopN`` or ``SearchFilters[1].price.gt``).
    """

    kind = ErrorKind.INVALID_PARAMETER

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"Parameter {field} is invalid: {problem}")
        self.field = field
        self.problem = problem


class NotFoundError(ServiceError):
    """The named resource does not exist (or belongs to another tenant, which is reported the same way)."""

    kind = ErrorKind.NOT_FOUND

    def __init__(self, resource: str, name: str) -> None:
        super().__init__(f"The specified resource {resource} is not found: {name}")
        self.resource = resource
        self.name = name


class AlreadyExistsError(ServiceError):
    kind = ErrorKind.ALREADY_EXISTS

    def __init__(self, resource: str, name: str) -> None:
        super().__init__(f"The specified resource {resource} already exists: {name}")
        self.resource = resource
        self.name = name


class AuthenticationError(ServiceError):
    """The request's signature does not authenticate it (``code``: which check failed, in the SDKs' vocabulary:
    ``IncompleteSignature``, ``InvalidAccessKeyId.NotFound``, ``SignatureDoesNotMatch``, …). The message never holds
    a secret or a signature."""

    kind = ErrorKind.UNAUTHENTICATED

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PermissionDeniedError(ServiceError):
    """An authenticated key that may not do this: another tenant's workspace or project (whether it exists or not:
    the answer is the same, so it tells nothing), or a write with a read key."""

    kind = ErrorKind.FORBIDDEN
    code = "Forbidden.RAM"


class PayloadTooLargeError(ServiceError):
    kind = ErrorKind.PAYLOAD_TOO_LARGE


class ThrottlingError(ServiceError):
    kind = ErrorKind.THROTTLING


class ServiceUnavailableError(ServiceError):
    """A dependency (search engine, model endpoint) did not answer in time; the caller may retry."""

    kind = ErrorKind.SERVICE_UNAVAILABLE


class InternalError(ServiceError):
    kind = ErrorKind.INTERNAL


class UnknownActionError(ServiceError):
    """The RPC endpoint was asked for an operation it does not have (or for none): the gateways' common error."""

    kind = ErrorKind.NOT_FOUND
    code = "InvalidAction.NotFound"

    def __init__(self, action: str) -> None:
        named = f" {_quoted(action)}" if action else ""
        super().__init__(f"Specified api{named} is not found, please check your url and method.")


class UnknownRouteError(UnknownActionError):
    """No operation lives at the path: the same answer as for an unknown RPC action."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"{method} {path}")


class MethodNotAllowedError(ServiceError):
    """The path holds an operation, but not for this HTTP method."""

    kind = ErrorKind.METHOD_NOT_ALLOWED
    code = "UnsupportedHTTPMethod"

    def __init__(self, method: str, path: str, allowed: Sequence[str]) -> None:
        super().__init__(f"{_quoted(path)} does not take {_quoted(method)}; it takes {', '.join(allowed)}.")
        self.allowed = tuple(allowed)


class InvalidVersionError(ServiceError):
    """The request names an API version other than the one the endpoint implements."""

    kind = ErrorKind.INVALID_PARAMETER
    code = "InvalidVersion"

    def __init__(self, version: str, expected: str) -> None:
        super().__init__(f"Specified parameter Version is not valid: {_quoted(version)} (this endpoint implements "
                         f"{expected}).")


def _quoted(text: str) -> str:
    """A caller's text in a message: shortened, and JSON-escaped so that no character can break the response."""
    return json.dumps(text[:64])
