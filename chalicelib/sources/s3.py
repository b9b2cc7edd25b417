"""Documents in Amazon S3 (``s3://bucket/key``). The only module of the sources that imports boto3."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.ports.sources import (
    MAX_SIDECAR_BYTES,
    MAX_SOURCE_BYTES,
    SIDECAR_SUFFIX,
    SourceError,
    SourceMissing,
    SourceObject,
    SourceUnavailable,
    is_sidecar,
    sidecar_attributes,
)

# S3 user metadata (x-amz-meta-*) keys Sift reads as document metadata; everything else there is ignored.
_METADATA_PREFIX = "sift-"


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise SourceError(f"Not an S3 URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise SourceError(f"S3 URI has no bucket: {uri}")
    return bucket, key  # keys are taken as written: S3 listings and EventBridge events carry them unencoded


class S3Source:
    """Reads objects with the client it is given (Chalice style: clients come in through the constructor)."""

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def handles(self, uri: str) -> bool:
        return uri.startswith("s3://")

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = split_uri(prefix_uri)
        uris: list[str] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                uris.extend(
                    f"s3://{bucket}/{item['Key']}"
                    for item in page.get("Contents", [])
                    if not is_sidecar(item["Key"]) and not item["Key"].endswith("/")
                )
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"Cannot list {prefix_uri}: {_reason(exc)}") from exc
        return sorted(uris)

    def read(self, uri: str) -> SourceObject:
        bucket, key = split_uri(uri)
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
            if int(response.get("ContentLength", 0)) > MAX_SOURCE_BYTES:
                raise SourceError(f"Cannot read {uri}: larger than {MAX_SOURCE_BYTES} bytes")
            data = response["Body"].read(MAX_SOURCE_BYTES + 1)
        except ClientError as exc:
            raise _error_class(exc)(f"Cannot read {uri}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise SourceUnavailable(f"Cannot read {uri}: {_reason(exc)}") from exc
        if len(data) > MAX_SOURCE_BYTES:
            raise SourceError(f"Cannot read {uri}: larger than {MAX_SOURCE_BYTES} bytes")
        metadata: dict[str, Any] = {
            name[len(_METADATA_PREFIX) :]: value
            for name, value in response.get("Metadata", {}).items()
            if name.startswith(_METADATA_PREFIX)
        }
        sidecar, sidecar_version = self._sidecar(bucket, key)
        metadata.update(sidecar)
        version = _object_version(response)
        return SourceObject(
            uri=uri,
            name=key.rsplit("/", 1)[-1],
            data=data,
            content_type=response.get("ContentType"),
            version=version,
            metadata=metadata,
            revision=_revision(version, sidecar_version),
        )

    def revision(self, uri: str) -> str | None:
        """VersionId or ETag of the object and of its sidecar, by two HEAD requests."""
        bucket, key = split_uri(uri)
        head = self._head(bucket, key)
        if head is None:
            return None
        sidecar = self._head(bucket, key + SIDECAR_SUFFIX)
        return _revision(_object_version(head), _object_version(sidecar) if sidecar else "")

    def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            return dict(self._s3.head_object(Bucket=bucket, Key=key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise _error_class(exc)(f"Cannot look up s3://{bucket}/{key}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise SourceUnavailable(f"Cannot look up s3://{bucket}/{key}: {_reason(exc)}") from exc

    def _sidecar(self, bucket: str, key: str) -> tuple[dict[str, Any], str]:
        """The sidecar's attributes and version ("" without a sidecar)."""
        sidecar_key = key + SIDECAR_SUFFIX
        try:
            response = self._s3.get_object(Bucket=bucket, Key=sidecar_key)
            raw = response["Body"].read(MAX_SIDECAR_BYTES + 1)  # sidecar_attributes refuses one over the bound
        except ClientError as exc:
            if _missing(exc):
                return {}, ""
            raise _error_class(exc)(f"Cannot read s3://{bucket}/{sidecar_key}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise SourceUnavailable(f"Cannot read s3://{bucket}/{sidecar_key}: {_reason(exc)}") from exc
        return sidecar_attributes(raw, f"s3://{bucket}/{sidecar_key}"), _object_version(response)


def _object_version(response: dict[str, Any]) -> str:
    return str(response.get("VersionId") or response.get("ETag", "")).strip('"')


def _revision(object_version: str, sidecar_version: str) -> str:
    return f"{object_version}|{sidecar_version}"


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


# Answers that say nothing about the object: S3 was busy or failing, and the same request may succeed later.
_UNAVAILABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
                                "ThrottlingException", "RequestTimeTooSkewed"})


def _error_class(exc: ClientError) -> type[SourceError]:
    if _missing(exc):
        return SourceMissing
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    code = exc.response.get("Error", {}).get("Code")
    return SourceUnavailable if status >= 500 or code in _UNAVAILABLE_CODES else SourceError


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return type(exc).__name__
