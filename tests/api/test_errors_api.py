"""Error classes over HTTP: status, documented code, envelope, a message naming the wire field — and no side effects.

Every bad request is sent against a seeded knowledge base, and the stored state (the documents, a reference
Retrieve's nodes, the retrieval history and the index list) must be identical before and after it.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import FILTER_FILES, PYTHON_INTERNALS, WS, Api, Reply, assert_error, write_files

BAD_REQUEST = "Index.InvalidParameter"
NOT_FOUND = "Index.NotFound"
RERANK_MODELS = ["qwen3-rerank-hybrid", "qwen3-rerank", "gte-rerank-hybrid", "gte-rerank"]


@pytest.fixture
def index_id(api: Api, tmp_path: Path) -> str:
    directory = write_files(tmp_path / "docs", FILTER_FILES)
    index_id = api.create_index("seeded")
    assert api.add_documents(index_id, [str(directory)])["Status"] == "COMPLETED"
    return index_id


def _state(api: Api, index_id: str) -> dict[str, Any]:
    """Everything a bad request must leave alone, as a caller sees it."""
    reference = api.nodes(index_id, "Larkspur returns policy", Rerank=[{"RerankTopN": 20}])
    return {
        "documents": api.documents(index_id),
        "nodes": [(node["Metadata"]["nid"], node["Text"], node["Score"]) for node in reference],
        "history": api.history(index_id).data["TotalCount"],
        "indices": api.list_indices().data["Indices"],
    }


def _retrieve_path(ws: str = WS) -> str:
    return f"/{ws}/index/retrieve"


# --- bodies that are not a JSON object ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"IndexId": "x", "Query": ', id="truncated"),
        pytest.param(b"{'IndexId': 'x'}", id="single-quotes"),
        pytest.param(b'{"IndexId": "x",}', id="trailing-comma"),
        pytest.param(b"not json at all", id="text"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b'[{"IndexId": "x", "Query": "q"}]', id="array"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
    ],
)
def test_body_that_is_not_a_json_object_is_400(api: Api, index_id: str, raw: bytes) -> None:
    before = _state(api, index_id)

    reply = api.post_raw(_retrieve_path(), raw)

    assert_error(reply, 400, BAD_REQUEST, field="body")
    assert _state(api, index_id) == before


def test_empty_body_reports_the_missing_required_field(api: Api, index_id: str) -> None:
    assert_error(api.post_raw(_retrieve_path(), b""), 400, BAD_REQUEST, field="IndexId")
    assert_error(api.post(_retrieve_path(), {}), 400, BAD_REQUEST, field="IndexId")
    assert_error(api.post(_retrieve_path(), {"IndexId": index_id}), 400, BAD_REQUEST, field="Query")


def test_body_of_another_content_type_is_read_as_json(api: Api, index_id: str) -> None:
    body = json.dumps({"IndexId": index_id, "Query": "returns policy"})
    reply = api.post_raw(_retrieve_path(), body, headers={"Content-Type": "text/plain"})
    assert reply.data["Nodes"]
    # A form body is read as parameters (the official SDKs' form encoding), its values as text.
    form = urllib.parse.urlencode({"IndexId": index_id, "Query": "returns policy", "DenseSimilarityTopK": "5"})
    reply = api.post_raw(_retrieve_path(), form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.data["Nodes"]
    bad = api.post_raw(_retrieve_path(), "IndexId=x&Query=a&DenseSimilarityTopK=five",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(bad, 400, BAD_REQUEST, field="DenseSimilarityTopK")


# --- Retrieve parameters ------------------------------------------------------------------------------------------

BAD_RETRIEVE_FIELDS = [
    # wrong types
    pytest.param({"Query": 42}, "Query", id="query-number"),
    pytest.param({"Query": ["refund"]}, "Query", id="query-array"),
    pytest.param({"Query": None}, "Query", id="query-null"),
    pytest.param({"Query": "   "}, "Query", id="query-blank"),
    pytest.param({"EnableReranking": "yes"}, "EnableReranking", id="enable-reranking-string"),
    pytest.param({"EnableReranking": 1}, "EnableReranking", id="enable-reranking-number"),
    pytest.param({"EnableRewrite": "true"}, "EnableRewrite", id="enable-rewrite-string"),
    pytest.param({"SaveRetrieverHistory": "false"}, "SaveRetrieverHistory", id="save-history-string"),
    pytest.param({"DenseSimilarityTopK": "10"}, "DenseSimilarityTopK", id="dense-top-k-string"),
    pytest.param({"DenseSimilarityTopK": 10.5}, "DenseSimilarityTopK", id="dense-top-k-fraction"),
    pytest.param({"SparseSimilarityTopK": True}, "SparseSimilarityTopK", id="sparse-top-k-boolean"),
    pytest.param({"Rerank": {"RerankTopN": 3}}, "Rerank", id="rerank-object-not-array"),
    pytest.param({"Rerank": [{"RerankTopN": "3"}]}, "Rerank[0].RerankTopN", id="rerank-top-n-string"),
    pytest.param({"Rerank": [{"RerankMinScore": "0.5"}]}, "Rerank[0].RerankMinScore", id="min-score-string"),
    pytest.param({"Images": "https://example.com/a.jpg"}, "Images", id="images-string"),
    pytest.param({"Images": [7]}, "Images[0]", id="images-number"),
    pytest.param({"QueryHistory": {"role": "user", "content": "hi"}}, "QueryHistory", id="history-object"),
    pytest.param({"QueryHistory": [{"role": "robot", "content": "hi"}]}, "QueryHistory[0].role", id="history-role"),
    pytest.param({"QueryHistory": [{"role": "user"}]}, "QueryHistory[0].content", id="history-no-content"),
    # out of range
    pytest.param({"DenseSimilarityTopK": 101}, "DenseSimilarityTopK", id="dense-top-k-101"),
    pytest.param({"DenseSimilarityTopK": -1}, "DenseSimilarityTopK", id="dense-top-k-negative"),
    pytest.param({"SparseSimilarityTopK": 101}, "SparseSimilarityTopK", id="sparse-top-k-101"),
    pytest.param({"Rerank": [{"RerankTopN": 0}]}, "Rerank[0].RerankTopN", id="rerank-top-n-0"),
    pytest.param({"Rerank": [{"RerankTopN": 21}]}, "Rerank[0].RerankTopN", id="rerank-top-n-21"),
    pytest.param({"Rerank": [{"RerankMinScore": 0}]}, "Rerank[0].RerankMinScore", id="min-score-0"),
    pytest.param({"Rerank": [{"RerankMinScore": 1.5}]}, "Rerank[0].RerankMinScore", id="min-score-1.5"),
    pytest.param({"DenseSimilarityTopK": 0, "SparseSimilarityTopK": 0}, "DenseSimilarityTopK", id="both-top-k-0"),
    pytest.param({"Rerank": [{}, {}]}, "Rerank", id="two-rerank-configs"),
    # unknown or unsupported values
    pytest.param({"TopK": 5}, "TopK", id="unknown-field"),
    pytest.param({"query": "lower-case name"}, "query", id="wrong-case-field"),
    pytest.param({"Rerank": [{"ModelName": "bge-reranker"}]}, "Rerank[0].ModelName", id="unknown-rerank-model"),
    pytest.param({"Rerank": [{"RerankMode": "fuzzy"}]}, "Rerank[0].RerankMode", id="unknown-rerank-mode"),
    pytest.param({"Rerank": [{"RerankMode": "custom"}]}, "RerankInstruct", id="custom-without-instruct"),
    pytest.param({"Rerank": [{"TopN": 3}]}, "Rerank[0].TopN", id="unknown-rerank-field"),
    pytest.param({"Rewrite": [{"ModelName": "gpt-rewrite"}]}, "Rewrite[0].ModelName", id="unknown-rewrite-model"),
    # lengths
    pytest.param({"Query": "q" * 20_001}, "Query", id="query-20001-chars"),
    pytest.param({"QueryHistory": [{"role": "user", "content": "c" * 1_001}]}, "QueryHistory[0].content",
                 id="history-message-1001-chars"),
    pytest.param({"QueryHistory": [{"role": "user", "content": "hi"}] * 101}, "QueryHistory",
                 id="history-101-messages"),
    pytest.param({"Images": ["https://example.com/a.jpg"] * 11}, "Images", id="images-11"),
    # SearchFilters
    pytest.param({"SearchFilters": {"category": "policy"}}, "SearchFilters", id="filters-not-array"),
    pytest.param({"SearchFilters": "category=policy"}, "SearchFilters", id="filters-string"),
    pytest.param({"SearchFilters": ["category"]}, "SearchFilters[0]", id="filters-item-not-object"),
    pytest.param({"SearchFilters": [{"year": {"between": 1}}]}, "SearchFilters[0].year.between",
                 id="filters-unknown-operator"),
    pytest.param({"SearchFilters": [{"year": {"gte": "twenty"}}]}, "SearchFilters[0].year.gte",
                 id="filters-range-string-bound"),
    pytest.param({"SearchFilters": [{"year": {"gte": 2025, "lte": 2020}}]}, "SearchFilters[0].year",
                 id="filters-empty-range"),
    pytest.param({"SearchFilters": [{"_operator": "XOR", "category": "policy"}]}, "SearchFilters[0]._operator",
                 id="filters-xor"),
    pytest.param({"SearchFilters": [{}]}, "SearchFilters[0]", id="filters-empty-subgroup"),
    pytest.param({"SearchFilters": [{"category": "policy", "_conditions": [{}]}]}, "SearchFilters[0]._conditions[0]",
                 id="filters-empty-nested-subgroup"),
    pytest.param({"SearchFilters": [{"category": "policy", "_conditions": []}]}, "SearchFilters[0]._conditions",
                 id="filters-empty-conditions"),
    pytest.param({"SearchFilters": [{"category": None}]}, "SearchFilters[0].category", id="filters-null-value"),
    pytest.param({"SearchFilters": [{"category": {"like": ""}}]}, "SearchFilters[0].category.like",
                 id="filters-empty-like"),
    pytest.param({"SearchFilters": [{"_unknown": 1, "category": "policy"}]}, "SearchFilters[0]._unknown",
                 id="filters-unknown-reserved-key"),
]


@pytest.mark.parametrize(("fields", "wire_name"), BAD_RETRIEVE_FIELDS)
def test_bad_retrieve_parameter_is_400_naming_the_field(
    api: Api, index_id: str, fields: dict[str, Any], wire_name: str
) -> None:
    before = _state(api, index_id)
    body = {"IndexId": index_id, "Query": "Larkspur returns policy", "SaveRetrieverHistory": True, **fields}

    reply = api.post(_retrieve_path(), body)

    assert_error(reply, 400, BAD_REQUEST, field=wire_name)
    assert reply.body["Message"].startswith(f"Parameter {wire_name}") or wire_name in reply.body["Message"]
    assert _state(api, index_id) == before


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"DenseSimilarityTopK": 0}, id="dense-0"),
        pytest.param({"DenseSimilarityTopK": 100, "SparseSimilarityTopK": 100}, id="top-k-100"),
        pytest.param({"SparseSimilarityTopK": 0}, id="sparse-0"),
        pytest.param({"Rerank": [{"RerankTopN": 1}]}, id="top-n-1"),
        pytest.param({"Rerank": [{"RerankTopN": 20}]}, id="top-n-20"),
        pytest.param({"Rerank": [{"RerankMinScore": 0.01}]}, id="min-score-0.01"),
        pytest.param({"Rerank": [{"RerankMinScore": 1}]}, id="min-score-1-integer"),
        pytest.param({"Rerank": []}, id="rerank-empty-array"),
        pytest.param({"Rerank": None, "Rewrite": None, "SearchFilters": None, "QueryHistory": None, "Images": None},
                     id="nulls-mean-default"),
        pytest.param({"Query": "q" * 20_000}, id="query-20000-chars"),
        pytest.param({"QueryHistory": [{"role": "assistant", "content": "c" * 1_000}] * 100, "EnableRewrite": True},
                     id="history-100-messages-of-1000-chars"),
        pytest.param({"Images": ["https://example.com/a.jpg"] * 10}, id="images-10"),
        pytest.param({"SearchFilters": []}, id="filters-empty-array"),
    ],
)
def test_boundary_values_are_accepted(api: Api, index_id: str, fields: dict[str, Any]) -> None:
    reply = api.retrieve(index_id, "Larkspur returns policy", **fields)
    assert isinstance(reply.data["Nodes"], list)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"QueryHistory": ["hello"]}, id="history-item-string"),
        pytest.param({"Rerank": ["qwen3-rerank"]}, id="rerank-item-string"),
        pytest.param({"Rewrite": [1]}, id="rewrite-item-number"),
    ],
)
def test_wrong_item_type_message_names_no_python_class(api: Api, index_id: str, fields: dict[str, Any]) -> None:
    reply = api.retrieve(index_id, "q", **fields)
    assert_error(reply, 400, BAD_REQUEST)
    for class_name in ("HistoryMessage", "RerankConfig", "RewriteConfig", "instance of"):
        assert class_name not in reply.body["Message"]


# --- unknown resources and bad path parameters --------------------------------------------------------------------


def test_unknown_index_is_404(api: Api, index_id: str) -> None:
    before = _state(api, index_id)

    reply = api.retrieve("kb_doesnotexist", "Larkspur", SaveRetrieverHistory=True)

    assert_error(reply, 404, NOT_FOUND, field="kb_doesnotexist")
    assert _state(api, index_id) == before


def test_unknown_workspace_is_404(api: Api, index_id: str) -> None:
    before = _state(api, index_id)

    reply = api.retrieve(index_id, "Larkspur", ws="ws_someone_else", SaveRetrieverHistory=True)

    assert_error(reply, 404, NOT_FOUND, field=index_id)
    assert _state(api, index_id) == before


@pytest.mark.parametrize(
    "workspace",
    [
        pytest.param("ws.test", id="dot"),
        pytest.param("w" * 65, id="65-chars"),
        pytest.param("ws%20test", id="space"),
        pytest.param("ws~1", id="tilde"),
    ],
)
def test_invalid_workspace_id_in_the_path_is_400(api: Api, index_id: str, workspace: str) -> None:
    before = _state(api, index_id)

    reply = api.post(_retrieve_path(workspace), {"IndexId": index_id, "Query": "Larkspur"})

    assert_error(reply, 400, BAD_REQUEST, field="WorkspaceId")
    assert_error(api.post(f"/{workspace}/index/create", {"Name": "x"}), 400, BAD_REQUEST, field="WorkspaceId")
    assert_error(api.get(f"/{workspace}/index/list_indices"), 400, BAD_REQUEST, field="WorkspaceId")
    assert _state(api, index_id) == before


def test_workspace_id_of_64_chars_is_valid(api: Api) -> None:
    workspace = "w" * 64
    index_id = api.create_index("long-workspace", ws=workspace)
    assert api.nodes(index_id, "anything", ws=workspace) == []


def test_invalid_index_id_is_400(api: Api, index_id: str) -> None:
    reply = api.retrieve("kb.bad/../x", "Larkspur")
    assert_error(reply, 400, BAD_REQUEST, field="IndexId")


def test_duplicate_create_index_name_is_409(api: Api, index_id: str) -> None:
    before = _state(api, index_id)

    reply = api.post(f"/{WS}/index/create", {"Name": "seeded", "ChunkSize": 100, "OverlapSize": 10})

    assert_error(reply, 409, "Index.AlreadyExists", field="seeded")
    assert _state(api, index_id) == before


@pytest.mark.parametrize(
    ("body", "wire_name"),
    [
        pytest.param({}, "Name", id="no-name"),
        pytest.param({"Name": ""}, "Name", id="empty-name"),
        pytest.param({"Name": "n" * 65}, "Name", id="long-name"),
        pytest.param({"Name": "x", "ChunkSize": 0}, "ChunkSize", id="chunk-size-0"),
        pytest.param({"Name": "x", "ChunkSize": "500"}, "ChunkSize", id="chunk-size-string"),
        pytest.param({"Name": "x", "RerankModelName": "bge"}, "RerankModelName", id="rerank-model"),
        pytest.param({"Name": "x", "RerankMinScore": 0}, "RerankMinScore", id="min-score"),
        pytest.param({"Name": "x", "StructureType": "structured"}, "StructureType", id="structure-type"),
        # An empty prefix would make the index take in every object of every bucket the events name.
        pytest.param({"Name": "x", "SourceURI": ""}, "SourceURI", id="empty-source-uri"),
        pytest.param({"Name": "x", "Colour": "blue"}, "Colour", id="unknown-field"),
    ],
)
def test_bad_create_index_is_400_and_creates_nothing(
    api: Api, index_id: str, body: dict[str, Any], wire_name: str
) -> None:
    before = _state(api, index_id)
    assert_error(api.post(f"/{WS}/index/create", body), 400, BAD_REQUEST, field=wire_name)
    assert _state(api, index_id) == before


def test_job_status_of_an_unknown_job_is_404(api: Api, index_id: str) -> None:
    assert_error(api.job_status(index_id, "job_nope"), 404, NOT_FOUND, field="job_nope")
    assert_error(api.job_status(index_id, "job.nope"), 400, BAD_REQUEST, field="JobId")
    assert_error(api.get(f"/{WS}/index/job/status", {"IndexId": index_id}), 400, BAD_REQUEST, field="JobId")


@pytest.mark.parametrize(
    ("body", "wire_name"),
    [
        pytest.param({"SourceURIs": []}, "SourceURIs", id="empty-list"),
        pytest.param({"SourceURIs": "file:///tmp"}, "SourceURIs", id="string"),
        pytest.param({"SourceURIs": [""]}, "SourceURIs[0]", id="empty-uri"),
        pytest.param({"SourceURIs": ["ftp://host/file.txt"]}, "SourceURIs[0]", id="unsupported-scheme"),
    ],
)
def test_bad_add_documents_job_is_400_and_indexes_nothing(
    api: Api, index_id: str, body: dict[str, Any], wire_name: str
) -> None:
    before = _state(api, index_id)
    reply = api.post(f"/{WS}/index/add_documents_to_index", {"IndexId": index_id, **body})
    assert_error(reply, 400, BAD_REQUEST, field=wire_name)
    assert _state(api, index_id) == before


def test_add_documents_without_any_source_is_400(api: Api) -> None:
    index_id = api.create_index("no-source")
    assert_error(api.submit(index_id, None), 400, BAD_REQUEST, field="SourceURIs")


def test_bad_delete_requests_change_nothing(api: Api, index_id: str) -> None:
    before = _state(api, index_id)
    assert_error(api.post(f"/{WS}/index/delete_index_document", {"IndexId": index_id, "DocumentIds": []}), 400,
                 BAD_REQUEST, field="DocumentIds")
    assert_error(api.post(f"/{WS}/index/delete_index_document", {"IndexId": index_id, "DocumentIds": "doc_1"}), 400,
                 BAD_REQUEST, field="DocumentIds")
    assert_error(api.post(f"/{WS}/index/delete", {"IndexId": index_id, "Force": True}), 400, BAD_REQUEST,
                 field="Force")
    assert_error(api.post(f"/{WS}/index/delete", {}), 400, BAD_REQUEST, field="IndexId")
    assert _state(api, index_id) == before


def test_query_string_on_a_post_does_not_override_the_body(api: Api, index_id: str, tmp_path: Path) -> None:
    other = api.create_index("other")  # empty
    body = json.dumps({"IndexId": index_id, "Query": "Larkspur returns policy"})

    reply = api.post_raw(f"{_retrieve_path()}?IndexId={other}", body)

    # Either the query string is ignored (nodes from the body's index) or it is refused; never silently obeyed.
    if reply.status == 200:
        assert reply.data["Nodes"], "the query string's (empty) index answered instead of the body's"
    else:
        assert_error(reply, 400, BAD_REQUEST, field="IndexId")


def test_unknown_query_parameter_on_a_get_is_400(api: Api, index_id: str) -> None:
    assert_error(api.list_documents(index_id, Sort="name"), 400, BAD_REQUEST, field="Sort")
    assert_error(api.list_documents(index_id, PageSize=0), 400, BAD_REQUEST, field="PageSize")


# --- fuzz ---------------------------------------------------------------------------------------------------------

_SCALARS: list[Any] = [
    None, True, False, 0, 1, -1, 5, 20, 21, 100, 101, 2**63, -(2**70), 0.0, 0.01, 0.5, 1.0, 1.5, -0.5, 1e308, "",
    " ", "yes", "10", "0.5", "qa", "custom", "OR", "退货政策", "\u0000", "\ud7ff", "💥", "a" * 1001, "x" * 70,
    "title:foo AND (", '"', "*", "\\",
]


def _any_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 3 or roll < 0.6:
        return rng.choice(_SCALARS)
    if roll < 0.8:
        return [_any_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["role", "content", "ModelName", "RerankTopN", "category", "eq", "gte", "_operator", "", "Query"]
    return {rng.choice(keys): _any_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _filter_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(["policy", "guide", 2024, 2022.0, True, "europe", None, "", [], {}])
    if roll < 0.5:
        return [rng.choice(["policy", "faq", 2023, False, None, [1]]) for _ in range(rng.randint(0, 3))]
    if roll < 0.9:
        operators = ["eq", "neq", "like", "gt", "gte", "lt", "lte", "between", "EQ", "Like", "GTE"]
        return {rng.choice(operators): rng.choice(["pol", 2021, 2024.5, "", None, True, float("1e300"), [2020]])
                for _ in range(rng.randint(1, 2))}
    return _any_value(rng, depth + 1)


def _subgroup(rng: random.Random, depth: int = 0) -> Any:
    if rng.random() < 0.05:
        return _any_value(rng)
    keys = ["category", "year", "region", "doc_name", "分类", "1bad", "", "_operator", "_conditions",
            "_conditions_operator", "_x", "_Operator"]
    group: dict[str, Any] = {}
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(keys)
        if key.lower() in ("_operator", "_conditions_operator"):
            group[key] = rng.choice(["AND", "OR", "or", "XOR", " OR", 1, None])
        elif key == "_conditions":
            group[key] = ([_subgroup(rng, depth + 1) for _ in range(rng.randint(0, 2))] if depth < 6
                          else [{"category": "policy"}])
        else:
            group[key] = _filter_value(rng, depth)
    return group


def _rerank(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return _any_value(rng)
    options: dict[str, list[Any]] = {
        "ModelName": [*RERANK_MODELS, "bge", 1, None],
        "RerankMode": ["qa", "similar", "custom", "QA", None],
        "RerankInstruct": ["prefer policies", "", None, 3, "i" * 1001],
        "RerankMinScore": [0.01, 0.3, 1.0, 0, 2, "0.5", None, True],
        "RerankTopN": [1, 5, 20, 0, 21, "5", 2.5, None],
        "Unknown": [1],
    }
    chosen = rng.sample(sorted(options), rng.randint(0, 4))
    return [{key: rng.choice(options[key]) for key in chosen}]


def _history(rng: random.Random) -> Any:
    if rng.random() < 0.15:
        return _any_value(rng)
    messages = []
    for _ in range(rng.choice([0, 1, 2, 3, 101])):
        message = {"role": rng.choice(["user", "assistant", "system", None]),
                   "content": rng.choice(["the Zephyr tent", "", "c" * 1001, 5, "退货"])}
        if rng.random() < 0.1:
            message.pop(rng.choice(["role", "content"]))
        messages.append(message)
    return messages


def _fuzz_body(rng: random.Random, index_id: str) -> dict[str, Any]:
    generators: dict[str, Any] = {
        "IndexId": lambda: rng.choice([index_id, index_id, index_id, "kb_missing", "", "a.b", _any_value(rng)]),
        "Query": lambda: rng.choice(["Larkspur returns policy", "?!", "退货", "q" * 20_001, _any_value(rng)]),
        "DenseSimilarityTopK": lambda: rng.choice([0, 1, 50, 100, 101, -1, "10", 10.5, None]),
        "SparseSimilarityTopK": lambda: rng.choice([0, 1, 50, 100, 101, -1, "10", 10.5, None]),
        "EnableReranking": lambda: rng.choice([True, False, "yes", 1, None]),
        "EnableRewrite": lambda: rng.choice([True, False, "no", 0, None]),
        "Rerank": lambda: _rerank(rng),
        "Rewrite": lambda: rng.choice([[{"ModelName": "conv-rewrite-qwen-1.8b"}], [{}], [{"ModelName": 1}], [], "x"]),
        "SaveRetrieverHistory": lambda: rng.choice([True, False, "true", None]),
        "SearchFilters": lambda: rng.choice([[_subgroup(rng) for _ in range(rng.randint(0, 2))], _any_value(rng)]),
        "Images": lambda: rng.choice([["https://example.com/a.jpg"], [], ["x" * 3000], _any_value(rng)]),
        "QueryHistory": lambda: _history(rng),
    }
    valid: dict[str, list[Any]] = {
        "IndexId": [index_id],
        "Query": ["Larkspur returns policy", "How much does it weigh?", "退货政策"],
        "DenseSimilarityTopK": [0, 3, 100],
        "SparseSimilarityTopK": [1, 10, 100],
        "EnableReranking": [True, False],
        "EnableRewrite": [True, False],
        "Rerank": [[{"RerankTopN": 20}], [{"ModelName": "gte-rerank", "RerankMinScore": 0.2}], []],
        "Rewrite": [[{"ModelName": "conv-rewrite-qwen-1.8b"}]],
        "SaveRetrieverHistory": [True, False],
        "SearchFilters": [[{"category": "policy"}], [{"year": {"gte": 2022}, "_operator": "or", "region": "asia"}]],
        "Images": [["https://example.com/a.jpg"]],
        "QueryHistory": [[{"role": "user", "content": "Tell me about store credit."}]],
    }
    body = {"IndexId": index_id, "Query": "Larkspur returns policy"}
    for name, generate in generators.items():
        roll = rng.random()
        if roll < 0.25:
            body[name] = rng.choice(valid[name])
        elif roll < 0.4:
            body[name] = generate()
    if rng.random() < 0.05:
        body[rng.choice(["Extra", "index_id", "WorkspaceId"])] = _any_value(rng)
    if rng.random() < 0.05:
        body.pop(rng.choice(["IndexId", "Query"]))
    return body


def _check_envelope(reply: Reply) -> str | None:
    """What is wrong with one fuzz reply, or None."""
    body = reply.body
    if reply.status not in (200, 400, 404) or not isinstance(body, dict):
        return f"status {reply.status}"
    if reply.status == 200:
        nodes = body.get("Data", {}).get("Nodes")
        if body.get("Success") is not True or not isinstance(nodes, list):
            return "bad success envelope"
        if any(not 0.0 <= node["Score"] <= 1.0 for node in nodes):
            return "score out of range"
        return None
    code = BAD_REQUEST if reply.status == 400 else NOT_FOUND
    if (body.get("Code"), body.get("Status"), body.get("Success")) != (code, str(reply.status), False):
        return f"bad error envelope {body}"
    if not body.get("RequestId") or any(word in body.get("Message", "") for word in PYTHON_INTERNALS):
        return f"bad error message {body}"
    return None


def test_random_retrieve_bodies_never_fail_with_500(api: Api, index_id: str) -> None:
    rng = random.Random(7)
    before = api.documents(index_id)
    statuses: dict[int, int] = {}
    problems = []
    for attempt in range(200):
        if attempt % 40 == 39:
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
            reply = api.post_raw(_retrieve_path(), raw)
            body: Any = raw
        else:
            body = _fuzz_body(rng, index_id)
            reply = api.post(_retrieve_path(), body)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        problem = _check_envelope(reply)
        if problem:
            problems.append((problem, json.dumps(body, default=repr)[:300] if isinstance(body, dict) else body))

    assert problems == []
    # The generator reaches both the success path and the validation errors.
    assert statuses.get(200, 0) >= 40, statuses
    assert statuses.get(400, 0) >= 80, statuses
    assert api.documents(index_id) == before


def test_an_integer_literal_of_thousands_of_digits_is_a_400_not_a_500(api: Api, index_id: str) -> None:
    """Python refuses int(str) beyond 4,300 digits; Sift refuses such literals (over 100 digits) as invalid JSON."""
    huge = "9" * 5000
    body = f'{{"IndexId": "{index_id}", "Query": "tent", "DenseSimilarityTopK": {huge}}}'
    assert_error(api.post_raw(_retrieve_path(), body), 400, BAD_REQUEST, field="body")
    shrunk = f"{_retrieve_path()}?IndexId={index_id}&Query=tent&SearchFilters=" + urllib.parse.quote(
        f'[{{"year": {huge}}}]')
    assert_error(api.post_raw(shrunk, b""), 400, BAD_REQUEST, field="SearchFilters")


@pytest.mark.parametrize("page", ["922337203685477582", "1000001"])
def test_a_page_number_beyond_any_store_is_a_400(api: Api, index_id: str, page: str) -> None:
    for path, params in ((f"/{WS}/index/list_indices", {}), (f"/{WS}/index/list_index_documents",
                                                             {"IndexId": index_id}),
                         (f"/{WS}/index/retriever_history", {"IndexId": index_id})):
        assert_error(api.get(path, {**params, "PageNumber": page}), 400, BAD_REQUEST, field="PageNumber")


@pytest.mark.parametrize(("path", "body", "field"), [
    (f"/{WS}/index/retrieve", '{"IndexId": "kb", "Query": "tent \\ud800"}', "Query"),
    (f"/{WS}/index/retrieve", '{"IndexId": "kb", "Query": "q", "SearchFilters": [{"\\ud800": 1}]}', "SearchFilters[0]"),
    ("/imm/ContextualRetrieval", '{"ProjectName": "p", "DatasetName": "d", "Messages": [{"Role": "user", '
                                 '"Content": "\\udc00"}]}', "Messages[0].Content"),
    ("/imm/IndexFileMeta", '{"ProjectName": "p", "DatasetName": "d", "File": {"URI": "s3://bucket/a.txt", '
                           '"Title": "\\ud800"}, "UserData": "x"}', "File.Title"),
])
def test_a_lone_surrogate_is_a_400_naming_where_it_is(api: Api, path: str, body: str, field: str) -> None:
    """A lone UTF-16 surrogate is not text: refused with the field named, never a 500 or a dropped connection."""
    response = api.client.http.post(path, headers={"Content-Type": "application/json"}, body=body)
    reply = json.loads(response.body)
    assert response.status_code == 400, reply
    assert reply["Code"] in {BAD_REQUEST, "InvalidArgument"}
    assert f"Parameter {field} is invalid" in reply["Message"] and "surrogate" in reply["Message"]
