"""A standing fuzz suite: generated requests for every operation of the registry (a new operation joins by itself),
sent over HTTP through ``chalice.test.Client`` and as direct Lambda events, seeded so a failure replays.

Every answer must be JSON in the family's envelope with a status below 500, and a known data set — a workspace and a
project the generator never names — must be unchanged afterwards. The generator knows each operation's parameter
names (from its request model) and the fuzz tenant's own identifiers, so most requests get past the first checks and
reach the services; the values are drawn from what hostile or careless clients send: wrong types, huge and negative
numbers, non-finite floats, deep nesting, long and odd text, JSON in strings, unknown parameters.

``SIFT_FUZZ_REQUESTS`` sets the number of requests (default 5,000, about half a minute; the README gives the larger
run) and ``SIFT_FUZZ_SEED`` the seed.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.api.envelopes import Family
from chalicelib.api.operations import OPERATIONS, Operation
from tests.api.conftest import Api

REQUESTS = int(os.environ.get("SIFT_FUZZ_REQUESTS", "5000"))
SEED = int(os.environ.get("SIFT_FUZZ_SEED", "20261204"))
KNOWN_WS, KNOWN_PROJECT = "ws_known", "known_project"
FUZZ_WS, FUZZ_PROJECT, FUZZ_DATASET = "ws_fuzz", "fuzz_project", "fuzz_dataset"

TEXTS = ["", " ", "tent", "杭州门店几点关门？", "a" * 1025, "x" * 70_000, "\u202e\ufeff\u0000", "%s%n", "../../etc/passwd",
         "s3://b/k", "file:///dev/zero", "oss://bucket/a.jpg", "datacenter://ws_known/file_1", "NaN", "1e309",
         "[1,2", '{"like":"%"}', '["policy"]', '{"gte": 1e400}', "<script>", "' OR 1=1 --", "🙂" * 300]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 4 else 8)
    if kind == 11 and rng.random() < 0.8:  # deep nesting: rarer, it stops a request at the first check
        kind = 0
    if kind == 0:
        return rng.choice(TEXTS)
    if kind == 1:
        return rng.choice([0, 1, -1, 5, 20, 101, 2**31, 2**63, -(2**63), 10**50, 922337203685477582])
    if kind == 2:
        return rng.choice([0.0, 0.5, -0.01, 1.5, 1e308, 1e-320, float("nan"), float("inf")])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return "".join(rng.choice("ab中\\\"{}[]:,%_\n\t") for _ in range(rng.randrange(1, 40)))
    if kind == 5:
        return str(rng.randrange(-10, 10**6))
    if kind == 6:
        return rng.choice(["true", "True", "false", "null", "[]", "{}", "[{}]"])
    if kind == 7:
        return {"role": rng.choice(["user", "assistant", "system", 3]), "content": rng.choice(TEXTS)}
    if kind in (8, 9):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 10:
        return {rng.choice(["category", "year", "tags", "like", "gte", "lt", "Role", "Content", "URI", "x" * 200]):
                _value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    nested: Any = rng.choice([[], {}])
    for _ in range(rng.choice([10, 70, 200])):
        nested = [nested]
    return nested


_UNKNOWN = object()  # no plausible value known for this parameter


def _plausible(name: str, rng: random.Random, ids: dict[str, list[str]]) -> Any:
    """A value the operation may accept for a parameter of this name, so the request gets deeper."""
    own = {"IndexId": ids["indexes"], "JobId": ids["jobs"], "FileId": ids["files"], "CategoryId": ["default"],
           "ProjectName": [FUZZ_PROJECT], "DatasetName": [FUZZ_DATASET], "LeaseId": ids["leases"]}
    if own.get(name):
        return rng.choice(own[name])
    if name in ("Query", "Name", "Description", "CategoryName", "FileName", "DocumentName"):
        return rng.choice(["tent warranty", "杭州", "notes.md", "kb-" + str(rng.randrange(10**6))])
    if name in ("Messages",):
        return [{"Role": "user", "Content": rng.choice(TEXTS[:6])}]
    typical: dict[str, Any] = {
        "SourceType": rng.choice(["DATA_CENTER_FILE", "DATA_CENTER_CATEGORY"]), "Md5": "0" * 32, "SizeInBytes": 16,
        "MaxResults": 10, "PageSize": 10, "PageNumber": 1, "RerankTopN": 3, "URI": "oss://fuzz/a.jpg",
        "File": {"URI": "oss://fuzz/b.jpg", "Title": "West Lake"}, "Files": [{"URI": "oss://fuzz/c.jpg"}],
        "WithFields": ["URI", "Title"], "SearchFilters": [{"category": "policy"}], "MediaTypes": ["image"],
        "Rerank": [{"ModelName": "qwen3-rerank"}], "EnableReranking": rng.choice([True, False]),
        "CategoryType": "UNSTRUCTURED", "Tags": ["a"], "ChunkSize": 500, "OverlapSize": 50,
    }
    if name in typical:
        return typical[name]
    if name in ("DocumentIds", "FileIds", "CategoryIds", "SourceURIs", "URIs"):
        return [rng.choice(ids["files"] + ids["docs"] + ["file_x", "s3://b/k"])]
    return _value(rng)


def _request(operation: Operation, rng: random.Random, ids: dict[str, list[str]]) -> dict[str, Any]:
    # Mostly plausible requests with a few hostile values, so that most get past validation, and some wholly hostile.
    hostility = rng.choice([0.0, 0.0, 0.05, 0.3])
    fields = operation.request_model.model_fields
    payload: dict[str, Any] = {}
    for field_name, field in fields.items():
        if not field.is_required() and rng.random() < 0.5:
            continue
        name = _wire_name(operation, field_name)
        value = _value(rng) if rng.random() < hostility else _plausible(name, rng, ids)
        if value is _UNKNOWN:
            if field.is_required() or rng.random() < 0.3:
                payload[name] = _value(rng)
            continue
        payload[name] = value
    if rng.random() < 0.1:
        payload[rng.choice(["Unknown", "indexid", "__proto__", "Extra"])] = _value(rng)
    return payload


def _wire_name(operation: Operation, field_name: str) -> str:
    field = operation.request_model.model_fields[field_name]
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return "".join(part.capitalize() for part in field_name.split("_"))


def _send(api: Api, operation: Operation, payload: dict[str, Any], rng: random.Random) -> tuple[str, int, bytes]:
    workspace = FUZZ_WS if rng.random() < 0.9 else rng.choice(["bad ws", "w" * 65, "ws%2Fx", "ws_unknown"])
    path = operation.path.replace("{WorkspaceId}", workspace)
    for name in re.findall(r"\{(\w+)\}", path):  # encoded as the SDKs encode path parameters
        value = payload.pop(name, None)
        path = path.replace(f"{{{name}}}", quote(str(value if isinstance(value, str) and value else "default"), safe=""))
    how = rng.random()
    if how < 0.15:  # a direct Lambda event
        event = payload | ({"WorkspaceId": FUZZ_WS} if operation.family is Family.BAILIAN else {})
        answer = api.invoke(operation.name, json.loads(json.dumps(event, default=str)))
        failed = answer.get("Success") is False or "Code" in answer and operation.family is Family.IMM
        status = (500 if answer.get("Code") == "InternalError" else 400) if failed else 200
        return "lambda", status, json.dumps(answer).encode()
    body = json.dumps(payload, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    if how < 0.25:  # as the SDKs send them: the query string, arrays and objects JSON-encoded
        query = "&".join(
            f"{quote(str(name), safe='')}={quote(value if isinstance(value, str) else json.dumps(value), safe='')}"
            for name, value in payload.items())
        reply = api.client.http.request(operation.method, f"{path}?{query}", headers={}, body=b"")
    elif how < 0.3:  # a body that is not what it says
        content_type = rng.choice(["application/json", "application/x-www-form-urlencoded", "text/plain"])
        raw = rng.choice([body[: len(body) // 2].encode(), b"\xff\xfe", b"A=1&A=2", b"[]", b"null", body.encode()])
        reply = api.client.http.request(operation.method, path, headers={"content-type": content_type}, body=raw)
    else:
        reply = api.client.http.request(operation.method, path, headers={"content-type": "application/json"},
                                        body=body.encode())
    return "http", reply.status_code, reply.body


def _state(api: Api, index_id: str) -> Any:
    return {
        "documents": api.documents(index_id, ws=KNOWN_WS),
        "nodes": api.nodes(index_id, "Larkspur tent warranty", ws=KNOWN_WS),
        "indices": api.list_indices(ws=KNOWN_WS, PageSize=100).data,
        "datasets": api.post("/imm/ListDatasets", {"ProjectName": KNOWN_PROJECT}).body["Datasets"],
        "file": api.post("/imm/GetFileMeta", {"ProjectName": KNOWN_PROJECT, "DatasetName": "d",
                                              "URI": "oss://known/a.jpg"}).body["Files"],
    }


@pytest.fixture
def known(api: Api, tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "warranty.md").write_text("# Warranty\n\nEvery Larkspur tent has a 5-year warranty.", encoding="utf-8")
    (folder / "stores.txt").write_text("杭州门店每天上午十点开门。", encoding="utf-8")
    ids: dict[str, Any] = {}
    for workspace, project in ((KNOWN_WS, KNOWN_PROJECT), (FUZZ_WS, FUZZ_PROJECT)):
        index_id = api.create_index("kb", ws=workspace)
        job = api.add_documents(index_id, [str(folder)], ws=workspace)
        dataset = "d" if workspace == KNOWN_WS else FUZZ_DATASET
        assert api.post("/imm/CreateProject", {"ProjectName": project}).status == 200
        assert api.post("/imm/CreateDataset", {"ProjectName": project, "DatasetName": dataset}).status == 200
        assert api.post("/imm/IndexFileMeta", {"ProjectName": project, "DatasetName": dataset,
                                               "File": {"URI": "oss://known/a.jpg", "Title": "West Lake"}}).status == 200
        ids[workspace] = {"indexes": [index_id], "jobs": [job["JobId"]],
                          "docs": [document["Id"] for document in api.documents(index_id, ws=workspace)],
                          "files": [api.upload_file("notes.md", b"# Notes\n\nA note.", ws=workspace)],
                          "leases": []}
    return ids


def test_generated_requests_never_answer_5xx_or_non_json_and_leave_known_data_alone(
    api: Api, known: dict[str, Any]
) -> None:
    rng = random.Random(SEED)
    known_index = known[KNOWN_WS]["indexes"][0]
    before = _state(api, known_index)
    failures: list[str] = []
    for number in range(REQUESTS):
        operation = rng.choice(OPERATIONS)
        payload = _request(operation, rng, known[FUZZ_WS])
        how, status, body = _send(api, operation, dict(payload), rng)
        try:
            answer = json.loads(body)
            assert isinstance(answer, dict) and answer.get("RequestId")
        except (ValueError, AssertionError):
            failures.append(f"#{number} {operation.name} {how}: not the envelope: {body[:200]!r}")
            continue
        if status >= 500:
            failures.append(f"#{number} {operation.name} {how} {status}: {str(answer)[:300]} <- {str(payload)[:300]}")
    assert failures == [], f"{len(failures)} of {REQUESTS}: " + "\n".join(failures[:20])
    assert _state(api, known_index) == before
