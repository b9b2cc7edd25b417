"""What one ingest pipeline needs to know about a kind of source item: the strategy protocol and the shared records.

Sift ingests two kinds of item the same way — a knowledge base's source objects (``KnowledgeBaseObjects``) and a
media dataset's files (``MediaFiles``): look up the indexed copy, read the object, skip a version that is indexed
already, extract and chunk it, write it, then check it against its source (``chalicelib.core.indexing.Indexer``).
A strategy says only what differs: whether the content is read at all, how a version is named, what a record holds,
and what a file that cannot be read becomes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, TypeVar

from chalicelib.core.chunking import Chunk
from chalicelib.core.data_center import parse_file_uri
from chalicelib.core.ports.search import DocumentRecord
from chalicelib.core.ports.sources import SourceError, SourceObject

Item_contra = TypeVar("Item_contra", contravariant=True)

# What reading an item's content gave: the object, the error that stopped the read, or None when it was not read.
Read = SourceObject | SourceError | None


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document ready to embed and write: its record, its chunks and, for an image chunk, its image vector."""

    record: DocumentRecord
    chunks: list[Chunk]
    image_vector: list[float] | None = None
    revision: str = ""  # the source revision the chunks were read at; "" when nothing was read (nothing to check)
    settled: bool = True  # False: written in place of what a failed read could not give (see JobDocument.settled)


class IngestStrategy(Protocol[Item_contra]):
    """How items of one kind become documents (the pipeline in ``Indexer.ingest`` does the rest)."""

    def uri(self, item: Item_contra) -> str:
        """The source URI the item's document is named after (``document_id``)."""

    def name(self, item: Item_contra) -> str:
        """The document's name in outcomes."""

    def reads_content(self, item: Item_contra) -> bool:
        """Whether the item's content is read from its source (else only what the item says is indexed)."""

    def version(self, item: Item_contra, obj: SourceObject | None) -> str:
        """The version a document built from ``item`` and ``obj`` would carry: equal versions index alike."""

    def has_content(self, existing: DocumentRecord) -> bool:
        """Whether ``existing`` holds the item's indexed content: then a failed read keeps it, and the same version
        is not indexed again."""

    def removes_when_gone(self, item: Item_contra) -> bool:
        """Whether an item whose object is confirmed gone, and of which no content was indexed, leaves no record."""

    def prepare(self, item: Item_contra, existing: DocumentRecord | None, read: Read) -> PreparedDocument:
        """The record and chunks to write for ``item``, given what reading it gave (a ``SourceError`` here is one that
        leaves something to record: a FAILED record, or a record of what the item says)."""


def document_id(uri: str) -> str:
    """A stable id per source URI, so re-indexing the same object replaces it instead of adding a copy.

    A data-center file's document id is its FileId, as in the documented flow (DeleteIndexDocument takes FileIds).
    """
    data_center_file = parse_file_uri(uri)
    if data_center_file is not None:
        return data_center_file[1]
    return "doc_" + hashlib.sha256(uri.encode()).hexdigest()[:24]
