"""Wire models of the Retrieve API family (``chalicelib.api.bailian`` / ``common``), checked against the seed pages.

``/work/shared/seeds/001_…`` (English Retrieve reference) and ``004_…`` (Japanese, older) are the contract: parameter
names, example values, defaults and ranges below are quoted from them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.api import responses
from chalicelib.api.bailian import (
    CreateIndexRequest,
    RerankConfig,
    RetrieveRequest,
    SubmitJobRequest,
)
from chalicelib.api.common import MAX_BODY_BYTES, decode_json_body, parse_request
from chalicelib.api.responses import ResponseShapeError, check
from chalicelib.core.errors import ErrorKind, InvalidParameterError
from chalicelib.core.filters import Group

# Words that would betray Python internals in a caller-facing message.
_INTERNALS = re.compile(r"dict|NoneType|pydantic|Traceback|errors\.pydantic\.dev|Value error")

# The request-parameter examples of the English seed page (IndexId from the Japanese page, which gives a full one).
SEED_EXAMPLE: dict[str, Any] = {
    "Query": "阿里云百炼平台介绍",
    "DenseSimilarityTopK": 100,
    "SparseSimilarityTopK": 100,
    "EnableReranking": True,
    "EnableRewrite": False,
    "Rerank": [{"ModelName": "gte-rerank-hybrid", "RerankMode": "qa", "RerankMinScore": 0.20, "RerankTopN": 5}],
    "Rewrite": [{"ModelName": "conv-rewrite-qwen-1.8b"}],
    "IndexId": "5pwe0m2g6t",
    "SaveRetrieverHistory": False,
    "QueryHistory": [{"role": "user", "content": "代表一段文本。"}],
    "Images": ["https://example.com/downloads/pic.jpg"],
}
MINIMAL: dict[str, Any] = {"IndexId": "5pwe0m2g6t", "Query": "阿里云百炼平台介绍"}


def retrieve(**changes: Any) -> RetrieveRequest:
    return parse_request(RetrieveRequest, {**MINIMAL, **changes})


def rejected(payload: dict[str, Any], model: type = RetrieveRequest) -> InvalidParameterError:
    """Parse ``payload`` expecting rejection, and check the error is fit for an API caller."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_request(model, payload)
    error = caught.value
    assert error.kind is ErrorKind.INVALID_PARAMETER and error.kind.status == 400
    assert str(error) == f"Parameter {error.field} is invalid: {error.problem}"
    assert not _INTERNALS.search(str(error)), str(error)
    return error


def rejected_retrieve(**changes: Any) -> InvalidParameterError:
    return rejected({**MINIMAL, **changes})


# --- the seed examples and defaults -----------------------------------------------------------------------------------


def test_the_seed_example_parses() -> None:
    request = parse_request(RetrieveRequest, SEED_EXAMPLE)

    assert request.query == "阿里云百炼平台介绍"
    assert request.index_id == "5pwe0m2g6t"
    assert request.dense_similarity_top_k == 100 and request.sparse_similarity_top_k == 100
    assert request.enable_reranking is True and request.enable_rewrite is False
    assert request.save_retriever_history is False
    assert request.rerank_config.model_name == "gte-rerank-hybrid"
    assert request.rerank_config.rerank_min_score == pytest.approx(0.20)
    assert request.top_n == 5  # RerankTopN, top-level or in Rerank[0]
    assert request.rerank_config.rerank_mode == "qa"
    assert request.rewrite is not None and request.rewrite[0].model_name == "conv-rewrite-qwen-1.8b"
    assert request.query_history is not None
    assert (request.query_history[0].role, request.query_history[0].content) == ("user", "代表一段文本。")
    assert request.images == ["https://example.com/downloads/pic.jpg"]


def test_the_seed_example_parses_from_a_json_body() -> None:
    body = json.dumps(SEED_EXAMPLE, ensure_ascii=False).encode()
    assert parse_request(RetrieveRequest, decode_json_body(body)) == parse_request(RetrieveRequest, SEED_EXAMPLE)


