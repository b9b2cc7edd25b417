"""The OpenSearch backend: ``SearchBackend`` on an ``opensearchpy.OpenSearch`` client built by the composition root.

Layout
------
* **Chunks**: one index per collection, reached only through an alias. The physical index is
  ``{prefix}-{sha1(collection)[:16]}-v1`` and the alias ``{prefix}-{sha1(collection)[:16]}``; every read and write
  names the alias, so a later re-index into ``-v2`` is an alias swap. The index is created with its alias in the same
  ``indices.create`` call (atomic: there is never an index without its alias). Mapping: ``builders``. A collection
  created with an ``image_dimension`` has a second k-NN field, ``image_vector`` (same engine, space and HNSW
  parameters), holding the image chunks' multimodal embeddings; text chunks simply have no value there.
* **Documents**: one small shared index ``{prefix}-documents`` holds every collection's ``DocumentRecord`` s, ``_id``
  ``sha1(collection + "\\0" + doc_id)``, with ``collection`` / ``doc_id`` / ``name`` as keywords (filter, sort by name)
  and the whole record verbatim in ``record`` (``enabled: false``: stored, never indexed). It is created on the first
  ``create_collection``.

Semantics and known gaps versus the embedded backend
----------------------------------------------------
* Vectors are L2-normalised here (chunks on write, the query on recall; image vectors too) so inner product is the
  cosine; scores coming back from the engine are mapped back to the raw cosine (see ``_cosine``). A zero query vector
  recalls nothing.
* Recall is one ``msearch``: the dense item, the sparse item, then one image k-NN item per query image, every k-NN
  item with the compiled filter inside it. The image leg keeps each chunk's best cosine over the query images, best
  first, cut to ``image_top_k``. It does not look at the mapping: the image items carry ``ignore_unmapped`` (k-NN
  plugin 2.11+), so a collection without an image index answers an empty image leg in the same round trip (the caller
  only sends image vectors for knowledge bases with an image index anyway). Writing an image vector into a collection
  without an image index is rejected by the strict mapping (``InternalError`` naming the document).
* ``upsert_documents`` is not atomic per document: for each document it deletes the old chunks
  (``delete_by_query``), bulk-writes the new ones, then writes the record. A failure in between leaves the document
  with fewer chunks (never a silently dropped one: any failed chunk raises) and its old record; re-running the upsert
  repairs it. 429-rejected chunks are retried by ``streaming_bulk`` (``bulk_max_retries`` times, exponential backoff).
* Read-after-write needs ``refresh=True`` (the default): the alias and the documents index are refreshed after every
  write. Amazon OpenSearch Serverless has no refresh API: use ``serverless=True`` there (below).
* ``list_documents`` pages with ``from``/``size``: ``offset + limit`` beyond ``index.max_result_window`` (10,000 by
  default) is rejected by the cluster (surfaced as ``InternalError``).
* Reads on a collection that does not exist answer "empty", like the embedded backend; writes into one raise
  ``ValueError`` (bulk uses ``require_alias`` so a missing alias is never auto-created as a dynamic index).

Amazon OpenSearch Serverless (``serverless=True``)
--------------------------------------------------
Vector search collections assign their own document ids (a custom ``_id`` in an index request is rejected), have no
``_refresh`` API, and ``_delete_by_query`` is treated as unavailable. So in this mode no request carries a custom id,
``refresh`` or a delete-by-query, and ``refresh`` is forced off whatever the constructor was given:

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
leaves what the dedicated-cluster mode leaves: fewer chunks and the old record (or, if only the last step failed, two
records of which reads prefer the newer); re-running the upsert repairs it, since it finds every copy.

Visibility: writes and deletes become searchable after about a second, and no request can wait for that. Recall,
``list_documents`` and ``count_chunks`` lag by that much. A re-upsert (or a delete) of a document within about a
second of its previous upsert may not see that upsert's chunks and record yet: those are then not deleted, and the
document is left with its old chunks *and* the new ones (recall may return both versions of a chunk id) and with two
records (``list_documents`` shows it twice; ``get_document`` returns the newer) until the next upsert or delete of
that document cleans them up. Deleting the old copies before writing (rather than after) is what keeps this
confined to the race: a plain failure never leaves stale chunks next to new ones.

Not supported there: read-after-write; atomic replacement; idempotent retries of a whole request (without custom
ids, a bulk request replayed after a lost answer writes its chunks twice; the next upsert or delete of that document
removes the copies). Each upsert costs two id searches and up to two bulk deletes more than on a dedicated cluster,
and a clean-up reads 10,000 ids per search page. Aliases (every request names the collection's alias) and
``require_alias`` are used exactly as in the dedicated-cluster mode.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import NotFoundError, RequestError

from chalicelib.core.errors import InternalError, ServiceError, ServiceUnavailableError
from chalicelib.core.ports.search import (
    ChunkRecord,
    DocumentRecord,
    DocumentStatus,
    RecallQuery,
    RecallResult,
    ScoredChunk,
    StoredChunk,
)
from chalicelib.search.opensearch.builders import (
    KEYWORD_IGNORE_ABOVE,
    MAX_PAGE_SIZE,
    bulk_actions,
    compile_filter,
    delete_actions,
    delete_by_doc_query,
    dense_query,
    id_page_query,
    image_query,
    index_settings_and_mappings,
    mapped_dimensions,
    msearch_body,
    record_query,
    sparse_query,
)
from chalicelib.search.opensearch.errors import classify, error_reason, is_retryable_status, translated

INDEX_VERSION: Final = "v1"
# How many records ``get_document`` reads in serverless mode: one normally, two after a lost race (module docstring).
RECORD_LOOKUP_SIZE: Final = 100
MAX_RECORDS_PER_LOOKUP: Final = 10_000  # index.max_result_window

DOCUMENTS_INDEX_BODY: Final[dict[str, Any]] = {
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "collection": {"type": "keyword"},
            "doc_id": {"type": "keyword"},
            "name": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE},
            "record": {"type": "object", "enabled": False},
        },
    }
}


class OpenSearchBackend:
    """``SearchBackend`` on OpenSearch; see the module docstring for the index layout and its trade-offs."""

    def __init__(
        self,
        client: OpenSearch,
        *,
        index_prefix: str = "sift",
        refresh: bool = True,
        engine: str = "faiss",
        space_type: str = "innerproduct",
        m: int = 16,
        ef_construction: int = 128,
        bulk_max_retries: int = 3,
        bulk_initial_backoff: float = 1.0,
        bulk_chunk_size: int = 500,
        bulk_max_chunk_bytes: int = 10 * 1024 * 1024,
        serverless: bool = False,
        id_page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        """``serverless=True`` targets an Amazon OpenSearch Serverless vector collection (module docstring): no custom
        ids, no refresh (``refresh`` is ignored), no delete-by-query. ``id_page_size`` is the page of its id look-ups."""
        # Validates engine/space_type/m/ef_construction once, at construction, not on the first create_collection.
        index_settings_and_mappings(1, engine=engine, space_type=space_type, m=m, ef_construction=ef_construction)
        if isinstance(id_page_size, bool) or not isinstance(id_page_size, int) or not 1 <= id_page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"id_page_size must be an integer in [1, {MAX_PAGE_SIZE}], not {id_page_size!r}")
        self._client = client
        self._prefix = index_prefix
        self._serverless = serverless
        self._refresh = refresh and not serverless
        self._id_page_size = id_page_size
        self._mapping_options: dict[str, Any] = {
            "engine": engine, "space_type": space_type, "m": m, "ef_construction": ef_construction,
        }
        self._space_type = space_type
        self._bulk_options: dict[str, Any] = {
            "max_retries": bulk_max_retries,
            "initial_backoff": bulk_initial_backoff,
            "chunk_size": bulk_chunk_size,
            "max_chunk_bytes": bulk_max_chunk_bytes,
        }
        self._documents_index_ready = False

    # names -------------------------------------------------------------------------------------------------------

    def alias(self, collection: str) -> str:
        return f"{self._prefix}-{hashlib.sha1(collection.encode()).hexdigest()[:16]}"

    def physical_index(self, collection: str) -> str:
        return f"{self.alias(collection)}-{INDEX_VERSION}"

    @property
    def documents_index(self) -> str:
        return f"{self._prefix}-documents"

    @staticmethod
    def _document_id(collection: str, doc_id: str) -> str:
        return hashlib.sha1(f"{collection}\x00{doc_id}".encode()).hexdigest()

    # collections -------------------------------------------------------------------------------------------------

    def create_collection(self, collection: str, dimension: int, image_dimension: int = 0) -> None:
        body = index_settings_and_mappings(dimension, image_dimension=image_dimension, **self._mapping_options)
        alias = self.alias(collection)
        with translated("create the collection"):
            self._ensure_documents_index()
            if not self._client.indices.exists(index=alias):
                try:
                    self._client.indices.create(index=self.physical_index(collection), body={**body, "aliases": {alias: {}}})
                    return
                except RequestError as exc:
                    if _error_type(exc) != "resource_already_exists_exception":
                        raise
                    # Lost a race with another creator: fall through and compare dimensions.
            existing, existing_image = self._dimensions(alias)
        if existing is None:
            return
        if existing != dimension:
            raise ValueError(f"collection {collection!r} exists with dimension {existing}, not {dimension}")
        if existing_image != image_dimension:
            raise ValueError(
                f"collection {collection!r} exists with image dimension {existing_image}, not {image_dimension}"
            )

    def delete_collection(self, collection: str) -> None:
        alias = self.alias(collection)
        with translated("delete the collection"):
            try:
                indices = list(self._client.indices.get_alias(name=alias))
            except NotFoundError:
                indices = []
            for index in indices:
                try:
                    self._client.indices.delete(index=index)
                except NotFoundError:
                    pass
            if self._serverless:
                try:
                    record_ids = self._find_ids(self.documents_index, record_query(collection), "doc_id")
                except NotFoundError:
                    record_ids = []
                self._delete_ids(self.documents_index, record_ids, f"the records of collection {collection!r}")
                return
            try:
                self._client.delete_by_query(
                    index=self.documents_index,
                    body={"query": {"term": {"collection": collection}}},
                    conflicts="proceed",
                    refresh=self._refresh,
                )
            except NotFoundError:
                pass

    # documents ---------------------------------------------------------------------------------------------------

    def upsert_documents(
        self, collection: str, documents: Sequence[tuple[DocumentRecord, Sequence[ChunkRecord]]]
    ) -> None:
        if not documents:
            return
        alias = self.alias(collection)
        with translated("write the documents"):
            if any(chunk.image_vector is not None for _, chunks in documents for chunk in chunks):
                # Checked before anything is replaced (the embedded backend refuses the same way); one lookup, and
                # only for batches with image chunks.
                _, image_dimension = self._dimensions(alias)
                if image_dimension == 0:
                    raise ValueError(f"collection {collection!r} has no image index for image vectors")
            for record, chunks in documents:
                if self._serverless:
                    self._replace_by_ids(collection, alias, record, chunks)
                    continue
                try:
                    self._client.delete_by_query(
                        index=alias, body=delete_by_doc_query(record.doc_id), conflicts="proceed", refresh=False
                    )
                except NotFoundError as exc:
                    raise ValueError(f"collection {collection!r} does not exist") from exc
                self._write_chunks(collection, alias, record, chunks)
                self._client.index(
                    index=self.documents_index,
                    id=self._document_id(collection, record.doc_id),
                    body=self._record_source(collection, record, len(chunks)),
                )
            if self._refresh:
                self._client.indices.refresh(index=f"{alias},{self.documents_index}")

    def _replace_by_ids(
        self, collection: str, alias: str, record: DocumentRecord, chunks: Sequence[ChunkRecord]
    ) -> None:
        """Serverless upsert of one document: see "Order of an upsert" in the module docstring for why this order."""
        try:
            old_chunks = self._find_ids(alias, delete_by_doc_query(record.doc_id)["query"], "chunk_id")
        except NotFoundError as exc:
            raise ValueError(f"collection {collection!r} does not exist") from exc
        old_records = self._find_ids(self.documents_index, record_query(collection, record.doc_id), "doc_id")
        self._delete_ids(alias, old_chunks, f"the old chunks of document {record.doc_id!r}")
        self._write_chunks(collection, alias, record, chunks)
        self._client.index(index=self.documents_index, body=self._record_source(collection, record, len(chunks)))
        self._delete_ids(self.documents_index, old_records, f"the old record of document {record.doc_id!r}")

    def _record_source(self, collection: str, record: DocumentRecord, chunk_count: int) -> dict[str, Any]:
        stored = dataclasses.replace(record, chunk_count=chunk_count)
        return {"collection": collection, "doc_id": record.doc_id, "name": record.name, "record": _record_to_json(stored)}

    def _write_chunks(self, collection: str, alias: str, record: DocumentRecord, chunks: Sequence[ChunkRecord]) -> None:
        if not chunks:
            return
        normalised = [
            dataclasses.replace(
                chunk,
                vector=_normalise(chunk.vector),
                image_vector=None if chunk.image_vector is None else _normalise(chunk.image_vector),
            )
            for chunk in chunks
        ]
        failures: list[dict[str, Any]] = []
        for ok, item in helpers.streaming_bulk(
            self._client,
            bulk_actions(alias, (record, normalised), with_ids=not self._serverless),
            raise_on_error=False,
            raise_on_exception=True,
            require_alias=True,
            **self._bulk_options,
        ):
            if not ok:
                failures.append(next(iter(item.values())))
        if not failures:
            return
        if _error_type(failures[0]) == "index_not_found_exception":
            raise ValueError(f"collection {collection!r} does not exist")
        # A server-assigned id (serverless) would name no chunk the caller knows, so only a chunk id is quoted.
        raise _bulk_failure(
            f"write {len(failures)} of {len(chunks)} chunks of document {record.doc_id!r}",
            failures,
            None if self._serverless else "chunk",
        )

    def _find_ids(self, index: str, query: dict[str, Any], sort_field: str) -> list[str]:
        """Every ``_id`` matching ``query``, page by page (``builders.id_page_query``: exact even when keys tie).

        Raises ``NotFoundError`` when the index does not exist (callers decide what that means). A page with failed
        shards or a timeout raises: a clean-up that silently missed ids would leave stale chunks behind.
        """
        ids: list[str] = []
        after: str | None = None
        seen_at_after: list[str] = []
        while True:
            body = id_page_query(query, sort_field, self._id_page_size, after, seen_at_after)
            response = self._client.search(index=index, body=body)
            _check_search(response, f"look-up of ids in {index}")
            hits = response.get("hits", {}).get("hits", [])
            for hit in hits:
                ids.append(hit["_id"])
                key = hit["sort"][0]
                if key != after:
                    after, seen_at_after = key, []
                seen_at_after.append(hit["_id"])
            if len(hits) < self._id_page_size:
                return ids

    def _delete_ids(self, index: str, ids: Sequence[str], what: str) -> int:
        """Bulk-delete documents by ``_id``; how many this call deleted (a 404 is "already gone", not a failure)."""
        if not ids:
            return 0
        deleted = 0
        failures: list[dict[str, Any]] = []
        for ok, item in helpers.streaming_bulk(
            self._client,
            delete_actions(index, ids),
            raise_on_error=False,
            raise_on_exception=True,
            **self._bulk_options,
        ):
            info = next(iter(item.values()))
            if ok:
                deleted += 1
            elif info.get("status") != 404:
                failures.append(info)
        if failures:
            raise _bulk_failure(f"delete {len(failures)} of {len(ids)} documents of {what}", failures, "id")
        return deleted

    def delete_document(self, collection: str, doc_id: str) -> bool:
        if self._serverless:
            return self._delete_document_by_ids(collection, doc_id)
        with translated("delete the document"):
            try:
                response = self._client.delete_by_query(
                    index=self.alias(collection),
                    body=delete_by_doc_query(doc_id),
                    conflicts="proceed",
                    refresh=self._refresh,
                )
                chunks_deleted = int(response.get("deleted", 0))
            except NotFoundError:
                chunks_deleted = 0
            try:
                self._client.delete(
                    index=self.documents_index,
                    id=self._document_id(collection, doc_id),
                    refresh="true" if self._refresh else "false",
                )
                record_deleted = True
            except NotFoundError:
                record_deleted = False
        return record_deleted or chunks_deleted > 0

    def _delete_document_by_ids(self, collection: str, doc_id: str) -> bool:
        """Serverless delete: search the chunk and record ids, then bulk-delete them (chunks first, as above)."""
        alias = self.alias(collection)
        with translated("delete the document"):
            try:
                chunk_ids = self._find_ids(alias, delete_by_doc_query(doc_id)["query"], "chunk_id")
            except NotFoundError:
                chunk_ids = []
            try:
                record_ids = self._find_ids(self.documents_index, record_query(collection, doc_id), "doc_id")
            except NotFoundError:
                record_ids = []
            deleted = self._delete_ids(alias, chunk_ids, f"the chunks of document {doc_id!r}")
            deleted += self._delete_ids(self.documents_index, record_ids, f"the record of document {doc_id!r}")
        return deleted > 0

    def get_document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        if self._serverless:
            return self._find_document(collection, doc_id)
        with translated("read the document"):
            try:
                response = self._client.get(index=self.documents_index, id=self._document_id(collection, doc_id))
            except NotFoundError:
                return None
        source = response.get("_source") or {}
        if not response.get("found", True) or source.get("collection") != collection:
            return None
        return _record_from_json(source["record"])

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """One search on the documents index (a terms query), for both domains and Serverless; where a Serverless
        race left two records of a document, the newest wins, as in ``get_document``."""
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return {}
        body = {
            "query": {"bool": {"filter": [{"term": {"collection": collection}}, {"terms": {"doc_id": wanted}}]}},
            "size": min(RECORD_LOOKUP_SIZE * len(wanted), MAX_RECORDS_PER_LOOKUP),
            "_source": ["record"],
        }
        with translated("read the documents"):
            try:
                response = self._client.search(index=self.documents_index, body=body)
            except NotFoundError:
                return {}
        _check_search(response, "read of the documents")
        found: dict[str, DocumentRecord] = {}
        for hit in response["hits"]["hits"]:
            record = _record_from_json(hit["_source"]["record"])
            if record.doc_id not in found or record.updated_at > found[record.doc_id].updated_at:
                found[record.doc_id] = record
        return found

    def _find_document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        """Serverless get: a term query instead of a GET by id; the newest record wins if a race left two."""
        body = {"query": record_query(collection, doc_id), "size": RECORD_LOOKUP_SIZE, "_source": ["record"]}
        with translated("read the document"):
            try:
                response = self._client.search(index=self.documents_index, body=body)
            except NotFoundError:
                return None
        _check_search(response, "read of the document")
        records = [_record_from_json(hit["_source"]["record"]) for hit in response["hits"]["hits"]]
        return max(records, key=lambda found: found.updated_at, default=None)

    def list_documents(self, collection: str, *, offset: int, limit: int) -> tuple[list[DocumentRecord], int]:
        body = {
            "query": record_query(collection),
            "sort": [{"name": "asc"}, {"doc_id": "asc"}],
            "from": offset,
            "size": limit,
            "track_total_hits": True,
            "_source": ["record"],
        }
        with translated("list the documents"):
            try:
                response = self._client.search(index=self.documents_index, body=body)
            except NotFoundError:
                return [], 0
        hits = response["hits"]
        total = hits["total"]["value"] if isinstance(hits["total"], Mapping) else int(hits["total"])
        return [_record_from_json(hit["_source"]["record"]) for hit in hits["hits"]], int(total)

    def document_vector(self, collection: str, doc_id: str) -> list[float] | None:
        """The first chunk's vector as stored (L2-normalised on write, which a cosine search does not mind)."""
        body = {
            "size": 1,
            "query": {"term": {"doc_id": doc_id}},
            "sort": [{"position": "asc"}],
            "_source": {"includes": ["vector"]},
        }
        with translated("read the document's vector"):
            try:
                hits = self._client.search(index=self.alias(collection), body=body)["hits"]["hits"]
            except NotFoundError:
                return None
        if not hits or "vector" not in hits[0].get("_source", {}):
            return None
        return [float(value) for value in hits[0]["_source"]["vector"]]

    def count_chunks(self, collection: str) -> int:
        with translated("count the chunks"):
            try:
                return int(self._client.count(index=self.alias(collection))["count"])
            except NotFoundError:
                return 0

    # search ------------------------------------------------------------------------------------------------------

    def recall(self, collection: str, query: RecallQuery) -> RecallResult:
        filter_dsl = compile_filter(query.filters)
        dense = None
        if query.dense_top_k > 0 and query.vector is not None:
            vector = _normalise(query.vector)
            if any(vector):
                dense = dense_query(vector, query.dense_top_k, filter_dsl)
        sparse = None
        if query.sparse_top_k > 0 and query.text.strip():
            sparse = sparse_query(query.text, query.sparse_top_k, filter_dsl)
        images: list[dict[str, Any]] = []
        if query.image_top_k > 0:
            for image_vector in query.image_vectors:
                normalised = _normalise(image_vector)
                if any(normalised):  # a zero image vector recalls nothing, like a zero text vector
                    images.append(image_query(normalised, query.image_top_k, filter_dsl))
        if dense is None and sparse is None and not images:
            return RecallResult(dense=[], sparse=[])
        with translated("recall"):
            response = self._client.msearch(body=msearch_body(self.alias(collection), dense, sparse, images))
        responses = iter(response.get("responses", []))
        legs: dict[str, list[ScoredChunk]] = {"dense": [], "sparse": []}
        for leg, body in (("dense", dense), ("sparse", sparse)):
            if body is not None:
                legs[leg] = self._hits(leg, _next_item(responses, leg))
        per_image = [self._hits("image", _next_item(responses, "image")) for _ in images]
        return RecallResult(
            dense=legs["dense"], sparse=legs["sparse"], image=_best_per_chunk(per_image, query.image_top_k)
        )

    def _hits(self, leg: str, item: Mapping[str, Any]) -> list[ScoredChunk]:
        if "error" in item:
            if _error_type(item) == "index_not_found_exception":
                return []  # the collection does not exist (or was deleted): nothing to recall
            status = item.get("status")
            raise classify(status, f"OpenSearch failed the {leg} recall (HTTP {status}): {error_reason(item['error'])}")
        _check_search(item, f"{leg} recall")
        scored: list[ScoredChunk] = []
        for hit in item.get("hits", {}).get("hits", []):
            source = hit["_source"]
            chunk = StoredChunk(
                chunk_id=source["chunk_id"],
                doc_id=source["doc_id"],
                position=int(source["position"]),
                text=source["text"],
                metadata=source.get("metadata") or {},
            )
            score = float(hit["_score"])
            scored.append(ScoredChunk(chunk, score if leg == "sparse" else _cosine(score, self._space_type)))
        return scored

    # helpers -----------------------------------------------------------------------------------------------------

    def _ensure_documents_index(self) -> None:
        if self._documents_index_ready:
            return
        if not self._client.indices.exists(index=self.documents_index):
            try:
                self._client.indices.create(index=self.documents_index, body=DOCUMENTS_INDEX_BODY)
            except RequestError as exc:
                if _error_type(exc) != "resource_already_exists_exception":
                    raise
        self._documents_index_ready = True

    def _dimensions(self, alias: str) -> tuple[int | None, int]:
        """``(dimension, image_dimension)`` of the collection's index; ``(None, 0)`` if no mapping names a vector."""
        mappings = self._client.indices.get_mapping(index=alias)
        for index in mappings.values():
            dimensions = mapped_dimensions(index.get("mappings", {}))
            if dimensions[0] is not None:
                return dimensions
        return None, 0


