"""The documented job operations through the Chalice app, on a stage configured with ``SIFT_JOB_RUNNER=stepfunctions``.

The service is built from the environment as a deployed function builds it (``chalicelib.composition.service``); the
state machine's Lambda tasks are served by that same service, as ``run_task`` serves them on AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from chalice.test import Client

from chalicelib.composition import run_task
from chalicelib.workflows import StepFunctionsJobRunner
from tests.api.conftest import REPO_ROOT, Api
from tests.infra.conftest import DOCS_BUCKET, LambdaTasks, Machines, put_documents
from tests.infra.test_batch_index import TEXTS


@pytest.fixture
def api(
    aws: boto3.Session, machines: Machines, lambda_tasks: LambdaTasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    from app import app
    from chalicelib.composition import service

    for name, value in (("SIFT_STAGE", "local"), ("SIFT_BACKEND", "embedded"), ("SIFT_DATA_DIR", str(tmp_path / "app")),
                        ("SIFT_JOB_RUNNER", "stepfunctions"),
                        ("SIFT_BATCH_INDEX_STATE_MACHINE", machines.batch_arn),
                        ("SIFT_REINDEX_STATE_MACHINE", machines.reindex_arn)):
        monkeypatch.setenv(name, value)
    service.cache_clear()
    lambda_tasks.services = service()  # the tasks run on the very services the routes use
    assert isinstance(lambda_tasks.services.jobs._runner, StepFunctionsJobRunner)
    with Client(app, stage_name="local", project_dir=str(REPO_ROOT)) as client:
        yield Api(client, tmp_path / "app", aws.client("s3"))
    service.cache_clear()


def test_a_submitted_job_answers_pending_and_its_status_is_what_the_tasks_wrote(
    aws: boto3.Session, api: Api, machines: Machines
) -> None:
    put_documents(aws, {**TEXTS, "kb/broken.pdf": b"%PDF-1.7 broken"})
    index_id = api.create_index("handbook", SourceURI=f"s3://{DOCS_BUCKET}/kb/")

    submitted = api.submit(index_id, None)

    assert submitted.status == 200, submitted.body
    assert submitted.data["Status"] == "PENDING"
    job_id = submitted.data["Id"]
    assert machines.wait(machines.batch_arn, job_id)["status"] == "SUCCEEDED"
    status = api.job_status(index_id, job_id)
    assert status.status == 200
    assert status.data["Status"] == "PARTIAL"
    documents = {document["DocName"]: document["Status"] for document in status.data["Documents"]}
    assert documents == {"broken.pdf": "FAILED", "lamp.txt": "FINISH", "manual.pdf": "FINISH", "stove.txt": "FINISH",
                         "tent.txt": "FINISH"}
    assert api.nodes(index_id, "tent warranty")[0]["Metadata"]["doc_name"] == "tent.txt"


def test_the_tasks_lambda_entry_point_serves_the_process_services(api: Api) -> None:
    index_id = api.create_index("handbook", SourceURI=f"s3://{DOCS_BUCKET}/kb/")
    target = {"Kind": "knowledge_base", "WorkspaceId": "ws_test", "IndexId": index_id}

    assert run_task({"Task": "StartJob", "JobId": "job_console", "Target": target}) == {
        "JobId": "job_console", "Status": "RUNNING"}
    assert api.job_status(index_id, "job_console").data["Status"] == "RUNNING"
