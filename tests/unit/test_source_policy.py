"""The tenant prefix rule (SIFT_TENANT_PREFIXES, on in dev/prod): a tenant reads only source objects under its own
prefix, s3://<bucket>/<WorkspaceId or ProjectName>/ — the gap the cross-tenant tests pin on the local stage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.composition import build_services
from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.services import Services
from chalicelib.core.tenancy import SourcePolicy
from chalicelib.settings import Settings

BUCKET = "shared-docs"


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("s3://shared-docs/ws_a/guide.txt", True),
        ("s3://shared-docs/ws_a/", True),
        ("oss://shared-docs/ws_a/x.jpg", True),
        ("s3://shared-docs/ws_b/guide.txt", False),
        ("s3://shared-docs/ws_ab/guide.txt", False),  # a prefix of the name is not the tenant's folder
        ("s3://shared-docs/ws_a", False),
        ("s3://shared-docs/", False),
        ("file:///ws_a/guide.txt", False),
    ],
)
def test_a_tenant_reads_only_under_its_own_prefix(uri: str, allowed: bool) -> None:
    assert SourcePolicy(tenant_prefixes=True).allows("ws_a", uri) is allowed
    assert SourcePolicy(tenant_prefixes=False).allows("ws_a", uri) is True


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, Any]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for tenant in ("ws_a", "ws_b", "travel", "other"):
            s3.put_object(Bucket=BUCKET, Key=f"{tenant}/guide.txt", Body=f"private guide of {tenant}".encode())
        settings = Settings(data_dir=tmp_path, embedder="hashing", embedding_cache=None, tenant_prefixes=True)
        yield build_services(settings), s3


def test_knowledge_bases_refuse_another_workspaces_prefix(services: tuple[Services, Any]) -> None:
    kbs = services[0].knowledge_bases
    with pytest.raises(InvalidParameterError, match="SourceURI.*ws_b/"):
        kbs.create("ws_b", name="steal", source_uri=f"s3://{BUCKET}/ws_a/")
    own = kbs.create("ws_b", name="own", source_uri=f"s3://{BUCKET}/ws_b/")
    with pytest.raises(InvalidParameterError, match=r"SourceURIs\[0\]"):
        services[0].jobs.submit_job("ws_b", own.index_id, [f"s3://{BUCKET}/ws_a/guide.txt"])
    assert services[0].jobs.submit_job("ws_b", own.index_id, None).status.value == "COMPLETED"
    assert kbs.document_count(own) == 1


def test_datasets_refuse_another_projects_prefix_and_do_not_read_its_content(services: tuple[Services, Any]) -> None:
    media = services[0].media
    media.create_project("other")
    dataset = media.create_dataset("other", "docs")
    with pytest.raises(InvalidParameterError, match="URI.*other/"):
        media.create_binding("other", "docs", f"s3://{BUCKET}/travel/")
    outcome = media.index_files(dataset, [{"URI": f"s3://{BUCKET}/travel/guide.txt"}])[0]
    stored = media.get_file(dataset, f"s3://{BUCKET}/travel/guide.txt")
    assert outcome.status == "FINISH" and "outside the project's prefix" in stored.record.reason
    from chalicelib.core.conversation import Conversation

    files = media.contextual_retrieval(dataset, Conversation((), "private guide of travel"), recall_only=True)
    assert all("private guide" not in element.chunk.text for file in files for element in file.elements)
