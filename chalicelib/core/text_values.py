"""How a caller's text is read as a value, the same wherever it arrives: JSON text (a body, a parameter sent
JSON-encoded, a SearchFilters value given as JSON text) and text that stands for a number.

JSON is RFC 8259's: ``NaN`` and ``Infinity`` are refused although Python's parser accepts them, and so are number
literals beyond a double's range (``1e309``, which Python reads as infinity) and integer literals of more than
``MAX_INTEGER_DIGITS`` digits — Python refuses to convert more than 4,300 (a denial-of-service guard) and no value
needs more than a few dozen, so they are refused here, before Python's own limit can raise anywhere else.

On the way out, ``finite`` is the last guard: a value that reached storage some other way (an older record, a model's
output) is answered as ``null`` rather than as the bare ``NaN`` / ``Infinity`` that no JSON parser accepts.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

MAX_INTEGER_DIGITS: Final = 100

_NUMERIC_TEXT: Final = re.compile(r"[+-]?(?:\d{1,40}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][+-]?\d{1,3})?")
_INTEGER_TEXT: Final = re.compile(r"[+-]?\d+")


def loads_json(text: str) -> Any:
    """``json.loads`` within the rules above. Raises ``json.JSONDecodeError`` for text that is not JSON (``NaN``
    included), ``ValueError`` for an over-long integer and ``RecursionError`` for nesting beyond the parser's reach."""
    return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)


def is_finite_number(value: object) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±Infinity) replaced by ``None``; iterative, and it copies only the
    containers on the way to a replaced number, so an answer without any is returned as it is."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, dict | list):
        return value
    return _finite_container(value)


def _finite_container(root: dict[Any, Any] | list[Any]) -> Any:
    # Post-order over the containers: a container is rebuilt only if a descendant changed.
    changed: dict[int, Any] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, visited = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if not visited:
            stack.append((node, True))
            stack.extend((child, False) for _, child in items if isinstance(child, dict | list))
            continue
        replaced = False
        new_items = []
        for key, child in items:
            if isinstance(child, float) and not math.isfinite(child):
                child, replaced = None, True
            elif isinstance(child, dict | list) and id(child) in changed:
                child, replaced = changed[id(child)], True
            new_items.append((key, child))
        if replaced:
            changed[id(node)] = dict(new_items) if isinstance(node, dict) else [child for _, child in new_items]
    return changed.get(id(root), root)


def numeric_text(value: object) -> int | float | None:
    """The number a string reads as (``"25"`` → 25, ``" 2.5"`` → 2.5, ``"1e3"`` → 1000.0), or ``None``: for clients
    that can only send strings."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _NUMERIC_TEXT.fullmatch(text):
        return None
    if _INTEGER_TEXT.fullmatch(text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"a number beyond the range of a double ({literal[:32]})")
    return number


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_INTEGER_DIGITS + 1:  # the sign
        raise ValueError(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)
