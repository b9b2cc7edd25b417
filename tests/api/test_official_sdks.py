"""The official Python SDKs against Sift, unchanged but for the endpoint: ``alibabacloud-bailian20231229`` (ROA:
parameters in the query string, arrays and objects JSON-encoded) and ``alibabacloud-imm20200930`` (RPC: ``POST /``
with ``x-acs-action``, scalars in the query string, arrays and objects in a form body).

Each flow runs twice: against a real ``chalice local`` over HTTP, and through ``chalice.test.Client`` in-process.
The assertions read the SDKs' parsed response objects, so a field the models do not parse counts as missing.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_bailian20231229 import models as bm
from alibabacloud_bailian20231229.client import Client as BailianClient
from alibabacloud_imm20200930 import models as im
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Params
from darabonba.runtime import RuntimeOptions

from chalicelib.core.access_keys import AccessKeys, Level
from chalicelib.sealing.master_key import MasterKeyBox
from chalicelib.store.sqlite import SqliteCatalog
from tests.api.conftest import Api
from tests.api.sdk import LocalServer, bailian_client, imm_client, routed_through, signed_json

WS = "ws_test"
PROJECT = "travel"
DATASET = "notes"

KB_FILES: dict[str, str] = {
    "warranty.md": "# Warranty\n\nEvery Larkspur tent is covered by a 5-year warranty against defects in materials.",
    "returns.md": "# Returns policy\n\nItems may be returned within 30 days of purchase for a full refund.",
    "stores.md": "# Stores\n\n杭州门店每天上午十点开门，晚上九点关门。The Hangzhou store opens at 10 and closes at 21.",
    "tent.md": "# Trailhead 2P\n\nThe Trailhead 2P is a two-person backpacking tent that weighs 1.8 kg.",
}
KB_METADATA: dict[str, dict[str, Any]] = {
    "warranty.md": {"category": "policy", "year": 2025},
    "returns.md": {"category": "policy", "year": 2024},
    "stores.md": {"category": "store", "year": 2025},
    "tent.md": {"category": "product", "year": 2025},
}
MEDIA_FILES: dict[str, str] = {
    "west-lake.txt": "西湖在杭州，春天的西湖风景很美。West Lake in Hangzhou is beautiful in spring.",
    "bund.txt": "外滩在上海，夜景很有名。The Bund in Shanghai is famous for its night view.",
    "great-wall.txt": "长城在北京附近，秋天爬长城的人很多。Many people climb the Great Wall near Beijing in autumn.",
}


def _write_corpus(root: Path) -> tuple[Path, Path]:
    docs, media = root / "docs", root / "media"
    docs.mkdir(parents=True)
    media.mkdir(parents=True)
    for name, text in KB_FILES.items():
        (docs / name).write_text(text, encoding="utf-8")
        (docs / f"{name}.metadata.json").write_text(json.dumps({"metadataAttributes": KB_METADATA[name]}))
    for name, text in MEDIA_FILES.items():
        (media / name).write_text(text, encoding="utf-8")
    return docs, media


@dataclass
class Sdk:
    """The two official clients on one transport, and Sift's JSON form for set-up the SDKs cannot express."""

    bailian: BailianClient
    imm: ImmClient
    post_json: Callable[[str, dict[str, Any]], tuple[int, Any]]
    docs: Path
    media: Path
    # PUT bytes to an upload lease's URL with its headers (the step of the documented flow that is not an SDK call)
    upload: Callable[[str, dict[str, str], bytes], tuple[int, Any]]


def _write_key(data_dir: Path, master_key: Path) -> tuple[str, str]:
    """A write key for the tests' workspaces and project, in the stage's own catalog, sealed with its master key."""
    keys = AccessKeys(SqliteCatalog(data_dir / "catalog.db"), MasterKeyBox(master_key))
    key, secret = keys.create(level=Level.WRITE, workspaces=[WS, "ws_other"], projects=[PROJECT])
    return key.key_id, secret


