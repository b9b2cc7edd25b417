"""``SearchFilters`` on the wire: validated and parsed into the core's filter tree (``chalicelib.core.filters``).

The Bailian ``Retrieve`` API takes ``SearchFilters`` as a JSON array of *subgroups*. A malformed filter is rejected up
front with an error that names the exact wire path (``SearchFilters[0]._conditions[2].price.gt``) instead of silently
matching nothing.

Wire syntax (as documented by Bailian)
--------------------------------------
* The subgroups of the array are ANDed together. ``[]`` (or no value at all) means "no filter": the parser returns
  ``None``.
* Every non-reserved key of a subgroup is a metadata field name; the field conditions of a subgroup are joined by
  ``_operator`` (``"AND"`` or ``"OR"``, default AND).
* ``_conditions`` is a non-empty array of nested subgroups (same syntax, recursively). They are joined by
  ``_conditions_operator``; when that is absent they inherit the enclosing subgroup's ``_operator``. The nested block
  as a whole is one more operand of the enclosing subgroup's ``_operator``.
* A field's value is a single string/number/boolean (equality), an array of them (matches any), or an object with
  exactly one of ``eq`` / ``neq`` / ``like``, or with one or more range bounds ``gt`` / ``gte`` / ``lt`` / ``lte``.

Tree shape
----------
``parse_search_filters`` returns ``Group(AND, ...)`` with one child ``Group`` per subgroup. A subgroup's ``Group``
holds its field conditions in the order given, followed (when present) by one ``Group`` for its ``_conditions`` block,
whose children are again one ``Group`` per nested subgroup. Nothing is flattened or reordered beyond that.

Decisions this module makes (the Bailian doc leaves them open)
--------------------------------------------------------------
* Case: the values of ``_operator`` / ``_conditions_operator`` and the property names (``eq``, ``GTE`` ...) are
  case-insensitive, and so are the reserved keys themselves (``_Operator``). Field names are case-sensitive. A key
  given twice in different cases (``eq`` and ``EQ``) is an error. The operator value is not trimmed (``" OR"`` is an
  error).
* Field names must match ``^[^\\W\\d_][\\w\\-]{0,127}$``: a Unicode letter first (so ``分类`` is fine), then up to 127
  letters, digits, ``_`` or ``-``. Other keys starting with ``_`` are an error ("unknown reserved key").
* Values sent as JSON text. The official SDKs of Go and Java can send only string values (``Map<String,String>``), and
  the official SearchFilters page's own samples send arrays, ranges and ``like`` as JSON text:
  ``{"tags": "[\"a\",\"b\"]"}``, ``{"age": "{\"gte\":20,\"lte\":27}"}``. A field value (or ``_conditions``)
  that is a string holding a JSON array or object is read as that array or object. A string that starts with ``[``
  or ``{`` but is not valid JSON stays a plain string (a literal value such as ``"[draft]"``).
* Equality (a single value, ``eq``, ``neq``, and each element of an array) compares like with like: strings exactly,
  numbers numerically (``3 == 3.0``), booleans only with booleans (``true`` never equals ``1`` even though Python's
  ``bool`` is an ``int``) — except that a filter string that reads as a number (``"25"``, ``"2.5"``, ``"1e3"``) also
  equals that number: clients that can only send strings must still reach numeric fields.
* Arrays may mix strings, numbers and booleans; they may not be empty, hold ``null``, objects or arrays, or have more
  than 100 items.
* ``like`` is case-insensitive (Unicode case-folded) on string values. ``%`` is the wildcard of the official page
  (``"技%员"``): any run of characters, the empty run included, and a pattern with ``%`` must match the whole value
  (``"warr%"`` is a prefix, ``"%.md"`` a suffix). A pattern without ``%`` is a substring match (Sift's reading of the
  page's ``"like": "prefix"`` sample, kept from its first release). ``_`` is literal. Its value must be a non-empty
  string. Non-string stored values never match.
* Range bounds must be finite numbers (booleans are not numbers), or strings that read as one (``"20"``). Only
  numeric stored values can satisfy a range: a stored string that looks like a number (``"5"``) does not. ``gt`` with ``gte`` (or ``lt`` with ``lte``) is an error, and so
  is a range no value can satisfy (``{"gte": 9, "lte": 1}``, ``{"gt": 5, "lt": 5}``): it is certainly a caller mistake.
* ``_conditions_operator`` without ``_conditions`` is an error (it would otherwise be silently ignored).
* Metadata matching: a missing field fails ``eq``, array, ``like`` and range conditions and satisfies ``neq`` (absent
  is "not equal"). When the stored value is an array (tags), a condition holds if it holds for any element; ``neq``
  holds when no element equals the value. A stored ``null`` is treated like any other value that equals nothing.
* Limits, to bound parsing and evaluation cost: strings up to 1,000 characters, arrays up to 100 items, ``_conditions``
  nested at most 5 levels deep, at most 100 field conditions in the whole filter (an array counts as one).
* Errors are ``InvalidParameterError(path, problem)``; problems are written for an API caller and name JSON types
  (object, array, string, number, boolean, null), never Python ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.filters import (
    FIELD_NAME,
    AnyOf,
    Condition,
    Equals,
    Group,
    Like,
    Node,
    NotEquals,
    Operator,
    Range,
    Scalar,
    is_array,
)
from chalicelib.core.text_values import loads_json, numeric_text

MAX_STRING_LENGTH: Final = 1000
MAX_LIST_ITEMS: Final = 100
MAX_NESTING_DEPTH: Final = 5
MAX_FIELD_CONDITIONS: Final = 100
_OPERATOR_KEY: Final = "_operator"
_CONDITIONS_KEY: Final = "_conditions"
_CONDITIONS_OPERATOR_KEY: Final = "_conditions_operator"
_RESERVED_KEYS: Final = (_OPERATOR_KEY, _CONDITIONS_KEY, _CONDITIONS_OPERATOR_KEY)
_MATCH_PROPERTIES: Final = ("eq", "neq", "like")
_RANGE_PROPERTIES: Final = ("gt", "gte", "lt", "lte")


# ---------------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------------


def parse_search_filters(raw: object, *, wire_name: str = "SearchFilters") -> Group | None:
    """Validate the wire ``SearchFilters`` and build its tree; ``None`` (no filter) for a missing value or ``[]``.

    Raises ``InvalidParameterError`` naming the offending wire path (rooted at ``wire_name``) on any malformed input.
    """
    if raw is None:
        return None
    if not is_array(raw):
        raise InvalidParameterError(wire_name, f"must be an array of objects, not {_json_type(raw)}")
    if not raw:
        return None
    budget = _Budget(wire_name)
    subgroups = tuple(
        _parse_subgroup(item, f"{wire_name}[{index}]", depth=0, budget=budget) for index, item in enumerate(raw)
    )
    return Group(Operator.AND, subgroups)


@dataclass(slots=True)
class _Budget:
    """Counts field conditions across the whole filter so an oversized filter fails fast."""

    wire_name: str
    used: int = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > MAX_FIELD_CONDITIONS:
            raise InvalidParameterError(
                self.wire_name, f"has more than {MAX_FIELD_CONDITIONS} field conditions in total"
            )


def _json_type(value: object) -> str:
    """The JSON name of a value's type, for messages a caller can act on."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if is_array(value):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return "an unsupported value"


