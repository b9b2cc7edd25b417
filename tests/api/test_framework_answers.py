"""Issue 12 #12: requests no operation takes are answered in the documented envelope, not by the framework.

Through ``chalice.test.Client`` and a real ``chalice local`` over HTTP: an unknown path is a 404
``InvalidAction.NotFound``, a known path with another method a 405 ``UnsupportedHTTPMethod`` with ``Allow``, and any
content type reaches the operation (a body that is not JSON is a 400 that says so, not Chalice's 415).
What stays outside Sift's reach is written down in the README ("Errors outside an operation").
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import WS, Api
from tests.api.sdk import LocalServer


def _reply(api: Api, method: str, path: str, body: bytes = b"", content_type: str = "application/json") -> Any:
    return api.client.http.request(method, path, headers={"Content-Type": content_type}, body=body)


@pytest.mark.parametrize("path", ["/nope", "/ws/index/nope", "/a/b/c/d/e/f/g/h"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_path_is_a_404_in_the_bailian_envelope(api: Api, method: str, path: str) -> None:
    reply = _reply(api, method, path, b"{}")
    body = json.loads(reply.body)
    assert reply.status_code == 404
    assert body["Code"] == "InvalidAction.NotFound" and body["Success"] is False and body["Status"] == "404"
    assert f"{method} {path}" in body["Message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", f"/{WS}/index/create", "POST"),
    ("DELETE", f"/{WS}/index/retrieve", "POST"),
    ("POST", f"/{WS}/index/list_indices", "GET"),
    ("OPTIONS", f"/{WS}/index/retrieve", "POST"),
    ("PATCH", f"/{WS}/datacenter/category/cat_1", "DELETE, POST"),
])
def test_another_method_on_a_known_path_is_a_405_that_names_the_allowed_ones(
    api: Api, method: str, path: str, allowed: str
) -> None:
    reply = _reply(api, method, path, b"{}")
    body = json.loads(reply.body)
    assert reply.status_code == 405 and reply.headers["Allow"] == allowed
    assert body["Code"] == "UnsupportedHTTPMethod" and body["Status"] == "405" and body["Success"] is False


def test_the_rpc_endpoint_answers_other_methods_in_the_imm_envelope(api: Api) -> None:
    for method in ("PUT", "DELETE", "OPTIONS"):
        reply = _reply(api, method, "/")
        body = json.loads(reply.body)
        assert reply.status_code == 405 and reply.headers["Allow"] == "GET, POST"
        assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
        assert body["Code"] == "UnsupportedHTTPMethod"


@pytest.mark.parametrize("content_type", ["text/csv", "multipart/form-data; boundary=x", "application/xml", "image/png"])
def test_any_content_type_reaches_the_operation(api: Api, content_type: str) -> None:
    reply = _reply(api, "POST", f"/{WS}/index/create", b"<Name>x</Name>", content_type)
    body = json.loads(reply.body)
    assert reply.status_code == 400 and body["Code"] == "Index.InvalidParameter"
    assert "JSON" in body["Message"]
    assert _reply(api, "POST", f"/{WS}/index/create", b'{"Name": "typed-by-body"}', "text/plain").status_code == 200


def _http(server: LocalServer, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + path, data=b"{}" if method != "GET" else None, method=method,
                                     headers={"Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_chalice_local_answers_in_the_envelope_over_http(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "sift", tmp_path / "chalice-local.log")
    try:
        status, _, raw = _http(server, "GET", "/no/such/operation")
        assert (status, json.loads(raw)["Code"]) == (404, "InvalidAction.NotFound")
        status, headers, raw = _http(server, "OPTIONS", f"/{WS}/index/retrieve")
        assert (status, headers.get("Allow"), json.loads(raw)["Code"]) == (405, "POST", "UnsupportedHTTPMethod")
        status, _, raw = _http(server, "POST", f"/{WS}/index/create")  # text/csv, once a 415 from Chalice
        assert (status, json.loads(raw)["Code"]) == (400, "Index.InvalidParameter")
    finally:
        server.stop()
