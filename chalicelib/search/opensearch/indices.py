"""Where Sift's data sits in OpenSearch, and how a document's chunks and record are written there on any flavour.

Layout
------
* **Chunks**: one index per collection, reached only through an alias. The physical index is
  ``{prefix}-{sha1(collection)[:16]}-v1`` and the alias ``{prefix}-{sha1(collection)[:16]}``; every read and write
  names the alias, so a later re-index into ``-v2`` is an alias swap. The index is created with its alias in the same
  ``indices.create`` call (atomic: there is never an index without its alias). Mapping: ``mapping``. A collection
  created with an ``image_dimension`` has a second k-NN field, ``image_vector`` (same engine, space and HNSW
  parameters), holding the image chunks' multimodal embeddings; text chunks simply have no value there.
* **Documents**: one small shared index ``{prefix}-documents`` holds every collection's ``DocumentRecord`` s, ``_id``
  ``sha1(collection + "\\0" + doc_id)`` where the deployment takes custom ids, with ``collection`` / ``doc_id`` /
  ``name`` as keywords (filter, sort by name) and the whole record verbatim in ``record`` (``enabled: false``: stored,
  never indexed). It is created on the first ``create_collection``.

``Indices`` is the client with those names and the bulk options: what the backend and its flavour (``flavours``)
send their requests through. It holds the steps both flavours take the same way: writing one document's chunks (one
``streaming_bulk``, every item checked) and building its record's source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from opensearchpy import OpenSearch, helpers

from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus
from chalicelib.search.opensearch.builders import bulk_actions
from chalicelib.search.opensearch.errors import bulk_failure, error_type

# The version of Sift's physical index layout behind each alias (a change of mappings would bump it). It is not how a
# knowledge base moves to a new version: each of its versions is a collection of its own (``KnowledgeBase.
# collection_for``) and a reindex swaps the catalog record to the new one (``chalicelib.core.reindex``), so reads
# move in one conditional write and no alias has to be repointed.
INDEX_VERSION: Final = "v1"


class Indices:
    """One client, Sift's index names under ``prefix``, and the bulk options every bulk request is sent with."""

    def __init__(self, client: OpenSearch, prefix: str, bulk_options: Mapping[str, Any]) -> None:
        self.client = client
        self._prefix = prefix
        self._bulk_options = dict(bulk_options)

    def alias(self, collection: str) -> str:
        return f"{self._prefix}-{hashlib.sha1(collection.encode()).hexdigest()[:16]}"

    def physical_index(self, collection: str) -> str:
        return f"{self.alias(collection)}-{INDEX_VERSION}"

    @property
    def documents_index(self) -> str:
        return f"{self._prefix}-documents"

    @staticmethod
    def document_id(collection: str, doc_id: str) -> str:
        """The record's ``_id`` where custom ids are allowed: one record per (collection, doc_id), overwritten."""
        return hashlib.sha1(f"{collection}\x00{doc_id}".encode()).hexdigest()

    def bulk(self, actions: Iterable[dict[str, Any]], **params: Any) -> Iterator[tuple[bool, dict[str, Any]]]:
        """``streaming_bulk`` with the bulk options (429-rejected items retried with exponential backoff): each item
        as ``(ok, item)``, failures answered rather than raised (a failed request still raises)."""
        for ok, item in helpers.streaming_bulk(
            self.client, actions, raise_on_error=False, raise_on_exception=True, **params, **self._bulk_options
        ):
            yield ok, next(iter(item.values()))

    def write_chunks(
        self, collection: str, record: DocumentRecord, chunks: Sequence[ChunkRecord], *, with_ids: bool
    ) -> None:
        """Write one document's chunks into the collection's alias, vectors L2-normalised; ``with_ids``: each under
        its chunk id. Any failed chunk raises (``ValueError`` when the collection does not exist)."""
        if not chunks:
            return
        normalised = [
            dataclasses.replace(
                chunk,
                vector=normalise(chunk.vector),
                image_vector=None if chunk.image_vector is None else normalise(chunk.image_vector),
            )
            for chunk in chunks
        ]
        actions = bulk_actions(self.alias(collection), (record, normalised), with_ids=with_ids)
        failures = [item for ok, item in self.bulk(actions, require_alias=True) if not ok]
        if not failures:
            return
        if error_type(failures[0]) == "index_not_found_exception":
            raise ValueError(f"collection {collection!r} does not exist")
        # A server-assigned id would name no chunk the caller knows, so only a chunk id is quoted.
        raise bulk_failure(
            f"write {len(failures)} of {len(chunks)} chunks of document {record.doc_id!r}",
            failures,
            "chunk" if with_ids else None,
        )

    @staticmethod
    def record_source(collection: str, record: DocumentRecord, chunk_count: int) -> dict[str, Any]:
        """The documents-index source of one record, stored with its chunk count."""
        stored = dataclasses.replace(record, chunk_count=chunk_count)
        return {
            "collection": collection,
            "doc_id": record.doc_id,
            "name": record.name,
            "record": record_to_json(stored),
        }


def normalise(vector: Sequence[float]) -> list[float]:
    """Unit length, so the engine's inner product is the cosine; a zero vector stays zero."""
    values = [float(x) for x in vector]
    norm = math.sqrt(math.fsum(x * x for x in values))
    return values if norm == 0.0 else [x / norm for x in values]


def record_to_json(record: DocumentRecord) -> dict[str, Any]:
    data = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    data["status"] = record.status.value
    data["metadata"] = dict(record.metadata)
    return data


def record_from_json(data: Mapping[str, Any]) -> DocumentRecord:
    names = {field.name for field in dataclasses.fields(DocumentRecord)}
    values = {key: value for key, value in data.items() if key in names}
    values["status"] = DocumentStatus(values["status"])
    values["metadata"] = dict(values.get("metadata") or {})
    return DocumentRecord(**values)
