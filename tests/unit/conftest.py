"""Fixtures shared by the unit tests of the Bedrock adapters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.unit.test_bedrock_models import make_client


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    """A ``bedrock-runtime`` client behind a Stubber that must be drained by the end of the test."""
    client = make_client("bedrock-runtime")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()
