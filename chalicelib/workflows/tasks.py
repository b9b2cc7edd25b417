"""The tasks of the batch-index and reindex state machines (``infra/*.asl.json``), served by one Lambda.

``handle_task(services, event)`` dispatches on ``event["Task"]`` to a plain function of the services and the event
the state passes, and returns what the next state reads. Failures are raised, never swallowed: the definitions'
Retry and Catch decide what a failure means by its name — for a Lambda, the exception's class name. ``ThrottlingError``
and ``ServiceUnavailableError`` (an embedder, OpenSearch or DynamoDB asking to slow down or not answering) are retried
with exponential backoff; anything else fails the batch (Catch → RecordBatchFailure) or the run (Catch → FinishJob
with the error, or AbortReindex).

Events (built by the definitions' JSONPath payloads; see ``chalicelib.workflows.batches`` for Target, batches and
batch results):

==================  =========================================================  =============================
Task                event                                                      returns
==================  =========================================================  =============================
StartJob            JobId, Target                                              JobId, Status
IndexBatch          JobId, Target, Bucket?, Items                              a batch result
RecordBatchFailure  JobId, Target, Bucket?, Items, Error {Error, Cause}        a batch result, all FAILED
FinishJob           JobId, Target, Results (list or ResultWriterDetails)       JobId, Status, Counts
                    or JobId, Target, Error (the run failed as a whole)
BeginReindex        JobId, WorkspaceId, IndexId                                Target, Bucket, Prefix, Version
CommitReindex       JobId, Target (with IndexVersion), Results                 JobId, Status, Version, Counts
AbortReindex        JobId, WorkspaceId, IndexId, Error                         JobId, Status
==================  =========================================================  =============================

A dataset target has no job record (jobs belong to knowledge bases): its binding is the record. FinishJob leaves a
binding ``Running`` when its files were indexed (each file's own status tells a single failure) and marks it
``Failed`` with a reason when the run failed or no file could be indexed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from chalicelib.core.index_jobs import finished_job, job_counts
from chalicelib.core.ports.catalog import Job, JobStatus
from chalicelib.core.ports.sources import SourceError
from chalicelib.sources.s3 import split_uri
from chalicelib.workflows.batches import (
    DATASET,
    ResultReader,
    Target,
    batch_result,
    batch_uris,
    collect_results,
    failed_batch,
    failure_message,
)

if TYPE_CHECKING:
    from chalicelib.core.services import Services

logger = logging.getLogger(__name__)

TaskHandler = Callable[["Services", Mapping[str, Any], "ResultReader | None"], dict[str, Any]]


def handle_task(services: Services, event: Mapping[str, Any], *, results: ResultReader | None = None) -> dict[str, Any]:
    """Run the task ``event["Task"]`` names; ``results`` reads a Map's results exported to S3 (FinishJob, Commit)."""
    if not isinstance(event, Mapping):
        raise TypeError(f"a task event must be an object, not {type(event).__name__}")
    name = event.get("Task")
    handler = TASKS.get(name) if isinstance(name, str) else None
    if handler is None:
        raise ValueError(f"unknown task {name!r}; one of {', '.join(TASKS)}")
    logger.info("task", extra={"task": name, "job_id": event.get("JobId")})
    return handler(services, event, results)


# --- batch indexing ---------------------------------------------------------------------------------------------------


