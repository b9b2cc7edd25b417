"""Explained scores on a real dataset: does every node's ``Explain`` recompute, do its ranks agree with the legs' own
lists, and what does asking for it cost?

    python -m bench.explain --dataset ../shared/datasets/scifact [--embedder e5] [--queries 300]

For each query, one Retrieve with ``"Explain": true`` and ``RerankTopN`` 20 (request handling included, in process):
each node's fused score is recomputed from the leg scores and fusion it reports, its score from the fused and rerank
scores; each leg's reported rank and raw score are checked against that leg's own list (a Retrieve with the other leg
off, no rerank, its top 100). Then the same requests without Explain, timed against the explained ones. The index is
built through Sift once and cached in .bench-cache (bench.quality's).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from bench.beir import load
from bench.quality import WORKSPACE, add_embedder_arguments, open_index
from bench.speed import percentiles
from chalicelib.api.operations import BY_NAME, invoke
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.retrieval import RetrievalQuery
from chalicelib.core.services import Services

LEGS = ("Dense", "Sparse", "Image")


def recomputed_query_score(query: dict[str, Any]) -> float:
    """A query's fused score from its legs and the fusion it reports (README, "Explained scores")."""
    fusion = query["Fusion"]
    legs = [query[name] for name in LEGS]
    if not any(legs):
        return 0.0
    if fusion["Method"] == "rrf":
        k = fusion["RrfK"]
        total = sum(1.0 / (k + leg["Rank"]) for leg in legs if leg)
        return min(1.0, total / (fusion["Legs"] / (k + 1)))
    weight = fusion["DenseWeight"]
    similarity = max((leg["Normalized"] for leg in (legs[0], legs[2]) if leg), default=0.0)
    sparse = legs[1]["Normalized"] if legs[1] else 0.0
    return min(1.0, max(0.0, weight * similarity + (1 - weight) * sparse))


def recomputed_score(explain: dict[str, Any]) -> float:
    """The node's score from its fused and rerank scores."""
    rerank = explain["Rerank"]
    if rerank is None:
        return float(explain["FusedScore"])
    if rerank["Score"] is not None:
        return float(rerank["Score"])
    return min(explain["FusedScore"], rerank["Floor"])


def explanation_errors(node: dict[str, Any], tolerance: float = 1e-9) -> list[str]:
    """What in ``node``'s Explain does not add up (empty: all of it does)."""
    explain = node["Explain"]
    errors = [
        f"query {query['Text']!r}: fused {query['FusedScore']} != {recomputed_query_score(query)}"
        for query in explain["Queries"]
        if not math.isclose(recomputed_query_score(query), query["FusedScore"], abs_tol=tolerance)
    ]
    mean = sum(query["FusedScore"] for query in explain["Queries"]) / len(explain["Queries"])
    if not math.isclose(mean, explain["FusedScore"], abs_tol=tolerance):
        errors.append(f"FusedScore {explain['FusedScore']} != the queries' mean {mean}")
    if not math.isclose(recomputed_score(explain), explain["Score"], abs_tol=tolerance):
        errors.append(f"Score {explain['Score']} != {recomputed_score(explain)}")
    if node["Score"] != round(explain["Score"], 6):
        errors.append(f"node Score {node['Score']} != Explain.Score {explain['Score']} rounded")
    errors.extend(f"match {m} is outside Text" for m in explain["Matches"] if not node["Text"][m["Start"]:m["End"]])
    return errors


def rank_errors(node: dict[str, Any], legs: dict[str, list[tuple[str, float]]]) -> list[str]:
    """Where the node's first query's reported ranks and raw scores disagree with ``legs`` (leg → [(nid, score)])."""
    query = node["Explain"]["Queries"][0]
    nid = node["Metadata"]["nid"]
    errors = []
    for name, listed in legs.items():
        position = {chunk_id: rank for rank, (chunk_id, _) in enumerate(listed, start=1)}
        reported = query[name]
        if reported is None:
            if nid in position:
                errors.append(f"{name}: reported absent, the leg has it at {position[nid]}")
        elif position.get(nid) != reported["Rank"]:
            errors.append(f"{name}: reported rank {reported['Rank']}, the leg's list has {position.get(nid)}")
        elif abs(listed[reported["Rank"] - 1][1] - reported["Score"]) > 1e-6:
            errors.append(f"{name}: reported score {reported['Score']}, the leg's is {listed[reported['Rank'] - 1][1]}")
    return errors


def leg_lists(service: KnowledgeBaseService, index_id: str, text: str) -> dict[str, list[tuple[str, float]]]:
    """Each text leg alone, its top 100 in its own order (one leg on: fusion keeps the leg's order)."""
    lists: dict[str, list[tuple[str, float]]] = {}
    for name, dense, sparse in (("Dense", 100, 0), ("Sparse", 0, 100)):
        query = RetrievalQuery(text, dense_top_k=dense, sparse_top_k=sparse, top_n=100, explain=True)
        chunks = service.retrieve(WORKSPACE, index_id, query, request_id="bench").chunks
        lists[name] = [
            (item.chunk.chunk_id, _raw(item.explanation, name)) for item in chunks if item.explanation is not None
        ]
    return lists


def _raw(explanation: Any, leg: str) -> float:
    placed = getattr(explanation.queries[0], leg.lower())
    return float(placed.score)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=300)
    add_embedder_arguments(parser)
    args = parser.parse_args(argv)
    dataset = load(args.dataset)
    service, index_id, _ = open_index(dataset, DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, embedder=args.embedder,
                                      threads=args.embedder_threads)
    components = cast(Services, SimpleNamespace(knowledge_bases=service))
    operation = BY_NAME["Retrieve"]

    def retrieve(text: str, explain: bool) -> tuple[list[dict[str, Any]], float]:
        body = json.dumps({"IndexId": index_id, "Query": text, "RerankTopN": 20, "Explain": explain}).encode()
        started = time.perf_counter()
        response = invoke(lambda: components, operation, path_params={"WorkspaceId": WORKSPACE}, body=body)
        elapsed = (time.perf_counter() - started) * 1000.0
        if response.status != 200:
            raise RuntimeError(f"Retrieve failed: {response.body}")
        return response.body["Data"]["Nodes"], elapsed

    queries = dataset.queries[: args.queries]
    nodes = failures = 0
    explained_ms: list[float] = []
    plain_ms: list[float] = []
    examples: list[str] = []
    for query in queries:
        retrieve(query.text, False)  # warm this query's embedding in the cache, so both timings see the same work
        found, elapsed = retrieve(query.text, True)
        explained_ms.append(elapsed)
        plain_ms.append(retrieve(query.text, False)[1])
        legs = leg_lists(service, index_id, query.text)
        for node in found:
            errors = explanation_errors(node) + rank_errors(node, legs)
            nodes += 1
            failures += bool(errors)
            examples.extend(errors[:1] if len(examples) < 5 else [])
    report = {
        "dataset": dataset.name, "embedder": args.embedder, "queries": len(queries), "nodes": nodes,
        "nodes_that_do_not_add_up": failures, "examples": examples,
        "retrieve": percentiles(plain_ms), "retrieve_explain": percentiles(explained_ms),
    }
    print(json.dumps(report, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
