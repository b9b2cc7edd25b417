"""Indexing: source object → text → chunks → embeddings → backend, idempotent per object version.

The same object version indexed twice is a no-op; a changed object replaces all of its chunks; a file that cannot be
read or parsed is recorded with status FAILED and a Reason and never stops the other files of a batch.

Versions are ordered by the source itself, not by the order events arrive in. After writing, the indexer asks the
source for the object's revision (S3: VersionId or ETag of the object and its sidecar, by HEAD) and compares it with
the revision it read: a writer that read an older version than the object now has (a slow read finishing after a
newer one was indexed) reads and writes again; an object deleted meanwhile is removed. So whichever write lands last,
it is checked against what the source holds after it. (S3's event ``sequencer`` orders events, not reads, and
local files have none; the revision check covers both.)

Images: in a knowledge base without an image index an image has no text and is recorded EMPTY. With an image index
it becomes one chunk whose text is its title (file name or metadata title) and whose image vector comes from the
knowledge base's multimodal model; query images are searched against those vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.core.chunking import Chunk, chunk_blocks
from chalicelib.core.clock import utc_now
from chalicelib.core.data_center import parse_file_uri
from chalicelib.core.errors import InternalError, ServiceUnavailableError
from chalicelib.core.extraction import ExtractionError, TextBlock, extract
from chalicelib.core.ports.catalog import JobDocument, KnowledgeBase
from chalicelib.core.ports.models import Embedder, ImageEmbedder
from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus, SearchBackend
from chalicelib.core.ports.sources import ObjectSource, SourceError, SourceMissing, SourceObject, SourceUnavailable

logger = logging.getLogger(__name__)

# How often one call reads an object again that changed while it was being indexed; past that, its outcome is unsettled
# (an event is then delivered again, and the object's own later events index the newer versions).
CATCH_UP_ATTEMPTS = 3

# Metadata keys Sift sets on every chunk; a user attribute with one of these names is overridden (README lists them).
SYSTEM_METADATA_KEYS = frozenset({"doc_id", "doc_name", "title", "hier_title", "file_path", "parent", "position"})


@dataclass(frozen=True, slots=True)
class TextDocument:
    """A document already in text form (benchmarks, tests, callers that did their own extraction)."""

    doc_id: str
    name: str
    title: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    uri: str = ""


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document ready to embed and write: its record, its chunks and, for an image chunk, its image vector."""

    record: DocumentRecord
    chunks: list[Chunk]
    image_vector: list[float] | None = None
    revision: str = ""  # the source revision the chunks were read at; "" when nothing was read (nothing to check)
    settled: bool = True  # False: written in place of what a failed read could not give (see JobDocument.settled)


class ObjectNotSettled(ServiceUnavailableError):
    """An object event left an index that may be behind the object (a read failed); the event is to be delivered
    again — handling an event twice is harmless."""


def require_settled(uri: str, outcomes: list[JobDocument]) -> list[JobDocument]:
    """``outcomes``, once all of them are settled; else ``ObjectNotSettled``."""
    unsettled = [outcome for outcome in outcomes if not outcome.settled]
    if unsettled:
        raise ObjectNotSettled(f"{uri} could not be brought up to date: {unsettled[0].message}")
    return outcomes


def document_id(uri: str) -> str:
    """A stable id per source URI, so re-indexing the same object replaces it instead of adding a copy.

    A data-center file's document id is its FileId, as in the documented flow (DeleteIndexDocument takes FileIds).
    """
    data_center_file = parse_file_uri(uri)
    if data_center_file is not None:
        return data_center_file[1]
    return "doc_" + hashlib.sha256(uri.encode()).hexdigest()[:24]


