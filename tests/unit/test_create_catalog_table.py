"""``scripts/create_catalog_table``: the table a stage's config names, created once, under moto."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from scripts.create_catalog_table import main


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_creates_the_stage_table_once(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stage", "dev", "--region", "us-west-2"]) == 0
    assert main(["--stage", "dev", "--region", "us-west-2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["table sift-dev-catalog created", "table sift-dev-catalog exists"]
    table = boto3.client("dynamodb", region_name="us-west-2").describe_table(TableName="sift-dev-catalog")["Table"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["gsi1"]


@pytest.mark.parametrize("stage", ["local", "staging"])
def test_refuses_a_stage_without_a_catalog_table(aws: None, stage: str) -> None:
    assert main(["--stage", stage, "--region", "us-west-2"]) == 2
