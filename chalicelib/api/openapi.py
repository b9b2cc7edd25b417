"""The OpenAPI 3.1 document of Sift's HTTP API, generated from the operation registry and the wire models.

Nothing here is written by hand that the code already says: every route of ``OPERATIONS`` (both families), its request
model (``chalicelib.api.bailian``, ``imm``, ``data_center``, ``extensions``) and its response model
(``chalicelib.api.responses``) inside the family's envelope (``chalicelib.api.envelopes``), and the error statuses
``chalicelib.core.errors`` maps. What is written here is what the registry does not hold: the routes ``app.py`` adds
beside it (the IMM RPC endpoint ``/``, the local stage's upload route, this document's own route), the answers to
requests no operation takes (404 and 405), and the few schemas pydantic cannot derive (``SearchFilters``, parsed by a
plain validator; see ``_PLAIN_VALIDATOR_SCHEMAS``).

How parameters travel (``chalicelib.api.wire``) is described, not chosen: the JSON body is each operation's
``requestBody`` (with the same schema as a form body, arrays and objects JSON-encoded), and the knowledge-base
operations also list every parameter as a query parameter, where the official Bailian SDKs send them. The IMM SDKs
call ``POST /`` with ``x-acs-action`` (scalars in the query string, arrays and objects JSON-encoded in a form body):
that endpoint is one path item whose ``x-sift-rpc-actions`` maps each action to its ``/imm/{Action}`` operation.

Sift's own extensions are marked ``x-sift-extension: true`` (operations no official SDK has, and parameters and
response keys such as ``Explain`` and ``Fusion``). Pure: no Chalice, no boto3; ``document()`` is cached.
``python -m chalicelib.api.openapi [path]`` writes the document (``make openapi``: ``docs/openapi.json``).
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from chalicelib.api import envelopes
from chalicelib.api.bailian import ID_PATTERN
from chalicelib.api.calls import Operation
from chalicelib.api.data_center import LEASE_ID_PATTERN
from chalicelib.api.envelopes import Family
from chalicelib.api.imm_fields import INPUT_EXTENSION_FIELDS, OUTPUT_ONLY_FIELDS
from chalicelib.api.operations import OPERATIONS, RPC_OPERATIONS
from chalicelib.api.wire import TextKind, text_kinds
from chalicelib.core.errors import ErrorKind

OPENAPI_VERSION = "3.1.0"
DOCUMENT_PATH = "/openapi.json"
PLAYGROUND_PATH = "/playground"
UPLOAD_PATH = "/sift-uploads/{WorkspaceId}/{LeaseId}"
RPC_PATH = "/"
# The methods every path answers that it has no operation for: 405 in the path's family's envelope (app.py).
REFUSED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
_REF = "#/components/schemas/{model}"
_RESPONSES = "#/components/responses/"
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"

# The error statuses an operation can answer (every kind but 405, which only a route without an operation answers).
_OPERATION_ERRORS = tuple(kind for kind in ErrorKind if kind is not ErrorKind.METHOD_NOT_ALLOWED)
# Codes of the protocol itself, the same in both families (chalicelib.core.errors: ``code`` of the error class).
_PROTOCOL_CODES: dict[ErrorKind, tuple[str, ...]] = {
    ErrorKind.INVALID_PARAMETER: ("InvalidVersion",),
    ErrorKind.UNAUTHENTICATED: ("IncompleteSignature", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive",
                                "SignatureDoesNotMatch", "ContentSHA256Mismatch", "InvalidTimeStamp.Expired"),
    ErrorKind.NOT_FOUND: ("InvalidAction.NotFound",),
}

# Response and request keys that are Sift's, not the documented API's (beside whole operations: Operation.extension).
_EXTENSION_KEYS = frozenset({"Explain", "Fusion"})
_EXTENSION_PROPERTIES: dict[str, frozenset[str]] = {
    "CreateIndexRequest": frozenset({"SourceURI"}),
    "SubmitJobRequest": frozenset({"SourceURIs"}),
    "JobStatusData": frozenset({"Counts"}),
    "IndexedFilesAnswer": frozenset({"Files"}),
    "FileInput": INPUT_EXTENSION_FIELDS,
}

# --- SearchFilters: parsed by a plain validator (chalicelib.api.search_filters), so its schema is written here --------

_FILTER_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}
_FILTER_VALUE: dict[str, Any] = {
    "description": "A value (equality), an array of values (any of), or an object with one of eq / neq / like, or "
                   "range bounds gt / gte / lt / lte. A string holding a JSON array or object is read as that array or "
                   "object (the Go and Java SDKs send string values only).",
    "anyOf": [
        _FILTER_SCALAR,
        {"type": "array", "items": _FILTER_SCALAR, "minItems": 1, "maxItems": 100},
        {"type": "object", "minProperties": 1,
         "properties": {name: _FILTER_SCALAR for name in ("eq", "neq", "like", "gt", "gte", "lt", "lte")}},
    ],
}
SEARCH_FILTER_SCHEMAS: dict[str, Any] = {
    "SearchFilters": {
        "title": "SearchFilters",
        "description": "Subgroups, ANDed (README: SearchFilters). An empty array is no filter.",
        "anyOf": [{"type": "array", "items": {"$ref": _REF.format(model="SearchFilterGroup")}}, {"type": "null"}],
    },
    "SearchFilterGroup": {
        "title": "SearchFilterGroup",
        "description": "Each key not starting with '_' is a metadata field; its conditions are joined by _operator "
                       "(default AND); _conditions nests subgroups, joined by _conditions_operator (else _operator).",
        "type": "object",
        "properties": {
            "_operator": {"type": "string", "description": "AND or OR (any case)"},
            "_conditions": {"anyOf": [
                {"type": "array", "minItems": 1, "items": {"$ref": _REF.format(model="SearchFilterGroup")}},
                {"type": "string", "description": "the array, JSON-encoded"},
            ]},
            "_conditions_operator": {"type": "string", "description": "AND or OR (any case)"},
        },
        "additionalProperties": _FILTER_VALUE,
    },
}

# A plain validator (mode="plain", PlainValidator) hides the type from pydantic: the schema of each is here, by the
# validator's qualified name. A new one without an entry stops the generator (and the docs/openapi.json test) by name.
_PLAIN_VALIDATOR_SCHEMAS: dict[str, dict[str, Any]] = {
    # pydantic resolves every $ref it meets while generating: this one becomes a $ref afterwards (_model_schemas)
    "chalicelib.api.bailian.RetrieveRequest._parse_filters": {"x-sift-schema": "SearchFilters"},
    "chalicelib.api.imm_fields._number": {"type": "number"},
    "chalicelib.api.imm_fields._object_or_text": {"type": ["object", "string"]},
}


class OpenApiError(Exception):
    """The models hold something the generator cannot describe (a programming error, named in the message)."""


class _SiftSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema, without a title on every property, and with the plain validators' schemas."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def function_plain_schema(self, schema: core_schema.PlainValidatorFunctionSchema) -> JsonSchemaValue:
        function = schema["function"]["function"]
        function = getattr(function, "__func__", function)
        name = f"{function.__module__}.{function.__qualname__}"
        try:
            return copy.deepcopy(_PLAIN_VALIDATOR_SCHEMAS[name])
        except KeyError:
            raise OpenApiError(f"{name} is a plain validator without a schema: add it to _PLAIN_VALIDATOR_SCHEMAS in "
                               "chalicelib/api/openapi.py") from None


# --- the document ---------------------------------------------------------------------------------------------------


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the stage serves ``GET /openapi.json``: ``SIFT_OPENAPI`` (true/false), by default only on ``local``.
    Read per request: ``chalice package`` imports the app with the packaging machine's environment."""
    env = os.environ if environ is None else environ
    default = "true" if env.get("SIFT_STAGE", "local") == "local" else "false"
    return env.get("SIFT_OPENAPI", default).strip().lower() in ("true", "1", "yes", "on")


