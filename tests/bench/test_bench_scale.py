"""bench.scale end to end at a tiny size (500 chunks, hashing vectors, a six-document corpus): every step runs in its
own process and the report carries the keys the README table is made from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.scale import run, synth

CORPUS = [
    ("d1", "Palace Museum", "A ticket to the Palace Museum costs sixty yuan. It is cheaper in winter. Students pay half."),
    ("d2", "Palace Museum", "The museum opens at 8:30. It closes at 17:00! It is closed on Mondays."),
    ("d3", "West Lake", "Visiting West Lake is free of charge. Boats cost extra. The causeways are open all night."),
    ("d4", "West Lake", "West Lake lies in Hangzhou. Hangzhou is the capital of Zhejiang province."),
    ("d5", "Leifeng Pagoda", "A ticket for Leifeng Pagoda costs forty yuan. The pagoda was rebuilt in 2002."),
    ("d6", "Leifeng Pagoda", "Leifeng Pagoda stands on the south shore of West Lake. It has five storeys?"),
]
QUERIES = [("q1", "How much is a Palace Museum ticket?", "d1"), ("q2", "Where is West Lake?", "d4"),
           ("q3", "Leifeng Pagoda ticket price", "d5")]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-scale"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": text}) + "\n" for q, text, _ in QUERIES))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in QUERIES))
    return root


def test_the_synthetic_corpus_is_deterministic_chunk_sized_and_near_its_base(dataset: Path, tmp_path: Path) -> None:
    material = synth.build_material(dataset, "hashing", tmp_path / "unused.db")
    assert material.base.shape == (len(CORPUS), synth.DIMENSION) and material.query_vectors.shape == (3, synth.DIMENSION)
    first = list(synth.documents(material, 41))
    again = list(synth.documents(material, 41))
    assert sum(len(item.chunks) for item in first) == 41
    assert [c.search_text for item in first for c in item.chunks] == [c.search_text for item in again for c in item.chunks]
    assert [c.text for item in synth.documents(material, 2001) for c in item.chunks][:41] == [
        c.text for item in first for c in item.chunks]  # the same prefix whatever the size
    for item in first:
        for chunk in item.chunks:
            assert len(chunk.text) <= synth.MAX_CHARS and chunk.search_text.startswith(item.record.title)
            assert chunk.metadata["doc_id"] == item.record.doc_id and chunk.metadata["shard"].startswith("g")
            assert abs(float(np.linalg.norm(chunk.vector)) - 1.0) < 1e-4
    cosines = [float(np.max(material.base @ np.asarray(c.vector))) for item in first for c in item.chunks]
    assert min(cosines) > 0.8  # near a real (here: hashing) source vector


def test_every_step_runs_and_reports_its_keys(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--sizes", "500", "--peers-at", "", "--dataset", str(dataset), "--vectors", "hashing",
                     "--work-dir", str(tmp_path), "--profile", "5", "--json"]) == 0
    output = capsys.readouterr().out
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    assert "| chunks | build chunks/s" in output and "load average" in output
    assert report["dimension"] == synth.DIMENSION and report["queries"] == len(QUERIES)
    (size,) = report["sizes"]
    build, serve, rebuild = size["build"], size["serve"], size["rebuild"]
    assert build["chunks"] == 500 and build["documents"] == 250 and not build["partial"]
    assert {"write_s", "first_search_sync_s", "chunks_per_s", "sqlite_mb", "tantivy_mb", "peak_rss_mb"} <= set(build)
    assert build["sqlite_mb"] > 0 and build["tantivy_mb"] > 0
    assert {"open_s", "first_query_s", "cold_open_s", "rss_after_open_mb", "peak_rss_mb"} <= set(serve)
    assert set(serve["retrieve"]) == {"hybrid_no_rerank", "default_rerank", "dense_leg", "sparse_leg", "hybrid_filtered"}
    assert all(row["p50_ms"] > 0 and row["p95_ms"] >= row["p50_ms"] for row in serve["retrieve"].values())
    for part in ("backend_recall_both_legs", "dense_matmul_top100", "dense_exact_top100", "tantivy_top100",
                 "chunk_fetch_recalled", "filter_mask", "tantivy_top100_filtered"):
        assert "p50_ms" in serve["parts"][part], serve["parts"][part]
    assert serve["parts"]["dense_index"] == "exact" and serve["parts"]["dense_recall_at_100_vs_exact"] == 1.0
    assert serve["code"]["head"] and any("tottime" in line for line in serve["profile"])
    assert rebuild["cold_open_s"] > 0 and rebuild["tantivy_mb"] > 0  # tantivy rebuilt from SQLite
    (floor,) = size["peers"]
    assert floor["engine"] == "floor" and floor["status"] in {"ok", "missing"}
    if floor["status"] == "ok":
        assert [row["queries"] for row in floor["rows"]] == [len(QUERIES)] * 3
    assert not list(tmp_path.glob("sift-scale-*"))  # the data directory is gone
