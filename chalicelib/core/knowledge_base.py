"""The knowledge-base service: the operations of the Retrieve API family, independent of any wire format."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, Protocol

from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.clock import new_id, utc_now
from chalicelib.core.conversation import Conversation, conversation_queries
from chalicelib.core.errors import AlreadyExistsError, InternalError, InvalidParameterError, NotFoundError, ServiceError
from chalicelib.core.indexing import Indexer, TextDocument, require_settled
from chalicelib.core.ports.catalog import Catalog, HistoryRecord, Job, JobDocument, JobStatus, KnowledgeBase
from chalicelib.core.ports.search import DocumentRecord, DocumentStatus, SearchBackend
from chalicelib.core.ports.sources import SourceError, is_sidecar
from chalicelib.core.retrieval import RetrievalQuery, RetrievalResult, Retriever
from chalicelib.core.tenancy import SourcePolicy

logger = logging.getLogger(__name__)


# A job record lists every document while the list stays under this many bytes of JSON; beyond it (several thousand
# documents) only the failed ones are listed, beside the counts. A DynamoDB item holds 400 KB in all, and the rest of
# the job (ids, times, message, counts) needs a little of it.
JOB_DOCUMENTS_BUDGET: Final = 300_000


class JobRunner(Protocol):
    """Runs indexing jobs: in-process on the ``local`` stage (below), on Step Functions on AWS
    (``chalicelib.workflows.StepFunctionsJobRunner``). Either way the job record in the catalog tells the outcome."""

    def start(self, job: Job, kb: KnowledgeBase, roots: Sequence[str], uris: Sequence[str]) -> None:
        """Index the objects under ``roots`` (``uris``: what they held when the job was submitted) into ``kb``."""

    def start_reindex(self, job: Job, kb: KnowledgeBase) -> None:
        """Rebuild ``kb`` from its SourceURI into a new index version and swap it in (``KnowledgeBaseService.reindex``)."""


class KnowledgeBaseUpdates(Protocol):
    """Atomic read-modify-write of one knowledge-base record: how a reindex claims, swaps and releases versions.

    ``change`` gets the stored record and returns the record to store (the same object: nothing is written) or raises
    to refuse. The write is conditional on the record being unchanged since it was read (and retried on a concurrent
    write), so two reindexes can never both swap. Returns the stored record afterwards; None when there is none.
    """

    def update(
        self, workspace_id: str, index_id: str, change: Callable[[KnowledgeBase], KnowledgeBase]
    ) -> KnowledgeBase | None: ...


class DataCenterFiles(Protocol):
    """The workspace's data-center files an index can take (``chalicelib.core.data_center.DataCenterService``)."""

    def index_uris(
        self, workspace_id: str, *, file_ids: Sequence[str] = (), category_ids: Sequence[str] = (),
        files_field: str = "DocumentIds", categories_field: str = "CategoryIds",
    ) -> list[str]:
        """The source URIs of these files and of the parsed files of these categories; 400 naming a missing one."""


