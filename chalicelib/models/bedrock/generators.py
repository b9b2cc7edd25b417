"""The Bedrock ``Converse`` API (any chat model or inference profile) as Sift's query rewriter and answer generator.

``converse_messages`` turns a conversation into the message list Converse accepts (starting with a user turn, roles
alternating) for both. Clients, retries and error translation: ``calls``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from chalicelib.core.errors import InternalError
from chalicelib.core.ports.models import ChatMessage
from chalicelib.models.bedrock.calls import BedrockModel, call_bedrock

REWRITE_SYSTEM_PROMPT: Final = (
    "You rewrite the latest user question of a conversation into one standalone search query for a document "
    "retrieval system. Resolve pronouns and references using the conversation, keep the user's language and key "
    "terms, and do not answer the question. Reply with the search query only: one line, no quotes, no explanation."
)


def converse_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """``messages`` as Converse wants them: starting with a user turn, roles alternating.

    Any role other than ``assistant`` counts as ``user``; blank messages are dropped; consecutive turns of one role
    are joined with a blank line; a conversation that opens with the assistant gets a placeholder user turn first.
    ``ValueError`` if nothing is left: Converse refuses an empty message list.
    """
    merged: list[tuple[str, str]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        text = message.content.strip()
        if not text:
            continue
        if merged and merged[-1][0] == role:
            merged[-1] = (role, f"{merged[-1][1]}\n\n{text}")
        else:
            merged.append((role, text))
    if not merged:
        raise ValueError("a Converse request needs at least one non-blank message")
    if merged[0][0] != "user":
        merged.insert(0, ("user", "(earlier conversation omitted)"))
    return [{"role": role, "content": [{"text": text}]} for role, text in merged]


def converse_text(response: Mapping[str, Any]) -> str:
    """The text blocks of a Converse response's output message, joined and stripped (``""`` if there are none)."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    return "".join(str(block.get("text", "")) for block in content if isinstance(block, dict)).strip()


class ConverseRewriter(BedrockModel):
    """A ``QueryRewriter`` on the Bedrock ``Converse`` API (any chat model or inference profile).

    The history becomes the message list and the latest question the final user message. Converse wants the
    messages to start with a user turn and alternate, so consecutive turns of one role are joined and a history
    that opens with the assistant gets a placeholder user turn first. Empty output raises ``InternalError``: there
    is deliberately no silent fallback to the unrewritten query.
    """

    def __init__(
        self,
        client: Any,
        model_id: str,
        *,
        max_tokens: int = 256,
        history_turns: int = 10,
    ) -> None:
        super().__init__(client)
        self._model_id = model_id
        self._max_tokens = max_tokens
        self._history_turns = history_turns

    @property
    def name(self) -> str:
        return self._model_id

    def messages(self, history: Sequence[ChatMessage], query: str) -> list[dict[str, Any]]:
        recent = history[-self._history_turns :] if self._history_turns > 0 else []
        return converse_messages([*recent, ChatMessage("user", f"Latest question: {query.strip()}")])

    def rewrite(self, history: Sequence[ChatMessage], query: str) -> str:
        params = {
            "modelId": self._model_id,
            "system": [{"text": REWRITE_SYSTEM_PROMPT}],
            "messages": self.messages(history, query),
            "inferenceConfig": {"maxTokens": self._max_tokens, "temperature": 0.0},
        }
        text = converse_text(call_bedrock(f"Converse({self._model_id})", lambda: dict(self._client.converse(**params))))
        if not text:
            raise InternalError(f"Bedrock model {self._model_id} returned an empty query rewrite")
        return text


class ConverseGenerator(BedrockModel):
    """A ``Generator`` on the Bedrock ``Converse`` API (any chat model or inference profile), for ContextualAnswer.

    The system prompt goes in Converse's ``system`` field, where chat models give it more weight than a user turn,
    and the messages are made to alternate by ``converse_messages`` (the same rules as ``ConverseRewriter``).
    Decoding is greedy (``temperature`` 0): an answer grounded in documents should not vary between calls. Empty
    output raises ``InternalError`` rather than returning ``""``: the caller cannot tell an empty reply from a broken
    model, and must not mistake it for an answer.
    """

    def __init__(self, client: Any, model_id: str) -> None:
        super().__init__(client)
        self._model_id = model_id

    @property
    def name(self) -> str:
        return self._model_id

    def generate(self, system: str, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens!r}")
        params: dict[str, Any] = {
            "modelId": self._model_id,
            "messages": converse_messages(messages),
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
        }
        if system.strip():  # Converse rejects an empty system text block
            params["system"] = [{"text": system}]
        text = converse_text(call_bedrock(f"Converse({self._model_id})", lambda: dict(self._client.converse(**params))))
        if not text:
            raise InternalError(f"Bedrock model {self._model_id} returned an empty reply")
        return text
