"""The catalog contract: every ``Catalog`` implementation passes one suite.

``sqlite`` is the ``local`` stage's catalog on a file in the test's tmp directory; ``dynamodb`` is the AWS stages'
catalog on a fresh moto table per test (created with ``create_table``, so the table definition is under test too).
The SQLite behaviour is the reference. Tests below the contract cover what only DynamoDB has: its items, query
paging, batch retries and error translation (botocore ``Stubber`` validates every stubbed request against the real
DynamoDB service model).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from chalicelib.core.errors import (
    AlreadyExistsError,
    ErrorKind,
    InternalError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.core.ports.catalog import (
    Binding,
    Catalog,
    Category,
    DataCenterFile,
    Dataset,
    HistoryRecord,
    Job,
    JobDocument,
    JobStatus,
    KnowledgeBase,
    Project,
    UploadLease,
)
from chalicelib.store.dynamodb import TABLE_DEFINITION, DynamoDbCatalog, create_table
from chalicelib.store.sqlite import SqliteCatalog

TABLE = "sift-catalog-test"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so no test can reach (or be billed by) a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def boto_session() -> boto3.Session:
    """One session for the module: a new one re-reads the DynamoDB service model on every client."""
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture
def dynamodb(aws_credentials: None, boto_session: boto3.Session) -> Iterator[Any]:
    """A moto DynamoDB client with an empty catalog table."""
    with mock_aws():
        client = boto_session.client("dynamodb")
        create_table(client, TABLE)
        yield client


@pytest.fixture(params=["sqlite", "dynamodb"])
def open_catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Catalog]:
    """Opens a new catalog on the same storage each time it is called."""
    if request.param == "sqlite":
        return lambda: SqliteCatalog(tmp_path / "catalog" / "sift.db")
    client = request.getfixturevalue("dynamodb")
    return lambda: DynamoDbCatalog(client, TABLE)


@pytest.fixture
def catalog(open_catalog: Callable[[], Catalog]) -> Catalog:
    return open_catalog()


def kb(
    index_id: str,
    *,
    workspace: str = "ws1",
    name: str | None = None,
    source_uri: str | None = None,
    created_at: str = "2025-01-01T00:00:00Z",
) -> KnowledgeBase:
    return KnowledgeBase(
        workspace_id=workspace,
        index_id=index_id,
        name=name if name is not None else f"name-{index_id}",
        description="知识库描述",
        source_uri=source_uri,
        chunk_size=500,
        overlap_size=100,
        rerank_model_name="qwen3-rerank-hybrid",
        rerank_min_score=0.2,
        embedding_model="sift/hashing-256",
        created_at=created_at,
    )


def job(job_id: str, *, index_id: str = "kb1", workspace: str = "ws1", status: JobStatus = JobStatus.PENDING) -> Job:
    return Job(
        job_id=job_id, workspace_id=workspace, index_id=index_id, status=status,
        created_at="2025-01-01T00:00:00Z", updated_at="2025-01-01T00:00:00Z",
    )


def history(request_id: str, *, index_id: str = "kb1", workspace: str = "ws1") -> HistoryRecord:
    return HistoryRecord(
        request_id=request_id, workspace_id=workspace, index_id=index_id, query=f"问题 {request_id}",
        rewritten_query=f"rewritten {request_id}", request={"Query": f"问题 {request_id}", "RerankTopN": 5},
        nodes=[{"nid": "doc_1_0", "doc_id": "doc_1", "score": 0.5}], created_at="2025-01-01T00:00:00Z",
    )


def index_ids(kbs: list[KnowledgeBase]) -> list[str]:
    return [item.index_id for item in kbs]


def project(name: str, *, description: str = "媒体项目") -> Project:
    return Project(name=name, description=description, created_at="2025-01-01T00:00:00Z",
                   updated_at="2025-01-01T00:00:00Z")


def dataset(name: str, *, project_name: str = "p1") -> Dataset:
    return Dataset(
        project_name=project_name, name=name, description="数据集", embedding_model="sift/hashing-256",
        created_at="2025-01-01T00:00:00Z", updated_at="2025-01-01T00:00:00Z",
    )


def binding(uri: str, *, dataset_name: str = "ds1", project_name: str = "p1", state: str = "Running") -> Binding:
    return Binding(
        project_name=project_name, dataset_name=dataset_name, uri=uri, state=state,
        created_at="2025-01-01T00:00:00Z", updated_at="2025-01-01T00:00:00Z",
    )


def dataset_names(datasets: list[Dataset]) -> list[str]:
    return [item.name for item in datasets]


def bound(bindings: list[Binding]) -> list[tuple[str, str, str]]:
    return sorted((item.project_name, item.dataset_name, item.uri) for item in bindings)


# --- knowledge bases --------------------------------------------------------------------------------------------------


def test_create_then_get_round_trips(catalog: Catalog) -> None:
    created = kb("kb1", source_uri="s3://bucket/文档/")
    catalog.create_knowledge_base(created)

    assert catalog.get_knowledge_base("ws1", "kb1") == created
    assert catalog.get_knowledge_base("ws1", "missing") is None
    assert catalog.get_knowledge_base("ws2", "kb1") is None


def test_knowledge_bases_survive_a_new_catalog_on_the_same_storage(open_catalog: Callable[[], Catalog]) -> None:
    open_catalog().create_knowledge_base(kb("kb1"))
    assert open_catalog().get_knowledge_base("ws1", "kb1") == kb("kb1")


def test_duplicate_index_id_is_rejected(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="first"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_knowledge_base(kb("kb1", name="second"))

    assert caught.value.kind is ErrorKind.ALREADY_EXISTS
    assert (caught.value.resource, caught.value.name) == ("index", "kb1")
    assert catalog.get_knowledge_base("ws1", "kb1").name == "first"  # type: ignore[union-attr]


def test_duplicate_name_in_a_workspace_is_rejected(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_knowledge_base(kb("kb2", name="docs"))

    assert (caught.value.resource, caught.value.name) == ("index", "docs")
    assert catalog.get_knowledge_base("ws1", "kb2") is None


def test_ids_and_names_are_scoped_to_the_workspace(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs", workspace="ws1"))
    catalog.create_knowledge_base(kb("kb1", name="docs", workspace="ws2"))

    assert catalog.get_knowledge_base("ws2", "kb1") == kb("kb1", name="docs", workspace="ws2")


def test_list_is_scoped_ordered_by_creation_and_paged(catalog: Catalog) -> None:
    for index_id, created_at in [("kb-c", "2025-01-03"), ("kb-a", "2025-01-01"), ("kb-b2", "2025-01-02"),
                                 ("kb-b1", "2025-01-02"), ("kb-d", "2025-01-04")]:
        catalog.create_knowledge_base(kb(index_id, created_at=created_at))
    catalog.create_knowledge_base(kb("other", workspace="ws2"))

    everything, total = catalog.list_knowledge_bases("ws1", name=None, offset=0, limit=100)
    page, page_total = catalog.list_knowledge_bases("ws1", name=None, offset=1, limit=2)
    beyond, beyond_total = catalog.list_knowledge_bases("ws1", name=None, offset=10, limit=2)

    assert index_ids(everything) == ["kb-a", "kb-b1", "kb-b2", "kb-c", "kb-d"]  # ties broken by index id
    assert index_ids(page) == ["kb-b1", "kb-b2"]
    assert beyond == []
    assert total == page_total == beyond_total == 5
    assert catalog.list_knowledge_bases("ws3", name=None, offset=0, limit=10) == ([], 0)


def test_list_filters_by_name_substring(catalog: Catalog) -> None:
    for index_id, name in [("kb1", "product-docs"), ("kb2", "docs-archive"), ("kb3", "faq"), ("kb4", "产品文档")]:
        catalog.create_knowledge_base(kb(index_id, name=name))

    docs, total = catalog.list_knowledge_bases("ws1", name="docs", offset=0, limit=10)
    paged, paged_total = catalog.list_knowledge_bases("ws1", name="docs", offset=1, limit=1)
    chinese, _ = catalog.list_knowledge_bases("ws1", name="文档", offset=0, limit=10)
    upper, _ = catalog.list_knowledge_bases("ws1", name="DOCS", offset=0, limit=10)
    empty_name, empty_total = catalog.list_knowledge_bases("ws1", name="", offset=0, limit=10)

    assert sorted(index_ids(docs)) == ["kb1", "kb2"] and total == 2
    assert len(paged) == 1 and paged_total == 2
    assert index_ids(chinese) == ["kb4"]
    assert upper == []  # pinned: the name filter is case-sensitive
    assert empty_total == 4 and len(empty_name) == 4


def test_list_name_filter_is_literal_not_a_pattern(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="100%_real"))
    catalog.create_knowledge_base(kb("kb2", name="100 real"))

    assert index_ids(catalog.list_knowledge_bases("ws1", name="%_", offset=0, limit=10)[0]) == ["kb1"]


def test_delete_reports_whether_it_existed_and_frees_the_name(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs"))

    assert catalog.delete_knowledge_base("ws1", "kb1") is True
    assert catalog.delete_knowledge_base("ws1", "kb1") is False
    assert catalog.get_knowledge_base("ws1", "kb1") is None
    catalog.create_knowledge_base(kb("kb2", name="docs"))


def test_delete_removes_the_jobs_and_history_of_that_knowledge_base_only(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1"))
    catalog.create_knowledge_base(kb("kb2"))
    catalog.put_job(job("j1", index_id="kb1"))
    catalog.put_job(job("j2", index_id="kb2"))
    catalog.add_history(history("r1", index_id="kb1"))
    catalog.add_history(history("r2", index_id="kb2"))

    catalog.delete_knowledge_base("ws1", "kb1")

    assert catalog.get_job("ws1", "kb1", "j1") is None
    assert catalog.list_history("ws1", "kb1", offset=0, limit=10) == ([], 0)
    assert catalog.get_job("ws1", "kb2", "j2") is not None
    assert catalog.list_history("ws1", "kb2", offset=0, limit=10)[1] == 1


# --- knowledge bases by source URI ------------------------------------------------------------------------------------


def test_knowledge_bases_for_uri_match_by_prefix_across_workspaces(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("docs", workspace="ws1", source_uri="s3://bucket/docs/"))
    catalog.create_knowledge_base(kb("all", workspace="ws2", source_uri="s3://bucket/"))
    catalog.create_knowledge_base(kb("guides", workspace="ws1", source_uri="s3://bucket/docs/guides/"))
    catalog.create_knowledge_base(kb("other", workspace="ws1", source_uri="s3://other-bucket/docs/"))
    catalog.create_knowledge_base(kb("manual", workspace="ws3", source_uri=None))

    def matching(uri: str) -> list[tuple[str, str]]:
        return sorted((item.workspace_id, item.index_id) for item in catalog.knowledge_bases_for_uri(uri))

    assert matching("s3://bucket/docs/guides/setup.pdf") == [("ws1", "docs"), ("ws1", "guides"), ("ws2", "all")]
    assert matching("s3://bucket/docs/readme.md") == [("ws1", "docs"), ("ws2", "all")]
    assert matching("s3://bucket/images/logo.png") == [("ws2", "all")]
    assert matching("s3://other-bucket/docs/a.txt") == [("ws1", "other")]
    assert matching("s3://unknown/docs/a.txt") == []


def test_a_sibling_prefix_does_not_match(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/docs/"))

    assert catalog.knowledge_bases_for_uri("s3://b/docs2/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://b/docs-old/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://b/doc") == []
    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/docs/a.txt")) == ["docs"]


def test_a_source_uri_without_trailing_slash_is_a_raw_prefix(catalog: Catalog) -> None:
    """Pinned (questionable): like S3's ``Prefix``, ``s3://b/docs`` also holds ``s3://b/docs2/…``.

    This is consistent with ``S3Source.list`` (SubmitJob lists with the same raw prefix), but a caller who meant a
    folder gets objects of sibling folders indexed by S3 events.
    """
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/docs"))

    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/docs/a.txt")) == ["docs"]
    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/docs2/a.txt")) == ["docs"]


def test_source_uri_prefix_is_literal_not_a_pattern(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("underscore", source_uri="s3://b/d_cs/"))
    catalog.create_knowledge_base(kb("percent", source_uri="s3://b/%/"))

    assert catalog.knowledge_bases_for_uri("s3://b/docs/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://b/anything/a.txt") == []
    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/d_cs/a.txt")) == ["underscore"]


def test_source_uri_prefix_is_case_sensitive(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/Docs/"))
    assert catalog.knowledge_bases_for_uri("s3://b/docs/a.txt") == []


def test_a_deleted_knowledge_base_no_longer_matches_uris(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/docs/"))
    catalog.delete_knowledge_base("ws1", "docs")
    assert catalog.knowledge_bases_for_uri("s3://b/docs/a.txt") == []


# --- jobs -------------------------------------------------------------------------------------------------------------


def test_job_round_trips_with_its_documents(catalog: Catalog) -> None:
    finished = dataclasses.replace(
        job("j1", status=JobStatus.PARTIAL),
        message="1 个文件失败",
        documents=(
            JobDocument("doc_1", "a.pdf", "FINISH"),
            JobDocument("doc_2", "损坏.docx", "FAILED", "The file is not a valid DOCX"),
        ),
    )
    catalog.put_job(finished)

    stored = catalog.get_job("ws1", "kb1", "j1")

    assert stored == finished
    assert stored is not None and stored.status is JobStatus.PARTIAL
    assert isinstance(stored.documents, tuple)


def test_put_job_replaces_the_previous_state(catalog: Catalog) -> None:
    catalog.put_job(job("j1", status=JobStatus.PENDING))
    catalog.put_job(job("j1", status=JobStatus.RUNNING))
    done = dataclasses.replace(job("j1", status=JobStatus.COMPLETED), documents=(JobDocument("d", "n", "FINISH"),))
    catalog.put_job(done)

    assert catalog.get_job("ws1", "kb1", "j1") == done


def test_jobs_are_scoped_to_workspace_and_index(catalog: Catalog) -> None:
    catalog.put_job(job("j1", index_id="kb1", workspace="ws1"))

    assert catalog.get_job("ws1", "kb1", "missing") is None
    assert catalog.get_job("ws1", "kb2", "j1") is None
    assert catalog.get_job("ws2", "kb1", "j1") is None


# --- history ----------------------------------------------------------------------------------------------------------


def test_history_lists_newest_first_with_paging(catalog: Catalog) -> None:
    for number in range(5):
        catalog.add_history(history(f"r{number}"))
    catalog.add_history(history("elsewhere", index_id="kb2"))

    everything, total = catalog.list_history("ws1", "kb1", offset=0, limit=10)
    page, page_total = catalog.list_history("ws1", "kb1", offset=1, limit=2)
    beyond, _ = catalog.list_history("ws1", "kb1", offset=5, limit=2)

    assert [record.request_id for record in everything] == ["r4", "r3", "r2", "r1", "r0"]
    assert [record.request_id for record in page] == ["r3", "r2"]
    assert beyond == []
    assert total == page_total == 5


def test_history_round_trips_its_record(catalog: Catalog) -> None:
    record = dataclasses.replace(history("r1"), extra={"rerank_model": "qwen3-rerank", "耗时": 12.5})
    catalog.add_history(record)

    (stored,), _ = catalog.list_history("ws1", "kb1", offset=0, limit=1)

    assert stored == record


def test_history_is_scoped_to_workspace_and_index(catalog: Catalog) -> None:
    catalog.add_history(history("r1", workspace="ws1", index_id="kb1"))

    assert catalog.list_history("ws2", "kb1", offset=0, limit=10) == ([], 0)
    assert catalog.list_history("ws1", "kb2", offset=0, limit=10) == ([], 0)


# --- more of the contract ---------------------------------------------------------------------------------------------


def test_floats_and_the_image_index_fields_round_trip(catalog: Catalog) -> None:
    multimodal = dataclasses.replace(
        kb("kb1"), rerank_min_score=0.1 + 0.2, image_embedding_model="amazon.titan-embed-image-v1", image_dimension=1024
    )
    plain = dataclasses.replace(kb("kb2"), rerank_min_score=None)
    catalog.create_knowledge_base(multimodal)
    catalog.create_knowledge_base(plain)

    stored = catalog.get_knowledge_base("ws1", "kb1")
    assert stored == multimodal
    assert stored is not None and stored.rerank_min_score == 0.1 + 0.2 and stored.has_image_index
    assert catalog.get_knowledge_base("ws1", "kb2") == plain
    assert kb("kb3").rerank_min_score == 0.2
    catalog.create_knowledge_base(kb("kb3"))
    listed, _ = catalog.list_knowledge_bases("ws1", name=None, offset=0, limit=10)
    assert listed == [multimodal, plain, kb("kb3")]
    assert [item.image_dimension for item in listed] == [1024, 0, 0]


def test_a_rejected_create_reserves_neither_id_nor_name(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="first"))

    with pytest.raises(AlreadyExistsError):
        catalog.create_knowledge_base(kb("kb1", name="second"))  # id taken: "second" must stay free
    with pytest.raises(AlreadyExistsError):
        catalog.create_knowledge_base(kb("kb2", name="first"))  # name taken: "kb2" must stay free

    catalog.create_knowledge_base(kb("kb2", name="second"))
    assert catalog.list_knowledge_bases("ws1", name=None, offset=0, limit=10)[1] == 2


def test_a_taken_index_id_is_reported_before_a_taken_name(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs"))
    catalog.create_knowledge_base(kb("kb2", name="faq"))

    with pytest.raises(AlreadyExistsError) as same:
        catalog.create_knowledge_base(kb("kb1", name="docs"))
    with pytest.raises(AlreadyExistsError) as crossed:
        catalog.create_knowledge_base(kb("kb1", name="faq"))

    assert same.value.name == crossed.value.name == "kb1"


def test_delete_frees_the_index_id_and_the_old_name_is_not_kept(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs"))
    catalog.delete_knowledge_base("ws1", "kb1")

    catalog.create_knowledge_base(kb("kb1", name="renamed"))
    catalog.create_knowledge_base(kb("kb2", name="docs"))

    assert catalog.get_knowledge_base("ws1", "kb1") == kb("kb1", name="renamed")


def test_delete_removes_many_jobs_and_history_records(catalog: Catalog) -> None:
    """More children than one ``BatchWriteItem`` (25) takes, next to a knowledge base that must keep its own."""
    catalog.create_knowledge_base(kb("kb1"))
    catalog.create_knowledge_base(kb("kb2"))
    for number in range(30):
        catalog.put_job(job(f"j{number:02d}", index_id="kb1"))
        catalog.add_history(history(f"r{number:02d}", index_id="kb1"))
    catalog.put_job(job("keep", index_id="kb2"))
    catalog.add_history(history("keep", index_id="kb2"))

    assert catalog.delete_knowledge_base("ws1", "kb1") is True

    assert catalog.list_history("ws1", "kb1", offset=0, limit=100) == ([], 0)
    assert all(catalog.get_job("ws1", "kb1", f"j{number:02d}") is None for number in range(30))
    assert catalog.get_job("ws1", "kb2", "keep") is not None
    assert [record.request_id for record in catalog.list_history("ws1", "kb2", offset=0, limit=10)[0]] == ["keep"]
    assert index_ids(catalog.list_knowledge_bases("ws1", name=None, offset=0, limit=10)[0]) == ["kb2"]


def test_delete_of_a_missing_knowledge_base_still_removes_its_orphaned_jobs_and_history(catalog: Catalog) -> None:
    catalog.put_job(job("j1", index_id="gone"))
    catalog.add_history(history("r1", index_id="gone"))

    assert catalog.delete_knowledge_base("ws1", "gone") is False

    assert catalog.get_job("ws1", "gone", "j1") is None
    assert catalog.list_history("ws1", "gone", offset=0, limit=10) == ([], 0)


def test_history_keeps_insertion_order_whatever_created_at_says(catalog: Catalog) -> None:
    """Records created in the same instant (same ``created_at``) or with clocks out of step: newest insert first."""
    stamps = ["2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z", "", "2025-01-01T00:00:00Z"]
    for number, stamp in enumerate(stamps):
        catalog.add_history(dataclasses.replace(history(f"r{number}"), created_at=stamp))
    for number in range(4, 40):
        catalog.add_history(history(f"r{number}"))

    records, total = catalog.list_history("ws1", "kb1", offset=0, limit=100)

    assert [record.request_id for record in records] == [f"r{number}" for number in reversed(range(40))]
    assert total == 40


def test_history_paging_walks_every_record_once(catalog: Catalog) -> None:
    for number in range(23):
        catalog.add_history(history(f"r{number:02d}"))

    pages = [catalog.list_history("ws1", "kb1", offset=offset, limit=5) for offset in range(0, 25, 5)]

    assert [total for _, total in pages] == [23] * 5
    assert [len(records) for records, _ in pages] == [5, 5, 5, 5, 3]
    walked = [record.request_id for records, _ in pages for record in records]
    assert walked == [f"r{number:02d}" for number in reversed(range(23))]
    assert catalog.list_history("ws1", "kb1", offset=22, limit=5)[0][0].request_id == "r00"
    assert catalog.list_history("ws1", "kb1", offset=0, limit=0) == ([], 23)


def test_knowledge_base_paging_with_a_name_filter_walks_every_match_once(catalog: Catalog) -> None:
    for number in range(12):
        name = f"docs-{number:02d}" if number % 3 else f"faq-{number:02d}"
        catalog.create_knowledge_base(kb(f"kb{number:02d}", name=name, created_at=f"2025-01-{12 - number:02d}"))

    pages = [catalog.list_knowledge_bases("ws1", name="docs", offset=offset, limit=3) for offset in (0, 3, 6, 9)]

    assert [total for _, total in pages] == [8] * 4
    walked = [item.index_id for items, _ in pages for item in items]
    assert walked == ["kb11", "kb10", "kb08", "kb07", "kb05", "kb04", "kb02", "kb01"]  # oldest first


def test_ids_containing_the_key_separator_do_not_collide(catalog: Catalog) -> None:
    catalog.put_job(job("j", workspace="a#b", index_id="c"))
    catalog.put_job(dataclasses.replace(job("j", workspace="a", index_id="b#c"), message="other"))
    catalog.add_history(history("r1", workspace="a#b", index_id="c"))
    catalog.create_knowledge_base(kb("c", workspace="a#b", name="x"))
    catalog.create_knowledge_base(kb("b#c", workspace="a", name="x"))

    assert catalog.get_job("a#b", "c", "j") == job("j", workspace="a#b", index_id="c")
    assert catalog.get_job("a", "b#c", "j") == dataclasses.replace(job("j", workspace="a", index_id="b#c"), message="other")
    assert catalog.list_history("a", "b#c", offset=0, limit=10) == ([], 0)
    assert catalog.list_knowledge_bases("a", name=None, offset=0, limit=10)[1] == 1


def test_a_source_uri_longer_than_a_dynamodb_sort_key_still_matches_exactly(catalog: Catalog) -> None:
    deep = "s3://bucket/" + "长目录/" * 400  # ~4000 UTF-8 bytes, far over DynamoDB's 1024-byte sort key limit
    catalog.create_knowledge_base(kb("deep", source_uri=deep))
    catalog.create_knowledge_base(kb("deeper", source_uri=deep + "more/"))

    assert index_ids(catalog.knowledge_bases_for_uri(deep + "a.txt")) == ["deep"]
    assert sorted(index_ids(catalog.knowledge_bases_for_uri(deep + "more/a.txt"))) == ["deep", "deeper"]
    assert catalog.knowledge_bases_for_uri(deep[:-1] + "x/a.txt") == []


def test_an_empty_source_uri_holds_every_uri(catalog: Catalog) -> None:
    """The catalog takes ``""`` as the raw prefix it is; the API refuses an empty SourceURI (tests/api/test_errors_api)."""
    catalog.create_knowledge_base(kb("everything", source_uri=""))

    assert index_ids(catalog.knowledge_bases_for_uri("s3://any-bucket/any/key.txt")) == ["everything"]


# --- media: projects ---------------------------------------------------------------------------------------------------


def test_project_create_then_get_round_trips(catalog: Catalog) -> None:
    catalog.create_project(project("p1"))

    assert catalog.get_project("p1") == project("p1")
    assert catalog.get_project("missing") is None


def test_duplicate_project_is_rejected_and_the_first_is_kept(catalog: Catalog) -> None:
    catalog.create_project(project("p1", description="first"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_project(project("p1", description="second"))

    assert caught.value.kind is ErrorKind.ALREADY_EXISTS
    assert (caught.value.resource, caught.value.name) == ("project", "p1")
    assert catalog.get_project("p1") == project("p1", description="first")


def test_media_records_survive_a_new_catalog_on_the_same_storage(open_catalog: Callable[[], Catalog]) -> None:
    first = open_catalog()
    first.create_project(project("p1"))
    first.create_dataset(dataset("ds1"))
    first.create_binding(binding("s3://b/media/"))

    second = open_catalog()
    assert second.get_project("p1") == project("p1")
    assert second.get_dataset("p1", "ds1") == dataset("ds1")
    assert second.get_binding("p1", "ds1", "s3://b/media/") == binding("s3://b/media/")


# --- media: datasets ---------------------------------------------------------------------------------------------------


def test_datasets_are_scoped_to_their_project(catalog: Catalog) -> None:
    catalog.create_dataset(dataset("ds1", project_name="p1"))
    catalog.create_dataset(dataset("ds1", project_name="p2"))  # the same name in another project is fine

    assert catalog.get_dataset("p1", "ds1") == dataset("ds1", project_name="p1")
    assert catalog.get_dataset("p2", "ds1") == dataset("ds1", project_name="p2")
    assert catalog.get_dataset("p3", "ds1") is None
    assert catalog.get_dataset("p1", "missing") is None


def test_duplicate_dataset_in_a_project_is_rejected_and_the_first_is_kept(catalog: Catalog) -> None:
    catalog.create_dataset(dataset("ds1"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_dataset(dataclasses.replace(dataset("ds1"), description="second"))

    assert (caught.value.resource, caught.value.name) == ("dataset", "ds1")
    assert catalog.get_dataset("p1", "ds1") == dataset("ds1")


def test_dataset_image_index_fields_round_trip(catalog: Catalog) -> None:
    multimodal = dataclasses.replace(
        dataset("images"), image_embedding_model="amazon.titan-embed-image-v1", image_dimension=1024
    )
    catalog.create_dataset(multimodal)
    catalog.create_dataset(dataset("text"))

    stored = catalog.get_dataset("p1", "images")
    assert stored == multimodal and stored is not None and stored.has_image_index
    assert stored.collection == "ds:p1:images"
    plain = catalog.get_dataset("p1", "text")
    assert plain == dataset("text") and plain is not None and not plain.has_image_index
    assert catalog.list_datasets("p1", prefix=None, offset=0, limit=10)[0] == [multimodal, dataset("text")]


def test_list_datasets_is_scoped_ordered_by_name_and_paged(catalog: Catalog) -> None:
    names = ["b", "a", "Z", "数据", "a-1", "a_1", "a1", "ab", "é"]
    for name in names:
        catalog.create_dataset(dataset(name))
    catalog.create_dataset(dataset("a0", project_name="p2"))
    catalog.create_project(project("p1"))
    catalog.create_binding(binding("s3://b/", dataset_name="a"))  # neither is a dataset of p1

    everything, total = catalog.list_datasets("p1", prefix=None, offset=0, limit=100)
    page, page_total = catalog.list_datasets("p1", prefix=None, offset=2, limit=3)
    beyond, beyond_total = catalog.list_datasets("p1", prefix=None, offset=20, limit=3)
    none, none_total = catalog.list_datasets("p1", prefix=None, offset=0, limit=0)

    # code point order (= UTF-8 byte order): upper case before lower case, "-" < "1" < "_" < "b", CJK last
    assert dataset_names(everything) == sorted(names) == ["Z", "a", "a-1", "a1", "a_1", "ab", "b", "é", "数据"]
    assert dataset_names(page) == ["a-1", "a1", "a_1"]
    assert beyond == [] and none == []
    assert total == page_total == beyond_total == none_total == len(names)
    assert catalog.list_datasets("p3", prefix=None, offset=0, limit=10) == ([], 0)


def test_list_datasets_prefix_is_a_case_sensitive_prefix_not_a_substring(catalog: Catalog) -> None:
    for name in ["photos", "photos-2024", "old-photos", "Photos", "videos", "照片-1", "照片"]:
        catalog.create_dataset(dataset(name))

    def listed(prefix: str | None) -> tuple[list[str], int]:
        datasets, total = catalog.list_datasets("p1", prefix=prefix, offset=0, limit=100)
        return dataset_names(datasets), total

    assert listed("photo") == (["photos", "photos-2024"], 2)  # "old-photos" holds it, but does not start with it
    assert listed("Photo") == (["Photos"], 1)
    assert listed("照片") == (["照片", "照片-1"], 2)
    assert listed("photos-2024-x") == ([], 0)
    assert listed("")[1] == listed(None)[1] == 7
    assert catalog.list_datasets("p1", prefix="photo", offset=1, limit=5) == ([dataset("photos-2024")], 2)


def test_list_datasets_prefix_is_literal_not_a_pattern(catalog: Catalog) -> None:
    for name in ["100%_real", "100%x", "100 real", "1000", "x100%", "_a", "%b"]:
        catalog.create_dataset(dataset(name))

    def listed(prefix: str) -> list[str]:
        return dataset_names(catalog.list_datasets("p1", prefix=prefix, offset=0, limit=100)[0])

    assert listed("100%") == ["100%_real", "100%x"]
    assert listed("100%_") == ["100%_real"]
    assert listed("_") == ["_a"]
    assert listed("%") == ["%b"]
    assert listed("10_") == []


def test_list_datasets_paging_with_a_prefix_walks_every_match_once(catalog: Catalog) -> None:
    for number in range(14):
        catalog.create_dataset(dataset(f"ds-{number:02d}" if number % 4 else f"other-{number:02d}"))

    pages = [catalog.list_datasets("p1", prefix="ds-", offset=offset, limit=4) for offset in (0, 4, 8, 12)]

    assert [total for _, total in pages] == [10] * 4
    walked = [item.name for items, _ in pages for item in items]
    assert walked == [f"ds-{number:02d}" for number in range(14) if number % 4]


# --- media: bindings ---------------------------------------------------------------------------------------------------


def test_binding_create_get_and_put_round_trip(catalog: Catalog) -> None:
    created = binding("s3://bucket/图片/")
    catalog.create_binding(created)

    assert catalog.get_binding("p1", "ds1", "s3://bucket/图片/") == created
    assert catalog.get_binding("p1", "ds1", "s3://bucket/") is None
    assert catalog.get_binding("p1", "ds2", "s3://bucket/图片/") is None
    assert catalog.get_binding("p2", "ds1", "s3://bucket/图片/") is None

    failed = dataclasses.replace(
        created, state="Failed", reason="AccessDenied: s3:ListBucket", updated_at="2025-01-02T00:00:00Z"
    )
    catalog.put_binding(failed)

    assert catalog.get_binding("p1", "ds1", "s3://bucket/图片/") == failed
    assert catalog.bindings_for_uri("s3://bucket/图片/a.jpg") == [failed]  # still found by URI, in its new state


def test_put_binding_inserts_a_missing_binding(catalog: Catalog) -> None:
    """Pinned: ``put_binding`` is an upsert in both catalogs (see their docstrings)."""
    catalog.put_binding(binding("s3://b/new/", state="Failed"))

    assert catalog.get_binding("p1", "ds1", "s3://b/new/") == binding("s3://b/new/", state="Failed")
    assert catalog.bindings_for_uri("s3://b/new/x") == [binding("s3://b/new/", state="Failed")]


def test_duplicate_binding_is_rejected_and_the_first_is_kept(catalog: Catalog) -> None:
    catalog.create_binding(binding("s3://b/media/"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_binding(binding("s3://b/media/", state="Failed"))

    assert (caught.value.resource, caught.value.name) == ("binding", "s3://b/media/")
    assert catalog.get_binding("p1", "ds1", "s3://b/media/") == binding("s3://b/media/")
    catalog.create_binding(binding("s3://b/media/", dataset_name="ds2"))  # another dataset may bind the same URI
    catalog.create_binding(binding("s3://b/media/", project_name="p2"))
    assert len(catalog.bindings_for_uri("s3://b/media/a.jpg")) == 3


def test_bindings_for_uri_match_by_prefix_across_projects(catalog: Catalog) -> None:
    catalog.create_binding(binding("s3://bucket/media/", project_name="p1", dataset_name="media"))
    catalog.create_binding(binding("s3://bucket/", project_name="p2", dataset_name="all"))
    catalog.create_binding(binding("s3://bucket/media/photos/", project_name="p1", dataset_name="photos"))
    catalog.create_binding(binding("s3://other/media/", project_name="p1", dataset_name="other"))

    assert bound(catalog.bindings_for_uri("s3://bucket/media/photos/a.jpg")) == [
        ("p1", "media", "s3://bucket/media/"),
        ("p1", "photos", "s3://bucket/media/photos/"),
        ("p2", "all", "s3://bucket/"),
    ]
    assert bound(catalog.bindings_for_uri("s3://bucket/media/b.mp4")) == [
        ("p1", "media", "s3://bucket/media/"), ("p2", "all", "s3://bucket/"),
    ]
    assert bound(catalog.bindings_for_uri("s3://bucket/docs/c.pdf")) == [("p2", "all", "s3://bucket/")]
    assert bound(catalog.bindings_for_uri("s3://other/media/d.png")) == [("p1", "other", "s3://other/media/")]
    assert catalog.bindings_for_uri("s3://unknown/media/a.jpg") == []
    assert catalog.bindings_for_uri("s3://bucket") == []  # shorter than every binding


def test_binding_uri_prefix_is_raw_literal_and_case_sensitive(catalog: Catalog) -> None:
    catalog.create_binding(binding("s3://b/media", dataset_name="raw"))
    catalog.create_binding(binding("s3://b/m_dia/", dataset_name="underscore"))
    catalog.create_binding(binding("s3://b/%/", dataset_name="percent"))
    catalog.create_binding(binding("s3://b/Photos/", dataset_name="upper"))

    def datasets_for(uri: str) -> list[str]:
        return sorted(item.dataset_name for item in catalog.bindings_for_uri(uri))

    assert datasets_for("s3://b/media/a.jpg") == ["raw"]
    assert datasets_for("s3://b/media2/a.jpg") == ["raw"]  # like S3's Prefix, no folder boundary
    assert datasets_for("s3://b/mxdia/a.jpg") == []
    assert datasets_for("s3://b/m_dia/a.jpg") == ["underscore"]
    assert datasets_for("s3://b/anything/a.jpg") == []
    assert datasets_for("s3://b/%/a.jpg") == ["percent"]
    assert datasets_for("s3://b/photos/a.jpg") == []


def test_knowledge_bases_and_bindings_never_see_each_other(catalog: Catalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://shared/"))
    catalog.create_binding(binding("s3://shared/"))
    catalog.create_knowledge_base(kb("kb-only", source_uri="s3://kb-only/"))
    catalog.create_binding(binding("s3://binding-only/"))

    assert index_ids(catalog.knowledge_bases_for_uri("s3://shared/a.jpg")) == ["docs"]
    assert catalog.bindings_for_uri("s3://shared/a.jpg") == [binding("s3://shared/")]
    assert catalog.bindings_for_uri("s3://kb-only/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://binding-only/a.jpg") == []
    catalog.delete_knowledge_base("ws1", "docs")
    assert catalog.bindings_for_uri("s3://shared/a.jpg") == [binding("s3://shared/")]


def test_a_binding_uri_longer_than_a_dynamodb_sort_key_keeps_its_identity(catalog: Catalog) -> None:
    deep = "s3://bucket/" + "长目录/" * 400  # ~4000 UTF-8 bytes; the two URIs share their first 4000 bytes
    catalog.create_binding(binding(deep, dataset_name="deep"))
    catalog.create_binding(binding(deep + "more/", dataset_name="deep"))

    assert catalog.get_binding("p1", "deep", deep) == binding(deep, dataset_name="deep")
    assert catalog.get_binding("p1", "deep", deep + "more/") == binding(deep + "more/", dataset_name="deep")
    assert catalog.get_binding("p1", "deep", deep + "other/") is None
    with pytest.raises(AlreadyExistsError):
        catalog.create_binding(binding(deep, dataset_name="deep", state="Failed"))
    assert [item.uri for item in catalog.bindings_for_uri(deep + "a.jpg")] == [deep]
    assert sorted(item.uri for item in catalog.bindings_for_uri(deep + "more/a.jpg")) == [deep, deep + "more/"]
    assert catalog.bindings_for_uri(deep[:-1] + "x/a.jpg") == []


def test_media_names_containing_the_key_separator_do_not_collide(catalog: Catalog) -> None:
    catalog.create_project(project("a#b"))
    catalog.create_project(project("a"))
    catalog.create_dataset(dataset("c", project_name="a#b"))
    catalog.create_dataset(dataset("b#c", project_name="a"))
    catalog.create_binding(binding("z", project_name="p", dataset_name="x#y"))
    catalog.create_binding(binding("y#z", project_name="p", dataset_name="x"))
    catalog.create_binding(binding("z", project_name="p", dataset_name="x%23y"))
    catalog.create_binding(binding("z", project_name="p", dataset_name="x#URI#y"))
    catalog.create_binding(binding("y#URI#z", project_name="p", dataset_name="x"))  # unescaped: x#URI#y + z

    assert catalog.get_project("a#b") == project("a#b") and catalog.get_project("a") == project("a")
    assert catalog.get_dataset("a", "b#c") == dataset("b#c", project_name="a")
    assert catalog.get_dataset("a#b", "b#c") is None
    assert dataset_names(catalog.list_datasets("a", prefix=None, offset=0, limit=10)[0]) == ["b#c"]
    assert dataset_names(catalog.list_datasets("a#b", prefix=None, offset=0, limit=10)[0]) == ["c"]
    assert catalog.get_binding("p", "x", "z") is None
    assert catalog.get_binding("p", "x", "y#z") == binding("y#z", project_name="p", dataset_name="x")
    assert catalog.get_binding("p", "x%23y", "z") == binding("z", project_name="p", dataset_name="x%23y")
    assert catalog.get_binding("p", "x#URI#y", "z") == binding("z", project_name="p", dataset_name="x#URI#y")
    assert catalog.get_binding("p", "x", "y#URI#z") == binding("y#URI#z", project_name="p", dataset_name="x")
    assert len(catalog.bindings_for_uri("z")) == 3 and len(catalog.bindings_for_uri("y#z")) == 1


# --- SQLite: schema ---------------------------------------------------------------------------------------------------


def test_an_existing_sqlite_database_gains_the_media_tables(tmp_path: Path) -> None:
    """A database written before the media tables existed opens, keeps its rows and takes media records."""
    path = tmp_path / "sift.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE knowledge_bases (workspace_id TEXT NOT NULL, index_id TEXT NOT NULL, name TEXT NOT NULL, "
        "body TEXT NOT NULL, source_uri TEXT, created_at TEXT NOT NULL, PRIMARY KEY (workspace_id, index_id), "
        "UNIQUE (workspace_id, name));"
    )
    old.execute(
        "INSERT INTO knowledge_bases VALUES (?, ?, ?, ?, ?, ?)",
        ("ws1", "kb1", "name-kb1", json.dumps(dataclasses.asdict(kb("kb1"))), None, "2025-01-01T00:00:00Z"),
    )
    old.commit()
    old.close()

    catalog = SqliteCatalog(path)
    catalog.create_project(project("p1"))
    catalog.create_dataset(dataset("ds1"))
    catalog.create_binding(binding("s3://b/"))

    assert catalog.get_knowledge_base("ws1", "kb1") == kb("kb1")
    assert catalog.list_datasets("p1", prefix=None, offset=0, limit=10) == ([dataset("ds1")], 1)
    assert SqliteCatalog(path).bindings_for_uri("s3://b/a.jpg") == [binding("s3://b/")]


# --- DynamoDB: items and paging -----------------------------------------------------------------------------------------


def all_items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        items.extend(page["Items"])
    return items


def test_table_definition_is_a_plain_json_dict_left_untouched_by_create_table(dynamodb: Any) -> None:
    before = json.dumps(TABLE_DEFINITION, sort_keys=True)

    create_table(dynamodb, "another-table")

    assert json.dumps(TABLE_DEFINITION, sort_keys=True) == before
    table = dynamodb.describe_table(TableName="another-table")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["gsi1"]


def test_a_knowledge_base_is_two_items_and_delete_leaves_no_item_of_it(dynamodb: Any) -> None:
    catalog = DynamoDbCatalog(dynamodb, TABLE)
    catalog.create_knowledge_base(kb("kb1", name="docs", source_uri="s3://b/docs/"))
    catalog.create_knowledge_base(kb("kb2", name="faq"))
    for number in range(27):
        catalog.put_job(job(f"j{number}", index_id="kb1"))
        catalog.add_history(history(f"r{number}", index_id="kb1"))
    catalog.add_history(history("keep", index_id="kb2"))

    kb1 = {(item["pk"]["S"], item["sk"]["S"]) for item in all_items(dynamodb) if "kb1" in json.dumps(item)}
    assert ("WS#ws1", "KB#kb1") in kb1 and ("WS#ws1", "NAME#docs") in kb1 and len(kb1) == 2 + 27 + 27

    catalog.delete_knowledge_base("ws1", "kb1")

    remaining = sorted((item["pk"]["S"], item["sk"]["S"].split("#")[0]) for item in all_items(dynamodb))
    assert remaining == [("IDX#ws1#kb2", "HIST"), ("WS#ws1", "KB"), ("WS#ws1", "NAME")]


def test_only_knowledge_bases_with_a_source_uri_are_in_the_index(dynamodb: Any) -> None:
    catalog = DynamoDbCatalog(dynamodb, TABLE)
    catalog.create_knowledge_base(kb("with", source_uri="s3://b/"))
    catalog.create_knowledge_base(kb("without"))

    indexed = dynamodb.scan(TableName=TABLE, IndexName="gsi1")["Items"]

    assert [item["sk"]["S"] for item in indexed] == ["KB#with"]


def test_history_recorded_in_the_same_nanosecond_keeps_insertion_order(dynamodb: Any) -> None:
    """A frozen (or stepping-back) clock: the sort key is still strictly increasing per catalog."""
    readings = iter([5_000, 5_000, 5_000, 4_000, 5_000, 5_000])
    catalog = DynamoDbCatalog(dynamodb, TABLE, clock=lambda: next(readings))
    for number in range(6):
        catalog.add_history(history(f"r{number}"))

    records, total = catalog.list_history("ws1", "kb1", offset=0, limit=10)

    assert [record.request_id for record in records] == ["r5", "r4", "r3", "r2", "r1", "r0"] and total == 6
    keys = sorted(item["sk"]["S"] for item in all_items(dynamodb))
    assert [key.split("#")[1] for key in keys] == [f"{ns:020d}" for ns in range(5_000, 5_006)]


def test_answers_are_the_same_when_every_query_is_split_into_pages_of_two(dynamodb: Any) -> None:
    whole = DynamoDbCatalog(dynamodb, TABLE)
    paged = DynamoDbCatalog(dynamodb, TABLE, query_limit=2)
    for number in range(7):
        whole.create_knowledge_base(
            kb(f"kb{number}", name=f"docs-{number}", created_at=f"2025-01-0{7 - number}", source_uri="s3://b/")
        )
    for number in range(9):
        whole.add_history(history(f"r{number}"))
        whole.put_job(job(f"j{number}", index_id="kb0"))

    for offset, limit in [(0, 100), (0, 3), (2, 3), (7, 4), (8, 5), (20, 1)]:
        assert paged.list_history("ws1", "kb1", offset=offset, limit=limit) == whole.list_history(
            "ws1", "kb1", offset=offset, limit=limit
        )
        assert paged.list_knowledge_bases("ws1", name="docs", offset=offset, limit=limit) == whole.list_knowledge_bases(
            "ws1", name="docs", offset=offset, limit=limit
        )
    assert len(paged.knowledge_bases_for_uri("s3://b/x")) == 7
    assert paged.delete_knowledge_base("ws1", "kb0") is True
    assert paged.delete_knowledge_base("ws1", "kb1") is True
    assert sorted(item["sk"]["S"] for item in all_items(dynamodb) if item["pk"]["S"].startswith("IDX#")) == []


def test_media_items_share_the_project_partition_and_bindings_have_their_own_gsi_partition(dynamodb: Any) -> None:
    catalog = DynamoDbCatalog(dynamodb, TABLE)
    catalog.create_project(project("p1"))
    catalog.create_dataset(dataset("ds1"))
    catalog.create_binding(binding("s3://b/media/"))
    catalog.create_binding(binding("s3://b/" + "x" * 1100))
    catalog.create_knowledge_base(kb("kb1", source_uri="s3://b/media/"))

    keys = sorted((item["pk"]["S"], item["sk"]["S"][:40]) for item in all_items(dynamodb))
    digest = hashlib.sha256(("s3://b/" + "x" * 1100).encode()).hexdigest()
    assert keys == [
        ("PRJ#p1", "BIND#ds1#SHA256#" + digest[:24]),
        ("PRJ#p1", "BIND#ds1#URI#s3://b/media/"),
        ("PRJ#p1", "DS#ds1"),
        ("PRJ#p1", "PROJECT"),
        ("WS#ws1", "KB#kb1"),
        ("WS#ws1", "NAME#name-kb1"),
    ]
    indexed = dynamodb.scan(TableName=TABLE, IndexName="gsi1")["Items"]
    assert sorted((item["gsi1pk"]["S"], item["sk"]["S"][:30]) for item in indexed) == [
        ("BINDING", "BIND#ds1#SHA256#" + digest[:14]),
        ("BINDING", "BIND#ds1#URI#s3://b/media/"),
        ("SOURCE", "KB#kb1"),
    ]


def test_media_answers_are_the_same_when_every_query_is_split_into_pages_of_two(dynamodb: Any) -> None:
    whole = DynamoDbCatalog(dynamodb, TABLE)
    paged = DynamoDbCatalog(dynamodb, TABLE, query_limit=2)
    for number in range(7):
        whole.create_dataset(dataset(f"ds-{number}" if number % 3 else f"x-{number}"))
        whole.create_binding(binding(f"s3://b/{number}/", dataset_name=f"ds-{number}"))
        whole.create_binding(binding("s3://b/", project_name=f"p{number}"))

    for prefix in (None, "ds-"):
        for offset, limit in [(0, 100), (0, 3), (2, 3), (4, 4), (20, 1)]:
            assert paged.list_datasets("p1", prefix=prefix, offset=offset, limit=limit) == whole.list_datasets(
                "p1", prefix=prefix, offset=offset, limit=limit
            )
    assert len(paged.bindings_for_uri("s3://b/3/a.jpg")) == 8
    assert bound(paged.bindings_for_uri("s3://b/3/a.jpg")) == bound(whole.bindings_for_uri("s3://b/3/a.jpg"))


def test_query_limit_must_be_positive(dynamodb: Any) -> None:
    with pytest.raises(ValueError):
        DynamoDbCatalog(dynamodb, TABLE, query_limit=0)


# --- DynamoDB: errors -------------------------------------------------------------------------------------------------


@pytest.fixture
def stubbed(boto_session: boto3.Session) -> Iterator[tuple[DynamoDbCatalog, Stubber, list[float]]]:
    """A catalog on a stubbed client (no network, no moto); the third item records the catalog's sleeps."""
    client = boto_session.client("dynamodb")
    sleeps: list[float] = []
    with Stubber(client) as stub:
        yield DynamoDbCatalog(client, TABLE, sleep=sleeps.append), stub, sleeps
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
def test_throttling_becomes_a_throttling_error(
    stubbed: tuple[DynamoDbCatalog, Stubber, list[float]], code: str
) -> None:
    catalog, stub, _ = stubbed
    stub.add_client_error("get_item", code, "Rate exceeded", 400)
    stub.add_client_error("query", code, "Rate exceeded", 400)
    stub.add_client_error("put_item", code, "Rate exceeded", 400)

    for call in (
        lambda: catalog.get_knowledge_base("ws1", "kb1"),
        lambda: catalog.list_history("ws1", "kb1", offset=0, limit=10),
        lambda: catalog.put_job(job("j1")),
    ):
        with pytest.raises(ThrottlingError) as caught:
            call()
        assert caught.value.kind is ErrorKind.THROTTLING
        assert isinstance(caught.value.__cause__, ClientError)


