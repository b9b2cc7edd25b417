"""Golden tests of the SDK encodings: what the official SDKs put on the wire, decoded by ``gather_parameters``, must
validate to the same request as Sift's JSON form of the same call — per operation.

The SDK requests are captured at the SDKs' one HTTP call (``DaraCore.do_action``), so the query strings, form bodies
and shrink JSON here are byte for byte what ``alibabacloud-bailian20231229`` and ``alibabacloud-imm20200930`` send.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alibabacloud_bailian20231229 import models as bm
from alibabacloud_imm20200930 import models as im

from chalicelib.api.common import parse_request
from chalicelib.api.operations import BY_NAME
from chalicelib.api.wire import RPC_PROTOCOL_PARAMETERS, HttpRequest, TextKind, gather_parameters, text_kinds
from chalicelib.core.errors import InvalidParameterError
from tests.api.sdk import SdkRequest, bailian_client, dara_response, imm_client, sdk_requests


@pytest.fixture
def capture() -> Iterator[list[SdkRequest]]:
    """The requests the SDKs encode, each answered with an empty 200 instead of being sent."""
    with sdk_requests(lambda request: dara_response(200, {}, b"{}")) as sent:
        yield sent


def _path_parameters(operation: str, path: str) -> dict[str, str]:
    """The path's parameters (WorkspaceId aside) as the route matches them; the SDKs add a trailing slash to some
    paths, which API Gateway and ``chalice local`` drop."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(BY_NAME[operation].path))
    match = re.fullmatch(pattern, path.rstrip("/") if path != "/" else path)
    assert match is not None, (operation, path)
    return {name: urllib.parse.unquote(value) for name, value in match.groupdict().items() if name != "WorkspaceId"}


def _decoded(operation: str, sent: SdkRequest) -> Any:
    op = BY_NAME[operation]
    http = HttpRequest(sent.query, sent.body or None, sent.headers.get("content-type", ""))
    drop = RPC_PROTOCOL_PARAMETERS if op.family.value == "imm" else ()
    payload = gather_parameters(op.request_model, http, comma_lists=op.wire.comma_lists, drop=drop)
    if op.family.value != "imm":
        payload |= _path_parameters(operation, sent.path)
    return parse_request(op.request_model, payload)


BAILIAN = bailian_client("sift.test")
IMM = imm_client("sift.test")
URI = "oss://bucket/photos/a.jpg"