def _quote(text: str, limit: int = 64) -> str:
    """``text`` as a JSON string literal, shortened so an error message stays readable."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=False)


def _parse_subgroup(raw: object, path: str, *, depth: int, budget: _Budget) -> Group:
    """One subgroup object: its field conditions plus an optional ``_conditions`` block, joined by ``_operator``."""
    if not isinstance(raw, Mapping):
        raise InvalidParameterError(path, f"must be an object of field conditions, not {_json_type(raw)}")
    reserved, fields = _split_keys(raw, path)
    operator = _parse_operator(reserved, _OPERATOR_KEY, path, default=Operator.AND)
    children: list[Node] = [_parse_field(name, value, f"{path}.{name}", budget) for name, value in fields]
    if _CONDITIONS_KEY in reserved:
        block_operator = _parse_operator(reserved, _CONDITIONS_OPERATOR_KEY, path, default=operator)
        children.append(_parse_conditions(reserved[_CONDITIONS_KEY], path, block_operator, depth, budget))
    elif _CONDITIONS_OPERATOR_KEY in reserved:
        key = reserved[_CONDITIONS_OPERATOR_KEY][0]
        raise InvalidParameterError(f"{path}.{key}", f"is given without {_CONDITIONS_KEY}")
    if not children:
        raise InvalidParameterError(
            path, f"is an empty subgroup: give at least one field condition or {_CONDITIONS_KEY}"
        )
    return Group(operator, tuple(children))


def _split_keys(raw: Mapping[Any, Any], path: str) -> tuple[dict[str, tuple[str, object]], list[tuple[str, object]]]:
    """Separate reserved keys (by lower-cased name, keeping the key as written) from field names, validating both."""
    reserved: dict[str, tuple[str, object]] = {}
    fields: list[tuple[str, object]] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise InvalidParameterError(path, "has a key that is not a string")
        if key.startswith("_"):
            canonical = key.lower()
            if canonical not in _RESERVED_KEYS:
                allowed = ", ".join(_RESERVED_KEYS)
                raise InvalidParameterError(f"{path}.{key}", f"is an unknown reserved key (allowed: {allowed})")
            if canonical in reserved:
                raise InvalidParameterError(f"{path}.{key}", "is given more than once (reserved keys ignore case)")
            reserved[canonical] = (key, value)
        elif FIELD_NAME.fullmatch(key):
            fields.append((key, value))
        else:
            raise InvalidParameterError(
                path,
                f"{_quote(key)} is not a valid field name: it must start with a letter and hold at most 128 "
                "letters, digits, '_' or '-'",
            )
    return reserved, fields


def _parse_operator(
    reserved: Mapping[str, tuple[str, object]], canonical: str, path: str, *, default: Operator
) -> Operator:
    """The ``AND``/``OR`` value of ``_operator`` or ``_conditions_operator`` (any case), or ``default`` if absent."""
    if canonical not in reserved:
        return default
    key, value = reserved[canonical]
    if not isinstance(value, str):
        raise InvalidParameterError(f"{path}.{key}", f'must be the string "AND" or "OR", not {_json_type(value)}')
    try:
        return Operator(value.upper())
    except ValueError:
        raise InvalidParameterError(f"{path}.{key}", f'must be "AND" or "OR", not {_quote(value)}') from None


def _parse_conditions(entry: tuple[str, object], path: str, operator: Operator, depth: int, budget: _Budget) -> Group:
    """The ``_conditions`` block: nested subgroups joined by ``operator``, at most ``MAX_NESTING_DEPTH`` deep."""
    key, value = entry
    value = _json_text(value)
    block_path = f"{path}.{key}"
    if not is_array(value) or not value:
        raise InvalidParameterError(block_path, "must be a non-empty array of objects")
    if depth >= MAX_NESTING_DEPTH:
        raise InvalidParameterError(block_path, f"nests deeper than {MAX_NESTING_DEPTH} levels of {_CONDITIONS_KEY}")
    nested = tuple(
        _parse_subgroup(item, f"{block_path}[{index}]", depth=depth + 1, budget=budget)
        for index, item in enumerate(value)
    )
    return Group(operator, nested)


def _json_text(value: object) -> object:
    """A string holding a JSON array or object, decoded (values sent as JSON text); anything else as it is."""
    if not isinstance(value, str) or not value.lstrip().startswith(("[", "{")):
        return value
    try:
        decoded = loads_json(value)
    except (ValueError, RecursionError):  # not JSON after all: a literal string such as "[draft]"
        return value
    return decoded if isinstance(decoded, (list, dict)) else value


def _parse_field(name: str, value: object, path: str, budget: _Budget) -> Condition:
    """One ``field: value`` pair: a single value, an array of values, or an object of properties (any of them may
    arrive as JSON text)."""
    budget.spend()
    value = _json_text(value)
    if value is None:
        raise InvalidParameterError(path, "must not be null")
    if is_array(value):
        return _parse_any_of(name, value, path)
    if isinstance(value, Mapping):
        return _parse_properties(name, value, path)
    return Equals(name, _parse_scalar(value, path))


def _parse_scalar(value: object, path: str) -> Scalar:
    """A string (up to the length limit), a finite number or a boolean; anything else is an error at ``path``."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidParameterError(path, f"must be at most {MAX_STRING_LENGTH:,} characters long")
        return value
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterError(path, "must be a finite number")
        return value
    raise InvalidParameterError(path, f"must be a string, number or boolean, not {_json_type(value)}")


