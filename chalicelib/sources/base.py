"""Where documents come from: S3 on AWS, the local file system on a laptop. Both follow one protocol."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

SIDECAR_SUFFIX = ".metadata.json"


class SourceError(Exception):
    """An object could not be read; the message is safe to show as a document's Reason."""


@dataclass(frozen=True, slots=True)
class SourceObject:
    uri: str
    name: str  # the file name, last path segment
    data: bytes
    content_type: str | None
    version: str  # ETag, version id or content hash: unchanged objects keep it
    metadata: Mapping[str, Any] = field(default_factory=dict)  # sidecar attributes over object metadata


class ObjectSource(Protocol):
    def handles(self, uri: str) -> bool:
        """Whether this source reads ``uri`` (by scheme)."""

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of the documents under a prefix (a directory or an S3 prefix), sidecars excluded, sorted."""

    def read(self, uri: str) -> SourceObject:
        """The object with its user metadata; raises ``SourceError`` when it cannot be read."""


def is_sidecar(uri: str) -> bool:
    return uri.endswith(SIDECAR_SUFFIX)


def sidecar_attributes(raw: bytes, uri: str) -> dict[str, Any]:
    """``metadataAttributes`` of a Bedrock-Knowledge-Bases-style sidecar; raises ``SourceError`` on a bad one.

    Values may be plain (``"year": 2024``) or typed the Bedrock way (``{"value": {"type": "NUMBER", "numberValue":
    2024}}``); both become plain JSON values.
    """
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"Metadata file {uri} is not valid JSON") from exc
    attributes = document.get("metadataAttributes") if isinstance(document, dict) else None
    if not isinstance(attributes, dict):
        raise SourceError(f"Metadata file {uri} has no metadataAttributes object")
    return {str(key): _plain_value(value) for key, value in attributes.items()}


def _plain_value(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("value"), dict):
        typed = value["value"]
        for key in ("stringValue", "numberValue", "booleanValue", "stringListValue"):
            if key in typed:
                return typed[key]
    return value
