"""The ingest strategy for a knowledge base's source objects: each object is read, extracted and chunked.

An object that cannot be read or parsed is recorded FAILED with its reason (ListIndexDocuments shows it). Images: in a
knowledge base without an image index an image has no text and is recorded EMPTY; with one it becomes one chunk whose
text is its title (file name or metadata title) and whose image vector comes from the knowledge base's multimodal
model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from chalicelib.core.chunking import Chunk, chunk_blocks
from chalicelib.core.clock import utc_now
from chalicelib.core.errors import InternalError
from chalicelib.core.extraction import ExtractionError, extract
from chalicelib.core.ingest import PreparedDocument, Read, document_id
from chalicelib.core.ports.catalog import KnowledgeBase
from chalicelib.core.ports.search import DocumentRecord, DocumentStatus
from chalicelib.core.ports.sources import SourceObject

# Embeds an image into the knowledge base's image index (InternalError: the index's model is not this deployment's).
ImageEmbedding = Callable[[KnowledgeBase, bytes], list[float]]


class KnowledgeBaseObjects:
    """Items are source URIs; every one is read."""

    def __init__(self, kb: KnowledgeBase, embed_image: ImageEmbedding) -> None:
        self._kb = kb
        self._embed_image = embed_image

    def uri(self, item: str) -> str:
        return item

    def name(self, item: str) -> str:
        return item.rstrip("/").rsplit("/", 1)[-1]

    def reads_content(self, item: str) -> bool:
        return True

    def version(self, item: str, obj: SourceObject | None) -> str:
        """The object's version plus its metadata: a changed sidecar alone re-indexes the document too."""
        if obj is None:
            return ""
        metadata = json.dumps(dict(obj.metadata), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(f"{obj.version}\x00{metadata}".encode()).hexdigest()

    def has_content(self, existing: DocumentRecord) -> bool:
        return existing.status is not DocumentStatus.FAILED

    def removes_when_gone(self, item: str) -> bool:
        return True  # a late "created" event for an object deleted since

    def prepare(self, item: str, existing: DocumentRecord | None, read: Read) -> PreparedDocument:
        created = existing.created_at if existing else utc_now()
        if not isinstance(read, SourceObject):
            return PreparedDocument(failed_record(item, self.name(item), "", 0, "", str(read), created), [])
        obj = read
        version = self.version(item, obj)
        content_type = obj.content_type or "application/octet-stream"

        def failed(reason: str) -> PreparedDocument:
            record = failed_record(item, obj.name, content_type, len(obj.data), version, reason, created)
            return PreparedDocument(record, [], revision=obj.revision)

        try:
            extracted = extract(obj.data, filename=obj.name, content_type=obj.content_type)
        except ExtractionError as exc:
            return failed(str(exc))
        image_vector = None
        if extracted.format == "image" and self._kb.has_image_index:
            try:
                image_vector = self._embed_image(self._kb, obj.data)
            except InternalError as exc:  # the model refused it (too large, corrupt) or the index's model is missing
                return failed(f"The image could not be embedded: {exc.message}")
            except ValueError as exc:  # not an image the model reads, whatever its extension says
                return failed(f"The image could not be embedded: {exc}")
            chunks = [Chunk(text=extracted.title, headings=(), position=0)]
        else:
            chunks = chunk_blocks(extracted.blocks, chunk_size=self._kb.chunk_size, overlap=self._kb.overlap_size)
        record = DocumentRecord(
            doc_id=document_id(item), name=obj.name, uri=item, content_type=content_type, size=len(obj.data),
            version=version, status=DocumentStatus.INDEXED if chunks else DocumentStatus.EMPTY,
            reason="" if chunks else "The file holds no text to index",
            title=extracted.title, metadata=dict(obj.metadata), created_at=created, updated_at=utc_now(),
        )
        return PreparedDocument(record, chunks, image_vector, revision=obj.revision)


def failed_record(
    uri: str, name: str, content_type: str, size: int, version: str, reason: str, created: str
) -> DocumentRecord:
    return DocumentRecord(
        doc_id=document_id(uri), name=name, uri=uri, content_type=content_type or "application/octet-stream",
        size=size, version=version, status=DocumentStatus.FAILED, reason=reason, created_at=created,
        updated_at=utc_now(),
    )

