"""Regression tests of issue 12's defects that come from what a source holds or a body says: each failed before its
fix (a 500, a dropped document, a bare NaN in a response, a read without bound) and now answers as documented."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.ports.sources import MAX_SOURCE_BYTES
from tests.api.conftest import Api

PROJECT, DATASET = "reliability", "files"


def _ok(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, (reply.status, reply.body)
    return reply.body  # type: ignore[no-any-return]


@pytest.fixture
def dataset(api: Api) -> dict[str, str]:
    _ok(api.post("/imm/CreateProject", {"ProjectName": PROJECT}))
    _ok(api.post("/imm/CreateDataset", {"ProjectName": PROJECT, "DatasetName": DATASET}))
    return {"ProjectName": PROJECT, "DatasetName": DATASET}


def test_one_bad_sidecar_fails_only_its_own_document(api: Api, tmp_path: Path) -> None:
    # Issue 12 #4: a sidecar nested 100,000 deep among three good files failed the whole job (RecursionError).
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (folder / name).write_text(f"Document {name} about Larkspur tents.", encoding="utf-8")
    (folder / "d.txt.metadata.json").write_text('{"metadataAttributes": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    index_id = api.create_index("sidecars")
    job = api.add_documents(index_id, [str(folder)])
    assert job["Status"] == "PARTIAL", job
    outcomes = {document["DocName"]: document["Status"] for document in job["Documents"]}
    assert outcomes == {"a.txt": "FINISH", "b.txt": "FINISH", "c.txt": "FINISH", "d.txt": "FAILED"}


def test_a_sidecar_with_nan_or_a_number_beyond_a_double_fails_its_document(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "numbers"
    folder.mkdir()
    for name, value in (("nan.txt", "NaN"), ("huge.txt", "1e309")):
        (folder / name).write_text("Larkspur", encoding="utf-8")
        (folder / f"{name}.metadata.json").write_text('{"metadataAttributes": {"score": ' + value + "}}")
    index_id = api.create_index("numbers")
    job = api.add_documents(index_id, [str(folder)])
    assert {document["Status"] for document in job["Documents"]} == {"FAILED"}
    assert all("not valid JSON" in document["Message"] for document in job["Documents"])


def test_paths_the_file_system_refuses_are_400s(api: Api, dataset: dict[str, str]) -> None:
    # Issue 12 #8: a 256-character name, a 300-character path and a directory loop each answered 500.
    index_id = api.create_index("paths")
    for uri in ("A" * 256, "/proc/self/root/proc/self/root", "/" + "b" * 300 + "/c"):
        reply = api.submit(index_id, [uri])
        assert (reply.status, reply.body["Code"]) == (400, "Index.InvalidParameter"), (uri[:40], reply.body)
        assert len(reply.body["Message"]) < 400
    binding = api.post("/imm/CreateBinding", {**dataset, "URI": "file:///" + "d" * 300})
    assert binding.status in (200, 400), binding.body  # refused, or recorded Failed with its reason: never a 500
    if binding.status == 200:
        assert binding.body["Binding"]["State"] == "Failed"


def test_numbers_beyond_json_are_refused_on_input_and_never_answered(api: Api, dataset: dict[str, str]) -> None:
    # Issue 12 #10: 1e309 or NaN stored from a File field or a Lambda event came back as bare Infinity / NaN.
    file = {"URI": "oss://media/photo.jpg", "Title": "West Lake", "ImageScore": {"OverallQualityScore": 1e308},
            "Duration": 12.5}
    body = json.dumps({**dataset, "File": file}).replace("1e+308", "1e309")
    refused = api.post_raw("/imm/IndexFileMeta", body)
    assert refused.status == 400 and "not valid JSON" in refused.body["Message"], refused.body
    for field, value in (("ImageScore", {"OverallQualityScore": math.nan}), ("Duration", math.inf)):
        event = api.invoke("IndexFileMeta", {**dataset, "File": {**file, field: value}})
        assert event["Code"] == "InvalidArgument" and f"File.{field}" in event["Message"], event
    _ok(api.post("/imm/IndexFileMeta", {**dataset, "File": file}))
    stored = _ok(api.post("/imm/GetFileMeta", {**dataset, "URI": file["URI"]}))
    assert stored["Files"][0]["ImageScore"] == {"OverallQualityScore": 1e308}


def test_device_files_and_pipes_are_not_read(api: Api, dataset: dict[str, str], tmp_path: Path) -> None:
    # Issue 12 #13: file:///dev/zero read without bound (then MemoryError); a named pipe blocked the request forever.
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    for uri in ("file:///dev/zero", pipe.as_uri()):
        reply = _ok(api.post("/imm/IndexFileMeta", {**dataset, "File": {"URI": uri, "ContentType": "text/plain"}}))
        [outcome] = reply["Files"]
        assert "not a regular file" in outcome["Reason"], outcome
    index_id = api.create_index("devices")
    refused = api.submit(index_id, ["/dev/zero"])  # a device is neither a file nor a folder to list
    assert (refused.status, refused.body["Code"]) == (400, "Index.InvalidParameter")


def test_a_file_over_the_cap_is_refused_without_reading_it(api: Api, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as out:
        out.truncate(MAX_SOURCE_BYTES + 1)  # sparse: no disk is spent on it
    index_id = api.create_index("big")
    job = api.add_documents(index_id, [str(big)])
    assert [document["Status"] for document in job["Documents"]] == ["FAILED"]
    assert "larger than" in job["Documents"][0]["Message"]