def test_a_transaction_conflict_on_create_is_retryable_throttling(
    stubbed: tuple[DynamoDbCatalog, Stubber, list[float]],
) -> None:
    catalog, stub, _ = stubbed
    stub.add_client_error(
        "transact_write_items", "TransactionCanceledException", "Transaction cancelled", 400,
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
    )

    with pytest.raises(ThrottlingError):
        catalog.create_knowledge_base(kb("kb1"))


def test_cancellation_reasons_say_which_rule_was_broken(stubbed: tuple[DynamoDbCatalog, Stubber, list[float]]) -> None:
    catalog, stub, _ = stubbed
    stub.add_client_error(
        "transact_write_items", "TransactionCanceledException", "Transaction cancelled", 400,
        modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]},
    )
    stub.add_client_error(
        "transact_write_items", "TransactionCanceledException", "Transaction cancelled", 400,
        modeled_fields={"CancellationReasons": [{"Code": "ValidationError"}, {"Code": "None"}]},
    )

    with pytest.raises(AlreadyExistsError) as taken:
        catalog.create_knowledge_base(kb("kb1", name="docs"))
    with pytest.raises(InternalError) as invalid:
        catalog.create_knowledge_base(kb("kb1", name="docs"))

    assert (taken.value.resource, taken.value.name) == ("index", "docs")
    assert isinstance(taken.value.__cause__.__cause__, ClientError)  # type: ignore[union-attr]
    assert "ValidationError" in invalid.value.message