@functools.cache
def document_json() -> str:
    """The document as served and committed: indented JSON, keys in the order written, a final newline."""
    return json.dumps(_build(), ensure_ascii=False, indent=2) + "\n"


def document() -> dict[str, Any]:
    """The document as a fresh mapping (the caller may change it)."""
    return json.loads(document_json())


def _build() -> dict[str, Any]:
    schemas = _model_schemas()
    _add_envelopes(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        item = paths.setdefault(operation.path, {})
        item[operation.method.lower()] = _operation(operation, schemas)
    paths[RPC_PATH] = _rpc_item(schemas)
    paths[UPLOAD_PATH] = {"put": _upload_operation()}
    paths[DOCUMENT_PATH] = {"get": _document_operation()}
    paths.update(_playground_items())
    for path, item in paths.items():
        family = "Imm" if path == RPC_PATH else "Bailian"
        allowed = sorted(method.upper() for method in item if method in _HTTP_METHODS)
        item["x-sift-other-methods"] = {
            "methods": [method for method in REFUSED_METHODS if method not in allowed],
            "response": {"$ref": f"{_RESPONSES}{family}MethodNotAllowed"},
        }
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": "Sift", "version": _version(), "description": _DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:8000", "description": "the local stage (make run)"}],
        "tags": [{"name": tag, "description": text} for tag, text in _TAGS.items()],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": _error_responses(),
            "securitySchemes": _SECURITY_SCHEMES,
        },
        "security": [{"acs3": []}, {"sigv4": []}, {}],
        "x-sift-unknown-route": {
            "description": "A path no route has: on the local stage (up to 8 segments) 404 InvalidAction.NotFound in "
                           "the knowledge-base envelope; on AWS API Gateway answers 403 MissingAuthenticationToken.",
            "response": {"$ref": f"{_RESPONSES}BailianRouteNotFound"},
        },
    }


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_DESCRIPTION = (
    "Sift re-implements Alibaba Cloud's Model Studio (Bailian) knowledge-base API (ROA style, version 2023-12-29) and "
    "Intelligent Media Management (IMM, RPC style, version 2020-09-30) on AWS. Generated from the operation registry "
    "(chalicelib/api/openapi.py); `x-sift-extension: true` marks what no official SDK has.\n\n"
    "Parameters: every operation reads its parameters from the query string, a form body "
    "(application/x-www-form-urlencoded) and a JSON body alike. The official Bailian SDKs send them in the query "
    "string (listed as query parameters here), the IMM SDKs call `POST /` with `x-acs-action` (scalars in the query "
    "string, arrays and objects JSON-encoded in a form body); the requestBody is Sift's JSON form. Text values are "
    "read as the type the schema declares (\"5\" an integer, \"true\"/\"True\" a boolean, arrays and objects "
    "JSON-encoded); a JSON body is typed strictly (\"5\" is not an integer there). A parameter given in two places "
    "with different values is a 400. A path may end in `/` (as some SDK paths do): it names the same route.\n\n"
    "Answers: the knowledge-base family wraps results in `{Code, Data, Message, RequestId, Status, Success}`; the "
    "media family answers its keys beside `RequestId`, and errors as `{RequestId, HostId, Code, Message, Recommend}`. "
    "A method a path has no operation for is a 405 naming the right ones in `Allow` (`x-sift-other-methods`), an "
    "unknown path a 404 (`x-sift-unknown-route`). On AWS, API Gateway answers before Sift for a missing or bad SigV4 "
    "signature (403), throttling (429), a body over 10 MB (413) and a function that failed (502, 504), in the "
    "knowledge-base envelope."
)