def test_defaults_follow_the_seed() -> None:
    request = parse_request(RetrieveRequest, MINIMAL)

    assert request.dense_similarity_top_k == 100
    assert request.sparse_similarity_top_k == 100
    assert request.enable_reranking is True
    assert request.enable_rewrite is False
    assert request.save_retriever_history is False
    assert request.rerank is None and request.rewrite is None
    assert request.search_filters is None and request.images is None and request.query_history is None
    assert request.rerank_config == RerankConfig()
    assert request.top_n == 5  # RerankTopN, top-level or in Rerank[0]
    assert request.rerank_config.rerank_mode == "qa"
    assert request.rerank_config.model_name is None  # "the model configured for the knowledge base is used"
    assert request.rerank_config.rerank_min_score is None


def test_an_empty_rerank_object_takes_every_default() -> None:
    request = retrieve(Rerank=[{}])
    assert request.rerank_config == RerankConfig()


def test_an_empty_rewrite_object_uses_the_only_rewrite_model() -> None:
    request = retrieve(Rewrite=[{}])
    assert request.rewrite is not None and request.rewrite[0].model_name == "conv-rewrite-qwen-1.8b"


@pytest.mark.parametrize("model", ["qwen3-rerank-hybrid", "qwen3-rerank", "gte-rerank-hybrid", "gte-rerank"])
def test_every_documented_rerank_model_is_accepted(model: str) -> None:
    assert retrieve(Rerank=[{"ModelName": model}]).rerank_config.model_name == model


@pytest.mark.parametrize("mode", ["qa", "similar"])
def test_qa_and_similar_modes_need_no_instruction(mode: str) -> None:
    assert retrieve(Rerank=[{"RerankMode": mode}]).rerank_config.rerank_mode == mode


def test_custom_mode_with_an_instruction_is_accepted() -> None:
    config = retrieve(Rerank=[{"RerankMode": "custom", "RerankInstruct": "Prefer official docs"}]).rerank_config
    assert (config.rerank_mode, config.rerank_instruct) == ("custom", "Prefer official docs")


def test_search_filters_arrive_parsed_and_an_empty_array_means_no_filter() -> None:
    assert isinstance(retrieve(SearchFilters=[{"category": "news"}]).search_filters, Group)
    assert retrieve(SearchFilters=[]).search_filters is None
    assert retrieve(SearchFilters=None).search_filters is None


def test_null_optional_arrays_are_accepted() -> None:
    request = retrieve(Rerank=None, Rewrite=None, Images=None, QueryHistory=None)
    assert request.rerank is None and request.query_history is None


def test_assistant_history_messages_are_accepted() -> None:
    history = [{"role": "user", "content": "什么是百炼？"}, {"role": "assistant", "content": "一个平台。"}]
    request = retrieve(QueryHistory=history)
    assert request.query_history is not None and [m.role for m in request.query_history] == ["user", "assistant"]


# --- ranges -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["DenseSimilarityTopK", "SparseSimilarityTopK"])
@pytest.mark.parametrize("value", [0, 1, 100])
def test_top_k_accepts_zero_to_one_hundred(field: str, value: int) -> None:
    request = retrieve(**{field: value})
    attribute = "dense_similarity_top_k" if field.startswith("Dense") else "sparse_similarity_top_k"
    assert getattr(request, attribute) == value


@pytest.mark.parametrize("field", ["DenseSimilarityTopK", "SparseSimilarityTopK"])
@pytest.mark.parametrize("value", [-1, 101, 1000])
def test_top_k_rejects_values_outside_zero_to_one_hundred(field: str, value: int) -> None:
    assert rejected_retrieve(**{field: value}).field == field


def test_both_top_ks_zero_is_rejected() -> None:
    error = rejected_retrieve(DenseSimilarityTopK=0, SparseSimilarityTopK=0)
    assert error.field == "DenseSimilarityTopK"
    assert "SparseSimilarityTopK" in error.problem


@pytest.mark.parametrize("value", [1, 5, 20])
def test_rerank_top_n_accepts_one_to_twenty(value: int) -> None:
    assert retrieve(Rerank=[{"RerankTopN": value}]).rerank_config.rerank_top_n == value


@pytest.mark.parametrize("value", [0, -1, 21])
def test_rerank_top_n_rejects_values_outside_one_to_twenty(value: int) -> None:
    assert rejected_retrieve(Rerank=[{"RerankTopN": value}]).field == "Rerank[0].RerankTopN"


