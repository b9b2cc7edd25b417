"""SubmitReindexJob (a Sift extension, ``POST /{WorkspaceId}/index/reindex``): rebuild an index from its SourceURI into
a new version and swap it in; on the local stage the reindex runs inside the request."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import WS, Api, assert_error, doc_names


def _reindex(api: Api, index_id: str, **fields: object) -> dict[str, object]:
    reply = api.post(f"/{WS}/index/reindex", {"IndexId": index_id, **fields})
    assert reply.status == 200, reply.body
    return reply.data  # type: ignore[no-any-return]


def test_a_reindex_rebuilds_from_the_source_uri_and_swaps_in(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stove.txt").write_text("The Larkspur stove boils water in three minutes.", encoding="utf-8")
    index_id = api.create_index("rebuilt", SourceURI=folder.as_uri() + "/")
    api.submit(index_id, None)
    (folder / "stove.txt").write_text("The Larkspur stove now boils water in two minutes.", encoding="utf-8")
    (folder / "lamp.txt").write_text("The Glow lamp runs for forty hours on one charge.", encoding="utf-8")

    started = _reindex(api, index_id)

    assert started["Status"] == "COMPLETED" and started["IndexId"] == index_id
    job = api.job_status(index_id, str(started["Id"])).data
    assert job["Status"] == "COMPLETED"
    assert sorted(document["DocName"] for document in job["Documents"]) == ["lamp.txt", "stove.txt"]
    assert "two minutes" in api.nodes(index_id, "stove boils water")[0]["Text"]
    assert doc_names(api.nodes(index_id, "lamp forty hours"))[0] == "lamp.txt"  # found only in the new version


def test_a_reindex_needs_a_source_uri_and_an_existing_index(api: Api) -> None:
    index_id = api.create_index("no-source")
    assert_error(api.post(f"/{WS}/index/reindex", {"IndexId": index_id}), 400, "Index.InvalidParameter",
                 field="SourceURI")
    assert_error(api.post(f"/{WS}/index/reindex", {"IndexId": "kb_missing"}), 404, "Index.NotFound")
    assert_error(api.post(f"/{WS}/index/reindex", {"IndexId": index_id, "Force": "yes"}), 400,
                 "Index.InvalidParameter", field="Force")
