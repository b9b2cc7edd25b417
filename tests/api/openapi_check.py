"""Every response the API tests receive is checked against the OpenAPI document (``chalicelib.api.openapi``).

Installed by ``tests/api/conftest.py`` (its hooks and ``install()``). The transports the tests use are wrapped at
their one call each:

* ``chalice.test.Client``: ``TestHTTPClient.request`` (HTTP, in process; the SDKs' ``routed_through`` ends here too)
  and ``TestLambdaClient.invoke`` (a direct invocation of an operation's Lambda: its result is the envelope);
* a real ``chalice local`` (``tests.api.sdk.LocalServer``): ``urllib.request.urlopen`` and the SDKs' one HTTP call
  (``darabonba.core.DaraCore.do_action``) to a server's port.

A response is matched to the document by path template, method and status: the operation's documented response for
that status; a method the path has no operation for, its ``x-sift-other-methods`` 405; a path no route has,
``x-sift-unknown-route``; ``POST /`` by its action (``x-sift-rpc-actions``). Its body must validate against that
response's schema for its content type (JSON Schema 2020-12, ``jsonschema``). A response that matches nothing (an
undocumented status, path or content type) is a failure like a body that does not validate: the test that received it
fails, naming both. Lambdas that are not operations (OnObjectEvent, IndexingTasks) answer no API call and are not
counted. ``STATS`` counts what was checked; the terminal summary reports it as a percentage (100 % or the run fails).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest
import referencing
import referencing.jsonschema

from chalicelib.api import openapi

_BASE = "urn:sift:openapi"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass
class Stats:
    received: int = 0
    validated: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # every failure of the run (the report)

    @property
    def percentage(self) -> float:
        return 100.0 * self.validated / self.received if self.received else 100.0


STATS = Stats()


@dataclass(frozen=True)
class Expected:
    """Where a response's schema is: the JSON pointer of a response object in the document, and what it answers."""

    pointer: str
    label: str