def test_a_failed_create_condition_is_already_exists_and_other_failures_are_not(
    stubbed: tuple[DynamoDbCatalog, Stubber, list[float]],
) -> None:
    catalog, stub, _ = stubbed
    stub.add_client_error("put_item", "ConditionalCheckFailedException", "The conditional request failed", 400)
    stub.add_client_error("put_item", "ProvisionedThroughputExceededException", "Rate exceeded", 400)
    stub.add_client_error("put_item", "ValidationException", "Item size has exceeded the maximum", 400)

    with pytest.raises(AlreadyExistsError) as taken:
        catalog.create_dataset(dataset("ds1"))
    with pytest.raises(ThrottlingError):
        catalog.create_project(project("p1"))
    with pytest.raises(InternalError) as invalid:
        catalog.create_binding(binding("s3://b/"))

    assert (taken.value.resource, taken.value.name) == ("dataset", "ds1")
    assert isinstance(taken.value.__cause__.__cause__, ClientError)  # type: ignore[union-attr]
    assert "ValidationException" in invalid.value.message


def test_other_client_errors_become_internal_errors(stubbed: tuple[DynamoDbCatalog, Stubber, list[float]]) -> None:
    catalog, stub, _ = stubbed
    stub.add_client_error("get_item", "AccessDeniedException", "not authorized to perform dynamodb:GetItem", 400)

    with pytest.raises(InternalError) as caught:
        catalog.get_job("ws1", "kb1", "j1")

    assert "AccessDeniedException" in caught.value.message and "dynamodb:GetItem" in caught.value.message
    assert isinstance(caught.value.__cause__, ClientError)