@pytest.fixture(params=["chalice-local", "in-process"])
def sdk(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sdk]:
    """Both transports with SIFT_AUTH=accesskey: every SDK call below is signed and verified. The SourceURI flows
    name folders of the test's own disk, which the operator allows with SIFT_LOCAL_FILES=true."""
    docs, media = _write_corpus(tmp_path / "corpus")
    master_key = tmp_path / "keys" / "master.key"
    if request.param == "chalice-local":
        data_dir = tmp_path / "sift-local"
        key_id, secret = _write_key(data_dir, master_key)
        server = LocalServer(data_dir, tmp_path / "chalice-local.log", {
            "SIFT_AUTH": "accesskey", "SIFT_MASTER_KEY_FILE": str(master_key), "SIFT_LOCAL_FILES": "true"})
        try:
            bailian = bailian_client(server.endpoint, key_id, secret)
            yield Sdk(bailian, imm_client(server.endpoint, key_id, secret),
                      lambda path, body: signed_json(bailian, "POST", path, body), docs, media, server.upload)
        finally:
            server.stop()
        return
    monkeypatch.setenv("SIFT_AUTH", "accesskey")
    monkeypatch.setenv("SIFT_MASTER_KEY_FILE", str(master_key))
    monkeypatch.setenv("SIFT_LOCAL_FILES", "true")  # the SourceURI flow reads the test's own folders
    api: Api = request.getfixturevalue("api")
    key_id, secret = _write_key(api.data_dir, master_key)

    def upload(url: str, headers: dict[str, str], data: bytes) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(url)
        assert parts.netloc == endpoint, url  # the lease points back at the endpoint the SDK called
        reply = api.client.http.put(parts.path, body=data, headers=headers)
        return reply.status_code, json.loads(reply.body)

    with routed_through(api.client.http) as endpoint:
        bailian = bailian_client(endpoint, key_id, secret)
        yield Sdk(bailian, imm_client(endpoint, key_id, secret),
                  lambda path, body: signed_json(bailian, "POST", path, body), docs, media, upload)


def _nodes(response: Any) -> list[tuple[str, str]]:
    return [(node.metadata["doc_name"], node.text) for node in response.body.data.nodes]


# --- the knowledge-base family (Bailian) ----------------------------------------------------------------------------


