"""S3 → EventBridge → ``OnObjectEvent``: objects under an index's SourceURI are indexed, replaced and removed.

S3 is moto's (the ``api`` fixture builds the service inside ``mock_aws``); events are shaped like the documented
EventBridge "Object Created" / "Object Deleted" messages and go through the Chalice test client's Lambda invoker.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import WS, Api, doc_names

BUCKET = "sift-docs"
CREATED = "Object Created"
DELETED = "Object Deleted"


@pytest.fixture
def s3_index(api: Api) -> str:
    api.s3.create_bucket(Bucket=BUCKET)
    return api.create_index("from-s3", SourceURI=f"s3://{BUCKET}/docs/")


def _put(api: Api, key: str, body: str | bytes, *, metadata: dict[str, str] | None = None,
         sidecar: dict[str, Any] | None = None) -> None:
    api.s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body,
                      Metadata=metadata or {})
    if sidecar is not None:
        api.s3.put_object(Bucket=BUCKET, Key=f"{key}.metadata.json",
                          Body=json.dumps({"metadataAttributes": sidecar}).encode())


def _nodes(api: Api, index_id: str, query: str) -> list[dict[str, Any]]:
    return api.nodes(index_id, query, Rerank=[{"RerankTopN": 20}])


GUIDE = "The Larkspur onboarding guide explains how search relevance is tuned for the catalogue."


def test_created_object_is_indexed_with_sidecar_and_s3_metadata(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE, metadata={"sift-team": "search", "owner": "ignored"},
         sidecar={"category": "policy", "year": 2024})

    result = api.s3_event(CREATED, BUCKET, "docs/a.txt")

    assert result == {"uri": f"s3://{BUCKET}/docs/a.txt", "indexed": ["FINISH"]}
    nodes = _nodes(api, s3_index, "onboarding guide search relevance")
    assert doc_names(nodes) == ["a.txt"]
    metadata = nodes[0]["Metadata"]
    assert metadata["category"] == "policy" and metadata["year"] == 2024  # from the sidecar
    assert metadata["team"] == "search"  # from x-amz-meta-sift-team
    assert "owner" not in metadata  # only sift-* object metadata is read
    assert metadata["file_path"] == f"s3://{BUCKET}/docs/a.txt"
    assert metadata["workspace_id"] == WS and metadata["pipeline_id"] == s3_index
    [document] = api.documents(s3_index)
    assert document["Status"] == "FINISH"
    assert document["Metadata"] == {"team": "search", "category": "policy", "year": 2024}


def test_sidecar_wins_over_s3_metadata_of_the_same_name(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE, metadata={"sift-category": "from-s3"}, sidecar={"category": "from-sidecar"})
    api.s3_event(CREATED, BUCKET, "docs/a.txt")
    assert _nodes(api, s3_index, "onboarding")[0]["Metadata"]["category"] == "from-sidecar"


def test_object_outside_the_prefix_is_ignored(api: Api, s3_index: str) -> None:
    _put(api, "elsewhere/b.txt", "Quarterly numbers for the finance team.")
    _put(api, "docs-archive/c.txt", "An archived guide.")

    assert api.s3_event(CREATED, BUCKET, "elsewhere/b.txt") == {"uri": f"s3://{BUCKET}/elsewhere/b.txt",
                                                                 "indexed": []}
    assert api.s3_event(CREATED, "another-bucket", "docs/b.txt")["indexed"] == []
    assert api.s3_event(CREATED, BUCKET, "docs-archive/c.txt")["indexed"] == []
    assert api.documents(s3_index) == []
    assert _nodes(api, s3_index, "quarterly finance numbers") == []


def test_deleted_object_is_removed_from_results(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE)
    _put(api, "docs/b.txt", "Warehouse shipping times for orders to Canada.")
    api.s3_event(CREATED, BUCKET, "docs/a.txt")
    api.s3_event(CREATED, BUCKET, "docs/b.txt")
    assert set(doc_names(_nodes(api, s3_index, "guide"))) == {"a.txt", "b.txt"}

    api.s3.delete_object(Bucket=BUCKET, Key="docs/a.txt")
    result = api.s3_event(DELETED, BUCKET, "docs/a.txt")

    assert result == {"uri": f"s3://{BUCKET}/docs/a.txt", "removed": 1}
    assert doc_names(_nodes(api, s3_index, "onboarding guide search relevance")) == ["b.txt"]
    assert [document["Name"] for document in api.documents(s3_index)] == ["b.txt"]
    # Deleting again finds nothing to remove.
    assert api.s3_event(DELETED, BUCKET, "docs/a.txt")["removed"] == 0


def test_same_created_event_twice_keeps_one_copy(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE, sidecar={"category": "policy"})
    api.s3_event(CREATED, BUCKET, "docs/a.txt")
    documents = api.documents(s3_index)
    nodes = _nodes(api, s3_index, "onboarding guide")

    again = api.s3_event(CREATED, BUCKET, "docs/a.txt")

    assert again["indexed"] == ["FINISH"]
    assert api.documents(s3_index) == documents  # unchanged version: a no-op
    assert _nodes(api, s3_index, "onboarding guide") == nodes
    assert api.list_documents(s3_index).data["TotalCount"] == 1


def test_overwritten_object_replaces_its_chunks(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", "The Kestrel jacket comes in teal.")
    api.s3_event(CREATED, BUCKET, "docs/a.txt")

    _put(api, "docs/a.txt", "The Kestrel jacket now comes in crimson.")
    api.s3_event(CREATED, BUCKET, "docs/a.txt")

    texts = [node["Text"] for node in _nodes(api, s3_index, "Kestrel jacket teal crimson")]
    assert texts == ["The Kestrel jacket now comes in crimson."]
    assert api.list_documents(s3_index).data["TotalCount"] == 1


def test_changed_sidecar_event_reindexes_its_object(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE, sidecar={"category": "draft"})
    api.s3_event(CREATED, BUCKET, "docs/a.txt")

    _put(api, "docs/a.txt", GUIDE, sidecar={"category": "published"})
    result = api.s3_event(CREATED, BUCKET, "docs/a.txt.metadata.json")

    assert result["indexed"] == ["FINISH"]
    assert _nodes(api, s3_index, "onboarding")[0]["Metadata"]["category"] == "published"
    assert [document["Name"] for document in api.documents(s3_index)] == ["a.txt"]

    # Deleting the sidecar re-indexes the object without its attributes.
    api.s3.delete_object(Bucket=BUCKET, Key="docs/a.txt.metadata.json")
    api.s3_event(DELETED, BUCKET, "docs/a.txt.metadata.json")
    assert "category" not in _nodes(api, s3_index, "onboarding")[0]["Metadata"]
    assert api.list_documents(s3_index).data["TotalCount"] == 1


def test_unparseable_object_is_recorded_failed_without_raising(api: Api, s3_index: str) -> None:
    _put(api, "docs/good.txt", GUIDE)
    _put(api, "docs/broken.pdf", b"%PDF-1.4 garbage")
    api.s3_event(CREATED, BUCKET, "docs/good.txt")

    result = api.s3_event(CREATED, BUCKET, "docs/broken.pdf")

    assert result == {"uri": f"s3://{BUCKET}/docs/broken.pdf", "indexed": ["FAILED"]}
    failed = api.list_documents(s3_index, DocumentStatus="FAILED").data["Documents"]
    assert [document["Name"] for document in failed] == ["broken.pdf"]
    assert "PDF" in failed[0]["Message"]
    assert doc_names(_nodes(api, s3_index, "onboarding guide")) == ["good.txt"]


def test_bad_sidecar_is_recorded_failed_with_its_reason(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE)
    api.s3.put_object(Bucket=BUCKET, Key="docs/a.txt.metadata.json", Body=b"{not json")

    assert api.s3_event(CREATED, BUCKET, "docs/a.txt")["indexed"] == ["FAILED"]

    [document] = api.documents(s3_index)
    assert document["Status"] == "FAILED"
    assert "a.txt.metadata.json" in document["Message"] and "JSON" in document["Message"]


def test_object_indexed_into_every_index_that_holds_it(api: Api, s3_index: str) -> None:
    other = api.create_index("whole-bucket", ws="ws_other", SourceURI=f"s3://{BUCKET}/")
    _put(api, "docs/a.txt", GUIDE)

    assert api.s3_event(CREATED, BUCKET, "docs/a.txt")["indexed"] == ["FINISH", "FINISH"]

    assert doc_names(_nodes(api, s3_index, "onboarding")) == ["a.txt"]
    assert doc_names(api.nodes(other, "onboarding", ws="ws_other")) == ["a.txt"]
    api.s3.delete_object(Bucket=BUCKET, Key="docs/a.txt")
    assert api.s3_event(DELETED, BUCKET, "docs/a.txt")["removed"] == 2


def test_add_documents_job_reads_an_s3_prefix(api: Api, s3_index: str) -> None:
    _put(api, "docs/a.txt", GUIDE, metadata={"sift-team": "search"}, sidecar={"category": "policy"})
    _put(api, "docs/sub/b.md", "# Shipping\n\nOrders to Canada take five to ten business days.")
    _put(api, "docs/broken.pdf", b"%PDF-1.4 garbage")
    _put(api, "outside.txt", "Not under the prefix.")

    job_id = api.submit(s3_index, None).data["Id"]  # the index's SourceURI
    job = api.job_status(s3_index, job_id).data

    assert job["Status"] == "PARTIAL"
    assert {d["DocName"]: d["Status"] for d in job["Documents"]} == {"a.txt": "FINISH", "b.md": "FINISH",
                                                                      "broken.pdf": "FAILED"}
    node = _nodes(api, s3_index, "onboarding guide")[0]
    assert (node["Metadata"]["category"], node["Metadata"]["team"]) == ("policy", "search")
    # The job and the event agree on document identity: the event re-delivers the same version, no copy.
    api.s3_event(CREATED, BUCKET, "docs/a.txt")
    assert api.list_documents(s3_index).data["TotalCount"] == 3


def test_add_documents_from_a_missing_bucket_is_400(api: Api, s3_index: str) -> None:
    reply = api.submit(s3_index, ["s3://no-such-bucket/docs/"])
    assert reply.status == 400
    assert reply.body["Code"] == "Index.InvalidParameter"
    assert "SourceURIs[0]" in reply.body["Message"]


def test_a_late_created_event_for_an_object_that_is_gone_leaves_no_ghost(api: Api, s3_index: str) -> None:
    # Issue 12 #3: the event reports the failed read, and no FAILED record is left that nothing would remove.
    result = api.s3_event(CREATED, BUCKET, "docs/vanished.txt")
    assert result["indexed"] == ["FAILED"]
    assert api.documents(s3_index) == []
    assert api.s3_event(DELETED, BUCKET, "docs/vanished.txt")["removed"] == 0


def test_a_failed_re_read_keeps_the_indexed_copy(api: Api, s3_index: str) -> None:
    # Issue 12 #1: index g.txt, delete the object, deliver its Created event again: the document stays as indexed
    # (only the Deleted event, a confirmed delete, removes it), and Retrieve still finds it.
    api.s3.put_object(Bucket=BUCKET, Key="docs/g.txt", Body=b"The Larkspur stove boils water in three minutes.")
    api.s3_event(CREATED, BUCKET, "docs/g.txt")
    [indexed] = api.documents(s3_index)
    api.s3.delete_object(Bucket=BUCKET, Key="docs/g.txt")
    assert api.s3_event(CREATED, BUCKET, "docs/g.txt")["indexed"] == ["FAILED"]
    [kept] = api.documents(s3_index)
    assert kept == indexed and kept["Status"] == "FINISH"
    assert [node["Metadata"]["doc_name"] for node in api.nodes(s3_index, "stove boils water")] == ["g.txt"]
    api.s3.put_object(Bucket=BUCKET, Key="docs/g.txt", Body=b"The Larkspur stove now boils water in two minutes.")
    api.s3_event(CREATED, BUCKET, "docs/g.txt")  # the object is back: indexed again, as it now reads
    assert "two minutes" in api.nodes(s3_index, "stove boils water")[0]["Text"]
    api.s3.delete_object(Bucket=BUCKET, Key="docs/g.txt")
    assert api.s3_event(DELETED, BUCKET, "docs/g.txt")["removed"] == 1
    assert api.documents(s3_index) == []


def test_key_with_spaces_and_unicode(api: Api, s3_index: str) -> None:
    key = "docs/guides/搜索 指南 v2.txt"
    _put(api, key, GUIDE)
    assert api.s3_event(CREATED, BUCKET, key)["indexed"] == ["FINISH"]
    assert doc_names(_nodes(api, s3_index, "onboarding")) == ["搜索 指南 v2.txt"]


def test_key_with_a_percent_sequence_is_indexed(api: Api, s3_index: str) -> None:
    _put(api, "docs/100%25 done.txt", GUIDE)
    job_id = api.submit(s3_index, None).data["Id"]
    assert api.job_status(s3_index, job_id).data["Status"] == "COMPLETED"


def test_malformed_event_is_rejected(api: Api) -> None:
    event = api.client.events.generate_cw_event(source="aws.s3", detail_type=CREATED, detail={"bucket": {}},
                                                resources=[])
    with pytest.raises(Exception, match="detail"):
        api.invoke("OnObjectEvent", event)
