"""Fixtures shared by the unit tests of the Bedrock adapters.

``runtime`` and ``agent`` are clients behind botocore's Stubber: it validates every request against the service
model, but it answers in ``before-call``, before botocore's retry handler runs, so nothing behind it is ever retried.
``runtime_wire`` and ``agent_wire`` are the stage's own clients (``AwsClients``, its retry configuration included)
answered by a ``ScriptedBedrock`` at the HTTP send, so botocore's real retry path runs; ``backoffs`` records the waits
botocore computes between attempts instead of sleeping them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.retries.standard import ExponentialBackoff
from botocore.stub import Stubber

from chalicelib.composition import AwsClients
from chalicelib.settings import Settings
from tests.fakes.bedrock import ScriptedBedrock
from tests.unit.test_bedrock_models import make_client


def _stubbed(service: str) -> Iterator[tuple[Any, Stubber]]:
    """A client of ``service`` behind a Stubber whose queue must be drained by the end of the test."""
    client = make_client(service)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    yield from _stubbed("bedrock-runtime")


@pytest.fixture
def agent() -> Iterator[tuple[Any, Stubber]]:
    yield from _stubbed("bedrock-agent-runtime")


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits botocore's standard retry mode computes before each retry, in order; none of them is slept."""
    waits: list[float] = []
    compute = ExponentialBackoff.delay_amount

    def record(self: ExponentialBackoff, context: Any) -> float:
        waits.append(compute(self, context))
        return 0.0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", record)
    return waits


@pytest.fixture
def stage_clients(monkeypatch: pytest.MonkeyPatch, backoffs: list[float]) -> AwsClients:
    """The clients a stage builds, on a fresh default boto3 session with dummy credentials (never sent anywhere)."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return AwsClients(Settings.from_environment({"SIFT_STAGE": "local", "SIFT_BEDROCK_REGION": "us-east-1"}))


def _scripted(client: Any) -> Iterator[tuple[Any, ScriptedBedrock]]:
    """``client`` answered by a script whose answers must all be used by the end of the test."""
    script = ScriptedBedrock(client)
    yield client, script
    assert script.pending == 0, f"{script.pending} scripted answers were not used"


@pytest.fixture
def runtime_wire(stage_clients: AwsClients) -> Iterator[tuple[Any, ScriptedBedrock]]:
    yield from _scripted(stage_clients.bedrock_runtime)


@pytest.fixture
def agent_wire(stage_clients: AwsClients) -> Iterator[tuple[Any, ScriptedBedrock]]:
    yield from _scripted(stage_clients.bedrock_agent_runtime)