# (operation, the SDK call, Sift's JSON form of the same parameters)
GOLDEN: list[tuple[str, Callable[[], Any], dict[str, Any]]] = [
    ("Retrieve", lambda: BAILIAN.retrieve("ws_demo", bm.RetrieveRequest(
        index_id="kb_demo", query="how long is it covered? 保修", dense_similarity_top_k=40,
        sparse_similarity_top_k=0, enable_reranking=True, enable_rewrite=True, rerank_top_n=3, rerank_min_score=0.25,
        rerank=[bm.RetrieveRequestRerank(model_name="qwen3-rerank", rerank_mode="custom", rerank_instruct="be brief")],
        rewrite=[bm.RetrieveRequestRewrite(model_name="conv-rewrite-qwen-1.8b")],
        query_history=[bm.RetrieveRequestQueryHistory(role="user", content="tent?"),
                       bm.RetrieveRequestQueryHistory(role="assistant", content="Trailhead 2P.")],
        search_filters=[{"category": '["policy","product"]'}, {"year": '{"gte":2025}'}],
        images=["https://example.com/a.png", "s3://bucket/b.jpg"], save_retriever_history=True,
        extra=bm.RetrieveRequestExtra(unique_id="u-1"),
    )), {
        "IndexId": "kb_demo", "Query": "how long is it covered? 保修", "DenseSimilarityTopK": 40,
        "SparseSimilarityTopK": 0, "EnableReranking": True, "EnableRewrite": True, "RerankTopN": 3,
        "RerankMinScore": 0.25,
        "Rerank": [{"ModelName": "qwen3-rerank", "RerankMode": "custom", "RerankInstruct": "be brief"}],
        "Rewrite": [{"ModelName": "conv-rewrite-qwen-1.8b"}],
        "QueryHistory": [{"role": "user", "content": "tent?"}, {"role": "assistant", "content": "Trailhead 2P."}],
        "SearchFilters": [{"category": ["policy", "product"]}, {"year": {"gte": 2025}}],
        "Images": ["https://example.com/a.png", "s3://bucket/b.jpg"], "SaveRetrieverHistory": True,
        "Extra": {"uniqueId": "u-1"},
    }),
    ("ListIndices", lambda: BAILIAN.list_indices("ws_demo", bm.ListIndicesRequest(
        index_name="kb", page_number="2", page_size="20")), {"IndexName": "kb", "PageNumber": 2, "PageSize": 20}),
    ("DeleteIndex", lambda: BAILIAN.delete_index("ws_demo", bm.DeleteIndexRequest(index_id="kb_demo")),
     {"IndexId": "kb_demo"}),
    ("GetIndexJobStatus", lambda: BAILIAN.get_index_job_status("ws_demo", bm.GetIndexJobStatusRequest(
        index_id="kb_demo", job_id="job_1", page_number=1, page_size=50)),
     {"IndexId": "kb_demo", "JobId": "job_1", "PageNumber": 1, "PageSize": 50}),
    ("ListIndexDocuments", lambda: BAILIAN.list_index_documents("ws_demo", bm.ListIndexDocumentsRequest(
        index_id="kb_demo", document_name="warranty", document_status="FINISH", page_number=1, page_size=5)),
     {"IndexId": "kb_demo", "DocumentName": "warranty", "DocumentStatus": "FINISH", "PageNumber": 1, "PageSize": 5}),
    ("DeleteIndexDocument", lambda: BAILIAN.delete_index_document("ws_demo", bm.DeleteIndexDocumentRequest(
        index_id="kb_demo", document_ids=["doc_1", "doc_2"])), {"IndexId": "kb_demo", "DocumentIds": ["doc_1", "doc_2"]}),
    ("CreateIndex", lambda: BAILIAN.create_index("ws_demo", bm.CreateIndexRequest(
        name="handbook", structure_type="unstructured", chunk_size=500, overlap_size=100, description="d",
        rerank_model_name="gte-rerank", rerank_min_score=0.2)),
     {"Name": "handbook", "StructureType": "unstructured", "ChunkSize": 500, "OverlapSize": 100, "Description": "d",
      "RerankModelName": "gte-rerank", "RerankMinScore": 0.2}),
    ("CreateIndex", lambda: BAILIAN.create_index("ws_demo", bm.CreateIndexRequest(
        name="handbook", structure_type="unstructured", source_type="DATA_CENTER_CATEGORY", category_ids=["cate_1"],
        sink_type="BUILT_IN", embedding_model_name="text-embedding-v2")),
     {"Name": "handbook", "StructureType": "unstructured", "SourceType": "DATA_CENTER_CATEGORY",
      "CategoryIds": ["cate_1"], "SinkType": "BUILT_IN", "EmbeddingModelName": "text-embedding-v2"}),
    ("SubmitIndexJob", lambda: BAILIAN.submit_index_job("ws_demo", bm.SubmitIndexJobRequest(index_id="kb_demo")),
     {"IndexId": "kb_demo"}),
    ("SubmitIndexAddDocumentsJob", lambda: BAILIAN.submit_index_add_documents_job(
        "ws_demo", bm.SubmitIndexAddDocumentsJobRequest(
            index_id="kb_demo", source_type="DATA_CENTER_FILE", document_ids=["file_1", "file_2"],
            extra=bm.SubmitIndexAddDocumentsJobRequestExtra(unique_id="u-2"))),
     {"IndexId": "kb_demo", "SourceType": "DATA_CENTER_FILE", "DocumentIds": ["file_1", "file_2"],
      "Extra": {"uniqueId": "u-2"}}),
    ("ListIndexDocuments", lambda: BAILIAN.list_index_documents("ws_demo", bm.ListIndexDocumentsRequest(
        index_id="kb_demo", document_name="warranty.md", enable_name_like="false")),
     {"IndexId": "kb_demo", "DocumentName": "warranty.md", "EnableNameLike": False}),
    ("ApplyFileUploadLease", lambda: BAILIAN.apply_file_upload_lease("cate_1", "ws_demo", bm.ApplyFileUploadLeaseRequest(
        category_type="UNSTRUCTURED", file_name="保修 policy.pdf", md_5="0" * 32, size_in_bytes="2048",
        use_internal_endpoint=False)),
     {"CategoryId": "cate_1", "CategoryType": "UNSTRUCTURED", "FileName": "保修 policy.pdf", "Md5": "0" * 32,
      "SizeInBytes": 2048, "UseInternalEndpoint": False}),
    ("AddFile", lambda: BAILIAN.add_file("ws_demo", bm.AddFileRequest(
        lease_id="lease_" + "a" * 32, parser="DASHSCOPE_DOCMIND", category_id="default", category_type="UNSTRUCTURED",
        tags=["policy", "2025"])),
     {"LeaseId": "lease_" + "a" * 32, "Parser": "DASHSCOPE_DOCMIND", "CategoryId": "default",
      "CategoryType": "UNSTRUCTURED", "Tags": ["policy", "2025"]}),
    ("DescribeFile", lambda: BAILIAN.describe_file("ws_demo", "file_1", bm.DescribeFileRequest()),
     {"FileId": "file_1"}),
    ("DeleteFile", lambda: BAILIAN.delete_file("file_1", "ws_demo", bm.DeleteFileRequest()), {"FileId": "file_1"}),
    ("ListFile", lambda: BAILIAN.list_file("ws_demo", bm.ListFileRequest(
        category_id="default", file_ids=["file_1"], file_name="保修", max_results=50, next_token="20")),
     {"CategoryId": "default", "FileIds": ["file_1"], "FileName": "保修", "MaxResults": 50, "NextToken": "20"}),
    ("AddCategory", lambda: BAILIAN.add_category("ws_demo", bm.AddCategoryRequest(
        category_name="政策", category_type="UNSTRUCTURED", parent_category_id="cate_1")),
     {"CategoryName": "政策", "CategoryType": "UNSTRUCTURED", "ParentCategoryId": "cate_1"}),
    ("ListCategory", lambda: BAILIAN.list_category("ws_demo", bm.ListCategoryRequest(
        category_type="UNSTRUCTURED", category_name="政", max_results=10, parent_category_id="cate_1")),
     {"CategoryType": "UNSTRUCTURED", "CategoryName": "政", "MaxResults": 10, "ParentCategoryId": "cate_1"}),
    ("DeleteCategory", lambda: BAILIAN.delete_category("cate_1", "ws_demo", bm.DeleteCategoryRequest()),
     {"CategoryId": "cate_1"}),
    ("ContextualRetrieval", lambda: IMM.contextual_retrieval(im.ContextualRetrievalRequest(
        project_name="travel", dataset_name="photos", recall_only=True, smart_cluster_ids=["sc-1"],
        messages=[im.ContextualMessage(role="user", content="杭州", files=[])])),
     {"ProjectName": "travel", "DatasetName": "photos", "RecallOnly": True, "SmartClusterIds": ["sc-1"],
      "Messages": [{"Role": "user", "Content": "杭州", "Files": []}]}),
    ("SemanticQuery", lambda: IMM.semantic_query(im.SemanticQueryRequest(
        project_name="travel", dataset_name="photos", query="2023 年杭州的风景", max_results=10,
        with_fields=["URI", "Labels"], media_types=["image", "document"])),
     {"ProjectName": "travel", "DatasetName": "photos", "Query": "2023 年杭州的风景", "MaxResults": 10,
      "WithFields": ["URI", "Labels"], "MediaTypes": ["image", "document"]}),
    ("ContextualAnswer", lambda: IMM.contextual_answer(im.ContextualAnswerRequest(
        project_name="travel", messages=[im.ContextualMessage(role="user", content="where?")],
        files=[im.ContextualFile(uri=URI, media_type="image")])),
     {"ProjectName": "travel", "Messages": [{"Role": "user", "Content": "where?", "Files": []}],
      "Files": [{"URI": URI, "MediaType": "image", "Elements": []}]}),
    ("CreateProject", lambda: IMM.create_project(im.CreateProjectRequest(
        project_name="travel", description="trips", tag=[im.CreateProjectRequestTag(key="team", value="search")],
        project_max_dataset_count=10)),
     {"ProjectName": "travel", "Description": "trips", "Tag": [{"Key": "team", "Value": "search"}],
      "ProjectMaxDatasetCount": 10}),
    ("ListDatasets", lambda: IMM.list_datasets(im.ListDatasetsRequest(
        project_name="travel", max_results=50, prefix="ph", next_token="")),
     {"ProjectName": "travel", "MaxResults": 50, "Prefix": "ph", "NextToken": ""}),
    ("IndexFileMeta", lambda: IMM.index_file_meta(im.IndexFileMetaRequest(
        project_name="travel", dataset_name="photos", user_data="{}",
        file=im.InputFile(uri=URI, labels=[im.Label(label_name="风景")], produce_time="2023-04-02T10:00:00+08:00"))),
     {"ProjectName": "travel", "DatasetName": "photos", "UserData": "{}",
      "File": {"URI": URI, "Labels": [{"LabelName": "风景", "Clips": []}], "ProduceTime": "2023-04-02T10:00:00+08:00",
               "Addresses": [], "Figures": []}}),
    ("BatchIndexFileMeta", lambda: IMM.batch_index_file_meta(im.BatchIndexFileMetaRequest(
        project_name="travel", dataset_name="photos", files=[im.InputFile(uri=URI, title="a")])),
     {"ProjectName": "travel", "DatasetName": "photos",
      "Files": [{"URI": URI, "Title": "a", "Addresses": [], "Figures": [], "Labels": []}]}),
    ("GetFileMeta", lambda: IMM.get_file_meta(im.GetFileMetaRequest(
        project_name="travel", dataset_name="photos", uri=URI, with_fields=["Labels"])),
     {"ProjectName": "travel", "DatasetName": "photos", "URI": URI, "WithFields": ["Labels"]}),
    ("DeleteFileMeta", lambda: IMM.delete_file_meta(im.DeleteFileMetaRequest(
        project_name="travel", dataset_name="photos", uri=URI)),
     {"ProjectName": "travel", "DatasetName": "photos", "URI": URI}),
    ("BatchDeleteFileMeta", lambda: IMM.batch_delete_file_meta(im.BatchDeleteFileMetaRequest(
        project_name="travel", dataset_name="photos", uris=[URI])),
     {"ProjectName": "travel", "DatasetName": "photos", "URIs": [URI]}),
    ("CreateBinding", lambda: IMM.create_binding(im.CreateBindingRequest(
        project_name="travel", dataset_name="photos", uri="oss://bucket/photos/")),
     {"ProjectName": "travel", "DatasetName": "photos", "URI": "oss://bucket/photos/"}),
    ("CreateDataset", lambda: IMM.create_dataset(im.CreateDatasetRequest(
        project_name="travel", dataset_name="photos", description="d", dataset_max_file_count=100)),
     {"ProjectName": "travel", "DatasetName": "photos", "Description": "d", "DatasetMaxFileCount": 100}),
]