def test_the_knowledge_base_flow_through_the_bailian_sdk(sdk: Sdk) -> None:
    calls = 0
    created = sdk.bailian.create_index(WS, bm.CreateIndexRequest(name="handbook", structure_type="unstructured",
                                                                 chunk_size=600, overlap_size=50))
    calls += 1
    assert (created.status_code, created.body.success, created.body.code) == (200, True, "Success")
    index_id = created.body.data.id
    assert index_id and created.body.request_id

    # Objects under a path are a Sift extension (SourceURIs); the SDK then follows the job as usual.
    status, submitted = sdk.post_json(f"/{WS}/index/add_documents_to_index",
                                      {"IndexId": index_id, "SourceURIs": [str(sdk.docs)]})
    assert status == 200, submitted
    job = sdk.bailian.get_index_job_status(WS, bm.GetIndexJobStatusRequest(index_id=index_id,
                                                                           job_id=submitted["Data"]["Id"]))
    calls += 1
    assert job.body.data.status == "COMPLETED"
    assert sorted(document.doc_name for document in job.body.data.documents) == sorted(KB_FILES)

    top_two = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="tent warranty", rerank_top_n=2))
    calls += 1
    assert top_two.body.success is True
    assert len(top_two.body.data.nodes) == 2
    assert all(0.0 <= node.score <= 1.0 for node in top_two.body.data.nodes)
    assert top_two.body.data.nodes[0].metadata["doc_name"] == "warranty.md"

    policies = sdk.bailian.retrieve(WS, bm.RetrieveRequest(
        index_id=index_id, query="policy", enable_reranking=False, rerank_top_n=10,
        search_filters=[{"category": '["policy"]'}],
    ))
    calls += 1
    assert {name for name, _ in _nodes(policies)} == {"warranty.md", "returns.md"}

    like = sdk.bailian.retrieve(WS, bm.RetrieveRequest(
        index_id=index_id, query="covered", rerank_top_n=10, search_filters=[{"doc_name": '{"like":"warr%"}'}],
    ))
    calls += 1
    assert {name for name, _ in _nodes(like)} == {"warranty.md"}

    # The same request in Sift's JSON-body form finds the same nodes with the same scores.
    request = bm.RetrieveRequest(
        index_id=index_id, query="How long is the warranty?", rerank_top_n=3, dense_similarity_top_k=50,
        sparse_similarity_top_k=50, enable_rewrite=True,
        query_history=[bm.RetrieveRequestQueryHistory(role="user", content="Tell me about the Trailhead 2P tent"),
                       bm.RetrieveRequestQueryHistory(role="assistant", content="A two-person tent of 1.8 kg.")],
        rerank=[bm.RetrieveRequestRerank(model_name="qwen3-rerank", rerank_mode="qa")],
        search_filters=[{"year": '{"gte":2025}'}], extra=bm.RetrieveRequestExtra(unique_id="u-42"),
    )
    through_sdk = sdk.bailian.retrieve(WS, request)
    calls += 1
    status, through_json = sdk.post_json(f"/{WS}/index/retrieve", {
        "IndexId": index_id, "Query": "How long is the warranty?", "RerankTopN": 3, "DenseSimilarityTopK": 50,
        "SparseSimilarityTopK": 50, "EnableRewrite": True,
        "QueryHistory": [{"role": "user", "content": "Tell me about the Trailhead 2P tent"},
                         {"role": "assistant", "content": "A two-person tent of 1.8 kg."}],
        "Rerank": [{"ModelName": "qwen3-rerank", "RerankMode": "qa"}], "SearchFilters": [{"year": {"gte": 2025}}],
        "Extra": {"uniqueId": "u-42"},
    })
    assert status == 200, through_json
    assert [(node.text, node.score, node.metadata) for node in through_sdk.body.data.nodes] == [
        (node["Text"], node["Score"], node["Metadata"]) for node in through_json["Data"]["Nodes"]
    ]
    assert through_sdk.body.data.nodes and all(node.metadata["year"] >= 2025 for node in through_sdk.body.data.nodes)

    chinese = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="杭州门店几点关门？"))
    calls += 1
    assert chinese.body.data.nodes[0].metadata["doc_name"] == "stores.md"

    listed = sdk.bailian.list_indices(WS, bm.ListIndicesRequest(page_number="1", page_size="10"))
    calls += 1
    assert [index.id for index in listed.body.data.indices] == [index_id]
    assert (listed.body.data.indices[0].name, listed.body.data.total_count) == ("handbook", 1)
    assert (listed.body.data.indices[0].chunk_size, listed.body.data.indices[0].overlap_size) == (600, 50)

    documents = sdk.bailian.list_index_documents(WS, bm.ListIndexDocumentsRequest(index_id=index_id, page_size=10))
    calls += 1
    assert documents.body.data.total_count == len(KB_FILES)
    by_name = {document.name: document for document in documents.body.data.documents}
    assert set(by_name) == set(KB_FILES) and {document.status for document in by_name.values()} == {"FINISH"}

    deleted = sdk.bailian.delete_index_document(WS, bm.DeleteIndexDocumentRequest(
        index_id=index_id, document_ids=[by_name["returns.md"].id]))
    calls += 1
    assert deleted.body.data.deleted_document == [by_name["returns.md"].id]
    after = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="returned within 30 days refund",
                                                        rerank_top_n=10))
    calls += 1
    assert "returns.md" not in {name for name, _ in _nodes(after)}

    gone = sdk.bailian.delete_index(WS, bm.DeleteIndexRequest(index_id=index_id))
    calls += 1
    assert gone.body.success is True
    with pytest.raises(ClientException) as missing:
        sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="tent"))
    calls += 1
    assert (missing.value.status_code, missing.value.code) == (404, "Index.NotFound")
    assert calls == 13


