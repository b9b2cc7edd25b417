"""Access keys below the HTTP layer: the ACS3 verifier against the SDK's own signer, the local secret box, the
catalogs' key and nonce records, the gate of each SIFT_AUTH mode, and the key-management command."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from moto import mock_aws

from chalicelib.core import acs3
from chalicelib.core.access_keys import AccessKeys, AuthMode, Gate, Level, SignedRequest, TenantKind
from chalicelib.core.errors import AuthenticationError, PermissionDeniedError
from chalicelib.sealing.kms import KmsBox
from chalicelib.sealing.master_key import MasterKeyBox
from chalicelib.store.dynamodb import DynamoDbCatalog, create_table
from chalicelib.store.sqlite import SqliteCatalog
from scripts import keys as keys_command

NOW = 1_800_000_000.0
DATE = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW))


def _sdk_signed(secret: str, key_id: str, *, method: str = "POST", path: str = "/ws_a/index/retrieve",
                query: dict[str, str] | None = None, body: bytes = b"", nonce: str = "n-1") -> SignedRequest:
    """A request signed by the SDK's own ``Utils.get_authorization``, as the server receives it."""
    request = DaraRequest()
    request.method, request.pathname = method, path
    request.query = query if query is not None else {"IndexId": "kb_1", "Query": "保修 how long?", "RerankTopN": "3"}
    request.headers = {"host": "sift.example:8000", "x-acs-version": "2023-12-29", "x-acs-action": "Retrieve",
                       "user-agent": "AlibabaCloud (Linux) Python/3.11", "x-acs-date": DATE,
                       "x-acs-signature-nonce": nonce, "accept": "application/json",
                       "x-acs-content-sha256": hashlib.sha256(body).hexdigest()}
    request.headers["Authorization"] = Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", request.headers["x-acs-content-sha256"], key_id, secret)
    return SignedRequest(method, (path, f"{path}/"), {name: [value] for name, value in request.query.items()},
                         {name.lower(): value for name, value in request.headers.items()}, body)


@pytest.fixture
def store(tmp_path: Path) -> AccessKeys:
    return AccessKeys(SqliteCatalog(tmp_path / "catalog.db"), MasterKeyBox(tmp_path / "keys" / "master.key"),
                      clock=lambda: NOW)


def test_the_verifier_accepts_what_the_sdk_signs_and_refuses_each_alteration(store: AccessKeys) -> None:
    key, secret = store.create(level=Level.READ, workspaces=["ws_a"])
    grant = store.authenticate(_sdk_signed(secret, key.key_id))
    assert grant.key is not None and grant.key.key_id == key.key_id
    signed = _sdk_signed(secret, key.key_id, nonce="n-2")
    for changed, code in (
        ({"method": "GET"}, "SignatureDoesNotMatch"),
        ({"paths": ("/ws_b/index/retrieve",)}, "SignatureDoesNotMatch"),
        ({"query": {**signed.query, "RerankTopN": ["20"]}}, "SignatureDoesNotMatch"),
        ({"headers": {**signed.headers, "x-acs-action": "DeleteIndex"}}, "SignatureDoesNotMatch"),
        ({"body": b"{}"}, "ContentSHA256Mismatch"),
    ):
        with pytest.raises(AuthenticationError) as refused:
            store.authenticate(SignedRequest(**_replace(signed, changed)))
        assert refused.value.code == code, changed
    assert store.authenticate(signed).key is not None  # the failures above spent no nonce
    with pytest.raises(AuthenticationError, match="used already"):
        store.authenticate(signed)


def _replace(signed: SignedRequest, changes: dict[str, Any]) -> dict[str, Any]:
    fields = {"method": signed.method, "paths": signed.paths, "query": signed.query, "headers": signed.headers,
              "body": signed.body}
    return fields | changes


def test_dates_nonces_and_keys_are_checked(store: AccessKeys, tmp_path: Path) -> None:
    key, secret = store.create(level=Level.WRITE, workspaces=["ws_a"], projects=["p"])
    late = AccessKeys(SqliteCatalog(tmp_path / "catalog.db"), MasterKeyBox(tmp_path / "keys" / "master.key"),
                      clock=lambda: NOW + 16 * 60)
    with pytest.raises(AuthenticationError) as expired:
        late.authenticate(_sdk_signed(secret, key.key_id))
    assert expired.value.code == "InvalidTimeStamp.Expired"
    other_box = AccessKeys(SqliteCatalog(tmp_path / "catalog.db"), MasterKeyBox(tmp_path / "other.key"),
                           clock=lambda: NOW)
    with pytest.raises(AuthenticationError) as unopenable:  # a catalog copied without its master key
        other_box.authenticate(_sdk_signed(secret, key.key_id))
    assert unopenable.value.code == "InvalidAccessKeyId.NotFound"
    store.revoke(key.key_id)
    with pytest.raises(AuthenticationError) as revoked:
        store.authenticate(_sdk_signed(secret, key.key_id, nonce="n-3"))
    assert revoked.value.code == "InvalidAccessKeyId.Inactive"


