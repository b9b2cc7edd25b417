"""How an operation's parameters arrive, and how they become one mapping for its request model.

The official Alibaba Cloud SDKs do not send JSON bodies. Bailian's (ROA style, version 2023-12-29) put every
parameter of most operations in the *query string*; IMM's (RPC style, version 2020-09-30) put scalars in the query
string and arrays/objects in an ``application/x-www-form-urlencoded`` body. Both send every value as text: numbers as
``"5"``, booleans as ``"True"`` (Python) or ``"true"`` (Java, Go), and arrays and objects JSON-encoded ("shrink"
style), except the few parameters an SDK joins with commas ("simple" style: Retrieve's ``Images``). Sift's own JSON
form — a JSON body with typed values — keeps working beside them.

``gather_parameters`` merges the three places (query string, form body, JSON body) into one mapping. Text values are
turned into the type the request model declares for the parameter (``text_kind``); JSON-body values are left as they
are, so the model's strict typing still holds for them ("5" in a JSON body is not an integer). A parameter given in
two places, or twice in the query string, with different values is a 400 naming it: which one should win is not
defined by any document.

``request_parameters`` is where both ways a call arrives meet: an HTTP request's query string and body, gathered as
above, or a direct Lambda invocation's event, already an object; ``with_path_parameters`` adds the route's own.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel

from chalicelib.api.common import MAX_BODY_BYTES, RequestModel, check_body_limits, decode_json_body, decode_json_text
from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.text_values import numeric_text

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# Parameters of the RPC protocol itself (the signature, the protocol version, the response format) that older signers
# put in the query string beside the operation's own; they are never an operation's parameters.
RPC_PROTOCOL_PARAMETERS = frozenset({
    "Action", "Version", "Format", "RegionId", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce",
    "SignatureType", "Timestamp", "Signature", "SecurityToken",
})

_INTEGER = re.compile(r"[+-]?\d{1,18}")


class TextKind(enum.Enum):
    """What a parameter's text means, from the type its request model declares."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    JSON = "json"  # an array or object, JSON-encoded ("shrink" style)
    JSON_OR_TEXT = "json_or_text"  # an object or a string (IMM's EXIF): JSON when it looks like an object


@dataclass(frozen=True, slots=True)
class WireSpec:
    """What an operation's registry entry says about its encoding beyond its request model: the arrays the SDKs send
    comma-joined ("simple" style) instead of JSON."""

    comma_lists: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What the HTTP adapter hands over: the query string as lists (a name may repeat), the body's bytes and type."""

    query: Mapping[str, Sequence[str]]
    body: bytes | None
    content_type: str = ""


def gather_parameters(
    model: type[RequestModel], request: HttpRequest, *, comma_lists: Iterable[str] = (),
    drop: Iterable[str] = (),
) -> dict[str, Any]:
    """The request's parameters for ``model``: query string, form body and JSON body merged, text values typed.

    ``drop`` names protocol parameters to leave out (the RPC ones); ``comma_lists`` the arrays sent comma-joined.
    """
    kinds = text_kinds(model)
    lists = frozenset(comma_lists)
    dropped = frozenset(drop)
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, texts in request.query.items():
        if name in dropped:
            continue
        for text in texts:
            _merge(merged, sources, name, _typed(name, text, kinds, lists), "query string")
    if _is_form(request.content_type):
        for name, text in _form_fields(request.body):
            _merge(merged, sources, name, _typed(name, text, kinds, lists), "form body")
    else:
        for name, value in decode_json_body(request.body).items():
            _merge(merged, sources, name, value, "body")
    check_body_limits(merged)
    return merged


def request_parameters(
    model: type[RequestModel], query_params: Mapping[str, str | Sequence[str]] | None, body: bytes | object,
    content_type: str, *, comma_lists: Iterable[str] = (), drop: Iterable[str] = (),
) -> dict[str, Any]:
    """The request parameters. An HTTP request's come from its query string and body (``gather_parameters``); a
    direct Lambda event must already be an object. Both meet the same limits (``MAX_BODY_BYTES``, ``MAX_BODY_DEPTH``)."""
    if body is None or isinstance(body, bytes):
        query = {name: [value] if isinstance(value, str) else list(value) for name, value in (query_params or {}).items()}
        http = HttpRequest(query=query, body=body, content_type=content_type)
        return gather_parameters(model, http, comma_lists=comma_lists, drop=drop)
    if isinstance(body, Mapping):
        check_body_limits(body)
        return dict(body)
    raise InvalidParameterError("body", "must be a JSON object")


