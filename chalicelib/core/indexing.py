"""Indexing: source item → text → chunks → embeddings → backend, idempotent per version — one pipeline for both kinds
of item (``Indexer.ingest``; a knowledge base's objects and a dataset's files differ only in their strategy,
``chalicelib.core.ingest``).

The same version indexed twice is a no-op; a changed object replaces all of its chunks; a file that cannot be read
or parsed is recorded with its reason and never stops the other files of a batch. A failed read never destroys what
was indexed before: an indexed copy stays (only a confirmed delete removes it).

Versions are ordered by the source itself, not by the order events arrive in. After writing, the indexer asks the
source for the object's revision (S3: VersionId or ETag of the object and its sidecar, by HEAD) and compares it with
the revision it read: a writer that read an older version than the object now has (a slow read finishing after a
newer one was indexed) reads and writes again; an object deleted meanwhile is removed. So whichever write lands last,
it is checked against what the source holds after it. (S3's event ``sequencer`` orders events, not reads, and
local files have none; the revision check covers both.)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from chalicelib.core.chunking import Chunk, chunk_blocks
from chalicelib.core.clock import utc_now
from chalicelib.core.errors import InternalError, ServiceUnavailableError
from chalicelib.core.extraction import TextBlock
from chalicelib.core.ingest import IngestStrategy, PreparedDocument, document_id
from chalicelib.core.knowledge_base_objects import KnowledgeBaseObjects
from chalicelib.core.ports.catalog import JobDocument, KnowledgeBase
from chalicelib.core.ports.models import Embedder, ImageEmbedder
from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus, SearchBackend
from chalicelib.core.ports.sources import ObjectSource, SourceError, SourceMissing, SourceObject, SourceUnavailable
from chalicelib.core.telemetry import record_indexed_document

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

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


class ObjectNotSettled(ServiceUnavailableError):
    """An object event left an index that may be behind the object (a read failed); the event is to be delivered
    again — handling an event twice is harmless."""


def require_settled(uri: str, outcomes: list[JobDocument]) -> list[JobDocument]:
    """``outcomes``, once all of them are settled; else ``ObjectNotSettled``."""
    unsettled = [outcome for outcome in outcomes if not outcome.settled]
    if unsettled:
        raise ObjectNotSettled(f"{uri} could not be brought up to date: {unsettled[0].message}")
    return outcomes


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

    def index_uris(self, kb: KnowledgeBase, uris: Iterable[str]) -> list[JobDocument]:
        """Index a knowledge base's objects by URI; one outcome per URI, in order."""
        return self.ingest(kb.collection, uris, KnowledgeBaseObjects(kb, self._embed_image))

    def ingest(
        self, collection: str, items: Iterable[Item], strategy: IngestStrategy[Item], *,
        catch_ups: int = CATCH_UP_ATTEMPTS,
    ) -> list[JobDocument]:
        """Index ``items`` the way ``strategy`` says, in batches; one outcome per item, in order.

        Items are prepared as the batches are written, so a long job holds one batch of content at a time. Every
        written document is checked against its source afterwards (``settle``); an item whose object changed meanwhile
        is indexed again, at most ``catch_ups`` times."""
        order: list[str] = []
        outcomes: dict[str, JobDocument] = {}
        given: dict[str, Item] = {}

        def to_write() -> Iterator[PreparedDocument]:
            for item in items:
                doc_id = document_id(strategy.uri(item))
                order.append(doc_id)
                given[doc_id] = item
                prepared = self._prepare(collection, item, strategy)
                if isinstance(prepared, JobDocument):  # nothing to write: indexed already, or a read lost nothing
                    outcomes[doc_id] = prepared
                    record_indexed_document(doc_id, prepared.status, 0)
                else:
                    yield prepared

        written, moved = self._write_and_settle(collection, to_write())
        outcomes.update((outcome.doc_id, outcome) for outcome in written)
        moved_ids = {document_id(uri) for uri in moved}
        if moved_ids and catch_ups > 0:
            again = [given[doc_id] for doc_id in dict.fromkeys(order) if doc_id in moved_ids]
            outcomes.update((outcome.doc_id, outcome)
                            for outcome in self.ingest(collection, again, strategy, catch_ups=catch_ups - 1))
        elif moved_ids:
            outcomes.update((doc_id, _kept_changing(outcomes[doc_id])) for doc_id in moved_ids)
        return [outcomes[doc_id] for doc_id in order]

    def read(self, uri: str) -> SourceObject:
        """The object at ``uri`` (``SourceError`` when no source can read it)."""
        return self._source_for(uri).read(uri)

    def revision(self, uri: str) -> str | None:
        """The object's current revision; ``None`` when it is confirmed missing (``SourceError`` when unknown)."""
        return self._source_for(uri).revision(uri)

    def exists(self, uri: str) -> bool:
        """Whether the source still holds the object (``SourceError`` when it cannot tell): what a delete event
        needs confirmed before it removes anything."""
        return self.revision(uri) is not None

    def _write_and_settle(
        self, collection: str, prepared: Iterable[PreparedDocument]
    ) -> tuple[list[JobDocument], list[str]]:
        """Embed and write documents in batches, then check each against its source (``_settle``).

        Returns the outcomes and the URIs of the objects that changed after they were read (``ingest`` prepares
        those again)."""
        read_at: dict[str, tuple[str, str]] = {}

        def noted() -> Iterator[PreparedDocument]:
            for item in prepared:
                if item.revision:
                    read_at[item.record.doc_id] = (item.record.uri, item.revision)
                yield item

        outcomes = self._write_in_batches(collection, noted())
        return self._settle(collection, outcomes, read_at)

    def _settle(
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

    def _prepare(
        self, collection: str, item: Item, strategy: IngestStrategy[Item]
    ) -> PreparedDocument | JobDocument:
        """What to write for ``item``; or, when there is nothing to write, its outcome: this version is indexed
        already, or its object could not be read and writing would lose something.

        A failed read never destroys what was indexed before: an indexed copy stays (only a confirmed delete removes
        it). An object that is confirmed missing and of which nothing was indexed leaves no record where the strategy
        says so (a late "created" event for an object deleted since). Any other failure is recorded by the strategy
        with its reason, so that listings show it, and its outcome is unsettled when a retry may get past it.
        """
        uri = strategy.uri(item)
        doc_id = document_id(uri)
        existing = self._backend.get_document(collection, doc_id)
        obj: SourceObject | None = None
        if strategy.reads_content(item):
            try:
                obj = self.read(uri)
            except SourceError as exc:
                settled = not isinstance(exc, SourceUnavailable)  # a retry may read what this read could not
                if existing is not None and strategy.has_content(existing):
                    return JobDocument(doc_id, existing.name, DocumentStatus.FAILED.value,
                                       f"{exc}; the indexed version is kept", settled=settled)
                if isinstance(exc, SourceMissing) and strategy.removes_when_gone(item):
                    if existing is not None:  # an earlier failure's record goes too
                        self._backend.delete_document(collection, doc_id)
                    return JobDocument(doc_id, strategy.name(item), DocumentStatus.FAILED.value, str(exc))
                return _unless_unchanged(replace(strategy.prepare(item, existing, exc), settled=settled), existing)
        if existing is not None and strategy.has_content(existing) and existing.version == strategy.version(item, obj):
            return _outcome(existing)  # this version is indexed already: not even extracted again
        return _unless_unchanged(strategy.prepare(item, existing, obj), existing)

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
            record_indexed_document(record.doc_id, record.status.value, record.chunk_count)
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


def _with_count(record: DocumentRecord, count: int) -> DocumentRecord:
    return replace(record, chunk_count=count)


def _unless_unchanged(prepared: PreparedDocument, existing: DocumentRecord | None) -> PreparedDocument | JobDocument:
    """``prepared``, or the outcome of ``existing`` when it is the same version with the same outcome (a file whose
    content could not be read again, with unchanged fields: nothing to write)."""
    record = prepared.record
    if (prepared.settled and existing is not None and existing.version == record.version
            and existing.status is record.status and existing.reason == record.reason):
        return _outcome(existing)
    return prepared


def _outcome(record: DocumentRecord) -> JobDocument:
    return JobDocument(record.doc_id, record.name, record.status.value, record.reason)


def _kept_changing(outcome: JobDocument) -> JobDocument:
    return replace(outcome, settled=False, message=_joined(
        outcome.message, f"the object changed {CATCH_UP_ATTEMPTS + 1} times while it was being indexed; an older "
        "version may be indexed until its later events are handled"))


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second[:1].upper() + second[1:]