@pytest.mark.parametrize("value", [0.01, 0.2, 1.0, 1])
def test_rerank_min_score_accepts_one_hundredth_to_one(value: float) -> None:
    assert retrieve(Rerank=[{"RerankMinScore": value}]).rerank_config.rerank_min_score == pytest.approx(value)


@pytest.mark.parametrize("value", [0, 0.0, 0.0099, 1.01, -0.5, float("nan"), float("inf")])
def test_rerank_min_score_rejects_values_outside_one_hundredth_to_one(value: float) -> None:
    assert rejected_retrieve(Rerank=[{"RerankMinScore": value}]).field == "Rerank[0].RerankMinScore"


# --- strictness -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"DenseSimilarityTopK": "5"}, "DenseSimilarityTopK"),
        ({"SparseSimilarityTopK": 5.5}, "SparseSimilarityTopK"),
        ({"DenseSimilarityTopK": 5.0}, "DenseSimilarityTopK"),
        ({"DenseSimilarityTopK": True}, "DenseSimilarityTopK"),
        ({"DenseSimilarityTopK": None}, "DenseSimilarityTopK"),
        ({"EnableReranking": 1}, "EnableReranking"),
        ({"EnableRewrite": "true"}, "EnableRewrite"),
        ({"SaveRetrieverHistory": 0}, "SaveRetrieverHistory"),
        ({"Rerank": [{"RerankTopN": "5"}]}, "Rerank[0].RerankTopN"),
        ({"Rerank": [{"RerankTopN": True}]}, "Rerank[0].RerankTopN"),
        ({"Rerank": [{"RerankMinScore": "0.5"}]}, "Rerank[0].RerankMinScore"),
        ({"Query": 123}, "Query"),
        ({"IndexId": 5}, "IndexId"),
        ({"Rerank": {"RerankTopN": 5}}, "Rerank"),
        ({"Images": "https://example.com/downloads/pic.jpg"}, "Images"),
        ({"QueryHistory": [["user", "hi"]]}, "QueryHistory[0]"),
    ],
)
def test_values_of_the_wrong_json_type_are_rejected_not_coerced(changes: dict[str, Any], field: str) -> None:
    assert rejected_retrieve(**changes).field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"Foo": 1}, "Foo"),
        ({"indexId": "x"}, "indexId"),
        ({"index_id": "x"}, "index_id"),
        ({"Rerank": [{"TopN": 5}]}, "Rerank[0].TopN"),
        ({"QueryHistory": [{"role": "user", "content": "x", "name": "bob"}]}, "QueryHistory[0].name"),
    ],
)
def test_unknown_fields_are_rejected_and_named(changes: dict[str, Any], field: str) -> None:
    error = rejected_retrieve(**changes)
    assert error.field == field
    assert error.problem == "is not a known parameter"


def test_custom_mode_without_an_instruction_is_rejected() -> None:
    error = rejected_retrieve(Rerank=[{"RerankMode": "custom"}])
    assert error.field == "Rerank[0]"
    assert "RerankInstruct" in error.problem


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"Rerank": [{"ModelName": "gpt-rerank"}]}, "Rerank[0].ModelName"),
        ({"Rerank": [{"ModelName": "GTE-RERANK"}]}, "Rerank[0].ModelName"),
        ({"Rewrite": [{"ModelName": "conv-rewrite-qwen-7b"}]}, "Rewrite[0].ModelName"),
        ({"Rerank": [{"RerankMode": "QA"}]}, "Rerank[0].RerankMode"),
        ({"Rerank": [{"RerankMode": "semantic"}]}, "Rerank[0].RerankMode"),
        ({"QueryHistory": [{"role": "system", "content": "x"}]}, "QueryHistory[0].role"),
    ],
)
def test_values_outside_the_documented_enumerations_are_rejected(changes: dict[str, Any], field: str) -> None:
    assert rejected_retrieve(**changes).field == field


def test_an_unknown_model_name_error_lists_the_documented_models() -> None:
    error = rejected_retrieve(Rerank=[{"ModelName": "gpt-rerank"}])
    assert "qwen3-rerank-hybrid" in error.problem and "gte-rerank" in error.problem