def with_path_parameters(payload: dict[str, Any], path_params: Mapping[str, object]) -> dict[str, Any]:
    """The path's parameters (``CategoryId``, ``FileId``; not ``WorkspaceId``, which is the tenant) join the others;
    the same parameter in the path and in the query or body with another value is a 400 naming it."""
    for name, value in path_params.items():
        if name == "WorkspaceId":
            continue
        if name in payload and payload[name] != value:
            raise InvalidParameterError(name, "is given in the path and again, with another value, in the request")
        payload[name] = value
    return payload


def _merge(merged: dict[str, Any], sources: dict[str, str], name: str, value: Any, source: str) -> None:
    if name in merged and merged[name] != value:
        where = source if sources[name] == source else f"{sources[name]} and the {source}"
        raise InvalidParameterError(name, f"is given more than once with different values (in the {where})")
    merged[name] = value
    sources[name] = source


def _is_form(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE


def _form_fields(body: bytes | None) -> list[tuple[str, str]]:
    if not body:
        return []
    if len(body) > MAX_BODY_BYTES:
        raise InvalidParameterError("body", f"must be at most {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        return urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidParameterError("body", "is not a valid UTF-8 form (application/x-www-form-urlencoded)") from None


def _typed(name: str, text: str, kinds: Mapping[str, TextKind], comma_lists: frozenset[str]) -> Any:
    """One text value as the type its parameter declares; a parameter the model does not know stays text (the model
    then refuses it by name)."""
    kind = kinds.get(name, TextKind.TEXT)
    if kind is TextKind.TEXT:
        return text
    if kind is TextKind.BOOLEAN:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise InvalidParameterError(name, "must be true or false")
    if kind is TextKind.INTEGER:
        if _INTEGER.fullmatch(text.strip()):
            return int(text)
        raise InvalidParameterError(name, "must be an integer")
    if kind is TextKind.NUMBER:
        number = numeric_text(text)
        if number is None:
            raise InvalidParameterError(name, "must be a number")
        return number
    if name in comma_lists and not text.lstrip().startswith("["):
        return [item for item in text.split(",") if item] if text else []
    if kind is TextKind.JSON_OR_TEXT and not text.lstrip().startswith("{"):
        return text
    return decode_json_text(text, name)


@functools.cache
def text_kinds(model: type[BaseModel]) -> Mapping[str, TextKind]:
    """Every wire name the model accepts (its aliases included) → how a text value of it is read."""
    kinds: dict[str, TextKind] = {}
    generator = model.model_config.get("alias_generator")
    for name, info in model.model_fields.items():
        kind = text_kind(info.annotation)
        for alias in _wire_names(name, info.alias, info.validation_alias, generator):
            kinds[alias] = kind
    return kinds


def _wire_names(name: str, alias: str | None, validation_alias: Any, generator: Any) -> list[str]:
    if isinstance(validation_alias, AliasChoices):
        return [choice for choice in validation_alias.choices if isinstance(choice, str)]
    if isinstance(validation_alias, str):
        return [validation_alias]
    if alias:
        return [alias]
    if generator is not None and getattr(generator, "validation_alias", None):
        return [generator.validation_alias(name)]
    return [name]


def text_kind(annotation: Any) -> TextKind:
    """``int`` → INTEGER, ``float`` → NUMBER, ``bool`` → BOOLEAN, strings and literals → TEXT, ``dict | str`` →
    JSON_OR_TEXT, anything else (arrays, objects, models, the SearchFilters tree) → JSON; ``X | None`` is ``X``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return text_kind(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members = [member for member in get_args(annotation) if member is not type(None)]
        kinds = {text_kind(member) for member in members}
        if len(kinds) == 1:
            return kinds.pop()
        if kinds == {TextKind.INTEGER, TextKind.NUMBER}:
            return TextKind.NUMBER
        if TextKind.TEXT in kinds and TextKind.JSON in kinds:
            return TextKind.JSON_OR_TEXT
        return TextKind.JSON
    if origin is Literal:
        values = get_args(annotation)
        return TextKind.TEXT if all(isinstance(value, str) for value in values) else TextKind.JSON
    if annotation is bool:
        return TextKind.BOOLEAN
    if annotation is int:
        return TextKind.INTEGER
    if annotation is float:
        return TextKind.NUMBER
    if annotation is str:
        return TextKind.TEXT
    return TextKind.JSON
