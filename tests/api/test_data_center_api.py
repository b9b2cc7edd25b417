"""The data center over HTTP in Sift's JSON form, and the local stage's upload route: what a caller gets wrong is a
400 or 404 in the envelope, and leaves what is stored as it was. The SDK flow is in ``test_official_sdks.py``."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

from tests.api.conftest import WS, Api

DATA = "# Returns\n\nItems may be returned within 30 days. 三十天内可退货。".encode()


def _lease(api: Api, data: bytes = DATA, **changes: Any) -> dict[str, Any]:
    body = {"FileName": "returns.md", "Md5": hashlib.md5(data).hexdigest(), "SizeInBytes": len(data)} | changes
    return api.post(f"/{WS}/datacenter/category/default", body).data  # type: ignore[no-any-return]


def _put(api: Api, path: str, data: bytes) -> tuple[int, dict[str, Any]]:
    reply = api.client.http.put(path, body=data, headers={"Content-Type": "application/octet-stream"})
    return reply.status_code, json.loads(reply.body)


def test_the_upload_route_refuses_what_is_not_a_live_lease_and_keeps_a_good_upload(api: Api) -> None:
    lease = _lease(api)
    path = urllib.parse.urlsplit(lease["Param"]["Url"]).path
    assert path == f"/sift-uploads/{WS}/{lease['FileUploadLeaseId']}"
    assert _put(api, path, DATA)[0] == 200
    status, wrong = _put(api, path, DATA + b" and more")  # a second, wrong upload must not replace the good one
    assert (status, wrong["Code"]) == (400, "Index.InvalidParameter")
    for bad_path, expected in ((f"/sift-uploads/{WS}/lease_{'0' * 32}", 404),
                               (f"/sift-uploads/ws_other/{lease['FileUploadLeaseId']}", 404),
                               (f"/sift-uploads/{WS}/{'x' * 5000}", 400),
                               (f"/sift-uploads/{'w' * 65}/{lease['FileUploadLeaseId']}", 400)):
        status, body = _put(api, bad_path, DATA)
        assert (status, body["Success"]) == (expected, False), body
        assert len(body["Message"]) < 200, body["Message"]  # no echo of a long input
    added = api.call("PUT", f"/{WS}/datacenter/file", {"LeaseId": lease["FileUploadLeaseId"], "CategoryId": "default"})
    file = api.get(f"/{WS}/datacenter/file/{added.data['FileId']}").data
    assert (file["Status"], file["SizeInBytes"]) == ("PARSE_SUCCESS", len(DATA))
    assert _put(api, path, DATA)[0] == 404  # the lease made its file: it takes no more uploads


def test_lease_parameters_are_checked_before_anything_is_granted(api: Api) -> None:
    for changes, field in (({"Md5": "xyz"}, "Md5"), ({"SizeInBytes": 0}, "SizeInBytes"),
                           ({"FileName": "a/b.md"}, "FileName"), ({"FileName": ""}, "FileName"),
                           ({"CategoryType": "STRUCTURED"}, "CategoryType"), ({"Unknown": 1}, "Unknown")):
        body = {"FileName": "returns.md", "Md5": "0" * 32, "SizeInBytes": 10} | changes
        reply = api.post(f"/{WS}/datacenter/category/default", body)
        assert reply.status == 400 and f"Parameter {field}" in reply.body["Message"], reply.body
    clash = api.post(f"/{WS}/datacenter/category/default", {"CategoryId": "cate_other", "FileName": "a.md",
                                                            "Md5": "0" * 32, "SizeInBytes": 1})
    assert clash.status == 400 and "Parameter CategoryId" in clash.body["Message"]  # path and body disagree


def test_list_file_pages_with_its_own_tokens(api: Api) -> None:
    names = [f"f{i}.md" for i in range(5)]
    for name in names:
        api.upload_file(name, f"# {name}\n\ncontent {name}".encode())
    seen: list[str] = []
    token = ""
    while True:
        page = api.get(f"/{WS}/datacenter/files", {"CategoryId": "default", "MaxResults": 2,
                                                   **({"NextToken": token} if token else {})}).data
        seen += [item["FileName"] for item in page["FileList"]]
        assert page["TotalCount"] == 5
        if not page["HasNext"]:
            break
        token = page["NextToken"]
    assert seen == names
    bad = api.get(f"/{WS}/datacenter/files", {"CategoryId": "default", "NextToken": "not-a-token"})
    assert bad.status == 400 and "Parameter NextToken" in bad.body["Message"]
    for name in ("f3", "f3.md"):  # exactly that name, with or without its extension
        named = api.get(f"/{WS}/datacenter/files", {"CategoryId": "default", "FileName": name}).data
        assert [item["FileName"] for item in named["FileList"]] == ["f3.md"]
    assert api.get(f"/{WS}/datacenter/files", {"CategoryId": "default", "FileName": "f"}).data["FileList"] == []
    clamped = api.get(f"/{WS}/datacenter/files", {"CategoryId": "default", "MaxResults": 0}).data
    assert clamped["MaxResults"] == 20  # below 1 means the default, as documented
    assert api.get(f"/{WS}/datacenter/files", {"CategoryId": "default", "MaxResults": 500}).data["MaxResults"] == 200


def test_an_index_of_files_through_the_lambdas(api: Api) -> None:
    file_id = api.upload_file("returns.md", DATA, tags=["policy"])
    created = api.invoke("CreateIndex", {"WorkspaceId": WS, "Name": "files", "SourceType": "DATA_CENTER_FILE",
                                         "DocumentIds": [file_id]})
    assert created["Success"] is True, created
    job = api.invoke("SubmitIndexJob", {"WorkspaceId": WS, "IndexId": created["Data"]["Id"]})
    assert job["Data"]["Status"] == "COMPLETED", job
    described = api.invoke("DescribeFile", {"WorkspaceId": WS, "FileId": file_id})
    assert described["Data"]["FileName"] == "returns.md"
    nodes = api.nodes(created["Data"]["Id"], "退货", SearchFilters=[{"tags": ["policy"]}])
    assert [node["Metadata"]["doc_id"] for node in nodes] == [file_id]


def test_a_media_project_named_like_a_workspace_reads_nothing_of_its_data_center(api: Api) -> None:
    from chalicelib.composition import service

    file_id = api.upload_file("returns.md", DATA)
    assert api.post("/imm/CreateProject", {"ProjectName": WS}).status == 200
    assert api.post("/imm/CreateDataset", {"ProjectName": WS, "DatasetName": "d"}).status == 200
    uri = f"datacenter://{WS}/{file_id}"
    refused = api.post("/imm/IndexFileMeta", {"ProjectName": WS, "DatasetName": "d", "File": {"URI": uri}})
    assert refused.status == 400 and "File.URI" in refused.body["Message"]  # the wire admits no such URI
    media = service().media  # and beneath the wire, the source policy refuses it too
    dataset = media.get_dataset(WS, "d")
    [outcome] = media.index_files(dataset, [{"URI": uri, "Filename": "returns.md"}])
    assert "not read" in outcome.message, outcome
    assert "三十天" not in json.dumps([file.record.title for file in media.semantic_query(
        dataset, query="returned within 30 days", source_uri=None, max_results=10, media_types=["document"])[1]],
        ensure_ascii=False)