# --- sizes ------------------------------------------------------------------------------------------------------------


def test_query_of_twenty_thousand_characters_is_accepted_and_one_more_is_rejected() -> None:
    assert len(retrieve(Query="查" * 20_000).query) == 20_000
    assert rejected_retrieve(Query="q" * 20_001).field == "Query"


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_blank_query_is_rejected(query: str) -> None:
    assert rejected_retrieve(Query=query).field == "Query"


def test_query_is_required_unless_images_are_given() -> None:
    """The seed marks Query optional ("Required: No"): a request may search by Images alone, but by something."""
    error = rejected({"IndexId": "5pwe0m2g6t"})
    assert (error.field, error.problem) == ("Query", "is required (unless Images are given)")
    request = parse_request(RetrieveRequest, {"IndexId": "5pwe0m2g6t", "Images": ["s3://bucket/cat.png"]})
    assert request.query is None and request.images == ["s3://bucket/cat.png"]


def test_rerank_top_n_and_min_score_are_top_level_and_may_repeat_in_rerank_only_if_equal() -> None:
    top = parse_request(RetrieveRequest, {**MINIMAL, "RerankTopN": 2, "RerankMinScore": 0.3})
    assert (top.top_n, top.min_score) == (2, 0.3)
    nested = parse_request(RetrieveRequest, {**MINIMAL, "Rerank": [{"RerankTopN": 3, "RerankMinScore": 0.2}]})
    assert (nested.top_n, nested.min_score) == (3, 0.2)
    both = parse_request(RetrieveRequest, {**MINIMAL, "RerankTopN": 3, "Rerank": [{"RerankTopN": 3}]})
    assert both.top_n == 3
    assert rejected({**MINIMAL, "RerankTopN": 2, "Rerank": [{"RerankTopN": 3}]}).field == "RerankTopN"
    assert rejected({**MINIMAL, "RerankMinScore": 0.2, "Rerank": [{"RerankMinScore": 0.3}]}).field == "RerankMinScore"
    assert rejected({**MINIMAL, "RerankTopN": 21}).field == "RerankTopN"
    assert rejected({**MINIMAL, "RerankMinScore": 0}).field == "RerankMinScore"


def test_extra_carries_the_callers_unique_id() -> None:
    request = parse_request(RetrieveRequest, {**MINIMAL, "Extra": {"uniqueId": "u-1"}})
    assert request.extra is not None and request.extra.unique_id == "u-1"
    assert rejected({**MINIMAL, "Extra": {"other": 1}}).field == "Extra.other"


def test_index_id_is_required_and_must_be_an_identifier() -> None:
    assert rejected({"Query": "q"}).field == "IndexId"
    assert rejected_retrieve(IndexId="bad id").field == "IndexId"
    assert rejected_retrieve(IndexId="a" * 65).field == "IndexId"
    assert retrieve(IndexId="a" * 64).index_id == "a" * 64


def test_history_content_of_one_thousand_characters_is_accepted_and_one_more_is_rejected() -> None:
    assert retrieve(QueryHistory=[{"role": "user", "content": "字" * 1000}]).query_history is not None
    error = rejected_retrieve(QueryHistory=[{"role": "user", "content": "x"}, {"role": "user", "content": "x" * 1001}])
    assert error.field == "QueryHistory[1].content"


def test_one_hundred_history_messages_are_accepted_and_one_more_is_rejected() -> None:
    message = {"role": "user", "content": "hi"}
    assert len(retrieve(QueryHistory=[message] * 100).query_history or []) == 100
    assert rejected_retrieve(QueryHistory=[message] * 101).field == "QueryHistory"


def test_history_messages_need_role_and_content() -> None:
    assert rejected_retrieve(QueryHistory=[{"content": "x"}]).field == "QueryHistory[0].role"
    assert rejected_retrieve(QueryHistory=[{"role": "user"}]).field == "QueryHistory[0].content"


def test_more_than_one_rerank_or_rewrite_object_is_rejected() -> None:
    assert rejected_retrieve(Rerank=[{}, {}]).field == "Rerank"
    assert rejected_retrieve(Rewrite=[{}, {}]).field == "Rewrite"