def test_a_timeout_becomes_service_unavailable() -> None:
    class TimingOut:
        def get_item(self, **_: Any) -> dict[str, Any]:
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    with pytest.raises(ServiceUnavailableError) as caught:
        DynamoDbCatalog(TimingOut(), TABLE).get_knowledge_base("ws1", "kb1")

    assert isinstance(caught.value.__cause__, ReadTimeoutError)


def _kb_item() -> dict[str, Any]:
    body = json.dumps(dataclasses.asdict(kb("kb1", name="docs")))
    return {"pk": {"S": "WS#ws1"}, "sk": {"S": "KB#kb1"}, "body": {"S": body}}


def _delete_requests(*sks: str) -> list[dict[str, Any]]:
    return [{"DeleteRequest": {"Key": {"pk": {"S": "IDX#ws1#kb1"}, "sk": {"S": sk}}}} for sk in sks]


def test_unprocessed_batch_deletes_are_retried_with_backoff(
    stubbed: tuple[DynamoDbCatalog, Stubber, list[float]],
) -> None:
    catalog, stub, sleeps = stubbed
    keys = [{"pk": {"S": "IDX#ws1#kb1"}, "sk": {"S": sk}} for sk in ("JOB#j1", "JOB#j2")]
    stub.add_response("get_item", {"Item": _kb_item()})
    stub.add_response("transact_write_items", {})
    stub.add_response("query", {"Items": keys, "Count": 2})
    stub.add_response(
        "batch_write_item", {"UnprocessedItems": {TABLE: _delete_requests("JOB#j2")}},
        expected_params={"RequestItems": {TABLE: _delete_requests("JOB#j1", "JOB#j2")}},
    )
    stub.add_response(
        "batch_write_item", {"UnprocessedItems": {TABLE: _delete_requests("JOB#j2")}},
        expected_params={"RequestItems": {TABLE: _delete_requests("JOB#j2")}},
    )
    stub.add_response("batch_write_item", {"UnprocessedItems": {}}, expected_params={"RequestItems": ANY})

    assert catalog.delete_knowledge_base("ws1", "kb1") is True
    assert sleeps == [0.05, 0.1]


