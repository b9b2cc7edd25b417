"""``SearchFilters``: parsed once into a typed tree, then evaluated in Python against chunk metadata.

The Bailian ``Retrieve`` API takes ``SearchFilters`` as a JSON array of *subgroups*. This module turns that wire shape
into a small immutable tree (``Group`` nodes over ``Equals`` / ``NotEquals`` / ``AnyOf`` / ``Like`` / ``Range``
conditions) so that every backend filters the same way, and so that a malformed filter is rejected up front with an
error that names the exact wire path (``SearchFilters[0]._conditions[2].price.gt``) instead of silently matching
nothing.

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

import dataclasses
import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeGuard

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.text_values import loads_json, numeric_text

Scalar: TypeAlias = str | int | float | bool

MAX_STRING_LENGTH: Final = 1000
MAX_LIST_ITEMS: Final = 100
MAX_NESTING_DEPTH: Final = 5
MAX_FIELD_CONDITIONS: Final = 100

FIELD_NAME: Final = re.compile(r"[^\W\d_][\w\-]{0,127}")
_OPERATOR_KEY: Final = "_operator"
_CONDITIONS_KEY: Final = "_conditions"
_CONDITIONS_OPERATOR_KEY: Final = "_conditions_operator"
_RESERVED_KEYS: Final = (_OPERATOR_KEY, _CONDITIONS_KEY, _CONDITIONS_OPERATOR_KEY)
_MATCH_PROPERTIES: Final = ("eq", "neq", "like")
_RANGE_PROPERTIES: Final = ("gt", "gte", "lt", "lte")
_MISSING: Final = object()


class Operator(enum.Enum):
    """How the children of a ``Group`` combine."""

    AND = "AND"
    OR = "OR"


def _equality_key(value: object) -> tuple[int, object] | None:
    """A hashable key under which two values are equal exactly when the filter semantics call them equal.

    Tagging with a kind keeps ``True`` apart from ``1`` (Python hashes and compares them alike) while letting ``3`` and
    ``3.0`` share a key. Values of any other type (``None``, objects, arrays) have no key and so equal nothing.
    """
    if isinstance(value, str):
        return (0, value)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    return None


def _keys_of(value: Scalar) -> frozenset[tuple[int, object]]:
    """Every equality key ``value`` stands for: its own, and a number's for a string that reads as one."""
    keys = {key for key in (_equality_key(value), _equality_key(numeric_text(value))) if key is not None}
    return frozenset(keys)


@dataclass(frozen=True, slots=True)
class Equals:
    """``field`` equals ``value`` (a single value or ``eq``).

    ``_keys`` is derived from ``value`` at construction so that evaluation builds no per-call objects for it.
    """

    field: str
    value: Scalar
    _keys: frozenset[tuple[int, object]] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keys", _keys_of(self.value))


@dataclass(frozen=True, slots=True)
class NotEquals:
    """``field`` does not equal ``value`` (``neq``); holds when the field is missing. ``_keys`` as for ``Equals``."""

    field: str
    value: Scalar
    _keys: frozenset[tuple[int, object]] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keys", _keys_of(self.value))


@dataclass(frozen=True, slots=True)
class AnyOf:
    """``field`` equals one of ``values`` (an array value).

    ``_keys`` is derived from ``values`` at construction so that evaluation is one set lookup per stored value.
    """

    field: str
    values: tuple[Scalar, ...]
    _keys: frozenset[tuple[int, object]] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys: frozenset[tuple[int, object]] = frozenset().union(*map(_keys_of, self.values))
        object.__setattr__(self, "_keys", keys)


@dataclass(frozen=True, slots=True)
class Like:
    """``field`` is a string matching ``substring``, the pattern, stored case-folded, ready to compare.

    Without ``%`` the pattern is a substring; with it, ``parts`` holds the literal runs between the wildcards and the
    whole value must match (``"warr%"`` → ``("warr", "")``).
    """

    field: str
    substring: str
    parts: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.substring.split("%")) if "%" in self.substring else ())


@dataclass(frozen=True, slots=True)
class Range:
    """``field`` is a number within the given bounds (each ``None`` bound is open)."""

    field: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


Condition: TypeAlias = Equals | NotEquals | AnyOf | Like | Range


