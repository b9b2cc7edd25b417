"""The SQLite catalog of the ``local`` stage: knowledge bases, indexing jobs and retrieval history."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chalicelib.api.errors import AlreadyExistsError, ErrorKind
from chalicelib.store.base import HistoryRecord, Job, JobDocument, JobStatus, KnowledgeBase
from chalicelib.store.sqlite import SqliteCatalog


@pytest.fixture
def catalog(tmp_path: Path) -> SqliteCatalog:
    return SqliteCatalog(tmp_path / "catalog" / "sift.db")


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


def test_create_then_get_round_trips(catalog: SqliteCatalog) -> None:
    created = kb("kb1", source_uri="s3://bucket/文档/")
    catalog.create_knowledge_base(created)

    assert catalog.get_knowledge_base("ws1", "kb1") == created
    assert catalog.get_knowledge_base("ws1", "missing") is None
    assert catalog.get_knowledge_base("ws2", "kb1") is None


def test_knowledge_bases_survive_a_new_catalog_on_the_same_file(tmp_path: Path) -> None:
    SqliteCatalog(tmp_path / "sift.db").create_knowledge_base(kb("kb1"))
    assert SqliteCatalog(tmp_path / "sift.db").get_knowledge_base("ws1", "kb1") == kb("kb1")


def test_duplicate_index_id_is_rejected(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="first"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_knowledge_base(kb("kb1", name="second"))

    assert caught.value.kind is ErrorKind.ALREADY_EXISTS
    assert (caught.value.resource, caught.value.name) == ("index", "kb1")
    assert catalog.get_knowledge_base("ws1", "kb1").name == "first"  # type: ignore[union-attr]


def test_duplicate_name_in_a_workspace_is_rejected(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs"))

    with pytest.raises(AlreadyExistsError) as caught:
        catalog.create_knowledge_base(kb("kb2", name="docs"))

    assert (caught.value.resource, caught.value.name) == ("index", "docs")
    assert catalog.get_knowledge_base("ws1", "kb2") is None


def test_ids_and_names_are_scoped_to_the_workspace(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs", workspace="ws1"))
    catalog.create_knowledge_base(kb("kb1", name="docs", workspace="ws2"))

    assert catalog.get_knowledge_base("ws2", "kb1") == kb("kb1", name="docs", workspace="ws2")


def test_list_is_scoped_ordered_by_creation_and_paged(catalog: SqliteCatalog) -> None:
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


def test_list_filters_by_name_substring(catalog: SqliteCatalog) -> None:
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


def test_list_name_filter_is_literal_not_a_pattern(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="100%_real"))
    catalog.create_knowledge_base(kb("kb2", name="100 real"))

    assert index_ids(catalog.list_knowledge_bases("ws1", name="%_", offset=0, limit=10)[0]) == ["kb1"]


def test_delete_reports_whether_it_existed_and_frees_the_name(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("kb1", name="docs"))

    assert catalog.delete_knowledge_base("ws1", "kb1") is True
    assert catalog.delete_knowledge_base("ws1", "kb1") is False
    assert catalog.get_knowledge_base("ws1", "kb1") is None
    catalog.create_knowledge_base(kb("kb2", name="docs"))


def test_delete_removes_the_jobs_and_history_of_that_knowledge_base_only(catalog: SqliteCatalog) -> None:
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


def test_knowledge_bases_for_uri_match_by_prefix_across_workspaces(catalog: SqliteCatalog) -> None:
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


def test_a_sibling_prefix_does_not_match(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/docs/"))

    assert catalog.knowledge_bases_for_uri("s3://b/docs2/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://b/docs-old/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://b/doc") == []
    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/docs/a.txt")) == ["docs"]


def test_a_source_uri_without_trailing_slash_is_a_raw_prefix(catalog: SqliteCatalog) -> None:
    """Pinned (questionable): like S3's ``Prefix``, ``s3://b/docs`` also holds ``s3://b/docs2/…``.

    This is consistent with ``S3Source.list`` (SubmitJob lists with the same raw prefix), but a caller who meant a
    folder gets objects of sibling folders indexed by S3 events.
    """
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/docs"))

    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/docs/a.txt")) == ["docs"]
    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/docs2/a.txt")) == ["docs"]


def test_source_uri_prefix_is_literal_not_a_pattern(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("underscore", source_uri="s3://b/d_cs/"))
    catalog.create_knowledge_base(kb("percent", source_uri="s3://b/%/"))

    assert catalog.knowledge_bases_for_uri("s3://b/docs/a.txt") == []
    assert catalog.knowledge_bases_for_uri("s3://b/anything/a.txt") == []
    assert index_ids(catalog.knowledge_bases_for_uri("s3://b/d_cs/a.txt")) == ["underscore"]


def test_source_uri_prefix_is_case_sensitive(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/Docs/"))
    assert catalog.knowledge_bases_for_uri("s3://b/docs/a.txt") == []


def test_a_deleted_knowledge_base_no_longer_matches_uris(catalog: SqliteCatalog) -> None:
    catalog.create_knowledge_base(kb("docs", source_uri="s3://b/docs/"))
    catalog.delete_knowledge_base("ws1", "docs")
    assert catalog.knowledge_bases_for_uri("s3://b/docs/a.txt") == []


# --- jobs -------------------------------------------------------------------------------------------------------------


def test_job_round_trips_with_its_documents(catalog: SqliteCatalog) -> None:
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


def test_put_job_replaces_the_previous_state(catalog: SqliteCatalog) -> None:
    catalog.put_job(job("j1", status=JobStatus.PENDING))
    catalog.put_job(job("j1", status=JobStatus.RUNNING))
    done = dataclasses.replace(job("j1", status=JobStatus.COMPLETED), documents=(JobDocument("d", "n", "FINISH"),))
    catalog.put_job(done)

    assert catalog.get_job("ws1", "kb1", "j1") == done


def test_jobs_are_scoped_to_workspace_and_index(catalog: SqliteCatalog) -> None:
    catalog.put_job(job("j1", index_id="kb1", workspace="ws1"))

    assert catalog.get_job("ws1", "kb1", "missing") is None
    assert catalog.get_job("ws1", "kb2", "j1") is None
    assert catalog.get_job("ws2", "kb1", "j1") is None


# --- history ----------------------------------------------------------------------------------------------------------


def test_history_lists_newest_first_with_paging(catalog: SqliteCatalog) -> None:
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


def test_history_round_trips_its_record(catalog: SqliteCatalog) -> None:
    record = dataclasses.replace(history("r1"), extra={"rerank_model": "qwen3-rerank", "耗时": 12.5})
    catalog.add_history(record)

    (stored,), _ = catalog.list_history("ws1", "kb1", offset=0, limit=1)

    assert stored == record


def test_history_is_scoped_to_workspace_and_index(catalog: SqliteCatalog) -> None:
    catalog.add_history(history("r1", workspace="ws1", index_id="kb1"))

    assert catalog.list_history("ws2", "kb1", offset=0, limit=10) == ([], 0)
    assert catalog.list_history("ws1", "kb2", offset=0, limit=10) == ([], 0)