def test_batch_deletes_left_unprocessed_every_time_become_a_throttling_error(
    stubbed: tuple[DynamoDbCatalog, Stubber, list[float]],
) -> None:
    catalog, stub, sleeps = stubbed
    stub.add_response("get_item", {})
    stub.add_response("query", {"Items": [{"pk": {"S": "IDX#ws1#kb1"}, "sk": {"S": "JOB#j1"}}], "Count": 1})
    for _ in range(6):
        stub.add_response("batch_write_item", {"UnprocessedItems": {TABLE: _delete_requests("JOB#j1")}})

    with pytest.raises(ThrottlingError):
        catalog.delete_knowledge_base("ws1", "kb1")

    assert len(sleeps) == 5


def test_a_missing_table_is_an_internal_error_naming_the_table_and_the_setting(dynamodb: Any) -> None:
    catalog = DynamoDbCatalog(dynamodb, "no-such-table")

    for call in (
        lambda: catalog.create_knowledge_base(kb("kb1")),
        lambda: catalog.get_knowledge_base("ws1", "kb1"),
        lambda: catalog.list_knowledge_bases("ws1", name=None, offset=0, limit=10),
        lambda: catalog.knowledge_bases_for_uri("s3://b/a.txt"),
        lambda: catalog.add_history(history("r1")),
        lambda: catalog.create_project(project("p1")),
        lambda: catalog.list_datasets("p1", prefix=None, offset=0, limit=10),
        lambda: catalog.put_binding(binding("s3://b/")),
        lambda: catalog.bindings_for_uri("s3://b/a.txt"),
    ):
        with pytest.raises(InternalError) as caught:
            call()
        assert "no-such-table" in caught.value.message and "SIFT_CATALOG_TABLE" in caught.value.message
        assert isinstance(caught.value.__cause__, ClientError)