@pytest.mark.parametrize(("operation", "call", "json_form"), GOLDEN, ids=[row[0] for row in GOLDEN])
def test_the_sdk_encoding_decodes_to_the_json_form(
    capture: list[SdkRequest], operation: str, call: Callable[[], Any], json_form: dict[str, Any]
) -> None:
    call()
    [sent] = capture
    if BY_NAME[operation].family.value == "imm":
        assert (sent.method, sent.path, sent.headers["x-acs-action"]) == ("POST", "/", operation)
        assert sent.headers["x-acs-version"] == "2020-09-30"
    else:
        assert (sent.method, sent.path.split("/")[1]) == (BY_NAME[operation].method, "ws_demo")
        _path_parameters(operation, sent.path)  # the route matches the path the SDK sent
        assert sent.headers["x-acs-version"] == "2023-12-29"
    expected = parse_request(BY_NAME[operation].request_model, json_form)
    assert _decoded(operation, sent) == expected


def test_every_implemented_operation_with_an_sdk_namesake_has_a_golden_case() -> None:
    official = {name for name, operation in BY_NAME.items() if not operation.extension}
    assert official <= {row[0] for row in GOLDEN}


def _gather(model_name: str, query: dict[str, list[str]], body: bytes | None = None, content_type: str = "") -> Any:
    operation = BY_NAME[model_name]
    return gather_parameters(operation.request_model, HttpRequest(query, body, content_type),
                             comma_lists=operation.wire.comma_lists)


