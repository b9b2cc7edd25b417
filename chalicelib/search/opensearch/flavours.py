"""What differs between a managed OpenSearch cluster and an Amazon OpenSearch Serverless collection: one strategy each.

The backend (``backend.OpenSearchBackend``) holds one ``Flavour`` and calls it for exactly the steps that differ:
replacing one document's chunks and record, making an upsert searchable, deleting a document, reading its record and
deleting a collection's records. Everything else is the same on both and stays in the backend: index names, aliases
and ``require_alias``, mappings, recall, ``get_documents``, listing and counting.

``ManagedCluster`` (an Amazon OpenSearch Service domain or a self-hosted cluster)
---------------------------------------------------------------------------------
Every write carries a stable ``_id`` (the chunk id; ``Indices.document_id`` for a record), so a retried write
overwrites instead of duplicating and a record is read by a GET. ``upsert_documents`` is not atomic per document: for
each document it deletes the old chunks (``delete_by_query``), bulk-writes the new ones, then writes the record. A
failure in between leaves the document with fewer chunks (never a silently dropped one: any failed chunk raises) and
its old record; re-running the upsert repairs it. Read-after-write needs ``refresh=True`` (the default): the alias
and the documents index are refreshed after every write.

``ServerlessCollection`` (Amazon OpenSearch Serverless, ``SIFT_OPENSEARCH_AUTH=sigv4-aoss``)
--------------------------------------------------------------------------------------------
Vector search collections assign their own document ids (a custom ``_id`` in an index request is rejected), have no
``_refresh`` API, and ``_delete_by_query`` is treated as unavailable. So no request of this flavour carries a custom
id, ``refresh`` or a delete-by-query (it has no refresh option at all):

* chunks and document records are written without ``_id``;
* replacing or deleting a document first *searches* for the ``_id`` s to remove (a term query on ``doc_id``, or on
  ``collection`` + ``doc_id`` in the documents index, paged 10,000 at a time by ``builders.id_page_query``), then
  removes them with bulk ``delete`` actions checked item by item like writes (a 404 counts as already gone);
* ``get_document`` is a term query on (``collection``, ``doc_id``) instead of a GET by the computed id, and keeps the
  newest record (by ``updated_at``) if it finds more than one; ``delete_collection`` deletes the index, then the
  collection's records the same search-then-delete way.

Order of an upsert: find the old chunk ids and the old record ids, delete the old chunks, write the new chunks,
write the new record, delete the old records. The ids to remove are collected *before* anything new is written, so
an upsert can never delete what it wrote itself, however late its own writes become visible. A failure part-way
leaves what ``ManagedCluster`` leaves: fewer chunks and the old record (or, if only the last step failed, two records
of which reads prefer the newer); re-running the upsert repairs it, since it finds every copy.

Visibility: writes and deletes become searchable after about a second, and no request can wait for that. Recall,
``list_documents`` and ``count_chunks`` lag by that much. A re-upsert (or a delete) of a document within about a
second of its previous upsert may not see that upsert's chunks and record yet: those are then not deleted, and the
document is left with its old chunks *and* the new ones (recall may return both versions of a chunk id) and with two
records (``list_documents`` shows it twice; ``get_document`` returns the newer) until the next upsert or delete of
that document cleans them up. Deleting the old copies before writing (rather than after) is what keeps this
confined to the race: a plain failure never leaves stale chunks next to new ones.

Not supported there: read-after-write; atomic replacement; idempotent retries of a whole request (without custom
ids, a bulk request replayed after a lost answer writes its chunks twice; the next upsert or delete of that document
removes the copies). Each upsert costs two id searches and up to two bulk deletes more than on a managed cluster,
and a clean-up reads 10,000 ids per search page. Aliases (every request names the collection's alias) and
``require_alias`` are used exactly as on a managed cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from opensearchpy.exceptions import NotFoundError

from chalicelib.core.ports.search import ChunkRecord, DocumentRecord
from chalicelib.search.opensearch.builders import (
    MAX_PAGE_SIZE,
    delete_actions,
    delete_by_doc_query,
    id_page_query,
    record_query,
)
from chalicelib.search.opensearch.errors import bulk_failure, check_search
from chalicelib.search.opensearch.indices import Indices, record_from_json

# How many records a look-up by query reads per document: one normally, two after a lost race (module docstring).
RECORD_LOOKUP_SIZE: Final = 100


class Flavour(Protocol):
    """The steps a managed cluster and a serverless collection take differently (module docstring). The backend
    calls each inside its ``errors.translated`` block, so a client error reaches the caller as a service error."""

    def replace_document(
        self, indices: Indices, collection: str, record: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> None:
        """Replace one document's chunks and record; ``ValueError`` when the collection does not exist."""
        ...

    def make_searchable(self, indices: Indices, collection: str) -> None:
        """After an upsert's documents are all written: make them searchable now, where the deployment can."""
        ...

    def delete_document(self, indices: Indices, collection: str, doc_id: str) -> bool:
        """Remove one document's chunks and record; whether anything was there."""
        ...

    def get_document(self, indices: Indices, collection: str, doc_id: str) -> DocumentRecord | None:
        """One document's record (``None``: none, or the collection does not exist)."""
        ...

    def delete_records(self, indices: Indices, collection: str) -> None:
        """Remove every record of a collection from the documents index (its chunk index is already deleted)."""
        ...