# --- data center: categories, upload leases, files ------------------------------------------------------------------


def category(category_id: str, *, workspace: str = "ws1", parent: str = "", created_at: str = "2025-01-01T00:00:01Z"
             ) -> Category:
    return Category(workspace, category_id, f"类目 {category_id}", "UNSTRUCTURED", parent, created_at)


def lease(lease_id: str, *, workspace: str = "ws1") -> UploadLease:
    return UploadLease(workspace, lease_id, "default", "UNSTRUCTURED", "手册.pdf", "0" * 32, 1234,
                       f"{workspace}/{lease_id}/手册.pdf", 1_900_000_000.5, "2025-01-01T00:00:00Z")


def data_center_file(file_id: str, *, workspace: str = "ws1", category_id: str = "default",
                     created_at: str = "2025-01-01T00:00:01Z") -> DataCenterFile:
    return DataCenterFile(
        workspace_id=workspace, file_id=file_id, category_id=category_id, category_type="UNSTRUCTURED",
        file_name=f"{file_id}.md", size=42, md5="f" * 32, storage_key=f"{workspace}/lease/{file_id}.md",
        parser="DASHSCOPE_DOCMIND", status="PARSING", created_at=created_at, updated_at=created_at,
        tags=("政策", "2025"),
    )


def test_categories_round_trip_are_scoped_listed_in_creation_order_and_deleted_once(catalog: Any) -> None:
    catalog.create_category(category("cate_b", created_at="2025-01-01T00:00:02Z"))
    catalog.create_category(category("cate_a", parent="cate_b", created_at="2025-01-01T00:00:03Z"))
    catalog.create_category(category("cate_c", workspace="ws2"))
    assert catalog.get_category("ws1", "cate_a") == category("cate_a", parent="cate_b",
                                                             created_at="2025-01-01T00:00:03Z")
    assert catalog.get_category("ws2", "cate_a") is None
    assert [c.category_id for c in catalog.list_categories("ws1")] == ["cate_b", "cate_a"]
    with pytest.raises(AlreadyExistsError):
        catalog.create_category(category("cate_b"))
    assert catalog.delete_category("ws1", "cate_b") is True
    assert catalog.delete_category("ws1", "cate_b") is False
    assert [c.category_id for c in catalog.list_categories("ws1")] == ["cate_a"]


