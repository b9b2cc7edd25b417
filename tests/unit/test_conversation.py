"""The retrieval queries built from a conversation (ContextualRetrieval's conversation-aware method)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.core.conversation import CONTEXT_BUDGET, Conversation, conversation_queries
from chalicelib.core.ports.models import ChatMessage


def conversation(*turns: str) -> Conversation:
    *history, question = turns
    roles = ["user" if position % 2 == 0 else "assistant" for position in range(len(history))]
    return Conversation(tuple(ChatMessage(role, text) for role, text in zip(roles, history)), question)


class RecordingRewriter:
    name = "llm"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.seen: list[tuple[Sequence[ChatMessage], str]] = []

    def rewrite(self, history: Sequence[ChatMessage], query: str) -> str:
        self.seen.append((history, query))
        return self.answer


def test_a_question_alone_is_searched_once() -> None:
    queries = conversation_queries(conversation("Where is the Palace Museum?"))
    assert queries.texts == ["Where is the Palace Museum?"]


def test_the_focus_puts_the_opening_message_in_front_of_the_question() -> None:
    queries = conversation_queries(conversation("Tell me about the Palace Museum", "It is in Beijing.", "Tickets?"))
    assert queries.focus == "Tell me about the Palace Museum\nTickets?"
    assert queries.context == "Tell me about the Palace Museum\nIt is in Beijing.\nTickets?"
    assert queries.texts == [queries.focus, queries.context]


def test_the_context_keeps_the_newest_messages_within_the_budget() -> None:
    old, recent = "o" * (CONTEXT_BUDGET // 2), "r" * (CONTEXT_BUDGET // 2)
    queries = conversation_queries(conversation(old, recent, "question?"))
    assert queries.context == f"{recent}\nquestion?"
    assert queries.focus.startswith(old)  # the opener stays in the focus query however long ago it was


def test_an_llm_rewriter_writes_the_focus_query_and_the_context_stays() -> None:
    rewriter = RecordingRewriter("Palace Museum ticket price")
    queries = conversation_queries(conversation("Tell me about the Palace Museum", "Sure.", "Tickets?"), rewriter)
    assert queries.focus == "Palace Museum ticket price"
    assert "Tell me about the Palace Museum" in queries.context
    assert [query for _, query in rewriter.seen] == ["Tickets?"]