def _upload_file(sdk: Sdk, name: str, data: bytes, category_id: str = "default", tags: list[str] | None = None,
                 workspace: str = WS) -> str:
    """The documented upload: lease → PUT → AddFile; returns the FileId (three steps, two SDK calls)."""
    lease = sdk.bailian.apply_file_upload_lease(category_id, workspace, bm.ApplyFileUploadLeaseRequest(
        category_type="UNSTRUCTURED", file_name=name, md_5=hashlib.md5(data).hexdigest(), size_in_bytes=str(len(data))))
    target = lease.body.data.param
    assert (lease.body.data.type, target.method) == ("HTTP", "PUT")
    status, uploaded = sdk.upload(target.url, target.headers, data)
    assert status == 200, uploaded
    added = sdk.bailian.add_file(workspace, bm.AddFileRequest(
        lease_id=lease.body.data.file_upload_lease_id, parser="DASHSCOPE_DOCMIND", category_id=category_id,
        category_type="UNSTRUCTURED", tags=tags))
    assert added.body.success is True and added.body.data.parser == "DASHSCOPE_DOCMIND"
    return str(added.body.data.file_id)


def _wait_for_job(sdk: Sdk, index_id: str, job_id: str) -> Any:
    job = sdk.bailian.get_index_job_status(WS, bm.GetIndexJobStatusRequest(index_id=index_id, job_id=job_id))
    assert job.body.data.status == "COMPLETED", job.body.to_map()
    return job.body.data


