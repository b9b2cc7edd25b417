"""The benchmarks run end to end on a tiny BEIR-layout dataset, so a refactor cannot break them unnoticed.

The figures they print on real data are in the README; here only that they run and report what they promise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.quality
from bench import cost, quality

CORPUS = [
    ("d1", "Palace Museum", "门票：60元"),
    ("d2", "Palace Museum", "开放时间：8:30-17:00"),
    ("d3", "West Lake", "门票：免费"),
    ("d4", "West Lake", "位置：杭州"),
    ("d5", "Leifeng Pagoda", "门票：40元"),
    ("d6", "Leifeng Pagoda", "位置：西湖南岸"),
]
QUERIES = [
    ("q1", "门票多少钱？", ["你知道故宫吗？ Palace Museum", "知道，在北京。"], "d1"),
    ("q2", "在哪里？", ["West Lake 怎么样？", "很美。"], "d4"),
    ("q3", "Leifeng Pagoda 门票", [], "d5"),
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-convret"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}, ensure_ascii=False) + "\n" for i, t, x in CORPUS),
        encoding="utf-8",
    )
    (root / "queries.jsonl").write_text(
        "".join(
            json.dumps({"_id": q, "text": text, "metadata": {"history": history}}, ensure_ascii=False) + "\n"
            for q, text, history, _ in QUERIES
        ),
        encoding="utf-8",
    )
    (root / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, _, d in QUERIES), encoding="utf-8"
    )
    return root


def last_json(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_quality_reports_every_method_and_the_conversational_ones(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.quality, "CACHE", tmp_path / "cache")
    assert quality.main(["--dataset", str(dataset), "--methods", "bm25,hybrid", "--json"]) == 0
    plain = last_json(capsys.readouterr().out)
    assert plain["split"] == "dev" and set(plain["results"]) == {"bm25", "hybrid"}
    assert quality.main(["--dataset", str(dataset), "--conversational", "--json"]) == 0
    results = last_json(capsys.readouterr().out)["results"]
    assert set(results) == set(quality.CONVERSATIONAL_METHODS)
    for scores in results.values():
        assert 0 <= scores["ndcg@10"] <= 1 and 0 <= scores["recall@20"] <= scores["recall@100"] <= 1


def test_cost_reports_one_msearch_per_retrieve(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--dataset", str(dataset), "--documents", "6", "--queries", "3", "--json"]) == 0
    report = json.dumps(last_json(capsys.readouterr().out))
    assert "_msearch" in report


def test_answer_reports_the_share_of_answers_citing_a_relevant_file(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import answer

    monkeypatch.setattr(bench.quality, "CACHE", tmp_path / "cache")
    assert answer.main(["--dataset", str(dataset), "--json"]) == 0
    report = json.dumps(last_json(capsys.readouterr().out))
    assert "not_found" in report or "not found" in report


def test_quality_drops_a_retrieved_document_whose_id_is_the_querys_as_beir_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A set whose queries are corpus documents (ArguAna, Quora): the query finds itself first unless it is dropped.
    root = tmp_path / "self-retrieval"
    (root / "qrels").mkdir(parents=True)
    corpus = [("qs", "", "Leifeng Pagoda ticket price"), ("a1", "", "The Leifeng Pagoda ticket price is forty yuan"),
              ("a2", "", "West Lake is free to visit")]
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in corpus))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "qs", "text": "Leifeng Pagoda ticket price"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nqs\ta1\t1\n")
    monkeypatch.setattr(bench.quality, "CACHE", tmp_path / "cache")
    common = ["--dataset", str(root), "--methods", "bm25", "--embedder", "hashing", "--json"]

    assert quality.main(common) == 0
    dropped = last_json(capsys.readouterr().out)["results"]["bm25"]["ndcg@10"]
    assert quality.main([*common, "--keep-identical-ids"]) == 0
    kept = last_json(capsys.readouterr().out)["results"]["bm25"]["ndcg@10"]

    assert dropped == 1.0  # the relevant document ranks first once the query's own copy is gone
    assert kept < 1.0


def test_explain_checks_every_node_and_times_both_requests(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import explain

    monkeypatch.setattr(bench.quality, "CACHE", tmp_path / "cache")
    assert explain.main(["--dataset", str(dataset), "--embedder", "hashing"]) == 0
    report = last_json(capsys.readouterr().out)
    assert report["queries"] == len(QUERIES) and report["nodes"] >= len(QUERIES)
    assert report["nodes_that_do_not_add_up"] == 0 and report["examples"] == []
    assert set(report["retrieve"]) == set(report["retrieve_explain"]) == {"p50_ms", "p95_ms"}