def start_job(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """Mark the job RUNNING; for a dataset, check that it still exists (the binding already says Running)."""
    job_id, target = _text(event, "JobId"), Target.parse(event.get("Target"))
    if target.kind == DATASET:
        services.media.get_dataset(target.project_name, target.dataset_name)
        return {"JobId": job_id, "Status": JobStatus.RUNNING.value}
    job = services.jobs.start_job(target.workspace_id, target.index_id, job_id)
    return {"JobId": job_id, "Status": job.status.value}


def index_batch(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """Index one batch; a document that cannot be read or parsed is a FAILED outcome, not a failure of the batch."""
    job_id, target = _text(event, "JobId"), Target.parse(event.get("Target"))
    uris = batch_uris(event)
    if target.kind == DATASET:
        outcomes = services.media.index_uris(target.project_name, target.dataset_name, uris)
    else:
        outcomes = services.jobs.index_batch(
            target.workspace_id, target.index_id, uris, version=target.index_version,
            job_id=job_id if target.index_version is not None else "",
        )
    return batch_result(outcomes)


def record_batch_failure(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """The Catch of IndexBatch: every document of the batch FAILED with the error, so the run goes on."""
    _text(event, "JobId")
    Target.parse(event.get("Target"))
    return failed_batch(batch_uris(event), event.get("Error"))


def finish_job(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """Count the outcomes and write the job record (a knowledge base) or the binding's state (a dataset)."""
    job_id, target = _text(event, "JobId"), Target.parse(event.get("Target"))
    error = event.get("Error")
    if error:
        message = f"Indexing failed: {failure_message(error)}"
        if target.kind == DATASET:
            services.media.finish_binding(target.project_name, target.dataset_name, target.binding_uri, [],
                                          error=message)
        else:
            services.jobs.fail_job(target.workspace_id, target.index_id, job_id, message)
        return {"JobId": job_id, "Status": JobStatus.FAILED.value}
    collected = collect_results(event.get("Results"), results)
    if target.kind == DATASET:
        services.media.finish_binding(target.project_name, target.dataset_name, target.binding_uri,
                                      collected.documents)
        status = finished_job(Job(job_id, "", "", JobStatus.RUNNING, "", ""), collected.documents).status
        return {"JobId": job_id, "Status": status.value, "Counts": job_counts(collected.documents)}
    message = f"{collected.failed_batches} batch(es) could not be indexed." if collected.failed_batches else ""
    job = services.jobs.finish_job(
        target.workspace_id, target.index_id, job_id, collected.documents, message=message
    )
    return {"JobId": job_id, "Status": job.status.value, "Counts": dict(job.counts)}


# --- reindex ----------------------------------------------------------------------------------------------------------


def begin_reindex(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """Create and claim version n+1; returns the target and the S3 prefix the Map lists (the SourceURI)."""
    job_id, workspace_id, index_id = _text(event, "JobId"), _text(event, "WorkspaceId"), _text(event, "IndexId")
    kb = services.reindex.begin_reindex(workspace_id, index_id, job_id)
    assert kb.pending_version is not None and kb.source_uri is not None
    try:
        bucket, prefix = split_uri(kb.source_uri)
    except SourceError as exc:  # a file:// SourceURI: only the in-process runner can read it
        raise ValueError(f"the state machine lists S3 prefixes; the SourceURI is {kb.source_uri}") from exc
    return {
        "Target": Target.knowledge_base(workspace_id, index_id, kb.pending_version).to_event(),
        "Bucket": bucket,
        "Prefix": prefix,
        "Version": kb.pending_version,
    }


def commit_reindex(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """Swap the new version in (or raise ``ReindexIncompleteError``, which the machine catches to abort)."""
    job_id, target = _text(event, "JobId"), Target.parse(event.get("Target"))
    if target.index_version is None:
        raise ValueError("CommitReindex needs Target.IndexVersion")
    collected = collect_results(event.get("Results"), results)
    job = services.reindex.commit_reindex(
        target.workspace_id, target.index_id, job_id, collected.documents, failed_batches=collected.failed_batches
    )
    return {"JobId": job_id, "Status": job.status.value, "Version": target.index_version, "Counts": dict(job.counts)}


def abort_reindex(services: Services, event: Mapping[str, Any], results: ResultReader | None) -> dict[str, Any]:
    """Drop the version being built and release the claim; the job is FAILED and the live version stays."""
    job_id, workspace_id, index_id = _text(event, "JobId"), _text(event, "WorkspaceId"), _text(event, "IndexId")
    job = services.reindex.abort_reindex(workspace_id, index_id, job_id, failure_message(event.get("Error")))
    return {"JobId": job_id, "Status": job.status.value}


TASKS: Final[dict[str, TaskHandler]] = {
    "StartJob": start_job,
    "IndexBatch": index_batch,
    "RecordBatchFailure": record_batch_failure,
    "FinishJob": finish_job,
    "BeginReindex": begin_reindex,
    "CommitReindex": commit_reindex,
    "AbortReindex": abort_reindex,
}


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value
