"""Request limits over HTTP and the Lambdas: body size, batch sizes, string lengths and nesting depth.

- **Body size**: a body over ``MAX_BODY_BYTES`` (1 MiB) is refused before it is parsed, by every POST operation of
  both families, with the family's invalid-parameter envelope naming ``body`` and the cap: 400 ``Index.InvalidParameter``
  / ``InvalidArgument`` (README "Errors": over-long input is a 400; ``ErrorKind.PAYLOAD_TOO_LARGE``, 413, is not
  used for it). A body of exactly 1 MiB is accepted. Nothing is stored by a refused body. A direct Lambda event meets
  the same cap, measured as compact JSON.
- **Batches**: the largest documented batch passes (100 Files, 100 DocumentIds, 100 URIs, ...), one more is a 400
  naming the list, and nothing of the refused batch happens.
- **Strings**: every bounded free-text field refuses one character over its bound, and a very long value, with a 400
  naming the field (never a 500, never the value echoed back). The File fields IMM documents without a bound (Title,
  Labels, OCRTexts, ...) are stored and returned exactly as given, whatever their length up to the body cap;
  ContextualAnswer cuts each File's text to 4,000 characters (documented).
- **Nesting**: a body nesting arrays and objects deeper than ``MAX_BODY_DEPTH`` (64) levels — 10,000 levels of ``[``
  included — is a 400 naming ``body``, never a 500 or a recursion error, over HTTP and as a Lambda event.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.common import MAX_BODY_BYTES, MAX_BODY_DEPTH
from chalicelib.api.envelopes import Family
from chalicelib.api.operations import BY_NAME, OPERATIONS
from tests.api.conftest import PYTHON_INTERNALS, WS, Api, Reply

PROJECT, DATASET = "limits", "files"
IN_DATASET = {"ProjectName": PROJECT, "DatasetName": DATASET}
MEDIA = "s3://limits-media/photos"
BAD = {Family.BAILIAN: "Index.InvalidParameter", Family.IMM: "InvalidArgument"}
POST_OPERATIONS = [operation.name for operation in OPERATIONS if operation.method == "POST"]


def path_of(name: str, ws: str = WS) -> str:
    return BY_NAME[name].path.replace("{WorkspaceId}", ws)


def call(api: Api, name: str, params: dict[str, Any], ws: str = WS) -> Reply:
    """The operation over HTTP; its path parameters (CategoryId, FileId) go in the path, as the SDKs send them."""
    operation = BY_NAME[name]
    path, params = path_of(name, ws), dict(params)
    for key in re.findall(r"\{(\w+)\}", path):
        path = path.replace(f"{{{key}}}", urllib.parse.quote(str(params.pop(key)), safe=""))
    return api.call(operation.method, path, params)


def ok(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, (reply.status, reply.body)
    return reply.body  # type: ignore[no-any-return]


def refused(name: str, reply: Reply, field: str) -> str:
    """The family's 400 envelope naming ``field``, without internals and without echoing a long input."""
    family = BY_NAME[name].family
    assert reply.status == 400, (reply.status, str(reply.body)[:500])
    body = reply.body
    expected_keys = {"Code", "Message", "RequestId"} | (
        {"Status", "Success"} if family is Family.BAILIAN else {"HostId", "Recommend"})
    assert set(body) == expected_keys, body
    assert body["Code"] == BAD[family], body
    message = body["Message"]
    assert message.startswith(f"Parameter {field} is invalid") or f"Parameter {field}" in message, message
    assert len(message) < 500, message[:500]
    for word in PYTHON_INTERNALS:
        assert word not in message, message
    return str(message)


def lambda_refused(api: Api, name: str, event: dict[str, Any], field: str) -> None:
    family = BY_NAME[name].family
    payload = {**event, "WorkspaceId": WS} if family is Family.BAILIAN else event
    body = api.invoke(name, payload)
    assert body["Code"] == BAD[family], str(body)[:500]
    assert f"Parameter {field}" in body["Message"], body["Message"]


