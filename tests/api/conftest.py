"""Fixtures for the end-to-end API tests: the Chalice app driven through ``chalice.test.Client``.

How the tests stay inside their tmp data directory
--------------------------------------------------
``Client(app, stage_name="local")`` applies the ``local`` stage's environment variables from ``.chalice/config.json``
(today only ``SIFT_STAGE`` and model-loading flags; a stage may set ``SIFT_DATA_DIR`` or ``SIFT_EMBEDDER``) around
*every* request and Lambda invocation: it swaps
``os.environ`` for a patched copy for the duration of the call. Monkeypatching the environment after entering the
Client therefore does not help — the config values win inside each call. What does work is that the service is built
once and cached (``chalicelib.composition.service``): the ``api`` fixture builds it *before* the first request, from the
test's environment (tmp data dir, ``hashing`` embedder, no embedding cache) and inside ``moto.mock_aws()`` (the S3
client is created at build time). Every request then reuses that instance. ``_no_writes_to_repo_data_dir`` checks
after each test that the repository's ``.sift`` (or the cwd's) was not created and holds no workspace these tests use,
so a regression here is loud. (``.sift`` may legitimately exist and change while the tests run: it is the data
directory of ``make run``; so the check looks for the tests' own workspaces in its catalog, not at modification times.)
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from tests.api import openapi_check
from tests.api.openapi_check import (  # noqa: F401 - hooks: every response is checked against docs/openapi.json
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_runtest_teardown,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

openapi_check.install()

REPO_ROOT = Path(__file__).resolve().parents[2]
JSON_HEADERS = {"Content-Type": "application/json"}
WS = "ws_test"
HASHING_EMBEDDER = "sift/hashing-256"

# Words that betray Python internals leaking into a caller-facing message.
PYTHON_INTERNALS = ("Traceback", "dict", "NoneType", "pydantic", "Exception", "File \"", "object at 0x")


# Every workspace these tests write to; none of them may ever show up in the repository's data directory.
TEST_WORKSPACES = frozenset({
    WS, "ws_other", "ws_a", "ws_b", "ws_nobody", "ws_someone_else", "w" * 64, "None", "123",
})


def _data_dir_state(directory: Path) -> frozenset[str] | None:
    """None when ``directory`` does not exist, else the workspaces its catalog knows (read-only)."""
    if not directory.exists():
        return None
    catalog = directory / "catalog.db"
    if not catalog.is_file():
        return frozenset()
    connection = sqlite3.connect(f"{catalog.as_uri()}?mode=ro", uri=True)
    try:
        return frozenset(row[0] for row in connection.execute("SELECT DISTINCT workspace_id FROM knowledge_bases"))
    except sqlite3.Error:
        return frozenset()
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def _no_writes_to_repo_data_dir() -> Iterator[None]:
    """The tests must never touch the developer's ``.sift`` (the local stage's SIFT_DATA_DIR)."""
    watched = {REPO_ROOT / ".sift", Path.cwd() / ".sift"}
    before = {directory: _data_dir_state(directory) for directory in watched}
    yield
    for directory in watched:
        after = _data_dir_state(directory)
        if before[directory] is None:
            assert after is None, f"a test created {directory}"
        else:
            assert after is not None
            assert not (after & TEST_WORKSPACES), f"a test wrote into {directory}: {sorted(after & TEST_WORKSPACES)}"


@dataclass
class Reply:
    status: int
    body: Any

    @property
    def data(self) -> Any:
        assert self.status == 200, (self.status, self.body)
        assert self.body["Success"] is True, self.body
        return self.body["Data"]


class Api:
    """A thin façade over ``chalice.test.Client``: JSON in, ``Reply`` out, and the documented operations by name."""

    def __init__(self, client: Client, data_dir: Path, s3: Any) -> None:
        self.client = client
        self.data_dir = data_dir
        self.s3 = s3

    # raw HTTP ----------------------------------------------------------------------------------------------------

    def post_raw(self, path: str, body: bytes | str, headers: Mapping[str, str] | None = None) -> Reply:
        response = self.client.http.post(path, headers=dict(headers or JSON_HEADERS), body=body)
        return Reply(response.status_code, response.json_body)

    def post(self, path: str, body: Any) -> Reply:
        return self.post_raw(path, json.dumps(body))

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Reply:
        """Arrays and objects go JSON-encoded, as the official SDKs send them in a query string."""
        encoded = {name: json.dumps(value) if isinstance(value, list | dict) else value
                   for name, value in (params or {}).items()}
        query = f"?{urllib.parse.urlencode(encoded)}" if encoded else ""
        response = self.client.http.get(path + query)
        return Reply(response.status_code, response.json_body)

    def call(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Reply:
        """``params`` in the query string of a GET, as a JSON body otherwise (PUT and DELETE included)."""
        if method == "GET":
            return self.get(path, params)
        response = self.client.http.request(method, path, headers=JSON_HEADERS, body=json.dumps(params or {}))
        return Reply(response.status_code, response.json_body)

    # operations --------------------------------------------------------------------------------------------------

    def upload_file(self, name: str, data: bytes, *, ws: str = WS, category_id: str = "default",
                    tags: list[str] | None = None) -> str:
        """The data-center upload: ApplyFileUploadLease, PUT to the lease's URL, AddFile; returns the FileId."""
        lease = self.post(f"/{ws}/datacenter/category/{category_id}", {
            "FileName": name, "Md5": hashlib.md5(data).hexdigest(), "SizeInBytes": len(data)}).data
        url = urllib.parse.urlsplit(lease["Param"]["Url"])
        uploaded = self.client.http.put(url.path, body=data, headers=lease["Param"]["Headers"])
        assert uploaded.status_code == 200, uploaded.body
        added = self.call("PUT", f"/{ws}/datacenter/file", {
            "LeaseId": lease["FileUploadLeaseId"], "CategoryId": category_id, "Tags": tags or []}).data
        return str(added["FileId"])

    def create_index(self, name: str = "kb", ws: str = WS, **fields: Any) -> str:
        return self.post(f"/{ws}/index/create", {"Name": name, **fields}).data["Id"]

    def submit(self, index_id: str, uris: list[str] | None, ws: str = WS) -> Reply:
        body: dict[str, Any] = {"IndexId": index_id}
        if uris is not None:
            body["SourceURIs"] = uris
        return self.post(f"/{ws}/index/add_documents_to_index", body)

    def add_documents(self, index_id: str, uris: list[str], ws: str = WS) -> dict[str, Any]:
        """Submit a job and return its status (the local stage runs it inside the request)."""
        job_id = self.submit(index_id, uris, ws).data["Id"]
        return self.job_status(index_id, job_id, ws).data

    def job_status(self, index_id: str, job_id: str, ws: str = WS) -> Reply:
        return self.get(f"/{ws}/index/job/status", {"IndexId": index_id, "JobId": job_id})

    def retrieve(self, index_id: str, query: str, ws: str = WS, **fields: Any) -> Reply:
        return self.post(f"/{ws}/index/retrieve", {"IndexId": index_id, "Query": query, **fields})

    def nodes(self, index_id: str, query: str, ws: str = WS, **fields: Any) -> list[dict[str, Any]]:
        return self.retrieve(index_id, query, ws, **fields).data["Nodes"]

    def list_documents(self, index_id: str, ws: str = WS, **params: Any) -> Reply:
        return self.get(f"/{ws}/index/list_index_documents", {"IndexId": index_id, **params})

    def documents(self, index_id: str, ws: str = WS, **params: Any) -> list[dict[str, Any]]:
        return self.list_documents(index_id, ws, PageSize=100, **params).data["Documents"]

    def list_indices(self, ws: str = WS, **params: Any) -> Reply:
        return self.get(f"/{ws}/index/list_indices", params)

    def history(self, index_id: str, ws: str = WS, **params: Any) -> Reply:
        return self.get(f"/{ws}/index/retriever_history", {"IndexId": index_id, **params})

    def delete_index(self, index_id: str, ws: str = WS) -> Reply:
        return self.post(f"/{ws}/index/delete", {"IndexId": index_id})

    def delete_documents(self, index_id: str, doc_ids: list[str], ws: str = WS) -> Reply:
        return self.post(f"/{ws}/index/delete_index_document", {"IndexId": index_id, "DocumentIds": doc_ids})

    # Lambdas and events ------------------------------------------------------------------------------------------

    def invoke(self, function_name: str, payload: Any) -> Any:
        return self.client.lambda_.invoke(function_name, payload).payload

    def s3_event(self, detail_type: str, bucket: str, key: str) -> Any:
        event = self.client.events.generate_cw_event(
            source="aws.s3",
            detail_type=detail_type,
            detail={
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key, "size": 1, "etag": "0"},
                "request-id": "0",
                "requester": "123456789012",
                "reason": "PutObject" if detail_type == "Object Created" else "DeleteObject",
            },
            resources=[f"arn:aws:s3:::{bucket}"],
        )
        return self.invoke("OnObjectEvent", event)


