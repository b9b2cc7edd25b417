"""Direct invocation of the per-operation Lambdas: same envelope and data as HTTP, errors as envelopes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import REPO_ROOT, WS, Api, assert_error

OPERATION_NAMES = [
    "Retrieve", "CreateIndex", "ListIndices", "DeleteIndex", "SubmitIndexAddDocumentsJob", "GetIndexJobStatus",
    "ListIndexDocuments", "DeleteIndexDocument", "ListRetrieverHistory",
]


class _Reply:
    """Lets ``assert_error`` read a Lambda result: the status is the envelope's ``Status``."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.body = payload
        self.status = int(payload["Status"])


def _strip_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "RequestId"}


def test_every_operation_has_a_lambda_and_a_route() -> None:
    from app import app

    assert set(OPERATION_NAMES) | {"OnObjectEvent"} <= set(app.handler_map)
    assert set(app.routes) == {
        f"/{{WorkspaceId}}/index/{name}" for name in (
            "retrieve", "create", "list_indices", "delete", "add_documents_to_index", "job/status",
            "list_index_documents", "delete_index_document", "retriever_history", "reindex",
        )
    } | {
        f"/imm/{name}" for name in (
            "ContextualRetrieval", "SemanticQuery", "ContextualAnswer", "CreateProject", "CreateDataset", "ListDatasets", "CreateBinding", "IndexFileMeta",
            "BatchIndexFileMeta", "GetFileMeta", "DeleteFileMeta", "BatchDeleteFileMeta",
        )
    } | {
        f"/{{WorkspaceId}}/datacenter/{name}" for name in (
            "category", "category/{CategoryId}", "file", "file/{FileId}", "files", "categories",
        )
    } | {"/{WorkspaceId}/index/submit_index_job"} | {
        "/",  # the IMM family's RPC endpoint, as its official SDKs call it
        "/sift-uploads/{WorkspaceId}/{LeaseId}",  # where the local stage's upload leases point
        "/openapi.json",  # the OpenAPI document (off on AWS stages unless SIFT_OPENAPI)
    } | {
        "/playground", "/playground/{Asset}",  # the retrieval playground (off on AWS stages unless SIFT_PLAYGROUND)
    } | {
        # the local stage's catch-alls: unknown paths answer 404 in the envelope (not registered on AWS stages)
        "/" + "/".join(f"{{z{level}}}" for level in range(depth)) for depth in range(1, 9)
    }


def test_lambda_retrieve_matches_http(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])
    fields = {"IndexId": index_id, "Query": "refund within 30 days", "Rerank": [{"RerankTopN": 3}]}

    payload = api.invoke("Retrieve", {"WorkspaceId": WS, **fields})
    http = api.post(f"/{WS}/index/retrieve", fields)

    assert set(payload) == {"Code", "Data", "Message", "RequestId", "Status", "Success"}
    assert (payload["Code"], payload["Status"], payload["Success"]) == ("Success", "200", True)
    assert payload["RequestId"]
    assert _strip_request_id(payload) == _strip_request_id(http.body)
    nodes = payload["Data"]["Nodes"]
    assert len(nodes) == 3
    assert nodes[0]["Metadata"]["doc_name"] == "refund-policy.txt"
    assert nodes[0]["Metadata"]["workspace_id"] == WS


def test_lambda_supporting_operations_work(api: Api, mixed_dir: Path) -> None:
    created = api.invoke("CreateIndex", {"WorkspaceId": WS, "Name": "via-lambda", "ChunkSize": 300, "OverlapSize": 0})
    index_id = created["Data"]["Id"]
    job = api.invoke("SubmitIndexAddDocumentsJob", {"WorkspaceId": WS, "IndexId": index_id,
                                                    "SourceURIs": [str(mixed_dir)]})
    status = api.invoke("GetIndexJobStatus", {"WorkspaceId": WS, "IndexId": index_id, "JobId": job["Data"]["Id"]})
    listing = api.invoke("ListIndexDocuments", {"WorkspaceId": WS, "IndexId": index_id, "DocumentStatus": "FAILED"})
    indices = api.invoke("ListIndices", {"WorkspaceId": WS})

    assert status["Data"]["Status"] == "PARTIAL"
    assert [document["Name"] for document in listing["Data"]["Documents"]] == ["broken.pdf"]
    assert [index["Name"] for index in indices["Data"]["Indices"]] == ["via-lambda"]
    # What the Lambdas wrote, HTTP reads.
    assert api.list_documents(index_id).data["TotalCount"] == 5

    deleted = api.invoke("DeleteIndex", {"WorkspaceId": WS, "IndexId": index_id})
    assert deleted["Data"] == {"Id": index_id}
    assert_error(api.retrieve(index_id, "refund"), 404, "Index.NotFound")