def test_a_lease_round_trips_and_is_taken_exactly_once(open_catalog: Callable[[], Any]) -> None:
    first, second = open_catalog(), open_catalog()
    first.put_lease(lease("lease_1"))
    assert second.get_lease("ws1", "lease_1") == lease("lease_1")
    assert second.get_lease("ws2", "lease_1") is None
    first.put_lease(lease("lease_2"))
    first.put_lease(lease("lease_3", workspace="ws2"))
    assert sorted(item.lease_id for item in second.list_leases("ws1")) == ["lease_1", "lease_2"]
    assert [first.take_lease("ws1", "lease_1"), second.take_lease("ws1", "lease_1")] == [True, False]
    assert first.get_lease("ws1", "lease_1") is None
    assert [item.lease_id for item in second.list_leases("ws1")] == ["lease_2"]


def test_files_round_trip_update_in_place_and_list_by_category(catalog: Any) -> None:
    catalog.put_file(data_center_file("file_1", created_at="2025-01-01T00:00:01Z"))
    catalog.put_file(data_center_file("file_2", category_id="cate_x", created_at="2025-01-01T00:00:02Z"))
    catalog.put_file(data_center_file("file_3", created_at="2025-01-01T00:00:03Z"))
    catalog.put_file(data_center_file("file_9", workspace="ws2"))
    parsed = dataclasses.replace(data_center_file("file_1"), status="PARSE_FAILED", parse_error="不是 PDF")
    catalog.put_file(parsed)
    assert catalog.get_file("ws1", "file_1") == parsed
    assert catalog.get_file("ws2", "file_1") is None
    assert [f.file_id for f in catalog.list_files("ws1", category_id=None)] == ["file_1", "file_2", "file_3"]
    assert [f.file_id for f in catalog.list_files("ws1", category_id="default")] == ["file_1", "file_3"]
    assert catalog.list_files("ws1", category_id="cate_nothing") == []
    assert catalog.delete_file("ws1", "file_2") is True
    assert catalog.delete_file("ws1", "file_2") is False
    assert [f.file_id for f in catalog.list_files("ws1", category_id=None)] == ["file_1", "file_3"]


