"""The knowledge-base service: knowledge bases, their documents and retrieval, independent of any wire format."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, Protocol

from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.clock import new_id, utc_now
from chalicelib.core.conversation import Conversation, conversation_queries
from chalicelib.core.errors import InternalError, NotFoundError, ServiceError
from chalicelib.core.indexing import Indexer, TextDocument, require_settled
from chalicelib.core.ports.catalog import Catalog, HistoryRecord, JobDocument, KnowledgeBase
from chalicelib.core.ports.search import DocumentRecord, SearchBackend
from chalicelib.core.ports.sources import is_sidecar
from chalicelib.core.retrieval import RetrievalQuery, RetrievalResult, Retriever, require_same_model
from chalicelib.core.tenancy import SourcePolicy

logger = logging.getLogger(__name__)


class DataCenterFiles(Protocol):
    """The workspace's data-center files an index can take (``chalicelib.core.data_center.DataCenterService``)."""

    def index_uris(
        self, workspace_id: str, *, file_ids: Sequence[str] = (), category_ids: Sequence[str] = (),
        files_field: str = "DocumentIds", categories_field: str = "CategoryIds",
    ) -> list[str]:
        """The source URIs of these files and of the parsed files of these categories; 400 naming a missing one."""


class KnowledgeBaseService:
    """Knowledge bases (create, list, delete), their documents, their object events and retrieval; indexing jobs are
    ``chalicelib.core.index_jobs``, reindex ``chalicelib.core.reindex``."""

    def __init__(
        self,
        catalog: Catalog,
        backend: SearchBackend,
        indexer: Indexer,
        retriever: Retriever,
        embedding_model: str,
        dimension: int,
        *,
        image_embedding_model: str = "",
        image_dimension: int = 0,
        source_policy: SourcePolicy | None = None,
        data_center: DataCenterFiles | None = None,
    ) -> None:
        self._catalog = catalog
        self._data_center = data_center  # None: indexes can take only SourceURIs
        self._backend = backend
        self._indexer = indexer
        self._retriever = retriever
        self._embedding_model = embedding_model
        self._dimension = dimension
        # With a multimodal embedder configured, new knowledge bases get an image index (existing ones keep theirs).
        self._image_embedding_model = image_embedding_model
        self._image_dimension = image_dimension
        self._sources = source_policy or SourcePolicy()  # which source objects a workspace may read

    # knowledge bases ---------------------------------------------------------------------------------------------

    def create(
        self,
        workspace_id: str,
        *,
        name: str,
        description: str = "",
        source_uri: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        overlap_size: int = DEFAULT_OVERLAP,
        rerank_model_name: str = "qwen3-rerank-hybrid",
        rerank_min_score: float | None = None,
        index_id: str | None = None,
        source_type: str = "",
        document_ids: Sequence[str] = (),
        category_ids: Sequence[str] = (),
    ) -> KnowledgeBase:
        """A new, empty knowledge base. Its sources are a SourceURI (a Sift extension) or data-center files and
        categories (``source_type``), which must exist now; SubmitIndexJob indexes them."""
        if source_uri is not None:
            self._sources.check(workspace_id, source_uri, "SourceURI", workspace=True)
        if source_type:
            self.data_center_uris(workspace_id, file_ids=document_ids, category_ids=category_ids)
        kb = KnowledgeBase(
            workspace_id=workspace_id, index_id=index_id or new_id("kb"), name=name, description=description,
            source_uri=source_uri, chunk_size=chunk_size, overlap_size=overlap_size,
            rerank_model_name=rerank_model_name, rerank_min_score=rerank_min_score,
            embedding_model=self._embedding_model, created_at=utc_now(),
            image_embedding_model=self._image_embedding_model, image_dimension=self._image_dimension,
            source_type=source_type, document_ids=tuple(document_ids), category_ids=tuple(category_ids),
        )
        self._catalog.create_knowledge_base(kb)
        self._backend.create_collection(kb.collection, self._dimension, kb.image_dimension)
        return kb

    def find(self, workspace_id: str, index_id: str) -> KnowledgeBase | None:
        return self._catalog.get_knowledge_base(workspace_id, index_id)

    @property
    def embedding_model(self) -> str:
        """The text model this deployment embeds with (recorded in every knowledge base it creates)."""
        return self._embedding_model

    def get(self, workspace_id: str, index_id: str) -> KnowledgeBase:
        kb = self.find(workspace_id, index_id)
        if kb is None:
            raise NotFoundError("index", index_id)
        return kb

    def list_indexes(self, workspace_id: str, *, name: str | None, offset: int, limit: int) -> tuple[list[KnowledgeBase], int]:
        return self._catalog.list_knowledge_bases(workspace_id, name=name, offset=offset, limit=limit)

    def delete(self, workspace_id: str, index_id: str) -> None:
        kb = self.get(workspace_id, index_id)
        self._backend.delete_collection(kb.collection)
        if kb.pending_version is not None:  # a reindex in flight: its commit will find no record and abort
            self._backend.delete_collection(kb.collection_for(kb.pending_version))
        self._catalog.delete_knowledge_base(workspace_id, index_id)

    def document_count(self, kb: KnowledgeBase) -> int:
        return self._backend.list_documents(kb.collection, offset=0, limit=1)[1]

    # documents ---------------------------------------------------------------------------------------------------

    def list_documents(
        self, workspace_id: str, index_id: str, *, name: str | None, status: str | None, offset: int, limit: int,
        name_like: bool = False,
    ) -> tuple[list[DocumentRecord], int]:
        """A page of the documents; ``name`` keeps those whose name contains it (``name_like``) or is it."""
        kb = self.get(workspace_id, index_id)
        if not name and not status:
            return self._backend.list_documents(kb.collection, offset=offset, limit=limit)
        # Filtered listings are for people browsing a knowledge base; a full scan is fine at that scale.
        everything, _ = self._backend.list_documents(kb.collection, offset=0, limit=1_000_000)
        wanted = [
            record for record in everything
            if (not name or (name in record.name if name_like else name == record.name))
            and (not status or record.status.value == status)
        ]
        return wanted[offset : offset + limit], len(wanted)

    def delete_documents(self, workspace_id: str, index_id: str, doc_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Delete by document id; returns (deleted, not found)."""
        kb = self.get(workspace_id, index_id)
        deleted: list[str] = []
        missing: list[str] = []
        for doc_id in doc_ids:
            (deleted if self._backend.delete_document(kb.collection, doc_id) else missing).append(doc_id)
        mirror_to_building(kb, lambda building: [self._backend.delete_document(building.collection, doc_id) for doc_id in doc_ids])
        return deleted, missing

    def index_texts(self, workspace_id: str, index_id: str, documents: Iterable[TextDocument]) -> list[JobDocument]:
        """Index documents that are already text (benchmarks, programmatic loaders), through the same path.

        (A reindex rebuilds from the SourceURI: text documents have none, so a reindex does not carry them over.)
        """
        return self._indexer.index_texts(self.get(workspace_id, index_id), documents)

    def data_center_uris(
        self, workspace_id: str, *, file_ids: Sequence[str], category_ids: Sequence[str]
    ) -> list[str]:
        """The URIs of these data-center files and of the parsed files of these categories (a 400 names a missing
        one): what an index created from them holds, and what a files job indexes."""
        if self._data_center is None:
            raise InternalError("this deployment has no data center (chalicelib.composition wires it)")
        return self._data_center.index_uris(workspace_id, file_ids=file_ids, category_ids=category_ids)

    # object events -----------------------------------------------------------------------------------------------

    def on_object_created(self, uri: str) -> list[JobDocument]:
        """Index a new or changed object into every knowledge base whose SourceURI holds it."""
        if is_sidecar(uri):  # a changed sidecar re-indexes the object it describes
            uri = uri[: -len(".metadata.json")]
        outcomes: list[JobDocument] = []
        for kb in self._catalog.knowledge_bases_for_uri(uri):
            outcomes.extend(self._indexer.index_uris(kb, [uri]))
            # A reindex listed its objects earlier: the version it builds must not miss this one.
            mirror_to_building(kb, lambda building: self._indexer.index_uris(building, [uri]))
        return outcomes

    def on_object_removed(self, uri: str, *, exists: Callable[[], bool] | None = None) -> int:
        """Remove a deleted object from every knowledge base that holds it, once the source confirms it is gone (a
        delete event that arrives after the object was written again indexes the object instead); returns how many
        removed it. ``exists`` asks the source (default: ``Indexer.exists``); one event's services share one answer."""
        if is_sidecar(uri):
            return len(self.on_object_created(uri))
        knowledge_bases = self._catalog.knowledge_bases_for_uri(uri)
        if knowledge_bases and (exists or functools.partial(self._indexer.exists, uri))():
            require_settled(uri, self.on_object_created(uri))
            return 0
        removed = 0
        for kb in knowledge_bases:
            removed += self._indexer.remove_uri(kb, uri)
            mirror_to_building(kb, lambda building: self._indexer.remove_uri(building, uri))
        return removed

    # retrieval ---------------------------------------------------------------------------------------------------

    def retrieve(
        self,
        workspace_id: str,
        index_id: str,
        query: RetrievalQuery,
        *,
        request_id: str,
        save_history: bool = False,
        request: Mapping[str, Any] | None = None,
    ) -> RetrievalResult:
        kb = self._searchable(workspace_id, index_id, query)
        if query.rerank is not None and query.rerank.min_score is None and kb.rerank_min_score is not None:
            query = replace(query, rerank=replace(query.rerank, min_score=kb.rerank_min_score))
        if query.images:
            query = replace(query, images=self._images_for(kb, query.images))
        result = self._retriever.retrieve(kb.collection, query, default_reranker=kb.rerank_model_name)
        if save_history:
            self._catalog.add_history(bounded_history(
                HistoryRecord(
                    request_id=request_id, workspace_id=workspace_id, index_id=index_id, query=query.text,
                    rewritten_query=result.query, request=dict(request or {}),
                    nodes=[{"nid": item.chunk.chunk_id, "doc_id": item.chunk.doc_id, "score": item.score}
                           for item in result.chunks],
                    created_at=utc_now(),
                )
            ))
        return result

    def retrieve_conversation(
        self, workspace_id: str, index_id: str, conversation: Conversation, query: RetrievalQuery
    ) -> RetrievalResult:
        """Retrieve for a whole conversation (``chalicelib.core.conversation``); ``query`` gives top-Ks, rerank, top N."""
        kb = self._searchable(workspace_id, index_id, query)
        queries = conversation_queries(conversation)
        return self._retriever.retrieve_many(
            kb.collection, queries.texts, query, rerank_text=queries.focus, default_reranker=kb.rerank_model_name
        )

    def _searchable(self, workspace_id: str, index_id: str, query: RetrievalQuery) -> KnowledgeBase:
        """The knowledge base, if this deployment's embedder can search its dense leg: vectors of two models are not
        comparable (even at one dimension, as MiniLM's and E5's 384), so a query embedded by another refuses."""
        kb = self.get(workspace_id, index_id)
        if query.dense_top_k > 0:
            require_same_model(f"index {kb.index_id!r}", kb.embedding_model, self._embedding_model)
        return kb

    def _images_for(self, kb: KnowledgeBase, images: Sequence[str]) -> Sequence[str]:
        """The query images to search with: none without an image index (documented), all of them with one."""
        if not kb.has_image_index:
            return ()
        if kb.image_embedding_model != self._image_embedding_model:
            # Vectors of two different models are not comparable: searching would return noise, so refuse.
            configured = self._image_embedding_model or "no multimodal embedder"
            raise InternalError(
                f"index {kb.index_id!r} has an image index built with {kb.image_embedding_model!r}, but this "
                f"deployment is configured with {configured!r} (SIFT_IMAGE_EMBEDDER)"
            )
        return images

    def history(self, workspace_id: str, index_id: str, *, offset: int, limit: int) -> tuple[list[HistoryRecord], int]:
        self.get(workspace_id, index_id)
        return self._catalog.list_history(workspace_id, index_id, offset=offset, limit=limit)


# A history record is kept within this many bytes of JSON, on either catalog (a DynamoDB item holds 400 KB in all).
HISTORY_BUDGET: Final = 200_000
HISTORY_TEXT_CHARS: Final = (2_000, 200)  # the cuts tried in turn


def bounded_history(record: HistoryRecord) -> HistoryRecord:
    """The record as stored: unchanged when it fits ``HISTORY_BUDGET``; else its texts — the query, the rewritten
    query and every string of the stored request (the long ones are the query and the conversation) — are cut to
    2,000 characters, then to 200 if that is not enough, and ``extra["truncated"]`` says so; a request that still does
    not fit (very many parameters or items) is stored as ``{"truncated": true}``. The nodes are kept whole."""
    if _json_bytes(dataclasses.asdict(record)) <= HISTORY_BUDGET:
        return record
    for limit in HISTORY_TEXT_CHARS:
        cut_down = replace(record, query=_cut(record.query, limit), rewritten_query=_cut(record.rewritten_query, limit),
                           request=_cut(dict(record.request), limit), extra={**record.extra, "truncated": True})
        if _json_bytes(dataclasses.asdict(cut_down)) <= HISTORY_BUDGET:
            return cut_down
    return replace(cut_down, request={"truncated": True})


def _cut(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, list):
        return [_cut(item, limit) for item in value]
    if isinstance(value, dict):
        return {key: _cut(item, limit) for key, item in value.items()}
    return value


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


def mirror_to_building(kb: KnowledgeBase, write: Callable[[KnowledgeBase], object]) -> None:
    """Repeat a write of the live version in the version a reindex is building, if one is.

    Best effort: the live write has succeeded, and a failure here (the reindex was aborted a moment ago and its
    version dropped) must not fail it; a reindex that misses the write still has the object from its own listing.
    """
    if kb.pending_version is None:
        return
    try:
        write(replace(kb, index_version=kb.pending_version))
    except Exception:
        logger.warning("could not repeat a write in the version being built", exc_info=True,
                       extra={"index_id": kb.index_id, "version": kb.pending_version})


def failure_reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"