_TAGS = {
    "Knowledge base": "Bailian: indexes, documents, Retrieve (ROA).",
    "Data center": "Bailian: categories and files uploaded once, indexed into any index.",
    "Media": "IMM: projects, datasets, file metadata, ContextualRetrieval, SemanticQuery, ContextualAnswer (RPC).",
    "Sift": "Sift's own routes.",
}

_SECURITY_SCHEMES = {
    "acs3": {"type": "apiKey", "in": "header", "name": "Authorization",
             "description": "The official SDKs' ACS3-HMAC-SHA256 signature (stages with SIFT_AUTH=accesskey)."},
    "sigv4": {"type": "apiKey", "in": "header", "name": "Authorization",
              "description": "AWS SigV4 (execute-api:Invoke), checked by API Gateway on AWS stages with IAM auth."},
}


def _version() -> str:
    families = ", ".join(f"{family.name.lower()} {family.api_version}" for family in Family)
    return f"{OPENAPI_VERSION}+sift ({families})"


# --- schemas --------------------------------------------------------------------------------------------------------


def _models() -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = []
    for operation in OPERATIONS:
        for model in (operation.request_model, operation.response_model):
            if model not in models:
                models.append(model)
    return models


def _model_schemas() -> dict[str, Any]:
    models = _models()
    mode: JsonSchemaMode = "validation"
    keys, top = models_json_schema([(model, mode) for model in models], by_alias=True, ref_template=_REF,
                                   schema_generator=_SiftSchema)
    schemas: dict[str, Any] = top.get("$defs", {})
    names = {model: keys[(model, mode)]["$ref"].rsplit("/", 1)[-1] for model in models}
    for node in _walk(schemas):
        placeholder = node.pop("x-sift-schema", None)
        if placeholder is not None:
            node["$ref"] = _REF.format(model=placeholder)
    schemas.update(copy.deepcopy(SEARCH_FILTER_SCHEMAS))
    for model in models:  # every wire name of a field: PageSize and pageSize (AliasChoices)
        _add_alias_choices(schemas[names[model]], model)
    file_input = schemas.get("FileInput")
    if file_input is not None:  # declared only to refuse them by name: additionalProperties false refuses them here
        for name in OUTPUT_ONLY_FIELDS:
            file_input["properties"].pop(name, None)
        file_input["description"] = (file_input.get("description", "") + "\n\nOutput-only File fields (ObjectId, "
                                     "Size, ETag, …) are refused, naming the field.").strip()
    for name, schema in schemas.items():
        _mark_extensions(name, schema)
    roots = set(names.values()) | set(SEARCH_FILTER_SCHEMAS)
    _models_by_name.update({names[model]: model for model in models})
    return _reachable(schemas, roots)