@pytest.mark.parametrize(("text", "value"), [("True", True), ("true", True), ("FALSE", False), ("false", False)])
def test_booleans_as_any_sdk_writes_them(text: str, value: bool) -> None:
    assert _gather("Retrieve", {"EnableReranking": [text]})["EnableReranking"] is value


def test_text_that_is_not_of_the_declared_type_is_a_400_naming_the_parameter() -> None:
    for name, text in (("EnableReranking", "yes"), ("DenseSimilarityTopK", "5.5"), ("RerankMinScore", "half"),
                       ("RerankMinScore", "nan"), ("Rerank", "[{"), ("SearchFilters", "NaN")):
        with pytest.raises(InvalidParameterError) as caught:
            _gather("Retrieve", {name: [text]})
        assert caught.value.field == name


def test_a_parameter_given_twice_with_different_values_is_a_400_naming_it() -> None:
    body = json.dumps({"IndexId": "kb_a", "Query": "q"}).encode()
    with pytest.raises(InvalidParameterError) as caught:
        _gather("Retrieve", {"IndexId": ["kb_b"]}, body, "application/json")
    assert caught.value.field == "IndexId" and "query string and the body" in caught.value.problem
    with pytest.raises(InvalidParameterError) as repeated:
        _gather("Retrieve", {"Query": ["a", "b"]})
    assert repeated.value.field == "Query"
    # the same value in both places is the same parameter, not a conflict
    assert _gather("Retrieve", {"IndexId": ["kb_a"], "DenseSimilarityTopK": ["5"]},
                   json.dumps({"IndexId": "kb_a", "DenseSimilarityTopK": 5}).encode())["DenseSimilarityTopK"] == 5


