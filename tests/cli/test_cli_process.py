"""The ``sift`` command as a real process: the console script ``make install`` puts in the venv (``python -m
sift_cli`` where it is not installed), and ``sift serve`` with ``--endpoint`` calls over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli.conftest import DEMO_DOCS, DEMO_FILES, REPO_ROOT

SCRIPT = Path(sys.executable).parent / "sift"
COMMAND = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "sift_cli"]


def environment(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIFT_")}
    env.update(SIFT_DATA_DIR=str(data_dir), SIFT_EMBEDDER="hashing", SIFT_EMBEDDING_CACHE="off",
               SIFT_CHECK_RESPONSES="true", PYTHONPATH=str(REPO_ROOT))
    return env


def sift(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_sift_command_indexes_queries_and_follows_the_job(tmp_path: Path, mixed_docs: Path) -> None:
    env = environment(tmp_path / "data")

    indexed = sift("index", str(DEMO_DOCS), str(mixed_docs), "--workspace", "ws_proc", "--index", "kb",
                   env=env, cwd=tmp_path)
    assert indexed.returncode == 1, indexed.stderr  # broken.pdf failed
    assert "created index kb_" in indexed.stderr
    assert f"{DEMO_FILES + 3}/{DEMO_FILES + 3} files" in indexed.stderr and "chunks/s" in indexed.stderr
    assert f"{DEMO_FILES + 3} files: {DEMO_FILES + 1} indexed, 1 empty, 1 failed" in indexed.stdout
    assert "mixed/broken.pdf: PDF could not be parsed" in indexed.stdout  # relative to the working directory
    assert "Traceback" not in indexed.stderr
    job_id = indexed.stdout.split("job ", 1)[1].split(":", 1)[0]

    queried = sift("query", "how long is the tent covered?", "--workspace", "ws_proc", "--index", "kb", "--json",
                   env=env, cwd=tmp_path)
    assert queried.returncode == 0, queried.stderr
    assert json.loads(queried.stdout)["Nodes"]

    status = sift("status", job_id, "--workspace", "ws_proc", "--index", "kb", env=env, cwd=tmp_path)
    assert status.returncode == 1 and ": PARTIAL" in status.stdout

    unknown = sift("query", "tents", "--workspace", "ws_proc", "--index", "missing", env=env, cwd=tmp_path)
    assert unknown.returncode == 3 and "Index.NotFound" in unknown.stderr and "Traceback" not in unknown.stderr

    usage = sift("query", env=env, cwd=tmp_path)
    assert usage.returncode == 2 and "usage: sift query" in usage.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sift_serve_answers_the_cli_over_http(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*COMMAND, "serve", "--port", str(port), "--json"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint + "/ws_http/index/list_indices", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sift serve did not start: {server.stderr.read() if server.stderr else ''}")
                time.sleep(0.3)

        indexed = sift("index", str(DEMO_DOCS), "--workspace", "ws_http", "--index", "kb", "--endpoint", endpoint,
                       env=env, cwd=tmp_path)
        assert indexed.returncode == 0, indexed.stderr
        assert "no live progress over HTTP" in indexed.stderr
        assert f"COMPLETED — {DEMO_FILES} files: {DEMO_FILES} indexed" in indexed.stdout

        queried = sift("query", "tent warranty", "--workspace", "ws_http", "--index", "kb", "--top-n", "2",
                       "--endpoint", endpoint, env=env, cwd=tmp_path)
        assert queried.returncode == 0, queried.stderr
        assert len(queried.stdout.splitlines()) == 3

        # The same data directory, in this process: what the server indexed is there.
        local = sift("query", "tent warranty", "--workspace", "ws_http", "--index", "kb", "--json", env=env,
                     cwd=tmp_path)
        assert local.returncode == 0 and json.loads(local.stdout)["Nodes"]

        unknown = sift("status", "job_0", "--workspace", "ws_http", "--index", "nope", "--endpoint", endpoint,
                       env=env, cwd=tmp_path)
        assert unknown.returncode == 3 and "Index.NotFound" in unknown.stderr and "(HTTP 404" in unknown.stderr
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert json.loads(out.splitlines()[0]) == {"Endpoint": endpoint, "DataDir": str(tmp_path / "data")}
    assert f"the local stage on {endpoint}" in err

    down = sift("query", "tents", "--workspace", "ws_http", "--index", "kb", "--endpoint", endpoint, env=env,
                cwd=tmp_path)
    assert down.returncode == 3 and "Unreachable: cannot reach" in down.stderr
