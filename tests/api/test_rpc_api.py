"""The RPC endpoint and the protocol headers over raw HTTP, as signers other than the Python SDK's send them."""

from __future__ import annotations

import json
import urllib.parse

from tests.api.conftest import WS, Api, Reply, assert_error

IMM_ERROR_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}


def _rpc(api: Api, method: str, query: dict[str, str], *, headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, dict[str, object]]:
    response = api.client.http.request(method, f"/?{urllib.parse.urlencode(query)}", headers=headers or {}, body=body)
    return response.status_code, json.loads(response.body)


def test_older_signers_name_the_action_and_version_in_the_query_string(api: Api) -> None:
    status, body = _rpc(api, "GET", {"Action": "CreateProject", "Version": "2020-09-30", "ProjectName": "travel",
                                     "Format": "JSON", "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "n1",
                                     "Timestamp": "2026-12-03T10:00:00Z", "AccessKeyId": "ak", "Signature": "s"})
    assert status == 200, body
    assert body["Project"]["ProjectName"] == "travel"  # type: ignore[index]
    status, body = _rpc(api, "POST", {"Action": "ListDatasets", "Version": "2020-09-30", "ProjectName": "travel"})
    assert (status, body["Datasets"]) == (200, [])


def test_a_json_body_reaches_the_rpc_endpoint_too(api: Api) -> None:
    status, body = _rpc(api, "POST", {}, headers={"x-acs-action": "CreateProject", "Content-Type": "application/json"},
                        body=json.dumps({"ProjectName": "travel"}).encode())
    assert status == 200, body


def test_missing_or_unknown_actions_and_wrong_versions_answer_in_the_imm_envelope(api: Api) -> None:
    for query, headers, status, code in (
        ({}, {}, 404, "InvalidAction.NotFound"),
        ({"Action": "DescribeRegions"}, {}, 404, "InvalidAction.NotFound"),
        ({}, {"x-acs-action": "Retrieve"}, 404, "InvalidAction.NotFound"),  # a Bailian operation is not an IMM one
        ({"ProjectName": "p"}, {"x-acs-action": "CreateProject", "x-acs-version": "2017-09-06"}, 400,
         "InvalidVersion"),
        ({"Action": "CreateProject", "Version": "2019-01-01", "ProjectName": "p"}, {}, 400, "InvalidVersion"),
    ):
        got, body = _rpc(api, "POST", query, headers=headers)
        assert (got, body["Code"]) == (status, code), body
        assert set(body) == IMM_ERROR_KEYS
    # an action that is not valid UTF-8 (an encoded lone surrogate) is still answered in JSON
    response = api.client.http.request("POST", "/?Action=%ED%A0%80%FF", headers={}, body=b"")
    assert (response.status_code, json.loads(response.body)["Code"]) == (404, "InvalidAction.NotFound")


def test_a_bailian_route_refuses_another_api_version(api: Api) -> None:
    response = api.client.http.get(f"/{WS}/index/list_indices", headers={"x-acs-version": "2020-09-30"})
    assert_error(Reply(response.status_code, json.loads(response.body)), 400, "InvalidVersion")
    ok = api.client.http.get(f"/{WS}/index/list_indices", headers={"x-acs-version": "2023-12-29"})
    assert ok.status_code == 200


def test_images_alone_search_only_an_image_index(api: Api) -> None:
    index_id = api.create_index("text-only")
    reply = api.post(f"/{WS}/index/retrieve", {"IndexId": index_id, "Images": ["https://example.com/cat.png"]})
    assert reply.data == {"Nodes": []}  # no image index here: Images are unused (documented), so nothing to search