def test_the_data_center_flow_through_the_bailian_sdk(sdk: Sdk) -> None:
    """The documented quickstart: categories and files in the data center, an index made of them, Retrieve."""
    calls = 0
    category = sdk.bailian.add_category(WS, bm.AddCategoryRequest(category_name="Policies",
                                                                  category_type="UNSTRUCTURED"))
    calls += 1
    policies = category.body.data.category_id
    assert category.body.data.category_name == "Policies" and policies.startswith("cate_")
    listed = sdk.bailian.list_category(WS, bm.ListCategoryRequest(category_type="UNSTRUCTURED"))
    calls += 1
    assert [(c.category_id, c.is_default) for c in listed.body.data.category_list] == [("default", True),
                                                                                       (policies, False)]

    file_ids: dict[str, str] = {}
    for name, text in KB_FILES.items():
        in_policies = KB_METADATA[name]["category"] == "policy"
        file_ids[name] = _upload_file(sdk, name, text.encode(), policies if in_policies else "default",
                                      tags=[KB_METADATA[name]["category"]])
        calls += 2
        described = sdk.bailian.describe_file(WS, file_ids[name], bm.DescribeFileRequest())
        calls += 1
        data = described.body.data
        assert (data.status, data.file_name, data.file_type, data.size_in_bytes) == (
            "PARSE_SUCCESS", name, "md", len(text.encode()))
        assert data.tags == [KB_METADATA[name]["category"]]
    broken = _upload_file(sdk, "broken.pdf", b"%PDF-1.7 this is not a PDF")
    calls += 2
    failed = sdk.bailian.describe_file(WS, broken, bm.DescribeFileRequest())
    calls += 1
    assert failed.body.data.status == "PARSE_FAILED" and failed.body.data.parse_error_message

    in_category = sdk.bailian.list_file(WS, bm.ListFileRequest(category_id=policies, max_results=1))
    calls += 1
    page = in_category.body.data
    assert (page.total_count, page.has_next, len(page.file_list)) == (2, True, 1)
    rest = sdk.bailian.list_file(WS, bm.ListFileRequest(category_id=policies, max_results=1,
                                                        next_token=page.next_token))
    calls += 1
    assert {page.file_list[0].file_name, rest.body.data.file_list[0].file_name} == {"warranty.md", "returns.md"}
    assert rest.body.data.has_next is False

    created = sdk.bailian.create_index(WS, bm.CreateIndexRequest(
        name="handbook", structure_type="unstructured", source_type="DATA_CENTER_CATEGORY", category_ids=[policies],
        sink_type="BUILT_IN", chunk_size=600, overlap_size=50, embedding_model_name="text-embedding-v2",
        rerank_model_name="qwen3-rerank"))
    calls += 1
    index_id = created.body.data.id
    submitted = sdk.bailian.submit_index_job(WS, bm.SubmitIndexJobRequest(index_id=index_id))
    calls += 1
    assert submitted.body.data.index_id == index_id
    job = _wait_for_job(sdk, index_id, submitted.body.data.id)
    calls += 1
    assert sorted((d.doc_id, d.doc_name) for d in job.documents) == sorted(
        (file_ids[name], name) for name in ("warranty.md", "returns.md"))

    top = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="tent warranty", rerank_top_n=1))
    calls += 1
    node = top.body.data.nodes[0]
    assert (node.metadata["doc_id"], node.metadata["doc_name"]) == (file_ids["warranty.md"], "warranty.md")

    added = sdk.bailian.submit_index_add_documents_job(WS, bm.SubmitIndexAddDocumentsJobRequest(
        index_id=index_id, source_type="DATA_CENTER_FILE", document_ids=[file_ids["stores.md"], file_ids["tent.md"]]))
    calls += 1
    _wait_for_job(sdk, index_id, added.body.data.id)
    calls += 1
    chinese = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="杭州门店几点关门？"))
    calls += 1
    assert chinese.body.data.nodes[0].metadata["doc_name"] == "stores.md"
    by_tag = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="tent", rerank_top_n=10,
                                                         search_filters=[{"tags": '["product"]'}]))
    calls += 1
    assert {n.metadata["doc_name"] for n in by_tag.body.data.nodes} == {"tent.md"}

    documents = sdk.bailian.list_index_documents(WS, bm.ListIndexDocumentsRequest(index_id=index_id, page_size=10))
    calls += 1
    assert sorted((d.id, d.source_id, d.name, d.status) for d in documents.body.data.documents) == sorted(
        (file_id, file_id, name, "FINISH") for name, file_id in file_ids.items())
    exact = sdk.bailian.list_index_documents(WS, bm.ListIndexDocumentsRequest(
        index_id=index_id, document_name="tent", enable_name_like="false"))
    calls += 1
    assert exact.body.data.total_count == 0
    like = sdk.bailian.list_index_documents(WS, bm.ListIndexDocumentsRequest(
        index_id=index_id, document_name="tent", enable_name_like="true"))
    calls += 1
    assert [d.name for d in like.body.data.documents] == ["tent.md"]

    indices = sdk.bailian.list_indices(WS, bm.ListIndicesRequest(page_number="1", page_size="10"))
    calls += 1
    assert (indices.body.data.indices[0].source_type, indices.body.data.indices[0].sink_type) == (
        "DATA_CENTER_CATEGORY", "BUILT_IN")

    deleted = sdk.bailian.delete_index_document(WS, bm.DeleteIndexDocumentRequest(
        index_id=index_id, document_ids=[file_ids["returns.md"]]))
    calls += 1
    assert deleted.body.data.deleted_document == [file_ids["returns.md"]]

    # Deleting a file removes it from the data center; the index keeps its copy until DeleteIndexDocument.
    gone = sdk.bailian.delete_file(file_ids["tent.md"], WS, bm.DeleteFileRequest())
    calls += 1
    assert gone.body.data.file_id == file_ids["tent.md"]
    with pytest.raises(ClientException) as missing:
        sdk.bailian.describe_file(WS, file_ids["tent.md"], bm.DescribeFileRequest())
    calls += 1
    assert (missing.value.status_code, missing.value.code) == (404, "Index.NotFound")
    still = sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="two-person backpacking tent"))
    calls += 1
    assert still.body.data.nodes[0].metadata["doc_name"] == "tent.md"

    with pytest.raises(ClientException) as not_empty:
        sdk.bailian.delete_category(policies, WS, bm.DeleteCategoryRequest())
    calls += 1
    assert (not_empty.value.status_code, not_empty.value.code) == (400, "Index.InvalidParameter")
    empty = sdk.bailian.add_category(WS, bm.AddCategoryRequest(category_name="Drafts", category_type="UNSTRUCTURED",
                                                               parent_category_id=policies))
    calls += 1
    dropped = sdk.bailian.delete_category(empty.body.data.category_id, WS, bm.DeleteCategoryRequest())
    calls += 1
    assert dropped.body.data.category_id == empty.body.data.category_id
    assert sdk.bailian.delete_index(WS, bm.DeleteIndexRequest(index_id=index_id)).body.success is True
    calls += 1
    assert calls == 39