class Checker:
    """The document's routes, and one validator per response schema."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        resource = referencing.jsonschema.DRAFT202012.create_resource(document)
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resource(_BASE, resource)
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        self._routes = sorted(
            ((_template_regex(path), path) for path in document["paths"]),
            key=lambda route: _specificity(route[1]),
        )
        self.lambdas = {
            operation["x-sift-lambda"]: (path, method)
            for path, item in document["paths"].items() for method, operation in item.items()
            if method in _HTTP_METHODS and "x-sift-lambda" in operation
        }

    # --- matching ---------------------------------------------------------------------------------------------

    def expected(self, method: str, target: str, request_headers: Mapping[str, str], status: int) -> Expected | str:
        """The documented response for this answer, or why there is none."""
        parts = urllib.parse.urlsplit(target)
        path = parts.path.rstrip("/") or "/"  # the gateway drops a trailing "/" (some SDK paths end in one)
        template = next((template for regex, template in self._routes if regex.fullmatch(path)), None)
        if template is None:
            if status != 404:
                return f"{method} {path}: no route has the path, and the answer is {status}, not 404"
            return self._reference(self.document["x-sift-unknown-route"]["response"], f"unknown route {path}")
        item = self.document["paths"][template]
        lowered = method.lower()
        if lowered not in item:
            if method.upper() in item["x-sift-other-methods"]["methods"]:
                if status != 405:
                    return f"{method} {template}: a refused method, and the answer is {status}, not 405"
                return self._reference(item["x-sift-other-methods"]["response"], f"{method} {template} (405)")
            return f"{method} {template}: the document has neither an operation nor a refusal for the method"
        if template == openapi.RPC_PATH:
            action = _rpc_action(parts.query, request_headers)
            path_of_action = item["x-sift-rpc-actions"].get(action or "")
            if path_of_action is not None:
                template, lowered = path_of_action, "post"
        return self._operation_response(template, lowered, status)

    def expected_for_lambda(self, function: str, body: Any) -> Expected | str | None:
        """A direct invocation's envelope: None for a Lambda that is no operation."""
        if function not in self.lambdas:
            return None
        path, method = self.lambdas[function]
        if isinstance(body, dict) and "Status" in body and "Success" in body:  # the knowledge-base envelope
            status = int(body["Status"]) if str(body["Status"]).isdigit() else 0
        else:
            status = 200 if isinstance(body, dict) and "Code" not in body else 400  # IMM errors share one schema
        return self._operation_response(path, method, status)

    def _operation_response(self, template: str, method: str, status: int) -> Expected | str:
        operation = self.document["paths"][template][method]
        responses = operation["responses"]
        key = str(status)
        if key not in responses:
            return f"{operation['operationId']}: status {status} is not documented"
        pointer = "/".join(("#/paths", _escape(template), method, "responses", key))
        return self._reference(responses[key], f"{operation['operationId']} {status}", pointer)

    def _reference(self, response: Mapping[str, Any], label: str, pointer: str = "") -> Expected:
        if "$ref" in response:
            return Expected(response["$ref"], label)
        return Expected(pointer, label)

    # --- validating -------------------------------------------------------------------------------------------

    def validate(self, expected: Expected, content_type: str, body: bytes | str | Any) -> str | None:
        """None when the body is what the response documents, else what is wrong."""
        response = self._resolve(expected.pointer)
        media = (content_type or "").split(";", 1)[0].strip().lower() or "application/json"
        content = response.get("content", {})
        if media not in content:
            return f"{expected.label}: content type {media} is not documented ({', '.join(content) or 'none'})"
        schema_pointer = f"{expected.pointer}/content/{_escape(media)}/schema"
        if media != "application/json":
            return None if isinstance(body, bytes | str) else f"{expected.label}: a {media} body that is not text"
        if isinstance(body, bytes | str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                return f"{expected.label}: the body is not JSON ({exc})"
        error = jsonschema.exceptions.best_match(self._validator_for(schema_pointer).iter_errors(body))
        if error is None:
            return None
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
        return f"{expected.label}: body{where}: {error.message[:500]}"

    def _validator_for(self, schema_pointer: str) -> jsonschema.Draft202012Validator:
        validator = self._validators.get(schema_pointer)
        if validator is None:
            validator = jsonschema.Draft202012Validator({"$ref": _BASE + schema_pointer}, registry=self._registry)
            self._validators[schema_pointer] = validator
        return validator

    def _resolve(self, pointer: str) -> Mapping[str, Any]:
        value: Any = self.document
        for part in pointer.removeprefix("#/").split("/"):
            value = value[part.replace("~1", "/").replace("~0", "~")]
        return value

    # --- one response -----------------------------------------------------------------------------------------

    def check(self, source: str, method: str, target: str, request_headers: Mapping[str, str], status: int,
              content_type: str, body: Any) -> None:
        if _current is None:  # outside a test of tests/api (another directory's client): not this check's
            return
        STATS.received += 1
        STATS.by_source[source] += 1
        expected = self.expected(method, target, request_headers, status)
        problem = expected if isinstance(expected, str) else self.validate(expected, content_type, body)
        self._record(source, f"{method} {target}", expected, problem)

    def check_lambda(self, function: str, body: Any) -> None:
        if _current is None:
            return
        expected = self.expected_for_lambda(function, body)
        if expected is None:
            return
        STATS.received += 1
        STATS.by_source["lambda"] += 1
        problem = expected if isinstance(expected, str) else self.validate(expected, "application/json", body)
        self._record("lambda", f"Lambda {function}", expected, problem)

    def _record(self, source: str, what: str, expected: Expected | str, problem: str | None) -> None:
        if problem is None:
            STATS.validated += 1
            assert isinstance(expected, Expected)
            STATS.by_operation[expected.label] += 1
            return
        message = f"[{source}] {what}: {problem}"
        STATS.failures.append(message)
        if _current is not None:
            _current.append(message)


def _escape(text: str) -> str:
    return text.replace("~", "~0").replace("/", "~1")


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.compile(pattern)


def _specificity(template: str) -> tuple[int, ...]:
    """As chalice matches: segment by segment, a literal segment before a parameter."""
    segments = template.strip("/").split("/")
    return (len(segments), *(1 if segment.startswith("{") else 0 for segment in segments))


def _rpc_action(query: str, headers: Mapping[str, str]) -> str | None:
    named = next((value for name, value in headers.items() if name.lower() == "x-acs-action"), "")
    queried = (urllib.parse.parse_qs(query, keep_blank_values=True).get("Action") or [""])[-1]
    if named and queried and named != queried:
        return None
    return named or queried or None


# --- the current test ---------------------------------------------------------------------------------------------

_current: list[str] | None = None


@contextlib.contextmanager
def checking() -> Iterator[list[str]]:
    """Collect the failures of the responses received inside (one phase of one test)."""
    global _current
    previous, _current = _current, []
    try:
        yield _current
    finally:
        _current = previous


def failure_report(failures: list[str]) -> str:
    shown = "\n".join(f"  {failure}" for failure in failures[:10])
    more = f"\n  … and {len(failures) - 10} more" if len(failures) > 10 else ""
    return f"{len(failures)} response(s) do not match docs/openapi.json (chalicelib/api/openapi.py):\n{shown}{more}"


# --- the transports -----------------------------------------------------------------------------------------------

_checker: Checker | None = None
_server_ports: set[int] = set()


def checker() -> Checker:
    global _checker
    if _checker is None:
        _checker = Checker(openapi.document())
    return _checker


def install() -> None:
    """Wrap the transports once per process (idempotent)."""
    import chalice.test
    from darabonba.core import DaraCore

    from tests.api import sdk

    if getattr(chalice.test.TestHTTPClient.request, "_openapi_checked", False):
        return

    original_request = chalice.test.TestHTTPClient.request

    def request(self: Any, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes = b"") -> Any:
        response = original_request(self, method, path, headers=headers, body=body)
        checker().check("chalice.test", method.upper(), path, headers or {}, response.status_code,
                        _header(response.headers, "content-type"), response.body)
        return response

    request._openapi_checked = True  # type: ignore[attr-defined]
    chalice.test.TestHTTPClient.request = request  # type: ignore[method-assign]

    original_invoke = chalice.test.TestLambdaClient.invoke

    def invoke(self: Any, function_name: str, payload: Any = None) -> Any:
        response = original_invoke(self, function_name, payload)
        checker().check_lambda(function_name, response.payload)
        return response

    chalice.test.TestLambdaClient.invoke = invoke  # type: ignore[method-assign]

    original_init = sdk.LocalServer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _server_ports.add(self.port)

    sdk.LocalServer.__init__ = init  # type: ignore[method-assign]

    original_urlopen = urllib.request.urlopen

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        request = url if isinstance(url, urllib.request.Request) else urllib.request.Request(url)
        parts = urllib.parse.urlsplit(request.full_url)
        if parts.port not in _server_ports or parts.hostname != "127.0.0.1":
            return original_urlopen(url, *args, **kwargs)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(request.header_items())
        try:
            response = original_urlopen(url, *args, **kwargs)
        except urllib.error.HTTPError as error:
            data = error.read()
            checker().check("chalice local", request.get_method(), target, headers, error.code,
                            error.headers.get("Content-Type", ""), data)
            raise urllib.error.HTTPError(error.url, error.code, error.msg, error.headers, io.BytesIO(data)) from None
        data = response.read()
        checker().check("chalice local", request.get_method(), target, headers, response.status,
                        response.headers.get("Content-Type", ""), data)
        replay = urllib.response.addinfourl(io.BytesIO(data), response.headers, response.url, response.status)
        return replay

    urllib.request.urlopen = urlopen

    original_do_action = DaraCore.do_action

    def do_action(request: Any, runtime_option: Any = None) -> Any:
        response = original_do_action(request, runtime_option)
        url = urllib.parse.urlsplit(DaraCore.compose_url(request))
        if url.port in _server_ports and url.hostname == "127.0.0.1":
            target = url.path + (f"?{url.query}" if url.query else "")
            checker().check("sdk → chalice local", request.method.upper(), target, dict(request.headers),
                            response.status_code, _header(response.headers, "content-type"), response.body)
        return response

    DaraCore.do_action = staticmethod(do_action)  # type: ignore[method-assign]


# --- the hooks (imported by tests/api/conftest.py, so they run for the tests of tests/api) -------------------------


def _phase() -> Any:
    with checking() as failures:
        result = yield
    if failures:
        raise AssertionError(failure_report(failures))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    return (yield from _phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    return (yield from _phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    return (yield from _phase())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STATS.received:
        terminalreporter.write_line(summary())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if STATS.failures and session.exitstatus == 0:
        session.exitstatus = 1


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    return next((value for key, value in (headers or {}).items() if key.lower() == name), "")


def summary() -> str:
    sources = ", ".join(f"{source} {count}" for source, count in sorted(STATS.by_source.items()))
    line = (f"OpenAPI response check: {STATS.validated} of {STATS.received} responses validated against "
            f"docs/openapi.json ({STATS.percentage:.1f} %; {sources}; {len(STATS.by_operation)} operation/status pairs)")
    report = os.environ.get("SIFT_OPENAPI_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as handle:
            json.dump({"received": STATS.received, "validated": STATS.validated, "percentage": STATS.percentage,
                       "by_source": dict(STATS.by_source), "by_operation": dict(sorted(STATS.by_operation.items())),
                       "failures": STATS.failures}, handle, indent=2, ensure_ascii=False)
    return line
