"""The storage-and-search contract every backend implements (embedded SQLite/tantivy/numpy, OpenSearch).

Backends own documents and chunks and answer the two recall legs. Everything above recall — fusion, reranking,
thresholds, response shaping — lives in ``chalicelib.core`` and is identical for every backend.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.core.filters import Group


class DocumentStatus(enum.Enum):
    INDEXED = "FINISH"
    FAILED = "FAILED"
    EMPTY = "EMPTY"  # parsed fine but held no text (e.g. an image in a knowledge base)


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """One source object (a file) of a collection, with its indexing outcome."""

    doc_id: str
    name: str
    uri: str
    content_type: str
    size: int
    version: str  # ETag / version id / content hash: the same version indexed twice is a no-op
    status: DocumentStatus
    reason: str = ""
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    chunk_count: int = 0
    created_at: str = ""
    updated_at: str = ""
    # Fields a caller gave that are stored and returned as given, never searched or filtered (a media File's
    # Labels, Figures, EXIF, ...). ``metadata`` is what filters see and chunks copy.
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """A piece of a document as written to the backend.

    ``text`` is what a caller gets back; ``search_text`` is what both legs match against (the text plus its title and
    heading path, so a chunk that never repeats the document's subject can still be found by it).
    """

    chunk_id: str
    doc_id: str
    position: int
    text: str
    search_text: str
    vector: Sequence[float]
    metadata: Mapping[str, Any]
    # An image chunk's embedding by the collection's multimodal model (its image index); None for text chunks.
    image_vector: Sequence[float] | None = None


@dataclass(frozen=True, slots=True)
class StoredChunk:
    chunk_id: str
    doc_id: str
    position: int
    text: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk: StoredChunk
    score: float  # the leg's raw score: cosine similarity for dense, BM25 for sparse


@dataclass(frozen=True, slots=True)
class RecallQuery:
    """The recall legs of one request; a top-K of 0 (or no image vectors) switches its leg off.

    The image leg searches the image index (chunks with an ``image_vector``) once per query image, with the same
    filters, and keeps each chunk's best similarity over the images; it returns at most ``image_top_k`` chunks.
    """

    text: str
    vector: Sequence[float] | None
    dense_top_k: int
    sparse_top_k: int
    filters: Group | None = None
    image_vectors: Sequence[Sequence[float]] = ()
    image_top_k: int = 0


@dataclass(frozen=True, slots=True)
class RecallResult:
    dense: list[ScoredChunk]
    sparse: list[ScoredChunk]
    image: list[ScoredChunk] = field(default_factory=list)  # raw cosine to the closest query image, best first


class SearchBackend(Protocol):
    """Narrow primitives; one contract test suite (tests/contract) holds every implementation to them."""

    def create_collection(self, collection: str, dimension: int, image_dimension: int = 0) -> None:
        """Create an empty collection; creating one that exists with the same dimensions is a no-op.

        ``image_dimension`` > 0 gives the collection an image index: chunks may then carry an ``image_vector`` of that
        size, searched by the image leg of ``recall``.
        """

    def delete_collection(self, collection: str) -> None:
        """Drop the collection with all its documents and chunks; unknown collections are ignored."""

    def upsert_documents(self, collection: str, documents: Sequence[tuple[DocumentRecord, Sequence[ChunkRecord]]]) -> None:
        """Write each document with all of its chunks, replacing every chunk it had before (atomically per document)."""

    def delete_document(self, collection: str, doc_id: str) -> bool:
        """Remove a document and its chunks; False when it was not there."""

    def get_document(self, collection: str, doc_id: str) -> DocumentRecord | None: ...

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """The records of ``doc_ids`` that exist, by id, in one round trip (a page of results needs all of them)."""

    def list_documents(self, collection: str, *, offset: int, limit: int) -> tuple[list[DocumentRecord], int]:
        """A page of documents ordered by name, and the total count."""

    def recall(self, collection: str, query: RecallQuery) -> RecallResult:
        """Dense and sparse recall with the filters applied inside each leg (not after it)."""

    def count_chunks(self, collection: str) -> int: ...

    def document_vector(self, collection: str, doc_id: str) -> list[float] | None:
        """The stored text vector of the document's first chunk (search by an indexed file); None without one."""