def test_grants_scope_tenants_and_levels(store: AccessKeys) -> None:
    reader, secret = store.create(level=Level.READ, workspaces=["ws_a"], projects=["p"])
    grant = store.authenticate(_sdk_signed(secret, reader.key_id))
    grant.authorize(TenantKind.WORKSPACE, "ws_a", write=False)
    grant.authorize(TenantKind.PROJECT, "p", write=False)
    for kind, tenant, write in ((TenantKind.WORKSPACE, "ws_b", False), (TenantKind.PROJECT, "ws_a", False),
                                (TenantKind.WORKSPACE, "ws_a", True)):
        with pytest.raises(PermissionDeniedError):
            grant.authorize(kind, tenant, write=write)


def test_the_gate_of_each_mode() -> None:
    request = SignedRequest("GET", ("/",), {}, {})
    assert Gate(AuthMode.NONE).admit(request).key is None
    assert Gate(AuthMode.IAM).admit(request, iam_identity="arn:aws:iam::1:user/a").key is None
    with pytest.raises(AuthenticationError) as missing:
        Gate(AuthMode.IAM).admit(request)  # a stage packaged without the IAM authorizer is not open
    assert missing.value.code == "MissingIAMIdentity"
    assert Gate(AuthMode.IAM).admit(None).key is None  # a direct Lambda invocation
    with pytest.raises(ValueError):
        Gate(AuthMode.ACCESS_KEY)