def turns(*contents: str) -> list[dict[str, str]]:
    return [{"Role": "user" if i % 2 == 0 else "assistant", "Content": c} for i, c in enumerate(contents)]


@pytest.fixture
def seeded(api: Api, tmp_path: Path) -> dict[str, Any]:
    """A knowledge base with two documents and a dataset with one file: what a refused request must leave alone."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The Larkspur tent weighs two kilograms.", encoding="utf-8")
    (folder / "b.txt").write_text("The Larkspur stove boils water in three minutes.", encoding="utf-8")
    index_id = api.create_index("limits")
    assert api.add_documents(index_id, [str(folder)])["Status"] == "COMPLETED"
    ok(api.post("/imm/CreateProject", {"ProjectName": PROJECT}))
    ok(api.post("/imm/CreateDataset", IN_DATASET))
    ok(api.post("/imm/IndexFileMeta", {**IN_DATASET, "File": {"URI": f"{MEDIA}/lake.jpg", "Title": "West Lake"}}))
    return {"index_id": index_id, "doc_ids": [document["Id"] for document in api.documents(index_id)]}


def state(api: Api, seeded: dict[str, Any]) -> dict[str, Any]:
    index_id = seeded["index_id"]
    return {
        "indices": api.list_indices(PageSize=100).data,
        "documents": api.documents(index_id),
        "history": api.history(index_id).data["TotalCount"],
        "datasets": ok(api.post("/imm/ListDatasets", {"ProjectName": PROJECT}))["Datasets"],
        "files": ok(api.post("/imm/ContextualRetrieval", {**IN_DATASET, "Messages": turns("lake photos"),
                                                          "RecallOnly": True}))["Results"],
    }


# --- body size ------------------------------------------------------------------------------------------------------


def _padded(params: dict[str, Any], size: int) -> bytes:
    """``params`` as a JSON object of exactly ``size`` bytes (whitespace before the closing brace)."""
    raw = json.dumps(params).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


@pytest.mark.parametrize("name", POST_OPERATIONS)
def test_a_body_one_byte_over_the_cap_is_refused_before_it_is_parsed(
    api: Api, seeded: dict[str, Any], name: str
) -> None:
    before = state(api, seeded)
    # An empty object, padded: were it parsed, the missing required fields would be named instead of the body.
    reply = api.post_raw(path_of(name), _padded({}, MAX_BODY_BYTES + 1))
    assert str(MAX_BODY_BYTES) in refused(name, reply, "body")
    assert state(api, seeded) == before


def _file_exists(api: Api, uri: str) -> bool:
    return api.post("/imm/GetFileMeta", {**IN_DATASET, "URI": uri}).status == 200


WRITES = [
    pytest.param("CreateIndex", {"Name": "huge"},
                 lambda api: "huge" in [index["Name"] for index in api.list_indices().data["Indices"]],
                 id="CreateIndex"),
    pytest.param("CreateProject", {"ProjectName": "huge"},
                 lambda api: api.post("/imm/ListDatasets", {"ProjectName": "huge"}).status == 200, id="CreateProject"),
    pytest.param("CreateDataset", {"ProjectName": PROJECT, "DatasetName": "huge"},
                 lambda api: api.post("/imm/ListDatasets", {"ProjectName": PROJECT, "Prefix": "huge"}).body["Datasets"]
                 != [], id="CreateDataset"),
    pytest.param("IndexFileMeta", {**IN_DATASET, "File": {"URI": f"{MEDIA}/huge.jpg", "Title": "huge"}},
                 lambda api: _file_exists(api, f"{MEDIA}/huge.jpg"), id="IndexFileMeta"),
    pytest.param("BatchIndexFileMeta", {**IN_DATASET, "Files": [{"URI": f"{MEDIA}/huge.jpg", "Title": "huge"}]},
                 lambda api: _file_exists(api, f"{MEDIA}/huge.jpg"), id="BatchIndexFileMeta"),
    pytest.param("DeleteFileMeta", {**IN_DATASET, "URI": f"{MEDIA}/lake.jpg"},
                 lambda api: not _file_exists(api, f"{MEDIA}/lake.jpg"), id="DeleteFileMeta"),
]


@pytest.mark.parametrize(("name", "params", "done"), WRITES)
def test_a_write_over_the_cap_does_nothing_and_at_the_cap_it_is_done(
    api: Api, seeded: dict[str, Any], name: str, params: dict[str, Any], done: Any
) -> None:
    before = state(api, seeded)
    refused(name, api.post_raw(path_of(name), _padded(params, MAX_BODY_BYTES + 1)), "body")
    # A Lambda event is measured as compact JSON; the size is checked before the parameters are.
    lambda_refused(api, name, {**params, "Padding": "x" * MAX_BODY_BYTES}, "body")
    assert not done(api)
    assert state(api, seeded) == before
    ok(api.post_raw(path_of(name), _padded(params, MAX_BODY_BYTES)))  # exactly the cap: accepted
    assert done(api)


def test_a_lambda_event_at_the_cap_is_accepted(api: Api, seeded: dict[str, Any]) -> None:
    title = "t" * (MAX_BODY_BYTES - 200)
    event = {**IN_DATASET, "File": {"URI": f"{MEDIA}/long.jpg", "Title": title}}
    assert api.invoke("IndexFileMeta", event)["Files"][0]["ObjectStatus"] == "Indexed"
    stored = ok(api.post("/imm/GetFileMeta", {**IN_DATASET, "URI": f"{MEDIA}/long.jpg"}))["Files"][0]
    assert stored["Title"] == title


# --- batch sizes ----------------------------------------------------------------------------------------------------


def test_100_files_index_in_one_batch_and_101_index_none(api: Api, seeded: dict[str, Any]) -> None:
    files = [{"URI": f"{MEDIA}/batch-{n:03}.jpg", "Title": f"batch photo {n}"} for n in range(101)]
    before = state(api, seeded)
    refused("BatchIndexFileMeta", api.post("/imm/BatchIndexFileMeta", {**IN_DATASET, "Files": files}), "Files")
    assert state(api, seeded) == before
    assert api.post("/imm/GetFileMeta", {**IN_DATASET, "URI": files[0]["URI"]}).status == 404

    indexed = ok(api.post("/imm/BatchIndexFileMeta", {**IN_DATASET, "Files": files[:100]}))["Files"]
    assert [item["URI"] for item in indexed] == [file["URI"] for file in files[:100]]
    assert {item["ObjectStatus"] for item in indexed} == {"Indexed"}
    for file in (files[0], files[99]):
        assert ok(api.post("/imm/GetFileMeta", {**IN_DATASET, "URI": file["URI"]}))["Files"][0]["Title"] == file["Title"]


def test_100_document_ids_delete_in_one_call_and_101_delete_none(api: Api, seeded: dict[str, Any]) -> None:
    index_id, doc_ids = seeded["index_id"], seeded["doc_ids"]
    ids = [*doc_ids, *(f"doc_{n:024x}" for n in range(101 - len(doc_ids)))]
    before = state(api, seeded)
    refused("DeleteIndexDocument", api.delete_documents(index_id, ids), "DocumentIds")
    assert state(api, seeded) == before

    result = api.delete_documents(index_id, ids[:100]).data
    assert (sorted(result["DeletedDocument"]), len(result["FailedDocument"])) == (sorted(doc_ids), 100 - len(doc_ids))
    assert api.documents(index_id) == []


def test_100_uris_delete_in_one_call_and_101_delete_none(api: Api, seeded: dict[str, Any]) -> None:
    uris = [f"{MEDIA}/lake.jpg", *(f"{MEDIA}/never-{n}.jpg" for n in range(100))]
    before = state(api, seeded)
    refused("BatchDeleteFileMeta", api.post("/imm/BatchDeleteFileMeta", {**IN_DATASET, "URIs": uris}), "URIs")
    assert state(api, seeded) == before

    result = ok(api.post("/imm/BatchDeleteFileMeta", {**IN_DATASET, "URIs": uris[:100]}))
    assert (result["DeletedURIs"], len(result["NotFoundURIs"])) == ([f"{MEDIA}/lake.jpg"], 99)


def _list_case(name: str, build: Any, largest: int, field: str) -> Any:
    return pytest.param(name, build, largest, field, id=f"{name}-{field}")


LISTS = [
    _list_case("SubmitIndexAddDocumentsJob", lambda s, n: {"IndexId": s["index_id"],
                                                           "SourceURIs": [f"s3://nowhere/{i}" for i in range(n)]},
               1000, "SourceURIs"),
    _list_case("Retrieve", lambda s, n: {"IndexId": s["index_id"], "Query": "tent",
                                         "QueryHistory": [{"role": "user", "content": "hi"}] * n}, 100, "QueryHistory"),
    _list_case("Retrieve", lambda s, n: {"IndexId": s["index_id"], "Query": "tent",
                                         "Images": ["https://example.com/a.jpg"] * n}, 10, "Images"),
    _list_case("ListIndices", lambda s, n: {"PageSize": n}, 100, "PageSize"),
    _list_case("ContextualRetrieval", lambda s, n: {**IN_DATASET, "Messages": turns(*["m"] * n)}, 101, "Messages"),
    _list_case("ContextualRetrieval", lambda s, n: {**IN_DATASET, "Messages": turns("lake"),
                                                    "SmartClusterIds": [f"c{i}" for i in range(n)]}, 100,
               "SmartClusterIds"),
    _list_case("GetFileMeta", lambda s, n: {**IN_DATASET, "URI": f"{MEDIA}/lake.jpg",
                                            "WithFields": [f"F{i}" for i in range(n)]}, 100, "WithFields"),
    _list_case("SemanticQuery", lambda s, n: {**IN_DATASET, "Query": "lake",
                                              "WithFields": [f"F{i}" for i in range(n)]}, 100, "WithFields"),
    _list_case("SemanticQuery", lambda s, n: {**IN_DATASET, "Query": "lake", "MaxResults": n}, 1000, "MaxResults"),
    _list_case("ContextualAnswer", lambda s, n: {"ProjectName": PROJECT, "Messages": turns("lake?"),
                                                 "Files": [{"URI": f"{MEDIA}/{i}.jpg", "Title": "lake"}
                                                           for i in range(n)]}, 100, "Files"),
    _list_case("CreateProject", lambda s, n: {"ProjectName": f"tags{n}", "Tag": [{"Key": f"k{i}"} for i in range(n)]},
               20, "Tag"),
    _list_case("CreateDataset", lambda s, n: {"ProjectName": PROJECT, "DatasetName": f"wp{n}",
                                              "WorkflowParameters": [{"Name": f"p{i}"} for i in range(n)]},
               100, "WorkflowParameters"),
    _list_case("ListDatasets", lambda s, n: {"ProjectName": PROJECT, "MaxResults": n}, 200, "MaxResults"),
]


@pytest.mark.parametrize(("name", "build", "largest", "field"), LISTS)
def test_the_largest_list_passes_and_one_more_is_refused(
    api: Api, seeded: dict[str, Any], name: str, build: Any, largest: int, field: str
) -> None:
    before = state(api, seeded)
    refused(name, call(api, name, build(seeded, largest + (2 if field == "Messages" else 1))), field)
    assert state(api, seeded) == before
    if name == "SubmitIndexAddDocumentsJob":  # the largest list is read: 1,000 missing buckets are a 400 on the first
        refused(name, call(api, name, build(seeded, largest)), f"{field}[0]")
        return
    ok(call(api, name, build(seeded, largest)))


# --- string lengths -------------------------------------------------------------------------------------------------

HUGE = 300_000  # characters: far over every bound, well under the body cap


def _kb(field: str, bound: int, build: Any) -> Any:
    return pytest.param(build, field, bound, id=f"{field}")


def _long_uri(n: int) -> str:
    return f"{MEDIA}/" + "u" * (n - len(MEDIA) - 1)


# (operation, params for a value of n characters, wire field, bound): one over the bound and HUGE are both refused.
STRING_FIELDS: list[tuple[str, Any, str, int]] = [
    ("Retrieve", lambda s, v: {"IndexId": s["index_id"], "Query": v}, "Query", 20_000),
    ("Retrieve", lambda s, v: {"IndexId": s["index_id"], "Query": "q",
                               "Rerank": [{"RerankMode": "custom", "RerankInstruct": v}]}, "Rerank[0].RerankInstruct",
     1000),
    ("Retrieve", lambda s, v: {"IndexId": s["index_id"], "Query": "q", "QueryHistory": [{"role": "user", "content": v}]},
     "QueryHistory[0].content", 1000),
    ("Retrieve", lambda s, v: {"IndexId": s["index_id"], "Query": "q", "Images": [v]}, "Images[0]", 2048),
    ("Retrieve", lambda s, v: {"IndexId": s["index_id"], "Query": "q", "SearchFilters": [{"category": v}]},
     "SearchFilters[0].category", 1000),
    ("Retrieve", lambda s, v: {"IndexId": s["index_id"], "Query": "q", "SearchFilters": [{"c" + v[1:]: "x"}]},
     "SearchFilters[0]", 128),
    ("Retrieve", lambda s, v: {"IndexId": v, "Query": "q"}, "IndexId", 64),
    ("CreateIndex", lambda s, v: {"Name": v}, "Name", 64),
    ("CreateIndex", lambda s, v: {"Name": "x", "Description": v}, "Description", 1000),
    ("CreateIndex", lambda s, v: {"Name": "x", "SourceURI": "s3://b/" + v[7:]}, "SourceURI", 2048),
    ("ListIndices", lambda s, v: {"IndexName": v}, "IndexName", 64),
    ("DeleteIndex", lambda s, v: {"IndexId": v}, "IndexId", 64),
    ("SubmitIndexAddDocumentsJob", lambda s, v: {"IndexId": s["index_id"], "SourceURIs": ["s3://b/" + v[7:]]},
     "SourceURIs[0]", 2048),
    ("GetIndexJobStatus", lambda s, v: {"IndexId": s["index_id"], "JobId": v}, "JobId", 64),
    ("ListIndexDocuments", lambda s, v: {"IndexId": s["index_id"], "DocumentName": v}, "DocumentName", 1024),
    ("DeleteIndexDocument", lambda s, v: {"IndexId": s["index_id"], "DocumentIds": [v]}, "DocumentIds[0]", 128),
    ("ListRetrieverHistory", lambda s, v: {"IndexId": v}, "IndexId", 64),
    ("SubmitIndexJob", lambda s, v: {"IndexId": v}, "IndexId", 64),
    ("SubmitReindexJob", lambda s, v: {"IndexId": v}, "IndexId", 64),
    ("ApplyFileUploadLease", lambda s, v: {"CategoryId": "default", "FileName": v, "Md5": "0" * 32,
                                           "SizeInBytes": 1}, "FileName", 128),
    ("ApplyFileUploadLease", lambda s, v: {"CategoryId": v, "FileName": "a.md", "Md5": "0" * 32, "SizeInBytes": 1},
     "CategoryId", 64),
    ("AddFile", lambda s, v: {"LeaseId": "lease_" + "0" * 32, "CategoryId": "default", "Tags": [v]}, "Tags[0]", 700),
    ("DescribeFile", lambda s, v: {"FileId": v}, "FileId", 64),
    ("DeleteFile", lambda s, v: {"FileId": v}, "FileId", 64),
    ("ListFile", lambda s, v: {"CategoryId": "default", "FileName": v}, "FileName", 128),
    ("AddCategory", lambda s, v: {"CategoryName": v}, "CategoryName", 64),
    ("ListCategory", lambda s, v: {"CategoryName": v}, "CategoryName", 64),
    ("DeleteCategory", lambda s, v: {"CategoryId": v}, "CategoryId", 64),
    ("CreateProject", lambda s, v: {"ProjectName": "p" + v[1:]}, "ProjectName", 128),
    ("CreateProject", lambda s, v: {"ProjectName": "p", "Description": v}, "Description", 256),
    ("CreateProject", lambda s, v: {"ProjectName": "p", "ServiceRole": v}, "ServiceRole", 256),
    ("CreateProject", lambda s, v: {"ProjectName": "p", "TemplateId": v}, "TemplateId", 256),
    ("CreateProject", lambda s, v: {"ProjectName": "p", "Tag": [{"Key": v}]}, "Tag[0].Key", 128),
    ("CreateProject", lambda s, v: {"ProjectName": "p", "Tag": [{"Key": "k", "Value": v}]}, "Tag[0].Value", 256),
    ("CreateDataset", lambda s, v: {"ProjectName": PROJECT, "DatasetName": "d" + v[1:]}, "DatasetName", 128),
    ("CreateDataset", lambda s, v: {"ProjectName": PROJECT, "DatasetName": "d", "Description": v}, "Description", 256),
    ("CreateDataset", lambda s, v: {"ProjectName": PROJECT, "DatasetName": "d", "WorkflowParameters": [{"Name": v}]},
     "WorkflowParameters[0].Name", 256),
    ("CreateDataset", lambda s, v: {"ProjectName": PROJECT, "DatasetName": "d",
                                    "WorkflowParameters": [{"Name": "n", "Value": v}]}, "WorkflowParameters[0].Value",
     2048),
    ("CreateDataset", lambda s, v: {"ProjectName": PROJECT, "DatasetName": "d",
                                    "DatasetConfig": {"Insights": {"Language": v}}}, "DatasetConfig.Insights.Language",
     32),
    ("ListDatasets", lambda s, v: {"ProjectName": PROJECT, "Prefix": v}, "Prefix", 128),
    ("CreateBinding", lambda s, v: {**IN_DATASET, "URI": "s3://limits-media/" + v[18:]}, "URI", 2048),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": _long_uri(len(v))}}, "File.URI", 2048),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg", "OSSURI": v}}, "File.OSSURI", 2048),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg", "ContentType": v}},
     "File.ContentType", 256),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg", "FileHash": v}}, "File.FileHash",
     2048),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg", "CustomId": v}}, "File.CustomId",
     2048),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg"}, "UserData": v}, "UserData", 2048),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg"}, "NotifyTopicName": v},
     "NotifyTopicName", 256),
    ("IndexFileMeta", lambda s, v: {**IN_DATASET, "File": {"URI": f"{MEDIA}/a.jpg"}, "NotifyEndpoint": v},
     "NotifyEndpoint", 256),
    ("BatchIndexFileMeta", lambda s, v: {**IN_DATASET, "Files": [{"URI": _long_uri(len(v))}]}, "Files[0].URI", 2048),
    ("GetFileMeta", lambda s, v: {**IN_DATASET, "URI": _long_uri(len(v))}, "URI", 2048),
    ("GetFileMeta", lambda s, v: {**IN_DATASET, "URI": f"{MEDIA}/lake.jpg", "WithFields": [v]}, "WithFields[0]", 64),
    ("DeleteFileMeta", lambda s, v: {**IN_DATASET, "URI": _long_uri(len(v))}, "URI", 2048),
    ("BatchDeleteFileMeta", lambda s, v: {**IN_DATASET, "URIs": [_long_uri(len(v))]}, "URIs[0]", 2048),
    ("BatchDeleteFileMeta", lambda s, v: {**IN_DATASET, "URIs": [f"{MEDIA}/a.jpg"], "NotifyTopicName": v},
     "NotifyTopicName", 256),
    ("ContextualRetrieval", lambda s, v: {**IN_DATASET, "Messages": turns(v)}, "Messages[0].Content", 1000),
    ("ContextualRetrieval", lambda s, v: {**IN_DATASET, "Messages": turns(v, "a", "q")}, "Messages[0].Content", 1000),
    ("ContextualRetrieval", lambda s, v: {**IN_DATASET, "Messages": turns("q"), "SmartClusterIds": [v]},
     "SmartClusterIds[0]", 128),
    ("SemanticQuery", lambda s, v: {**IN_DATASET, "Query": v}, "Query", 1000),
    ("SemanticQuery", lambda s, v: {**IN_DATASET, "SourceURI": _long_uri(len(v))}, "SourceURI", 2048),
    ("SemanticQuery", lambda s, v: {**IN_DATASET, "Query": "q", "WithFields": [v]}, "WithFields[0]", 64),
    ("SemanticQuery", lambda s, v: {**IN_DATASET, "Query": "q", "NextToken": v}, "NextToken", 256),
    ("ContextualAnswer", lambda s, v: {"ProjectName": PROJECT, "Messages": turns(v)}, "Messages[0].Content", 1000),
]


def test_every_operation_has_a_bounded_string_case() -> None:
    assert {name for name, *_ in STRING_FIELDS} == {operation.name for operation in OPERATIONS}


@pytest.mark.parametrize(("name", "build", "field", "bound"), [
    pytest.param(name, build, field, bound, id=f"{name}-{field}") for name, build, field, bound in STRING_FIELDS
])
def test_a_string_over_its_bound_is_refused_naming_the_field(
    api: Api, seeded: dict[str, Any], name: str, build: Any, field: str, bound: int
) -> None:
    before = state(api, seeded)
    huge = HUGE if BY_NAME[name].method == "POST" else 20_000  # a GET carries it in the URL
    for length in (bound + 1, huge):
        params = build(seeded, "v" * length)
        refused(name, call(api, name, params), field)
        lambda_refused(api, name, params, field)
    assert state(api, seeded) == before


UNBOUNDED_FILE_FIELDS = {
    "Title": "t", "Album": "a", "AlbumArtist": "a", "Artist": "a", "Composer": "c", "Performer": "p",
    "OCRTexts": "o", "Timezone": "z", "TravelClusterId": "c", "Language": "l", "FormatName": "f",
    "FormatLongName": "f", "EXIF": "e",
}


@pytest.mark.parametrize("field", sorted(UNBOUNDED_FILE_FIELDS))
def test_file_text_without_a_documented_bound_is_kept_whole_up_to_the_body_cap(api: Api, seeded: dict[str, Any],
                                                                                field: str) -> None:
    value = UNBOUNDED_FILE_FIELDS[field] * HUGE
    uri = f"{MEDIA}/long-{field.lower()}.jpg"
    file = {"URI": uri, field: value, "Labels": [{"LabelName": "l" * 50_000}], "CustomLabels": {"k": "v" * 50_000}}
    assert ok(api.post("/imm/IndexFileMeta", {**IN_DATASET, "File": file}))["Files"][0]["ObjectStatus"] == "Indexed"
    stored = ok(api.post("/imm/GetFileMeta", {**IN_DATASET, "URI": uri}))["Files"][0]
    assert {key: stored[key] for key in file} == file
    results = ok(api.post("/imm/ContextualRetrieval", {**IN_DATASET, "Messages": turns(value[:500])}))["Results"]
    assert isinstance(results, list)


def test_contextual_answer_cuts_long_file_texts_as_documented(api: Api, seeded: dict[str, Any]) -> None:
    text = "The lake boat leaves at nine. " + "Filler words about nothing in particular. " * 20_000
    files = [{"URI": f"{MEDIA}/lake.jpg", "Title": "lake", "OCRTexts": text}]
    answer = ok(api.post("/imm/ContextualAnswer", {"ProjectName": PROJECT, "Messages": turns("When does the boat leave?"),
                                                   "Files": files}))["Answer"]
    assert "nine" in answer["Content"]
    assert len(answer["Content"]) <= 4_000


# --- nesting --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", POST_OPERATIONS)
@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_ten_thousand_levels_of_nesting_are_a_400(api: Api, seeded: dict[str, Any], name: str, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    assert "levels deep" in refused(name, api.post_raw(path_of(name), opener * 10_000 + closer * 10_000), "body")
    for unterminated in (b'{"x":' + opener * 10_000, opener * 200_000):
        refused(name, api.post_raw(path_of(name), unterminated), "body")


def _nest(levels: int) -> Any:
    """``levels`` containers around a string, objects and arrays alternating, the outermost an object."""
    value: Any = "leaf"
    for level in range(levels):
        value = {"k": value} if (levels - level) % 2 else [value]
    return value


NESTED = [
    pytest.param("Retrieve", lambda s, deep: {"IndexId": s["index_id"], "Query": "q", "SearchFilters": [deep]},
                 id="Retrieve-SearchFilters"),
    pytest.param("IndexFileMeta", lambda s, deep: {**IN_DATASET, "File": {"URI": f"{MEDIA}/n.jpg",
                                                                          "Insights": {"Image": deep}}},
                 id="IndexFileMeta-Insights"),
    pytest.param("BatchIndexFileMeta", lambda s, deep: {**IN_DATASET, "Files": [{"URI": f"{MEDIA}/n.jpg",
                                                                                 "CustomLabels": {"k": deep}}]},
                 id="BatchIndexFileMeta-CustomLabels"),
    pytest.param("ContextualAnswer", lambda s, deep: {"ProjectName": PROJECT, "Messages": turns("q"),
                                                      "Files": [{"URI": f"{MEDIA}/n.jpg", "Insights": deep}]},
                 id="ContextualAnswer-Files"),
    pytest.param("ContextualRetrieval", lambda s, deep: {**IN_DATASET, "Messages": [
        {"Role": "user", "Content": "q", "Files": [{"Figures": deep}]}]}, id="ContextualRetrieval-Messages-Files"),
    pytest.param("CreateDataset", lambda s, deep: {"ProjectName": PROJECT, "DatasetName": "nested",
                                                   "DatasetConfig": {"SmartCluster": deep}},
                 id="CreateDataset-DatasetConfig"),
    pytest.param("ListIndices", lambda s, deep: {"IndexName": deep}, id="ListIndices-lambda-only"),
]


@pytest.mark.parametrize(("name", "build"), NESTED)
def test_deep_nesting_inside_a_field_is_a_400_over_http_and_as_a_lambda(
    api: Api, seeded: dict[str, Any], name: str, build: Any
) -> None:
    before = state(api, seeded)
    for levels in (MAX_BODY_DEPTH + 1, 500, 900):
        params = build(seeded, _nest(levels))
        if BY_NAME[name].method == "POST":
            assert "levels deep" in refused(name, call(api, name, params), "body")
        lambda_refused(api, name, params, "body")
    assert state(api, seeded) == before


def test_nesting_up_to_the_bound_is_accepted(api: Api, seeded: dict[str, Any]) -> None:
    # The body object is level 1, File level 2, the Insights object level 3: it may hold 61 more levels.
    deep = _nest(MAX_BODY_DEPTH - 2)
    file = {"URI": f"{MEDIA}/deep.jpg", "Insights": deep}
    ok(api.post("/imm/IndexFileMeta", {**IN_DATASET, "File": file}))
    assert ok(api.post("/imm/GetFileMeta", {**IN_DATASET, "URI": file["URI"]}))["Files"][0]["Insights"] == deep
    refused("IndexFileMeta", api.post("/imm/IndexFileMeta", {**IN_DATASET, "File": {**file, "Insights": [deep]}}),
            "body")
