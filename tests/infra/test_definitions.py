"""The ASL files themselves: the shape the executions rely on, and what moto cannot run as written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.workflows import TASKS
from tests.infra.asl import MACHINES, definition, map_states, raw_definition

SUBSTITUTIONS = {"IndexingTasksArn": "arn:aws:lambda:us-east-1:123456789012:function:sift-dev-IndexingTasks",
                 "JobResultsBucket": "sift-dev-job-results"}
LAMBDA_SERVICE_ERRORS = {"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
                         "Lambda.SdkClientException"}


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if state["Type"] == "Map":
            yield from tasks(state["ItemProcessor"]["States"])


@pytest.mark.parametrize("machine", MACHINES)
def test_the_placeholders_are_the_two_the_packaging_substitutes(machine: str) -> None:
    assert set(re.findall(r"\$\{(\w+)\}", raw_definition(machine))) == set(SUBSTITUTIONS)


@pytest.mark.parametrize("machine", MACHINES)
def test_every_map_is_distributed_batched_bounded_and_exports_its_results(machine: str) -> None:
    asl = definition(machine, SUBSTITUTIONS)
    maps = map_states(asl["States"])
    assert maps
    for state in maps:
        assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
        assert state["ItemBatcher"]["MaxItemsPerBatch"] == 20
        assert set(state["ItemBatcher"]["BatchInput"]) == {"JobId.$", "Target.$", "Bucket.$"} or set(
            state["ItemBatcher"]["BatchInput"]) == {"JobId.$", "Target.$", "Bucket"}
        assert state["MaxConcurrency"] == 8
        assert state["ResultWriter"]["Parameters"]["Bucket"] == SUBSTITUTIONS["JobResultsBucket"]
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    # One batch processor everywhere: a reindex indexes exactly as a batch job does.
    processors = {json.dumps(state["ItemProcessor"], sort_keys=True) for state in maps}
    assert len(processors) == 1


@pytest.mark.parametrize("machine", MACHINES)
def test_every_task_calls_the_tasks_function_with_a_known_task_and_retries_throttling(machine: str) -> None:
    asl = definition(machine, SUBSTITUTIONS)
    for name, state in tasks(asl["States"]):
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert state["Parameters"]["FunctionName"] == SUBSTITUTIONS["IndexingTasksArn"], name
        assert state["Parameters"]["Payload"]["Task"] in TASKS, name
        (retrier,) = state["Retry"]
        assert LAMBDA_SERVICE_ERRORS | {"ThrottlingError", "ServiceUnavailableError"} == set(retrier["ErrorEquals"])
        assert retrier["BackoffRate"] > 1 and retrier["MaxAttempts"] >= 3 and retrier["JitterStrategy"] == "FULL"


def test_a_failed_batch_is_caught_and_recorded_not_fatal() -> None:
    processor = map_states(definition("batch_index", SUBSTITUTIONS)["States"])[0]["ItemProcessor"]["States"]
    assert processor["IndexBatch"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "RecordBatchFailure"}]
    assert processor["RecordBatchFailure"]["Parameters"]["Payload"]["Task"] == "RecordBatchFailure"


def test_every_failure_of_a_reindex_ends_in_its_abort() -> None:
    states = definition("reindex", SUBSTITUTIONS)["States"]
    for name in ("BeginReindex", "IndexNewVersion", "CommitReindex"):
        assert states[name]["Catch"][0]["Next"] == "AbortReindex", name
    assert states["AbortReindex"]["Next"] == "ReindexFailed"
    assert states["ReindexFailed"]["Type"] == "Fail"
