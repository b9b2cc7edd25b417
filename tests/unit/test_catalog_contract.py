"""The catalog contract: every ``Catalog`` implementation passes one suite.

``sqlite`` is the ``local`` stage's catalog on a file in the test's tmp directory; ``dynamodb`` is the AWS stages'
catalog on a fresh moto table per test (created with ``create_table``, so the table definition is under test too).
The SQLite behaviour is the reference. Tests below the contract cover what only DynamoDB has: its items, query
paging, batch retries and error translation (botocore ``Stubber`` validates every stubbed request against the real
DynamoDB service model).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from chalicelib.api.errors import (
    AlreadyExistsError,
    ErrorKind,
    InternalError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.store.base import Catalog, HistoryRecord, Job, JobDocument, JobStatus, KnowledgeBase
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
    ):
        with pytest.raises(InternalError) as caught:
            call()
        assert "no-such-table" in caught.value.message and "SIFT_CATALOG_TABLE" in caught.value.message
        assert isinstance(caught.value.__cause__, ClientError)
