"""The README's copy-paste Retrieve request must keep working against the demo documents it describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.api.conftest import REPO_ROOT, Api

DEMO_DOCS = REPO_ROOT / "examples" / "docs"


def readme_request() -> tuple[str, dict[str, object]]:
    """The path and JSON body of the first curl command in README.md."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"curl -s http://127\.0\.0\.1:8000(\S+) .*?-d '(\{.*?\})'", readme, re.DOTALL)
    assert match, "README.md has no curl Retrieve example"
    return match.group(1), json.loads(match.group(2))


def test_readme_curl_example_returns_nodes_in_the_documented_shape(api: Api, tmp_path: Path) -> None:
    path, body = readme_request()
    assert path == "/ws_demo/index/retrieve"
    index_id = api.create_index("demo", ws="ws_demo")
    api.add_documents(index_id, [str(DEMO_DOCS)], ws="ws_demo")
    body["IndexId"] = index_id  # the demo's fixed id kb_demo is assigned by `make run`; here the index is fresh

    reply = api.post(path, body)

    assert reply.status == 200, reply.body
    assert set(reply.body) == {"Code", "Data", "Message", "RequestId", "Status", "Success"}
    nodes = reply.body["Data"]["Nodes"]
    assert 0 < len(nodes) <= 3  # RerankTopN 3
    for node in nodes:
        assert set(node) == {"Text", "Score", "Metadata"}
        assert 0.0 <= node["Score"] <= 1.0
        assert node["Metadata"]["category"] in {"policy", "product"}
        assert node["Metadata"]["year"] >= 2025
