"""Observability (``chalicelib.observability``) as ``invoke`` drives it: JSON logs, EMF metrics, tracing.

The requests run through ``invoke`` on a ``local`` service in the test's tmp directory (hashing embedder). What is
printed is read back from the captured stdout: every line must be JSON, and the caller's text must never be there.
The Lambda case (tracing on, a fake X-Ray daemon, the chalicelib loggers routed through the JSON handler) runs in a
subprocess, since X-Ray's patching of botocore cannot be undone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import app  # noqa: F401 - as on Lambda: Chalice(app_name="sift") has configured the "sift" logger first
from chalicelib import observability
from chalicelib.api.operations import BY_NAME, Response, invoke
from chalicelib.composition import service
from chalicelib.core.services import Services
from chalicelib.core.telemetry import record_stage_timings

ROOT = Path(__file__).resolve().parents[2]
WS = "ws_obs"
DOC_MARKER = "Zqxdocsecret"  # in a document's text and a file's metadata
QUERY_MARKER = "Zqxquerysecret"  # in queries, conversations and parameter values
_ENVIRONMENT = (
    "AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT", "AWS_CHALICE_CLI_MODE", "AWS_SAM_LOCAL", "_X_AMZN_TRACE_ID",
    "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_DEV",
    "POWERTOOLS_LOG_LEVEL",
)


@pytest.fixture
def observed(sift_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Outside Lambda, request lines logged (INFO), metrics at their default (off); rebuilt for the test."""
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    observability.reset()
    yield monkeypatch
    observability.reset()


@pytest.fixture
def metrics_on(observed: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    observed.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    return observed


def call(name: str, body: dict[str, Any], **options: Any) -> Response:
    """``name`` through ``invoke`` as a direct invocation would run it (the IMM family ignores the WorkspaceId)."""
    return invoke(service, BY_NAME[name], path_params={"WorkspaceId": WS}, body=json.dumps(body).encode(), **options)


def stdout_lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str]:
    """Every printed line, parsed (each must be JSON), and everything printed on stdout and stderr."""
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return lines, captured.out + captured.err


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == "request"]


