"""An in-memory, single-node OpenSearch behind a ``requests`` transport adapter, for tests and the cost benchmark.

The real ``opensearchpy.OpenSearch`` client (built by ``chalicelib.search.opensearch.client.build_client``, auth and
all) talks to it: only the socket is replaced. Mount it with ``InMemoryOpenSearch.mount(client)``. Every request is
recorded with its method, path and body/response sizes, so a benchmark can count round trips and bytes.

It implements the REST calls Sift's backend makes — index create/exists/delete, aliases, mappings, ``_bulk``,
``_doc``, ``_search``, ``_count``, ``_msearch``, ``_delete_by_query``, ``_refresh`` — and the query clauses its
builders emit: ``bool``, ``term``, ``terms``, ``range``, ``exists``, ``match``, ``match_all``, ``wildcard``, ``knn`` (exact,
innerproduct/cosinesimil scores as the k-NN plugin reports them, efficient ``filter``, ``ignore_unmapped``). ``match``
scores by a plain term-overlap count, not BM25: rankings agree with a real cluster only on easy cases, which is all a
wiring test needs. Any clause or endpoint it does not know is answered with HTTP 400, never silently ignored.

Before answering, it checks the request against the official OpenSearch API specification
(``tests/fakes/opensearch_spec.py``): a body a real cluster would refuse is a 400 ``spec_violation`` here too.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

from tests.fakes.opensearch_spec import OpenSearchSpec, SpecViolation, specification

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


class _HttpError(Exception):
    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {"error": {"type": error_type, "reason": reason}, "status": status}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    request_bytes: int
    response_bytes: int
    status: int


class InMemoryOpenSearch:
    def __init__(self, spec: OpenSearchSpec | None = None) -> None:
        self.indices: dict[str, dict[str, Any]] = {}  # name -> {"body": create body, "docs": {id: source}}
        self.aliases: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        # Every request is checked against the official API specification first; what it refuses is answered 400
        # ``spec_violation`` and kept here, so a test can also assert that there was none.
        self.spec = spec or specification()
        self.violations: list[str] = []

    # --- plumbing -----------------------------------------------------------------------------------------------------

    def mount(self, client: Any) -> None:
        """Route every connection of ``client`` (an ``opensearchpy.OpenSearch``) to this fake."""
        for connection in client.transport.connection_pool.connections:
            adapter = _Adapter(self)
            connection.session.mount("http://", adapter)
            connection.session.mount("https://", adapter)

    def handle(self, method: str, url: str, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(url)
        params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        segments = [segment for segment in parts.path.split("/") if segment]
        try:
            self.spec.check(method, parts.path, body)
        except SpecViolation as exc:
            self.violations.append(str(exc))
            return 400, {"error": {"type": "spec_violation", "reason": str(exc)}, "status": 400}
        try:
            return 200, self._route(method, segments, params, body)
        except _HttpError as exc:
            return exc.status, exc.body

    def _route(self, method: str, path: list[str], params: Mapping[str, str], body: bytes) -> Any:
        if path == ["_bulk"] or (len(path) == 2 and path[1] == "_bulk"):
            return self._bulk(body, params, path[0] if len(path) == 2 else None)
        if path == ["_msearch"]:
            return self._msearch(body)
        if len(path) == 2 and path[0] == "_alias":
            return self._get_alias(path[1])
        if len(path) == 1:
            if method == "HEAD":
                if path[0] in self.indices or path[0] in self.aliases:
                    return {}
                raise _HttpError(404, "index_not_found_exception", path[0])
            if method == "PUT":
                return self._create(path[0], _json(body))
            if method == "DELETE":
                return self._delete_index(path[0])
        if len(path) == 2:
            name, action = path
            if action == "_mapping":
                index = self._resolve(name)
                return {index: {"mappings": self.indices[index]["body"].get("mappings", {})}}
            if action == "_refresh":
                return {"_shards": {"successful": 1}}
            if action == "_search":
                return self._search(name, _json(body) if body else {})
            if action == "_count":
                return {"count": len(self._docs(name))}
            if action == "_delete_by_query":
                return self._delete_by_query(name, _json(body))
            if action == "_doc" and method == "POST":
                return self._index(name, None, _json(body))
        if len(path) == 3 and path[1] == "_doc":
            name, _, doc_id = path
            if method in ("PUT", "POST"):
                return self._index(name, doc_id, _json(body))
            if method == "GET":
                source = self._docs(name).get(doc_id)
                if source is None:
                    raise _HttpError(404, "not_found", doc_id)
                return {"_index": self._resolve(name), "_id": doc_id, "found": True, "_source": source}
            if method == "DELETE":
                if self._docs(name).pop(doc_id, None) is None:
                    raise _HttpError(404, "not_found", doc_id)
                return {"result": "deleted"}
        raise _HttpError(400, "unsupported_by_fake", f"{method} /{'/'.join(path)}")

    # --- indices ------------------------------------------------------------------------------------------------------

    def _create(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        if index in self.indices or index in self.aliases:
            raise _HttpError(400, "resource_already_exists_exception", index)
        self.indices[index] = {"body": body, "docs": {}}
        for alias in body.get("aliases", {}):
            self.aliases[alias] = index
        return {"acknowledged": True, "index": index}

    def _delete_index(self, index: str) -> dict[str, Any]:
        if index not in self.indices:
            raise _HttpError(404, "index_not_found_exception", index)
        del self.indices[index]
        for alias in [alias for alias, target in self.aliases.items() if target == index]:
            del self.aliases[alias]
        return {"acknowledged": True}

    def _get_alias(self, alias: str) -> dict[str, Any]:
        if alias not in self.aliases:
            raise _HttpError(404, "aliases_not_found_exception", alias)
        return {self.aliases[alias]: {"aliases": {alias: {}}}}

    def _resolve(self, name: str) -> str:
        index = self.aliases.get(name, name)
        if index not in self.indices:
            raise _HttpError(404, "index_not_found_exception", f"no such index [{name}]")
        return index

    def _docs(self, name: str) -> dict[str, dict[str, Any]]:
        return self.indices[self._resolve(name)]["docs"]  # type: ignore[no-any-return]

    def _vector_fields(self, name: str) -> dict[str, str]:
        """knn_vector field -> space type."""
        properties = self.indices[self._resolve(name)]["body"].get("mappings", {}).get("properties", {})
        return {
            field: spec.get("method", {}).get("space_type", "l2")
            for field, spec in properties.items() if spec.get("type") == "knn_vector"
        }

    # --- writes -------------------------------------------------------------------------------------------------------

    def _index(self, name: str, doc_id: str | None, source: dict[str, Any]) -> dict[str, Any]:
        mappings = self.indices[self._resolve(name)]["body"].get("mappings", {})
        if mappings.get("dynamic") == "strict":  # as a cluster refuses a field its strict mapping does not name
            unmapped = sorted(set(source) - set(mappings.get("properties", {})))
            if unmapped:
                raise _HttpError(400, "strict_dynamic_mapping_exception",
                                 f"mapping set to strict, dynamic introduction of [{unmapped[0]}] is not allowed")
        doc_id = doc_id or uuid.uuid4().hex
        self._docs(name)[doc_id] = source
        return {"_index": self._resolve(name), "_id": doc_id, "result": "created"}

    def _bulk(self, body: bytes, params: Mapping[str, str], default_index: str | None) -> dict[str, Any]:
        lines = iter(_ndjson(body))
        items = []
        for action in lines:
            (operation, meta), = action.items()
            name = meta.get("_index", default_index)
            try:
                if params.get("require_alias") == "true" and name not in self.aliases:
                    raise _HttpError(404, "index_not_found_exception", f"[{name}] is not an alias")
                if operation in ("index", "create"):
                    result = self._index(name, meta.get("_id"), next(lines))
                    items.append({operation: {**result, "status": 201}})
                elif operation == "delete":
                    found = self._docs(name).pop(meta["_id"], None) is not None
                    items.append({"delete": {"_id": meta["_id"], "status": 200 if found else 404}})
                else:
                    raise _HttpError(400, "unsupported_by_fake", f"bulk {operation}")
            except _HttpError as exc:
                if operation in ("index", "create"):
                    next(lines, None)
                items.append({operation: {"_id": meta.get("_id"), "status": exc.status, "error": exc.body["error"]}})
        return {"took": 1, "errors": any("error" in next(iter(item.values())) for item in items), "items": items}

    def _delete_by_query(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        docs = self._docs(name)
        doomed = [doc_id for doc_id, source in docs.items() if _matches(source, body.get("query", {"match_all": {}}))]
        for doc_id in doomed:
            del docs[doc_id]
        return {"deleted": len(doomed)}

    # --- search -------------------------------------------------------------------------------------------------------

    def _msearch(self, body: bytes) -> dict[str, Any]:
        lines = _ndjson(body)
        responses = []
        for header, query in zip(lines[::2], lines[1::2]):
            try:
                responses.append({**self._search(header["index"], query), "status": 200})
            except _HttpError as exc:
                responses.append({**exc.body, "status": exc.status})
        return {"took": 1, "responses": responses}

    def _search(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        docs = self._docs(name)
        query = body.get("query", {"match_all": {}})
        if "knn" in query:
            scored = self._knn(name, docs, query["knn"])
        else:
            scored = [(doc_id, _score(source, query)) for doc_id, source in docs.items() if _matches(source, query)]
            scored.sort(key=lambda pair: -pair[1])
        for sort in reversed(body.get("sort", [])):
            field = next(iter(sort)) if isinstance(sort, dict) else sort
            descending = isinstance(sort, dict) and _sort_order(sort[field]) == "desc"
            scored.sort(key=lambda pair: str(_field(docs[pair[0]], field) or ""), reverse=descending)
        start = int(body.get("from", 0))
        page = scored[start : start + int(body.get("size", 10))]
        hits = [
            {"_index": self._resolve(name), "_id": doc_id, "_score": score,
             "_source": _project(docs[doc_id], body.get("_source", True)),
             **({"sort": [_field(docs[doc_id], next(iter(s)) if isinstance(s, dict) else s) for s in body["sort"]]}
                if "sort" in body else {})}
            for doc_id, score in page
        ]
        return {"took": 1, "timed_out": False, "hits": {"total": {"value": len(scored), "relation": "eq"},
                                                        "max_score": hits[0]["_score"] if hits else None,
                                                        "hits": hits}}

    def _knn(self, name: str, docs: Mapping[str, dict[str, Any]], knn: Mapping[str, Any]) -> list[tuple[str, float]]:
        (field, spec), = knn.items()
        spaces = self._vector_fields(name)
        if field not in spaces:
            if spec.get("ignore_unmapped"):
                return []
            raise _HttpError(400, "illegal_argument_exception", f"Field '{field}' is not knn_vector type.")
        query = spec["vector"]
        candidates = [
            (doc_id, _engine_score(spaces[field], query, source[field]))
            for doc_id, source in docs.items()
            if field in source and ("filter" not in spec or _matches(source, spec["filter"]))
        ]
        candidates.sort(key=lambda pair: -pair[1])
        return candidates[: int(spec["k"])]


class _Adapter(BaseAdapter):
    def __init__(self, server: InMemoryOpenSearch) -> None:
        super().__init__()
        self._server = server

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        raw = request.body or b""
        body = raw.encode() if isinstance(raw, str) else raw
        assert isinstance(body, bytes), "opensearch-py sends bodies as bytes"  # not a stream
        status, payload = self._server.handle(request.method or "GET", request.url or "/", body)
        content = b"" if request.method == "HEAD" else json.dumps(payload).encode()
        self._server.requests.append(
            RecordedRequest(request.method or "GET", urlsplit(request.url or "/").path, len(body), len(content), status)
        )
        response = requests.Response()
        response.status_code = status
        response._content = content
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


# --- query evaluation --------------------------------------------------------------------------------------------------


def _matches(source: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    (kind, spec), = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        must = [*spec.get("must", []), *spec.get("filter", [])]
        should = spec.get("should", [])
        minimum = spec.get("minimum_should_match", 0 if must else 1)
        return (
            all(_matches(source, clause) for clause in _listed(must))
            and not any(_matches(source, clause) for clause in _listed(spec.get("must_not", [])))
            and (not should or sum(_matches(source, clause) for clause in _listed(should)) >= int(minimum))
        )
    if kind in ("term", "terms"):
        (field, expected), = ((k, v) for k, v in spec.items() if k != "boost")
        if kind == "term":
            expected = [expected["value"] if isinstance(expected, dict) else expected]
        values = _values(source, field)
        return any(value in values for value in expected)
    if kind == "exists":
        return bool(_values(source, spec["field"]))
    if kind == "range":
        (field, bounds), = spec.items()
        return any(_in_range(value, bounds) for value in _values(source, field))
    if kind == "match":
        return _score(source, query) > 0
    if kind == "wildcard":
        (field, pattern), = spec.items()
        pattern = pattern["value"] if isinstance(pattern, dict) else pattern
        return any(isinstance(value, str) and _wildcard(pattern, value) for value in _values(source, field))
    raise _HttpError(400, "unsupported_by_fake", f"query clause {kind!r}")


def _wildcard(pattern: str, value: str) -> bool:
    """Lucene's wildcard query on a keyword: ``*`` any run, ``?`` one character, ``\\`` escapes; case-sensitive."""
    regex, escaped = [], False
    for character in pattern:
        if escaped:
            regex.append(re.escape(character))
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "*":
            regex.append(".*")
        elif character == "?":
            regex.append(".")
        else:
            regex.append(re.escape(character))
    return re.fullmatch("".join(regex), value, flags=re.DOTALL) is not None