def test_the_master_key_box_seals_opens_and_detects_tampering(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "master.key"
    box = MasterKeyBox(path)
    with pytest.raises(ValueError):  # opening never creates a master key (it would open nothing)
        box.open("v1:" + "A" * 80, key_id="K1")
    assert not path.exists()
    sealed = box.seal("s3cr3t-値", key_id="K1")
    assert "s3cr3t" not in sealed and box.open(sealed, key_id="K1") == "s3cr3t-値"
    assert box.seal("s3cr3t-値", key_id="K1") != sealed  # a fresh nonce each time
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    raw = bytearray(sealed.encode())
    raw[-5] = ord("A") if raw[-5] != ord("A") else ord("B")
    for broken in (bytes(raw).decode(), "v1:AAAA", "plain", sealed[:-8]):
        with pytest.raises(ValueError):
            box.open(broken, key_id="K1")
    with pytest.raises(ValueError):
        box.open(sealed, key_id="K2")  # moved to another key's record
    with pytest.raises(ValueError):
        MasterKeyBox(tmp_path / "other.key").open(sealed, key_id="K1")
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        MasterKeyBox(path).open(sealed, key_id="K1")


def test_the_kms_box_seals_with_the_stacks_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        kms = boto3.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        box = KmsBox(kms, key_id)
        sealed = box.seal("s3cr3t", key_id="K1")
        assert sealed.startswith("kms:") and "s3cr3t" not in sealed
        assert box.open(sealed, key_id="K1") == "s3cr3t" == KmsBox(kms, key_id).open(sealed, key_id="K1")
        with pytest.raises(ValueError):
            KmsBox(kms, key_id).open(sealed, key_id="K2")


@pytest.fixture(params=["sqlite", "dynamodb"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "sqlite":
        yield SqliteCatalog(tmp_path / "catalog.db")
        return
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, "catalog")
        yield DynamoDbCatalog(client, "catalog")


def test_catalogs_keep_keys_and_accept_each_nonce_once(catalog: Any) -> None:
    store = AccessKeys(catalog, _PlainBox(), clock=lambda: NOW)
    key, _ = store.create(level=Level.READ, workspaces=["ws_a", "ws_b"], description="demo")
    assert catalog.get_access_key(key.key_id) == key
    assert [item.key_id for item in store.list()] == [key.key_id]
    assert store.revoke(key.key_id).revoked and catalog.get_access_key(key.key_id).revoked
    future = time.time() + 900
    assert [catalog.use_nonce(key.key_id, "n", future), catalog.use_nonce(key.key_id, "n", future)] == [True, False]
    assert catalog.use_nonce("SIFT" + "B" * 20, "n", future) is True  # nonces are per key
    assert catalog.use_nonce(key.key_id, "old", time.time() - 1) is True
    assert catalog.use_nonce(key.key_id, "old", future) is True  # an expired record does not block its nonce


class _PlainBox:
    def seal(self, secret: str, *, key_id: str) -> str:
        return f"plain:{key_id}:{secret}"

    def open(self, sealed: str, *, key_id: str) -> str:
        return sealed.removeprefix(f"plain:{key_id}:")


def test_the_keys_command_prints_a_secret_once(store: AccessKeys, capsys: pytest.CaptureFixture[str]) -> None:
    run: Callable[..., int] = keys_command.main
    assert run(["create", "--workspace", "ws_demo", "--level", "read", "--description", "demo"], keys=store) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["AccessKeyId"].startswith("SIFT") and len(created["AccessKeySecret"]) >= 32
    assert run(["list"], keys=store) == 0
    listed = capsys.readouterr().out
    assert created["AccessKeyId"] in listed and created["AccessKeySecret"] not in listed
    assert run(["revoke", created["AccessKeyId"]], keys=store) == 0
    assert json.loads(capsys.readouterr().out)["Revoked"]
    assert run(["revoke", "SIFT" + "Z" * 20], keys=store) == 1
    with pytest.raises(SystemExit):
        run(["create", "--level", "read"], keys=store)  # bound to nothing


def test_acs3_parsing_refuses_what_the_sdks_never_send() -> None:
    good = "ACS3-HMAC-SHA256 Credential=SIFTAAAAAAAAAAAAAAAAAAAA,SignedHeaders=host;x-acs-content-sha256;" \
           "x-acs-date;x-acs-signature-nonce,Signature=" + "0" * 64
    assert acs3.parse_authorization(good).access_key_id == "SIFTAAAAAAAAAAAAAAAAAAAA"
    for bad in ("", "Bearer x", good.replace("host;", ""), good.replace("host;x-acs-content", "x-acs-content;host"),
                good[:-1], good + "0", good.replace("HMAC", "hmac"), good + " " * 5000):
        with pytest.raises(acs3.MalformedAuthorization):
            acs3.parse_authorization(bad)


def test_make_runs_demo_key_replaces_the_previous_one(store: AccessKeys) -> None:
    from scripts.seed_demo import DEMO_KEY, demo_key

    first, _ = demo_key(store)
    second, secret = demo_key(store)
    states = {key.key_id: key.revoked for key in store.list() if key.description == DEMO_KEY}
    assert states == {first: True, second: False} and secret


def test_every_x_acs_header_and_a_bodys_content_type_must_be_signed(store: AccessKeys) -> None:
    key, secret = store.create(level=Level.READ, workspaces=["ws_a"])
    signed = _sdk_signed(secret, key.key_id, nonce="n-7")
    for extra in ({"x-acs-action": "DeleteIndex", "x-acs-extra": "1"}, {"x-acs-new": "x"}):
        headers = {name: value for name, value in signed.headers.items() if name != "x-acs-action"} | extra
        with pytest.raises(AuthenticationError) as refused:
            store.authenticate(SignedRequest(**_replace(signed, {"headers": headers})))
        assert refused.value.code == "IncompleteSignature" and "x-acs-" in refused.value.message
    with_body = SignedRequest(**_replace(signed, {"headers": {**signed.headers, "content-type": "text/plain"},
                                                    "body": b"x"}))
    with pytest.raises(AuthenticationError) as unsigned_type:
        store.authenticate(with_body)
    assert "content-type" in unsigned_type.value.message


def test_a_lone_surrogate_anywhere_is_a_refusal_not_a_crash(store: AccessKeys) -> None:
    key, secret = store.create(level=Level.READ, workspaces=["ws_a"])
    signed = _sdk_signed(secret, key.key_id, nonce="n-8")
    for changed in ({"headers": {**signed.headers, "x-acs-content-sha256": "\ud800"}},
                    {"headers": {**signed.headers, "user-agent": "\udc80"}},
                    {"query": {**signed.query, "Query": ["\ud800"]}}):
        with pytest.raises(AuthenticationError):
            store.authenticate(SignedRequest(**_replace(signed, changed)))