def _parse_any_of(name: str, value: list[object] | tuple[object, ...], path: str) -> AnyOf:
    """An array value: 1 to ``MAX_LIST_ITEMS`` strings, numbers or booleans (mixing allowed)."""
    if not value:
        raise InvalidParameterError(path, "must not be an empty array")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidParameterError(path, f"must hold at most {MAX_LIST_ITEMS} values")
    return AnyOf(name, tuple(_parse_scalar(item, f"{path}[{index}]") for index, item in enumerate(value)))


def _parse_properties(name: str, value: Mapping[Any, Any], path: str) -> Condition:
    """An object value: exactly one of ``eq``/``neq``/``like``, or one or more range bounds."""
    if not value:
        raise InvalidParameterError(path, "must not be an empty object; give eq, neq, like or gt/gte/lt/lte")
    properties = _normalise_properties(value, path)
    matchers = [key for key in _MATCH_PROPERTIES if key in properties]
    bounds = [key for key in _RANGE_PROPERTIES if key in properties]
    if matchers and bounds:
        raise InvalidParameterError(path, "cannot combine eq, neq or like with range bounds (gt, gte, lt, lte)")
    if len(matchers) > 1:
        raise InvalidParameterError(path, "must give only one of eq, neq and like")
    if bounds:
        return _parse_range(name, properties, path)
    written, operand = properties[matchers[0]]
    operand_path = f"{path}.{written}"
    if matchers[0] == "like":
        return Like(name, _parse_like(operand, operand_path))
    if operand is None:
        raise InvalidParameterError(operand_path, "must not be null")
    if matchers[0] == "eq":
        return Equals(name, _parse_scalar(operand, operand_path))
    return NotEquals(name, _parse_scalar(operand, operand_path))