def _score(source: Mapping[str, Any], query: Mapping[str, Any]) -> float:
    """Term overlap for ``match`` (summed over ``should``); 1.0 for anything else that matches."""
    (kind, spec), = query.items()
    if kind == "match":
        (field, value), = spec.items()
        text = value["query"] if isinstance(value, dict) else value
        cjk = field.endswith(".cjk")
        document = set(_tokens(" ".join(str(v) for v in _values(source, field.removesuffix(".cjk"))), cjk))
        return float(sum(token in document for token in set(_tokens(str(text), cjk))))
    if kind == "bool":
        return sum(_score(source, clause) for clause in _listed(spec.get("should", []))) or 1.0
    return 1.0


def _tokens(text: str, cjk: bool) -> list[str]:
    words = [word.lower() for word in _WORD.findall(text)]
    if not cjk:
        return [word for word in words if not _CJK.search(word)]
    return [word[i : i + 2] for word in words if _CJK.search(word) for i in range(max(1, len(word) - 1))]


def _engine_score(space: str, query: Sequence[float], vector: Sequence[float]) -> float:
    dot = sum(a * b for a, b in zip(query, vector))
    if space == "innerproduct":
        return 1.0 + dot if dot >= 0 else 1.0 / (1.0 - dot)
    norms = math.sqrt(sum(a * a for a in query)) * math.sqrt(sum(b * b for b in vector)) or 1.0
    if space == "cosinesimil":
        return (1.0 + dot / norms) / 2.0
    distance = sum((a - b) ** 2 for a, b in zip(query, vector))
    return 1.0 / (1.0 + distance)