def test_data_center_errors_through_the_bailian_sdk(sdk: Sdk) -> None:
    data = b"# Notes\n\nA short note."
    md5 = hashlib.md5(data).hexdigest()

    def lease(**changes: Any) -> Any:
        request = {"category_type": "UNSTRUCTURED", "file_name": "notes.md", "md_5": md5,
                   "size_in_bytes": str(len(data))} | changes
        return sdk.bailian.apply_file_upload_lease("default", WS, bm.ApplyFileUploadLeaseRequest(**request)).body.data

    def refused(call: Callable[[], Any]) -> ClientException:
        with pytest.raises(ClientException) as error:
            call()
        return error.value

    granted = lease()
    add = bm.AddFileRequest(lease_id=granted.file_upload_lease_id, category_id="default", category_type="UNSTRUCTURED")
    nothing_yet = refused(lambda: sdk.bailian.add_file(WS, add))
    assert (nothing_yet.status_code, nothing_yet.code) == (400, "Index.InvalidParameter")
    assert "nothing has been uploaded" in nothing_yet.message
    status, wrong = sdk.upload(granted.param.url, granted.param.headers, data + b"!")
    assert (status, wrong["Code"]) == (400, "Index.InvalidParameter") and "SizeInBytes" in wrong["Message"]
    status, tampered = sdk.upload(granted.param.url, granted.param.headers, data[:-1] + b"?")
    assert (status, tampered["Code"]) == (400, "Index.InvalidParameter") and "Md5" in tampered["Message"]
    assert sdk.upload(granted.param.url, granted.param.headers, data)[0] == 200
    file_id = sdk.bailian.add_file(WS, add).body.data.file_id
    twice = refused(lambda: sdk.bailian.add_file(WS, add))  # a lease makes one file
    assert (twice.status_code, twice.code) == (404, "Index.NotFound")

    other = refused(lambda: sdk.bailian.describe_file("ws_other", file_id, bm.DescribeFileRequest()))
    assert (other.status_code, other.code) == (404, "Index.NotFound")  # another workspace's file does not exist
    too_big = refused(lambda: lease(size_in_bytes=str(200 * 1024 * 1024)))
    assert too_big.status_code == 400 and "SizeInBytes" in too_big.message
    bad_name = refused(lambda: lease(file_name="../../etc/passwd"))
    assert bad_name.status_code == 400 and "FileName" in bad_name.message
    no_category = refused(lambda: sdk.bailian.apply_file_upload_lease("cate_nothere", WS, bm.ApplyFileUploadLeaseRequest(
        file_name="a.md", md_5=md5, size_in_bytes="3")))
    assert (no_category.status_code, no_category.code) == (404, "Index.NotFound")

    no_ids = refused(lambda: sdk.bailian.create_index(WS, bm.CreateIndexRequest(
        name="x", structure_type="unstructured", source_type="DATA_CENTER_FILE", sink_type="BUILT_IN")))
    assert no_ids.status_code == 400 and "DocumentIds" in no_ids.message
    unknown_file = refused(lambda: sdk.bailian.create_index(WS, bm.CreateIndexRequest(
        name="x", structure_type="unstructured", source_type="DATA_CENTER_FILE", document_ids=["file_nothere"],
        sink_type="BUILT_IN")))
    assert unknown_file.status_code == 400 and "DocumentIds[0]" in unknown_file.message
    unsupported = refused(lambda: sdk.bailian.create_index(WS, bm.CreateIndexRequest(
        name="x", structure_type="unstructured", source_type="DATA_CENTER_FILE", document_ids=[file_id],
        sink_type="BUILT_IN", separator="。")))
    assert unsupported.status_code == 400 and "Separator" in unsupported.message


