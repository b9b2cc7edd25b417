"""The knowledge-base service: the operations of the Retrieve API family, independent of any wire format."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from chalicelib.api.errors import InternalError, InvalidParameterError, NotFoundError
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.clock import new_id, utc_now
from chalicelib.core.conversation import Conversation, conversation_queries
from chalicelib.core.indexing import Indexer, TextDocument
from chalicelib.core.retrieval import RetrievalQuery, RetrievalResult, Retriever
from chalicelib.search.base import DocumentRecord, DocumentStatus, SearchBackend
from chalicelib.sources.base import SourceError, is_sidecar
from chalicelib.store.base import Catalog, HistoryRecord, Job, JobDocument, JobStatus, KnowledgeBase

logger = logging.getLogger(__name__)


class JobRunner(Protocol):
    """Runs an indexing job: in-process on the ``local`` stage, on Step Functions on AWS."""

    def start(self, job: Job, kb: KnowledgeBase, uris: Sequence[str]) -> None: ...


class KnowledgeBaseService:
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
    ) -> None:
        self._catalog = catalog
        self._backend = backend
        self._indexer = indexer
        self._retriever = retriever
        self._embedding_model = embedding_model
        self._dimension = dimension
        # With a multimodal embedder configured, new knowledge bases get an image index (existing ones keep theirs).
        self._image_embedding_model = image_embedding_model
        self._image_dimension = image_dimension
        self.job_runner: JobRunner = InProcessJobRunner(self)

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
    ) -> KnowledgeBase:
        kb = KnowledgeBase(
            workspace_id=workspace_id, index_id=index_id or new_id("kb"), name=name, description=description,
            source_uri=source_uri, chunk_size=chunk_size, overlap_size=overlap_size,
            rerank_model_name=rerank_model_name, rerank_min_score=rerank_min_score,
            embedding_model=self._embedding_model, created_at=utc_now(),
            image_embedding_model=self._image_embedding_model, image_dimension=self._image_dimension,
        )
        self._catalog.create_knowledge_base(kb)
        self._backend.create_collection(kb.collection, self._dimension, kb.image_dimension)
        return kb

    def find(self, workspace_id: str, index_id: str) -> KnowledgeBase | None:
        return self._catalog.get_knowledge_base(workspace_id, index_id)

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
        self._catalog.delete_knowledge_base(workspace_id, index_id)

    def document_count(self, kb: KnowledgeBase) -> int:
        return self._backend.list_documents(kb.collection, offset=0, limit=1)[1]

    # documents ---------------------------------------------------------------------------------------------------

    def list_documents(
        self, workspace_id: str, index_id: str, *, name: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[DocumentRecord], int]:
        kb = self.get(workspace_id, index_id)
        if not name and not status:
            return self._backend.list_documents(kb.collection, offset=offset, limit=limit)
        # Filtered listings are for people browsing a knowledge base; a full scan is fine at that scale.
        everything, _ = self._backend.list_documents(kb.collection, offset=0, limit=1_000_000)
        wanted = [
            record for record in everything
            if (not name or name in record.name) and (not status or record.status.value == status)
        ]
        return wanted[offset : offset + limit], len(wanted)

    def delete_documents(self, workspace_id: str, index_id: str, doc_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Delete by document id; returns (deleted, not found)."""
        kb = self.get(workspace_id, index_id)
        deleted: list[str] = []
        missing: list[str] = []
        for doc_id in doc_ids:
            (deleted if self._backend.delete_document(kb.collection, doc_id) else missing).append(doc_id)
        return deleted, missing

    def index_texts(self, workspace_id: str, index_id: str, documents: Iterable[TextDocument]) -> list[JobDocument]:
        """Index documents that are already text (benchmarks, programmatic loaders), through the same path."""
        return self._indexer.index_texts(self.get(workspace_id, index_id), documents)

    # jobs --------------------------------------------------------------------------------------------------------

    def submit_job(self, workspace_id: str, index_id: str, source_uris: Sequence[str] | None) -> Job:
        kb = self.get(workspace_id, index_id)
        roots = list(source_uris) if source_uris else ([kb.source_uri] if kb.source_uri else [])
        if not roots:
            raise InvalidParameterError("SourceURIs", "is required when the index was created without a SourceURI")
        uris: list[str] = []
        for position, root in enumerate(roots):
            try:
                uris.extend(self._indexer.list_source(root))
            except SourceError as exc:
                raise InvalidParameterError(f"SourceURIs[{position}]", str(exc)) from None
        now = utc_now()
        job = Job(new_id("job"), workspace_id, index_id, JobStatus.PENDING, now, now)
        self._catalog.put_job(job)
        self.job_runner.start(job, kb, uris)
        return self._catalog.get_job(workspace_id, index_id, job.job_id) or job

    def run_job(self, job: Job, kb: KnowledgeBase, uris: Sequence[str]) -> Job:
        """Index ``uris`` and record the outcome; per-document failures make the job PARTIAL, not FAILED."""
        self._catalog.put_job(_replace_job(job, status=JobStatus.RUNNING))
        try:
            outcomes = self._indexer.index_uris(kb, uris)
        except Exception as exc:  # an outage of the embedder or the backend: the job as a whole failed
            logger.exception("indexing job failed", extra={"job_id": job.job_id})
            finished = _replace_job(job, status=JobStatus.FAILED, message=f"Indexing failed: {type(exc).__name__}")
        else:
            failed = sum(outcome.status == DocumentStatus.FAILED.value for outcome in outcomes)
            status = JobStatus.COMPLETED if failed == 0 else (JobStatus.FAILED if failed == len(outcomes) else JobStatus.PARTIAL)
            finished = _replace_job(job, status=status, documents=tuple(outcomes))
        self._catalog.put_job(finished)
        return finished

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job:
        self.get(workspace_id, index_id)
        job = self._catalog.get_job(workspace_id, index_id, job_id)
        if job is None:
            raise NotFoundError("job", job_id)
        return job

    # object events -----------------------------------------------------------------------------------------------

    def on_object_created(self, uri: str) -> list[JobDocument]:
        """Index a new or changed object into every knowledge base whose SourceURI holds it."""
        if is_sidecar(uri):  # a changed sidecar re-indexes the object it describes
            uri = uri[: -len(".metadata.json")]
        outcomes: list[JobDocument] = []
        for kb in self._catalog.knowledge_bases_for_uri(uri):
            outcomes.extend(self._indexer.index_uris(kb, [uri]))
        return outcomes

    def on_object_removed(self, uri: str) -> int:
        """Remove a deleted object from every knowledge base that holds it; returns how many did."""
        if is_sidecar(uri):
            return len(self.on_object_created(uri))
        return sum(self._indexer.remove_uri(kb, uri) for kb in self._catalog.knowledge_bases_for_uri(uri))

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
        kb = self.get(workspace_id, index_id)
        if query.rerank is not None and query.rerank.min_score is None and kb.rerank_min_score is not None:
            query = replace(query, rerank=replace(query.rerank, min_score=kb.rerank_min_score))
        if query.images:
            query = replace(query, images=self._images_for(kb, query.images))
        result = self._retriever.retrieve(kb.collection, query, default_reranker=kb.rerank_model_name)
        if save_history:
            self._catalog.add_history(
                HistoryRecord(
                    request_id=request_id, workspace_id=workspace_id, index_id=index_id, query=query.text,
                    rewritten_query=result.query, request=dict(request or {}),
                    nodes=[{"nid": item.chunk.chunk_id, "doc_id": item.chunk.doc_id, "score": item.score}
                           for item in result.chunks],
                    created_at=utc_now(),
                )
            )
        return result

    def retrieve_conversation(
        self, workspace_id: str, index_id: str, conversation: Conversation, query: RetrievalQuery
    ) -> RetrievalResult:
        """Retrieve for a whole conversation (``chalicelib.core.conversation``); ``query`` gives top-Ks, rerank, top N."""
        kb = self.get(workspace_id, index_id)
        queries = conversation_queries(conversation)
        return self._retriever.retrieve_many(
            kb.collection, queries.texts, query, rerank_text=queries.focus, default_reranker=kb.rerank_model_name
        )

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


class InProcessJobRunner:
    """Runs a job synchronously inside the request (the ``local`` stage; Step Functions replaces it on AWS)."""

    def __init__(self, service: KnowledgeBaseService) -> None:
        self._service = service

    def start(self, job: Job, kb: KnowledgeBase, uris: Sequence[str]) -> None:
        self._service.run_job(job, kb, uris)


def _replace_job(job: Job, **changes: Any) -> Job:
    return replace(job, updated_at=utc_now(), **changes)