@pytest.mark.parametrize(
    ("payload", "wire_name"),
    [
        pytest.param({"Query": 5}, "Query", id="query-number"),
        pytest.param({"DenseSimilarityTopK": "10"}, "DenseSimilarityTopK", id="top-k-string"),
        pytest.param({"Rerank": [{"RerankTopN": 21}]}, "Rerank[0].RerankTopN", id="top-n-21"),
        pytest.param({"SearchFilters": [{"year": {"between": 1}}]}, "SearchFilters[0].year.between", id="filters"),
        pytest.param({"Unknown": True}, "Unknown", id="unknown-field"),
    ],
)
def test_lambda_bad_payload_returns_the_error_envelope(
    api: Api, mixed_dir: Path, payload: dict[str, Any], wire_name: str
) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])

    result = api.invoke("Retrieve", {"WorkspaceId": WS, "IndexId": index_id, "Query": "refund",
                                     "SaveRetrieverHistory": True, **payload})

    assert result["Status"] == "400"
    assert_error(_Reply(result), 400, "Index.InvalidParameter", field=wire_name)
    assert api.history(index_id).data["TotalCount"] == 0


def test_lambda_without_workspace_is_400(api: Api) -> None:
    result = api.invoke("Retrieve", {"IndexId": "kb_1", "Query": "refund"})
    assert_error(_Reply(result), 400, "Index.InvalidParameter", field="WorkspaceId")
    result = api.invoke("Retrieve", {"WorkspaceId": "bad.workspace", "IndexId": "kb_1", "Query": "refund"})
    assert_error(_Reply(result), 400, "Index.InvalidParameter", field="WorkspaceId")


def test_lambda_unknown_index_is_404(api: Api) -> None:
    result = api.invoke("Retrieve", {"WorkspaceId": WS, "IndexId": "kb_missing", "Query": "refund"})
    assert_error(_Reply(result), 404, "Index.NotFound", field="kb_missing")


@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_every_lambda_answers_an_empty_payload_with_an_error_envelope(api: Api, name: str) -> None:
    result = api.invoke(name, {"WorkspaceId": WS})
    if name == "ListIndices":  # every parameter is optional
        assert result["Status"] == "200" and result["Data"]["TotalCount"] == 0
    else:
        assert_error(_Reply(result), 400, "Index.InvalidParameter")


@pytest.mark.parametrize("payload", [[{"WorkspaceId": WS}], "IndexId=kb_1"], ids=["array", "string"])
def test_lambda_payload_that_is_not_an_object_returns_the_error_envelope(api: Api, payload: Any) -> None:
    result = api.invoke("Retrieve", payload)
    assert_error(_Reply(result), 400, "Index.InvalidParameter", field="body")


@pytest.mark.parametrize("workspace", [None, 123], ids=["null", "number"])
def test_lambda_workspace_id_must_be_a_string(api: Api, workspace: Any) -> None:
    result = api.invoke("CreateIndex", {"WorkspaceId": workspace, "Name": "typed"})
    assert_error(_Reply(result), 400, "Index.InvalidParameter", field="WorkspaceId")


def test_every_route_requires_iam_authorization() -> None:
    # In a fresh interpreter: which authorizer the routes get is decided when app.py is first imported, and a test
    # of SIFT_AUTH=accesskey may have been the first to import it in this one.
    check = ("from chalice import IAMAuthorizer\n"
             "from app import app\n"
             "entries = [entry for methods in app.routes.values() for entry in methods.values()]\n"
             "assert entries and all(isinstance(entry.authorizer, IAMAuthorizer) for entry in entries)\n")
    environment = {name: value for name, value in os.environ.items() if name != "SIFT_AUTH"}
    for stage in ("local", "dev"):
        completed = subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT, capture_output=True, text=True,
                                   env={**environment, "SIFT_STAGE": stage}, timeout=120, check=False)
        assert completed.returncode == 0, completed.stderr
