"""Shared pieces of the request models: PascalCase aliases, strict parsing, validation-error translation (the response
models are in ``chalicelib.api.responses``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import AliasGenerator, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_pascal

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.text_values import is_finite_number, loads_json

# The largest request body any operation accepts; larger bodies are refused before parsing.
MAX_BODY_BYTES = 1024 * 1024
# The deepest nesting of arrays and objects a request may have (the body object itself is level 1). Every documented
# request is far shallower — a SearchFilters tree at its deepest is about a dozen levels, an IMM File half that — and
# the bound keeps a hostile body from reaching Python's recursion limit in the parser or wherever the value is walked
# later (validation, hashing, storage, the response), which would otherwise surface as a 500.
MAX_BODY_DEPTH = 64


class RequestModel(BaseModel):
    """Requests: PascalCase on the wire, unknown fields refused, no type coercion ("5" is not an integer)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_pascal, serialization_alias=to_pascal),
        extra="forbid",
        strict=True,
        frozen=True,
        # Each model's validator is built when it first validates, not at import: a Lambda serves one operation, and
        # building every family's ~100 validators was most of ``import app`` (README, Benchmarks: cold import).
        defer_build=True,
    )


Request = TypeVar("Request", bound=RequestModel)

_INSTANCE_OF = re.compile(r" or instance of \w+")

# Pydantic speaks Python; callers speak JSON.
_JSON_WORDS = (
    ("a valid dictionary", "an object"),
    ("a valid list", "an array"),
    ("a valid string", "a string"),
    ("a valid integer", "an integer"),
    ("a valid number", "a number"),
    ("a valid boolean", "a boolean (true or false)"),
    ("Extra inputs are not permitted", "is not a known parameter"),
    ("Field required", "is required"),
    (" after validation", ""),
)


def parse_request(model: type[Request], payload: Mapping[str, Any]) -> Request:
    """Validate ``payload`` against ``model``; the first problem becomes an ``InvalidParameterError`` naming the field.

    Strict: text that arrived in a query string or form has already been given its declared type
    (``chalicelib.api.wire``), so "5" here is a string in a JSON body, never an integer.
    """
    try:
        return model.model_validate(payload, strict=True)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        raise InvalidParameterError(wire_path(error["loc"]), _plain(error["msg"])) from None


def decode_json_body(raw: bytes | None) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object."""
    if raw is not None and len(raw) > MAX_BODY_BYTES:
        raise InvalidParameterError("body", f"must be at most {MAX_BODY_BYTES} bytes")
    if raw is None or not raw.strip():
        return {}
    try:
        # Decoded explicitly: json.loads(bytes) would also accept UTF-16/32, and RFC 8259 requires UTF-8.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterError("body", "is not valid JSON (not UTF-8)") from None
    body = decode_json_text(text, "body")
    if not isinstance(body, dict):
        raise InvalidParameterError("body", "must be a JSON object")
    return body


def decode_json_text(text: str, field: str) -> Any:
    """One JSON value — a body, or a parameter sent JSON-encoded in a query string or form ("shrink" style) — within
    the limits every body meets (``MAX_BODY_DEPTH``; the rules of ``chalicelib.core.text_values.loads_json``)."""
    try:
        value = loads_json(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(field, f"is not valid JSON ({exc.msg})") from None
    except ValueError as exc:  # an over-long integer literal, a number beyond a double
        raise InvalidParameterError(field, f"is not valid JSON ({exc})") from None
    except RecursionError:  # nested deeper than the parser can go: far beyond MAX_BODY_DEPTH
        raise _too_deep(field) from None
    if isinstance(value, dict | list):
        _check_structure(value, field)
    return value


def check_body_limits(payload: Mapping[str, Any]) -> None:
    """``MAX_BODY_DEPTH`` and ``MAX_BODY_BYTES`` (measured as compact JSON) for parameters that did not arrive as a raw
    body — a direct Lambda event — so that it meets the limits an HTTP body meets in ``decode_json_body``."""
    _check_structure(payload)
    try:
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))
    except (TypeError, ValueError):  # not JSON at all (a circular structure): the validation will refuse it
        return
    if size > MAX_BODY_BYTES:
        raise InvalidParameterError("body", f"must be at most {MAX_BODY_BYTES} bytes")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_structure(value: object, field: str = "body") -> None:
    """At most ``MAX_BODY_DEPTH`` levels of containers, only finite numbers, and only text that is text: a lone UTF-16
    surrogate (``"\\ud800"`` in JSON) decodes to a Python string no response, log line or store can encode, so it is
    refused here, naming where it is. Iterative, so that checking a deep value cannot itself hit the recursion limit."""
    pending: list[tuple[Any, int, str]] = [(value, 1, field if field != "body" else "")]
    while pending:
        item, depth, path = pending.pop()
        children = item.items() if isinstance(item, Mapping) else enumerate(item)
        for key, child in children:
            child_path = _child_path(path, key)
            if isinstance(key, str) and _SURROGATE.search(key):
                raise _not_text(path or field)
            if isinstance(child, str):
                if _SURROGATE.search(child):
                    raise _not_text(child_path)
            elif isinstance(child, float):
                if not is_finite_number(child):  # a direct Lambda event: its runtime's parser accepts NaN and 1e309
                    raise InvalidParameterError(child_path, "must be a finite number (JSON has no NaN or Infinity)")
            elif isinstance(child, dict | list | tuple | Mapping):
                if depth >= MAX_BODY_DEPTH:
                    raise _too_deep(field)
                pending.append((child, depth + 1, child_path))


def _child_path(path: str, key: object) -> str:
    """``wire_path`` one step at a time: ``Messages`` + 0 → ``Messages[0]``, + ``Content`` → ``Messages[0].Content``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _not_text(path: str) -> InvalidParameterError:
    return InvalidParameterError(path or "body", "is not valid text (it holds a lone UTF-16 surrogate)")


def _too_deep(field: str = "body") -> InvalidParameterError:
    return InvalidParameterError(field, f"must not nest arrays and objects more than {MAX_BODY_DEPTH} levels deep")


def wire_path(location: tuple[int | str, ...]) -> str:
    """``("Rerank", 0, "RerankTopN")`` → ``Rerank[0].RerankTopN``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def _plain(message: str) -> str:
    message = _INSTANCE_OF.sub("", message)  # "... or instance of HistoryMessage": a Python class name
    for python, plain in _JSON_WORDS:
        message = message.replace(python, plain)
    message = message.removeprefix("Value error, ")
    return message
