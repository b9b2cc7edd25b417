"""Reindex: rebuild a knowledge base from its SourceURI into a new index version and swap it in with one conditional
write of its catalog record (a Sift extension, ``SubmitReindexJob``; on AWS the reindex state machine runs its steps).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from chalicelib.core.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from chalicelib.core.index_jobs import IndexJobs, ReindexIncompleteError, job_counts
from chalicelib.core.indexing import Indexer
from chalicelib.core.knowledge_base import KnowledgeBaseService, failure_reason
from chalicelib.core.ports.catalog import Catalog, Job, JobDocument, KnowledgeBase
from chalicelib.core.ports.search import SearchBackend

logger = logging.getLogger(__name__)


class ReindexRunner(Protocol):
    """Runs a reindex: in this process (below) or on Step Functions (``chalicelib.workflows.StepFunctionsJobRunner``)."""

    def start_reindex(self, job: Job, kb: KnowledgeBase) -> None:
        """Rebuild ``kb`` from its SourceURI into a new index version and swap it in (``Reindexer.reindex``)."""


class Reindexer:
    def __init__(
        self,
        knowledge_bases: KnowledgeBaseService,
        jobs: IndexJobs,
        catalog: Catalog,
        backend: SearchBackend,
        indexer: Indexer,
        embedding_model: str,
        dimension: int,
        *,
        runner: ReindexRunner | None = None,
    ) -> None:
        self._knowledge_bases = knowledge_bases
        self._jobs = jobs
        self._backend = backend
        self._indexer = indexer
        self._embedding_model = embedding_model  # a reindex also moves an index to the configured embedder
        self._dimension = dimension
        # Claims, swaps and releases versions with the catalog's compare-and-swap (``update_knowledge_base``): the
        # record is rewritten only if it is still the one read, so two reindexes can never both swap.
        self._catalog = catalog
        self._runner: ReindexRunner = runner or _InProcessReindex(self)

    def reindex(self, workspace_id: str, index_id: str, *, force: bool = False) -> Job:
        """Rebuild the knowledge base from its SourceURI into a new index version, swap it in, drop the old one.

        Retrieval keeps reading the live version until the swap, which is one conditional write of the catalog
        record; on any failure the new version is dropped and the old one stays. Documents that did not come from
        the SourceURI (other SourceURIs of a job, ``index_texts``) are not carried over. One reindex at a time:
        ``force`` takes over from one that was stopped without cleaning up (its version is dropped).
        """
        kb = self._knowledge_bases.get(workspace_id, index_id)
        if not kb.source_uri:
            raise InvalidParameterError("SourceURI", "a reindex rebuilds from the SourceURI; this index has none")
        if kb.reindex_job_id:
            if not force:
                raise AlreadyExistsError("reindex job", kb.reindex_job_id)
            self.abort_reindex(workspace_id, index_id, kb.reindex_job_id, "taken over by a forced reindex")
            kb = self._knowledge_bases.get(workspace_id, index_id)
        return self._jobs.launch(kb, lambda job: self._runner.start_reindex(job, kb))

    def run_reindex(self, job: Job) -> Job:
        """The whole reindex in this process (the in-process runner): begin, index the SourceURI, commit or abort."""
        try:
            building = self.begin_reindex(job.workspace_id, job.index_id, job.job_id)
            assert building.source_uri is not None and building.pending_version is not None
            uris = self._indexer.list_source(building.source_uri)
            outcomes = self._jobs.index_batch(
                job.workspace_id, job.index_id, uris, version=building.pending_version, job_id=job.job_id
            )
            return self.commit_reindex(job.workspace_id, job.index_id, job.job_id, outcomes)
        except Exception as exc:
            logger.exception("reindex failed", extra={"job_id": job.job_id})
            return self.abort_reindex(job.workspace_id, job.index_id, job.job_id, failure_reason(exc))

    def begin_reindex(self, workspace_id: str, index_id: str, job_id: str) -> KnowledgeBase:
        """Create version n+1 (empty) and claim it for ``job_id``; returns the record with the claim."""
        kb = self._knowledge_bases.get(workspace_id, index_id)
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

        claimed = self._catalog.update_knowledge_base(workspace_id, index_id, claim)
        if claimed is None:
            raise NotFoundError("index", index_id)
        self._jobs.start_job(workspace_id, index_id, job_id)
        return claimed

    def commit_reindex(
        self, workspace_id: str, index_id: str, job_id: str, outcomes: Sequence[JobDocument], *, failed_batches: int = 0
    ) -> Job:
        """Swap the new version in and drop the old one — unless the new version is incomplete.

        A failed batch (an outage outlasting its retries) or a version where nothing could be indexed must not
        replace a working index: ``ReindexIncompleteError``, and the caller aborts. Documents that failed on their
        own (an unreadable file) do not block the swap: they fail the same way in any version; the job is PARTIAL.
        """
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

        swapped = self._catalog.update_knowledge_base(workspace_id, index_id, swap)
        if swapped is None:
            raise ReindexIncompleteError(f"index {index_id} was deleted during its reindex")
        message = ""
        try:  # best effort: the swap is what matters; a leftover old version only costs storage
            self._backend.delete_collection(before[-1].collection)
        except Exception as exc:
            logger.exception("could not drop the old index version", extra={"job_id": job_id})
            message = f"Version {before[-1].index_version} could not be dropped: {failure_reason(exc)}"
        return self._jobs.finish_job(workspace_id, index_id, job_id, outcomes, message=message)

    def abort_reindex(self, workspace_id: str, index_id: str, job_id: str, reason: str) -> Job:
        """Drop the version ``job_id`` was building and release the claim; the live version is untouched."""
        kb = self._knowledge_bases.find(workspace_id, index_id)
        if kb is not None and kb.reindex_job_id == job_id and kb.pending_version is not None:
            released: list[KnowledgeBase] = []

            def release(current: KnowledgeBase) -> KnowledgeBase:
                if current.reindex_job_id != job_id:
                    return current
                released.append(current)
                return replace(current, reindex_job_id="")

            self._catalog.update_knowledge_base(workspace_id, index_id, release)
            if released:
                self._backend.delete_collection(kb.collection_for(kb.pending_version))
        live = f"version {kb.index_version} stays live" if kb is not None else "the index no longer exists"
        return self._jobs.fail_job(workspace_id, index_id, job_id, f"Reindex failed ({live}): {reason}")


class _InProcessReindex:
    """Runs a reindex synchronously inside the request (the ``local`` stage)."""

    def __init__(self, reindexer: Reindexer) -> None:
        self._reindexer = reindexer

    def start_reindex(self, job: Job, kb: KnowledgeBase) -> None:
        self._reindexer.run_reindex(job)
