"""The job record a finished run writes: status, counts, and a document list that fits a DynamoDB item."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.core.errors import InternalError
from chalicelib.core.index_jobs import JOB_DOCUMENTS_BUDGET, finished_job
from chalicelib.core.ports.catalog import Job, JobDocument, JobStatus, KnowledgeBase
from chalicelib.store.dynamodb import DynamoDbCatalog, create_table

RUNNING = Job("job_1", "ws_1", "kb_1", JobStatus.RUNNING, "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z")


def outcomes(indexed: int, failed: int = 0, empty: int = 0, name_length: int = 20) -> list[JobDocument]:
    def document(number: int, status: str, message: str = "") -> JobDocument:
        return JobDocument(f"doc_{number:024d}", f"{number:0{name_length}d}.txt", status, message)

    return (
        [document(number, "FINISH") for number in range(indexed)]
        + [document(indexed + number, "EMPTY", "The file holds no text to index") for number in range(empty)]
        + [document(indexed + empty + number, "FAILED", "The PDF is damaged: xref table not found")
           for number in range(failed)]
    )


@pytest.mark.parametrize(
    ("indexed", "failed", "empty", "status"),
    [
        (3, 0, 0, JobStatus.COMPLETED),
        (0, 0, 0, JobStatus.COMPLETED),  # an empty prefix: nothing failed
        (2, 0, 1, JobStatus.COMPLETED),  # an image without an image index is EMPTY, not a failure
        (2, 1, 0, JobStatus.PARTIAL),
        (0, 2, 1, JobStatus.PARTIAL),
        (0, 3, 0, JobStatus.FAILED),
    ],
)
def test_the_status_says_what_failed(indexed: int, failed: int, empty: int, status: JobStatus) -> None:
    job = finished_job(RUNNING, outcomes(indexed, failed, empty))
    assert job.status is status
    assert dict(job.counts) == {"total": indexed + failed + empty, "indexed": indexed, "empty": empty, "failed": failed}
    assert len(job.documents) == indexed + failed + empty and job.message == ""


def test_a_large_job_lists_only_its_failed_documents() -> None:
    many = outcomes(indexed=5000, failed=3)
    assert len(json.dumps([dataclasses.asdict(item) for item in many])) > JOB_DOCUMENTS_BUDGET

    job = finished_job(RUNNING, many)

    assert job.status is JobStatus.PARTIAL
    assert [document.status for document in job.documents] == ["FAILED"] * 3
    assert dict(job.counts) == {"total": 5003, "indexed": 5000, "empty": 0, "failed": 3}
    assert job.message == "5003 documents: 5000 indexed, 0 empty, 3 failed; only the failed documents are listed."


def test_a_large_job_that_mostly_failed_lists_the_failures_that_fit() -> None:
    job = finished_job(RUNNING, outcomes(indexed=10, failed=5000, name_length=60))

    listed = len(job.documents)
    assert 0 < listed < 5000 and {document.status for document in job.documents} == {"FAILED"}
    assert job.message.endswith(f"only {listed} failed documents are listed.")
    size = len(json.dumps([dataclasses.asdict(document) for document in job.documents]).encode())
    assert size <= JOB_DOCUMENTS_BUDGET


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDbCatalog]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "sift-test-catalog")
        yield DynamoDbCatalog(client, "sift-test-catalog")


def test_the_record_of_a_job_of_ten_thousand_documents_fits_a_dynamodb_item(dynamodb: DynamoDbCatalog) -> None:
    """The reason for the budget: the full list of this job would be refused (400 KB per item)."""
    dynamodb.create_knowledge_base(KnowledgeBase("ws_1", "kb_1", "handbook", "", None, 500, 50, "m", None, "e", "t"))
    many = outcomes(indexed=9990, failed=10, name_length=40)
    with pytest.raises(InternalError, match="Item size has exceeded"):
        dynamodb.put_job(dataclasses.replace(RUNNING, documents=tuple(many)))
    job = finished_job(RUNNING, many)

    dynamodb.put_job(job)

    stored = dynamodb.get_job("ws_1", "kb_1", "job_1")
    assert stored is not None
    assert (stored.status, dict(stored.counts), len(stored.documents)) == (
        JobStatus.PARTIAL, {"total": 10000, "indexed": 9990, "empty": 0, "failed": 10}, 10)