class Indexer:
    def __init__(
        self,
        backend: SearchBackend,
        embedder: Embedder,
        sources: Sequence[ObjectSource],
        *,
        batch_documents: int = 32,
        image_embedder: ImageEmbedder | None = None,
    ) -> None:
        self._backend = backend
        self._embedder = embedder
        self._sources = sources
        self._batch_documents = batch_documents
        self._image_embedder = image_embedder

    # source objects ----------------------------------------------------------------------------------------------

    def list_source(self, uri: str) -> list[str]:
        return self._source_for(uri).list(uri)

    def index_uris(
        self, kb: KnowledgeBase, uris: Iterable[str], *, catch_ups: int = CATCH_UP_ATTEMPTS
    ) -> list[JobDocument]:
        """Index objects by URI, in batches; one outcome per URI (unchanged objects first, then the written ones).

        Every written object is checked against its source afterwards (``settle``); one that changed meanwhile is
        indexed again, at most ``catch_ups`` times."""
        unchanged: list[JobDocument] = []

        def changed() -> Iterator[PreparedDocument]:
            for uri in uris:
                prepared = self._prepare_object(kb, uri)
                if isinstance(prepared, DocumentRecord):  # this version is indexed already
                    unchanged.append(_outcome(prepared))
                elif isinstance(prepared, JobDocument):  # nothing to write (a read failed; see _prepare_object)
                    unchanged.append(prepared)
                else:
                    yield prepared

        written, moved = self.write_documents(kb.collection, changed())
        outcomes = unchanged + written
        if not moved:
            return outcomes
        if catch_ups > 0:
            again = {outcome.doc_id: outcome for outcome in self.index_uris(kb, moved, catch_ups=catch_ups - 1)}
            return [again.get(outcome.doc_id, outcome) for outcome in outcomes]
        still_moving = {document_id(uri) for uri in moved}
        return [_kept_changing(outcome) if outcome.doc_id in still_moving else outcome for outcome in outcomes]

    def read(self, uri: str) -> SourceObject:
        """The object at ``uri`` (``SourceError`` when no source can read it)."""
        return self._source_for(uri).read(uri)

    def revision(self, uri: str) -> str | None:
        """The object's current revision; ``None`` when it is confirmed missing (``SourceError`` when unknown)."""
        return self._source_for(uri).revision(uri)

    def write_documents(
        self, collection: str, prepared: Iterable[PreparedDocument]
    ) -> tuple[list[JobDocument], list[str]]:
        """Embed and write documents in batches, then check each against its source (``settle``).

        Returns the outcomes and the URIs of the objects that changed after they were read: the caller prepares
        those again (each service prepares its own kind of document)."""
        read_at: dict[str, tuple[str, str]] = {}

        def noted() -> Iterator[PreparedDocument]:
            for item in prepared:
                if item.revision:
                    read_at[item.record.doc_id] = (item.record.uri, item.revision)
                yield item

        outcomes = self._write_in_batches(collection, noted())
        return self.settle(collection, outcomes, read_at)

    def settle(
        self, collection: str, outcomes: Sequence[JobDocument], read_at: Mapping[str, tuple[str, str]]
    ) -> tuple[list[JobDocument], list[str]]:
        """Compare each written document's revision (``read_at``: doc id → URI and revision read) with its source's.

        The same: settled. Gone: the object was deleted after it was read, perhaps before its delete event was
        handled, so the copy just written is removed. Different: returned as moved. Unknown (the check failed):
        the outcome is unsettled; the written copy stays, being the newest this call could read."""
        settled: list[JobDocument] = []
        moved: list[str] = []
        for outcome in outcomes:
            if outcome.doc_id not in read_at:
                settled.append(outcome)
                continue
            uri, revision = read_at[outcome.doc_id]
            try:
                current = self.revision(uri)
            except SourceError as exc:
                settled.append(replace(outcome, settled=False,
                                       message=_joined(outcome.message, f"not confirmed as the current version: {exc}")))
                continue
            if current is None:
                self._backend.delete_document(collection, outcome.doc_id)
                settled.append(JobDocument(outcome.doc_id, outcome.name, DocumentStatus.FAILED.value,
                                           "The object was deleted while it was being indexed"))
            elif current != revision:
                moved.append(uri)
                settled.append(outcome)
            else:
                settled.append(outcome)
        return settled, moved

    def remove_uri(self, kb: KnowledgeBase, uri: str) -> bool:
        return self._backend.delete_document(kb.collection, document_id(uri))

    # text documents ----------------------------------------------------------------------------------------------

    def index_texts(self, kb: KnowledgeBase, documents: Iterable[TextDocument]) -> list[JobDocument]:
        return self._write_in_batches(kb.collection, (self._prepare_text(kb, document) for document in documents))

    # internals ---------------------------------------------------------------------------------------------------

    def _source_for(self, uri: str) -> ObjectSource:
        for source in self._sources:
            if source.handles(uri):
                return source
        raise SourceError(f"No document source can read {uri}")

    def _prepare_object(self, kb: KnowledgeBase, uri: str) -> PreparedDocument | DocumentRecord | JobDocument:
        """What to write; the stored record when this version is indexed already; or, when the object cannot be
        read, an outcome with nothing to write wherever writing would lose something.

        A failed read never destroys what was indexed before: an indexed copy stays (only a confirmed delete removes
        it, ``remove_uri``). An object that is confirmed missing and was never indexed leaves no record (a late
        "created" event for an object deleted since). Any other failure is recorded FAILED with its reason, so that
        ListIndexDocuments shows it, and its outcome is unsettled (a retry may get past it).
        """
        doc_id = document_id(uri)
        now = utc_now()
        try:
            obj = self._source_for(uri).read(uri)
        except SourceError as exc:
            name = uri.rstrip("/").rsplit("/", 1)[-1]
            existing = self._backend.get_document(kb.collection, doc_id)
            settled = not isinstance(exc, SourceUnavailable)  # a retry may read what this read could not
            if existing is not None and existing.status is not DocumentStatus.FAILED:
                return JobDocument(doc_id, existing.name, DocumentStatus.FAILED.value,
                                   f"{exc}; the indexed version is kept", settled=settled)
            if isinstance(exc, SourceMissing):  # nothing was indexed of it: no record (an earlier failure's record goes too)
                if existing is not None:
                    self._backend.delete_document(kb.collection, doc_id)
                return JobDocument(doc_id, name, DocumentStatus.FAILED.value, str(exc))
            return PreparedDocument(_failed(doc_id, name, uri, "", 0, "", str(exc), now), [], settled=settled)
        version = _version(obj)
        existing = self._backend.get_document(kb.collection, doc_id)
        if existing is not None and existing.version == version and existing.status is not DocumentStatus.FAILED:
            return existing
        created = existing.created_at if existing else now
        content_type = obj.content_type or "application/octet-stream"

        def failed(reason: str) -> PreparedDocument:
            record = _failed(doc_id, obj.name, uri, content_type, len(obj.data), version, reason, created)
            return PreparedDocument(record, [], revision=obj.revision)

        try:
            extracted = extract(obj.data, filename=obj.name, content_type=obj.content_type)
        except ExtractionError as exc:
            return failed(str(exc))
        image_vector = None
        if extracted.format == "image" and kb.has_image_index:
            try:
                image_vector = self._embed_image(kb, obj.data)
            except InternalError as exc:  # the model refused it (too large, corrupt) or the index's model is missing
                return failed(f"The image could not be embedded: {exc.message}")
            except ValueError as exc:  # not an image the model reads, whatever its extension says
                return failed(f"The image could not be embedded: {exc}")
            chunks = [Chunk(text=extracted.title, headings=(), position=0)]
        else:
            chunks = chunk_blocks(extracted.blocks, chunk_size=kb.chunk_size, overlap=kb.overlap_size)
        record = DocumentRecord(
            doc_id=doc_id, name=obj.name, uri=uri, content_type=content_type, size=len(obj.data), version=version,
            status=DocumentStatus.INDEXED if chunks else DocumentStatus.EMPTY,
            reason="" if chunks else "The file holds no text to index",
            title=extracted.title, metadata=dict(obj.metadata), created_at=created, updated_at=now,
        )
        return PreparedDocument(record, chunks, image_vector, revision=obj.revision)

    def _embed_image(self, kb: KnowledgeBase, data: bytes) -> list[float]:
        """The image's vector in the knowledge base's image index; its model must be the configured one."""
        if self._image_embedder is None or self._image_embedder.name != kb.image_embedding_model:
            configured = self._image_embedder.name if self._image_embedder else "no multimodal embedder"
            raise InternalError(
                f"the index's image model is {kb.image_embedding_model!r}, this deployment has {configured!r}"
            )
        return self._image_embedder.embed_indexed_image(data)

    def _prepare_text(self, kb: KnowledgeBase, document: TextDocument) -> PreparedDocument:
        now = utc_now()
        chunks = chunk_blocks([TextBlock(document.text)], chunk_size=kb.chunk_size, overlap=kb.overlap_size)
        version = hashlib.sha256(f"{document.title}\x00{document.text}".encode()).hexdigest()
        record = DocumentRecord(
            doc_id=document.doc_id, name=document.name, uri=document.uri, content_type="text/plain",
            size=len(document.text.encode()), version=version,
            status=DocumentStatus.INDEXED if chunks else DocumentStatus.EMPTY,
            reason="" if chunks else "The document holds no text to index",
            title=document.title, metadata=dict(document.metadata), created_at=now, updated_at=now,
        )
        return PreparedDocument(record, chunks)

    def _write_in_batches(self, collection: str, prepared: Iterable[PreparedDocument]) -> list[JobDocument]:
        """Embed and write ``prepared`` documents ``batch_documents`` at a time (one embedding call per batch)."""
        outcomes: list[JobDocument] = []
        batch: list[PreparedDocument] = []
        for item in prepared:
            batch.append(item)
            if len(batch) >= self._batch_documents:
                outcomes.extend(self._write(collection, batch))
                batch = []
        if batch:
            outcomes.extend(self._write(collection, batch))
        return outcomes

    def _write(self, collection: str, batch: Sequence[PreparedDocument]) -> list[JobDocument]:
        texts = [[search_text(item.record, chunk) for chunk in item.chunks] for item in batch]
        vectors = iter(self._embedder.embed_documents([text for document in texts for text in document]))
        written: list[tuple[DocumentRecord, list[ChunkRecord]]] = []
        for item, chunk_texts in zip(batch, texts):
            record, chunks = item.record, item.chunks
            chunk_records = [
                ChunkRecord(
                    chunk_id=f"{record.doc_id}_{chunk.position}",
                    doc_id=record.doc_id,
                    position=chunk.position,
                    text=chunk.text,
                    search_text=text,
                    vector=next(vectors),
                    metadata=chunk_metadata(record, chunk),
                    image_vector=item.image_vector,
                )
                for chunk, text in zip(chunks, chunk_texts)
            ]
            written.append((_with_count(record, len(chunk_records)), chunk_records))
        self._backend.upsert_documents(collection, written)
        for record, _ in written:
            if record.status is DocumentStatus.FAILED:
                logger.warning("document failed to index", extra={"doc_id": record.doc_id, "reason": record.reason})
        return [replace(_outcome(record), settled=item.settled) for item, (record, _) in zip(batch, written)]


