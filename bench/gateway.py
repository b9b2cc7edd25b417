"""What API Gateway adds to a request that ``chalice.test.Client`` does not: the caller's IAM identity.

Stage ``dev`` authorizes with IAM (``SIFT_AUTH=iam``): the gateway checks each request's SigV4 signature and hands the
function the caller's identity, which the function requires (``chalicelib.core.access_keys.Gate``). In-process runs of
that stage (the cost benchmark, the stage tests) get the identity the gateway would have added.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

CALLER_ARN = "arn:aws:iam::123456789012:user/sift-bench"


@contextmanager
def iam_authorized() -> Iterator[None]:
    from chalice.local import LambdaEventConverter

    create = LambdaEventConverter.create_lambda_event

    def with_identity(self: Any, *args: Any, **kwargs: Any) -> Any:
        event = create(self, *args, **kwargs)
        event["requestContext"]["identity"]["userArn"] = CALLER_ARN
        return event

    with mock.patch.object(LambdaEventConverter, "create_lambda_event", with_identity):
        yield