@dataclass(frozen=True)
class ManagedCluster:
    """A domain or a self-hosted cluster: custom ids and ``_delete_by_query``; ``refresh``: after every write."""

    refresh: bool = True

    def replace_document(
        self, indices: Indices, collection: str, record: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> None:
        """Delete the old chunks by query, write the new ones under their chunk ids, then the record under its
        computed id (a retry overwrites the same ids)."""
        alias = indices.alias(collection)
        try:
            indices.client.delete_by_query(
                index=alias, body=delete_by_doc_query(record.doc_id), conflicts="proceed", refresh=False
            )
        except NotFoundError as exc:
            raise ValueError(f"collection {collection!r} does not exist") from exc
        indices.write_chunks(collection, record, chunks, with_ids=True)
        indices.client.index(
            index=indices.documents_index,
            id=indices.document_id(collection, record.doc_id),
            body=indices.record_source(collection, record, len(chunks)),
        )

    def make_searchable(self, indices: Indices, collection: str) -> None:
        """One refresh of the alias and the documents index together, when ``refresh`` is on."""
        if self.refresh:
            indices.client.indices.refresh(index=f"{indices.alias(collection)},{indices.documents_index}")

    def delete_document(self, indices: Indices, collection: str, doc_id: str) -> bool:
        """The chunks by query, the record by its computed id, each refreshed when ``refresh`` is on."""
        try:
            response = indices.client.delete_by_query(
                index=indices.alias(collection),
                body=delete_by_doc_query(doc_id),
                conflicts="proceed",
                refresh=self.refresh,
            )
            chunks_deleted = int(response.get("deleted", 0))
        except NotFoundError:
            chunks_deleted = 0
        try:
            indices.client.delete(
                index=indices.documents_index,
                id=indices.document_id(collection, doc_id),
                refresh="true" if self.refresh else "false",
            )
            record_deleted = True
        except NotFoundError:
            record_deleted = False
        return record_deleted or chunks_deleted > 0

    def get_document(self, indices: Indices, collection: str, doc_id: str) -> DocumentRecord | None:
        """A GET by the computed id: at most one record, and read-after-write even without a refresh."""
        try:
            response = indices.client.get(index=indices.documents_index, id=indices.document_id(collection, doc_id))
        except NotFoundError:
            return None
        source = response.get("_source") or {}
        if not response.get("found", True) or source.get("collection") != collection:
            return None
        return record_from_json(source["record"])

    def delete_records(self, indices: Indices, collection: str) -> None:
        """One ``_delete_by_query`` on the collection's keyword."""
        try:
            indices.client.delete_by_query(
                index=indices.documents_index,
                body={"query": {"term": {"collection": collection}}},
                conflicts="proceed",
                refresh=self.refresh,
            )
        except NotFoundError:
            pass


@dataclass(frozen=True)
class ServerlessCollection:
    """An OpenSearch Serverless vector collection: server-assigned ids, no refresh, no delete-by-query, so every
    replacement and delete is search-then-delete (module docstring). ``id_page_size``: the page of its id look-ups."""

    id_page_size: int = MAX_PAGE_SIZE

    def __post_init__(self) -> None:
        size = self.id_page_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"id_page_size must be an integer in [1, {MAX_PAGE_SIZE}], not {size!r}")

    def replace_document(
        self, indices: Indices, collection: str, record: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> None:
        """Custom ids are rejected, so the old copies are found by query: see "Order of an upsert" in the module
        docstring for why the ids are collected before anything is written."""
        alias = indices.alias(collection)
        try:
            old_chunks = self._find_ids(indices, alias, delete_by_doc_query(record.doc_id)["query"], "chunk_id")
        except NotFoundError as exc:
            raise ValueError(f"collection {collection!r} does not exist") from exc
        old_records = self._find_ids(
            indices, indices.documents_index, record_query(collection, record.doc_id), "doc_id"
        )
        self._delete_ids(indices, alias, old_chunks, f"the old chunks of document {record.doc_id!r}")
        indices.write_chunks(collection, record, chunks, with_ids=False)
        indices.client.index(index=indices.documents_index, body=indices.record_source(collection, record, len(chunks)))
        self._delete_ids(indices, indices.documents_index, old_records, f"the old record of document {record.doc_id!r}")

    def make_searchable(self, indices: Indices, collection: str) -> None:
        """Nothing: a collection has no refresh API; writes become searchable after about a second on their own."""

    def delete_document(self, indices: Indices, collection: str, doc_id: str) -> bool:
        """Search the chunk and record ids, then bulk-delete them (chunks first, as in an upsert)."""
        alias = indices.alias(collection)
        try:
            chunk_ids = self._find_ids(indices, alias, delete_by_doc_query(doc_id)["query"], "chunk_id")
        except NotFoundError:
            chunk_ids = []
        try:
            record_ids = self._find_ids(indices, indices.documents_index, record_query(collection, doc_id), "doc_id")
        except NotFoundError:
            record_ids = []
        deleted = self._delete_ids(indices, alias, chunk_ids, f"the chunks of document {doc_id!r}")
        deleted += self._delete_ids(indices, indices.documents_index, record_ids, f"the record of document {doc_id!r}")
        return deleted > 0

    def get_document(self, indices: Indices, collection: str, doc_id: str) -> DocumentRecord | None:
        """A term query instead of a GET by id (there is no computed id); the newest record wins if a race left
        two."""
        body = {"query": record_query(collection, doc_id), "size": RECORD_LOOKUP_SIZE, "_source": ["record"]}
        try:
            response = indices.client.search(index=indices.documents_index, body=body)
        except NotFoundError:
            return None
        check_search(response, "read of the document")
        records = [record_from_json(hit["_source"]["record"]) for hit in response["hits"]["hits"]]
        return max(records, key=lambda found: found.updated_at, default=None)

    def delete_records(self, indices: Indices, collection: str) -> None:
        """Search the collection's record ids, then bulk-delete them."""
        try:
            record_ids = self._find_ids(indices, indices.documents_index, record_query(collection), "doc_id")
        except NotFoundError:
            record_ids = []
        self._delete_ids(indices, indices.documents_index, record_ids, f"the records of collection {collection!r}")

    def _find_ids(self, indices: Indices, index: str, query: dict[str, Any], sort_field: str) -> list[str]:
        """Every ``_id`` matching ``query``, page by page (``builders.id_page_query``: exact even when keys tie).

        Raises ``NotFoundError`` when the index does not exist (callers decide what that means). A page with failed
        shards or a timeout raises: a clean-up that silently missed ids would leave stale chunks behind.
        """
        ids: list[str] = []
        after: str | None = None
        seen_at_after: list[str] = []
        while True:
            body = id_page_query(query, sort_field, self.id_page_size, after, seen_at_after)
            response = indices.client.search(index=index, body=body)
            check_search(response, f"look-up of ids in {index}")
            hits = response.get("hits", {}).get("hits", [])
            for hit in hits:
                ids.append(hit["_id"])
                key = hit["sort"][0]
                if key != after:
                    after, seen_at_after = key, []
                seen_at_after.append(hit["_id"])
            if len(hits) < self.id_page_size:
                return ids

    @staticmethod
    def _delete_ids(indices: Indices, index: str, ids: Sequence[str], what: str) -> int:
        """Bulk-delete documents by ``_id``; how many this call deleted (a 404 is "already gone", not a failure)."""
        if not ids:
            return 0
        deleted = 0
        failures: list[dict[str, Any]] = []
        for ok, info in indices.bulk(delete_actions(index, ids)):
            if ok:
                deleted += 1
            elif info.get("status") != 404:
                failures.append(info)
        if failures:
            raise bulk_failure(f"delete {len(failures)} of {len(ids)} documents of {what}", failures, "id")
        return deleted