def test_bailian_sdk_errors_carry_the_documented_code_and_message(sdk: Sdk) -> None:
    index_id = sdk.bailian.create_index(WS, bm.CreateIndexRequest(name="errors")).body.data.id

    with pytest.raises(ClientException) as too_many:
        sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="tent", rerank_top_n=21))
    assert (too_many.value.status_code, too_many.value.code) == (400, "Index.InvalidParameter")
    assert "RerankTopN" in too_many.value.message and too_many.value.request_id

    with pytest.raises(ClientException) as bad_filter:
        sdk.bailian.retrieve(WS, bm.RetrieveRequest(index_id=index_id, query="tent",
                                                    search_filters=[{"year": '{"between": 1}'}]))
    assert bad_filter.value.code == "Index.InvalidParameter"
    assert "SearchFilters[0].year.between" in bad_filter.value.message

    with pytest.raises(ClientException) as unknown:
        sdk.bailian.get_index_job_status(WS, bm.GetIndexJobStatusRequest(index_id=index_id, job_id="job_missing"))
    assert (unknown.value.status_code, unknown.value.code) == (404, "Index.NotFound")


# --- the media family (IMM) -----------------------------------------------------------------------------------------


def test_every_implemented_imm_operation_through_the_imm_sdk(sdk: Sdk) -> None:
    imm, calls = sdk.imm, 0
    project = imm.create_project(im.CreateProjectRequest(project_name=PROJECT, description="trips"))
    calls += 1
    assert project.body.project.project_name == PROJECT and project.body.request_id
    dataset = imm.create_dataset(im.CreateDatasetRequest(project_name=PROJECT, dataset_name=DATASET))
    calls += 1
    assert dataset.body.dataset.dataset_name == DATASET
    listed = imm.list_datasets(im.ListDatasetsRequest(project_name=PROJECT, max_results=10))
    calls += 1
    assert [item.dataset_name for item in listed.body.datasets] == [DATASET]

    west_lake = (sdk.media / "west-lake.txt").as_uri()
    single = imm.index_file_meta(im.IndexFileMetaRequest(
        project_name=PROJECT, dataset_name=DATASET,
        file=im.InputFile(uri=west_lake, labels=[im.Label(label_name="风景")], produce_time="2023-04-02T10:00:00+08:00",
                          addresses=[im.Address(city="杭州", address_line="浙江省杭州市西湖")]),
    ))
    calls += 1
    assert single.body.event_id
    batch = imm.batch_index_file_meta(im.BatchIndexFileMetaRequest(
        project_name=PROJECT, dataset_name=DATASET,
        files=[im.InputFile(uri=(sdk.media / name).as_uri(), title=name) for name in ("bund.txt", "great-wall.txt")],
    ))
    calls += 1
    assert batch.body.event_id

    meta = imm.get_file_meta(im.GetFileMetaRequest(project_name=PROJECT, dataset_name=DATASET, uri=west_lake,
                                                   with_fields=["URI", "Labels", "ProduceTime"]))
    calls += 1
    [file] = meta.body.files
    assert (file.uri, file.labels[0].label_name, file.produce_time) == (west_lake, "风景", "2023-04-02T10:00:00+08:00")

    retrieved = imm.contextual_retrieval(im.ContextualRetrievalRequest(
        project_name=PROJECT, dataset_name=DATASET, recall_only=True,
        messages=[im.ContextualMessage(role="user", content="上海的夜景")],
    ))
    calls += 1
    assert retrieved.body.results and retrieved.body.results[0].uri.endswith("bund.txt")

    semantic = imm.semantic_query(im.SemanticQueryRequest(
        project_name=PROJECT, dataset_name=DATASET, query="2023年杭州的风景", max_results=10,
        with_fields=["URI", "Labels"], media_types=["document"],  # the documented default is images only
    ))
    calls += 1
    assert [item.uri for item in semantic.body.files] == [west_lake]

    answer = imm.contextual_answer(im.ContextualAnswerRequest(
        project_name=PROJECT,
        messages=[im.ContextualMessage(role="user", content="Where is the Great Wall?")],
        files=[im.ContextualFile(uri=item.uri, media_type=item.media_type, content_type=item.content_type,
                                 elements=[im.Element(element_contents=[im.ElementContent(
                                     type="text", content=MEDIA_FILES[item.uri.rsplit("/", 1)[1]])])])
               for item in retrieved.body.results],
    ))
    calls += 1
    assert "Beijing" in answer.body.answer.content or "北京" in answer.body.answer.content
    assert [reference.uri for reference in answer.body.answer.references] == [(sdk.media / "great-wall.txt").as_uri()]

    imm.delete_file_meta(im.DeleteFileMetaRequest(project_name=PROJECT, dataset_name=DATASET, uri=west_lake))
    calls += 1
    imm.batch_delete_file_meta(im.BatchDeleteFileMetaRequest(
        project_name=PROJECT, dataset_name=DATASET, uris=[(sdk.media / "bund.txt").as_uri()]))
    calls += 1
    with pytest.raises(ClientException) as missing:
        imm.get_file_meta(im.GetFileMetaRequest(project_name=PROJECT, dataset_name=DATASET, uri=west_lake))
    calls += 1
    assert (missing.value.status_code, missing.value.code) == (404, "ResourceNotFound")
    assert missing.value.data["HostId"] and "Recommend" in missing.value.data

    binding = imm.create_binding(im.CreateBindingRequest(project_name=PROJECT, dataset_name=DATASET,
                                                         uri=sdk.media.as_uri() + "/"))
    calls += 1
    assert binding.body.binding.uri == sdk.media.as_uri() + "/"
    again = imm.get_file_meta(im.GetFileMetaRequest(project_name=PROJECT, dataset_name=DATASET, uri=west_lake))
    calls += 1
    assert again.body.files[0].uri == west_lake
    assert calls == 14


