"""The ``Explain`` and ``Fusion`` extensions over HTTP: off by default, on for Retrieve, ContextualRetrieval and
SemanticQuery, the same on the embedded and the OpenSearch backend (no extra round trip), validated like the rest."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.api import test_media_api as media
from tests.api import test_semantic_api as semantic
from tests.api.conftest import WS, Api, write_files
from tests.api.test_explain_scifact import check_node
from tests.api.test_stages import (
    QUERY_TEXT,
    RERANK,
    TEXT_MODEL,
    StubbedBedrock,
    dev_stage,
    expect_dev_indexing,
    index_documents,
    local_stage,
    session,  # noqa: F401 - the fixture the stage helpers need
    unit,
)
from tests.fakes.opensearch import InMemoryOpenSearch

FILES = {
    "tent.txt": "The Zephyr tent is a three-person backpacking tent with two doors and a five-year warranty.",
    "stove.txt": "The Kettle stove boils a litre of water in four minutes; its warranty lasts two years.",
    "stores-zh.txt": "杭州西湖旗舰店：营业时间每天 10:00–22:00。上海门店每天上午十点营业。",
    "returns.txt": "Unused items may be returned within 30 days of delivery for a full refund.",
}
EXPLAIN_KEYS = {"Score", "FusedScore", "Queries", "Rerank", "Matches"}


@pytest.fixture
def index(api: Api, tmp_path: Path) -> str:
    index_id = api.create_index("explain")
    assert api.add_documents(index_id, [str(write_files(tmp_path / "docs", FILES))])["Status"] == "COMPLETED"
    return index_id


def highlighted(node: dict[str, Any]) -> list[str]:
    return [node["Text"][match["Start"]:match["End"]] for match in node["Explain"]["Matches"]]


def test_explain_is_off_unless_asked(api: Api, index: str) -> None:
    nodes = api.nodes(index, "tent warranty")
    assert nodes and all(set(node) == {"Text", "Score", "Metadata"} for node in nodes)


def test_every_node_explains_its_score(api: Api, index: str) -> None:
    nodes = api.nodes(index, "tent warranty", Explain=True)
    assert nodes[0]["Metadata"]["doc_name"] == "tent.txt"
    for node in nodes:
        assert set(node["Explain"]) == EXPLAIN_KEYS
        check_node(node)
    top = nodes[0]["Explain"]
    (query,) = top["Queries"]
    assert query["Text"] == "tent warranty"
    assert query["Dense"]["Rank"] >= 1 and query["Sparse"]["Rank"] == 1
    assert query["Fusion"]["Method"] == "confidence" and query["Fusion"]["Legs"] == 2
    assert top["Rerank"]["Model"] == "sift/local-hybrid-reranker" and top["Rerank"]["Rank"] == 1
    assert top["Rerank"]["Depth"] == 20 and top["Rerank"]["Floor"] is None
    assert highlighted(nodes[0]) == ["tent", "tent", "warranty"]
    assert all(match["Term"] in {"tent", "warranty"} for match in top["Matches"])


def test_chinese_matches_are_bigrams_at_code_point_offsets(api: Api, index: str) -> None:
    node = api.nodes(index, "杭州门店几点营业", Explain=True)[0]
    assert node["Metadata"]["doc_name"] == "stores-zh.txt"
    assert {"杭州", "门店", "营业"} <= set(highlighted(node))
    assert all(node["Text"][m["Start"]:m["End"]] == m["Term"] for m in node["Explain"]["Matches"])


def test_a_node_one_leg_missed_says_so(api: Api, index: str) -> None:
    nodes = api.nodes(index, "refund", Explain=True, EnableReranking=False, Rerank=[{"RerankTopN": 4}])
    sparse_only = [node for node in nodes if node["Explain"]["Queries"][0]["Sparse"] is None]
    assert nodes[0]["Metadata"]["doc_name"] == "returns.txt" and sparse_only  # only returns.txt says "refund"
    for node in nodes:
        check_node(node)
        assert node["Explain"]["Rerank"] is None


def test_explain_and_fusion_travel_in_the_query_string_as_the_sdks_send_parameters(api: Api, index: str) -> None:
    query = urllib.parse.urlencode({
        "IndexId": index, "Query": "tent warranty", "Explain": "true", "EnableReranking": "false",
        "Fusion": json.dumps({"Method": "rrf", "RrfK": 5}),
    })
    response = api.client.http.post(f"/{WS}/index/retrieve?{query}", headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.json_body
    nodes = response.json_body["Data"]["Nodes"]
    for node in nodes:
        check_node(node)
        assert node["Explain"]["Queries"][0]["Fusion"] == {
            "Method": "rrf", "DenseWeight": None, "PriorDenseWeight": None, "RrfK": 5, "Legs": 2,
        }


def test_fusion_weight_decides_which_leg_ranks(api: Api, index: str) -> None:
    def order(weight: float) -> list[tuple[str, int | None]]:
        nodes = api.nodes(index, "warranty water", EnableReranking=False, Explain=True,
                          Fusion={"Method": "minmax", "DenseWeight": weight})
        leg = "Dense" if weight == 1.0 else "Sparse"
        return [(node["Metadata"]["nid"], (node["Explain"]["Queries"][0][leg] or {}).get("Rank")) for node in nodes]

    for weight in (0.0, 1.0):
        ranks = [rank for _, rank in order(weight) if rank is not None]
        assert ranks == sorted(ranks), (weight, ranks)  # that leg's own order
        assert ranks[0] == 1


@pytest.mark.parametrize(
    ("fusion", "field"),
    [
        ({"DenseWeight": 1.5}, "Fusion.DenseWeight"),
        ({"DenseWeight": -0.1}, "Fusion.DenseWeight"),
        ({"Method": "rrf", "DenseWeight": 0.4}, "Fusion.DenseWeight"),
        ({"Method": "minmax", "RrfK": 10}, "Fusion.RrfK"),
        ({"RrfK": 10}, "Fusion.RrfK"),  # the stage's method is confidence
        ({"Method": "rrf", "RrfK": 0}, "Fusion.RrfK"),
        ({"Method": "rrf", "RrfK": 10_001}, "Fusion.RrfK"),
        ({"Method": "linear"}, "Fusion.Method"),
        ({"Weight": 0.5}, "Fusion.Weight"),
        ("rrf", "Fusion"),
    ],
)
def test_a_bad_fusion_is_a_400_naming_it(api: Api, index: str, fusion: Any, field: str) -> None:
    reply = api.retrieve(index, "tent", Fusion=fusion)
    assert reply.status == 400, reply.body
    assert reply.body["Code"] == "Index.InvalidParameter" and field in reply.body["Message"], reply.body


def test_explain_must_be_a_boolean(api: Api, index: str) -> None:
    reply = api.retrieve(index, "tent", Explain="yes")
    assert reply.status == 400 and "Explain" in reply.body["Message"]


# --- the media family -----------------------------------------------------------------------------------------------


def test_contextual_retrieval_explains_each_file_and_element(api: Api) -> None:
    media.ok(media.call(api, "CreateProject", {"ProjectName": media.PROJECT}))
    media.ok(media.call(api, "CreateDataset", media.IN_DATASET))
    media.ok(media.call(api, "BatchIndexFileMeta", {**media.IN_DATASET, "Files": [media.LAKE, media.TICKET]}))
    plain = media.retrieve(api, "Palace Museum ticket price")
    assert plain and all("Explain" not in file for file in plain)

    results = media.retrieve(api, "Tell me about the Palace Museum", "It is in Beijing.", "ticket price?",
                             Explain=True)
    assert results[0]["URI"] == media.TICKET["URI"]
    for file in results:
        explain = file["Explain"]
        assert len(explain["Queries"]) == 2  # the question in focus, and the conversation as a whole
        check_node({"Text": explain["Content"], "Score": file["SemanticSimilarity"], "Explain": explain})
        best = max(file["Elements"], key=lambda element: element["SemanticSimilarity"])
        assert explain["ObjectId"] == best["ObjectId"] and explain["Content"] == best["ElementContents"][0]["Content"]
        for element in file["Elements"]:
            check_node({"Text": element["ElementContents"][0]["Content"], "Score": element["SemanticSimilarity"],
                        "Explain": element["Explain"]})
    top = results[0]["Explain"]
    assert "ticket" in [top["Content"][m["Start"]:m["End"]].lower() for m in top["Matches"]]


def test_semantic_query_explains_files_by_query_and_by_source(api: Api) -> None:
    semantic.ok(semantic.call(api, "CreateProject", {"ProjectName": semantic.PROJECT}))
    semantic.ok(semantic.call(api, "CreateDataset", semantic.IN_DATASET))
    files = semantic.photo_files()
    for start in range(0, len(files), 100):
        semantic.ok(semantic.call(api, "BatchIndexFileMeta", {**semantic.IN_DATASET, "Files": files[start:start + 100]}))
    found = semantic.semantic(api, Query=semantic.SEED_QUERY, Explain=True, WithFields=["SemanticSimilarity"])
    assert found
    for file in found:
        assert set(file) == {"URI", "SemanticSimilarity", "Explain"}  # WithFields projects; Explain comes beside
        check_node({"Text": file["Explain"]["Content"], "Score": file["SemanticSimilarity"], "Explain": file["Explain"]})
    similar = semantic.semantic(api, SourceURI=semantic.LAKE_IMAGE, Explain=True)
    for rank, file in enumerate(similar):
        (query,) = file["Explain"]["Queries"]
        assert query["Fusion"] is None and query["Sparse"] is None
        assert query["Dense"]["Normalized"] == file["Explain"]["Score"] == file["Explain"]["FusedScore"]
        assert file["SemanticSimilarity"] == round(file["Explain"]["Score"], 6)
        assert rank == 0 or query["Dense"]["Rank"] > similar[rank - 1]["Explain"]["Queries"][0]["Dense"]["Rank"]


# --- the OpenSearch backend -----------------------------------------------------------------------------------------


def test_opensearch_explains_the_same_way_in_one_msearch(
    session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    with local_stage(session, tmp_path, monkeypatch) as api:
        local = api.nodes(index_documents(api)["index_id"], QUERY_TEXT, Rerank=RERANK, Explain=True)

    bedrock, node = StubbedBedrock(session), InMemoryOpenSearch()
    expect_dev_indexing(bedrock)
    bedrock.expect_embedding(TEXT_MODEL, unit(0))
    bedrock.expect_rerank([0.92, 0.31, 0.05])
    with dev_stage(session, bedrock, node, monkeypatch) as api:
        index_id = index_documents(api)["index_id"]
        before = len(node.requests)
        dev = api.nodes(index_id, QUERY_TEXT, Rerank=RERANK, Explain=True)
        requests = node.requests[before:]
    bedrock.assert_all_called()

    assert [(request.method, request.path) for request in requests] == [("POST", "/_msearch")]
    for nodes in (local, dev):
        for item in nodes:
            check_node(item)
    assert {key: type(value) for key, value in local[0]["Explain"].items()} == {
        key: type(value) for key, value in dev[0]["Explain"].items()
    }
    top = dev[0]["Explain"]
    assert top["Rerank"]["Score"] == pytest.approx(0.92) and top["Rerank"]["Depth"] is None
    assert top["Queries"][0]["Dense"]["Rank"] == 1  # the query vector is the tent chunk's own
    assert "tent" in [dev[0]["Text"][m["Start"]:m["End"]].lower() for m in top["Matches"]]
