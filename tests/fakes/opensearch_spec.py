"""Request bodies checked against the official OpenSearch API specification (``../shared/opensearch-api-spec/spec``).

The in-memory node (``tests/fakes/opensearch.py``) hands every request it receives to ``OpenSearchSpec.check`` before
answering it, so a body a real cluster would reject — a misspelt query clause, a bulk action line of the wrong shape, a
body on an endpoint that takes none — fails the test that sent it.

How the spec is read (its README lists what to watch for):
- the operation is found by method and path, the path template with the most literal segments winning
  (``/_msearch`` is not ``/{index}``);
- ``oneOf`` is read as ``anyOf``: several of the spec's ``oneOf`` reject valid bodies because two alternatives match;
- NDJSON bodies are checked line by line by position: ``_bulk`` action lines against ``OperationContainer`` (the
  document lines are the caller's data), ``_msearch`` header and body lines against ``MultisearchHeader`` and
  ``MultisearchBody`` (the combined line schema matches every line);
- the spec's objects are open; the ones whose keys Sift writes are closed here (``CLOSED``: query clauses, bool
  queries, bulk actions, msearch lines, index creation), so a misspelt key there fails too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_ROOT = Path(__file__).resolve().parents[3] / "shared" / "opensearch-api-spec" / "spec"
_METHODS = ("get", "put", "post", "delete", "head")
# Schemas closed with ``unevaluatedProperties: false`` (at the level that composes them, so allOf parts still count).
CLOSED = {
    "_common.query_dsl.yaml": ("QueryContainer", "BoolQuery"),
    "_core.bulk.yaml": ("OperationContainer",),
    "_core.msearch.yaml": ("MultisearchHeader", "MultisearchBody"),
}
# Request bodies closed the same way: index creation takes aliases, mappings and settings, nothing else.
CLOSED_BODIES = {"indices.yaml": ("indices.create",)}


class SpecViolation(AssertionError):
    """A request the OpenSearch API specification does not allow."""


@dataclass(frozen=True, slots=True)
class _Operation:
    template: str
    method: str
    document: str  # the namespace file's URI, for its relative $refs
    spec: dict[str, Any]


class OpenSearchSpec:
    def __init__(self, root: Path = SPEC_ROOT) -> None:
        if not root.is_dir():
            raise FileNotFoundError(f"the OpenSearch API specification is not at {root} (../shared beside the repo)")
        self._documents: dict[str, Any] = {}
        for path in sorted(root.rglob("*.yaml")):
            document = _any_of_for_one_of(yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER))
            for name in CLOSED.get(path.name, ()):
                _close(document["components"]["schemas"][name])
            for name in CLOSED_BODIES.get(path.name, ()):
                _close(document["components"]["requestBodies"][name]["content"]["application/json"]["schema"])
            self._documents[path.as_uri()] = document
        self._registry: Registry = Registry().with_resources(
            (uri, Resource.from_contents(document, default_specification=DRAFT202012))
            for uri, document in self._documents.items()
        )
        self._operations = [
            _Operation(template, method, uri, item[method])
            for uri, document in self._documents.items() if "/namespaces/" in uri
            for template, item in (document.get("paths") or {}).items()
            for method in _METHODS if method in item
        ]
        self.checked = 0  # request bodies validated

    def check(self, method: str, path: str, body: bytes) -> None:
        """Raise ``SpecViolation`` unless the spec has this operation and allows this body."""
        operation = self._operation(method.lower(), path)
        where = f"{method} {operation.template}"
        reference = (operation.spec.get("requestBody") or {}).get("$ref")  # Sift's operations all name theirs
        request_body = self._at(operation.document, reference) if reference else None
        if not body:
            if request_body is not None and request_body.get("required"):
                raise SpecViolation(f"{where} requires a body")
            return
        if request_body is None or reference is None:
            raise SpecViolation(f"{where} takes no body")
        group = operation.spec.get("x-operation-group", "")
        if "application/x-ndjson" in request_body["content"] and group in ("bulk", "msearch"):
            self._check_ndjson(group, body)
        elif "application/json" in request_body["content"]:
            pointer = f"{operation.document}{reference}/content/application~1json/schema"
            self._validate(pointer, json.loads(body), where)
        else:
            raise SpecViolation(f"{where} takes no JSON body")
        self.checked += 1

    # --- internals ----------------------------------------------------------------------------------------------

    def _operation(self, method: str, path: str) -> _Operation:
        segments = [unquote(part) for part in path.split("?", 1)[0].strip("/").split("/") if part]
        best: tuple[int, _Operation] | None = None
        for operation in self._operations:
            if operation.method != method:
                continue
            literal = _literal_matches(operation.template, segments)
            if literal is not None and (best is None or literal > best[0]):
                best = (literal, operation)
        if best is None:
            raise SpecViolation(f"the spec has no {method.upper()} /{'/'.join(segments)}")
        return best[1]

    def _at(self, document: str, reference: str) -> dict[str, Any]:
        return dict(self._registry.resolver(base_uri=document).lookup(reference).contents)

    def _check_ndjson(self, group: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        schemas: tuple[str, str | None]
        if group == "bulk":
            schemas = (_schema("_core.bulk.yaml", "OperationContainer"), None)  # document lines are the caller's
        else:
            schemas = (_schema("_core.msearch.yaml", "MultisearchHeader"),
                       _schema("_core.msearch.yaml", "MultisearchBody"))
        for number, (kind, line) in enumerate(_pairs(lines, group), start=1):
            schema = schemas[kind]
            if schema is not None:
                self._validate(schema, line, f"{group} line {number}")

    def _validate(self, schema_uri: str, instance: Any, where: str) -> None:
        validator = Draft202012Validator({"$ref": schema_uri}, registry=self._registry)
        errors = sorted(validator.iter_errors(instance), key=lambda error: len(list(error.absolute_path)))
        if errors:
            error = errors[0]
            located = "/".join(map(str, error.absolute_path)) or "the top"
            raise SpecViolation(f"{where}: {error.message[:300]} at {located}")


def _schema(file: str, name: str) -> str:
    return f"{(SPEC_ROOT / 'schemas' / file).as_uri()}#/components/schemas/{name}"


@cache
def specification() -> OpenSearchSpec:
    """One reading of the spec per test run (0.7 s)."""
    return OpenSearchSpec()


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _any_of_for_one_of(node: Any) -> Any:
    if isinstance(node, dict):
        return {("anyOf" if key == "oneOf" else key): _any_of_for_one_of(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_any_of_for_one_of(value) for value in node]
    return node


def _close(schema: dict[str, Any]) -> None:
    if not any(key in schema for key in ("additionalProperties", "patternProperties", "unevaluatedProperties")):
        schema["unevaluatedProperties"] = False


def _literal_matches(template: str, segments: list[str]) -> int | None:
    """How many literal segments of ``template`` match ``segments``; None when the path is not of this template."""
    parts = [part for part in template.strip("/").split("/") if part]
    if len(parts) != len(segments):
        return None
    literal = 0
    for part, segment in zip(parts, segments):
        if part.startswith("{") and part.endswith("}"):
            continue
        if part != segment:
            return None
        literal += 1
    return literal


def _pairs(lines: list[Any], group: str) -> Iterator[tuple[int, Any]]:
    """(0, action or header line) and (1, document or body line), by position; a bulk delete has no document."""
    position = 0
    while position < len(lines):
        yield 0, lines[position]
        takes_second = group == "msearch" or not ("delete" in lines[position])
        if takes_second and position + 1 < len(lines):
            yield 1, lines[position + 1]
            position += 2
        else:
            position += 1
