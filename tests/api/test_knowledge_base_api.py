"""The supporting operations of the knowledge-base family, end to end over HTTP: create, list, index, inspect,
delete."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tests.api.conftest import (
    HASHING_EMBEDDER,
    REPO_ROOT,
    WS,
    Api,
    _data_dir_state,
    assert_error,
    doc_names,
    write_files,
)

REQUEST_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def _assert_success_envelope(body: dict[str, Any]) -> None:
    assert set(body) == {"Code", "Data", "Message", "RequestId", "Status", "Success"}
    assert body["Code"] == "Success"
    assert body["Status"] == "200"
    assert body["Success"] is True
    assert isinstance(body["Message"], str)
    assert REQUEST_ID.match(body["RequestId"]), body["RequestId"]


def _by_name(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {document["Name"]: document for document in documents}


# --- the fixture itself -------------------------------------------------------------------------------------------


def test_service_runs_in_the_tmp_data_dir_with_the_hashing_embedder(api: Api) -> None:
    index_id = api.create_index("where")

    index = api.list_indices().data["Indices"][0]
    assert index["Id"] == index_id
    assert index["EmbeddingModelName"] == HASHING_EMBEDDER
    # The index went into the test's own catalog ...
    with sqlite3.connect(api.data_dir / "catalog.db") as connection:
        rows = connection.execute("SELECT workspace_id, index_id FROM knowledge_bases").fetchall()
    assert rows == [(WS, index_id)]
    # ... and nowhere near the local stage's data directory (which `make run` may be using right now).
    for directory in {REPO_ROOT / ".sift", Path.cwd() / ".sift"}:
        workspaces = _data_dir_state(directory)
        assert workspaces is None or WS not in workspaces
    # Whatever the local stage's config sets for each call, the pre-built service is the one that answered.
    assert (api.data_dir / "search" / "sift.db").is_file()


# --- CreateIndex / ListIndices ------------------------------------------------------------------------------------


def test_create_index_returns_the_documented_envelope(api: Api) -> None:
    reply = api.post(f"/{WS}/index/create", {"Name": "handbook", "SourceURI": "s3://bucket/docs/", "ChunkSize": 300,
                                             "OverlapSize": 30, "Description": "The staff handbook"})

    assert reply.status == 200
    _assert_success_envelope(reply.body)
    assert set(reply.body["Data"]) == {"Id", "Name"}
    assert reply.body["Data"]["Name"] == "handbook"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", reply.body["Data"]["Id"])


def test_list_indices_shows_settings_pages_and_filters_by_name(api: Api) -> None:
    ids = {name: api.create_index(name, ChunkSize=200 + n, OverlapSize=10)
           for n, name in enumerate(["alpha-docs", "beta-docs", "gamma-notes"])}
    api.create_index("other-workspace", ws="ws_other")

    everything = api.list_indices().data
    assert everything["TotalCount"] == 3
    listed = everything["Indices"]
    assert {index["Name"] for index in listed} == {"alpha-docs", "beta-docs", "gamma-notes"}
    # Oldest first (indices created within the same millisecond tie-break on their random Id).
    assert [index["CreateTime"] for index in listed] == sorted(index["CreateTime"] for index in listed)
    beta = next(index for index in listed if index["Name"] == "beta-docs")
    assert beta["Id"] == ids["beta-docs"]
    assert beta["ChunkSize"] == 201 and beta["OverlapSize"] == 10
    assert beta["DocumentCount"] == 0
    assert beta["RerankModelName"] == "qwen3-rerank-hybrid"

    first, second = (api.list_indices(PageNumber=n, PageSize=2).data for n in (1, 2))
    assert (second["PageNumber"], second["PageSize"], second["TotalCount"]) == (2, 2, 3)
    assert [len(first["Indices"]), len(second["Indices"])] == [2, 1]
    assert [index["Id"] for index in first["Indices"] + second["Indices"]] == [index["Id"] for index in listed]

    named = api.list_indices(IndexName="docs").data
    assert named["TotalCount"] == 2
    assert {index["Name"] for index in named["Indices"]} == {"alpha-docs", "beta-docs"}

    assert api.list_indices(ws="ws_nobody").data == {"Indices": [], "PageNumber": 1, "PageSize": 10, "TotalCount": 0}


def test_list_indices_rejects_bad_paging(api: Api) -> None:
    assert_error(api.list_indices(PageSize=101), 400, "Index.InvalidParameter", field="PageSize")
    assert_error(api.list_indices(PageNumber=0), 400, "Index.InvalidParameter", field="PageNumber")
    assert_error(api.list_indices(PageNumber="two"), 400, "Index.InvalidParameter", field="PageNumber")


def test_create_index_rejects_overlap_not_below_chunk_size(api: Api) -> None:
    reply = api.post(f"/{WS}/index/create", {"Name": "bad", "ChunkSize": 100, "OverlapSize": 100})
    assert_error(reply, 400, "Index.InvalidParameter", field="OverlapSize")
    assert api.list_indices().data["TotalCount"] == 0


# --- SubmitIndexAddDocumentsJob / GetIndexJobStatus ---------------------------------------------------------------


def test_add_documents_job_reports_each_document(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed", ChunkSize=300, OverlapSize=30)

    submitted = api.submit(index_id, [str(mixed_dir)])
    assert submitted.status == 200
    _assert_success_envelope(submitted.body)
    assert submitted.body["Data"]["Status"] in {"COMPLETED", "PARTIAL"}
    job_id = submitted.body["Data"]["Id"]

    reply = api.job_status(index_id, job_id)
    _assert_success_envelope(reply.body)
    job = reply.body["Data"]
    assert job["JobId"] == job_id
    assert job["Status"] == "PARTIAL"  # one corrupt PDF among good files
    documents = {document["DocName"]: document for document in job["Documents"]}
    assert set(documents) == {"refund-policy.txt", "zephyr-tent.md", "stores.html", "stove.json", "broken.pdf"}
    for name in ("refund-policy.txt", "zephyr-tent.md", "stores.html", "stove.json"):
        assert documents[name]["Status"] == "FINISH", documents[name]
    broken = documents["broken.pdf"]
    assert broken["Status"] == "FAILED"
    assert "PDF" in broken["Message"] and len(broken["Message"]) < 300
    assert "Traceback" not in broken["Message"]
    assert job["Counts"] == {"Total": 5, "Indexed": 4, "Empty": 0, "Failed": 1}


def test_add_documents_job_of_good_files_completes(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "good", {"a.txt": "Alpha text about otters.", "b.md": "# Beta\n\nBeavers."})
    index_id = api.create_index("good")

    job = api.add_documents(index_id, [str(directory)])

    assert job["Status"] == "COMPLETED"
    assert [document["Status"] for document in job["Documents"]] == ["FINISH", "FINISH"]


def test_add_documents_uses_the_index_source_uri_when_none_given(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "src", {"a.txt": "Otters hold hands while sleeping."})
    index_id = api.create_index("with-source", SourceURI=str(directory))

    job_id = api.submit(index_id, None).data["Id"]

    assert api.job_status(index_id, job_id).data["Status"] == "COMPLETED"
    assert [document["Name"] for document in api.documents(index_id)] == ["a.txt"]


def test_add_documents_to_a_missing_path_is_a_400_naming_the_uri(api: Api, tmp_path: Path) -> None:
    index_id = api.create_index("missing")
    reply = api.submit(index_id, [str(tmp_path / "does-not-exist")])
    assert_error(reply, 400, "Index.InvalidParameter", field="SourceURIs[0]")
    assert api.documents(index_id) == []


def test_job_status_of_an_unknown_job_is_404(api: Api) -> None:
    index_id = api.create_index("jobs")
    assert_error(api.job_status(index_id, "job_doesnotexist"), 404, "Index.NotFound", field="job_doesnotexist")


# --- ListIndexDocuments / DeleteIndexDocument ---------------------------------------------------------------------


def test_list_index_documents_shows_status_reason_and_sidecar_metadata(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])

    reply = api.list_documents(index_id)
    _assert_success_envelope(reply.body)
    listing = reply.body["Data"]
    assert listing["TotalCount"] == 5
    documents = _by_name(listing["Documents"])
    # Ordered by name.
    assert [document["Name"] for document in listing["Documents"]] == sorted(documents)
    policy = documents["refund-policy.txt"]
    assert policy["Status"] == "FINISH"
    assert policy["Metadata"] == {"category": "policy", "year": 2024}
    assert policy["ChunkCount"] >= 1
    assert policy["SourceURI"] == (mixed_dir / "refund-policy.txt").resolve().as_uri()
    assert documents["stores.html"]["Title"] == "Larkspur stores"
    broken = documents["broken.pdf"]
    assert broken["Status"] == "FAILED" and broken["Message"] and broken["ChunkCount"] == 0
    # The sidecar itself is not a document.
    assert not any(name.endswith(".metadata.json") for name in documents)


def test_list_index_documents_pages_and_filters(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])
    all_names = [document["Name"] for document in api.documents(index_id)]

    pages = [api.list_documents(index_id, PageNumber=n, PageSize=2).data for n in (1, 2, 3, 4)]
    assert [page["TotalCount"] for page in pages] == [5, 5, 5, 5]
    assert [len(page["Documents"]) for page in pages] == [2, 2, 1, 0]
    assert [document["Name"] for page in pages for document in page["Documents"]] == all_names

    failed = api.list_documents(index_id, DocumentStatus="FAILED").data
    assert failed["TotalCount"] == 1
    assert [document["Name"] for document in failed["Documents"]] == ["broken.pdf"]

    finished = api.list_documents(index_id, DocumentStatus="FINISH", PageSize=3).data
    assert finished["TotalCount"] == 4 and len(finished["Documents"]) == 3
    assert all(document["Status"] == "FINISH" for document in finished["Documents"])

    named = api.list_documents(index_id, DocumentName="refund", EnableNameLike=True).data
    assert [document["Name"] for document in named["Documents"]] == ["refund-policy.txt"]
    # Without EnableNameLike (default false, as documented) the name must match exactly.
    assert api.list_documents(index_id, DocumentName="refund").data["Documents"] == []
    exact = api.list_documents(index_id, DocumentName="refund-policy.txt").data
    assert [document["Name"] for document in exact["Documents"]] == ["refund-policy.txt"]

    assert_error(api.list_documents(index_id, DocumentStatus="DONE"), 400, "Index.InvalidParameter",
                 field="DocumentStatus")


def test_delete_index_document_removes_it_from_listing_and_results(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])
    stove = _by_name(api.documents(index_id))["stove.json"]
    assert "stove.json" in doc_names(api.nodes(index_id, "canister stove boils water"))

    reply = api.delete_documents(index_id, [stove["Id"], "doc_unknown"])

    assert reply.data == {"DeletedDocument": [stove["Id"]], "FailedDocument": ["doc_unknown"]}
    assert "stove.json" not in [document["Name"] for document in api.documents(index_id)]
    nodes = api.nodes(index_id, "canister stove boils water", Rerank=[{"RerankTopN": 20}])
    assert "stove.json" not in doc_names(nodes)
    assert nodes, "the other documents are still there"
    # Deleting it again: nothing left to delete.
    assert api.delete_documents(index_id, [stove["Id"]]).data == {"DeletedDocument": [],
                                                                  "FailedDocument": [stove["Id"]]}


# --- ListRetrieverHistory -----------------------------------------------------------------------------------------


def test_retriever_history_records_only_when_asked(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])

    assert api.retrieve(index_id, "refund within 30 days", SaveRetrieverHistory=False).data["Nodes"]
    assert api.history(index_id).data["TotalCount"] == 0
    assert api.retrieve(index_id, "opening hours of the store").data["Nodes"]  # default: false
    assert api.history(index_id).data["TotalCount"] == 0

    saved = api.retrieve(index_id, "refund within 30 days", SaveRetrieverHistory=True)
    nodes = saved.data["Nodes"]

    reply = api.history(index_id)
    _assert_success_envelope(reply.body)
    history = reply.body["Data"]
    assert history["TotalCount"] == 1
    record = history["Records"][0]
    assert record["RequestId"] == saved.body["RequestId"]
    assert record["Query"] == "refund within 30 days"
    assert record["Request"]["SaveRetrieverHistory"] is True
    assert [node["nid"] for node in record["Nodes"]] == [node["Metadata"]["nid"] for node in nodes]

    assert api.retrieve(index_id, "tent", SaveRetrieverHistory=True).data["Nodes"]
    newest_first = api.history(index_id).data["Records"]
    assert [r["Query"] for r in newest_first] == ["tent", "refund within 30 days"]
    assert [r["Query"] for r in api.history(index_id, PageSize=1, PageNumber=2).data["Records"]] == [
        "refund within 30 days"
    ]


# --- DeleteIndex --------------------------------------------------------------------------------------------------


def test_delete_index_then_everything_about_it_is_404(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("doomed")
    job_id = api.submit(index_id, [str(mixed_dir)]).data["Id"]
    assert api.nodes(index_id, "refund")

    reply = api.delete_index(index_id)
    assert reply.data == {"Id": index_id}

    assert_error(api.retrieve(index_id, "refund"), 404, "Index.NotFound", field=index_id)
    assert_error(api.list_documents(index_id), 404, "Index.NotFound", field=index_id)
    assert_error(api.job_status(index_id, job_id), 404, "Index.NotFound")
    assert_error(api.history(index_id), 404, "Index.NotFound")
    assert_error(api.delete_index(index_id), 404, "Index.NotFound")
    assert api.list_indices().data["TotalCount"] == 0
    # The name is free again, and the new index starts empty.
    new_id = api.create_index("doomed")
    assert api.documents(new_id) == []
    assert api.nodes(new_id, "refund") == []


def test_indices_are_scoped_to_their_workspace(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mine", ws="ws_a")
    api.add_documents(index_id, [str(mixed_dir)], ws="ws_a")

    assert_error(api.retrieve(index_id, "refund", ws="ws_b"), 404, "Index.NotFound")
    assert_error(api.list_documents(index_id, ws="ws_b"), 404, "Index.NotFound")
    assert_error(api.delete_index(index_id, ws="ws_b"), 404, "Index.NotFound")
    assert api.nodes(index_id, "refund", ws="ws_a")
    # The same name may exist in another workspace.
    assert api.create_index("mine", ws="ws_b") != index_id


# --- idempotency --------------------------------------------------------------------------------------------------


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != key}


def _chunk_view(api: Api, index_id: str, query: str) -> list[tuple[str, str, float]]:
    return [(node["Metadata"]["nid"], node["Text"], node["Score"])
            for node in api.nodes(index_id, query, Rerank=[{"RerankTopN": 20}])]


def test_submitting_the_same_source_twice_keeps_one_copy(api: Api, mixed_dir: Path) -> None:
    index_id = api.create_index("mixed")
    api.add_documents(index_id, [str(mixed_dir)])
    documents_before = api.documents(index_id)
    results_before = _chunk_view(api, index_id, "Larkspur refund tent store stove")

    again = api.add_documents(index_id, [str(mixed_dir)])
    # Single files by path land on the same documents as the directory listing did.
    api.add_documents(index_id, [str(mixed_dir / "refund-policy.txt"), str(mixed_dir / "stove.json")])

    assert again["Status"] == "PARTIAL"
    assert api.list_documents(index_id).data["TotalCount"] == 5
    documents_after = api.documents(index_id)
    finished = [document for document in documents_before if document["Status"] == "FINISH"]
    assert len(finished) == 4
    # Unchanged objects are a no-op: their records are untouched (not even GmtModified).
    assert [document for document in documents_after if document["Status"] == "FINISH"] == finished
    # A FAILED document is retried on every submission; only its modification time moves.
    assert [_without(document, "GmtModified") for document in documents_after if document["Status"] == "FAILED"] == [
        _without(document, "GmtModified") for document in documents_before if document["Status"] == "FAILED"
    ]
    assert _chunk_view(api, index_id, "Larkspur refund tent store stove") == results_before
    assert api.list_indices().data["Indices"][0]["DocumentCount"] == 5


def test_modified_file_replaces_its_chunks(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "docs", {
        "prices.txt": "The Kestrel jacket costs 120 dollars and comes in teal.",
        "other.txt": "Our warehouse ships orders on weekdays.",
    })
    index_id = api.create_index("prices")
    api.add_documents(index_id, [str(directory)])
    assert any("teal" in node["Text"] for node in api.nodes(index_id, "Kestrel jacket colour teal"))

    (directory / "prices.txt").write_text("The Kestrel jacket now costs 95 dollars and comes in crimson.")
    job = api.add_documents(index_id, [str(directory)])

    assert job["Status"] == "COMPLETED"
    assert api.list_documents(index_id).data["TotalCount"] == 2
    nodes = api.nodes(index_id, "Kestrel jacket teal crimson", Rerank=[{"RerankTopN": 20}])
    texts = [node["Text"] for node in nodes]
    assert any("crimson" in text for text in texts)
    assert not any("teal" in text for text in texts)
    assert [n["Text"] for n in api.nodes(index_id, "teal", DenseSimilarityTopK=0)] == []
    prices = _by_name(api.documents(index_id))["prices.txt"]
    assert prices["ChunkCount"] == 1


def test_changed_sidecar_alone_updates_metadata(api: Api, tmp_path: Path) -> None:
    directory = write_files(tmp_path / "docs", {
        "a.txt": "Otters hold hands while sleeping.",
        "a.txt.metadata.json": {"category": "animals"},
    })
    index_id = api.create_index("sidecar")
    api.add_documents(index_id, [str(directory)])

    write_files(directory, {"a.txt.metadata.json": {"category": "mammals", "year": 2025}})
    api.add_documents(index_id, [str(directory)])

    assert api.documents(index_id)[0]["Metadata"] == {"category": "mammals", "year": 2025}
    node = api.nodes(index_id, "otters")[0]
    assert node["Metadata"]["category"] == "mammals" and node["Metadata"]["year"] == 2025
