"""What an operation is and what its handler receives: shared by the registries of both API families."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.api.common import RequestModel
from chalicelib.api.envelopes import Family
from chalicelib.api.wire import WireSpec


@dataclass(frozen=True, slots=True)
class Call:
    """The path's WorkspaceId (knowledge-base family; empty for IMM), the validated request, the request id and the
    raw parameters (kept for the retriever history)."""

    workspace_id: str
    request: Any
    request_id: str
    raw: Mapping[str, Any]


Handler = Callable[[Any, Call], Any]


@dataclass(frozen=True, slots=True)
class Operation:
    """``handler`` receives the service ``component`` names (an attribute of ``Services``) and the parsed call."""

    name: str
    method: str
    path: str
    family: Family
    request_model: type[RequestModel]
    handler: Handler
    lambda_memory_mb: int = 1024
    component: str = "knowledge_bases"
    wire: WireSpec = field(default_factory=WireSpec)