_models_by_name: dict[str, type[BaseModel]] = {}


def _add_alias_choices(schema: dict[str, Any], model: type[BaseModel]) -> None:
    properties = schema.get("properties", {})
    for info in model.model_fields.values():
        if isinstance(info.validation_alias, AliasChoices):
            first, *others = [choice for choice in info.validation_alias.choices if isinstance(choice, str)]
            for other in others:
                properties[other] = {**properties[first], "description": f"{first}, by the name the SDKs send"}


def _mark_extensions(name: str, schema: Any) -> None:
    """``x-sift-extension: true`` on every property that is Sift's (anywhere in the schema: nested objects too)."""
    own = _EXTENSION_PROPERTIES.get(name, frozenset())
    for node in _walk(schema):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, value in properties.items():
                if (key in _EXTENSION_KEYS or (node is schema and key in own)) and isinstance(value, dict):
                    value["x-sift-extension"] = True


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _refs(value: Any) -> Iterator[str]:
    for node in _walk(value):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[-1]


def _reachable(schemas: dict[str, Any], roots: set[str]) -> dict[str, Any]:
    """Only the schemas something refers to (pydantic also emits the filter tree's dataclasses, which nothing uses)."""
    keep: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in keep:
            continue
        keep.add(name)
        pending.extend(_refs(schemas[name]))
    return {name: schema for name, schema in schemas.items() if name in keep}


def _envelope_name(operation: Operation) -> str:
    return f"{operation.response_model.__name__}Envelope"


def _add_envelopes(schemas: dict[str, Any]) -> None:
    schemas["BailianFailure"] = {
        "title": "BailianFailure", "type": "object", "additionalProperties": False,
        "required": ["Code", "Message", "RequestId", "Status", "Success"],
        "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}, "RequestId": {"type": "string"},
                       "Status": {"type": "string", "pattern": "^[1-5][0-9]{2}$",
                                  "description": "the HTTP status, as text"},
                       "Success": {"const": False}},
    }
    schemas["ImmFailure"] = {
        "title": "ImmFailure", "type": "object", "additionalProperties": False,
        "required": ["RequestId", "HostId", "Code", "Message", "Recommend"],
        "properties": {"RequestId": {"type": "string"},
                       "HostId": {"type": "string", "description": "the endpoint that answered"},
                       "Code": {"type": "string"}, "Message": {"type": "string"},
                       "Recommend": {"type": "string", "description": "a diagnosis link; Sift has none (empty)"}},
    }
    schemas["UploadReceived"] = {
        "title": "UploadReceived", "type": "object", "additionalProperties": False,
        "required": ["FileUploadLeaseId", "SizeInBytes"],
        "properties": {"FileUploadLeaseId": {"type": "string"}, "SizeInBytes": {"type": "integer"}},
    }
    data = {operation.response_model.__name__: operation.family for operation in OPERATIONS}
    data["UploadReceived"] = Family.BAILIAN
    for name, family in data.items():
        if family is Family.BAILIAN:
            schemas[f"{name}Envelope"] = {
                "title": f"{name}Envelope", "type": "object", "additionalProperties": False,
                "required": ["Code", "Data", "Message", "RequestId", "Status", "Success"],
                "properties": {"Code": {"const": "Success"}, "Data": {"$ref": _REF.format(model=name)},
                               "Message": {"const": "success"}, "RequestId": {"type": "string"},
                               "Status": {"const": "200"}, "Success": {"const": True}},
            }
        else:  # the keys beside RequestId: the model's own object, with RequestId first
            model = copy.deepcopy(schemas[name])
            model["title"] = f"{name}Envelope"
            model["properties"] = {"RequestId": {"type": "string"}, **model.get("properties", {})}
            model["required"] = ["RequestId", *model.get("required", [])]
            model.setdefault("type", "object")
            schemas[f"{name}Envelope"] = model


