"""Where documents come from: S3 on AWS, the local file system on a laptop. Both follow one protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.core.text_values import loads_json

SIDECAR_SUFFIX = ".metadata.json"
# A sidecar holds a document's attributes: a few kilobytes. The bounds keep a hostile one a failure of its own document.
MAX_SIDECAR_BYTES = 1024 * 1024
MAX_SIDECAR_DEPTH = 32
# The largest object a source reads: reads are bounded whatever the URI names. A local directory lists at most
# MAX_LISTED_OBJECTS files (S3 prefixes are the bucket owner's, and the batch machine pages through any number).
MAX_SOURCE_BYTES = 100 * 1024 * 1024
MAX_LISTED_OBJECTS = 100_000


class SourceError(Exception):
    """An object could not be read; the message is safe to show as a document's Reason."""


class SourceMissing(SourceError):
    """The object is not there (S3's NoSuchKey, no such file): a confirmed absence, unlike a failure to read."""


class SourceUnavailable(SourceError):
    """The source did not answer (a network error, throttling, a server error): unlike a bad object, a retry may
    succeed."""


@dataclass(frozen=True, slots=True)
class SourceObject:
    uri: str
    name: str  # the file name, last path segment
    data: bytes
    content_type: str | None
    version: str  # ETag, version id or content hash: unchanged objects keep it
    metadata: Mapping[str, Any] = field(default_factory=dict)  # sidecar attributes over object metadata
    # What the source says of the object and its sidecar without reading either (``ObjectSource.revision``), taken
    # before the bytes were read: an indexer compares it after writing to learn whether it wrote the current version.
    revision: str = ""


class ObjectSource(Protocol):
    def handles(self, uri: str) -> bool:
        """Whether this source reads ``uri`` (by scheme)."""

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of the documents under a prefix (a directory or an S3 prefix), sidecars excluded, sorted."""

    def read(self, uri: str) -> SourceObject:
        """The object with its user metadata; raises ``SourceError`` when it cannot be read."""

    def revision(self, uri: str) -> str | None:
        """The object's current revision (as ``SourceObject.revision``) without its bytes; ``None`` when the object is
        confirmed missing; raises ``SourceError`` when the source cannot tell."""


def is_sidecar(uri: str) -> bool:
    return uri.endswith(SIDECAR_SUFFIX)


def sidecar_attributes(raw: bytes, uri: str) -> dict[str, Any]:
    """``metadataAttributes`` of a Bedrock-Knowledge-Bases-style sidecar; raises ``SourceError`` on a bad one.

    Values may be plain (``"year": 2024``) or typed the Bedrock way (``{"value": {"type": "NUMBER", "numberValue":
    2024}}``); both become plain JSON values.
    """
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SourceError(f"Metadata file {uri} is larger than {MAX_SIDECAR_BYTES} bytes")
    try:
        document = loads_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise SourceError(f"Metadata file {uri} is not valid JSON (finite numbers, UTF-8)") from exc
    attributes = document.get("metadataAttributes") if isinstance(document, dict) else None
    if not isinstance(attributes, dict):
        raise SourceError(f"Metadata file {uri} has no metadataAttributes object")
    if _depth(attributes) > MAX_SIDECAR_DEPTH:
        raise SourceError(f"Metadata file {uri} nests values more than {MAX_SIDECAR_DEPTH} levels deep")
    return {str(key): _plain_value(value) for key, value in attributes.items()}


def _depth(value: Any) -> int:
    """How many levels of arrays and objects ``value`` holds (iterative: a deep value cannot exhaust the stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _plain_value(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("value"), dict):
        typed = value["value"]
        for key in ("stringValue", "numberValue", "booleanValue", "stringListValue"):
            if key in typed:
                return typed[key]
    return value
