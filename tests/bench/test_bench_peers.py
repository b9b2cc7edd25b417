"""bench.peers end to end on a tiny BEIR-layout dataset (the hashing embedder): Sift and the floor always, each peer
whose package is installed (``make install-peers``), and a missing peer reported by name rather than failing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import bench.quality
from bench.peers import run

CORPUS = [
    ("d1", "Palace Museum", "A ticket to the Palace Museum costs sixty yuan in the high season."),
    ("d2", "Palace Museum", "The museum opens from 8:30 to 17:00 and closes on Mondays."),
    ("d3", "West Lake", "Visiting West Lake is free of charge all year round."),
    ("d4", "West Lake", "West Lake lies in Hangzhou, the capital of Zhejiang province."),
    ("d5", "Leifeng Pagoda", "A ticket for Leifeng Pagoda costs forty yuan."),
    ("d6", "Leifeng Pagoda", "Leifeng Pagoda stands on the south shore of West Lake."),
]
QUERIES = [("q1", "How much is a Palace Museum ticket?", "d1"), ("q2", "Where is West Lake?", "d4"),
           ("q3", "Leifeng Pagoda ticket price", "d5")]
PEER_MODULES = {"lancedb": "lancedb", "qdrant": "qdrant_client", "haystack": "haystack"}


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(bench.quality, "CACHE", tmp_path / "cache")
    root = tmp_path / "tiny-peers"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": text}) + "\n" for q, text, _ in QUERIES))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in QUERIES))
    return root


def _installed(peer: str) -> bool:
    return importlib.util.find_spec(PEER_MODULES[peer]) is not None


def _report(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_every_engine_runs_the_same_hybrid_work_or_says_why_not(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(["--dataset", str(dataset), "--embedder", "hashing", "--in-process", "--json"]) == 0
    output = capsys.readouterr().out
    report = _report(output)
    engines = {item["engine"]: item for item in report["engines"]}

    assert list(engines) == list(run.ENGINES)
    assert report["chunks"] == len(CORPUS) and report["queries"] == len(QUERIES)
    assert "| engine | BM25 | fusion |" in output and "load average" in output
    for name, item in engines.items():
        if name in PEER_MODULES and not _installed(name):
            assert item["status"] == "not installed" and "make install-peers" in item["reason"]
            assert f"| {name} | not installed" in output
            continue
        assert item["status"] == "ok", item
        assert item["build_chunks_per_s"] > 0 and item["rss_peak_mb"] > 0
        for row in item["rows"]:
            assert row["queries"] == len(QUERIES) and 0 < row["p50_ms"] <= row["p95_ms"]
            assert 0.0 <= row["ndcg@10"] <= 1.0
    # Every fused hybrid finds the judged documents of these easy queries.
    assert engines["sift"]["rows"][0]["ndcg@10"] > 0.5
    assert engines["floor"]["rows"][0]["ndcg@10"] > 0.5
    assert [row["name"].split()[1] for row in engines["sift"]["rows"]] == ["Retrieve", "backend"]


def test_a_worker_measures_one_engine_in_its_own_process(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--dataset", str(dataset), "--embedder", "hashing", "--engines", "floor", "--json"]) == 0
    (floor,) = _report(capsys.readouterr().out)["engines"]
    assert floor["status"] == "ok" and floor["rss_peak_mb"] >= floor["rss_inputs_mb"] > 0


def test_a_peer_that_does_not_import_is_named_with_the_reason(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "lancedb", None)  # as if it were not installed: importing it fails
    assert run.main(["--dataset", str(dataset), "--embedder", "hashing", "--engines", "lancedb", "--in-process",
                     "--json"]) == 0
    output = capsys.readouterr().out
    (lancedb,) = _report(output)["engines"]
    assert lancedb["status"] == "not installed" and "'lancedb'" in lancedb["reason"]
    assert "| lancedb | not installed: no module 'lancedb' (make install-peers) |" in output
