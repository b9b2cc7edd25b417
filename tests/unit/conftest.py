"""Fixtures shared by the unit tests of the Bedrock adapters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

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
