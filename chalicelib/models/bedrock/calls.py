"""Calling Bedrock: the one error policy of every Bedrock adapter, and the base class that holds their client.

Every adapter takes its boto3 client through the constructor (``bedrock-runtime`` for the embedders, the rewriter and
the generator, ``bedrock-agent-runtime`` for the reranker); nothing in this package creates a client, so tests can hand
in a stubbed one and the app decides region, credentials, timeouts and retries (``AwsClients._bedrock`` in
``chalicelib.composition``).

Retries are botocore's, not Sift's: the clients run botocore's standard retry mode, which resends throttled calls
(``ThrottlingException``, HTTP 429), transient faults (HTTP 500/502/503/504, errors the service model marks retryable
such as ``ModelNotReadyException``) and connection errors and timeouts with jittered exponential backoff, up to the
attempt count set in the client's ``Config``. So one call here is one SDK call, its retries included, and what reaches
``call_bedrock`` is what survived them.

Errors are translated once, in ``call_bedrock``:
- ``ThrottlingException`` (or ``TooManyRequestsException``) still throttled after botocore's attempts becomes
  ``ThrottlingError`` (HTTP 429, ``THROTTLING_MESSAGE``), so the caller knows to slow down and retry later.
- Transient service faults and timeouts become ``ServiceUnavailableError`` (HTTP 503), which the caller may retry.
- ``ValidationException``, ``AccessDeniedException`` and ``ResourceNotFoundException`` mean the deployment is
  misconfigured (wrong model id or ARN, model access not granted, bad IAM policy, malformed request) and become
  ``InternalError`` with a message saying so. Anything else unexpected is an ``InternalError`` too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from chalicelib.core.errors import InternalError, ServiceUnavailableError, ThrottlingError

T = TypeVar("T")

THROTTLING_MESSAGE: Final = "Bedrock is throttling requests; retry later"

_THROTTLING_CODES: Final = frozenset({"ThrottlingException", "TooManyRequestsException"})
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "InternalServerException",
        "BadGatewayException",
        "DependencyFailedException",
    }
)
_CONFIGURATION_CODES: Final = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})
_TIMEOUTS: Final = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)


def call_bedrock(operation: str, call: Callable[[], T]) -> T:
    """Run ``call`` (one SDK call, botocore's retries included) and translate its failure to a service error."""
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = str(error.get("Message", "")) or code
        if code in _THROTTLING_CODES:
            raise ThrottlingError(THROTTLING_MESSAGE) from exc
        if code in _UNAVAILABLE_CODES:
            raise ServiceUnavailableError(
                f"Bedrock {operation} is temporarily unavailable ({code}); retry later"
            ) from exc
        if code in _CONFIGURATION_CODES:
            raise InternalError(
                f"Bedrock {operation} was rejected ({code}: {detail}); check the configured model id or ARN, "
                "model access and IAM permissions"
            ) from exc
        raise InternalError(f"Bedrock {operation} failed ({code or 'unknown error'}: {detail})") from exc
    except _TIMEOUTS as exc:
        raise ServiceUnavailableError(f"Bedrock {operation} did not answer in time; retry later") from exc


class BedrockModel:
    """Shared plumbing of the adapters: the injected client, and ``InvokeModel`` with a JSON body."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _invoke_json(self, model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``InvokeModel`` with a JSON body; the decoded JSON response."""
        encoded = json.dumps(body)

        def invoke() -> dict[str, Any]:
            response = self._client.invoke_model(
                modelId=model_id, body=encoded, contentType="application/json", accept="application/json"
            )
            return dict(response)

        response = call_bedrock(f"InvokeModel({model_id})", invoke)
        try:
            decoded = json.loads(response["body"].read())
        except (KeyError, ValueError) as exc:
            raise InternalError(f"Bedrock model {model_id} returned a response that is not JSON") from exc
        if not isinstance(decoded, dict):
            raise InternalError(f"Bedrock model {model_id} returned an unexpected response")
        return decoded
