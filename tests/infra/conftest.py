"""The state machines of infra/ executed by moto's ASL interpreter, their Lambda tasks served by the real handlers.

moto runs an execution state by state in a background thread (``execute_state_machine``), lists S3 for the
``ItemReader`` and calls Lambda for every task, with the retries, backoff, catches and concurrency the definition
asks for. What it cannot do is run the function's code: its Lambda backend would start a container. ``LambdaTasks``
replaces the backend's ``invoke`` for the one function the definitions name, and answers with
``chalicelib.workflows.handle_task`` on a real local-stage ``Services`` (embedded backend and SQLite catalog in the
test's tmp directory, the hashing embedder, S3 under moto) — the same services the Lambda builds on AWS, minus the
network. It answers like the Lambda service: a handler's exception becomes a function error whose ``errorType`` is
the exception's class name (what Retry and Catch match); a ``LambdaThrottled`` fault becomes the service's own HTTP
429, which Step Functions names ``Lambda.TooManyRequestsException``.

Retry waits are recorded, not slept (``retry_sleeps``), so a test of six attempts takes no time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaBackend
from moto.core.exceptions import JsonRESTError
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from chalicelib.composition import build_services
from chalicelib.core.services import Services
from chalicelib.settings import Settings
from chalicelib.workflows import StepFunctionsJobRunner, handle_task
from chalicelib.workflows.batches import S3ResultReader
from tests.infra.asl import MACHINES, definition, for_moto

REGION = "us-east-1"
DOCS_BUCKET = "sift-infra-docs"
RESULTS_BUCKET = "sift-infra-job-results"
FUNCTION = "sift-test-IndexingTasks"
WS = "ws_infra"

Fault = Callable[[dict[str, Any]], None]


class LambdaThrottled(JsonRESTError):
    """The Lambda service refusing an invocation (HTTP 429), as when the account's concurrency is exhausted."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


@dataclass
class LambdaTasks:
    """The ``IndexingTasks`` function, in-process.

    ``faults`` run before the handler, in the function: an exception they raise is the function's error, except a
    ``LambdaThrottled``, which is the Lambda service refusing the call before any code ran.
    """

    services: Services
    calls: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, body: Any) -> tuple[bytes, bool]:
        event = json.loads(body) if body else {}
        with self._lock:
            self.calls.append(event)
        try:
            for fault in self.faults:
                fault(event)
            result = handle_task(self.services, event, results=S3ResultReader(boto3.client("s3", region_name=REGION)))
        except LambdaThrottled:
            raise  # up to moto's HTTP layer: an error response of the Invoke API itself
        except Exception as exc:  # noqa: BLE001 - the Python runtime's answer to any unhandled exception
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            return json.dumps(error).encode(), True
        return json.dumps(result).encode(), False

    def tasks(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [call for call in self.calls if call.get("Task") == name]


@dataclass
class Machines:
    """The two state machines, created from infra/ under moto, and a way to wait for an execution."""

    client: Any
    batch_arn: str
    reindex_arn: str
    settings: Settings
    tasks: LambdaTasks

    def runner(self) -> StepFunctionsJobRunner:
        return StepFunctionsJobRunner(self.client, self.batch_arn, self.reindex_arn)

    def services(self) -> Services:
        """The stage's services as a deployed one builds them (its runner starts these machines), on the same data
        directory; the machines' Lambda tasks run on them too."""
        deployed = build_services(replace(self.settings, job_runner="stepfunctions",
                                          batch_index_state_machine=self.batch_arn,
                                          reindex_state_machine=self.reindex_arn))
        self.tasks.services = deployed
        return deployed

    def wait(self, machine_arn: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """The finished execution ``name`` of ``machine_arn`` (describe_execution's answer)."""
        execution_arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {name} still running after {timeout} s")
            time.sleep(0.05)

    def wait_all(self, machine_arn: str) -> list[dict[str, Any]]:
        """Every execution of ``machine_arn``, finished (for executions started under a name the test cannot see)."""
        executions = self.client.list_executions(stateMachineArn=machine_arn)["executions"]
        return [self.wait(machine_arn, execution["name"]) for execution in executions]

    def run(self, machine_arn: str, name: str, execution_input: dict[str, Any]) -> dict[str, Any]:
        self.client.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input))
        return self.wait(machine_arn, name)

    def history(self, machine_arn: str, name: str) -> list[dict[str, Any]]:
        execution_arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        events: list[dict[str, Any]] = self.client.get_execution_history(executionArn=execution_arn)["events"]
        return events


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """moto for every service, with Step Functions executing its state machines."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", REGION), ("AWS_REGION", REGION)):
        monkeypatch.setenv(name, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in (DOCS_BUCKET, RESULTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        yield session


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits moto's retriers asked for (JitterStrategy FULL: a random share of each backoff interval)."""
    waits: list[float] = []

    class Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            waits.append(seconds)

    monkeypatch.setattr(retrier_decl, "time", Clock)
    return waits


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(stage="local", data_dir=tmp_path / "sift", embedder="hashing", embedding_cache=None)


@pytest.fixture
def services(aws: boto3.Session, settings: Settings) -> Services:
    """A local stage's services, built inside moto (their S3 client reads the moto buckets)."""
    return build_services(settings)


@pytest.fixture
def lambda_tasks(aws: boto3.Session, services: Services, monkeypatch: pytest.MonkeyPatch) -> LambdaTasks:
    tasks = LambdaTasks(services)
    original = LambdaBackend.invoke

    def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> Any:
        name = function_name.rsplit(":function:", 1)[-1].split(":")[0]
        if name != FUNCTION:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        payload, errored = tasks.invoke(body)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    return tasks


@pytest.fixture
def machines(aws: boto3.Session, lambda_tasks: LambdaTasks, retry_sleeps: list[float], settings: Settings) -> Machines:
    """Both state machines from infra/, their placeholders filled in as DefinitionSubstitutions would."""
    iam = aws.client("iam")
    role = iam.create_role(RoleName="sift-test-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function_arn = aws.client("lambda").create_function(
        FunctionName=FUNCTION, Runtime="python3.11", Role=role, Handler="app.indexing_tasks",
        Code={"ZipFile": b"not run: LambdaTasks answers"},
    )["FunctionArn"]
    substitutions = {"IndexingTasksArn": function_arn, "JobResultsBucket": RESULTS_BUCKET}
    client = aws.client("stepfunctions")
    arns = {
        name: client.create_state_machine(
            name=f"sift-test-{name}", roleArn=role, definition=json.dumps(for_moto(definition(name, substitutions)))
        )["stateMachineArn"]
        for name in MACHINES
    }
    return Machines(client, arns["batch_index"], arns["reindex"], settings, lambda_tasks)


def put_documents(session: boto3.Session, documents: dict[str, bytes], bucket: str = DOCS_BUCKET) -> None:
    s3 = session.client("s3")
    for key, body in documents.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