def _values(source: Mapping[str, Any], field: str) -> list[Any]:
    value = _field(source, field)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _field(source: Mapping[str, Any], path: str) -> Any:
    if path in source:
        return source[path]
    current: Any = source
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _in_range(value: Any, bounds: Mapping[str, Any]) -> bool:
    checks = {"gt": lambda b: value > b, "gte": lambda b: value >= b, "lt": lambda b: value < b,
              "lte": lambda b: value <= b}
    try:
        return all(checks[op](bound) for op, bound in bounds.items() if op in checks)
    except TypeError:
        return False


def _project(source: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    if spec is False:
        return None
    if isinstance(spec, dict):
        included = spec.get("includes")
        excluded = spec.get("excludes", [])
        return {
            key: value for key, value in source.items()
            if (included is None or key in included) and key not in excluded
        }
    return source


def _sort_order(spec: Any) -> str:
    return str(spec.get("order", "asc")) if isinstance(spec, dict) else str(spec)


def _listed(clauses: Any) -> list[Mapping[str, Any]]:
    return clauses if isinstance(clauses, list) else [clauses]


def _json(body: bytes) -> dict[str, Any]:
    return json.loads(body) if body else {}  # type: ignore[no-any-return]


def _ndjson(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


__all__ = ["InMemoryOpenSearch", "RecordedRequest"]

