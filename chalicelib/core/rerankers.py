"""Which reranker serves each documented ModelName, per stage: a table, not a chain of string tests."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.ports.models import Reranker


class RerankerRegistry:
    def __init__(self, rerankers: Mapping[str, Reranker], default: str) -> None:
        if default not in rerankers:
            raise ValueError(f"default reranker {default!r} is not among {sorted(rerankers)}")
        self._rerankers = dict(rerankers)
        self._default = default

    @property
    def names(self) -> list[str]:
        return sorted(self._rerankers)

    def get(self, model_name: str | None, *, wire_name: str = "Rerank[0].ModelName") -> Reranker:
        name = model_name or self._default
        try:
            return self._rerankers[name]
        except KeyError:
            raise InvalidParameterError(
                wire_name, f"model {name!r} is not configured in this deployment; configured: {', '.join(self.names)}"
            ) from None
