"""infra/batch_index.asl.json executed by moto: jobs started through the service, tasks served by the real handlers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.core.errors import ThrottlingError
from chalicelib.core.ports.catalog import Job, JobStatus
from chalicelib.core.retrieval import RetrievalQuery
from chalicelib.core.services import Services
from tests.fixtures.pdf import make_pdf
from tests.infra.conftest import DOCS_BUCKET, WS, LambdaTasks, LambdaThrottled, Machines, put_documents

TEXTS = {
    "kb/stove.txt": b"The Kettle stove boils a litre of water in three minutes.",
    "kb/tent.txt": b"Trailhead tent warranty: the Trailhead 2P tent has a lifetime warranty on poles and fabric.",
    "kb/lamp.txt": b"The Glow lamp runs for forty hours on one charge.",
    "kb/manual.pdf": make_pdf([["Boots care manual", "Wax the leather boots every season."]]),
}


def knowledge_base(services: Services, source: str = f"s3://{DOCS_BUCKET}/kb/") -> str:
    return services.knowledge_bases.create(WS, name="handbook", source_uri=source).index_id


def submit_and_wait(services: Services, machines: Machines, index_id: str, uris: list[str] | None = None) -> Job:
    submitted = services.jobs.submit_job(WS, index_id, uris)
    assert submitted.status is JobStatus.PENDING  # the request answers before any task ran
    machines.wait(machines.batch_arn, submitted.job_id)
    return services.jobs.get_job(WS, index_id, submitted.job_id)


def binding_state(services: Services, uri: str) -> tuple[str, str]:
    catalog = services.media._catalog  # the service has no read of a single binding; the catalog does
    binding = catalog.get_binding("travel", uri.rstrip("/").rsplit("/", 1)[-1], uri)
    assert binding is not None
    return binding.state, binding.reason


def top_document(services: Services, index_id: str, text: str) -> str:
    result = services.knowledge_bases.retrieve(WS, index_id, RetrievalQuery(text, top_n=1), request_id="r")
    return str(result.chunks[0].chunk.metadata["doc_name"])


def test_a_prefix_of_documents_completes_with_counts_and_is_retrievable(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    # Folder markers and sidecars are listed by S3 but are not documents; the sidecar's metadata reaches its document.
    put_documents(aws, {**TEXTS, "kb/": b"", "kb/tent.txt.metadata.json": b'{"metadataAttributes": {"year": 2024}}'})
    index_id = knowledge_base(services)
    services = machines.services()

    job = submit_and_wait(services, machines, index_id)

    assert job.status is JobStatus.COMPLETED, job.message
    assert dict(job.counts) == {"total": 4, "indexed": 4, "empty": 0, "failed": 0}
    assert sorted(document.name for document in job.documents) == ["lamp.txt", "manual.pdf", "stove.txt", "tent.txt"]
    assert {document.status for document in job.documents} == {"FINISH"}
    assert top_document(services, index_id, "tent warranty") == "tent.txt"
    assert top_document(services, index_id, "wax leather boots") == "manual.pdf"
    tent = services.knowledge_bases.retrieve(WS, index_id, RetrievalQuery("tent warranty", top_n=1), request_id="r")
    assert tent.chunks[0].chunk.metadata["year"] == 2024
    # The tasks ran in the order of the definition: start, the batches, finish.
    names = [call["Task"] for call in lambda_tasks.calls]
    assert names[0] == "StartJob" and names[-1] == "FinishJob"
    assert sorted(names[1:-1]) == ["IndexBatch"] * 6  # one per listed object under moto (no ItemBatcher there)


def test_a_corrupt_document_makes_the_job_partial_and_the_rest_is_indexed(
    aws: boto3.Session, services: Services, machines: Machines
) -> None:
    put_documents(aws, {**TEXTS, "kb/broken.pdf": b"%PDF-1.7\n this is not a pdf at all"})
    index_id = knowledge_base(services)
    services = machines.services()

    job = submit_and_wait(services, machines, index_id)

    assert job.status is JobStatus.PARTIAL
    assert dict(job.counts) == {"total": 5, "indexed": 4, "empty": 0, "failed": 1}
    broken = next(document for document in job.documents if document.name == "broken.pdf")
    assert broken.status == "FAILED" and broken.message
    assert top_document(services, index_id, "tent warranty") == "tent.txt"


@pytest.mark.parametrize(
    "fault",
    [
        LambdaThrottled(),  # the Lambda service refusing the call: Step Functions names it Lambda.TooManyRequestsException
        ThrottlingError("Bedrock is throttling"),  # the function's own dependency throttling: errorType ThrottlingError
    ],
    ids=["lambda-429", "ThrottlingError"],
)
def test_a_throttled_batch_is_retried_with_backoff_and_the_job_still_completes(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks, retry_sleeps: list[float],
    fault: Exception,
) -> None:
    put_documents(aws, TEXTS)
    index_id = knowledge_base(services)
    services = machines.services()
    throttled: list[dict[str, Any]] = []

    def throttle_the_first_batch(event: dict[str, Any]) -> None:
        if event.get("Task") == "IndexBatch" and not throttled:
            throttled.append(event)
            raise fault

    lambda_tasks.faults.append(throttle_the_first_batch)

    job = submit_and_wait(services, machines, index_id)

    assert job.status is JobStatus.COMPLETED, job.message
    assert job.counts["indexed"] == 4
    assert not lambda_tasks.tasks("RecordBatchFailure")  # the Retry matched the error's name, the Catch never ran
    retried = [call for call in lambda_tasks.tasks("IndexBatch") if call["Items"] == throttled[0]["Items"]]
    assert len(retried) == 2  # the throttled call and its retry
    # One retry, after a wait drawn from the first backoff interval (IntervalSeconds 2, JitterStrategy FULL).
    assert len(retry_sleeps) == 1 and 0 <= retry_sleeps[0] <= 2


def test_an_error_that_is_not_throttling_is_not_retried_but_caught(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks, retry_sleeps: list[float]
) -> None:
    """The control of the test above: Retry goes by the error's name, and a bug is not worth six attempts."""
    put_documents(aws, TEXTS)
    index_id = knowledge_base(services)
    services = machines.services()

    def tent_batch_has_a_bug(event: dict[str, Any]) -> None:
        if event.get("Task") == "IndexBatch" and any("tent" in item["Key"] for item in event["Items"]):
            raise KeyError("Metadata")

    lambda_tasks.faults.append(tent_batch_has_a_bug)

    job = submit_and_wait(services, machines, index_id)

    assert job.status is JobStatus.PARTIAL
    assert retry_sleeps == []
    tent = next(document for document in job.documents if document.name == "tent.txt")
    assert tent.message == "The batch could not be indexed: KeyError: 'Metadata'"


