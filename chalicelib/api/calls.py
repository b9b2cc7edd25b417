"""One parsed invocation of an operation, as every handler receives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Call:
    """The path's WorkspaceId (knowledge-base family; empty for IMM), the validated request, the request id and the
    raw parameters (kept for the retriever history)."""

    workspace_id: str
    request: Any
    request_id: str
    raw: Mapping[str, Any]