# ---------------------------------------------------------------------------------------------------------------------


def _next_item(responses: Iterator[Mapping[str, Any]], leg: str) -> Mapping[str, Any]:
    item = next(responses, None)
    if item is None:
        raise InternalError(f"OpenSearch answered the recall without a {leg} response")
    return item


def _check_search(item: Mapping[str, Any], what: str) -> None:
    """Raise for a search answer (an msearch item or a search response) that timed out or lost shards: a partial
    answer would pass for a complete one."""
    if item.get("timed_out"):
        raise ServiceUnavailableError(f"OpenSearch timed out during the {what}; retry the request")
    shards = item.get("_shards") or {}
    if shards.get("failed"):
        failures = shards.get("failures") or [{}]
        status = failures[0].get("status")
        reason = error_reason(failures[0].get("reason"))
        raise classify(status, f"OpenSearch failed the {what} on {shards['failed']} shard(s): {reason}")


def _best_per_chunk(per_image: Sequence[Sequence[ScoredChunk]], top_k: int) -> list[ScoredChunk]:
    """The image leg: each chunk once with its best cosine over the query images, best first (ties keep the order in
    which they were first found), at most ``top_k``."""
    best: dict[str, ScoredChunk] = {}
    for hits in per_image:
        for hit in hits:
            seen = best.get(hit.chunk.chunk_id)
            if seen is None or hit.score > seen.score:
                best[hit.chunk.chunk_id] = hit  # a better score keeps the chunk's first-found place for ties
    return sorted(best.values(), key=lambda hit: -hit.score)[:top_k]


