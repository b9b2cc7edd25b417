"""Access keys (``SIFT_AUTH=accesskey``): the official SDKs' ACS3-HMAC-SHA256 signatures verified by a real
``chalice local``, each way a request can fail refused with its own code, and no Authorization header, however
malformed, answered with a 5xx. (The SDK flows of ``test_official_sdks.py`` run signed on both transports.)"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_bailian20231229 import models as bm
from alibabacloud_imm20200930 import models as im
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils

from chalicelib.core.access_keys import AccessKeys, Level
from chalicelib.sealing.master_key import MasterKeyBox
from chalicelib.store.sqlite import SqliteCatalog
from tests.api.conftest import Api
from tests.api.sdk import LocalServer, SdkRequest, bailian_client, imm_client, sdk_requests

WS, OTHER_WS, PROJECT = "ws_keys", "ws_someone_else", "keys_project"


@dataclass
class Keys:
    server: LocalServer
    keys: AccessKeys
    writer: tuple[str, str]
    reader: tuple[str, str]
    other: tuple[str, str]  # a write key of another workspace and project

    def bailian(self, key: tuple[str, str]) -> Any:
        return bailian_client(self.server.endpoint, *key)

    def imm(self, key: tuple[str, str]) -> Any:
        return imm_client(self.server.endpoint, *key)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    root = tmp_path_factory.mktemp("access-keys")
    master = root / "config" / "master.key"
    store = AccessKeys(SqliteCatalog(root / "sift" / "catalog.db"), MasterKeyBox(master))

    def make(level: Level, workspace: str, project: str) -> tuple[str, str]:
        key, secret = store.create(level=level, workspaces=[workspace], projects=[project])
        return key.key_id, secret

    writer, reader = make(Level.WRITE, WS, PROJECT), make(Level.READ, WS, PROJECT)
    other = make(Level.WRITE, OTHER_WS, "someone_elses")
    server = LocalServer(root / "sift", root / "chalice-local.log",
                         {"SIFT_AUTH": "accesskey", "SIFT_MASTER_KEY_FILE": str(master)})
    try:
        state = Keys(server, store, writer, reader, other)
        state.bailian(writer).create_index(WS, bm.CreateIndexRequest(name="kb", structure_type="unstructured"))
        state.imm(writer).create_project(im.CreateProjectRequest(project_name=PROJECT))
        yield state
    finally:
        server.stop()


def _refused(call: Any, status: int, code: str) -> ClientException:
    with pytest.raises(ClientException) as caught:
        call()
    assert (caught.value.status_code, caught.value.code) == (status, code), caught.value.data
    assert "Signature=" not in json.dumps(caught.value.data)  # nothing of the signature comes back
    return caught.value


def _send(request: SdkRequest, *, url: str | None = None, body: bytes | None = None) -> tuple[int, Any]:
    raw = urllib.request.Request(url or request.url, data=request.body if body is None else body,
                                 method=request.method, headers=request.headers)
    try:
        with urllib.request.urlopen(raw, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _list_indices(client: Any) -> Any:
    return client.list_indices(WS, bm.ListIndicesRequest(page_size="10"))


# --- one test per way to fail ---------------------------------------------------------------------------------------


def test_a_valid_key_reaches_its_tenants(keys: Keys) -> None:
    assert [index.name for index in _list_indices(keys.bailian(keys.writer)).body.data.indices] == ["kb"]
    assert _list_indices(keys.bailian(keys.reader)).body.success is True  # reading with a read key
    datasets = keys.imm(keys.reader).list_datasets(im.ListDatasetsRequest(project_name=PROJECT))
    assert datasets.body.datasets == []


def test_a_wrong_secret_does_not_match(keys: Keys) -> None:
    _refused(lambda: _list_indices(keys.bailian((keys.writer[0], "not-the-secret"))), 401, "SignatureDoesNotMatch")


def test_an_unknown_key_is_not_found(keys: Keys) -> None:
    _refused(lambda: _list_indices(keys.bailian(("SIFT" + "X" * 20, "whatever"))), 401,
             "InvalidAccessKeyId.NotFound")


def test_a_revoked_key_stops_at_once(keys: Keys) -> None:
    key, secret = keys.keys.create(level=Level.WRITE, workspaces=[WS])
    client = keys.bailian((key.key_id, secret))
    assert _list_indices(client).body.success is True
    keys.keys.revoke(key.key_id)
    _refused(lambda: _list_indices(client), 401, "InvalidAccessKeyId.Inactive")


def test_another_tenants_key_is_forbidden_whether_the_resource_exists_or_not(keys: Keys) -> None:
    other = keys.bailian(keys.other)
    existing = _refused(lambda: _list_indices(other), 403, "Forbidden.RAM")
    missing = _refused(lambda: other.list_indices("ws_that_never_existed", bm.ListIndicesRequest()), 403,
                       "Forbidden.RAM")
    assert existing.message.split(" request id")[0] == missing.message.split(" request id")[0]  # no oracle
    _refused(lambda: keys.imm(keys.other).list_datasets(im.ListDatasetsRequest(project_name=PROJECT)), 403,
             "Forbidden.RAM")


def test_a_read_key_cannot_write(keys: Keys) -> None:
    _refused(lambda: keys.bailian(keys.reader).create_index(
        WS, bm.CreateIndexRequest(name="mine", structure_type="unstructured")), 403, "Forbidden.RAM")
    _refused(lambda: keys.imm(keys.reader).create_dataset(
        im.CreateDatasetRequest(project_name=PROJECT, dataset_name="d")), 403, "Forbidden.RAM")


def test_a_replayed_nonce_is_refused(keys: Keys) -> None:
    with sdk_requests() as sent:
        _list_indices(keys.bailian(keys.writer))
    status, body = _send(sent[-1])
    assert (status, body["Code"]) == (401, "SignatureNonceUsed")


def test_a_date_16_minutes_old_is_refused(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: stale))
    _refused(lambda: _list_indices(keys.bailian(keys.writer)), 401, "InvalidTimeStamp.Expired")


def test_a_tampered_query_string_does_not_match(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    with sdk_requests() as sent:
        keys.bailian(keys.writer).list_indices(WS, bm.ListIndicesRequest(page_size="10", index_name="kb"))
    request = sent[-1]
    tampered = request.url.replace("IndexName=kb", "IndexName=zz")
    assert tampered != request.url
    # The signature is checked before the nonce: the tampered copy fails on its signature, the exact copy on its nonce.
    assert _send(request, url=tampered)[1]["Code"] == "SignatureDoesNotMatch"
    assert _send(request)[1]["Code"] == "SignatureNonceUsed"


def test_a_tampered_body_does_not_match_its_signed_hash(keys: Keys) -> None:
    with sdk_requests() as sent, contextlib.suppress(ClientException):  # the dataset does not exist: a 404, once signed
        keys.imm(keys.writer).contextual_retrieval(im.ContextualRetrievalRequest(
            project_name=PROJECT, dataset_name="none", messages=[im.ContextualMessage(role="user", content="杭州")]))
    request = sent[-1]
    assert request.body, "IMM sends arrays in a form body"
    status, body = _send(request, body=request.body.replace(urllib.parse.quote("杭州").encode(), b"x"))
    assert (status, body["Code"]) == (401, "ContentSHA256Mismatch")


def test_an_unsigned_request_is_refused(keys: Keys) -> None:
    request = urllib.request.Request(f"{keys.server.url}/{WS}/index/list_indices")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401 and json.loads(refused.value.read())["Code"] == "IncompleteSignature"


# --- fuzz -------------------------------------------------------------------------------------------------------


def _junk(rng: random.Random) -> str:
    alphabet = string.printable + "é中\u202e\ufeff"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))


def _malformed_headers(rng: random.Random) -> dict[str, str]:
    key_id = rng.choice(["SIFT" + "A" * 20, "", "x" * 300, _junk(rng)])
    names = rng.choice(["host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce", "", "HOST", "a;a", "b;a",
                        _junk(rng), "host;x-acs-date"])
    signature = rng.choice(["0" * 64, "g" * 64, "", "0" * 63, _junk(rng)])
    authorization = rng.choice([
        f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={names},Signature={signature}",
        f"ACS3-HMAC-SHA256 {_junk(rng)}", "Bearer abc", "", " " * rng.randint(1, 5), _junk(rng),
        "ACS3-HMAC-SHA256 Credential=" + "k" * 5000, f"acs3-hmac-sha256 Credential={key_id}",
    ])
    headers = {"authorization": authorization,
               "x-acs-date": rng.choice(["2026-12-04T08:00:00Z", "", "yesterday", "9999-99-99T99:99:99Z", _junk(rng)]),
               "x-acs-signature-nonce": rng.choice(["", "n" * 500, _junk(rng), "nonce"]),
               "x-acs-content-sha256": rng.choice(["", "0" * 64, _junk(rng)])}
    # Header values must be encodable on the wire; a client that cannot send one never reaches the server.
    return {name: value.encode("latin-1", "replace").decode("latin-1").replace("\n", " ").replace("\r", " ")
            for name, value in headers.items() if rng.random() > 0.1}


def test_a_thousand_malformed_authorizations_never_answer_5xx(api_with_keys: Api) -> None:
    rng = random.Random(11)
    statuses: dict[int, int] = {}
    for attempt in range(1200):
        headers = _malformed_headers(rng)
        if attempt % 2:
            reply = api_with_keys.client.http.post(f"/{WS}/index/retrieve", headers={
                **headers, "content-type": "application/json"}, body=json.dumps({"IndexId": "kb", "Query": "q"}))
        else:
            reply = api_with_keys.client.http.post("/", headers={**headers, "x-acs-action": "ListDatasets",
                                                                 "content-type": "application/x-www-form-urlencoded"},
                                                   body=b"ProjectName=p")
        statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
        assert reply.status_code < 500, (headers, reply.body)
        assert json.loads(reply.body)["Code"], reply.body
    assert set(statuses) == {401}, statuses


@pytest.fixture
def api_with_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Api:
    monkeypatch.setenv("SIFT_AUTH", "accesskey")
    monkeypatch.setenv("SIFT_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    api: Api = request.getfixturevalue("api")
    return api


def test_a_tenant_cannot_name_the_servers_own_files(keys: Keys, tmp_path: Path) -> None:
    from tests.api.sdk import signed_json

    secret_file = tmp_path / "someone-elses-notes.txt"
    secret_file.write_text("the other tenant's password is hunter2")
    for source in (secret_file.as_uri(), str(secret_file)):
        status, body = signed_json(keys.bailian(keys.writer), "POST", f"/{WS}/index/create",
                                   {"Name": f"steal-{len(source)}", "SourceURI": source})
        assert (status, body["Code"]) == (400, "Index.InvalidParameter"), body
        assert "server's own files" in body["Message"]


def test_one_rpc_request_cannot_name_two_operations(api_with_keys: Api) -> None:
    reply = api_with_keys.client.http.post("/?Action=DeleteFileMeta", headers={
        "x-acs-action": "GetFileMeta", "content-type": "application/x-www-form-urlencoded"}, body=b"ProjectName=p")
    assert reply.status_code == 404 and json.loads(reply.body)["Code"] == "InvalidAction.NotFound"