@pytest.fixture(scope="session")
def _boto_session() -> boto3.Session:
    """One botocore session for the run: a new one re-reads the S3 service model (~0.1 s) on every client."""
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture
def api(sift_env: Path, monkeypatch: pytest.MonkeyPatch, _boto_session: boto3.Session) -> Iterator[Api]:
    """The app on a fresh ``local`` stage in the test's tmp directory, with S3 mocked by moto."""
    monkeypatch.setenv("SIFT_EMBEDDER", "hashing")
    monkeypatch.setenv("SIFT_EMBEDDING_CACHE", "off")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        # moto drops boto3's default session on start; hand the cached one back (moto still intercepts its clients).
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", _boto_session)
        from app import app
        from chalicelib.composition import service

        service()  # built now, from this environment; requests reuse it (see the module docstring)
        with Client(app, stage_name="local", project_dir=str(REPO_ROOT)) as client:
            yield Api(client, sift_env, _boto_session.client("s3"))


# --- corpora ------------------------------------------------------------------------------------------------------


def write_files(directory: Path, files: Mapping[str, str | bytes | dict[str, Any]]) -> Path:
    """Write ``files`` (name → text, bytes, or a sidecar's ``metadataAttributes`` for ``*.metadata.json``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, dict):
            path.write_text(json.dumps({"metadataAttributes": content}))
        else:
            path.write_text(content, encoding="utf-8")
    return directory


# Five formats, one sidecar, one corrupt PDF. Every document mentions "Larkspur" so one query can reach them all.
MIXED_FILES: dict[str, str | bytes | dict[str, Any]] = {
    "refund-policy.txt": (
        "Larkspur refund policy.\n\nCustomers may return unused items within 30 days of delivery for a full refund "
        "to the original payment method. Gift cards are not refundable."
    ),
    "refund-policy.txt.metadata.json": {"category": "policy", "year": 2024},
    "zephyr-tent.md": (
        "# Zephyr 3 tent\n\nThe Larkspur Zephyr 3 is a three-person backpacking tent with two doors. "
        "It packs down small and pitches in five minutes."
    ),
    "stores.html": (
        "<html><head><title>Larkspur stores</title></head><body><h1>Stores</h1>"
        "<p>Our Larkspur flagship store in Reno opens at 9 am every day except public holidays.</p></body></html>"
    ),
    "stove.json": json.dumps(
        {"name": "Larkspur Kettle stove", "description": "A compact canister stove that boils a litre of water in "
         "three minutes."}
    ),
    "broken.pdf": b"%PDF-1.4 garbage",
}


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    return write_files(tmp_path / "mixed", MIXED_FILES)


# Documents with sidecar metadata for SearchFilters, and enough distinct text for ranking checks.
FILTER_FILES: dict[str, str | bytes | dict[str, Any]] = {
    "policy-2024.txt": "Larkspur returns policy for 2024: items may be returned within 30 days for a refund.",
    "policy-2024.txt.metadata.json": {"category": "policy", "year": 2024, "region": "north-america"},
    "policy-2022.txt": "Larkspur returns policy for 2022: items could be returned within 14 days for store credit.",
    "policy-2022.txt.metadata.json": {"category": "policy", "year": 2022, "region": "europe"},
    "guide-2023.txt": "Larkspur camping guide 2023: how to choose a sleeping bag for cold nights in the mountains.",
    "guide-2023.txt.metadata.json": {"category": "guide", "year": 2023, "region": "north-america"},
    "faq-2021.txt": "Larkspur frequently asked questions 2021: gift cards, store hours and membership benefits.",
    "faq-2021.txt.metadata.json": {"category": "faq", "year": 2021, "region": "asia-pacific"},
    "notes.txt": "Larkspur internal notes without any metadata: inventory counts are taken every Monday.",
}


@pytest.fixture
def filter_index(api: Api, tmp_path: Path) -> str:
    directory = write_files(tmp_path / "filters", FILTER_FILES)
    index_id = api.create_index("filters")
    status = api.add_documents(index_id, [str(directory)])
    assert status["Status"] == "COMPLETED", status
    return index_id


def doc_names(nodes: list[dict[str, Any]]) -> list[str]:
    return [node["Metadata"]["doc_name"] for node in nodes]


def assert_error(reply: Reply, status: int, code: str, *, field: str | None = None) -> None:
    """The documented error envelope: no Data, Success false, Status the HTTP status as a string."""
    assert reply.status == status, (reply.status, reply.body)
    body = reply.body
    assert isinstance(body, dict), body
    assert set(body) == {"Code", "Message", "RequestId", "Status", "Success"}, body
    assert body["Code"] == code
    assert body["Success"] is False
    assert body["Status"] == str(status)
    assert isinstance(body["RequestId"], str) and body["RequestId"]
    assert isinstance(body["Message"], str) and body["Message"]
    for word in PYTHON_INTERNALS:
        assert word not in body["Message"], body["Message"]
    if field is not None:
        assert field in body["Message"], body["Message"]