def emf(lines: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, str], float]]:
    """(namespace, metric, dimensions, value) of every EMF blob printed."""
    found = []
    for line in lines:
        if "_aws" not in line:
            continue
        for directive in line["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: line[name] for dimension_set in directive["Dimensions"] for name in dimension_set}
            for metric in directive["Metrics"]:
                for value in line[metric["Name"]]:
                    found.append((directive["Namespace"], metric["Name"], dimensions, value))
    return found


def knowledge_base_with_documents(tmp_path: Path) -> tuple[str, Response]:
    """An index and a job over three files: one indexed, one empty, one broken."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "good.txt").write_text(f"{DOC_MARKER} the lighthouse keeper logs the tides every night.\n")
    (source / "empty.txt").write_text("")
    (source / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    index_id = call("CreateIndex", {"Name": "kb"}).body["Data"]["Id"]
    return index_id, call("SubmitIndexAddDocumentsJob", {"IndexId": index_id, "SourceURIs": [str(source)]})


def media_dataset() -> Response:
    in_dataset = {"ProjectName": "obs", "DatasetName": "photos"}
    assert call("CreateProject", {"ProjectName": "obs"}).status == 200
    assert call("CreateDataset", in_dataset).status == 200
    return call("IndexFileMeta", {**in_dataset, "File": {
        "URI": "s3://sift-media/photos/lighthouse.jpg", "Title": f"{DOC_MARKER} lighthouse",
        "OCRTexts": f"{DOC_MARKER} tide table", "Labels": [{"LabelName": "lighthouse"}],
    }})


# --- logs -------------------------------------------------------------------------------------------------------------


def test_one_json_line_per_request_with_its_request_id_and_never_the_callers_text(
    observed: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the EMF lines must not carry content either
    index_id, submitted = knowledge_base_with_documents(tmp_path)
    responses = [submitted]
    responses.append(call("Retrieve", {"IndexId": index_id, "Query": f"{QUERY_MARKER} lighthouse tides",
                                       "QueryHistory": [{"role": "user", "content": QUERY_MARKER}],
                                       "EnableRewrite": True, "SaveRetrieverHistory": True}))
    responses.append(call("Retrieve", {"IndexId": "missing", "Query": QUERY_MARKER}))
    responses.append(call("Retrieve", {"IndexId": index_id, "Query": "tides", "DenseSimilarityTopK": QUERY_MARKER}))
    responses.append(media_dataset())
    in_dataset = {"ProjectName": "obs", "DatasetName": "photos"}
    responses.append(call("SemanticQuery", {**in_dataset, "Query": f"{QUERY_MARKER} lighthouse"}))
    responses.append(call("ContextualRetrieval", {**in_dataset, "Messages": [
        {"Role": "user", "Content": f"{QUERY_MARKER} where is the lighthouse?"}]}))
    assert [response.status for response in responses] == [200, 200, 404, 400, 200, 200, 200]

    lines, printed = stdout_lines(capsys)
    assert QUERY_MARKER.lower() not in printed.lower() and DOC_MARKER.lower() not in printed.lower()
    logged = request_lines(lines)
    assert [line["operation"] for line in logged] == [
        "CreateIndex", "SubmitIndexAddDocumentsJob", "Retrieve", "Retrieve", "Retrieve",
        "CreateProject", "CreateDataset", "IndexFileMeta", "SemanticQuery", "ContextualRetrieval",
    ]
    for line in logged:
        assert line["service"] == "sift" and line["level"] in {"INFO", "ERROR"}
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    answered = [line for line in logged if line["operation"] not in {"CreateIndex", "CreateProject", "CreateDataset"}]
    for line, response in zip(answered, responses, strict=True):
        request_id = response.body["RequestId"]
        assert line["request_id"] == request_id and line["status"] == response.status
    retrieve, missing, invalid = (line for line in logged if line["operation"] == "Retrieve")
    assert retrieve["query_chars"] == len(f"{QUERY_MARKER} lighthouse tides") and "error_code" not in retrieve
    assert retrieve["family"] == "bailian" and {"rewrite", "embed", "recall", "fuse"} <= set(retrieve["stages_ms"])
    assert (missing["error_code"], missing["level"]) == ("Index.NotFound", "INFO")
    assert (invalid["error_code"], invalid["error_field"]) == ("Index.InvalidParameter", "DenseSimilarityTopK")
    assert logged[1]["documents"] == {"FINISH": 1, "EMPTY": 1, "FAILED": 1}
    assert logged[-1]["family"] == "imm"


def test_an_unexpected_error_is_logged_with_its_stack_trace_and_both_request_ids(
    observed: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken:
        def list_indexes(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the catalog fell over")

    components = cast(Services, SimpleNamespace(knowledge_bases=Broken()))
    response = invoke(lambda: components, BY_NAME["ListIndices"], path_params={"WorkspaceId": WS}, body=None,
                      request_id="apigw-1", lambda_context=SimpleNamespace(aws_request_id="lambda-1"))
    assert response.status == 500 and response.body["RequestId"] == "apigw-1"
    (line,) = request_lines(stdout_lines(capsys)[0])
    assert (line["level"], line["status"], line["error_code"]) == ("ERROR", 500, "InternalError")
    assert (line["request_id"], line["function_request_id"]) == ("apigw-1", "lambda-1")
    assert line["exception_name"] == "RuntimeError" and "the catalog fell over" in line["exception"]
    assert line["stack_trace"]["frames"]


def test_outside_lambda_only_failures_are_logged_by_default(
    observed: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    observed.delenv("POWERTOOLS_LOG_LEVEL")
    observability.reset()
    assert call("CreateIndex", {"Name": "kb"}).status == 200
    assert call("Retrieve", {"IndexId": "missing", "Query": "tides"}).status == 404
    assert capsys.readouterr().out == ""


# --- metrics ----------------------------------------------------------------------------------------------------------


def test_metrics_are_emf_with_request_counts_stage_latencies_outcomes_and_error_codes(
    metrics_on: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_id, submitted = knowledge_base_with_documents(tmp_path)
    assert submitted.status == 200
    assert call("Retrieve", {"IndexId": index_id, "Query": "lighthouse tides", "EnableRewrite": True,
                             "QueryHistory": [{"role": "user", "content": "the keeper"}]}).status == 200
    assert call("Retrieve", {"IndexId": "missing", "Query": "tides"}).status == 404

    metrics = emf(stdout_lines(capsys)[0])
    assert {namespace for namespace, *_ in metrics} == {"Sift"}
    retrieve = {"operation": "Retrieve", "service": "sift"}
    requests = [value for _, name, dims, value in metrics if name == "Requests" and dims == retrieve]
    assert requests == [1.0, 1.0]
    assert len([1 for _, name, dims, _ in metrics if name == "Latency" and dims == retrieve]) == 2
    stages = {dims["stage"]: value for _, name, dims, value in metrics if name == "StageLatency"}
    assert {"rewrite", "embed", "recall", "fuse", "rerank"} <= set(stages)
    assert all(value >= 0 for value in stages.values())
    assert all(dims["operation"] == "Retrieve" for _, name, dims, _ in metrics if name == "StageLatency")
    outcomes = {dims["outcome"]: value for _, name, dims, value in metrics if name == "Documents"}
    assert outcomes == {"FINISH": 1.0, "EMPTY": 1.0, "FAILED": 1.0}
    errors = [dims for _, name, dims, _ in metrics if name == "Errors"]
    assert errors == [{"operation": "Retrieve", "code": "Index.NotFound", "service": "sift"}]


def test_the_namespace_comes_from_the_environment_when_set(
    metrics_on: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics_on.setenv("POWERTOOLS_METRICS_NAMESPACE", "SiftStaging")
    observability.reset()
    assert call("CreateIndex", {"Name": "kb"}).status == 200
    assert {namespace for namespace, *_ in emf(stdout_lines(capsys)[0])} == {"SiftStaging"}


def test_conversation_legs_add_up_per_stage() -> None:
    telemetry = observability.RequestTelemetry("ContextualRetrieval", "imm", "r-1")
    telemetry.add_stage_timings({"embed_0": 1.0, "recall_0": 2.0, "fuse_0": 0.5, "embed_1": 1.5, "recall_1": 3.0,
                                 "rerank": 4.0})
    assert telemetry.stages_ms == {"embed": 2.5, "recall": 5.0, "fuse": 0.5, "rerank": 4.0}


def test_recording_outside_a_request_does_nothing() -> None:
    record_stage_timings({"recall": 1.0})  # the core's report: no request, no sink
    observability.record_document_outcomes(["FINISH"])
    observability.annotate(query_chars=3)
    assert observability.current() is None


def test_with_metrics_off_nothing_is_flushed_and_nothing_fails_without_a_namespace(
    observed: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not observability.metrics_enabled()  # off by default outside Lambda
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # powertools warns on an empty flush: there must be none
        assert call("CreateIndex", {"Name": "kb"}).status == 200
        assert call("Retrieve", {"IndexId": "missing", "Query": "tides"}).status == 404
    lines, _ = stdout_lines(capsys)
    assert not emf(lines) and len(request_lines(lines)) == 2


@pytest.mark.parametrize(
    ("environment", "metrics", "tracing"),
    [
        pytest.param({}, False, False, id="local"),
        pytest.param({"POWERTOOLS_METRICS_DISABLED": "false"}, True, False, id="local-metrics-asked"),
        pytest.param({"AWS_LAMBDA_FUNCTION_NAME": "f", "LAMBDA_TASK_ROOT": "/var/task"}, True, True, id="lambda"),
        pytest.param({"AWS_LAMBDA_FUNCTION_NAME": "f", "LAMBDA_TASK_ROOT": "/var/task",
                      "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}, False, False,
                     id="lambda-both-off"),
        pytest.param({"AWS_LAMBDA_FUNCTION_NAME": "f", "LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "1"},
                     False, False, id="chalice-local"),
        pytest.param({"AWS_LAMBDA_FUNCTION_NAME": "f", "LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
                     False, False, id="sam-local"),
    ],
)
def test_metrics_and_tracing_are_on_only_on_lambda_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], metrics: bool, tracing: bool
) -> None:
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert (observability.metrics_enabled(), observability.tracing_enabled()) == (metrics, tracing)


# --- tracing ----------------------------------------------------------------------------------------------------------


def test_tracing_is_off_outside_lambda(observed: pytest.MonkeyPatch) -> None:
    assert call("CreateIndex", {"Name": "kb"}).status == 200
    runtime = observability._get_runtime()
    assert runtime is not None and runtime.tracer is None


_LAMBDA_PROBE = textwrap.dedent("""
    import json, logging, os, socket, sys, time
    from types import SimpleNamespace

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2.0)
    os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:%d" % daemon.getsockname()[1]

    import boto3
    from botocore.stub import Stubber

    import app  # Chalice's app.log is the "sift" logger too: its lines must come out as JSON, once
    from chalicelib.api.operations import BY_NAME, invoke

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(s3)
    stub.add_response("head_bucket", {}, {"Bucket": "sift-media"})
    stub.activate()

    class Indexes:
        def list_indexes(self, *args, **kwargs):
            s3.head_bucket(Bucket="sift-media")
            logging.getLogger("chalicelib.core.indexing").warning("a warning inside the request")
            app.app.log.error("chalice's own log inside the request")
            return [], 0

    response = invoke(lambda: SimpleNamespace(knowledge_bases=Indexes()), BY_NAME["ListIndices"],
                      path_params={"WorkspaceId": "ws"}, request_id="apigw-7",
                      lambda_context=SimpleNamespace(aws_request_id="lambda-7"))
    assert response.status == 200, response
    segments = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(segments) < 2:
        try:
            packet = daemon.recv(65535).decode()
        except socket.timeout:
            break
        segments.append(json.loads(packet.split("\\n", 1)[1]))
    print("SEGMENTS " + json.dumps(segments))
