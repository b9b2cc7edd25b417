"""Readable output: a table of Retrieve's nodes (with ``--explain``, each node's legs), fitted to the terminal and to
the display width of CJK text."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

DASH = "—"


def display_width(text: str) -> int:
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns (with an ellipsis when cut), padded to exactly ``width``."""
    if width <= 0:
        return ""
    if display_width(text) > width:
        kept, used = [], 0
        for char in text:
            size = _char_width(char)
            if used + size > width - 1:
                break
            kept.append(char)
            used += size
        text = "".join(kept) + "…"
    return text + " " * (width - display_width(text))


def one_line(text: str) -> str:
    return " ".join(text.split())


def excerpt(node: Mapping[str, Any]) -> str:
    """The node's text on one line; with an explanation, from a little before its first matched query term."""
    text = str(node.get("Text") or "")
    matches = (node.get("Explain") or {}).get("Matches") or []
    if matches:
        start = max(0, int(matches[0].get("Start", 0)) - 20)
        space = text.rfind(" ", 0, start + 1)  # from a word's start, in text with spaces
        start = space + 1 if space > start - 20 else start
        if start > 0:
            return "…" + one_line(text[start:])
    return one_line(text)


def _leg(leg: Mapping[str, Any] | None) -> str:
    if not leg:
        return DASH
    return f"{_number(leg.get('Score'))} #{leg.get('Rank', '?')}"


def _number(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return DASH
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def _rerank(rerank: Mapping[str, Any] | None) -> str:
    if not rerank:
        return DASH
    if rerank.get("Score") is None:
        return "below depth"
    return f"{_number(rerank.get('Score'))} #{rerank.get('Rank', '?')}"


def explain_columns(node: Mapping[str, Any]) -> list[str]:
    """dense score/rank, sparse score/rank, fused, rerank score/rank (the first query's legs)."""
    explain = node.get("Explain")
    if not isinstance(explain, Mapping):
        return [DASH, DASH, DASH, DASH]
    queries = explain.get("Queries") or [{}]
    first = queries[0] if isinstance(queries[0], Mapping) else {}
    return [_leg(first.get("Dense")), _leg(first.get("Sparse")), _number(explain.get("FusedScore")),
            _rerank(explain.get("Rerank"))]


def nodes_table(nodes: Sequence[Mapping[str, Any]], *, explain: bool, width: int) -> str:
    headers = ["#", "score"] + (["dense", "sparse", "fused", "rerank"] if explain else []) + ["document"]
    rows = []
    for rank, node in enumerate(nodes, 1):
        metadata = node.get("Metadata") or {}
        document = str(metadata.get("doc_name") or metadata.get("title") or metadata.get("doc_id") or DASH)
        row = [str(rank), _number(node.get("Score"))] + (explain_columns(node) if explain else []) + [document]
        rows.append(row)
    widths = [max(display_width(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]
    widths[-1] = min(widths[-1], 32)  # the document column
    used = sum(widths) + 2 * len(widths)
    text_width = max(20, width - used)
    lines = ["  ".join(fit(cell, size) for cell, size in zip(headers, widths)) + "  text"]
    for node, row in zip(nodes, rows):
        cells = [fit(cell, size) for cell, size in zip(row, widths)]
        lines.append("  ".join(cells) + "  " + fit(excerpt(node), text_width).rstrip())
    if explain and any(len((node.get("Explain") or {}).get("Queries") or []) > 1 for node in nodes):
        lines.append("(legs of the first query searched; --json shows every query's)")
    return "\n".join(lines)
