"""The ingest strategy for a media dataset's files, and the chunk fields SemanticQuery and ContextualRetrieval filter on.

A file is given as its fields (``URI`` required; Labels, Figures, Insights, EXIF, ... stored as given). Its chunks are
its **Elements**:

- a text document Sift can read (txt, md, html, pdf, docx, json, jsonl) under the project's prefix is read, extracted
  and chunked like a knowledge-base document; its metadata text (below) leads the first element's search text;
- any other file (images, video, audio, or a document that cannot be read) gets one element holding its **metadata
  text** — title, labels, captions and descriptions, OCR text, addresses, custom labels, file name — so it is found
  by what is said about it. A document whose content cannot be read is still indexed by its metadata, with a reason.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, Chunk, chunk_blocks
from chalicelib.core.clock import utc_now
from chalicelib.core.extraction import ExtractionError, detect_format, extract
from chalicelib.core.file_fields import described_texts, label_values, objects, place_values
from chalicelib.core.ingest import PreparedDocument, Read, document_id
from chalicelib.core.ports.catalog import Dataset
from chalicelib.core.ports.search import DocumentRecord, DocumentStatus
from chalicelib.core.ports.sources import SourceError, SourceObject
from chalicelib.core.tenancy import SourcePolicy

SMART_CLUSTER_FIELD: Final = "smart_cluster_ids"
MEDIA_TYPE_FIELD: Final = "media_type"
# SemanticQuery's conditions filter on these copies of the given fields (chunk metadata, so both recall legs see them).
PRODUCE_TIME_FIELD: Final = "produce_time"  # wall-clock seconds since 1970 (the offset dropped, see query_conditions)
PLACES_FIELD: Final = "places"  # every Addresses field value
LABELS_FIELD: Final = "labels"  # every LabelName and ParentLabelName

_MEDIA_PREFIXES: Final = (("image/", "image"), ("video/", "video"), ("audio/", "audio"))
_TEXT_FORMATS: Final = frozenset({"txt", "markdown", "html", "pdf", "docx", "json", "jsonl"})
_OUTSIDE_PREFIX: Final = (
    "The content lies outside the project's prefix and was not read; only the metadata is indexed"
)
_UNREADABLE: Final = "The content could not be read, only the metadata is indexed: {}"

Given = Mapping[str, Any]


class MediaFiles:
    """Items are a file's given fields. ``from_event``: the item comes from an object event, so an object confirmed
    gone, of which no content was indexed, leaves no record (an API call's file keeps its metadata record)."""

    def __init__(self, dataset: Dataset, sources: SourcePolicy, *, from_event: bool = False) -> None:
        self._dataset = dataset
        self._sources = sources
        self._from_event = from_event

    def uri(self, item: Given) -> str:
        return str(item["URI"])

    def name(self, item: Given) -> str:
        return str(item.get("Filename") or self.uri(item).rstrip("/").rsplit("/", 1)[-1])

    def reads_content(self, item: Given) -> bool:
        return self._media_type(item) == "document" and self._readable(item)

    def version(self, item: Given, obj: SourceObject | None) -> str:
        """The given fields' hash, with the content's version when it was read."""
        given = hashlib.sha256(
            json.dumps(dict(item), sort_keys=True, ensure_ascii=False, default=str).encode()
        ).hexdigest()
        return given if obj is None else hashlib.sha256(f"{obj.version}\x00{given}".encode()).hexdigest()

    def has_content(self, existing: DocumentRecord) -> bool:
        return existing.reason == ""  # no reason: everything the file offers is indexed

    def removes_when_gone(self, item: Given) -> bool:
        return self._from_event

    def prepare(self, item: Given, existing: DocumentRecord | None, read: Read) -> PreparedDocument:
        uri = self.uri(item)
        filename = self.name(item)
        media_type = self._media_type(item)
        title = str(item.get("Title") or "")
        described = metadata_text(item, filename)
        size = int(item["Size"]) if isinstance(item.get("Size"), int) else 0
        chunks: list[Chunk] = []
        reason = ""
        revision = ""
        if media_type == "document" and not self._readable(item):
            reason = _OUTSIDE_PREFIX
        elif isinstance(read, SourceError):
            reason = _UNREADABLE.format(read)
        elif isinstance(read, SourceObject):
            revision = read.revision
            try:
                extracted = extract(read.data, filename=filename, content_type=self._content_type(item))
            except ExtractionError as exc:
                reason = _UNREADABLE.format(exc)
            else:
                size = size or len(read.data)
                title = title or extracted.title
                chunks = chunk_blocks(extracted.blocks, chunk_size=DEFAULT_CHUNK_SIZE, overlap=DEFAULT_OVERLAP)
        if chunks:
            # The metadata is part of the document: it leads the first element's text, which keeps it findable.
            first = chunks[0]
            chunks[0] = Chunk(f"{described}\n{first.text}" if described else first.text, first.headings, 0)
        else:
            chunks = [Chunk(described, (), 0)]
        metadata: dict[str, Any] = {
            MEDIA_TYPE_FIELD: media_type,
            SMART_CLUSTER_FIELD: _cluster_ids(item),
            PLACES_FIELD: place_values(item),
            LABELS_FIELD: label_values(item),
        }
        produced = wall_clock(item.get("ProduceTime"))
        if produced is not None:
            metadata[PRODUCE_TIME_FIELD] = seconds(produced)
        now = utc_now()
        record = DocumentRecord(
            doc_id=document_id(uri), name=filename, uri=uri, content_type=self._content_type(item), size=size,
            version=self.version(item, read if isinstance(read, SourceObject) else None),
            status=DocumentStatus.INDEXED, reason=reason, title=title, metadata=metadata,
            created_at=existing.created_at if existing else now, updated_at=now, attributes=dict(item),
        )
        return PreparedDocument(record, chunks, revision=revision)

    def _readable(self, item: Given) -> bool:
        return self._sources.allows(self._dataset.project_name, self.uri(item))

    def _content_type(self, item: Given) -> str:
        return str(item.get("ContentType") or mimetypes.guess_type(self.name(item))[0] or "application/octet-stream")

    def _media_type(self, item: Given) -> str:
        """``image``, ``video``, ``audio``, ``document`` (a format Sift extracts text from) or ``other``."""
        content_type = self._content_type(item)
        for prefix, kind in _MEDIA_PREFIXES:
            if content_type.startswith(prefix):
                return kind
        try:
            document_format = detect_format(self.name(item), content_type)
        except ExtractionError:
            return "other"
        if document_format == "image":
            return "image"
        return "document" if document_format in _TEXT_FORMATS else "other"


def metadata_text(given: Given, filename: str) -> str:
    """What is said about a file, as searchable text: title, labels, captions, descriptions, OCR, places, names."""
    texts = described_texts(given)
    return "\n".join(texts if filename in texts else [*texts, filename])


def _cluster_ids(given: Given) -> list[str]:
    return [
        str(cluster["SmartClusterId"]) for cluster in objects(given.get("SmartClusters"))
        if cluster.get("SmartClusterId")
    ]


_FRACTION = re.compile(r"(\.\d{6})\d+")


def wall_clock(value: Any) -> datetime | None:
    """A ProduceTime as a naive wall-clock time (offset dropped); None when absent or not RFC 3339."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        return None
    return moment.replace(tzinfo=None)


def seconds(moment: datetime) -> float:
    """A wall-clock time as the seconds since 1970 that PRODUCE_TIME_FIELD holds."""
    return (moment - _EPOCH).total_seconds()


_EPOCH: Final = datetime(1970, 1, 1)
