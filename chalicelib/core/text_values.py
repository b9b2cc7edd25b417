"""How a caller's text is read as a value, the same wherever it arrives: JSON text (a body, a parameter sent
JSON-encoded, a SearchFilters value given as JSON text) and text that stands for a number.

JSON is RFC 8259's: ``NaN`` and ``Infinity`` are refused although Python's parser accepts them, and so are integer
literals of more than ``MAX_INTEGER_DIGITS`` digits — Python refuses to convert more than 4,300 (a denial-of-service
guard) and no value needs more than a few dozen, so they are refused here, before Python's own limit can raise
anywhere else.
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
    return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)


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


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_INTEGER_DIGITS + 1:  # the sign
        raise ValueError(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)
