"""The media-dataset operations (IMM family) over HTTP through ``chalice.test.Client``, S3 under moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Api, Reply
from tests.unit.test_imm_wire import SEED_INPUT_FILE

PROJECT, DATASET = "travel", "photos"
BUCKET = "sift-media"
IN_DATASET = {"ProjectName": PROJECT, "DatasetName": DATASET}
LAKE = {
    "URI": "s3://sift-media/photos/west-lake.jpg",
    "Title": "West Lake at dusk",
    "Labels": [{"LabelName": "lake", "LabelConfidence": 0.98}],
    "Insights": {"Image": {"Caption": "a pagoda above the water", "Description": "Leifeng Pagoda at sunset"}},
    "SmartClusters": [{"SmartClusterId": "SmartCluster-lakes", "Similarity": 0.9}],
}
TICKET = {
    "URI": "s3://sift-media/photos/ticket.png",
    "OCRTexts": "Palace Museum admission ticket 60 yuan",
    "SmartClusters": [{"SmartClusterId": "SmartCluster-tickets", "Similarity": 0.8}],
}


def call(api: Api, operation: str, body: dict[str, Any]) -> Reply:
    return api.post(f"/imm/{operation}", body)


def ok(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    assert isinstance(reply.body["RequestId"], str) and reply.body["RequestId"]
    return reply.body  # type: ignore[no-any-return]


def error(reply: Reply, status: int, code: str) -> str:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"Code", "Message", "RequestId", "HostId", "Recommend"}
    assert reply.body["Code"] == code
    return str(reply.body["Message"])


def turns(*contents: str) -> list[dict[str, str]]:
    return [{"Role": "user" if i % 2 == 0 else "assistant", "Content": c} for i, c in enumerate(contents)]


def retrieve(api: Api, *contents: str, **fields: Any) -> list[dict[str, Any]]:
    body = ok(call(api, "ContextualRetrieval", {**IN_DATASET, "Messages": turns(*contents), **fields}))
    return body["Results"]  # type: ignore[no-any-return]


@pytest.fixture
def dataset(api: Api) -> Api:
    ok(call(api, "CreateProject", {"ProjectName": PROJECT}))
    ok(call(api, "CreateDataset", IN_DATASET))
    return api


def test_projects_and_datasets(api: Api) -> None:
    project = ok(call(api, "CreateProject", {"ProjectName": PROJECT, "Description": "trips"}))["Project"]
    assert (project["ProjectName"], project["Description"]) == (PROJECT, "trips")
    assert "+00:00" in project["CreateTime"]
    assert "already exists" in error(call(api, "CreateProject", {"ProjectName": PROJECT}), 409, "ResourceAlreadyExists")
    for name in ("photos", "videos", "pages"):
        ok(call(api, "CreateDataset", {"ProjectName": PROJECT, "DatasetName": name}))
    error(call(api, "CreateDataset", IN_DATASET), 409, "ResourceAlreadyExists")
    listed = ok(call(api, "ListDatasets", {"ProjectName": PROJECT, "MaxResults": 2}))
    assert [item["DatasetName"] for item in listed["Datasets"]] == ["pages", "photos"]
    rest = ok(call(api, "ListDatasets", {"ProjectName": PROJECT, "MaxResults": 2, "NextToken": listed["NextToken"]}))
    assert [item["DatasetName"] for item in rest["Datasets"]] == ["videos"] and not rest["NextToken"]
    prefixed = ok(call(api, "ListDatasets", {"ProjectName": PROJECT, "Prefix": "p"}))
    assert [item["DatasetName"] for item in prefixed["Datasets"]] == ["pages", "photos"]


@pytest.mark.parametrize(
    ("operation", "body", "resource"),
    [
        ("CreateDataset", {"ProjectName": "nowhere", "DatasetName": "d"}, "project"),
        ("ListDatasets", {"ProjectName": "nowhere"}, "project"),
        ("IndexFileMeta", {"ProjectName": PROJECT, "DatasetName": "nothing", "File": {"URI": "s3://other-bucket/k.jpg"}},
         "dataset"),
        ("GetFileMeta", {**IN_DATASET, "URI": "s3://other-bucket/never.jpg"}, "file"),
        ("DeleteFileMeta", {**IN_DATASET, "URI": "s3://other-bucket/never.jpg"}, "file"),
        ("ContextualRetrieval", {"ProjectName": PROJECT, "DatasetName": "nothing", "Messages": turns("q")},
         "dataset"),
        ("CreateBinding", {"ProjectName": PROJECT, "DatasetName": "nothing", "URI": "s3://other-bucket/"}, "dataset"),
    ],
)
def test_unknown_resources_are_404_in_the_documented_style(
    dataset: Api, operation: str, body: dict[str, Any], resource: str
) -> None:
    message = error(call(dataset, operation, body), 404, "ResourceNotFound")
    assert message.startswith(f"The specified resource {resource} is not found")


def test_the_seed_sample_file_round_trips_to_contextual_retrieval(dataset: Api) -> None:
    indexed = ok(call(dataset, "IndexFileMeta", {**IN_DATASET, "File": SEED_INPUT_FILE}))
    assert indexed["Files"] == [
        {"URI": SEED_INPUT_FILE["URI"], "ObjectId": indexed["Files"][0]["ObjectId"], "ObjectStatus": "Indexed",
         "Reason": ""}
    ]
    stored = ok(call(dataset, "GetFileMeta", {**IN_DATASET, "URI": SEED_INPUT_FILE["URI"]}))["Files"][0]
    for key, value in SEED_INPUT_FILE.items():
        assert stored[key] == value, key  # every given field back unchanged
    assert (stored["ObjectType"], stored["ObjectStatus"], stored["ProjectName"]) == ("file", "Indexed", PROJECT)
    assert stored["Filename"] == "sampleobject.jpg"
    results = retrieve(dataset, "find the test picture")
    assert [result["URI"] for result in results] == [SEED_INPUT_FILE["URI"]]
    result = results[0]
    for key, value in SEED_INPUT_FILE.items():
        assert result[key] == value, key
    assert 0 <= result["SemanticSimilarity"] <= 1
    element = result["Elements"][0]
    assert element["SemanticSimilarity"] == result["SemanticSimilarity"]
    assert element["ElementContents"][0]["Type"] == "text" and "sampleobject.jpg" in element["ElementContents"][0]["Content"]
    only_title = ok(call(dataset, "GetFileMeta", {**IN_DATASET, "URI": SEED_INPUT_FILE["URI"], "WithFields": ["Title"]}))
    assert only_title["Files"] == [{"URI": SEED_INPUT_FILE["URI"], "Title": "test"}]


def test_results_follow_the_conversation_clusters_and_recall_only(dataset: Api) -> None:
    batch = ok(call(dataset, "BatchIndexFileMeta", {**IN_DATASET, "Files": [LAKE, TICKET]}))
    assert [item["ObjectStatus"] for item in batch["Files"]] == ["Indexed", "Indexed"]
    follow_up = retrieve(dataset, "Show me the Palace Museum", "Here it is.", "how much was admission?")
    assert follow_up[0]["URI"] == TICKET["URI"]
    assert [r["URI"] for r in retrieve(dataset, "museum ticket", SmartClusterIds=["SmartCluster-lakes"])] == [LAKE["URI"]]
    recalled = retrieve(dataset, "pagoda", RecallOnly=True)
    assert recalled[0]["URI"] == LAKE["URI"]
    scores = [result["SemanticSimilarity"] for result in recalled]
    assert scores == sorted(scores, reverse=True)


def test_indexing_twice_keeps_one_copy_and_a_deleted_file_is_gone_at_once(dataset: Api) -> None:
    ok(call(dataset, "IndexFileMeta", {**IN_DATASET, "File": LAKE}))
    ok(call(dataset, "IndexFileMeta", {**IN_DATASET, "File": {**LAKE, "Title": "West Lake at night"}}))
    results = retrieve(dataset, "West Lake")
    assert [result["URI"] for result in results] == [LAKE["URI"]]
    assert results[0]["Title"] == "West Lake at night"
    ok(call(dataset, "DeleteFileMeta", {**IN_DATASET, "URI": LAKE["URI"]}))
    assert retrieve(dataset, "West Lake") == []
    error(call(dataset, "GetFileMeta", {**IN_DATASET, "URI": LAKE["URI"]}), 404, "ResourceNotFound")
    ok(call(dataset, "BatchIndexFileMeta", {**IN_DATASET, "Files": [LAKE, TICKET]}))
    deleted = ok(call(dataset, "BatchDeleteFileMeta", {**IN_DATASET, "URIs": [LAKE["URI"], "s3://other-bucket/never.jpg"]}))
    assert (deleted["DeletedURIs"], deleted["NotFoundURIs"]) == ([LAKE["URI"]], ["s3://other-bucket/never.jpg"])
    assert [result["URI"] for result in retrieve(dataset, "West Lake museum ticket")] == [TICKET["URI"]]


def test_a_binding_indexes_the_prefix_and_follows_s3_events(dataset: Api) -> None:
    dataset.s3.create_bucket(Bucket=BUCKET)
    dataset.s3.put_object(Bucket=BUCKET, Key="guides/lingyin.txt", Body=b"Lingyin Temple opens at seven.")
    dataset.s3.put_object(Bucket=BUCKET, Key="other/skip.txt", Body=b"not bound")
    binding = ok(call(dataset, "CreateBinding", {**IN_DATASET, "URI": f"s3://{BUCKET}/guides/"}))["Binding"]
    assert (binding["URI"], binding["State"]) == (f"s3://{BUCKET}/guides/", "Running")
    error(call(dataset, "CreateBinding", {**IN_DATASET, "URI": f"s3://{BUCKET}/guides/"}), 409, "ResourceAlreadyExists")
    assert [r["Filename"] for r in retrieve(dataset, "when does the temple open?")] == ["lingyin.txt"]

    dataset.s3.put_object(Bucket=BUCKET, Key="guides/longjing.txt", Body=b"Longjing tea fields.")
    assert dataset.s3_event("Object Created", BUCKET, "guides/longjing.txt")["indexed"] == ["FINISH"]
    assert retrieve(dataset, "Longjing tea")[0]["Filename"] == "longjing.txt"
    dataset.s3.delete_object(Bucket=BUCKET, Key="guides/lingyin.txt")
    assert dataset.s3_event("Object Deleted", BUCKET, "guides/lingyin.txt")["removed"] == 1
    assert "lingyin.txt" not in [r["Filename"] for r in retrieve(dataset, "when does the temple open?")]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        pytest.param([], "Messages", id="empty"),
        pytest.param(turns("a", "b"), "Messages", id="ends-with-the-assistant"),
        pytest.param([{"Role": "assistant", "Content": "hi"}, {"Role": "user", "Content": "q"}, {"Role": "user",
                      "Content": "q"}], "Messages[0].Role", id="starts-with-the-assistant"),
        pytest.param(turns("a", "b", "c")[:1] + [{"Role": "user", "Content": "again"}, {"Role": "user", "Content": "q"}],
                     "Messages[1].Role", id="two-user-turns-in-a-row"),
        pytest.param([{"Role": "system", "Content": "x"}], "Messages[0].Role", id="unknown-role"),
        pytest.param(turns(*["m"] * 103), "Messages", id="over-100-history-messages"),
        pytest.param(turns("x" * 1001), "Messages[0].Content", id="question-over-1000-characters"),
        pytest.param(turns("x" * 1001, "a", "q"), "Messages[0].Content", id="history-message-over-1000-characters"),
        pytest.param(turns("   "), "Messages[0].Content", id="blank-question"),
    ],
)
def test_each_messages_rule_is_a_400_naming_it(dataset: Api, messages: list[dict[str, str]], field: str) -> None:
    reply = call(dataset, "ContextualRetrieval", {**IN_DATASET, "Messages": messages})
    message = error(reply, 400, "InvalidArgument")
    assert field in message, message


def test_history_of_exactly_100_messages_is_accepted(dataset: Api) -> None:
    ok(call(dataset, "IndexFileMeta", {**IN_DATASET, "File": LAKE}))
    assert retrieve(dataset, *(["talk"] * 100 + ["pagoda?"]))[0]["URI"] == LAKE["URI"]


@pytest.mark.parametrize(
    ("operation", "body", "field"),
    [
        ("CreateProject", {"ProjectName": "bad name"}, "ProjectName"),
        ("IndexFileMeta", {**IN_DATASET, "File": {"URI": "s3://other-bucket/k.jpg", "ObjectId": "x"}}, "File.ObjectId"),
        ("IndexFileMeta", {**IN_DATASET, "File": {"URI": "http://b/k.jpg"}}, "File.URI"),
        ("BatchIndexFileMeta", {**IN_DATASET, "Files": [{"URI": "s3://other-bucket/k.jpg"}] * 101}, "Files"),
        ("BatchDeleteFileMeta", {**IN_DATASET, "URIs": []}, "URIs"),
        ("ContextualRetrieval", {**IN_DATASET, "Messages": turns("q"), "Colour": "blue"}, "Colour"),
    ],
)
def test_bad_requests_are_400_and_change_nothing(dataset: Api, operation: str, body: dict[str, Any], field: str) -> None:
    ok(call(dataset, "IndexFileMeta", {**IN_DATASET, "File": LAKE}))
    assert field in error(call(dataset, operation, body), 400, "InvalidArgument")
    assert [result["URI"] for result in retrieve(dataset, "pagoda")] == [LAKE["URI"]]


def test_every_media_operation_is_also_a_lambda(dataset: Api) -> None:
    ok(call(dataset, "IndexFileMeta", {**IN_DATASET, "File": LAKE}))
    payload = dataset.invoke("ContextualRetrieval", {**IN_DATASET, "Messages": turns("pagoda")})
    assert payload["Results"][0]["URI"] == LAKE["URI"]
    missing = dataset.invoke("GetFileMeta", {**IN_DATASET, "URI": "s3://other-bucket/never.jpg"})
    assert (missing["Code"], set(missing)) == ("ResourceNotFound", {"Code", "Message", "RequestId", "HostId", "Recommend"})
    assert json.dumps(payload)
