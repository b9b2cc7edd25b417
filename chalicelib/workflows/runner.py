"""``StepFunctionsJobRunner``: the job runner of the AWS stages (``SIFT_JOB_RUNNER=stepfunctions``).

It starts an execution and returns: the request answers with the job PENDING, and the state machine's tasks write
what happens next into the job record (GetIndexJobStatus) or the binding. The execution's name is the job id, so a
job and its execution find each other in the console, and starting the same job twice is refused by Step Functions.

Execution input (``infra/batch_index.asl.json``)::

    {"JobId", "Target": {...}, "Bucket", "Prefix"}     one S3 prefix: the Map lists it (s3:listObjectsV2)
    {"JobId", "Target": {...}, "Items": [{"Uri"}]}      several SourceURIs: the objects listed at submission

A job of one S3 SourceURI (the common case, and every binding) is listed by the state machine itself, however many
objects it holds. Several SourceURIs cannot be one ``ItemReader``; their objects travel in the input instead, which
Step Functions caps at 256 KiB (a few thousand URIs): beyond that the caller is asked to submit one job per prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import (
    InternalError,
    InvalidParameterError,
    ServiceError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.core.ports.catalog import Binding, Job, KnowledgeBase
from chalicelib.core.ports.sources import SourceError
from chalicelib.sources.s3 import split_uri
from chalicelib.workflows.batches import Target

# Step Functions refuses an execution input over 256 KiB; leave room for the rest of the input.
MAX_INPUT_BYTES: Final = 200_000
_THROTTLING: Final = frozenset({"ThrottlingException", "ExecutionLimitExceeded", "TooManyRequestsException"})
_MISCONFIGURED: Final = frozenset({"StateMachineDoesNotExist", "InvalidArn", "StateMachineDeleting", "AccessDeniedException"})


class StepFunctionsJobRunner:
    """Starts the batch-index machine for indexing jobs and bindings, and the reindex machine for reindexes."""

    def __init__(self, client: Any, batch_arn: str, reindex_arn: str) -> None:
        self._client = client
        self._batch_arn = batch_arn
        self._reindex_arn = reindex_arn

    def start(self, job: Job, kb: KnowledgeBase, roots: Sequence[str], uris: Sequence[str]) -> None:
        execution_input: dict[str, Any] = {
            "JobId": job.job_id, "Target": Target.knowledge_base(kb.workspace_id, kb.index_id).to_event(),
        }
        execution_input |= self._source(roots, uris)
        self._start(self._batch_arn, job.job_id, execution_input, "SIFT_BATCH_INDEX_STATE_MACHINE")

    def start_reindex(self, job: Job, kb: KnowledgeBase) -> None:
        execution_input = {"JobId": job.job_id, "WorkspaceId": kb.workspace_id, "IndexId": kb.index_id}
        self._start(self._reindex_arn, job.job_id, execution_input, "SIFT_REINDEX_STATE_MACHINE")

    def start_binding(self, job_id: str, binding: Binding) -> None:
        try:
            bucket, prefix = split_uri(binding.uri)
        except SourceError as exc:
            raise InvalidParameterError("URI", f"bindings on this stage are S3 prefixes: {exc}") from None
        execution_input = {
            "JobId": job_id,
            "Target": Target.dataset(binding.project_name, binding.dataset_name, binding.uri).to_event(),
            "Bucket": bucket,
            "Prefix": prefix,
        }
        self._start(self._batch_arn, job_id, execution_input, "SIFT_BATCH_INDEX_STATE_MACHINE")

    @staticmethod
    def _source(roots: Sequence[str], uris: Sequence[str]) -> dict[str, Any]:
        if len(roots) == 1 and roots[0].startswith("s3://"):
            bucket, prefix = split_uri(roots[0])
            return {"Bucket": bucket, "Prefix": prefix}
        items = [{"Uri": uri} for uri in uris]
        if len(json.dumps(items, ensure_ascii=False).encode()) > MAX_INPUT_BYTES:
            raise InvalidParameterError(
                "SourceURIs",
                f"the {len(roots)} URIs hold {len(uris)} objects, more than one job of several URIs can carry; "
                "submit one job per prefix",
            )
        return {"Items": items}

    def _start(self, arn: str, name: str, execution_input: Mapping[str, Any], variable: str) -> None:
        if not arn:
            raise InternalError(f"no state machine is configured to run this job ({variable})")
        try:
            self._client.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps(execution_input, ensure_ascii=False)
            )
        except ClientError as exc:
            raise _error(exc, variable) from exc
        except BotoCoreError as exc:
            raise ServiceUnavailableError(f"Step Functions did not answer ({type(exc).__name__}); retry later") from exc


def _error(exc: ClientError, variable: str) -> ServiceError:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    if code in _THROTTLING:
        return ThrottlingError("Step Functions is throttling job starts; retry later")
    if code in _MISCONFIGURED:
        return InternalError(f"the state machine of {variable} cannot be started ({code}: {message})")
    return InternalError(f"Step Functions refused to start the job ({code or 'unknown error'}: {message})")