def _call_imm(imm: ImmClient, action: str, version: str = "2020-09-30") -> dict[str, Any]:
    params = Params(action=action, version=version, protocol="HTTP", pathname="/", method="POST", auth_type="AK",
                    style="RPC", req_body_type="formData", body_type="json")
    request = open_api_models.OpenApiRequest(query={"ProjectName": PROJECT})
    return imm.call_api(params, request, RuntimeOptions())


def test_imm_sdk_errors_for_unknown_actions_versions_and_bad_parameters(sdk: Sdk) -> None:
    with pytest.raises(ClientException) as unknown:
        _call_imm(sdk.imm, "DetectImageCars")
    assert (unknown.value.status_code, unknown.value.code) == (404, "InvalidAction.NotFound")

    with pytest.raises(ClientException) as version:
        _call_imm(sdk.imm, "CreateProject", version="2017-09-06")
    assert (version.value.status_code, version.value.code) == (400, "InvalidVersion")

    with pytest.raises(ClientException) as bad:
        sdk.imm.list_datasets(im.ListDatasetsRequest(project_name="bad name!"))
    assert (bad.value.status_code, bad.value.code) == (400, "InvalidArgument")
    assert "ProjectName" in bad.value.message

    with pytest.raises(ClientException) as missing:
        sdk.imm.contextual_retrieval(im.ContextualRetrievalRequest(
            project_name=PROJECT, dataset_name="nowhere", messages=[im.ContextualMessage(role="user", content="x")]))
    assert (missing.value.status_code, missing.value.code) == (404, "ResourceNotFound")
