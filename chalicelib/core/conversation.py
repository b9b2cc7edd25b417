"""Retrieval queries from a conversation: what to search for when the question alone does not say what it is about.

A follow-up ("does it need a ticket?") names nothing; the subject sits earlier in the conversation, most often in the
message that opened it. The local method searches twice and averages the fused scores (``Retriever.retrieve_many``):

- the **focus** query: the current question with the conversation's opening message in front of it (the subject);
- the **context** query: the whole conversation, newest messages kept first when it is long (``CONTEXT_BUDGET``).

Measured on KdConv travel dev (1,702 follow-up questions, BM25 leg only, README): the question alone reaches
Recall@100 0.337; the focus query alone 0.673, the context query alone 0.796, both averaged 0.841. The reranker then
scores candidates against the focus query.

When an LLM rewriter is configured (Bedrock Converse on the AWS stages), its standalone rewrite of the question is
the focus query instead; the context query stays, so a rewrite that drops the subject cannot lose everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.core.ports.models import ChatMessage, QueryRewriter

# Characters of conversation kept in the context query, newest first: enough for a dozen turns, while a 100-message
# history of 1,000-character messages would otherwise make every BM25 query 100,000 characters long.
CONTEXT_BUDGET = 2_000


@dataclass(frozen=True, slots=True)
class Conversation:
    """A validated conversation: the history (oldest first) and the current question."""

    history: tuple[ChatMessage, ...]
    question: str


@dataclass(frozen=True, slots=True)
class ConversationQueries:
    focus: str
    context: str

    @property
    def texts(self) -> list[str]:
        """The distinct queries to search (one when the conversation is only the question)."""
        return [self.focus] if self.context == self.focus else [self.focus, self.context]


def conversation_queries(conversation: Conversation, rewriter: QueryRewriter | None = None) -> ConversationQueries:
    """The focus and context queries of ``conversation`` (see the module docstring)."""
    question = conversation.question.strip()
    history = [message.content.strip() for message in conversation.history if message.content.strip()]
    if not history:
        return ConversationQueries(question, question)
    if rewriter is not None:
        focus = rewriter.rewrite(conversation.history, question).strip() or question
    else:
        opener = history[0]
        focus = question if opener == question else f"{opener}\n{question}"
    return ConversationQueries(focus, _context(history, question))


def _context(history: Sequence[str], question: str) -> str:
    kept: list[str] = [question]
    used = len(question)
    for message in reversed(history):
        if used + len(message) > CONTEXT_BUDGET:
            break
        kept.append(message)
        used += len(message)
    return "\n".join(reversed(kept))
