"""The OpenSearch backend: ``SearchBackend`` on an ``opensearchpy.OpenSearch`` client built by the composition root.

Where the data sits (a chunk index per collection behind its alias, one shared documents index): ``indices``. What a
managed cluster and an OpenSearch Serverless collection do differently (ids, refresh, delete-by-query): ``flavours``,
one of which the backend holds. Recall: ``recall``. The request bodies: ``mapping``, ``queries`` and ``builders``.

Semantics and known gaps versus the embedded backend
----------------------------------------------------
* Vectors are L2-normalised (chunks on write, the query on recall; image vectors too) so inner product is the cosine,
  and recall answers raw cosines (``recall``). Writing an image vector into a collection without an image index is
  refused before anything is replaced (``ValueError``; the strict mapping would reject it too).
* ``upsert_documents`` is not atomic per document (the order of its steps, and what a failure part-way leaves, are
  the flavour's: ``flavours``); re-running the upsert repairs it. 429-rejected chunks are retried by
  ``streaming_bulk`` (``bulk_max_retries`` times, exponential backoff).
* Read-after-write needs ``ManagedCluster(refresh=True)``, the default flavour. Amazon OpenSearch Serverless has no
  refresh API: use ``flavour=ServerlessCollection()`` there, and writes become searchable after about a second.
* ``list_documents`` pages with ``from``/``size``: ``offset + limit`` beyond ``index.max_result_window`` (10,000 by
  default) is rejected by the cluster (surfaced as ``InternalError``).
* Reads on a collection that does not exist answer "empty", like the embedded backend; writes into one raise
  ``ValueError`` (bulk uses ``require_alias`` so a missing alias is never auto-created as a dynamic index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError

from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, RecallQuery, RecallResult
from chalicelib.search.opensearch.builders import record_query
from chalicelib.search.opensearch.errors import check_search, error_type, translated
from chalicelib.search.opensearch.flavours import RECORD_LOOKUP_SIZE, Flavour, ManagedCluster
from chalicelib.search.opensearch.indices import Indices, record_from_json
from chalicelib.search.opensearch.mapping import DOCUMENTS_INDEX_BODY, index_settings_and_mappings, mapped_dimensions
from chalicelib.search.opensearch.recall import recall_chunks

MAX_RECORDS_PER_LOOKUP: Final = 10_000  # index.max_result_window


class OpenSearchBackend:
    """``SearchBackend`` on OpenSearch; see the module docstring for the index layout and its trade-offs."""

    def __init__(
        self,
        client: OpenSearch,
        *,
        flavour: Flavour | None = None,
        index_prefix: str = "sift",
        engine: str = "faiss",
        space_type: str = "innerproduct",
        m: int = 16,
        ef_construction: int = 128,
        bulk_max_retries: int = 3,
        bulk_initial_backoff: float = 1.0,
        bulk_chunk_size: int = 500,
        bulk_max_chunk_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        """``flavour`` is the kind of deployment (``flavours``): ``ManagedCluster()`` by default (a domain or a
        self-hosted cluster, refreshed after every write), ``ServerlessCollection()`` for an Amazon OpenSearch
        Serverless vector collection."""
        # Validates engine/space_type/m/ef_construction once, at construction, not on the first create_collection.
        index_settings_and_mappings(1, engine=engine, space_type=space_type, m=m, ef_construction=ef_construction)
        self._client = client
        self._flavour: Flavour = flavour if flavour is not None else ManagedCluster()
        self._indices = Indices(
            client,
            index_prefix,
            {
                "max_retries": bulk_max_retries,
                "initial_backoff": bulk_initial_backoff,
                "chunk_size": bulk_chunk_size,
                "max_chunk_bytes": bulk_max_chunk_bytes,
            },
        )
        self._mapping_options: dict[str, Any] = {
            "engine": engine,
            "space_type": space_type,
            "m": m,
            "ef_construction": ef_construction,
        }
        self._space_type = space_type
        self._documents_index_ready = False

    # names -------------------------------------------------------------------------------------------------------

    def alias(self, collection: str) -> str:
        return self._indices.alias(collection)

    def physical_index(self, collection: str) -> str:
        return self._indices.physical_index(collection)

    @property
    def documents_index(self) -> str:
        return self._indices.documents_index

    # collections -------------------------------------------------------------------------------------------------

    def create_collection(self, collection: str, dimension: int, image_dimension: int = 0) -> None:
        body = index_settings_and_mappings(dimension, image_dimension=image_dimension, **self._mapping_options)
        alias = self.alias(collection)
        with translated("create the collection"):
            self._ensure_documents_index()
            if not self._client.indices.exists(index=alias):
                try:
                    self._client.indices.create(
                        index=self.physical_index(collection), body={**body, "aliases": {alias: {}}}
                    )
                    return
                except RequestError as exc:
                    if error_type(exc) != "resource_already_exists_exception":
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
            self._flavour.delete_records(self._indices, collection)

    # documents ---------------------------------------------------------------------------------------------------

    def upsert_documents(
        self, collection: str, documents: Sequence[tuple[DocumentRecord, Sequence[ChunkRecord]]]
    ) -> None:
        if not documents:
            return
        with translated("write the documents"):
            if any(chunk.image_vector is not None for _, chunks in documents for chunk in chunks):
                # Checked before anything is replaced (the embedded backend refuses the same way); one lookup, and
                # only for batches with image chunks.
                _, image_dimension = self._dimensions(self.alias(collection))
                if image_dimension == 0:
                    raise ValueError(f"collection {collection!r} has no image index for image vectors")
            for record, chunks in documents:
                self._flavour.replace_document(self._indices, collection, record, chunks)
            self._flavour.make_searchable(self._indices, collection)

    def delete_document(self, collection: str, doc_id: str) -> bool:
        with translated("delete the document"):
            return self._flavour.delete_document(self._indices, collection, doc_id)

    def get_document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        with translated("read the document"):
            return self._flavour.get_document(self._indices, collection, doc_id)

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """One search on the documents index (a terms query), for both flavours; where a Serverless race left two
        records of a document, the newest wins, as in ``get_document``."""
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
        check_search(response, "read of the documents")
        found: dict[str, DocumentRecord] = {}
        for hit in response["hits"]["hits"]:
            record = record_from_json(hit["_source"]["record"])
            if record.doc_id not in found or record.updated_at > found[record.doc_id].updated_at:
                found[record.doc_id] = record
        return found

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
        return [record_from_json(hit["_source"]["record"]) for hit in hits["hits"]], int(total)

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
        return recall_chunks(self._client, self.alias(collection), query, self._space_type)

    # helpers -----------------------------------------------------------------------------------------------------

    def _ensure_documents_index(self) -> None:
        if self._documents_index_ready:
            return
        if not self._client.indices.exists(index=self.documents_index):
            try:
                self._client.indices.create(index=self.documents_index, body=DOCUMENTS_INDEX_BODY)
            except RequestError as exc:
                if error_type(exc) != "resource_already_exists_exception":
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
