"""The one error hierarchy of the service.

Every failure a caller can see is a ``ServiceError``: it carries an ``ErrorKind`` (which fixes the HTTP status) and a
message written for the caller. Each API family renders the kind with its own documented code (see
``chalicelib.api.envelopes``), so the core never needs to know which family it is serving.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    """What went wrong, independent of the API family that reports it."""

    INVALID_PARAMETER = 400
    NOT_FOUND = 404
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


class PayloadTooLargeError(ServiceError):
    kind = ErrorKind.PAYLOAD_TOO_LARGE


class ThrottlingError(ServiceError):
    kind = ErrorKind.THROTTLING


class ServiceUnavailableError(ServiceError):
    """A dependency (search engine, model endpoint) did not answer in time; the caller may retry."""

    kind = ErrorKind.SERVICE_UNAVAILABLE


class InternalError(ServiceError):
    kind = ErrorKind.INTERNAL
