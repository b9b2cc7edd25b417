"""A local conversational query rewriter: no model, only the conversation.

A follow-up such as "what about its warranty?" names nothing; the thing it refers to is in earlier turns. The
rewriter appends the content words of the most recent turns to the current question, within a budget, so both
recall legs see the subject. The user's own turns are used (newest first): they name what the user is asking
about. Assistant turns are a fallback, used only when the user's turns add nothing: their details would otherwise
pull retrieval towards the previous answer. Words the question
already has are not repeated, so a self-contained question is left almost unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.core.ports.models import ChatMessage
from chalicelib.core.text import ENGLISH_STOPWORDS, is_cjk, split_scripts, words


class ContextRewriter:
    """Question + salient words of the recent conversation, at most ``budget`` added words (CJK: characters)."""

    def __init__(self, turns: int = 4, budget: int = 24) -> None:
        self._turns = turns
        self._budget = budget

    @property
    def name(self) -> str:
        return "sift/context-rewriter"

    def rewrite(self, history: Sequence[ChatMessage], query: str) -> str:
        seen = set(words(query))
        recent = list(reversed(history[-self._turns :]))
        added = self._collect([m for m in recent if m.role == "user"], query, seen)
        if not added:
            added = self._collect([m for m in recent if m.role != "user"], query, seen)
        return query if not added else f"{query} {' '.join(added)}"

    def _collect(self, messages: Sequence[ChatMessage], query: str, seen: set[str]) -> list[str]:
        """New pieces within the budget: a Latin word costs 1, a CJK run one per character (cut to fit)."""
        added: list[str] = []
        spent = 0
        for message in messages:
            for piece in _salient_pieces(message.content):
                if spent >= self._budget:
                    return added
                cjk = is_cjk(piece[0])
                if piece in seen or (cjk and piece in query):
                    continue
                if cjk:
                    piece = piece[: self._budget - spent]
                seen.add(piece)
                added.append(piece)
                spent += len(piece) if cjk else 1
        return added


def _salient_pieces(text: str) -> list[str]:
    """Latin content words and whole CJK runs of ``text``, in order."""
    pieces: list[str] = []
    for cjk, segment in split_scripts(text):
        if cjk:
            pieces.append(segment)
        else:
            pieces.extend(word for word in words(segment) if word not in ENGLISH_STOPWORDS and len(word) > 1)
    return pieces
