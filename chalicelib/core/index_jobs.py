"""Indexing jobs of knowledge bases: submitted (SubmitIndexJob, SubmitIndexAddDocumentsJob), run by a runner, stepped
by the Step Functions tasks, recorded in the catalog.

The runner comes in through the constructor: ``StepFunctionsJobRunner`` on AWS, or none, and the jobs run in this
process (the ``local`` stage), through the very steps the state machine calls.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, Protocol

from chalicelib.core.clock import new_id, utc_now
from chalicelib.core.errors import InvalidParameterError, NotFoundError, ServiceError
from chalicelib.core.indexing import Indexer
from chalicelib.core.knowledge_base import KnowledgeBaseService, failure_reason, mirror_to_building
from chalicelib.core.ports.catalog import Catalog, Job, JobDocument, JobStatus, KnowledgeBase
from chalicelib.core.ports.search import DocumentStatus
from chalicelib.core.ports.sources import SourceError
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


class ReindexIncompleteError(ServiceError):
    """A reindex that must not be swapped in (a batch failed, nothing was indexed, or another reindex took over).

    Its name is the error a Step Functions Catch sees; the reindex machine aborts on it and the live version stays.
    """


class IndexJobs:
    def __init__(
        self,
        knowledge_bases: KnowledgeBaseService,
        catalog: Catalog,
        indexer: Indexer,
        *,
        runner: JobRunner | None = None,
        source_policy: SourcePolicy | None = None,
    ) -> None:
        self._knowledge_bases = knowledge_bases
        self._catalog = catalog
        self._indexer = indexer
        self._runner: JobRunner = runner or _InProcessJobs(self)
        self._sources = source_policy or SourcePolicy()  # which source objects a workspace may read

    def submit_job(self, workspace_id: str, index_id: str, source_uris: Sequence[str] | None) -> Job:
        """Record a PENDING job and hand it to the runner; the in-process runner has finished it when this returns."""
        kb = self._knowledge_bases.get(workspace_id, index_id)
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
        return self.launch(kb, lambda job: self._runner.start(job, kb, roots, uris))

    def submit_index_job(self, workspace_id: str, index_id: str) -> Job:
        """SubmitIndexJob: index the sources the knowledge base was created with (its files and categories, or its
        SourceURI)."""
        kb = self._knowledge_bases.get(workspace_id, index_id)
        if kb.source_type:
            return self.submit_files_job(workspace_id, index_id, file_ids=kb.document_ids, category_ids=kb.category_ids)
        return self.submit_job(workspace_id, index_id, None)

    def submit_files_job(
        self, workspace_id: str, index_id: str, *, file_ids: Sequence[str], category_ids: Sequence[str]
    ) -> Job:
        """Index data-center files (and the parsed files of categories) into the knowledge base, as documents whose id
        is the FileId."""
        kb = self._knowledge_bases.get(workspace_id, index_id)
        uris = self._knowledge_bases.data_center_uris(workspace_id, file_ids=file_ids, category_ids=category_ids)
        return self.launch(kb, lambda job: self._runner.start(job, kb, uris, uris))

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
        self._knowledge_bases.get(workspace_id, index_id)
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
        kb = self._knowledge_bases.get(workspace_id, index_id)
        if version is None:
            outcomes = self._indexer.index_uris(kb, uris)
            mirror_to_building(kb, lambda building: self._indexer.index_uris(building, uris))
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

    def _new_job(self, workspace_id: str, index_id: str) -> Job:
        now = utc_now()
        job = Job(new_id("job"), workspace_id, index_id, JobStatus.PENDING, now, now)
        self._catalog.put_job(job)
        return job

    def launch(self, kb: KnowledgeBase, start: Callable[[Job], None]) -> Job:
        """Record a PENDING job of ``kb``, start it, and return its record (the in-process runner has finished it)."""
        job = self._new_job(kb.workspace_id, kb.index_id)
        self._start(job, lambda: start(job))
        return self._catalog.get_job(kb.workspace_id, kb.index_id, job.job_id) or job

    def _start(self, job: Job, start: Callable[[], None]) -> None:
        """Run ``start``; a job that could not even be started is recorded FAILED before the error goes on."""
        try:
            start()
        except Exception as exc:
            self.fail_job(job.workspace_id, job.index_id, job.job_id, f"The job could not be started: {failure_reason(exc)}")
            raise

    def _put_job(self, job: Job) -> None:
        """Write a finished job, unless its knowledge base was deleted meanwhile (deleting it purged its jobs)."""
        if self._knowledge_bases.find(job.workspace_id, job.index_id) is not None:
            self._catalog.put_job(job)

    def _job_for(self, workspace_id: str, index_id: str, job_id: str) -> Job:
        job = self._catalog.get_job(workspace_id, index_id, job_id)
        if job is not None:
            return job
        now = utc_now()
        return Job(job_id, workspace_id, index_id, JobStatus.RUNNING, now, now)



class _InProcessJobs:
    """Runs a job synchronously inside the request (the ``local`` stage; Step Functions replaces it on AWS)."""

    def __init__(self, jobs: IndexJobs) -> None:
        self._jobs = jobs

    def start(self, job: Job, kb: KnowledgeBase, roots: Sequence[str], uris: Sequence[str]) -> None:
        self._jobs.run_job(job, kb, uris)


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


def _replace_job(job: Job, **changes: Any) -> Job:
    return replace(job, updated_at=utc_now(), **changes)