class ReindexIncompleteError(ServiceError):
    """A reindex that must not be swapped in (a batch failed, nothing was indexed, or another reindex took over).

    Its name is the error a Step Functions Catch sees; the reindex machine aborts on it and the live version stays.
    """


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
        updates: KnowledgeBaseUpdates | None = None,
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
        self._updates = updates  # None: reindex is not available (a service built without the catalog's updater)
        self._sources = source_policy or SourcePolicy()  # which source objects a workspace may read
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
        source_type: str = "",
        document_ids: Sequence[str] = (),
        category_ids: Sequence[str] = (),
    ) -> KnowledgeBase:
        """A new, empty knowledge base. Its sources are a SourceURI (a Sift extension) or data-center files and
        categories (``source_type``), which must exist now; SubmitIndexJob indexes them."""
        if source_uri is not None:
            self._sources.check(workspace_id, source_uri, "SourceURI", workspace=True)
        if source_type:
            self._require_data_center().index_uris(workspace_id, file_ids=document_ids, category_ids=category_ids)
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
        _mirror(kb, lambda building: [self._backend.delete_document(building.collection, doc_id) for doc_id in doc_ids])
        return deleted, missing

    def index_texts(self, workspace_id: str, index_id: str, documents: Iterable[TextDocument]) -> list[JobDocument]:
        """Index documents that are already text (benchmarks, programmatic loaders), through the same path.

        (A reindex rebuilds from the SourceURI: text documents have none, so a reindex does not carry them over.)
        """
        return self._indexer.index_texts(self.get(workspace_id, index_id), documents)

    # jobs --------------------------------------------------------------------------------------------------------

    def submit_job(self, workspace_id: str, index_id: str, source_uris: Sequence[str] | None) -> Job:
        """Record a PENDING job and hand it to the runner; the in-process runner has finished it when this returns."""
        kb = self.get(workspace_id, index_id)
        roots = list(source_uris) if source_uris else ([kb.source_uri] if kb.source_uri else [])
        if not roots:
            raise InvalidParameterError("SourceURIs", "is required when the index was created without a SourceURI")
        uris: list[str] = []
        for position, root in enumerate(roots):
            self._sources.check(workspace_id, root, f"SourceURIs[{position}]" if source_uris else "SourceURI",
                                workspace=True)
            try:
                uris.extend(self._indexer.list_source(root))
            except SourceError as exc:
                raise InvalidParameterError(f"SourceURIs[{position}]", str(exc)) from None
        return self._launch(kb, lambda job: self.job_runner.start(job, kb, roots, uris))

    def submit_index_job(self, workspace_id: str, index_id: str) -> Job:
        """SubmitIndexJob: index the sources the knowledge base was created with (its files and categories, or its
        SourceURI)."""
        kb = self.get(workspace_id, index_id)
        if kb.source_type:
            return self.submit_files_job(workspace_id, index_id, file_ids=kb.document_ids, category_ids=kb.category_ids)
        return self.submit_job(workspace_id, index_id, None)

    def submit_files_job(
        self, workspace_id: str, index_id: str, *, file_ids: Sequence[str], category_ids: Sequence[str]
    ) -> Job:
        """Index data-center files (and the parsed files of categories) into the knowledge base, as documents whose id
        is the FileId."""
        kb = self.get(workspace_id, index_id)
        uris = self._require_data_center().index_uris(workspace_id, file_ids=file_ids, category_ids=category_ids)
        return self._launch(kb, lambda job: self.job_runner.start(job, kb, uris, uris))

    def run_job(self, job: Job, kb: KnowledgeBase, uris: Sequence[str]) -> Job:
        """Index ``uris`` and record the outcome; per-document failures make the job PARTIAL, not FAILED."""
        self.start_job(job.workspace_id, job.index_id, job.job_id)
        try:
            outcomes = self.index_batch(kb.workspace_id, kb.index_id, uris)
        except Exception as exc:  # an outage of the embedder or the backend: the job as a whole failed
            logger.exception("indexing job failed", extra={"job_id": job.job_id})
            return self.fail_job(job.workspace_id, job.index_id, job.job_id, f"Indexing failed: {type(exc).__name__}")
        return self.finish_job(job.workspace_id, job.index_id, job.job_id, outcomes)

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job:
        self.get(workspace_id, index_id)
        job = self._catalog.get_job(workspace_id, index_id, job_id)
        if job is None:
            raise NotFoundError("job", job_id)
        return job

    # The steps of a job, one call each: the in-process runner calls them in a row, the Step Functions tasks
    # (chalicelib.workflows) one per state. Each is safe to repeat (a task may be retried).

    def start_job(self, workspace_id: str, index_id: str, job_id: str) -> Job:
        """Mark the job RUNNING (recording it, should it have been started without ``submit_job``)."""
        job = self._catalog.get_job(workspace_id, index_id, job_id)
        now = utc_now()
        running = (
            Job(job_id, workspace_id, index_id, JobStatus.RUNNING, now, now)
            if job is None
            else _replace_job(job, status=JobStatus.RUNNING)
        )
        self._catalog.put_job(running)
        return running

    def index_batch(
        self, workspace_id: str, index_id: str, uris: Sequence[str], *, version: int | None = None, job_id: str = ""
    ) -> list[JobDocument]:
        """Index one batch of objects; one outcome per object.

        Without ``version``: into the live version, and into the version a reindex is building, if any (so it misses
        nothing written meanwhile). With ``version``: into that version only, which must be the one the reindex
        ``job_id`` is building — a reindex that was aborted or taken over stops writing here.
        """
        kb = self.get(workspace_id, index_id)
        if version is None:
            outcomes = self._indexer.index_uris(kb, uris)
            _mirror(kb, lambda building: self._indexer.index_uris(building, uris))
            return outcomes
        if version == kb.index_version and not job_id:
            return self._indexer.index_uris(kb, uris)
        if kb.pending_version != version or kb.reindex_job_id != job_id:
            raise ReindexIncompleteError(
                f"version {version} of index {index_id} is not being built by job {job_id or '(none)'}"
            )
        return self._indexer.index_uris(replace(kb, index_version=version), uris)

    def finish_job(
        self, workspace_id: str, index_id: str, job_id: str, outcomes: Sequence[JobDocument], *, message: str = ""
    ) -> Job:
        """Record the outcome: COMPLETED (nothing failed), FAILED (everything failed) or PARTIAL, with the counts."""
        finished = finished_job(self._job_for(workspace_id, index_id, job_id), outcomes, message=message)
        self._put_job(finished)
        return finished

    def fail_job(self, workspace_id: str, index_id: str, job_id: str, message: str) -> Job:
        """Record that the job as a whole failed (it could not list, or every retry of a step ran out)."""
        failed = _replace_job(self._job_for(workspace_id, index_id, job_id), status=JobStatus.FAILED, message=message)
        self._put_job(failed)
        return failed

    # reindex -----------------------------------------------------------------------------------------------------

    def reindex(self, workspace_id: str, index_id: str, *, force: bool = False) -> Job:
        """Rebuild the knowledge base from its SourceURI into a new index version, swap it in, drop the old one.

        Retrieval keeps reading the live version until the swap, which is one conditional write of the catalog
        record; on any failure the new version is dropped and the old one stays. Documents that did not come from
        the SourceURI (other SourceURIs of a job, ``index_texts``) are not carried over. One reindex at a time:
        ``force`` takes over from one that was stopped without cleaning up (its version is dropped).
        """
        kb = self.get(workspace_id, index_id)
        if not kb.source_uri:
            raise InvalidParameterError("SourceURI", "a reindex rebuilds from the SourceURI; this index has none")
        self._require_updates()
        if kb.reindex_job_id:
            if not force:
                raise AlreadyExistsError("reindex job", kb.reindex_job_id)
            self.abort_reindex(workspace_id, index_id, kb.reindex_job_id, "taken over by a forced reindex")
            kb = self.get(workspace_id, index_id)
        return self._launch(kb, lambda job: self.job_runner.start_reindex(job, kb))

    def run_reindex(self, job: Job) -> Job:
        """The whole reindex in this process (the in-process runner): begin, index the SourceURI, commit or abort."""
        try:
            building = self.begin_reindex(job.workspace_id, job.index_id, job.job_id)
            assert building.source_uri is not None and building.pending_version is not None
            uris = self._indexer.list_source(building.source_uri)
            outcomes = self.index_batch(
                job.workspace_id, job.index_id, uris, version=building.pending_version, job_id=job.job_id
            )
            return self.commit_reindex(job.workspace_id, job.index_id, job.job_id, outcomes)
        except Exception as exc:
            logger.exception("reindex failed", extra={"job_id": job.job_id})
            return self.abort_reindex(job.workspace_id, job.index_id, job.job_id, _reason(exc))

    def begin_reindex(self, workspace_id: str, index_id: str, job_id: str) -> KnowledgeBase:
        """Create version n+1 (empty) and claim it for ``job_id``; returns the record with the claim."""
        updates = self._require_updates()
        kb = self.get(workspace_id, index_id)
        if kb.reindex_job_id not in ("", job_id):
            raise AlreadyExistsError("reindex job", kb.reindex_job_id)
        new_collection = kb.collection_for(kb.index_version + 1)
        if not kb.reindex_job_id:  # a leftover of a reindex that died without its abort must not leak into this one
            self._backend.delete_collection(new_collection)
        # The new version is built with the configured embedder: a reindex is also how an index moves to a new model.
        self._backend.create_collection(new_collection, self._dimension, kb.image_dimension)

        def claim(current: KnowledgeBase) -> KnowledgeBase:
            if current.reindex_job_id == job_id:
                return current
            if current.reindex_job_id or current.index_version != kb.index_version:
                raise AlreadyExistsError("reindex job", current.reindex_job_id or "(a finished one)")
            return replace(current, reindex_job_id=job_id)

        claimed = updates.update(workspace_id, index_id, claim)
        if claimed is None:
            raise NotFoundError("index", index_id)
        self.start_job(workspace_id, index_id, job_id)
        return claimed

    def commit_reindex(
        self, workspace_id: str, index_id: str, job_id: str, outcomes: Sequence[JobDocument], *, failed_batches: int = 0
    ) -> Job:
        """Swap the new version in and drop the old one — unless the new version is incomplete.

        A failed batch (an outage outlasting its retries) or a version where nothing could be indexed must not
        replace a working index: ``ReindexIncompleteError``, and the caller aborts. Documents that failed on their
        own (an unreadable file) do not block the swap: they fail the same way in any version; the job is PARTIAL.
        """
        updates = self._require_updates()
        counts = job_counts(outcomes)
        if failed_batches:
            raise ReindexIncompleteError(f"{failed_batches} batch(es) of the new version could not be indexed")
        if counts["total"] == 0:
            raise ReindexIncompleteError("the SourceURI holds no documents")
        if counts["failed"] == counts["total"]:
            raise ReindexIncompleteError("no document of the SourceURI could be indexed")
        before: list[KnowledgeBase] = []

        def swap(current: KnowledgeBase) -> KnowledgeBase:
            if current.reindex_job_id != job_id:
                raise ReindexIncompleteError(f"job {job_id} no longer holds the reindex of index {index_id}")
            before.append(current)
            return replace(
                current, index_version=current.index_version + 1, reindex_job_id="",
                embedding_model=self._embedding_model,
            )

        swapped = updates.update(workspace_id, index_id, swap)
        if swapped is None:
            raise ReindexIncompleteError(f"index {index_id} was deleted during its reindex")
        message = ""
        try:  # best effort: the swap is what matters; a leftover old version only costs storage
            self._backend.delete_collection(before[-1].collection)
        except Exception as exc:
            logger.exception("could not drop the old index version", extra={"job_id": job_id})
            message = f"Version {before[-1].index_version} could not be dropped: {_reason(exc)}"
        return self.finish_job(workspace_id, index_id, job_id, outcomes, message=message)

    def abort_reindex(self, workspace_id: str, index_id: str, job_id: str, reason: str) -> Job:
        """Drop the version ``job_id`` was building and release the claim; the live version is untouched."""
        kb = self.find(workspace_id, index_id)
        if kb is not None and kb.reindex_job_id == job_id and kb.pending_version is not None:
            released: list[KnowledgeBase] = []

            def release(current: KnowledgeBase) -> KnowledgeBase:
                if current.reindex_job_id != job_id:
                    return current
                released.append(current)
                return replace(current, reindex_job_id="")

            self._require_updates().update(workspace_id, index_id, release)
            if released:
                self._backend.delete_collection(kb.collection_for(kb.pending_version))
        live = f"version {kb.index_version} stays live" if kb is not None else "the index no longer exists"
        return self.fail_job(workspace_id, index_id, job_id, f"Reindex failed ({live}): {reason}")

    def _require_data_center(self) -> DataCenterFiles:
        if self._data_center is None:
            raise InternalError("this deployment has no data center (chalicelib.composition wires it)")
        return self._data_center

    def _require_updates(self) -> KnowledgeBaseUpdates:
        if self._updates is None:
            raise InternalError("reindex needs the catalog's record updater (chalicelib.composition wires it)")
        return self._updates

    def _new_job(self, workspace_id: str, index_id: str) -> Job:
        now = utc_now()
        job = Job(new_id("job"), workspace_id, index_id, JobStatus.PENDING, now, now)
        self._catalog.put_job(job)
        return job

    def _launch(self, kb: KnowledgeBase, start: Callable[[Job], None]) -> Job:
        """Record a PENDING job of ``kb``, start it, and return its record (the in-process runner has finished it)."""
        job = self._new_job(kb.workspace_id, kb.index_id)
        self._start(job, lambda: start(job))
        return self._catalog.get_job(kb.workspace_id, kb.index_id, job.job_id) or job

    def _start(self, job: Job, start: Callable[[], None]) -> None:
        """Run ``start``; a job that could not even be started is recorded FAILED before the error goes on."""
        try:
            start()
        except Exception as exc:
            self.fail_job(job.workspace_id, job.index_id, job.job_id, f"The job could not be started: {_reason(exc)}")
            raise

    def _put_job(self, job: Job) -> None:
        """Write a finished job, unless its knowledge base was deleted meanwhile (deleting it purged its jobs)."""
        if self.find(job.workspace_id, job.index_id) is not None:
            self._catalog.put_job(job)

    def _job_for(self, workspace_id: str, index_id: str, job_id: str) -> Job:
        job = self._catalog.get_job(workspace_id, index_id, job_id)
        if job is not None:
            return job
        now = utc_now()
        return Job(job_id, workspace_id, index_id, JobStatus.RUNNING, now, now)

    # object events -----------------------------------------------------------------------------------------------

    def on_object_created(self, uri: str) -> list[JobDocument]:
        """Index a new or changed object into every knowledge base whose SourceURI holds it."""
        if is_sidecar(uri):  # a changed sidecar re-indexes the object it describes
            uri = uri[: -len(".metadata.json")]
        outcomes: list[JobDocument] = []
        for kb in self._catalog.knowledge_bases_for_uri(uri):
            outcomes.extend(self._indexer.index_uris(kb, [uri]))
            # A reindex listed its objects earlier: the version it builds must not miss this one.
            _mirror(kb, lambda building: self._indexer.index_uris(building, [uri]))
        return outcomes

    def on_object_removed(self, uri: str) -> int:
        """Remove a deleted object from every knowledge base that holds it, once the source confirms it is gone (a
        delete event that arrives after the object was written again indexes the object instead); returns how many
        removed it."""
        if is_sidecar(uri):
            return len(self.on_object_created(uri))
        knowledge_bases = self._catalog.knowledge_bases_for_uri(uri)
        if knowledge_bases and self._indexer.revision(uri) is not None:
            require_settled(uri, self.on_object_created(uri))
            return 0
        removed = 0
        for kb in knowledge_bases:
            removed += self._indexer.remove_uri(kb, uri)
            _mirror(kb, lambda building: self._indexer.remove_uri(building, uri))
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
        kb = self.get(workspace_id, index_id)
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

    def start(self, job: Job, kb: KnowledgeBase, roots: Sequence[str], uris: Sequence[str]) -> None:
        self._service.run_job(job, kb, uris)

    def start_reindex(self, job: Job, kb: KnowledgeBase) -> None:
        self._service.run_reindex(job)


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