@dataclass(frozen=True, slots=True)
class Group:
    """``children`` combined with ``operator``."""

    operator: Operator
    children: tuple[Node, ...]


Node: TypeAlias = Condition | Group


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------------


def matches(node: Node, metadata: Mapping[str, Any]) -> bool:
    """Whether one chunk's ``metadata`` satisfies ``node``; called once per candidate chunk, so kept lean."""
    try:
        evaluate = _EVALUATORS[type(node)]
    except KeyError:
        raise TypeError(f"not a filter node: {node!r}") from None
    return evaluate(node, metadata)


def referenced_fields(node: Node) -> frozenset[str]:
    """Every metadata field name the tree reads (lets a backend check or fetch only what a filter needs)."""
    if not isinstance(node, Group):
        return frozenset((node.field,))
    names: set[str] = set()
    for child in node.children:
        names |= referenced_fields(child)
    return frozenset(names)


def _group_holds(group: Group, metadata: Mapping[str, Any]) -> bool:
    """AND/OR over the children, short-circuiting (plain loops: no generator set-up per chunk on this hot path)."""
    if group.operator is Operator.AND:
        for child in group.children:
            if not matches(child, metadata):
                return False
        return True
    for child in group.children:
        if matches(child, metadata):
            return True
    return False


def _is_array(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    """JSON arrays arrive as lists; tuples are accepted too for in-process callers."""
    return isinstance(value, (list, tuple))


def _equals_holds(condition: Equals, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    expected = condition._keys
    if _is_array(stored):
        return any(_equality_key(item) in expected for item in stored)
    return _equality_key(stored) in expected


def _not_equals_holds(condition: NotEquals, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    unwanted = condition._keys
    if _is_array(stored):
        return all(_equality_key(item) not in unwanted for item in stored)
    return _equality_key(stored) not in unwanted


def _any_of_holds(condition: AnyOf, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    keys = condition._keys
    if _is_array(stored):
        return any(_equality_key(item) in keys for item in stored)
    return _equality_key(stored) in keys


def _like_one(condition: Like, stored: object) -> bool:
    if not isinstance(stored, str):
        return False
    if not condition.parts:
        return condition.substring in stored.casefold()
    return _wildcard_match(condition.parts, stored.casefold())


def _wildcard_match(parts: tuple[str, ...], value: str) -> bool:
    """``value`` matches ``part0 % part1 % ... % partN`` as a whole. Placing each middle part at its earliest
    occurrence is optimal for a pattern whose only wildcard is "any run", so one left-to-right scan decides (no
    backtracking: a hostile pattern cannot make it slow)."""
    first, last = parts[0], parts[-1]
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for part in parts[1:-1]:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _like_holds(condition: Like, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    if _is_array(stored):
        return any(_like_one(condition, item) for item in stored)
    return _like_one(condition, stored)


def _in_range(condition: Range, stored: object) -> bool:
    """Only real numbers (not booleans, not numeric-looking strings) can fall in a range; NaN never does."""
    if not isinstance(stored, (int, float)) or isinstance(stored, bool):
        return False
    if condition.gt is not None and not stored > condition.gt:
        return False
    if condition.gte is not None and not stored >= condition.gte:
        return False
    if condition.lt is not None and not stored < condition.lt:
        return False
    return condition.lte is None or stored <= condition.lte


def _range_holds(condition: Range, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    if _is_array(stored):
        return any(_in_range(condition, item) for item in stored)
    return _in_range(condition, stored)


_EVALUATORS: Final[dict[type, Callable[[Any, Mapping[str, Any]], bool]]] = {
    Group: _group_holds,
    Equals: _equals_holds,
    NotEquals: _not_equals_holds,
    AnyOf: _any_of_holds,
    Like: _like_holds,
    Range: _range_holds,
}


# ---------------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------------


def parse_search_filters(raw: object, *, wire_name: str = "SearchFilters") -> Group | None:
    """Validate the wire ``SearchFilters`` and build its tree; ``None`` (no filter) for a missing value or ``[]``.

    Raises ``InvalidParameterError`` naming the offending wire path (rooted at ``wire_name``) on any malformed input.
    """
    if raw is None:
        return None
    if not _is_array(raw):
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
    if _is_array(value):
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
    if not _is_array(value) or not value:
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
    if _is_array(value):
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
