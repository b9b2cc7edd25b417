"""What flows between the states of the indexing machines: targets, batches of objects, and batch results.

A **target** names where a batch goes: a knowledge base (``WorkspaceId``/``IndexId``, and ``IndexVersion`` when a
reindex builds a new version) or a dataset (``ProjectName``/``DatasetName``, with the binding's ``BindingURI``).

A **batch** is what the Distributed Map's ``ItemBatcher`` hands one child execution: ``Items`` of
``s3:listObjectsV2`` (``{"Key": ..., "Size": ..., ...}``, in ``Bucket``) or, for a job of several SourceURIs, items
``{"Uri": ...}`` from the execution input. Folder markers and metadata sidecars are listed by S3 too; they are not
documents and are skipped, as ``S3Source.list`` skips them.

A **batch result** is what IndexBatch (or, when it failed for good, RecordBatchFailure) returns, and what FinishJob
collects: ``{"Documents": [{"DocId", "Name", "Status", "Message"?}], "Counts": {...}, "FailedBatches": 0 | 1}``. The
Map's results reach FinishJob either inline (a list; what moto produces) or, as deployed, exported to S3 by the
Map's ``ResultWriter`` (the state's output is then ``{"ResultWriterDetails": {"Bucket", "Key"}}`` naming the
manifest): the results of a large job do not fit the 256 KiB a state's output may hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from chalicelib.core.index_jobs import job_counts
from chalicelib.core.indexing import document_id
from chalicelib.core.ports.catalog import JobDocument
from chalicelib.core.ports.search import DocumentStatus
from chalicelib.core.ports.sources import is_sidecar

KNOWLEDGE_BASE: Final = "knowledge_base"
DATASET: Final = "dataset"
# A batch's documents carry at most this much of a failure reason: thousands of results must stay readable and small.
MAX_MESSAGE: Final = 500


@dataclass(frozen=True, slots=True)
class Target:
    kind: str
    workspace_id: str = ""
    index_id: str = ""
    index_version: int | None = None
    project_name: str = ""
    dataset_name: str = ""
    binding_uri: str = ""

    @classmethod
    def knowledge_base(cls, workspace_id: str, index_id: str, index_version: int | None = None) -> Target:
        return cls(KNOWLEDGE_BASE, workspace_id=workspace_id, index_id=index_id, index_version=index_version)

    @classmethod
    def dataset(cls, project_name: str, dataset_name: str, binding_uri: str) -> Target:
        return cls(DATASET, project_name=project_name, dataset_name=dataset_name, binding_uri=binding_uri)

    @classmethod
    def parse(cls, raw: Any) -> Target:
        if not isinstance(raw, Mapping):
            raise TypeError(f"Target must be an object, not {type(raw).__name__}")
        kind = raw.get("Kind")
        if kind == KNOWLEDGE_BASE:
            version = raw.get("IndexVersion")
            if version is not None and (not isinstance(version, int) or version < 1):
                raise ValueError(f"Target.IndexVersion must be a positive integer, not {version!r}")
            return cls.knowledge_base(_text(raw, "WorkspaceId"), _text(raw, "IndexId"), version)
        if kind == DATASET:
            return cls.dataset(_text(raw, "ProjectName"), _text(raw, "DatasetName"), str(raw.get("BindingURI", "")))
        raise ValueError(f"Target.Kind must be {KNOWLEDGE_BASE!r} or {DATASET!r}, not {kind!r}")

    def to_event(self) -> dict[str, Any]:
        if self.kind == KNOWLEDGE_BASE:
            event: dict[str, Any] = {"Kind": self.kind, "WorkspaceId": self.workspace_id, "IndexId": self.index_id}
            if self.index_version is not None:
                event["IndexVersion"] = self.index_version
            return event
        return {"Kind": self.kind, "ProjectName": self.project_name, "DatasetName": self.dataset_name,
                "BindingURI": self.binding_uri}


def batch_uris(event: Mapping[str, Any]) -> list[str]:
    """The documents of a batch as URIs, in order, without folder markers and sidecars."""
    items = event.get("Items")
    if not isinstance(items, list):
        raise TypeError("the batch has no Items list")
    bucket = event.get("Bucket")
    uris: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(f"a batch item must be an object, not {type(item).__name__}")
        if "Uri" in item:
            uri = str(item["Uri"])
        elif "Key" in item:
            if not bucket:
                raise ValueError("a batch of S3 keys needs its Bucket")
            uri = f"s3://{bucket}/{item['Key']}"
        else:
            raise ValueError("a batch item needs a Key or a Uri")
        if not uri.endswith("/") and not is_sidecar(uri):
            uris.append(uri)
    return uris


def batch_result(outcomes: Sequence[JobDocument], *, failed_batches: int = 0) -> dict[str, Any]:
    documents = []
    for outcome in outcomes:
        document = {"DocId": outcome.doc_id, "Name": outcome.name, "Status": outcome.status}
        if outcome.message:
            document["Message"] = outcome.message[:MAX_MESSAGE]
        documents.append(document)
    return {"Documents": documents, "Counts": job_counts(outcomes), "FailedBatches": failed_batches}


def failed_batch(uris: Sequence[str], error: Any) -> dict[str, Any]:
    """The result of a batch whose task failed for good: each of its documents FAILED, with the error as reason.

    Nothing is written to the backend: after an outage, a document indexed earlier must keep its good version rather
    than be replaced by a FAILED record; the job record tells what this run could not do.
    """
    reason = f"The batch could not be indexed: {failure_message(error)}"
    outcomes = [
        JobDocument(document_id(uri), uri.rstrip("/").rsplit("/", 1)[-1], DocumentStatus.FAILED.value, reason)
        for uri in uris
    ]
    return batch_result(outcomes, failed_batches=1)


def failure_message(error: Any) -> str:
    """A Catch's ``{"Error", "Cause"}`` as one line; a Lambda error's Cause is its JSON payload, read for its message."""
    if not isinstance(error, Mapping):
        return str(error)[:MAX_MESSAGE] if error else "unknown error"
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause") or ""
    if isinstance(cause, str) and cause.startswith("{"):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping) and parsed.get("errorMessage"):
            cause = str(parsed["errorMessage"])
    return (f"{name}: {cause}" if cause else name)[:MAX_MESSAGE]


# --- collecting the Map's results -------------------------------------------------------------------------------------


class ResultReader(Protocol):
    """Reads one exported result object (the manifest and result files a Distributed Map's ResultWriter wrote)."""

    def read(self, bucket: str, key: str) -> bytes: ...


class S3ResultReader:
    def __init__(self, client: Any) -> None:
        self._s3 = client

    def read(self, bucket: str, key: str) -> bytes:
        data: bytes = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data


@dataclass(frozen=True, slots=True)
class CollectedResults:
    documents: list[JobDocument]
    failed_batches: int


def collect_results(results: Any, reader: ResultReader | None) -> CollectedResults:
    """Every batch's documents and the number of batches that failed, from inline results or an S3 export."""
    if results is None:
        outputs: Iterator[Any] = iter(())
    elif isinstance(results, list):
        outputs = iter(results)
    elif isinstance(results, Mapping) and isinstance(results.get("ResultWriterDetails"), Mapping):
        if reader is None:
            raise ValueError("the Map exported its results to S3, and no reader was given to read them")
        outputs = _exported(results["ResultWriterDetails"], reader)
    else:
        raise ValueError("Results must be the Map's result list or its ResultWriterDetails")
    documents: list[JobDocument] = []
    failed_batches = 0
    for output in outputs:
        if not isinstance(output, Mapping):
            raise TypeError(f"a batch result must be an object, not {type(output).__name__}")
        failed_batches += int(output.get("FailedBatches", 0))
        for document in output.get("Documents", ()):
            documents.append(JobDocument(
                doc_id=str(document["DocId"]), name=str(document.get("Name", "")), status=str(document["Status"]),
                message=str(document.get("Message", "")),
            ))
    return CollectedResults(documents, failed_batches)


def _exported(details: Mapping[str, Any], reader: ResultReader) -> Iterator[Any]:
    """The child executions' outputs from a ResultWriter export (manifest.json, then its result files).

    Each entry of a result file describes one child execution, its ``Output`` a JSON string. SUCCEEDED files hold
    every batch that ran (a batch that failed for good was caught inside the child: its output says so). A child
    that failed anyway (its RecordBatchFailure failed too) lands in a FAILED file: its documents count as failed.
    """
    manifest = json.loads(reader.read(str(details["Bucket"]), str(details["Key"])))
    bucket = str(manifest.get("DestinationBucket") or details["Bucket"])
    files = manifest.get("ResultFiles", {})
    for status in ("SUCCEEDED", "FAILED"):
        for result_file in files.get(status, ()):
            for entry in json.loads(reader.read(bucket, str(result_file["Key"]))):
                if status == "SUCCEEDED":
                    output = entry.get("Output")
                    yield json.loads(output) if isinstance(output, str) else output
                else:
                    child_input = entry.get("Input")
                    batch = json.loads(child_input) if isinstance(child_input, str) else (child_input or {})
                    batch_input = batch.get("BatchInput") or {}
                    uris = batch_uris({"Items": batch.get("Items", []), "Bucket": batch_input.get("Bucket")})
                    yield failed_batch(uris, {"Error": entry.get("Error", "States.TaskFailed"),
                                              "Cause": entry.get("Cause", "")})


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value