""")


def test_on_lambda_each_operation_is_a_subsegment_with_aws_calls_beneath_and_logs_correlated() -> None:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "SIFT_STAGE": "dev",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "sift-dev-ListIndices",
        "LAMBDA_TASK_ROOT": "/var/task", "AWS_EC2_METADATA_DISABLED": "true",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }
    completed = subprocess.run([sys.executable, "-c", _LAMBDA_PROBE], cwd=ROOT, env=environment,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout.splitlines()
    segments = json.loads(next(line for line in output if line.startswith("SEGMENTS "))[len("SEGMENTS "):])
    lines = [json.loads(line) for line in output if not line.startswith("SEGMENTS ")]

    operation = next(segment for segment in segments if segment["name"] == "## ListIndices")
    assert operation["annotations"] == {"operation": "ListIndices", "request_id": "apigw-7", "status": 200}
    assert operation["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    aws_call = next(segment for segment in segments if segment["name"] == "s3")
    assert aws_call["parent_id"] == operation["id"] and aws_call["aws"]["operation"] == "HeadBucket"

    (request,) = request_lines(lines)
    assert (request["request_id"], request["function_request_id"]) == ("apigw-7", "lambda-7")
    assert request["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" and request["cold_start"] is True
    (warning,) = [line for line in lines if line.get("message") == "a warning inside the request"]
    assert (warning["level"], warning["request_id"], warning["name"]) == ("WARNING", "apigw-7",
                                                                        "chalicelib.core.indexing")
    (chalice_line,) = [line for line in lines if line.get("message") == "chalice's own log inside the request"]
    assert chalice_line["request_id"] == "apigw-7"
    namespaces = {directive["Namespace"] for line in lines if "_aws" in line
                  for directive in line["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {"Sift"}


# --- outside the registry, and when observability itself breaks ------------------------------------------------------


def test_a_scope_of_its_own_for_an_event_handler(
    metrics_on: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with observability.request_scope("OnObjectEvent", family="event", request_id="evt-1"):
        observability.record_document_outcomes(["FINISH", "FINISH"])
    with pytest.raises(ValueError, match="unreadable event"), \
            observability.request_scope("OnObjectEvent", family="event", request_id="evt-2"):
        raise ValueError("unreadable event")
    lines, _ = stdout_lines(capsys)
    first, second = request_lines(lines)
    assert (first["status"], first["documents"], second["status"]) == (200, {"FINISH": 2}, 500)
    assert second["exception_name"] == "ValueError" and second["error_code"] == "InternalError"
    assert ("Sift", "Documents", {"operation": "OnObjectEvent", "outcome": "FINISH", "service": "sift"}, 2.0) in emf(
        lines)


def test_a_failure_of_observability_never_fails_the_request(
    observed: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("stdout is gone")

    observed.setattr(observability._Runtime, "log", broken)
    assert call("CreateIndex", {"Name": "kb"}).status == 200
    assert "could not log or emit the metrics" in caplog.text
    observed.setattr(observability, "_Runtime", broken)
    observability.reset()
    assert call("CreateIndex", {"Name": "kb2"}).status == 200
    assert "observability unavailable" in caplog.text
