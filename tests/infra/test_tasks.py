"""Each task handler on its own: ``handle_task(services, event)`` with the events the definitions build."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.core.errors import NotFoundError
from chalicelib.core.index_jobs import ReindexIncompleteError
from chalicelib.core.indexing import document_id
from chalicelib.core.ports.catalog import JobStatus
from chalicelib.core.services import Services
from chalicelib.workflows import TASKS, handle_task
from chalicelib.workflows.batches import S3ResultReader, batch_uris, collect_results, failure_message
from tests.infra.conftest import DOCS_BUCKET, RESULTS_BUCKET, WS, put_documents
from tests.infra.test_batch_index import TEXTS, knowledge_base


def kb_target(index_id: str, **extra: Any) -> dict[str, Any]:
    return {"Kind": "knowledge_base", "WorkspaceId": WS, "IndexId": index_id, **extra}


def items(*keys: str) -> list[dict[str, Any]]:
    return [{"Key": key, "Size": 1, "ETag": '"x"', "LastModified": "2026-01-01T00:00:00+00:00"} for key in keys]


@pytest.fixture
def handbook(aws: boto3.Session, services: Services) -> str:
    put_documents(aws, {**TEXTS, "kb/broken.pdf": b"%PDF-1.7 not really"})
    return knowledge_base(services)


def test_every_task_of_the_definitions_has_a_handler() -> None:
    assert set(TASKS) == {"StartJob", "IndexBatch", "RecordBatchFailure", "FinishJob", "BeginReindex",
                          "CommitReindex", "AbortReindex"}


def test_an_unknown_task_or_a_malformed_event_is_an_error(services: Services) -> None:
    with pytest.raises(ValueError, match="unknown task 'Nope'"):
        handle_task(services, {"Task": "Nope"})
    with pytest.raises(TypeError):
        handle_task(services, ["StartJob"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JobId"):
        handle_task(services, {"Task": "StartJob", "Target": kb_target("kb_x")})
    with pytest.raises(ValueError, match="Target.Kind"):
        handle_task(services, {"Task": "StartJob", "JobId": "job_1", "Target": {"Kind": "bucket"}})


def test_start_job_marks_the_job_running_even_one_started_by_hand(services: Services, handbook: str) -> None:
    answer = handle_task(services, {"Task": "StartJob", "JobId": "job_console", "Target": kb_target(handbook)})
    assert answer == {"JobId": "job_console", "Status": "RUNNING"}
    assert services.jobs.get_job(WS, handbook, "job_console").status is JobStatus.RUNNING
    with pytest.raises(NotFoundError):
        handle_task(services, {"Task": "StartJob", "JobId": "j", "Target": {
            "Kind": "dataset", "ProjectName": "nope", "DatasetName": "nope", "BindingURI": "s3://b/"}})


def test_index_batch_indexes_a_whole_batch_and_reports_each_document(services: Services, handbook: str) -> None:
    event = {"Task": "IndexBatch", "JobId": "job_1", "Target": kb_target(handbook), "Bucket": DOCS_BUCKET,
             "Items": items("kb/", "kb/tent.txt", "kb/tent.txt.metadata.json", "kb/broken.pdf", "kb/stove.txt")}

    result = handle_task(services, event)

    assert [document["Name"] for document in result["Documents"]] == ["tent.txt", "broken.pdf", "stove.txt"]
    assert [document["Status"] for document in result["Documents"]] == ["FINISH", "FAILED", "FINISH"]
    assert result["Documents"][0]["DocId"] == document_id(f"s3://{DOCS_BUCKET}/kb/tent.txt")
    assert "Message" not in result["Documents"][0] and result["Documents"][1]["Message"]
    assert result["Counts"] == {"total": 3, "indexed": 2, "empty": 0, "failed": 1}
    assert result["FailedBatches"] == 0
    json.dumps(result)  # what the Lambda returns must be JSON


def test_batch_items_may_be_uris_and_keys_need_their_bucket() -> None:
    assert batch_uris({"Items": [{"Uri": "s3://a/x.txt"}, {"Uri": "s3://b/y/"}]}) == ["s3://a/x.txt"]
    with pytest.raises(ValueError, match="Bucket"):
        batch_uris({"Items": [{"Key": "x.txt"}], "Bucket": ""})
    with pytest.raises(ValueError, match="Key or a Uri"):
        batch_uris({"Items": [{"Size": 3}]})


def test_record_batch_failure_fails_every_document_without_touching_the_index(
    services: Services, handbook: str
) -> None:
    tent = f"s3://{DOCS_BUCKET}/kb/tent.txt"
    services.jobs.index_batch(WS, handbook, [tent])  # indexed before the outage
    cause = json.dumps({"errorMessage": "Bedrock is throttling", "errorType": "ThrottlingError", "stackTrace": []})
    event = {"Task": "RecordBatchFailure", "JobId": "job_1", "Target": kb_target(handbook), "Bucket": DOCS_BUCKET,
             "Items": items("kb/tent.txt", "kb/lamp.txt"), "Error": {"Error": "ThrottlingError", "Cause": cause}}

    result = handle_task(services, event)

    assert result["FailedBatches"] == 1
    assert result["Counts"] == {"total": 2, "indexed": 0, "empty": 0, "failed": 2}
    assert {document["Message"] for document in result["Documents"]} == {
        "The batch could not be indexed: ThrottlingError: Bedrock is throttling"
    }
    kb = services.knowledge_bases.get(WS, handbook)
    stored = services.knowledge_bases._backend.get_document(kb.collection, document_id(tent))
    assert stored is not None and stored.status.value == "FINISH"  # the good version stays searchable


def test_failure_messages_read_a_lambda_cause_and_keep_anything_else() -> None:
    assert failure_message({"Error": "States.Timeout", "Cause": "Task timed out"}) == "States.Timeout: Task timed out"
    assert failure_message({"Error": "Lambda.Unknown"}) == "Lambda.Unknown"
    assert failure_message({"Error": "X", "Cause": "{not json"}) == "X: {not json"
    assert failure_message(None) == "unknown error"
    assert len(failure_message({"Error": "E", "Cause": "x" * 5000})) == 500


def test_finish_job_counts_inline_results_into_the_job_record(services: Services, handbook: str) -> None:
    services.jobs.start_job(WS, handbook, "job_1")
    indexed = handle_task(services, {"Task": "IndexBatch", "JobId": "job_1", "Target": kb_target(handbook),
                                     "Bucket": DOCS_BUCKET, "Items": items("kb/tent.txt", "kb/broken.pdf")})
    failed = handle_task(services, {"Task": "RecordBatchFailure", "JobId": "job_1", "Target": kb_target(handbook),
                                    "Bucket": DOCS_BUCKET, "Items": items("kb/lamp.txt"),
                                    "Error": {"Error": "States.Timeout", "Cause": ""}})

    answer = handle_task(services, {"Task": "FinishJob", "JobId": "job_1", "Target": kb_target(handbook),
                                    "Results": [indexed, failed]})

    assert answer == {"JobId": "job_1", "Status": "PARTIAL",
                      "Counts": {"total": 3, "indexed": 1, "empty": 0, "failed": 2}}
    job = services.jobs.get_job(WS, handbook, "job_1")
    assert [(document.name, document.status) for document in job.documents] == [
        ("tent.txt", "FINISH"), ("broken.pdf", "FAILED"), ("lamp.txt", "FAILED")]
    assert job.message == "1 batch(es) could not be indexed."


def test_finish_job_with_the_run_s_error_fails_the_job(services: Services, handbook: str) -> None:
    services.jobs.start_job(WS, handbook, "job_1")
    error = {"Error": "S3.NoSuchBucket", "Cause": "The specified bucket does not exist"}
    answer = handle_task(services, {"Task": "FinishJob", "JobId": "job_1", "Target": kb_target(handbook),
                                    "Error": error})
    assert answer == {"JobId": "job_1", "Status": "FAILED"}
    job = services.jobs.get_job(WS, handbook, "job_1")
    assert (job.status, job.message) == (
        JobStatus.FAILED, "Indexing failed: S3.NoSuchBucket: The specified bucket does not exist")


def test_results_exported_by_a_result_writer_are_read_from_s3(aws: boto3.Session) -> None:
    """The deployed Map exports its results (moto writes an empty manifest, so this is its test): the manifest,
    then each SUCCEEDED file's child executions, whose Output is a JSON string; a FAILED child's documents fail."""
    s3 = aws.client("s3")
    ok = {"Documents": [{"DocId": "doc_a", "Name": "a.txt", "Status": "FINISH"}], "Counts": {}, "FailedBatches": 0}
    caught = {"Documents": [{"DocId": "doc_b", "Name": "b.txt", "Status": "FAILED", "Message": "boom"}],
              "Counts": {}, "FailedBatches": 1}
    succeeded = [
        {"ExecutionArn": "arn:aws:states:us-east-1:1:execution:m/IndexPrefix:1", "Input": "{}",
         "InputDetails": {"Included": True}, "Name": "1", "Output": json.dumps(ok),
         "OutputDetails": {"Included": True}, "Status": "SUCCEEDED"},
        {"ExecutionArn": "arn:aws:states:us-east-1:1:execution:m/IndexPrefix:2", "Input": "{}", "Name": "2",
         "Output": json.dumps(caught), "Status": "SUCCEEDED"},
    ]
    child_input = {"Items": [{"Key": "kb/c.txt"}], "BatchInput": {"JobId": "job_1", "Bucket": DOCS_BUCKET}}
    failed = [{"ExecutionArn": "arn:aws:states:us-east-1:1:execution:m/IndexPrefix:3", "Name": "3",
               "Input": json.dumps(child_input), "Status": "FAILED", "Error": "Lambda.Unknown", "Cause": "gone"}]
    prefix = "batch-index/2b1c"
    s3.put_object(Bucket=RESULTS_BUCKET, Key=f"{prefix}/SUCCEEDED_0.json", Body=json.dumps(succeeded))
    s3.put_object(Bucket=RESULTS_BUCKET, Key=f"{prefix}/FAILED_0.json", Body=json.dumps(failed))
    manifest = {"DestinationBucket": RESULTS_BUCKET, "MapRunArn": "arn:aws:states:us-east-1:1:mapRun:m/IndexPrefix:2b1c",
                "ResultFiles": {"FAILED": [{"Key": f"{prefix}/FAILED_0.json", "Size": 1}], "PENDING": [],
                                "SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json", "Size": 1}]}}
    s3.put_object(Bucket=RESULTS_BUCKET, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest))
    details = {"MapRunArn": manifest["MapRunArn"],
               "ResultWriterDetails": {"Bucket": RESULTS_BUCKET, "Key": f"{prefix}/manifest.json"}}

    collected = collect_results(details, S3ResultReader(s3))

    assert [(document.name, document.status) for document in collected.documents] == [
        ("a.txt", "FINISH"), ("b.txt", "FAILED"), ("c.txt", "FAILED")]
    assert collected.documents[2].message == "The batch could not be indexed: Lambda.Unknown: gone"
    assert collected.failed_batches == 2
    with pytest.raises(ValueError, match="no reader"):
        collect_results(details, None)


def test_begin_and_commit_reindex_through_their_events(services: Services, handbook: str) -> None:
    begun = handle_task(services, {"Task": "BeginReindex", "JobId": "job_r", "WorkspaceId": WS, "IndexId": handbook})
    assert begun == {"Target": kb_target(handbook, IndexVersion=2), "Bucket": DOCS_BUCKET, "Prefix": "kb/",
                     "Version": 2}
    # Begin is safe to repeat (a retried task): the same job keeps its claim.
    assert handle_task(services, {"Task": "BeginReindex", "JobId": "job_r", "WorkspaceId": WS,
                                  "IndexId": handbook}) == begun
    with pytest.raises(Exception, match="reindex job"):
        handle_task(services, {"Task": "BeginReindex", "JobId": "job_other", "WorkspaceId": WS, "IndexId": handbook})
    batch = handle_task(services, {"Task": "IndexBatch", "JobId": "job_r", "Target": begun["Target"],
                                   "Bucket": DOCS_BUCKET, "Items": items("kb/tent.txt")})
    with pytest.raises(ReindexIncompleteError):
        handle_task(services, {"Task": "CommitReindex", "JobId": "job_r", "Target": begun["Target"],
                               "Results": [batch, {"Documents": [], "FailedBatches": 1}]})
    committed = handle_task(services, {"Task": "CommitReindex", "JobId": "job_r", "Target": begun["Target"],
                                       "Results": [batch]})
    assert committed == {"JobId": "job_r", "Status": "COMPLETED", "Version": 2,
                         "Counts": {"total": 1, "indexed": 1, "empty": 0, "failed": 0}}
    assert services.knowledge_bases.get(WS, handbook).index_version == 2


def test_commit_refuses_a_version_where_nothing_was_indexed(services: Services, handbook: str) -> None:
    target = handle_task(services, {"Task": "BeginReindex", "JobId": "job_r", "WorkspaceId": WS,
                                    "IndexId": handbook})["Target"]
    broken = handle_task(services, {"Task": "IndexBatch", "JobId": "job_r", "Target": target, "Bucket": DOCS_BUCKET,
                                    "Items": items("kb/broken.pdf")})
    for results in ([], [broken]):
        with pytest.raises(ReindexIncompleteError):
            handle_task(services, {"Task": "CommitReindex", "JobId": "job_r", "Target": target, "Results": results})
    aborted = handle_task(services, {"Task": "AbortReindex", "JobId": "job_r", "WorkspaceId": WS,
                                     "IndexId": handbook, "Error": {"Error": "ReindexIncompleteError",
                                                                    "Cause": "no document could be indexed"}})
    assert aborted == {"JobId": "job_r", "Status": "FAILED"}
    kb = services.knowledge_bases.get(WS, handbook)
    assert (kb.index_version, kb.reindex_job_id) == (1, "")
