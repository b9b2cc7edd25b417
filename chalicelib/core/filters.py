"""The filter tree every backend applies, and its evaluation in Python against chunk metadata.

A small immutable tree: ``Group`` nodes (AND / OR) over ``Equals`` / ``NotEquals`` / ``AnyOf`` / ``Like`` / ``Range``
conditions on metadata fields. The wire ``SearchFilters`` of Retrieve is parsed into it by
``chalicelib.api.search_filters`` (which documents the syntax and its limits); the core builds trees of its own
directly (a dataset's media type, SemanticQuery's time, place and label conditions). The embedded backend evaluates
a tree with ``matches``; the OpenSearch backend compiles it to a bool query.

Evaluation
----------
* Equality (a single value, ``eq``, ``neq``, and each element of an array) compares like with like: strings exactly,
  numbers numerically (``3 == 3.0``), booleans only with booleans (``true`` never equals ``1`` even though Python's
  ``bool`` is an ``int``) — except that a filter string that reads as a number (``"25"``, ``"2.5"``, ``"1e3"``) also
  equals that number: clients that can only send strings must still reach numeric fields.
* ``like`` is case-insensitive (Unicode case-folded) on string values; ``%`` is a wildcard (any run, anchored at both
  ends), a pattern without ``%`` is a substring match, ``_`` is literal. Non-string stored values never match.
* Only numeric stored values can satisfy a range: a stored string that looks like a number (``"5"``) does not.
* A missing field fails ``eq``, array, ``like`` and range conditions and satisfies ``neq`` (absent is "not equal").
  When the stored value is an array (tags), a condition holds if it holds for any element; ``neq`` holds when no
  element equals the value. A stored ``null`` is treated like any other value that equals nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeGuard

from chalicelib.core.text_values import numeric_text

Scalar: TypeAlias = str | int | float | bool


FIELD_NAME: Final = re.compile(r"[^\W\d_][\w\-]{0,127}")
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
        object.__setattr__(self, "substring", self.substring.casefold())  # whoever builds it: compared case-folded
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


def all_of(*nodes: Node | None) -> Group | None:
    """The nodes ANDed (``None`` ones left out); ``None`` when none is left: no filter."""
    present = tuple(node for node in nodes if node is not None)
    return Group(Operator.AND, present) if present else None


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


def is_array(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    """JSON arrays arrive as lists; tuples are accepted too for in-process callers."""
    return isinstance(value, (list, tuple))


def _equals_holds(condition: Equals, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    expected = condition._keys
    if is_array(stored):
        return any(_equality_key(item) in expected for item in stored)
    return _equality_key(stored) in expected


def _not_equals_holds(condition: NotEquals, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    unwanted = condition._keys
    if is_array(stored):
        return all(_equality_key(item) not in unwanted for item in stored)
    return _equality_key(stored) not in unwanted


def _any_of_holds(condition: AnyOf, metadata: Mapping[str, Any]) -> bool:
    stored = metadata.get(condition.field, _MISSING)
    keys = condition._keys
    if is_array(stored):
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
    if is_array(stored):
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
    if is_array(stored):
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
