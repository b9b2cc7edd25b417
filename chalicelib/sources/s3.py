"""Documents in Amazon S3 (``s3://bucket/key``). The only module of the sources that imports boto3."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.sources.base import (
    MAX_SOURCE_BYTES,
    SIDECAR_SUFFIX,
    SourceError,
    SourceMissing,
    SourceObject,
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
            missing = exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}
            raise (SourceMissing if missing else SourceError)(f"Cannot read {uri}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise SourceError(f"Cannot read {uri}: {_reason(exc)}") from exc
        if len(data) > MAX_SOURCE_BYTES:
            raise SourceError(f"Cannot read {uri}: larger than {MAX_SOURCE_BYTES} bytes")
        metadata: dict[str, Any] = {
            name[len(_METADATA_PREFIX) :]: value
            for name, value in response.get("Metadata", {}).items()
            if name.startswith(_METADATA_PREFIX)
        }
        metadata.update(self._sidecar(bucket, key))
        return SourceObject(
            uri=uri,
            name=key.rsplit("/", 1)[-1],
            data=data,
            content_type=response.get("ContentType"),
            version=response.get("VersionId") or response.get("ETag", "").strip('"'),
            metadata=metadata,
        )

    def _sidecar(self, bucket: str, key: str) -> dict[str, Any]:
        sidecar_key = key + SIDECAR_SUFFIX
        try:
            raw = self._s3.get_object(Bucket=bucket, Key=sidecar_key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return {}
            raise SourceError(f"Cannot read s3://{bucket}/{sidecar_key}: {_reason(exc)}") from exc
        return sidecar_attributes(raw, f"s3://{bucket}/{sidecar_key}")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return type(exc).__name__
