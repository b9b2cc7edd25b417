"""S3 object events as EventBridge delivers them (``source: aws.s3``, ``detail-type: Object Created|Deleted``).

EventBridge carries the object key as written, not URL-encoded as classic S3 notifications do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import InvalidParameterError

CREATED = "Object Created"
DELETED = "Object Deleted"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    uri: str  # s3://bucket/key
    created: bool  # False: the object was deleted


def parse_eventbridge_s3(event: Mapping[str, Any]) -> ObjectEvent:
    detail_type = event.get("detail-type")
    if detail_type not in (CREATED, DELETED):
        raise InvalidParameterError("detail-type", f"must be {CREATED!r} or {DELETED!r}")
    detail = event.get("detail")
    try:
        bucket = detail["bucket"]["name"]  # type: ignore[index]
        key = detail["object"]["key"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise InvalidParameterError("detail", "must hold bucket.name and object.key") from None
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        raise InvalidParameterError("detail", "bucket.name and object.key must be non-empty strings")
    return ObjectEvent(uri=f"s3://{bucket}/{key}", created=detail_type == CREATED)
