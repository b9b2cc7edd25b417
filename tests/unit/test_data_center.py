"""The data center on both stages: a local directory with Sift's own upload route, and S3 (presigned PUT URLs) with the
DynamoDB catalog, both under moto. The SDK-level flow is in ``tests/api/test_official_sdks.py``; here are the rules
of the service itself: what a lease checks, what a file records, what an index can take."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from moto import mock_aws

from chalicelib.blobs.local import LocalBlobStore
from chalicelib.blobs.s3 import S3BlobStore
from chalicelib.core.data_center import (
    LEASE_SECONDS,
    BlobNotFoundError,
    DataCenterService,
    file_uri,
    parse_file_uri,
)
from chalicelib.core.errors import InternalError, InvalidParameterError, NotFoundError
from chalicelib.core.indexing import document_id
from chalicelib.core.ports.sources import SourceError
from chalicelib.core.tenancy import SourcePolicy
from chalicelib.sources.data_center import DataCenterSource
from chalicelib.store.dynamodb import DynamoDbCatalog, create_table
from chalicelib.store.sqlite import SqliteCatalog

WS = "ws_dc"
BUCKET = "sift-test-datacenter"
TEXT = "# Warranty\n\nEvery Larkspur tent is covered for five years. 每顶帐篷保修五年。".encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stage:
    service: DataCenterService
    clock: Clock
    upload: Any  # (lease, data) -> None: what the caller does with the lease's URL

    def add(self, name: str, data: bytes, *, category_id: str = "default", tags: tuple[str, ...] = ()) -> Any:
        lease = self.service.apply_upload_lease(WS, category_id, category_type="UNSTRUCTURED", file_name=name,
                                                md5=hashlib.md5(data).hexdigest(), size=len(data),
                                                endpoint="http://127.0.0.1:8000")
        self.upload(lease, data)
        return self.service.add_file(WS, lease_id=lease.lease_id, parser="DASHSCOPE_DOCMIND",
                                     category_id=category_id, category_type="UNSTRUCTURED", tags=tags)


@pytest.fixture(params=["local", "aws"])
def stage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    clock = Clock()
    if request.param == "local":
        service = DataCenterService(SqliteCatalog(tmp_path / "catalog.db"), LocalBlobStore(tmp_path / "blobs"),
                                    clock=clock)
        yield Stage(service, clock, lambda lease, data: service.receive_upload(
            WS, lease.target.url.rsplit("/", 1)[-1], data))
        return
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb, "catalog")
        service = DataCenterService(DynamoDbCatalog(dynamodb, "catalog"), S3BlobStore(s3, BUCKET), clock=clock)

        def upload(lease: Any, data: bytes) -> None:  # the caller's own HTTP client, to the presigned URL
            response = requests.put(lease.target.url, data=data, headers=lease.target.headers, timeout=10)
            assert response.status_code == 200, response.text

        yield Stage(service, clock, upload)


def test_an_upload_becomes_a_parsed_file_and_a_source_object(stage: Stage) -> None:
    file = stage.add("warranty.md", TEXT, tags=("policy",))
    assert (file.status, file.file_type, file.size, file.md5, file.tags) == (
        "PARSE_SUCCESS", "md", len(TEXT), hashlib.md5(TEXT).hexdigest(), ("policy",))
    assert stage.service.file(WS, file.file_id) == file
    source = DataCenterSource(stage.service)
    uri = file_uri(WS, file.file_id)
    obj = source.read(uri)
    assert (obj.name, obj.data, obj.version, obj.metadata) == (
        "warranty.md", TEXT, file.md5, {"tags": ["policy"], "category_id": "default"})
    assert document_id(uri) == file.file_id and parse_file_uri(uri) == (WS, file.file_id)
    assert stage.service.index_uris(WS, file_ids=[file.file_id], category_ids=["default"]) == [uri]


def test_a_file_that_cannot_be_parsed_is_recorded_with_the_reason_and_cannot_be_indexed(stage: Stage) -> None:
    file = stage.add("broken.pdf", b"%PDF-1.7 not really")
    assert file.status == "PARSE_FAILED" and file.parse_error
    with pytest.raises(InvalidParameterError) as refused:
        stage.service.index_uris(WS, file_ids=[file.file_id])
    assert refused.value.field == "DocumentIds[0]" and "PARSE_FAILED" in refused.value.problem
    assert stage.service.index_uris(WS, category_ids=["default"]) == []  # a category gives its parsed files only


def test_a_lease_makes_one_file_and_expires(stage: Stage) -> None:
    md5 = hashlib.md5(TEXT).hexdigest()
    lease = stage.service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="a.md", md5=md5,
                                             size=len(TEXT), endpoint="")
    with pytest.raises(InvalidParameterError, match="nothing has been uploaded"):
        stage.service.add_file(WS, lease_id=lease.lease_id, parser="DASHSCOPE_DOCMIND", category_id="default",
                               category_type="UNSTRUCTURED", tags=())
    stage.upload(lease, TEXT)
    add = {"lease_id": lease.lease_id, "parser": "DASHSCOPE_DOCMIND", "category_id": "default",
           "category_type": "UNSTRUCTURED", "tags": ()}
    with pytest.raises(NotFoundError):
        stage.service.add_file("ws_other", **add)  # another workspace's lease does not exist for it
    stage.service.add_file(WS, **add)
    with pytest.raises(NotFoundError):
        stage.service.add_file(WS, **add)
    late = stage.service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="b.md", md5=md5,
                                            size=len(TEXT), endpoint="")
    stage.upload(late, TEXT)
    stage.clock.now += LEASE_SECONDS + 1
    with pytest.raises(InvalidParameterError, match="expired"):
        stage.service.add_file(WS, **(add | {"lease_id": late.lease_id}))


def test_an_upload_that_is_not_what_the_lease_declared_makes_no_file(stage: Stage) -> None:
    lease = stage.service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="a.md",
                                             md5=hashlib.md5(TEXT).hexdigest(), size=len(TEXT), endpoint="")
    tampered = TEXT[:-1] + b"!"
    try:  # the local route refuses it at once; S3 stores what it is sent (moto does not check Content-MD5)
        stage.upload(lease, tampered)
    except InvalidParameterError as refused:
        assert refused.field == "Md5"
    else:
        with pytest.raises(InvalidParameterError) as refused_later:
            stage.service.add_file(WS, lease_id=lease.lease_id, parser="DASHSCOPE_DOCMIND", category_id="default",
                                   category_type="UNSTRUCTURED", tags=())
        assert refused_later.value.field == "Md5"
    assert stage.service.list_files(WS, category_id=None, file_ids=None, name=None) == []


def test_deleting_a_file_deletes_its_bytes(stage: Stage) -> None:
    file = stage.add("warranty.md", TEXT)
    stage.service.delete_file(WS, file.file_id)
    with pytest.raises(NotFoundError):
        stage.service.file(WS, file.file_id)
    with pytest.raises(SourceError, match="no longer in the data center"):
        DataCenterSource(stage.service).read(file_uri(WS, file.file_id))


def test_categories_nest_and_only_empty_ones_can_be_deleted(stage: Stage) -> None:
    parent = stage.service.add_category(WS, name="政策", category_type="UNSTRUCTURED", parent_id=None)
    child = stage.service.add_category(WS, name="保修", category_type="UNSTRUCTURED", parent_id=parent.category_id)
    top = stage.service.list_categories(WS, category_type="UNSTRUCTURED", parent_id=None, name=None)
    assert [c.category_id for c in top] == ["default", parent.category_id]
    inside = stage.service.list_categories(WS, category_type="UNSTRUCTURED", parent_id=parent.category_id, name="保修")
    assert [c.category_id for c in inside] == [child.category_id]
    file = stage.add("warranty.md", TEXT, category_id=child.category_id)
    for category_id in ("default", parent.category_id, child.category_id):
        with pytest.raises(InvalidParameterError):
            stage.service.delete_category(WS, category_id)
    stage.service.delete_file(WS, file.file_id)
    stage.service.delete_category(WS, child.category_id)
    stage.service.delete_category(WS, parent.category_id)
    with pytest.raises(NotFoundError):
        stage.service.add_category(WS, name="x", category_type="UNSTRUCTURED", parent_id=parent.category_id)


def test_a_workspace_reads_only_its_own_data_center_uris_and_a_media_project_none() -> None:
    for policy in (SourcePolicy(tenant_prefixes=True), SourcePolicy()):
        assert policy.allows(WS, file_uri(WS, "file_1"), workspace=True)
        assert not policy.allows("ws_other", file_uri(WS, "file_1"), workspace=True)
        # a media project that happens to be named like the workspace reads nothing of its data center
        assert not policy.allows(WS, file_uri(WS, "file_1"))


def test_addfile_moves_the_upload_out_of_reach_of_its_lease_and_abandoned_uploads_go(stage: Stage) -> None:
    blobs = stage.service._blobs  # the store under test
    assert blobs is not None
    lease = stage.service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="a.md",
                                             md5=hashlib.md5(TEXT).hexdigest(), size=len(TEXT), endpoint="")
    stage.upload(lease, TEXT)
    file = stage.service.add_file(WS, lease_id=lease.lease_id, parser="DASHSCOPE_DOCMIND", category_id="default",
                                  category_type="UNSTRUCTURED", tags=())
    assert file.storage_key == f"files/{WS}/{file.file_id}"
    assert not _stored(blobs, f"uploads/{WS}/{lease.lease_id}") and blobs.get(file.storage_key) == TEXT
    if isinstance(blobs, S3BlobStore):
        stage.upload(lease, TEXT)  # the presigned URL still works until it expires: it reaches only uploads/
        assert blobs.get(file.storage_key) == TEXT
        catalog = stage.service._catalog
        ttl = catalog._client.describe_time_to_live(TableName="catalog")["TimeToLiveDescription"]
        assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expires", "ENABLED")
        return
    # the local stage drops an expired lease's upload when the workspace next asks for a lease
    abandoned = stage.service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="b.md",
                                                 md5=hashlib.md5(TEXT).hexdigest(), size=len(TEXT), endpoint="")
    stage.upload(abandoned, TEXT)
    stage.clock.now += LEASE_SECONDS + 1
    stage.service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="c.md",
                                     md5=hashlib.md5(TEXT).hexdigest(), size=len(TEXT), endpoint="")
    assert not _stored(blobs, f"uploads/{WS}/{abandoned.lease_id}")
    with pytest.raises(NotFoundError):
        stage.service.receive_upload(WS, abandoned.lease_id, TEXT)
    assert blobs.get(file.storage_key) == TEXT  # files are never swept


def _stored(blobs: Any, key: str) -> bool:
    try:
        blobs.get(key)
    except BlobNotFoundError:
        return False
    return True


def test_local_blob_names_never_become_paths(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    for key in (f"{WS}/lease_1/{'x' * 300}.md", f"{WS}/lease_2/../../escape.md", f"{WS}/lease_3/名字 with spaces.md"):
        store.receive(key, b"data")
        assert store.get(key) == b"data"
    assert sorted(path.parent.parent for path in (tmp_path / "blobs").rglob("*") if path.is_file()) == [
        tmp_path / "blobs"] * 3


def test_a_stage_without_data_center_storage_says_so(tmp_path: Path) -> None:
    service = DataCenterService(SqliteCatalog(tmp_path / "catalog.db"), None)
    with pytest.raises(InternalError, match="SIFT_DATA_CENTER_BUCKET"):
        service.apply_upload_lease(WS, "default", category_type="UNSTRUCTURED", file_name="a.md", md5="0" * 32,
                                   size=1, endpoint="")
