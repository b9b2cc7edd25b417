"""Model protocols the core depends on; local and Bedrock implementations live beside this module."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Embedder(Protocol):
    """Turns texts into vectors. ``name`` identifies the model (it keys the embedding cache)."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class RerankMode(enum.Enum):
    """The documented instruction modes of the Retrieve API's reranker."""

    QA = "qa"
    SIMILAR = "similar"
    CUSTOM = "custom"


# What each mode asks of the reranker, in words a instruction-following reranker (and the local one) can use.
MODE_INSTRUCTIONS: dict[RerankMode, str] = {
    RerankMode.QA: "Given a question, rank the passages that answer it highest.",
    RerankMode.SIMILAR: "Given a text, rank the passages most similar in content highest.",
}


@dataclass(frozen=True, slots=True)
class RerankRequest:
    query: str
    mode: RerankMode = RerankMode.QA
    instruction: str = ""  # RerankInstruct; used only in custom mode, as documented


@dataclass(frozen=True, slots=True)
class RerankCandidate:
    """A recalled chunk. Hybrid rerankers may use the recall scores; purely semantic ones read only the text."""

    text: str
    dense_score: float | None  # cosine similarity, when the dense leg found it
    sparse_score: float | None  # normalised BM25 in [0, 1], when the sparse leg found it
    fused_score: float


class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def depth(self) -> int | None:
        """How many fused candidates, best first, it reorders; the rest follow in fused order. None: all of them."""

    def rerank(self, request: RerankRequest, candidates: Sequence[RerankCandidate]) -> list[float]:
        """One relevance score in [0, 1] per candidate, in the candidates' order; higher is better."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "user" | "assistant"
    content: str


class QueryRewriter(Protocol):
    """Turns a conversation and its latest question into one self-contained retrieval query."""

    @property
    def name(self) -> str: ...

    def rewrite(self, history: Sequence[ChatMessage], query: str) -> str: ...


# --- images -----------------------------------------------------------------------------------------------------------


def detect_image_format(data: bytes) -> str | None:
    """``"png"``, ``"jpeg"``, ``"gif"`` or ``"webp"`` by the leading magic number; ``None`` for anything else.

    These are the formats Amazon Nova Multimodal Embeddings names in its request schema, and the only ones query
    images may have. The bytes decide, never a file name, URL or Content-Type header: the caller controls those.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


class ImageEmbedder(Protocol):
    """A multimodal model: images and texts become vectors in one space.

    ``embed_indexed_image`` embeds an image stored in an image index; ``embed_image`` a query image (Retrieve's
    ``Images``); ``embed_text`` puts a query text in the same space, which is what text-to-image search needs. Some
    models embed the two sides differently (Nova's index and retrieval purposes), like ``Embedder``'s documents and
    queries. ``image`` is the raw file (a format ``detect_image_format`` knows, not base64); a file that is not an
    image raises ``ValueError``. ``name`` identifies the vector space (model and dimension): an index built under one
    name can only be searched with the same name.
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed_indexed_image(self, image: bytes) -> list[float]: ...

    def embed_image(self, image: bytes) -> list[float]: ...

    def embed_text(self, text: str) -> list[float]: ...


# --- text generation --------------------------------------------------------------------------------------------------


class Generator(Protocol):
    """A chat model that writes text: a system prompt and a conversation (oldest first, ending with the user) in,
    the model's reply out.

    ContextualAnswer's generated answers need nothing more, so the protocol stays this small and a fake in the tests
    can stand in for Bedrock. ``max_tokens`` caps the reply's length; implementations decode deterministically
    (temperature 0) so the same documents and question give the same answer.
    """

    @property
    def name(self) -> str: ...

    def generate(self, system: str, messages: Sequence[ChatMessage], *, max_tokens: int) -> str: ...
