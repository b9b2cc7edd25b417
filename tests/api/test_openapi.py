"""Issue 15: the OpenAPI 3.1 document (``chalicelib.api.openapi``, committed as ``docs/openapi.json``, served at
``GET /openapi.json``) — valid, current, complete — and the check every other API test runs through it
(``tests/api/openapi_check.py``: each response they receive validates against the document)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib.api import openapi
from chalicelib.api.operations import OPERATIONS
from tests.api import openapi_check
from tests.api.conftest import REPO_ROOT, WS, Api, assert_error

COMMITTED = REPO_ROOT / "docs" / "openapi.json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.document()


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi.document_json(), (
        "docs/openapi.json is stale: regenerate it with `make openapi`")


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # openapi-spec-validator: the 3.1 schema, every $ref resolved, path parameters declared


def test_every_route_of_the_app_is_documented_with_its_methods(document: dict[str, Any]) -> None:
    for path, entries in app.routes.items():
        views = {method: entry.view_name for method, entry in entries.items()}
        if all(name.startswith("unknown_route_") for name in views.values()):
            continue  # the local stage's catch-alls: x-sift-unknown-route
        item = document["paths"].get(path)
        assert item is not None, f"{path} is a route the document does not have"
        served = {method for method, name in views.items() if not name.startswith("refuse_method_")}
        refused = set(views) - served
        assert {method.upper() for method in item if method in _METHODS} == served, path
        assert set(item["x-sift-other-methods"]["methods"]) == refused, path
    routes = set(app.routes)
    assert set(document["paths"]) <= routes, set(document["paths"]) - routes


def test_every_operation_is_there_with_its_models_and_envelopes(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for operation in OPERATIONS:
        entry = document["paths"][operation.path][operation.method.lower()]
        assert entry["operationId"] == operation.name
        assert entry.get("x-sift-extension", False) is operation.extension, operation.name
        envelope = entry["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert envelope in schemas
        responses = entry["responses"]
        assert {"400", "404", "500", "503"} <= set(responses), operation.name
        family = "Bailian" if operation.family.value == "bailian" else "Imm"
        assert responses["404"] == {"$ref": f"#/components/responses/{family}404"}
    rpc = document["paths"]["/"]["x-sift-rpc-actions"]
    assert rpc == {operation.name: operation.path for operation in OPERATIONS if operation.family.value == "imm"}


def test_sift_extensions_are_marked(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["CreateIndexRequest"]["properties"]["SourceURI"]["x-sift-extension"] is True
    assert schemas["JobStatusData"]["properties"]["Counts"]["x-sift-extension"] is True
    assert "x-sift-extension" not in schemas["RetrieveRequest"]["properties"]["Query"]
    marked = [(name, key) for name, schema in schemas.items()
              for key, value in schema.get("properties", {}).items()
              if key in ("Explain", "Fusion") and not value.get("x-sift-extension")]
    assert marked == []
    retrieve = document["paths"]["/{WorkspaceId}/index/retrieve"]["post"]
    for parameter in retrieve["parameters"]:
        if parameter["name"] in ("Explain", "Fusion"):
            assert parameter["x-sift-extension"] is True


def test_every_property_has_a_type(document: dict[str, Any]) -> None:
    """A field pydantic cannot describe (a plain validator, ``Any``) would be an empty schema: none is left."""
    typed = ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")
    untyped = [(name, key) for name, schema in document["components"]["schemas"].items()
               for key, value in schema.get("properties", {}).items() if not any(word in value for word in typed)]
    assert untyped == []


def test_search_filters_have_their_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["RetrieveRequest"]["properties"]["SearchFilters"]["$ref"] == "#/components/schemas/SearchFilters"
    checker = openapi_check.Checker(document)
    pointer = "#/components/schemas/SearchFilters"
    validator = checker._validator_for(pointer)
    good = [{"category": "policy", "_conditions": [{"year": {"gte": 2024}}, {"language": "zh"}],
             "_conditions_operator": "OR"}, {"doc_name": {"like": "warranty"}}, {"tags": "[\"a\"]", "n": [1, "x"]}]
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors([{"year": {"gte": [1]}}]))
    assert list(validator.iter_errors({"year": 1}))


def test_get_openapi_json_serves_the_document(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    reply = api.get("/openapi.json")
    assert reply.status == 200 and reply.body == openapi.document()
    refused = api.client.http.post("/openapi.json", body=b"{}")
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
    monkeypatch.setenv("SIFT_OPENAPI", "false")
    assert_error(api.get("/openapi.json"), 404, "InvalidAction.NotFound")


def test_deployed_stages_serve_it_only_when_asked() -> None:
    assert openapi.enabled({"SIFT_STAGE": "local"})
    assert not openapi.enabled({"SIFT_STAGE": "local", "SIFT_OPENAPI": "false"})
    assert not openapi.enabled({"SIFT_STAGE": "prod"})
    assert openapi.enabled({"SIFT_STAGE": "prod", "SIFT_OPENAPI": "true"})


# --- the check of every response ----------------------------------------------------------------------------------


def test_each_kind_of_response_is_counted_and_validated(api: Api) -> None:
    before = (openapi_check.STATS.received, openapi_check.STATS.validated)
    index_id = api.create_index("kb-openapi")
    assert api.retrieve(index_id, "tent").status == 200  # success, knowledge-base envelope
    assert api.post(f"/{WS}/index/create", {"Name": 5}).status == 400  # an error of the operation
    assert api.get("/no/such/route").status == 404  # x-sift-unknown-route
    assert api.client.http.request("PATCH", f"/{WS}/index/retrieve").status_code == 405  # x-sift-other-methods
    rpc = api.client.http.request("POST", "/?ProjectName=p1", headers={"x-acs-action": "CreateProject"}, body=b"")
    assert rpc.status_code == 200  # the RPC endpoint, by its action
    assert api.client.http.request("POST", "/", headers={"x-acs-action": "Nope"}).status_code == 404
    assert api.invoke("ListIndices", {"WorkspaceId": WS})["Success"] is True  # a direct Lambda invocation
    received = openapi_check.STATS.received - before[0]
    assert received == 8
    assert openapi_check.STATS.validated - before[1] == received


def test_a_response_off_the_document_is_a_failure(document: dict[str, Any]) -> None:
    checker = openapi_check.Checker(document)
    path = f"/{WS}/index/retrieve"
    expected = checker.expected("POST", path, {}, 200)
    assert isinstance(expected, openapi_check.Expected)
    good = {"Code": "Success", "Data": {"Nodes": [{"Text": "t", "Score": 0.5, "Metadata": {}}]}, "Message": "success",
            "RequestId": "r", "Status": "200", "Success": True}
    assert checker.validate(expected, "application/json", json.dumps(good)) is None
    bad = json.loads(json.dumps(good))
    bad["Data"]["Nodes"][0]["Score"] = "0.5"
    assert "Score" in (checker.validate(expected, "application/json", json.dumps(bad)) or "")
    assert "not documented" in str(checker.expected("POST", path, {}, 418))
    assert "not documented" in str(checker.validate(expected, "text/html", "<p>"))
    assert isinstance(checker.expected("HEAD", path, {}, 501), str)  # neither an operation nor a refusal
    assert isinstance(checker.expected("GET", "/a/b/c/d/e/f/g/h/i", {}, 403), str)  # chalice local's own answer
    saved = copy.deepcopy(openapi_check.STATS)
    try:
        with openapi_check.checking() as failures:
            checker.check("test", "POST", path, {}, 418, "application/json", b"{}")
        assert len(failures) == 1 and "418" in failures[0]
        assert openapi_check.STATS.received == saved.received + 1
        assert openapi_check.STATS.validated == saved.validated
    finally:  # a deliberate failure: not the run's
        openapi_check.STATS.__dict__.update(saved.__dict__)


def test_the_run_so_far_is_fully_checked() -> None:
    """The report: every response the API tests received so far validated (the terminal summary prints it too)."""
    print(openapi_check.summary())
    assert openapi_check.STATS.failures == []
    assert openapi_check.STATS.validated == openapi_check.STATS.received
