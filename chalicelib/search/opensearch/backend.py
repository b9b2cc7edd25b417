"""The OpenSearch backend: ``SearchBackend`` on an ``opensearchpy.OpenSearch`` client built by the composition root.

Layout
------
* **Chunks**: one index per collection, reached only through an alias. The physical index is
  ``{prefix}-{sha1(collection)[:16]}-v1`` and the alias ``{prefix}-{sha1(collection)[:16]}``; every read and write
  names the alias, so a later re-index into ``-v2`` is an alias swap. The index is created with its alias in the same
  ``indices.create`` call (atomic: there is never an index without its alias). Mapping: ``builders``.
* **Documents**: one small shared index ``{prefix}-documents`` holds every collection's ``DocumentRecord`` s, ``_id``
  ``sha1(collection + "\\0" + doc_id)``, with ``collection`` / ``doc_id`` / ``name`` as keywords (filter, sort by name)
  and the whole record verbatim in ``record`` (``enabled: false``: stored, never indexed). It is created on the first
  ``create_collection``.

Semantics and known gaps versus the embedded backend
----------------------------------------------------
* Vectors are L2-normalised here (chunks on write, the query on recall) so inner product is the cosine; scores coming
  back from the engine are mapped back to the raw cosine (see ``_cosine``). A zero query vector recalls nothing.
* ``upsert_documents`` is not atomic per document: for each document it deletes the old chunks
  (``delete_by_query``), bulk-writes the new ones, then writes the record. A failure in between leaves the document
  with fewer chunks (never a silently dropped one: any failed chunk raises) and its old record; re-running the upsert
  repairs it. 429-rejected chunks are retried by ``streaming_bulk`` (``bulk_max_retries`` times, exponential backoff).
* Read-after-write needs ``refresh=True`` (the default): the alias and the documents index are refreshed after every
  write. Amazon OpenSearch Serverless has no refresh API: pass ``refresh=False`` there and accept its ~1 s visibility
  delay (deleting the old chunks of a just-written document may then miss some).
* ``list_documents`` pages with ``from``/``size``: ``offset + limit`` beyond ``index.max_result_window`` (10,000 by
  default) is rejected by the cluster (surfaced as ``InternalError``).
* Reads on a collection that does not exist answer "empty", like the embedded backend; writes into one raise
  ``ValueError`` (bulk uses ``require_alias`` so a missing alias is never auto-created as a dynamic index).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import NotFoundError, RequestError

from chalicelib.api.errors import InternalError, ServiceUnavailableError
from chalicelib.search.base import (
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
    bulk_actions,
    compile_filter,
    delete_by_doc_query,
    dense_query,
    index_settings_and_mappings,
    msearch_body,
    sparse_query,
)
from chalicelib.search.opensearch.errors import classify, error_reason, is_retryable_status, translated

INDEX_VERSION: Final = "v1"

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
    ) -> None:
        # Validates engine/space_type/m/ef_construction once, at construction, not on the first create_collection.
        index_settings_and_mappings(1, engine=engine, space_type=space_type, m=m, ef_construction=ef_construction)
        self._client = client
        self._prefix = index_prefix
        self._refresh = refresh
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

    def create_collection(self, collection: str, dimension: int) -> None:
        body = index_settings_and_mappings(dimension, **self._mapping_options)
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
            existing = self._dimension(alias)
        if existing is not None and existing != dimension:
            raise ValueError(f"collection {collection!r} exists with dimension {existing}, not {dimension}")

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
            for record, chunks in documents:
                try:
                    self._client.delete_by_query(
                        index=alias, body=delete_by_doc_query(record.doc_id), conflicts="proceed", refresh=False
                    )
                except NotFoundError as exc:
                    raise ValueError(f"collection {collection!r} does not exist") from exc
                self._write_chunks(collection, alias, record, chunks)
                stored = dataclasses.replace(record, chunk_count=len(chunks))
                self._client.index(
                    index=self.documents_index,
                    id=self._document_id(collection, record.doc_id),
                    body={
                        "collection": collection,
                        "doc_id": record.doc_id,
                        "name": record.name,
                        "record": _record_to_json(stored),
                    },
                )
            if self._refresh:
                self._client.indices.refresh(index=f"{alias},{self.documents_index}")

    def _write_chunks(self, collection: str, alias: str, record: DocumentRecord, chunks: Sequence[ChunkRecord]) -> None:
        if not chunks:
            return
        normalised = [dataclasses.replace(chunk, vector=_normalise(chunk.vector)) for chunk in chunks]
        failures: list[dict[str, Any]] = []
        written = 0
        for ok, item in helpers.streaming_bulk(
            self._client,
            bulk_actions(alias, (record, normalised)),
            raise_on_error=False,
            raise_on_exception=True,
            require_alias=True,
            **self._bulk_options,
        ):
            if ok:
                written += 1
            else:
                failures.append(next(iter(item.values())))
        if not failures:
            return
        first = failures[0]
        status = first.get("status")
        if _error_type(first) == "index_not_found_exception":
            raise ValueError(f"collection {collection!r} does not exist")
        message = (
            f"OpenSearch failed to write {len(failures)} of {len(chunks)} chunks of document {record.doc_id!r} "
            f"(first: chunk {first.get('_id')!r}, HTTP {status}: {error_reason(first.get('error'))})"
        )
        if all(is_retryable_status(failure.get("status")) for failure in failures):
            raise ServiceUnavailableError(f"{message}; retry the request")
        raise InternalError(message)

    def delete_document(self, collection: str, doc_id: str) -> bool:
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

    def get_document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        with translated("read the document"):
            try:
                response = self._client.get(index=self.documents_index, id=self._document_id(collection, doc_id))
            except NotFoundError:
                return None
        source = response.get("_source") or {}
        if not response.get("found", True) or source.get("collection") != collection:
            return None
        return _record_from_json(source["record"])

    def list_documents(self, collection: str, *, offset: int, limit: int) -> tuple[list[DocumentRecord], int]:
        body = {
            "query": {"term": {"collection": collection}},
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
        if dense is None and sparse is None:
            return RecallResult(dense=[], sparse=[])
        with translated("recall"):
            response = self._client.msearch(body=msearch_body(self.alias(collection), dense, sparse))
        responses = iter(response.get("responses", []))
        legs: dict[str, list[ScoredChunk]] = {"dense": [], "sparse": []}
        for leg, body in (("dense", dense), ("sparse", sparse)):
            if body is None:
                continue
            item = next(responses, None)
            if item is None:
                raise InternalError(f"OpenSearch answered the recall without a {leg} response")
            legs[leg] = self._hits(leg, item)
        return RecallResult(dense=legs["dense"], sparse=legs["sparse"])

    def _hits(self, leg: str, item: Mapping[str, Any]) -> list[ScoredChunk]:
        if "error" in item:
            if _error_type(item) == "index_not_found_exception":
                return []  # the collection does not exist (or was deleted): nothing to recall
            status = item.get("status")
            raise classify(status, f"OpenSearch failed the {leg} recall (HTTP {status}): {error_reason(item['error'])}")
        if item.get("timed_out"):
            raise ServiceUnavailableError(f"OpenSearch timed out during the {leg} recall; retry the request")
        shards = item.get("_shards") or {}
        if shards.get("failed"):
            failures = shards.get("failures") or [{}]
            status = failures[0].get("status")
            reason = error_reason(failures[0].get("reason"))
            raise classify(status, f"OpenSearch failed the {leg} recall on {shards['failed']} shard(s): {reason}")
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
            scored.append(ScoredChunk(chunk, _cosine(score, self._space_type) if leg == "dense" else score))
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

    def _dimension(self, alias: str) -> int | None:
        mappings = self._client.indices.get_mapping(index=alias)
        for index in mappings.values():
            vector = index.get("mappings", {}).get("properties", {}).get("vector", {})
            if "dimension" in vector:
                return int(vector["dimension"])
        return None


# ---------------------------------------------------------------------------------------------------------------------


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