def _codes(family: Family, kind: ErrorKind) -> list[str]:
    table = envelopes._BAILIAN_CODES if family is Family.BAILIAN else envelopes._IMM_CODES
    return [table[kind], *_PROTOCOL_CODES.get(kind, ())]


def _error_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for kind in ErrorKind:
        status = str(kind.status)
        responses[f"Bailian{status}"] = {
            "description": f"Codes: {', '.join(_codes(Family.BAILIAN, kind))}.",
            "content": {_JSON: {"schema": {"allOf": [{"$ref": _REF.format(model="BailianFailure")},
                                                     {"properties": {"Status": {"const": status}}}]}}},
        }
        responses[f"Imm{status}"] = {
            "description": f"Codes: {', '.join(_codes(Family.IMM, kind))}.",
            "content": {_JSON: {"schema": {"$ref": _REF.format(model="ImmFailure")}}},
        }
    allow = {"Allow": {"description": "the methods the path has operations for", "schema": {"type": "string"}}}
    responses["BailianMethodNotAllowed"] = {**responses["Bailian405"], "headers": allow,
                                            "description": "UnsupportedHTTPMethod: the path has no operation for the "
                                                           "method; Allow names the methods it has."}
    responses["ImmMethodNotAllowed"] = {**responses["Imm405"], "headers": allow,
                                        "description": responses["BailianMethodNotAllowed"]["description"]}
    responses["BailianRouteNotFound"] = {**responses["Bailian404"],
                                         "description": "InvalidAction.NotFound: no route has the path."}
    return responses


def _error_refs(family: Family) -> dict[str, Any]:
    prefix = "Bailian" if family is Family.BAILIAN else "Imm"
    return {str(kind.status): {"$ref": f"{_RESPONSES}{prefix}{kind.status}"} for kind in _OPERATION_ERRORS}


# --- operations -----------------------------------------------------------------------------------------------------


def _path_parameters(path: str) -> list[str]:
    return [segment[1:-1] for segment in path.split("/") if segment.startswith("{") and segment.endswith("}")]


def _tag(operation: Operation) -> str:
    if operation.family is Family.IMM:
        return "Media"
    return "Data center" if "/datacenter/" in operation.path else "Knowledge base"


def _body_schema(operation: Operation, schemas: dict[str, Any], path_names: list[str]) -> dict[str, Any]:
    """The request model's schema, without the parameters the path carries (they may be repeated, with one value)."""
    name = _model_name(operation.request_model)
    model = schemas[name]
    if not set(path_names) & set(model.get("properties", {})):
        return {"$ref": _REF.format(model=name)}
    body = copy.deepcopy(model)
    for parameter in path_names:
        body.get("properties", {}).pop(parameter, None)
    body["required"] = [field for field in body.get("required", []) if field not in path_names]
    if not body["required"]:
        del body["required"]
    return body


def _model_name(model: type[BaseModel]) -> str:
    for name, known in _models_by_name.items():
        if known is model:
            return name
    raise OpenApiError(f"{model.__name__} has no schema")


