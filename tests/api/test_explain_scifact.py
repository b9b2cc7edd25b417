"""Explained scores hold on a real corpus: BEIR SciFact (5,183 abstracts, its 300 test queries), indexed through Sift.

For every query, every node's Explain is recomputed from its own leg scores — the fused score from the legs and the
fusion it reports, the node's score from the fused and rerank scores — and its ranks and raw scores are checked
against the legs' own result lists, read straight from the backend. The hashing embedder keeps this fast; the
arithmetic being checked does not depend on which model made the vectors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.beir import Dataset, load
from bench.explain import explanation_errors, rank_errors
from chalicelib.api.operations import BY_NAME, invoke
from chalicelib.composition import AwsClients, build_backend, build_services
from chalicelib.composition.models import build_embedder
from chalicelib.core.indexing import TextDocument
from chalicelib.core.ports.search import RecallQuery
from chalicelib.core.services import Services
from chalicelib.settings import Settings

SCIFACT = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "scifact"
WORKSPACE, INDEX = "ws", "scifact"

pytestmark = pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").exists(), reason=f"no SciFact at {SCIFACT}")


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return load(SCIFACT)


@pytest.fixture(scope="module")
def stage(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, Settings]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("scifact"), embedder="hashing")
    services = build_services(settings)
    services.knowledge_bases.create(WORKSPACE, name=INDEX, index_id=INDEX)
    services.knowledge_bases.index_texts(WORKSPACE, INDEX, (
        TextDocument(doc_id=doc_id, name=doc_id, title=title, text=text, metadata={})
        for doc_id, (title, text, _) in dataset.corpus.items()
    ))
    yield services, settings


def retrieve(services: Services, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = invoke(lambda: services, BY_NAME["Retrieve"], path_params={"WorkspaceId": WORKSPACE},
                      body=json.dumps({"IndexId": INDEX, **body}).encode(), content_type="application/json")
    assert response.status == 200, response.body
    return response.body["Data"]["Nodes"]  # type: ignore[no-any-return]


def check_node(node: dict[str, Any]) -> None:
    """The node's Explain adds up (bench.explain.explanation_errors)."""
    assert not explanation_errors(node), (explanation_errors(node), node)


def test_every_explained_score_recomputes_and_every_rank_is_the_legs_own(
    stage: tuple[Services, Settings], dataset: Dataset
) -> None:
    services, settings = stage
    clients = AwsClients(settings)
    backend, embedder = build_backend(settings, clients), build_embedder(settings, clients)
    collection = services.knowledge_bases.get(WORKSPACE, INDEX).collection
    checked = reranked = weights = 0
    for query in dataset.queries:
        nodes = retrieve(services, {"Query": query.text, "Explain": True, "RerankTopN": 20})
        recalled = backend.recall(collection, RecallQuery(query.text, embedder.embed_query(query.text), 100, 100))
        legs = {
            "Dense": [(hit.chunk.chunk_id, hit.score) for hit in recalled.dense],
            "Sparse": [(hit.chunk.chunk_id, hit.score) for hit in recalled.sparse],
        }
        assert nodes, query.text
        for node in nodes:
            check_node(node)
            assert not rank_errors(node, legs), rank_errors(node, legs)
            assert all(0.0 <= (leg or {"Normalized": 0})["Normalized"] <= 1.0
                       for leg in (node["Explain"]["Queries"][0][name] for name in ("Dense", "Sparse")))
            fusion = node["Explain"]["Queries"][0]["Fusion"]
            assert fusion["Method"] == "confidence" and fusion["PriorDenseWeight"] == 0.5 and fusion["Legs"] == 2
            weights += fusion["DenseWeight"] != 0.5  # the per-query weight is reported, not the prior
            reranked += node["Explain"]["Rerank"]["Rank"] is not None
            checked += 1
    assert len(dataset.queries) == 300
    assert checked >= 300 * 20 * 0.95  # nearly every query returns its 20 nodes
    assert reranked == checked  # RerankTopN 20 is within the local reranker's depth: every node was reranked
    assert weights > checked / 2


@pytest.mark.parametrize("fusion", [{"Method": "minmax", "DenseWeight": 0.3}, {"Method": "rrf", "RrfK": 10}])
def test_each_fusion_method_explains_itself(
    stage: tuple[Services, Settings], dataset: Dataset, fusion: dict[str, Any]
) -> None:
    services, _ = stage
    for query in dataset.queries[:60]:
        nodes = retrieve(services, {"Query": query.text, "Explain": True, "EnableReranking": False,
                                    "RerankTopN": 20, "Fusion": fusion})
        for node in nodes:
            check_node(node)
            used = node["Explain"]["Queries"][0]["Fusion"]
            assert used["Method"] == fusion["Method"]
            assert used["RrfK"] == fusion.get("RrfK")
            if fusion["Method"] == "minmax":
                assert used["DenseWeight"] == used["PriorDenseWeight"] == 0.3
        assert [node["Score"] for node in nodes] == sorted((node["Score"] for node in nodes), reverse=True)
