"""What moto 5.2.5 does not execute as AWS does, pinned: when one of these fails, moto caught up — simplify
tests/infra/asl.py and the list in infra/README.md accordingly."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.core.ports.catalog import JobStatus
from chalicelib.core.services import Services
from tests.infra.asl import MACHINES, definition, for_moto
from tests.infra.conftest import DOCS_BUCKET, WS, Machines
from tests.infra.test_batch_index import knowledge_base
from tests.infra.test_definitions import SUBSTITUTIONS


@pytest.mark.parametrize("machine", MACHINES)
def test_moto_refuses_item_batcher_so_the_tests_rewrite_it(machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    role = "arn:aws:iam::123456789012:role/sift-test"
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # the ASL parser's backend
        client = boto3.client("stepfunctions", region_name="us-east-1")
        as_deployed = json.dumps(definition(machine, SUBSTITUTIONS))
        with pytest.raises(ClientError, match='ASLParserException.*at "ItemBatcher", mismatched input'):
            client.create_state_machine(name=machine, definition=as_deployed, roleArn=role)
        adapted = json.dumps(for_moto(definition(machine, SUBSTITUTIONS)))
        assert client.create_state_machine(name=machine, definition=adapted, roleArn=role)["stateMachineArn"]


def test_moto_fails_the_listing_of_an_empty_prefix(services: Services, machines: Machines) -> None:
    """AWS lists an empty prefix as no items (the job COMPLETED with nothing in it); moto's ItemReader reads the
    response's ``Contents``, absent when nothing matched, and the Map fails with States.Runtime."""
    index_id = knowledge_base(services, f"s3://{DOCS_BUCKET}/empty/")
    services = machines.services()

    submitted = services.jobs.submit_job(WS, index_id, None)
    machines.wait(machines.batch_arn, submitted.job_id)

    job = services.jobs.get_job(WS, index_id, submitted.job_id)
    assert (job.status, job.message) == (JobStatus.FAILED, "Indexing failed: States.Runtime: 'Contents'")
