"""Retrieve (POST /{WorkspaceId}/index/retrieve) end to end: response shape, ranking knobs, filters, rewrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import FILTER_FILES, WS, Api, doc_names, write_files

DOCUMENTED_METADATA_KEYS = {
    "doc_id", "doc_name", "title", "hier_title", "content", "workspace_id", "nid", "parent", "file_path",
    "pipeline_id", "_id",
}
RERANK_MODELS = ["qwen3-rerank-hybrid", "qwen3-rerank", "gte-rerank-hybrid", "gte-rerank"]
ALL_FILTER_DOCS = {"policy-2024.txt", "policy-2022.txt", "guide-2023.txt", "faq-2021.txt", "notes.txt"}


def _top(n: int, **rerank: Any) -> dict[str, Any]:
    return {"Rerank": [{"RerankTopN": n, **rerank}]}


def _assert_ranked(nodes: list[dict[str, Any]]) -> None:
    scores = [node["Score"] for node in nodes]
    assert all(isinstance(score, float | int) and 0.0 <= score <= 1.0 for score in scores), scores
    assert scores == sorted(scores, reverse=True), scores


def _view(nodes: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(node["Metadata"]["nid"], node["Score"]) for node in nodes]


# --- response shape -----------------------------------------------------------------------------------------------


def test_retrieve_response_has_exactly_the_documented_shape(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])
    documents = {document["Name"]: document for document in api.documents(index_id)}

    reply = api.retrieve(index_id, "Can I get a refund within 30 days?")

    assert reply.status == 200
    body = reply.body
    assert set(body) == {"Code", "Data", "Message", "RequestId", "Status", "Success"}
    assert (body["Code"], body["Status"], body["Success"]) == ("Success", "200", True)
    assert isinstance(body["Message"], str) and isinstance(body["RequestId"], str) and body["RequestId"]
    assert set(body["Data"]) == {"Nodes"}
    nodes = body["Data"]["Nodes"]
    assert 1 <= len(nodes) <= 5  # RerankTopN defaults to 5
    for node in nodes:
        assert set(node) == {"Text", "Score", "Metadata"}
        assert isinstance(node["Text"], str) and node["Text"]
        metadata = node["Metadata"]
        assert DOCUMENTED_METADATA_KEYS <= set(metadata), DOCUMENTED_METADATA_KEYS - set(metadata)
        assert metadata["content"] == node["Text"]
        assert metadata["workspace_id"] == WS
        assert metadata["pipeline_id"] == index_id
        assert metadata["nid"] == metadata["_id"]
        assert metadata["parent"] == ""
        document = documents[metadata["doc_name"]]
        assert metadata["doc_id"] == document["Id"]
        assert metadata["file_path"] == document["SourceURI"]
        assert metadata["title"] == document["Title"]
        assert isinstance(metadata["hier_title"], str) and metadata["hier_title"]
    _assert_ranked(nodes)
    top = nodes[0]
    assert top["Metadata"]["doc_name"] == "refund-policy.txt"
    # The sidecar's attributes travel with every chunk of the document.
    assert top["Metadata"]["category"] == "policy" and top["Metadata"]["year"] == 2024
    # The failed PDF contributes nothing.
    assert "broken.pdf" not in doc_names(api.nodes(index_id, "garbage PDF", **_top(20)))


def test_markdown_headings_become_title_and_hier_title(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "md", {
        "care.md": "# Tent care\n\n## Drying\n\nAlways dry the fly completely before storing it for winter.\n",
    })
    index_id = api.create_index("md")
    api.add_documents(index_id, [str(directory)])

    node = api.nodes(index_id, "dry the fly before storing")[0]

    assert node["Metadata"]["title"] == "Tent care"
    assert "Drying" in node["Metadata"]["hier_title"]


def test_retrieve_on_an_empty_index_returns_no_nodes(api: Api) -> None:
    index_id = api.create_index("empty")
    assert api.nodes(index_id, "anything at all") == []


def test_cjk_documents_are_retrievable(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "zh", {
        "returns-zh.txt": "退货政策：商品在收货后三十天内可以无理由退货，运费由我们承担。",
        "stores-zh.txt": "门店信息：我们在上海和杭州各有一家门店，每天上午十点营业。",
    })
    index_id = api.create_index("zh")
    api.add_documents(index_id, [str(directory)])

    assert api.nodes(index_id, "退货政策是什么？")[0]["Metadata"]["doc_name"] == "returns-zh.txt"
    assert api.nodes(index_id, "杭州门店几点营业")[0]["Metadata"]["doc_name"] == "stores-zh.txt"


# --- top-N and top-K ----------------------------------------------------------------------------------------------


@pytest.fixture
def many_index(api: Api, tmp_path: Path) -> str:
    animals = ["otter", "badger", "heron", "lynx", "marten", "osprey", "vole", "stoat"]
    files = {f"{animal}.txt": f"Field notes on the {animal}: the {animal} was seen near the river at dawn."
             for animal in animals}
    directory = write_files(tmp_path / "many", files)
    index_id = api.create_index("many")
    assert api.add_documents(index_id, [str(directory)])["Status"] == "COMPLETED"
    return index_id


def test_rerank_top_n_caps_the_node_count(api: Api, many_index: str) -> None:
    assert len(api.nodes(many_index, "river at dawn")) == 5  # default RerankTopN
    for top_n in (1, 2, 7, 20):
        nodes = api.nodes(many_index, "river at dawn", **_top(top_n))
        assert len(nodes) == min(top_n, 8)
        _assert_ranked(nodes)
    assert api.nodes(many_index, "heron river", **_top(1))[0]["Metadata"]["doc_name"] == "heron.txt"


def test_reranking_disabled_returns_fused_ranking(api: Api, many_index: str) -> None:
    nodes = api.nodes(many_index, "where was the lynx seen", EnableReranking=False)

    assert len(nodes) == 5  # RerankTopN still caps the result
    _assert_ranked(nodes)
    assert nodes[0]["Metadata"]["doc_name"] == "lynx.txt"
    assert len(api.nodes(many_index, "lynx", EnableReranking=False, **_top(3))) == 3


def test_reranking_disabled_ignores_rerank_min_score(api: Api, many_index: str) -> None:
    # Pinned: RerankMinScore is a reranking threshold; with reranking off it is not applied.
    nodes = api.nodes(many_index, "lynx", EnableReranking=False, **_top(20, RerankMinScore=1.0))
    assert len(nodes) == 8


def test_each_recall_leg_alone_works(api: Api, filter_index: str) -> None:
    sparse_only = api.nodes(filter_index, "sleeping bag", DenseSimilarityTopK=0, **_top(20))
    dense_only = api.nodes(filter_index, "sleeping bag", SparseSimilarityTopK=0, **_top(20))

    # Keyword recall only finds chunks that contain a query term.
    assert doc_names(sparse_only) == ["guide-2023.txt"]
    assert dense_only[0]["Metadata"]["doc_name"] == "guide-2023.txt"
    _assert_ranked(sparse_only)
    _assert_ranked(dense_only)
    assert api.nodes(filter_index, "zzyzx quokka", DenseSimilarityTopK=0) == []


def test_similarity_top_k_limits_recall(api: Api, many_index: str) -> None:
    both = api.nodes(many_index, "osprey river", DenseSimilarityTopK=1, SparseSimilarityTopK=1,
                     EnableReranking=False, **_top(20))
    assert 1 <= len(both) <= 2
    assert both[0]["Metadata"]["doc_name"] == "osprey.txt"
    dense = api.nodes(many_index, "osprey river", DenseSimilarityTopK=3, SparseSimilarityTopK=0, **_top(20))
    assert len(dense) == 3


# --- SearchFilters ------------------------------------------------------------------------------------------------


def _filtered(api: Api, index_id: str, filters: list[dict[str, Any]]) -> set[str]:
    nodes = api.nodes(index_id, "Larkspur", SearchFilters=filters, **_top(20))
    _assert_ranked(nodes)
    return set(doc_names(nodes))


def test_without_filters_every_document_is_reachable(api: Api, filter_index: str) -> None:
    assert _filtered(api, filter_index, []) == ALL_FILTER_DOCS
    assert set(doc_names(api.nodes(filter_index, "Larkspur", **_top(20)))) == ALL_FILTER_DOCS


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param([{"category": "policy"}], {"policy-2024.txt", "policy-2022.txt"}, id="single-value"),
        pytest.param([{"category": {"eq": "guide"}}], {"guide-2023.txt"}, id="eq"),
        pytest.param([{"category": {"neq": "policy"}}], {"guide-2023.txt", "faq-2021.txt", "notes.txt"}, id="neq"),
        pytest.param([{"category": ["guide", "faq"]}], {"guide-2023.txt", "faq-2021.txt"}, id="multi-value"),
        pytest.param([{"year": {"gte": 2023}}], {"policy-2024.txt", "guide-2023.txt"}, id="range-gte"),
        pytest.param([{"year": {"gt": 2021, "lt": 2024}}], {"policy-2022.txt", "guide-2023.txt"}, id="range-open"),
        pytest.param([{"year": {"lte": 2021}}], {"faq-2021.txt"}, id="range-lte"),
        pytest.param([{"region": {"like": "AMERICA"}}], {"policy-2024.txt", "guide-2023.txt"}, id="like"),
        pytest.param([{"doc_name": {"like": "policy"}}], {"policy-2024.txt", "policy-2022.txt"}, id="system-key"),
        pytest.param([{"category": "policy", "year": 2024}], {"policy-2024.txt"}, id="and-in-subgroup"),
        pytest.param([{"_operator": "OR", "category": "guide", "year": 2021}], {"guide-2023.txt", "faq-2021.txt"},
                     id="or"),
        pytest.param([{"_operator": "or", "category": "faq", "region": "europe"}], {"faq-2021.txt", "policy-2022.txt"},
                     id="or-lower-case"),
        pytest.param([{"category": "policy"}, {"region": "europe"}], {"policy-2022.txt"}, id="subgroups-and"),
        pytest.param(
            [{"category": "policy", "_conditions": [{"year": 2022}, {"year": 2020}], "_conditions_operator": "OR"}],
            {"policy-2022.txt"}, id="nested-or-inside-and",
        ),
        pytest.param(
            [{"_operator": "OR", "category": "faq",
              "_conditions": [{"category": "policy", "region": "north-america"}], "_conditions_operator": "AND"}],
            {"faq-2021.txt", "policy-2024.txt"}, id="nested-and-inside-or",
        ),
        pytest.param([{"category": "recipes"}], set(), id="matches-nothing"),
        pytest.param([{"year": "2024"}], {"policy-2024.txt"}, id="numeric-string-equals-number"),
    ],
)
def test_search_filters_restrict_results(
    api: Api, filter_index: str, filters: list[dict[str, Any]], expected: set[str]
) -> None:
    assert _filtered(api, filter_index, filters) == expected


def test_search_filters_apply_to_each_recall_leg(api: Api, filter_index: str) -> None:
    filters = [{"category": "faq"}]
    # The query names the guide, but the filter only allows the FAQ: filtering happens inside recall.
    assert doc_names(api.nodes(filter_index, "sleeping bag", SearchFilters=filters, SparseSimilarityTopK=0)) == [
        "faq-2021.txt"
    ]
    assert api.nodes(filter_index, "sleeping bag", SearchFilters=filters, DenseSimilarityTopK=0) == []


# --- RerankMinScore -----------------------------------------------------------------------------------------------


def test_rerank_min_score_filters_nodes(api: Api, filter_index: str) -> None:
    unfiltered = api.nodes(filter_index, "returns policy refund", **_top(20))
    assert any(node["Score"] <= 0.5 for node in unfiltered), "the corpus must have weak matches for this test"

    kept = api.nodes(filter_index, "returns policy refund", **_top(20, RerankMinScore=0.5))

    assert kept and all(node["Score"] > 0.5 for node in kept)
    assert kept == [node for node in unfiltered if node["Score"] > 0.5]
    assert api.nodes(filter_index, "returns policy refund", **_top(20, RerankMinScore=1.0)) == []


def test_index_rerank_min_score_is_the_default_threshold(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "docs", FILTER_FILES)
    index_id = api.create_index("strict", RerankMinScore=1.0)
    api.add_documents(index_id, [str(directory)])

    assert api.nodes(index_id, "returns policy refund") == []
    assert api.nodes(index_id, "returns policy refund", Rerank=[{"RerankMinScore": 0.01}])


# --- rerank models and modes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", RERANK_MODELS)
def test_each_documented_rerank_model_is_accepted(api: Api, filter_index: str, model: str) -> None:
    nodes = api.nodes(filter_index, "how to choose a sleeping bag", Rerank=[{"ModelName": model}])
    assert nodes[0]["Metadata"]["doc_name"] == "guide-2023.txt"
    _assert_ranked(nodes)


def test_index_rerank_model_name_is_accepted(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "docs", FILTER_FILES)
    index_id = api.create_index("gte", RerankModelName="gte-rerank")
    api.add_documents(index_id, [str(directory)])
    assert api.list_indices().data["Indices"][0]["RerankModelName"] == "gte-rerank"
    assert api.nodes(index_id, "sleeping bag")[0]["Metadata"]["doc_name"] == "guide-2023.txt"


@pytest.mark.parametrize(
    "rerank",
    [
        {"RerankMode": "qa"},
        {"RerankMode": "similar"},
        {"RerankMode": "custom", "RerankInstruct": "Prefer passages about store credit."},
        {"RerankMode": "custom", "RerankInstruct": "Prefer recent policies.", "ModelName": "qwen3-rerank"},
    ],
    ids=["qa", "similar", "custom", "custom-semantic"],
)
def test_rerank_modes_are_accepted(api: Api, filter_index: str, rerank: dict[str, Any]) -> None:
    nodes = api.nodes(filter_index, "returns policy", Rerank=[{**rerank, "RerankTopN": 20}])
    assert {"policy-2024.txt", "policy-2022.txt"} <= set(doc_names(nodes)[:2])
    _assert_ranked(nodes)


def test_rewrite_config_is_accepted(api: Api, filter_index: str) -> None:
    rewrite = [{"ModelName": "conv-rewrite-qwen-1.8b"}]
    nodes = api.nodes(filter_index, "sleeping bag", EnableRewrite=True, Rewrite=rewrite)
    assert nodes[0]["Metadata"]["doc_name"] == "guide-2023.txt"


# --- Images -------------------------------------------------------------------------------------------------------


def test_images_are_accepted_and_ignored(api: Api, filter_index: str) -> None:
    plain = api.nodes(filter_index, "store credit", **_top(20))
    with_images = api.nodes(filter_index, "store credit", Images=["https://example.com/downloads/pic.jpg"],
                            **_top(20))
    assert _view(with_images) == _view(plain)


# --- EnableRewrite + QueryHistory ---------------------------------------------------------------------------------

# Every distractor asks "how much does ... weigh" in so many words; only the tent document names the Zephyr. Without
# the conversation the question cannot single out the tent (the distractors match it better, the tent ranks last);
# with it, the rewritten query carries "Zephyr 3 tent" (named in the user's own turns, so any sensible rewriter picks
# it up) and the tent wins by a wide margin (about 0.9 against 0.2 with the hashing embedder).
REWRITE_FILES = {
    "zephyr-tent.txt": "The Zephyr 3 tent sleeps two people. It weighs 2.1 kg.",
    "atlas-pack.txt": "How much does the Atlas backpack weigh? It weighs 1.4 kg empty; the hip belt, lid and frame "
                      "sheet are included and the rain cover is sold separately in three colours.",
    "nimbus-bag.txt": "How much does the Nimbus sleeping bag weigh? It weighs 0.9 kg in its compression sack, which "
                      "also keeps the down dry on wet mornings.",
    "ember-stove.txt": "How much does the Ember stove weigh? It weighs 0.3 kg without fuel; a canister adds a little "
                       "more, and the windscreen folds flat in the lid.",
}
HISTORY = [
    {"role": "user", "content": "Tell me about the Zephyr 3 tent."},
    {"role": "assistant", "content": "The Zephyr 3 is our freestanding three-person backpacking tent."},
    {"role": "user", "content": "Is the Zephyr 3 tent good for two people?"},
    {"role": "assistant", "content": "Yes, two people have plenty of room in it."},
]


@pytest.fixture
def rewrite_index(api: Api, tmp_path: Path) -> str:
    directory = write_files(tmp_path / "rewrite", REWRITE_FILES)
    index_id = api.create_index("rewrite")
    api.add_documents(index_id, [str(directory)])
    return index_id


def test_rewrite_uses_history_to_resolve_a_follow_up(api: Api, rewrite_index: str) -> None:
    question = "How much does it weigh?"

    without_history = api.nodes(rewrite_index, question)
    history_but_no_rewrite = api.nodes(rewrite_index, question, QueryHistory=HISTORY)
    rewritten = api.retrieve(rewrite_index, question, QueryHistory=HISTORY, EnableRewrite=True,
                             SaveRetrieverHistory=True)

    assert without_history[0]["Metadata"]["doc_name"] != "zephyr-tent.txt"
    # QueryHistory only takes effect with EnableRewrite (documented).
    assert _view(history_but_no_rewrite) == _view(without_history)
    assert rewritten.data["Nodes"][0]["Metadata"]["doc_name"] == "zephyr-tent.txt"
    rewritten_fused = api.nodes(rewrite_index, question, QueryHistory=HISTORY, EnableRewrite=True,
                                EnableReranking=False)
    assert rewritten_fused[0]["Metadata"]["doc_name"] == "zephyr-tent.txt"
    record = api.history(rewrite_index).data["Records"][0]
    assert record["Query"] == question
    assert "zephyr" in record["RewrittenQuery"].lower()


def test_rewrite_without_history_leaves_the_query_alone(api: Api, rewrite_index: str) -> None:
    plain = api.nodes(rewrite_index, "Zephyr tent weight")
    rewritten = api.nodes(rewrite_index, "Zephyr tent weight", EnableRewrite=True)
    assert _view(rewritten) == _view(plain)
    assert plain[0]["Metadata"]["doc_name"] == "zephyr-tent.txt"