def test_images_are_limited_in_number_and_length() -> None:
    assert rejected_retrieve(Images=["https://example.com/a.jpg"] * 11).field == "Images"
    assert rejected_retrieve(Images=["https://example.com/" + "x" * 2048]).field == "Images[0]"


def test_instruction_length_is_limited() -> None:
    error = rejected_retrieve(Rerank=[{"RerankMode": "custom", "RerankInstruct": "x" * 1001}])
    assert error.field == "Rerank[0].RerankInstruct"


def test_search_filter_errors_carry_the_wire_path() -> None:
    error = rejected_retrieve(SearchFilters=[{"price": {"gt": "cheap"}}])
    assert error.field == "SearchFilters[0].price.gt"


# --- response models --------------------------------------------------------------------------------------------------


def test_the_retrieve_response_shape_holds_the_documented_nodes() -> None:
    metadata = {"doc_id": "doc_1", "title": "阿里云百炼文档", "image_url": ["http://x"], "parent": ""}
    check("Retrieve", responses.RetrieveData, {"Nodes": [{"Text": "阿里云百炼是……", "Score": 0.3, "Metadata": metadata}]})
    check("Retrieve", responses.RetrieveData, {"Nodes": []})
    for wrong in ({"Nodes": [{"Text": "a", "Score": 0.3}]},  # a documented key missing
                  {"Nodes": [{"Text": "a", "Score": 0.3, "Metadata": {}, "Extra": 1}]},  # an undeclared key
                  {"Nodes": [{"Text": "a", "Score": "high", "Metadata": {}}]}):  # a key of another type
        with pytest.raises(ResponseShapeError, match="Retrieve answered outside RetrieveData"):
            check("Retrieve", responses.RetrieveData, wrong)


# --- decode_json_body -------------------------------------------------------------------------------------------------


def body_error(raw: bytes) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError) as caught:
        decode_json_body(raw)
    error = caught.value
    assert error.field == "body"
    assert not _INTERNALS.search(str(error)), str(error)
    return error


def test_decode_json_body_returns_the_object() -> None:
    assert decode_json_body('{"Query": "阿里云"}'.encode()) == {"Query": "阿里云"}


@pytest.mark.parametrize("raw", [None, b"", b"   \n"])
def test_an_empty_body_is_an_empty_object(raw: bytes | None) -> None:
    assert decode_json_body(raw) == {}


@pytest.mark.parametrize("raw", [b"{bad", b'{"Query": }', b"{'Query': 'x'}", b'{"a": 1,}'])
def test_malformed_json_is_rejected(raw: bytes) -> None:
    assert "not valid JSON" in body_error(raw).problem


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected(raw: bytes) -> None:
    assert body_error(raw).problem == "must be a JSON object"


@pytest.mark.parametrize("raw", [b'{"q": "caf\xe9"}', b"\xff\xfe\xfd", "{\"q\": \"阿里云\"}".encode("gbk")])
def test_bytes_that_are_not_utf8_are_rejected(raw: bytes) -> None:
    assert "UTF-8" in body_error(raw).problem


def test_an_oversized_body_is_rejected() -> None:
    raw = b'{"Query": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert str(MAX_BODY_BYTES) in body_error(raw).problem


def test_a_body_at_the_size_limit_is_accepted() -> None:
    padding = MAX_BODY_BYTES - len(b'{"Query": ""}')
    raw = b'{"Query": "' + b"x" * padding + b'"}'
    assert len(raw) == MAX_BODY_BYTES
    assert len(decode_json_body(raw)["Query"]) == padding


def test_an_oversized_blank_body_is_rejected_too() -> None:
    body_error(b" " * (MAX_BODY_BYTES + 1))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_constants_are_rejected(constant: str) -> None:
    body_error(f'{{"IndexId": "kb", "Query": "x", "Rerank": [{{"RerankMinScore": {constant}}}]}}'.encode())


def test_a_utf16_body_is_rejected() -> None:
    body_error('{"Query": "x"}'.encode("utf-16"))


# --- supporting operations --------------------------------------------------------------------------------------------