def test_a_knowledge_base_keeps_its_data_center_sources(catalog: Catalog) -> None:
    sourced = dataclasses.replace(kb("kb1"), source_type="DATA_CENTER_FILE", document_ids=("file_1", "file_2"))
    catalog.create_knowledge_base(sourced)
    assert catalog.get_knowledge_base("ws1", "kb1") == sourced
    assert catalog.get_knowledge_base("ws1", "kb1").document_ids == ("file_1", "file_2")


def test_a_huge_retrieve_history_is_stored_within_the_item_limit(catalog: Catalog) -> None:
    # Issue 12 #11: a 20,000-character CJK query with 100 × 1,000-character history messages made a history item over
    # DynamoDB's 400 KB limit, a 500 on dev/prod. The record is bounded before any catalog sees it.
    from chalicelib.core.knowledge_base import HISTORY_BUDGET, bounded_history

    query = "杭州门店几点关门" * 2_500
    request = {"IndexId": "kb1", "Query": query,
               "QueryHistory": [{"role": "user", "content": "历" * 1_000} for _ in range(100)]}
    record = bounded_history(dataclasses.replace(history("r-huge"), query=query, request=request))
    assert record.extra == {"truncated": True} and query.startswith(record.query) and len(record.query) <= 2_000
    assert len(json.dumps(dataclasses.asdict(record), ensure_ascii=False).encode()) <= HISTORY_BUDGET
    catalog.add_history(record)
    [stored], total = catalog.list_history("ws1", "kb1", offset=0, limit=10)
    assert total == 1 and stored.query == record.query and len(stored.request["QueryHistory"]) == 100
    small = history("r-small")
    assert bounded_history(small) is small
