"""``sift index``, ``query`` and ``status`` in this process (``sift_cli.main.main``), on the local stage of
``sift_env``: summaries, progress on stderr, exit codes, the failing file's reason, the service's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sift_cli.main import EXIT_FAILURES, EXIT_OK, EXIT_SERVICE, EXIT_USAGE, main
from tests.cli.conftest import DEMO_DOCS, DEMO_FILES

WS = "ws_cli"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def index_demo(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run(capsys, "index", str(DEMO_DOCS), "--workspace", WS, "--index", "docs", *extra)


def test_index_creates_the_index_shows_progress_and_summarises(sift_env: Path, capsys) -> None:
    code, out, err = index_demo(capsys)

    assert code == EXIT_OK
    assert "created index kb_" in err and "named 'docs'" in err
    progress = [line for line in err.splitlines() if line.startswith("indexing ")]
    assert progress[0].startswith("indexing [") and f"0/{DEMO_FILES} files" in progress[0]
    assert "chunks/s" in progress[0] and "ETA" in progress[0]
    assert f"{DEMO_FILES}/{DEMO_FILES} files" in progress[-1] and "done in" in progress[-1]
    assert "(created)" in out
    assert f"COMPLETED — {DEMO_FILES} files: {DEMO_FILES} indexed, 0 empty, 0 failed" in out
    assert "Traceback" not in err

    # Again: every file is unchanged, nothing is written, and the index is found by its name.
    code, out, err = index_demo(capsys, "--json")
    summary = json.loads(out)
    assert code == EXIT_OK and "created index" not in err
    assert summary["Created"] is False and summary["IndexName"] == "docs"
    assert summary["Counts"] == {"Total": DEMO_FILES, "Indexed": DEMO_FILES, "Empty": 0, "Failed": 0,
                                 "Unchanged": DEMO_FILES, "Chunks": 0}


def test_a_failing_file_is_listed_with_its_reason_and_the_exit_code_is_1(sift_env: Path, mixed_docs: Path,
                                                                       capsys) -> None:
    code, out, err = run(capsys, "index", str(mixed_docs), "--workspace", WS, "--index", "mixed")

    assert code == EXIT_FAILURES
    assert "PARTIAL — 3 files: 1 indexed, 1 empty, 1 failed" in out
    failed = out.split("failed:\n", 1)[1]
    assert "broken.pdf: PDF could not be parsed" in failed
    assert "blank.txt: The file holds no text to index" in out
    assert "3/3 files" in err and "Traceback" not in err
    assert "invalid pdf header" not in err  # the parser's own warnings stay out of the progress

    code, out, _ = run(capsys, "index", str(mixed_docs), "--workspace", WS, "--index", "mixed", "--json",
                       "--no-progress")
    summary = json.loads(out)
    assert code == EXIT_FAILURES and summary["Status"] == "PARTIAL"
    assert [entry["DocName"] for entry in summary["Failed"]] == ["broken.pdf"]
    assert summary["Failed"][0]["Message"].startswith("PDF could not be parsed")
    assert summary["Failed"][0]["Path"].endswith("mixed/broken.pdf")


def test_query_prints_a_table_and_json(sift_env: Path, capsys) -> None:
    index_demo(capsys)

    code, out, err = run(capsys, "query", "how long is the tent warranty?", "--workspace", WS, "--index", "docs")
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0].split() == ["#", "score", "document", "text"]
    assert len(lines) == 6  # the header and the default five nodes
    assert lines[1].split()[0] == "1" and any(".html" in line or ".md" in line for line in lines[1:])

    code, out, _ = run(capsys, "query", "杭州门店几点关门？", "--workspace", WS, "--index", "docs", "--top-n", "2",
                       "--json")
    nodes = json.loads(out)["Nodes"]
    assert code == EXIT_OK and len(nodes) == 2
    assert nodes[0]["Metadata"]["doc_name"] == "stores-zh.txt"
    assert set(nodes[0]) == {"Text", "Score", "Metadata"}  # the documented node, no Explain unless asked


def test_query_explain_shows_each_legs_score_and_rank(sift_env: Path, capsys) -> None:
    index_demo(capsys)

    code, out, err = run(capsys, "query", "tent warranty", "--workspace", WS, "--index", "docs", "--top-n", "3",
                         "--explain", "--json")
    assert code == EXIT_OK, err
    explain = json.loads(out)["Nodes"][0]["Explain"]
    assert {"Score", "FusedScore", "Queries", "Rerank", "Matches"} <= set(explain)

    code, out, _ = run(capsys, "query", "tent warranty", "--workspace", WS, "--index", "docs", "--top-n", "3",
                       "--explain")
    lines = out.splitlines()
    assert lines[0].split() == ["#", "score", "dense", "sparse", "fused", "rerank", "document", "text"]
    first = lines[1].split()
    assert first[0] == "1" and first[3].startswith("#") and first[5].startswith("#")  # dense, sparse ranks
    rerank = explain["Rerank"]
    assert first[8] == f"#{rerank['Rank']}" and first[1] == f"{explain['Score']:.3f}"


def test_status_reports_the_jobs_counts(sift_env: Path, mixed_docs: Path, capsys) -> None:
    _, out, _ = run(capsys, "index", str(mixed_docs), "--workspace", WS, "--index", "mixed", "--json")
    job_id = json.loads(out)["JobId"]

    code, out, _ = run(capsys, "status", job_id, "--workspace", WS, "--index", "mixed")
    assert code == EXIT_FAILURES  # the job is PARTIAL
    assert f"job {job_id} of index kb_" in out and ": PARTIAL" in out
    assert "3 documents: 1 indexed, 1 empty, 1 failed" in out
    assert "broken.pdf: PDF could not be parsed" in out

    code, out, _ = run(capsys, "status", job_id, "--workspace", WS, "--index", "mixed", "--json")
    job = json.loads(out)
    assert job["JobId"] == job_id and job["Counts"] == {"Total": 3, "Indexed": 1, "Empty": 1, "Failed": 1}

    _, out, _ = index_demo(capsys, "--json")
    code, out, _ = run(capsys, "status", json.loads(out)["JobId"], "--workspace", WS, "--index", "docs")
    assert code == EXIT_OK and ": COMPLETED" in out


def test_an_unknown_index_is_the_services_error_with_exit_code_3(sift_env: Path, capsys) -> None:
    code, out, err = run(capsys, "query", "tents", "--workspace", WS, "--index", "nope")
    assert code == EXIT_SERVICE and out == ""
    assert err.startswith("sift query: error: Index.NotFound: ") and "nope" in err and "(HTTP 404, RequestId" in err
    assert "Traceback" not in err

    code, out, err = run(capsys, "status", "job_0", "--workspace", WS, "--index", "nope", "--json")
    envelope = json.loads(out)
    assert code == EXIT_SERVICE and envelope["Success"] is False and envelope["Code"] == "Index.NotFound"

    code, _, err = run(capsys, "query", "tents", "--workspace", "not a workspace!", "--index", "docs")
    assert code == EXIT_SERVICE and "InvalidParameter" in err and "WorkspaceId" in err


def test_usage_errors_exit_2(sift_env: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "index", str(tmp_path / "missing"), "--workspace", WS, "--index", "docs")
    assert code == EXIT_USAGE and "no such file or directory" in err

    code, _, err = run(capsys, "index", "--workspace", WS, "--index", "docs")
    assert code == EXIT_USAGE and "no index 'docs'" in err

    code, _, err = run(capsys, "index", "http://example.com/a.pdf", "--workspace", WS, "--index", "docs")
    assert code == EXIT_USAGE

    with pytest.raises(SystemExit) as exited:
        main(["query", "tents", "--index", "docs"])  # no --workspace
    assert exited.value.code == EXIT_USAGE


def test_index_without_paths_reindexes_the_indexs_own_source(sift_env: Path, capsys) -> None:
    index_demo(capsys)  # created with SourceURI examples/docs

    code, out, err = run(capsys, "index", "--workspace", WS, "--index", "docs")
    assert code == EXIT_OK, err
    assert f"{DEMO_FILES} files: {DEMO_FILES} indexed ({DEMO_FILES} unchanged)" in out


def test_s3_sources_are_listed_and_indexed(sift_env: Path, capsys) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="cli-docs")
        s3.put_object(Bucket="cli-docs", Key="kb/tents.txt", Body=b"The Trailhead 2P tent sleeps two.")
        s3.put_object(Bucket="cli-docs", Key="kb/tents.txt.metadata.json",
                      Body=b'{"metadataAttributes": {"category": "product"}}')
        s3.put_object(Bucket="cli-docs", Key="kb/stoves.md", Body=b"# Stoves\nA canister stove boils water fast.")

        code, out, err = run(capsys, "index", "s3://cli-docs/kb/", "--workspace", WS, "--index", "s3kb")
        assert code == EXIT_OK, err
        assert "2/2 files" in err and "2 files: 2 indexed" in out

        code, out, _ = run(capsys, "query", "tent", "--workspace", WS, "--index", "s3kb", "--json")
    node = json.loads(out)["Nodes"][0]
    assert code == EXIT_OK and node["Metadata"]["doc_name"] == "tents.txt"
    assert node["Metadata"]["category"] == "product"