def test_create_index_defaults_and_source_uri_alias() -> None:
    request = parse_request(CreateIndexRequest, {"Name": "docs", "SourceURI": "s3://bucket/docs/"})

    assert request.source_uri == "s3://bucket/docs/"
    assert (request.chunk_size, request.overlap_size) == (1200, 200)
    assert request.structure_type == "unstructured"
    assert request.rerank_model_name == "qwen3-rerank-hybrid"
    assert request.rerank_min_score is None


def test_create_index_source_uri_is_spelled_with_upper_case_uri() -> None:
    error = rejected({"Name": "docs", "SourceUri": "s3://bucket/docs/"}, CreateIndexRequest)
    assert (error.field, error.problem) == ("SourceUri", "is not a known parameter")


@pytest.mark.parametrize(("chunk_size", "overlap_size"), [(100, 100), (100, 101), (1, 1), (500, 1024)])
def test_create_index_rejects_an_overlap_not_below_the_chunk_size(chunk_size: int, overlap_size: int) -> None:
    error = rejected({"Name": "docs", "ChunkSize": chunk_size, "OverlapSize": overlap_size}, CreateIndexRequest)
    assert "OverlapSize" in error.problem and "ChunkSize" in error.problem
    assert error.field == "body"  # pinned: a cross-field error names the body


@pytest.mark.parametrize(("chunk_size", "overlap_size"), [(100, 99), (1, 0), (2048, 1024)])
def test_create_index_accepts_an_overlap_below_the_chunk_size(chunk_size: int, overlap_size: int) -> None:
    request = parse_request(CreateIndexRequest, {"Name": "docs", "ChunkSize": chunk_size, "OverlapSize": overlap_size})
    assert (request.chunk_size, request.overlap_size) == (chunk_size, overlap_size)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "Name"),
        ({"Name": ""}, "Name"),
        ({"Name": "n" * 65}, "Name"),
        ({"Name": "docs", "ChunkSize": 0}, "ChunkSize"),
        ({"Name": "docs", "ChunkSize": 2049}, "ChunkSize"),
        ({"Name": "docs", "OverlapSize": -1}, "OverlapSize"),
        ({"Name": "docs", "StructureType": "structured"}, "StructureType"),
        ({"Name": "docs", "RerankModelName": "bge"}, "RerankModelName"),
    ],
)
def test_create_index_rejects_bad_values(payload: dict[str, Any], field: str) -> None:
    assert rejected(payload, CreateIndexRequest).field == field


def test_submit_job_source_uris_alias() -> None:
    request = parse_request(SubmitJobRequest, {"IndexId": "kb_1", "SourceURIs": ["s3://bucket/docs/a.pdf"]})
    assert request.source_uris == ["s3://bucket/docs/a.pdf"]
    assert parse_request(SubmitJobRequest, {"IndexId": "kb_1"}).source_uris is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"IndexId": "kb_1", "SourceUris": ["s3://b/a"]}, "SourceUris"),
        ({"IndexId": "kb_1", "SourceURIs": []}, "SourceURIs"),
        ({"IndexId": "kb_1", "SourceURIs": [""]}, "SourceURIs[0]"),
        ({"IndexId": "kb_1", "SourceURIs": "s3://b/a"}, "SourceURIs"),
        ({"SourceURIs": ["s3://b/a"]}, "IndexId"),
    ],
)
def test_submit_job_rejects_bad_values(payload: dict[str, Any], field: str) -> None:
    assert rejected(payload, SubmitJobRequest).field == field


def test_the_suite_checks_every_answer_and_a_drifting_handler_is_a_logged_500() -> None:
    from dataclasses import replace

    from chalicelib.api.operations import BY_NAME, invoke

    assert responses.checking()  # tests/conftest.py turns the check on for the whole suite
    drifting = replace(BY_NAME["DeleteIndex"], handler=lambda service, call: {"Id": call.request.index_id, "Oops": 1})
    answer = invoke(lambda: type("Services", (), {"knowledge_bases": None})(), drifting,
                    path_params={"WorkspaceId": "ws"}, body={"IndexId": "kb_1"})
    assert (answer.status, answer.body["Code"]) == (500, "InternalError")