def test_form_bodies_and_query_strings_merge() -> None:
    merged = _gather("ContextualRetrieval", {"ProjectName": ["p"], "RecallOnly": ["True"]},
                     b"Messages=%5B%7B%22Role%22%3A%22user%22%2C%22Content%22%3A%22x%22%7D%5D&DatasetName=d",
                     "application/x-www-form-urlencoded; charset=utf-8")
    assert merged == {"ProjectName": "p", "RecallOnly": True, "DatasetName": "d",
                      "Messages": [{"Role": "user", "Content": "x"}]}


def test_images_travel_comma_joined_or_as_json() -> None:
    assert _gather("Retrieve", {"Images": ["s3://b/a.png,s3://b/c.png"]})["Images"] == ["s3://b/a.png", "s3://b/c.png"]
    assert _gather("Retrieve", {"Images": ['["s3://b/a.png"]']})["Images"] == ["s3://b/a.png"]


def test_text_kinds_follow_the_request_models() -> None:
    kinds = text_kinds(BY_NAME["Retrieve"].request_model)
    assert kinds["DenseSimilarityTopK"] is TextKind.INTEGER
    assert kinds["RerankMinScore"] is TextKind.NUMBER
    assert kinds["EnableReranking"] is TextKind.BOOLEAN
    assert kinds["Query"] is TextKind.TEXT
    assert kinds["SearchFilters"] is TextKind.JSON and kinds["Rerank"] is TextKind.JSON
    assert text_kinds(BY_NAME["GetIndexJobStatus"].request_model)["pageSize"] is TextKind.INTEGER
