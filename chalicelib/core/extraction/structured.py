"""JSON and JSON Lines: every scalar leaf flattened to a ``path: value`` line, one block per object or line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from chalicelib.core.extraction.records import ExtractionError, TextBlock, _block
from chalicelib.core.extraction.text import decode_text


class _JsonNumber(str):
    """A JSON float kept in its source spelling (``249.00`` stays ``249.00`` rather than becoming ``249.0``)."""


def _load_json(text: str) -> Any:
    """``json.loads`` that keeps floats as written, so indexed text matches what the author typed."""
    return json.loads(text, parse_float=_JsonNumber)


def _json_scalar(value: Any) -> str:
    """A JSON leaf as text: strings verbatim, everything else in its JSON spelling (``true``, ``null``, ``1.5``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _flatten_json(value: Any, path: str = "") -> Iterator[str]:
    """Yield ``path: value`` lines for every scalar leaf (paths like ``a.b[0].c``); empty containers yield nothing."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _flatten_json(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _flatten_json(child, f"{path}[{index}]")
    else:
        yield f"{path}: {_json_scalar(value)}" if path else _json_scalar(value)


def _json_block(value: Any) -> TextBlock | None:
    """One block holding the flattened lines of ``value``."""
    return _block("\n".join(_flatten_json(value)), ())


def _parse_json(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """JSON: one block for an object, one block per element for an array; a string ``title`` field is the title."""
    text = decode_text(data)
    if not text.strip():
        return stem, []
    try:
        value = _load_json(text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"Invalid JSON: line {exc.lineno} column {exc.colno}") from exc
    items = value if isinstance(value, list) else [value]
    blocks = [block for item in items if (block := _json_block(item)) is not None]
    title = value.get("title") if isinstance(value, dict) else None
    if isinstance(title, str) and not isinstance(title, _JsonNumber) and title.strip():
        return title, blocks
    return stem, blocks


def _parse_jsonl(data: bytes, stem: str) -> tuple[str, list[TextBlock]]:
    """JSON Lines: one block per non-empty line; the first bad line fails the file, naming its line number."""
    blocks: list[TextBlock] = []
    for number, line in enumerate(decode_text(data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = _load_json(line)
        except json.JSONDecodeError as exc:
            raise ExtractionError(f"Invalid JSON on line {number}: column {exc.colno}") from exc
        block = _json_block(value)
        if block is not None:
            blocks.append(block)
    return stem, blocks