def job_counts(outcomes: Iterable[JobDocument]) -> dict[str, int]:
    """``total``, ``indexed`` (FINISH), ``empty`` and ``failed`` documents among ``outcomes``."""
    counts = {"total": 0, "indexed": 0, "empty": 0, "failed": 0}
    names = {DocumentStatus.INDEXED.value: "indexed", DocumentStatus.EMPTY.value: "empty",
             DocumentStatus.FAILED.value: "failed"}
    for outcome in outcomes:
        counts["total"] += 1
        if outcome.status in names:
            counts[names[outcome.status]] += 1
    return counts


def finished_job(job: Job, outcomes: Sequence[JobDocument], *, message: str = "") -> Job:
    """The job record of a finished run.

    Status: COMPLETED when no document failed (an empty source included) — the job's "succeeded", the name the
    documented API uses — FAILED when every document failed, PARTIAL otherwise. ``documents`` lists every outcome
    while that fits ``JOB_DOCUMENTS_BUDGET``, else only the failed ones (as many as fit), and ``message`` says so.
    """
    counts = job_counts(outcomes)
    failed = counts["failed"]
    status = JobStatus.COMPLETED if failed == 0 else (JobStatus.FAILED if failed == counts["total"] else JobStatus.PARTIAL)
    documents, note = _documents_within_budget(outcomes, counts)
    return _replace_job(
        job, status=status, documents=documents, counts=counts, message=" ".join(part for part in (message, note) if part)
    )


def _documents_within_budget(
    outcomes: Sequence[JobDocument], counts: Mapping[str, int]
) -> tuple[tuple[JobDocument, ...], str]:
    sizes = [len(json.dumps(dataclasses.asdict(outcome), ensure_ascii=False).encode()) + 2 for outcome in outcomes]
    if sum(sizes) <= JOB_DOCUMENTS_BUDGET:
        return tuple(outcomes), ""
    kept: list[JobDocument] = []
    used = 0
    for outcome, size in zip(outcomes, sizes):
        if outcome.status == DocumentStatus.FAILED.value:
            if used + size > JOB_DOCUMENTS_BUDGET:
                break
            kept.append(outcome)
            used += size
    listed = "the failed documents are listed" if len(kept) == counts["failed"] else f"{len(kept)} failed documents are listed"
    note = (
        f"{counts['total']} documents: {counts['indexed']} indexed, {counts['empty']} empty, {counts['failed']} failed; "
        f"only {listed}."
    )
    return tuple(kept), note


def _mirror(kb: KnowledgeBase, write: Callable[[KnowledgeBase], object]) -> None:
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


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"


def _replace_job(job: Job, **changes: Any) -> Job:
    return replace(job, updated_at=utc_now(), **changes)