def _properties(schema: dict[str, Any], schemas: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    target = schemas[schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else schema
    return target.get("properties", {}), target.get("required", [])


def _operation(operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    path_names = _path_parameters(operation.path)
    body = _body_schema(operation, schemas, path_names)
    properties, required = _properties(body, schemas)
    kinds = text_kinds(operation.request_model)
    parameters: list[dict[str, Any]] = []
    for name in path_names:
        model_properties = schemas[_model_name(operation.request_model)].get("properties", {})
        schema = model_properties.get(name) or {"type": "string", "pattern": ID_PATTERN}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    text_form = operation.family is Family.BAILIAN  # the Bailian SDKs' query string
    if text_form:
        for name, schema in properties.items():
            parameters.append(_query_parameter(name, schema, kinds.get(name, TextKind.TEXT),
                                               name in operation.wire.comma_lists, name in required))
    answer: dict[str, Any] = {
        "operationId": operation.name,
        "tags": [_tag(operation)],
        "summary": operation.name + (" (Sift extension)" if operation.extension else ""),
        "description": _operation_description(operation),
        "parameters": parameters,
    }
    if properties and operation.method != "GET":
        answer["requestBody"] = _request_body(body, properties, kinds, operation.wire.comma_lists,
                                              required=bool(required) and not text_form)
    answer["responses"] = {"200": {"description": "Success.",
                                   "content": {_JSON: {"schema": {"$ref": _REF.format(
                                       model=_envelope_name(operation))}}}},
                           **_error_refs(operation.family)}
    answer["x-sift-lambda"] = operation.name
    if operation.extension:
        answer["x-sift-extension"] = True
    return answer


def _operation_description(operation: Operation) -> str:
    doc = inspect.cleandoc(operation.request_model.__doc__ or "")
    if operation.family is Family.BAILIAN:
        where = ("Parameters as the official SDKs send them: in the query string. The same names are accepted in a "
                 "form body or a JSON body (the requestBody), typed as in the query string when they are text.")
    else:
        where = (f"The official SDKs call `POST /` with `x-acs-action: {operation.name}` (scalars in the query "
                 "string, arrays and objects JSON-encoded in a form body); this route takes the same parameters in a "
                 "JSON body (the requestBody), a form body or the query string.")
    return f"{doc}\n\n{where}" if doc and not doc.startswith(("POST ", "GET ")) else where


def _query_parameter(name: str, schema: dict[str, Any], kind: TextKind, comma_list: bool,
                     required: bool) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
    if required:
        parameter["description"] = "Required (here, in a form body or in a JSON body)."
    if comma_list:
        parameter.update(schema=_without_null(schema), style="form", explode=False)
        parameter["description"] = (parameter.get("description", "") + " Comma-joined, or a JSON array.").strip()
    elif kind in (TextKind.JSON, TextKind.JSON_OR_TEXT):
        parameter["content"] = {_JSON: {"schema": schema}}  # the value is the JSON text of the array or object
    else:
        parameter["schema"] = _without_null(schema)  # a query string has no null
    if schema.get("x-sift-extension"):
        parameter["x-sift-extension"] = True
    return parameter


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    members = schema.get("anyOf")
    if isinstance(members, list):
        kept = [member for member in members if member != {"type": "null"}]
        if len(kept) == 1:
            rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
            return {**kept[0], **rest}
    return schema


def _request_body(body: dict[str, Any], properties: dict[str, Any], kinds: Any, comma_lists: frozenset[str], *,
                  required: bool) -> dict[str, Any]:
    encoding: dict[str, Any] = {}
    for name in properties:
        if name in comma_lists:
            encoding[name] = {"style": "form", "explode": False}
        elif kinds.get(name, TextKind.TEXT) in (TextKind.JSON, TextKind.JSON_OR_TEXT):
            encoding[name] = {"contentType": _JSON}
    form: dict[str, Any] = {"schema": body}
    if encoding:
        form["encoding"] = encoding
    return {"required": required, "content": {_JSON: {"schema": body}, _FORM: form}}


def _rpc_item(schemas: dict[str, Any]) -> dict[str, Any]:
    actions = sorted(RPC_OPERATIONS)
    envelopes_ = sorted({_envelope_name(operation) for operation in RPC_OPERATIONS.values()})
    requests = sorted({_model_name(operation.request_model) for operation in RPC_OPERATIONS.values()})
    parameters = [
        {"name": "x-acs-action", "in": "header", "required": False, "schema": {"enum": actions},
         "description": "The operation (or the Action query parameter, as older signers send it; both must agree)."},
        {"name": "x-acs-version", "in": "header", "required": False, "schema": {"const": Family.IMM.api_version}},
        {"name": "Action", "in": "query", "required": False, "schema": {"enum": actions}},
        {"name": "Version", "in": "query", "required": False, "schema": {"const": Family.IMM.api_version}},
    ]
    responses = {"200": {"description": "The action's answer (see its /imm/{Action} operation).",
                         "content": {_JSON: {"schema": {"anyOf": [{"$ref": _REF.format(model=name)}
                                                                  for name in envelopes_]}}}},
                 **_error_refs(Family.IMM)}
    description = ("The IMM family's RPC endpoint, as its official SDKs call it. The operation's scalar parameters "
                   "travel in the query string, its arrays and objects JSON-encoded in a form body; the parameters "
                   "and the answer of each action are those of its /imm/{Action} operation (x-sift-rpc-actions). An "
                   "unknown or missing action is a 404 InvalidAction.NotFound.")
    item: dict[str, Any] = {}
    for method in ("get", "post"):
        operation: dict[str, Any] = {"operationId": f"Rpc{method.capitalize()}", "tags": ["Media"],
                                     "summary": "IMM RPC endpoint", "description": description,
                                     "parameters": parameters}
        if method == "post":
            operation["requestBody"] = {"required": False, "content": {_FORM: {"schema": {
                "anyOf": [{"$ref": _REF.format(model=name)} for name in requests]}}}}
        operation["responses"] = responses
        item[method] = operation
    item["x-sift-rpc-actions"] = {name: RPC_OPERATIONS[name].path for name in actions}
    return item


def _upload_operation() -> dict[str, Any]:
    return {
        "operationId": "UploadFile", "tags": ["Data center"], "summary": "The local stage's upload URL",
        "description": "Where ApplyFileUploadLease's Param.Url points on the local stage: PUT the file's bytes with "
                       "Param.Headers (the size and MD5 the lease declared). On AWS the lease is a presigned S3 URL.",
        "parameters": [
            {"name": "WorkspaceId", "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}},
            {"name": "LeaseId", "in": "path", "required": True, "schema": {"type": "string",
                                                                           "pattern": LEASE_ID_PATTERN}},
        ],
        "requestBody": {"required": True, "content": {"application/octet-stream": {}}},
        "responses": {"200": {"description": "The upload is stored.",
                              "content": {_JSON: {"schema": {"$ref": _REF.format(model="UploadReceivedEnvelope")}}}},
                      **_error_refs(Family.BAILIAN)},
        "x-sift-local-only": True,
    }


def _document_operation() -> dict[str, Any]:
    return {
        "operationId": "GetOpenApiDocument", "tags": ["Sift"], "summary": "This document",
        "description": "On by default on the local stage; a deployed stage serves it with SIFT_OPENAPI=true and "
                       "otherwise answers 404 InvalidAction.NotFound.",
        "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                              "content": {_JSON: {"schema": {"type": "object", "required": ["openapi", "paths"]}}}},
                      "404": {"$ref": f"{_RESPONSES}BailianRouteNotFound"}},
        "x-sift-extension": True,
    }


def _playground_items() -> dict[str, Any]:
    try:  # the playground (chalicelib/playground, issue 15) lands beside this module; without it, no such routes
        from chalicelib.playground import ASSETS
    except ImportError:
        return {}
    return {
        PLAYGROUND_PATH: {"get": _playground_operation(ASSETS, "GetPlayground", "The retrieval playground's page.")},
        f"{PLAYGROUND_PATH}/{{Asset}}": {"get": _playground_operation(ASSETS, "GetPlaygroundAsset",
                                                                      "One of the playground's files.", asset=True)},
    }


def _playground_operation(assets: Mapping[str, str], operation_id: str, summary: str, *,
                          asset: bool = False) -> dict[str, Any]:
    types = sorted({content_type for name, content_type in assets.items() if asset or name == "index.html"})
    answer: dict[str, Any] = {
        "operationId": operation_id, "tags": ["Sift"], "summary": summary,
        "description": "On by default on the local stage; elsewhere with SIFT_PLAYGROUND=true. Off (or another file "
                       "name), it answers 404 InvalidAction.NotFound.",
    }
    if asset:
        answer["parameters"] = [{"name": "Asset", "in": "path", "required": True,
                                 "schema": {"enum": sorted(assets)}}]
    answer["responses"] = {
        "200": {"description": summary, "content": {content_type.split(";")[0]: {"schema": {"type": "string"}}
                                                    for content_type in types}},
        "404": {"$ref": f"{_RESPONSES}BailianRouteNotFound"},
    }
    answer["x-sift-extension"] = True
    return answer


def main(argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else "docs/openapi.json"
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(document_json())
    print(f"wrote {target}: {len(document()['paths'])} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