def _normalise_properties(value: Mapping[Any, Any], path: str) -> dict[str, tuple[str, object]]:
    """Property names lower-cased (keeping the name as written, for error paths); unknown or repeated ones rejected."""
    properties: dict[str, tuple[str, object]] = {}
    for key, operand in value.items():
        if not isinstance(key, str):
            raise InvalidParameterError(path, "has a property name that is not a string")
        canonical = key.lower()
        if canonical not in _MATCH_PROPERTIES and canonical not in _RANGE_PROPERTIES:
            raise InvalidParameterError(
                f"{path}.{key}", "is an unknown property (allowed: eq, neq, like, gt, gte, lt, lte)"
            )
        if canonical in properties:
            raise InvalidParameterError(f"{path}.{key}", "is given more than once (property names ignore case)")
        properties[canonical] = (key, operand)
    return properties


def _parse_like(operand: object, path: str) -> str:
    """The ``like`` operand: a non-empty string, returned case-folded for evaluation."""
    if not isinstance(operand, str):
        raise InvalidParameterError(path, f"must be a string, not {_json_type(operand)}")
    if not operand:
        raise InvalidParameterError(path, "must not be an empty string")
    if len(operand) > MAX_STRING_LENGTH:
        raise InvalidParameterError(path, f"must be at most {MAX_STRING_LENGTH:,} characters long")
    return operand.casefold()


def _parse_range(name: str, properties: Mapping[str, tuple[str, object]], path: str) -> Range:
    """Range bounds: finite numbers, at most one lower and one upper bound, describing a non-empty interval."""
    bounds = {key: _parse_bound(operand, f"{path}.{written}") for key, (written, operand) in properties.items()}
    if "gt" in bounds and "gte" in bounds:
        raise InvalidParameterError(path, "must give only one lower bound: gt or gte, not both")
    if "lt" in bounds and "lte" in bounds:
        raise InvalidParameterError(path, "must give only one upper bound: lt or lte, not both")
    condition = Range(name, gt=bounds.get("gt"), gte=bounds.get("gte"), lt=bounds.get("lt"), lte=bounds.get("lte"))
    _check_not_empty(condition, path)
    return condition


def _parse_bound(operand: object, path: str) -> float:
    """One range bound: a finite number (booleans are not numbers), or a string that reads as one."""
    number = numeric_text(operand)
    if number is not None:
        return number
    if isinstance(operand, bool) or not isinstance(operand, (int, float)):
        raise InvalidParameterError(path, f"must be a number, not {_json_type(operand)}")
    if isinstance(operand, float) and not math.isfinite(operand):
        raise InvalidParameterError(path, "must be a finite number")
    return operand


def _check_not_empty(condition: Range, path: str) -> None:
    """Reject a range no number can satisfy (e.g. ``gte 9, lte 1`` or ``gt 5, lt 5``): surely a caller mistake."""
    lower = condition.gt if condition.gt is not None else condition.gte
    upper = condition.lt if condition.lt is not None else condition.lte
    if lower is None or upper is None:
        return
    exclusive = condition.gt is not None or condition.lt is not None
    if lower > upper or (lower == upper and exclusive):
        low = f"gt {lower}" if condition.gt is not None else f"gte {lower}"
        high = f"lt {upper}" if condition.lt is not None else f"lte {upper}"
        raise InvalidParameterError(path, f"is an empty range: no number satisfies both {low} and {high}")
