"""``StepFunctionsJobRunner`` and its wiring: what it starts (under moto, machines that only record their input)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.composition import build_services
from chalicelib.core.errors import InternalError, InvalidParameterError
from chalicelib.core.ports.catalog import Binding, Job, JobStatus, KnowledgeBase
from chalicelib.settings import ConfigurationError, Settings
from chalicelib.workflows import StepFunctionsJobRunner

REGION = "us-east-1"
RECORDING = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def stepfunctions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def runner(stepfunctions: Any) -> StepFunctionsJobRunner:
    role = "arn:aws:iam::123456789012:role/sift-test"
    batch = stepfunctions.create_state_machine(name="batch", definition=RECORDING, roleArn=role)["stateMachineArn"]
    reindex = stepfunctions.create_state_machine(name="reindex", definition=RECORDING, roleArn=role)["stateMachineArn"]
    return StepFunctionsJobRunner(stepfunctions, batch, reindex)


def started(client: Any, machine: str) -> list[tuple[str, dict[str, Any]]]:
    arn = next(item["stateMachineArn"] for item in client.list_state_machines()["stateMachines"]
               if item["name"] == machine)
    executions = client.list_executions(stateMachineArn=arn)["executions"]
    return [(execution["name"], json.loads(client.describe_execution(executionArn=execution["executionArn"])["input"]))
            for execution in executions]


def kb() -> KnowledgeBase:
    return KnowledgeBase("ws_1", "kb_1", "handbook", "", "s3://docs/kb/", 500, 50, "qwen3-rerank-hybrid", None,
                         "sift/hashing-256", "2026-01-01T00:00:00.000Z")


def job(job_id: str = "job_0123456789ab") -> Job:
    return Job(job_id, "ws_1", "kb_1", JobStatus.PENDING, "t", "t")


def test_one_s3_source_uri_is_listed_by_the_state_machine(stepfunctions: Any, runner: StepFunctionsJobRunner) -> None:
    runner.start(job(), kb(), ["s3://docs/kb/"], ["s3://docs/kb/a.txt", "s3://docs/kb/b.txt"])

    assert started(stepfunctions, "batch") == [("job_0123456789ab", {
        "JobId": "job_0123456789ab",
        "Target": {"Kind": "knowledge_base", "WorkspaceId": "ws_1", "IndexId": "kb_1"},
        "Bucket": "docs",
        "Prefix": "kb/",
    })]


def test_several_source_uris_carry_their_objects_and_too_many_are_refused(
    stepfunctions: Any, runner: StepFunctionsJobRunner
) -> None:
    runner.start(job(), kb(), ["s3://docs/a.txt", "s3://other/b/"], ["s3://docs/a.txt", "s3://other/b/c.txt"])
    ((_, execution_input),) = started(stepfunctions, "batch")
    assert execution_input["Items"] == [{"Uri": "s3://docs/a.txt"}, {"Uri": "s3://other/b/c.txt"}]
    assert "Bucket" not in execution_input

    many = [f"s3://docs/{'x' * 100}/{number}.txt" for number in range(3000)]
    with pytest.raises(InvalidParameterError, match="submit one job per prefix"):
        runner.start(job("job_2"), kb(), ["s3://docs/a/", "s3://docs/b/"], many)


def test_a_reindex_and_a_binding_start_their_machines(stepfunctions: Any, runner: StepFunctionsJobRunner) -> None:
    runner.start_reindex(job("job_r"), kb())
    runner.start_binding("job_b", Binding("travel", "photos", "s3://docs/photos/", "Running", "t", "t"))

    assert started(stepfunctions, "reindex") == [("job_r", {"JobId": "job_r", "WorkspaceId": "ws_1",
                                                            "IndexId": "kb_1"})]
    assert started(stepfunctions, "batch") == [("job_b", {
        "JobId": "job_b",
        "Target": {"Kind": "dataset", "ProjectName": "travel", "DatasetName": "photos",
                   "BindingURI": "s3://docs/photos/"},
        "Bucket": "docs",
        "Prefix": "photos/",
    })]
    with pytest.raises(InvalidParameterError, match="S3 prefixes"):
        runner.start_binding("job_c", Binding("travel", "photos", "file:///data/", "Running", "t", "t"))


def test_starting_the_same_job_twice_or_an_unknown_machine_is_an_error(
    stepfunctions: Any, runner: StepFunctionsJobRunner
) -> None:
    runner.start_reindex(job("job_r"), kb())
    with pytest.raises(InternalError, match="ExecutionAlreadyExists"):  # the execution's name is the job id
        runner.start_reindex(job("job_r"), replace(kb(), index_id="kb_2"))
    missing = StepFunctionsJobRunner(stepfunctions, "arn:aws:states:us-east-1:123456789012:stateMachine:gone", "")
    with pytest.raises(InternalError, match="SIFT_BATCH_INDEX_STATE_MACHINE"):
        missing.start(job(), kb(), ["s3://docs/kb/"], [])
    with pytest.raises(InternalError, match="SIFT_REINDEX_STATE_MACHINE"):
        missing.start_reindex(job(), kb())


def test_settings_choose_the_runner_and_need_both_machines() -> None:
    assert Settings.from_environment({}).job_runner == "inprocess"
    arns = {"SIFT_BATCH_INDEX_STATE_MACHINE": "arn:aws:states:us-east-1:1:stateMachine:b",
            "SIFT_REINDEX_STATE_MACHINE": "arn:aws:states:us-east-1:1:stateMachine:r"}
    settings = Settings.from_environment({"SIFT_JOB_RUNNER": "stepfunctions", **arns})
    assert (settings.job_runner, settings.batch_index_state_machine, settings.reindex_state_machine) == (
        "stepfunctions", arns["SIFT_BATCH_INDEX_STATE_MACHINE"], arns["SIFT_REINDEX_STATE_MACHINE"])
    with pytest.raises(ConfigurationError, match="SIFT_REINDEX_STATE_MACHINE"):
        Settings.from_environment({"SIFT_JOB_RUNNER": "stepfunctions",
                                   "SIFT_BATCH_INDEX_STATE_MACHINE": arns["SIFT_BATCH_INDEX_STATE_MACHINE"]})
    with pytest.raises(ConfigurationError, match="SIFT_JOB_RUNNER"):
        Settings.from_environment({"SIFT_JOB_RUNNER": "lambda"})


def test_composition_wires_the_runner_into_every_service_through_its_constructor(
    stepfunctions: Any, tmp_path: Path
) -> None:
    base = Settings(stage="local", data_dir=tmp_path, embedder="hashing", embedding_cache=None)
    local = build_services(base)
    assert not isinstance(local.jobs._runner, StepFunctionsJobRunner)  # the jobs' own in-process runner
    assert not isinstance(local.reindex._runner, StepFunctionsJobRunner)
    assert local.media._job_runner is None
    assert local.reindex._catalog is local.knowledge_bases._catalog  # the reindex swaps with the stage's catalog

    deployed = build_services(replace(base, job_runner="stepfunctions",
                                      batch_index_state_machine="arn:aws:states:us-east-1:1:stateMachine:b",
                                      reindex_state_machine="arn:aws:states:us-east-1:1:stateMachine:r"))
    assert isinstance(deployed.jobs._runner, StepFunctionsJobRunner)
    assert deployed.reindex._runner is deployed.jobs._runner is deployed.media._job_runner


def test_a_job_the_runner_cannot_start_is_recorded_failed(stepfunctions: Any, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="docs")
    s3.put_object(Bucket="docs", Key="kb/a.txt", Body=b"alpha")
    gone = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    services = build_services(Settings(stage="local", data_dir=tmp_path, embedder="hashing", embedding_cache=None,
                                       job_runner="stepfunctions", batch_index_state_machine=gone,
                                       reindex_state_machine=gone))
    index_id = services.knowledge_bases.create("ws_1", name="handbook", source_uri="s3://docs/kb/").index_id

    with pytest.raises(InternalError):
        services.jobs.submit_job("ws_1", index_id, None)
    with pytest.raises(InternalError):
        services.reindex.reindex("ws_1", index_id)

    catalog = services.knowledge_bases._catalog
    jobs = catalog._execute("SELECT body FROM jobs")  # type: ignore[attr-defined]
    assert [json.loads(row[0])["status"] for row in jobs] == ["FAILED", "FAILED"]
    assert all("could not be started" in json.loads(row[0])["message"] for row in jobs)