def _bulk_failure(action: str, failures: Sequence[Mapping[str, Any]], noun: str | None) -> ServiceError:
    """The service error for bulk items that failed: 503 when every failure may pass on a retry, else 500. The first
    failure's ``_id`` is quoted as ``noun`` (``None``: not quoted)."""
    first = failures[0]
    subject = f"{noun} {first['_id']!r}, " if noun and first.get("_id") else ""
    message = (
        f"OpenSearch failed to {action} "
        f"(first: {subject}HTTP {first.get('status')}: {error_reason(first.get('error'))})"
    )
    if all(is_retryable_status(failure.get("status")) for failure in failures):
        return ServiceUnavailableError(f"{message}; retry the request")
    return InternalError(message)


def _normalise(vector: Sequence[float]) -> list[float]:
    """Unit length, so the engine's inner product is the cosine; a zero vector stays zero."""
    values = [float(x) for x in vector]
    norm = math.sqrt(math.fsum(x * x for x in values))
    return values if norm == 0.0 else [x / norm for x in values]


def _cosine(score: float, space_type: str) -> float:
    """The raw cosine behind the engine's ``_score`` for unit vectors.

    ``innerproduct``: ``1 + ip`` when ``ip >= 0`` else ``1 / (1 - ip)``; ``cosinesimil``: ``(1 + cos) / 2``;
    ``l2``: ``1 / (1 + d²)`` with ``d² = 2 - 2 cos``.
    """
    if space_type == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    return 1.0 - (1.0 / score - 1.0) / 2.0


def _error_type(error: object) -> str | None:
    """The OpenSearch error ``type`` of a ``TransportError`` or a response item, if it names one."""
    info: Any = error
    if isinstance(error, Exception):
        info = error.args[2] if len(error.args) > 2 else None
    if isinstance(info, Mapping):
        detail = info.get("error")
        if isinstance(detail, Mapping):
            return str(detail.get("type")) if detail.get("type") else None
    return None


def _record_to_json(record: DocumentRecord) -> dict[str, Any]:
    data = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    data["status"] = record.status.value
    data["metadata"] = dict(record.metadata)
    return data


def _record_from_json(data: Mapping[str, Any]) -> DocumentRecord:
    names = {field.name for field in dataclasses.fields(DocumentRecord)}
    values = {key: value for key, value in data.items() if key in names}
    values["status"] = DocumentStatus(values["status"])
    values["metadata"] = dict(values.get("metadata") or {})
    return DocumentRecord(**values)