def search_text(record: DocumentRecord, chunk: Chunk) -> str:
    """What both recall legs match: the title and heading path give a chunk the subject it may not repeat."""
    context = [record.title] if record.title and record.title != chunk.text else []
    context.extend(heading for heading in chunk.headings if heading != record.title)
    return "\n".join([*context, chunk.text])


def chunk_metadata(record: DocumentRecord, chunk: Chunk) -> dict[str, Any]:
    """The user's attributes plus the documented system keys; filters see all of them."""
    metadata: dict[str, Any] = dict(record.metadata)
    metadata.update(
        doc_id=record.doc_id,
        doc_name=record.name,
        title=record.title,
        hier_title=" > ".join(chunk.headings) if chunk.headings else record.title,
        file_path=record.uri,
        parent="",
        position=chunk.position,
    )
    return metadata


def _version(obj: SourceObject) -> str:
    """The object's version plus its metadata: a changed sidecar alone re-indexes the document too."""
    metadata = json.dumps(dict(obj.metadata), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{obj.version}\x00{metadata}".encode()).hexdigest()


def _failed(
    doc_id: str, name: str, uri: str, content_type: str, size: int, version: str, reason: str, created: str
) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id, name=name, uri=uri, content_type=content_type or "application/octet-stream", size=size,
        version=version, status=DocumentStatus.FAILED, reason=reason, created_at=created, updated_at=utc_now(),
    )


def _with_count(record: DocumentRecord, count: int) -> DocumentRecord:
    return replace(record, chunk_count=count)


def _outcome(record: DocumentRecord) -> JobDocument:
    return JobDocument(record.doc_id, record.name, record.status.value, record.reason)


def _kept_changing(outcome: JobDocument) -> JobDocument:
    return replace(outcome, settled=False, message=_joined(
        outcome.message, f"the object changed {CATCH_UP_ATTEMPTS + 1} times while it was being indexed; an older "
        "version may be indexed until its later events are handled"))


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second[:1].upper() + second[1:]
