"""infra/reindex.asl.json executed by moto, and the same reindex in-process (the local stage's runner)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.core.errors import AlreadyExistsError, InvalidParameterError, ServiceUnavailableError
from chalicelib.core.indexing import document_id
from chalicelib.core.ports.catalog import Job, JobStatus, KnowledgeBase
from chalicelib.core.ports.search import SearchBackend
from chalicelib.core.services import Services
from tests.infra.conftest import DOCS_BUCKET, WS, LambdaTasks, Machines, put_documents
from tests.infra.test_batch_index import TEXTS, knowledge_base, top_document

KETTLE = {"kb/kettle.txt": b"Kettle descaling: vinegar, then rinse twice."}


def backend(services: Services) -> SearchBackend:
    search: SearchBackend = services.knowledge_bases._backend  # the service keeps no public handle on its backend
    return search


def names_in(services: Services, collection: str) -> list[str]:
    documents, _ = backend(services).list_documents(collection, offset=0, limit=100)
    return sorted(document.name for document in documents)


def indexed_handbook(aws: boto3.Session, services: Services) -> tuple[str, KnowledgeBase]:
    """A knowledge base indexed in-process from kb/, then its source changed behind its back (no S3 events)."""
    put_documents(aws, TEXTS)
    index_id = knowledge_base(services)
    assert services.jobs.submit_job(WS, index_id, None).status is JobStatus.COMPLETED
    s3 = aws.client("s3")
    s3.delete_object(Bucket=DOCS_BUCKET, Key="kb/lamp.txt")
    put_documents(aws, KETTLE)
    return index_id, services.knowledge_bases.get(WS, index_id)


def reindex_and_wait(services: Services, machines: Machines, index_id: str) -> tuple[Job, dict[str, Any]]:
    submitted = services.reindex.reindex(WS, index_id)
    assert submitted.status is JobStatus.PENDING
    execution = machines.wait(machines.reindex_arn, submitted.job_id)
    return services.jobs.get_job(WS, index_id, submitted.job_id), execution


def test_reindex_builds_a_new_version_swaps_it_in_and_drops_the_old_one(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    index_id, before = indexed_handbook(aws, services)
    assert before.index_version == 1 and "lamp.txt" in names_in(services, before.collection)
    services = machines.services()

    job, execution = reindex_and_wait(services, machines, index_id)

    assert execution["status"] == "SUCCEEDED"
    assert job.status is JobStatus.COMPLETED, job.message
    assert dict(job.counts) == {"total": 4, "indexed": 4, "empty": 0, "failed": 0}
    after = services.knowledge_bases.get(WS, index_id)
    assert (after.index_version, after.reindex_job_id) == (2, "")
    assert after.collection == f"kb:{WS}:{index_id}:v2"
    # The new version is the source as it is now: the deleted lamp is gone, the new kettle is there.
    assert names_in(services, after.collection) == ["kettle.txt", "manual.pdf", "stove.txt", "tent.txt"]
    assert top_document(services, index_id, "descaling vinegar") == "kettle.txt"
    assert top_document(services, index_id, "tent warranty") == "tent.txt"
    # The old version is dropped.
    assert names_in(services, before.collection) == []
    assert backend(services).count_chunks(before.collection) == 0
    # Every batch of the reindex wrote to the new version, through the same IndexBatch task as a batch job.
    targets = {call["Target"].get("IndexVersion") for call in lambda_tasks.tasks("IndexBatch")}
    assert targets == {2}


def test_a_reindex_that_fails_for_good_leaves_the_old_version_live_and_drops_the_new_one(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks, retry_sleeps: list[float]
) -> None:
    index_id, before = indexed_handbook(aws, services)
    services = machines.services()

    def new_version_unreachable(event: dict[str, Any]) -> None:
        if event.get("Task") == "IndexBatch" and "tent" in str(event["Items"]):
            raise ServiceUnavailableError("OpenSearch did not answer in time")

    lambda_tasks.faults.append(new_version_unreachable)

    job, execution = reindex_and_wait(services, machines, index_id)

    assert execution["status"] == "FAILED" and execution["error"] == "ReindexFailed"
    assert len(retry_sleeps) == 6  # the batch was retried for good before it was given up
    assert job.status is JobStatus.FAILED
    assert job.message == (
        "Reindex failed (version 1 stays live): ReindexIncompleteError: "
        "1 batch(es) of the new version could not be indexed"
    )
    after = services.knowledge_bases.get(WS, index_id)
    assert (after.index_version, after.reindex_job_id) == (1, "")
    assert after.collection == before.collection
    # Still serving from the old version, stale lamp and all; the half-built version 2 is gone.
    assert top_document(services, index_id, "tent warranty") == "tent.txt"
    assert "lamp.txt" in names_in(services, before.collection)
    assert names_in(services, before.collection_for(2)) == []
    assert [call["Task"] for call in lambda_tasks.calls][-2:] == ["CommitReindex", "AbortReindex"]


def test_a_reindex_whose_source_cannot_be_listed_is_aborted(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    index_id, _ = indexed_handbook(aws, services)
    services = machines.services()

    def source_bucket_gone(event: dict[str, Any]) -> None:  # between BeginReindex and the Map's listing
        if event.get("Task") == "BeginReindex":
            s3 = aws.client("s3")
            for key in [*TEXTS, *KETTLE]:
                s3.delete_object(Bucket=DOCS_BUCKET, Key=key)
            s3.delete_bucket(Bucket=DOCS_BUCKET)

    lambda_tasks.faults.append(source_bucket_gone)

    job, execution = reindex_and_wait(services, machines, index_id)

    assert execution["status"] == "FAILED"
    assert job.status is JobStatus.FAILED and "version 1 stays live" in job.message
    assert services.knowledge_bases.get(WS, index_id).index_version == 1
    assert top_document(services, index_id, "tent warranty") == "tent.txt"
    assert not lambda_tasks.tasks("CommitReindex")


def test_writes_during_a_reindex_reach_the_version_being_built(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    """An object created after the reindex listed its source comes in by its S3 event, into both versions."""
    index_id, _ = indexed_handbook(aws, services)
    services = machines.services()
    late_uri = f"s3://{DOCS_BUCKET}/kb/late.txt"

    def object_created_mid_reindex(event: dict[str, Any]) -> None:
        if event.get("Task") == "IndexBatch" and not lambda_tasks.tasks("Late"):
            lambda_tasks.calls.append({"Task": "Late"})
            put_documents(aws, {"kb/late.txt": b"A late arrival: the snow shovel manual."})
            services.on_object_created(late_uri)  # what the EventBridge handler does

    lambda_tasks.faults.append(object_created_mid_reindex)

    job, _ = reindex_and_wait(services, machines, index_id)

    assert job.status is JobStatus.COMPLETED
    after = services.knowledge_bases.get(WS, index_id)
    assert after.index_version == 2
    assert "late.txt" in names_in(services, after.collection)
    assert all(call["Items"][0]["Key"] != "kb/late.txt" for call in lambda_tasks.tasks("IndexBatch"))


def test_one_reindex_at_a_time_and_force_takes_over_from_one_that_died(aws: boto3.Session, services: Services) -> None:
    index_id, kb = indexed_handbook(aws, services)
    knowledge_bases, reindex, jobs = services.knowledge_bases, services.reindex, services.jobs
    reindex.begin_reindex(WS, index_id, "job_dead")  # a reindex whose execution was stopped by hand
    assert names_in(services, kb.collection_for(2)) == []

    with pytest.raises(AlreadyExistsError):
        reindex.reindex(WS, index_id)
    job = reindex.reindex(WS, index_id, force=True)  # in-process: done when it returns

    assert job.status is JobStatus.COMPLETED
    assert jobs.get_job(WS, index_id, "job_dead").status is JobStatus.FAILED
    after = knowledge_bases.get(WS, index_id)
    assert (after.index_version, after.reindex_job_id) == (2, "")
    # The dead job can no longer write into, swap or drop the version it lost.
    with pytest.raises(Exception, match="not being built by job job_dead"):
        jobs.index_batch(WS, index_id, [f"s3://{DOCS_BUCKET}/kb/tent.txt"], version=3, job_id="job_dead")
    reindex.abort_reindex(WS, index_id, "job_dead", "late abort")
    assert knowledge_bases.get(WS, index_id).index_version == 2
    assert "tent.txt" in names_in(services, after.collection)


def test_the_in_process_reindex_swaps_too_and_aborts_on_failure(
    aws: boto3.Session, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_id, _ = indexed_handbook(aws, services)
    knowledge_bases, reindex = services.knowledge_bases, services.reindex

    done = reindex.reindex(WS, index_id)
    assert done.status is JobStatus.COMPLETED
    assert knowledge_bases.get(WS, index_id).index_version == 2
    assert top_document(services, index_id, "descaling vinegar") == "kettle.txt"

    indexer = knowledge_bases._indexer

    def outage(*args: Any, **kwargs: Any) -> Any:
        raise ServiceUnavailableError("the embedder did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(indexer, "index_uris", outage)
        failed = reindex.reindex(WS, index_id)

    assert failed.status is JobStatus.FAILED
    assert failed.message == "Reindex failed (version 2 stays live): the embedder did not answer"
    kb = knowledge_bases.get(WS, index_id)
    assert (kb.index_version, kb.reindex_job_id) == (2, "")
    assert names_in(services, kb.collection_for(3)) == []
    assert top_document(services, index_id, "descaling vinegar") == "kettle.txt"


def test_reindex_needs_a_source_uri_and_deleting_an_index_mid_reindex_drops_both_versions(
    aws: boto3.Session, services: Services
) -> None:
    knowledge_bases, reindex, jobs = services.knowledge_bases, services.reindex, services.jobs
    bare = knowledge_bases.create(WS, name="bare").index_id
    with pytest.raises(InvalidParameterError, match="SourceURI"):
        reindex.reindex(WS, bare)

    index_id, kb = indexed_handbook(aws, services)
    reindex.begin_reindex(WS, index_id, "job_mid")
    jobs.index_batch(WS, index_id, [f"s3://{DOCS_BUCKET}/kb/tent.txt"], version=2, job_id="job_mid")
    assert names_in(services, kb.collection_for(2)) == ["tent.txt"]
    knowledge_bases.delete(WS, index_id)
    assert names_in(services, kb.collection) == names_in(services, kb.collection_for(2)) == []
    # The reindex's own steps then find nothing to swap and record nothing for the deleted index.
    with pytest.raises(Exception, match="deleted during its reindex"):
        reindex.commit_reindex(WS, index_id, "job_mid", [_finished(f"s3://{DOCS_BUCKET}/kb/tent.txt")])
    reindex.abort_reindex(WS, index_id, "job_mid", "its index was deleted")
    assert knowledge_bases.find(WS, index_id) is None


def _finished(uri: str) -> Any:
    from chalicelib.core.ports.catalog import JobDocument

    return JobDocument(document_id(uri), uri.rsplit("/", 1)[-1], "FINISH")