def test_a_batch_failing_for_good_is_recorded_failed_and_the_run_goes_on(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks, retry_sleeps: list[float]
) -> None:
    put_documents(aws, TEXTS)
    index_id = knowledge_base(services)
    services = machines.services()

    def lamp_batch_always_throttled(event: dict[str, Any]) -> None:
        if event.get("Task") == "IndexBatch" and any("lamp" in item["Key"] for item in event["Items"]):
            raise ThrottlingError("Bedrock is throttling")

    lambda_tasks.faults.append(lamp_batch_always_throttled)

    job = submit_and_wait(services, machines, index_id)

    assert job.status is JobStatus.PARTIAL
    assert dict(job.counts) == {"total": 4, "indexed": 3, "empty": 0, "failed": 1}
    lamp = next(document for document in job.documents if document.name == "lamp.txt")
    assert lamp.message == "The batch could not be indexed: ThrottlingError: Bedrock is throttling"
    assert "1 batch(es) could not be indexed" in job.message
    # MaxAttempts 6: six retries, their backoff growing (each wait drawn from 2, 4, 8, 16, 32, then 60 = the cap).
    assert len(retry_sleeps) == 6
    assert all(0 <= wait <= cap for wait, cap in zip(retry_sleeps, [2, 4, 8, 16, 32, 60]))
    assert len(lambda_tasks.tasks("RecordBatchFailure")) == 1


