"""The Bedrock ``Rerank`` API (``bedrock-agent-runtime``: Amazon Rerank, Cohere Rerank) behind ``Reranker``.

Clients, retries and error translation: ``calls``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final

from chalicelib.core.ports.models import MODE_INSTRUCTIONS, RerankCandidate, RerankMode, RerankRequest
from chalicelib.models.bedrock.calls import BedrockModel, call_bedrock

# From the bedrock-agent-runtime service model (Rerank): 1..1000 sources per call, numberOfResults 1..1000, exactly
# one query, texts of 1..32000 characters.
RERANK_MAX_SOURCES: Final = 1000
RERANK_MAX_TEXT: Final = 32000


class BedrockReranker(BedrockModel):
    """The Bedrock ``Rerank`` API (Amazon Rerank, Cohere Rerank) behind the ``Reranker`` protocol.

    Instructions: the Rerank API has no instruction field (only one query text per call), so the mode's
    instruction (``MODE_INSTRUCTIONS``) or, in custom mode, ``RerankInstruct`` is put in front of the query:
    ``f"{instruction}\\n{query}"``. The rerank models read the query as free text, so the instruction steers the
    relevance judgement the same way it does for an instruction-following reranker; without it the modes would be
    indistinguishable. Custom mode with an empty instruction sends the bare query.

    Limits: a call takes at most 1000 sources, so larger candidate sets are reranked in batches of 1000. The models'
    relevance scores are per (query, document) pair and do not depend on the other documents in the call, so scores
    from different batches are comparable. Candidates with empty text cannot be sent (the API requires 1+ characters)
    and score 0.0, as do candidates missing from the results. Texts longer than 32000 characters are cut to fit.
    Scores are clamped to [0, 1].
    """

    def __init__(self, client: Any, model_arn: str, *, batch_size: int = RERANK_MAX_SOURCES) -> None:
        if not 1 <= batch_size <= RERANK_MAX_SOURCES:
            raise ValueError(f"batch_size must be in [1, {RERANK_MAX_SOURCES}], got {batch_size!r}")
        super().__init__(client)
        self._model_arn = model_arn
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return self._model_arn

    @property
    def depth(self) -> None:
        """Every candidate: a cross-encoder judges each one on its own, so it may lift one that recall ranked low."""
        return None

    @staticmethod
    def query_text(request: RerankRequest) -> str:
        """The query text sent to the API: the instruction for the mode, a newline, the query."""
        if request.mode is RerankMode.CUSTOM:
            instruction = request.instruction.strip()
        else:
            instruction = MODE_INSTRUCTIONS[request.mode]
        text = f"{instruction}\n{request.query}" if instruction else request.query
        return text[:RERANK_MAX_TEXT]

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        scores = [0.0] * len(candidates)
        query = self.query_text(request)
        if not query.strip():
            return scores
        sendable = [position for position, candidate in enumerate(candidates) if candidate.text]
        for start in range(0, len(sendable), self._batch_size):
            batch = sendable[start : start + self._batch_size]
            for index, score in self._rerank_batch(query, [candidates[p].text for p in batch]).items():
                if 0 <= index < len(batch):
                    scores[batch[index]] = min(1.0, max(0.0, score))
        return scores

    def _rerank_batch(self, query: str, texts: Sequence[str]) -> dict[int, float]:
        """Relevance score by index into ``texts``, following ``nextToken`` if the results come in pages."""
        params: dict[str, Any] = {
            "queries": [{"type": "TEXT", "textQuery": {"text": query}}],
            "sources": [
                {
                    "type": "INLINE",
                    "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text[:RERANK_MAX_TEXT]}},
                }
                for text in texts
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "numberOfResults": len(texts),
                    "modelConfiguration": {"modelArn": self._model_arn},
                },
            },
        }
        scores: dict[int, float] = {}
        token: str | None = None
        while True:
            page_params = dict(params, nextToken=token) if token else params
            response = call_bedrock("Rerank", functools.partial(self._rerank_call, page_params))
            for result in response.get("results", []):
                scores[int(result["index"])] = float(result["relevanceScore"])
            token = response.get("nextToken")
            if not token:
                return scores

    def _rerank_call(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._client.rerank(**params))