def test_a_prefix_that_cannot_be_listed_fails_the_job_with_the_reason(
    aws: boto3.Session, services: Services, machines: Machines
) -> None:
    put_documents(aws, TEXTS)
    index_id = knowledge_base(services)
    services = machines.services()
    aws.client("s3").create_bucket(Bucket="sift-infra-gone")
    put_documents(aws, {"x/a.txt": b"soon gone"}, bucket="sift-infra-gone")
    submitted = services.jobs.submit_job(WS, index_id, ["s3://sift-infra-gone/x/"])
    s3 = aws.client("s3")
    s3.delete_object(Bucket="sift-infra-gone", Key="x/a.txt")
    s3.delete_bucket(Bucket="sift-infra-gone")  # gone between the submission and the listing

    execution = machines.wait(machines.batch_arn, submitted.job_id)

    assert execution["status"] == "FAILED" and execution["error"] == "IndexingJobFailed"
    job = services.jobs.get_job(WS, index_id, submitted.job_id)
    assert job.status is JobStatus.FAILED
    assert job.message.startswith("Indexing failed: ")


def test_several_source_uris_travel_as_items_and_are_indexed_in_batches(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    put_documents(aws, {**TEXTS, "more/kettle.txt": b"Kettle descaling: vinegar, then rinse twice."})
    index_id = knowledge_base(services)
    services = machines.services()

    job = submit_and_wait(
        services, machines, index_id, [f"s3://{DOCS_BUCKET}/kb/tent.txt", f"s3://{DOCS_BUCKET}/more/"]
    )

    assert job.status is JobStatus.COMPLETED
    assert sorted(document.name for document in job.documents) == ["kettle.txt", "tent.txt"]
    assert all("Uri" in item for call in lambda_tasks.tasks("IndexBatch") for item in call["Items"])
    assert top_document(services, index_id, "descaling vinegar") == "kettle.txt"


def test_a_binding_indexes_its_prefix_into_the_dataset_through_the_same_machine(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    put_documents(aws, {"photos/lake.txt": b"West Lake at dawn", "photos/ticket.txt": b"Museum admission ticket"})
    media = services.media
    media.create_project("travel")
    dataset = media.create_dataset("travel", "photos")
    services = machines.services()
    media = services.media

    binding = media.create_binding("travel", "photos", f"s3://{DOCS_BUCKET}/photos/")
    assert binding.state == "Running"
    (execution,) = machines.wait_all(machines.batch_arn)

    assert execution["status"] == "SUCCEEDED"
    assert lambda_tasks.calls[0]["Target"] == {
        "Kind": "dataset", "ProjectName": "travel", "DatasetName": "photos", "BindingURI": binding.uri,
    }
    stored = media.get_file(dataset, f"s3://{DOCS_BUCKET}/photos/ticket.txt")
    assert stored.record.status.value == "FINISH"
    assert media.file_count(dataset) == 2
    assert binding_state(services, binding.uri) == ("Running", "")


def test_a_binding_whose_files_all_fail_is_marked_failed_with_the_reason(
    aws: boto3.Session, services: Services, machines: Machines, lambda_tasks: LambdaTasks
) -> None:
    # A dataset indexes an unreadable file by its metadata, so only batches that fail for good fail its files.
    put_documents(aws, {"broken/a.txt": b"first", "broken/b.txt": b"second"})
    services.media.create_project("travel")
    services.media.create_dataset("travel", "broken")
    services = machines.services()

    def every_batch_has_a_bug(event: dict[str, Any]) -> None:
        if event.get("Task") == "IndexBatch":
            raise KeyError("URI")

    lambda_tasks.faults.append(every_batch_has_a_bug)

    binding = services.media.create_binding("travel", "broken", f"s3://{DOCS_BUCKET}/broken/")
    machines.wait_all(machines.batch_arn)

    assert binding_state(services, binding.uri) == (
        "Failed", "None of the 2 files could be indexed; the first: The batch could not be indexed: KeyError: 'URI'"
    )
