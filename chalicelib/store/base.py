"""The catalog: what exists (knowledge bases), what ran (indexing jobs) and what was asked (retrieval history).

Search data lives in the ``SearchBackend``; the catalog holds the control plane. SQLite serves the ``local`` stage and
DynamoDB the AWS stages; both implement ``Catalog``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    workspace_id: str
    index_id: str
    name: str
    description: str
    source_uri: str | None  # objects under this prefix are indexed into the knowledge base by S3 events
    chunk_size: int
    overlap_size: int
    rerank_model_name: str
    rerank_min_score: float | None
    embedding_model: str
    created_at: str
    # The knowledge base's image index: set when a multimodal embedder was configured at creation. Retrieve embeds
    # ``Images`` with this model and searches image chunks; without an image index, ``Images`` are not used.
    image_embedding_model: str = ""
    image_dimension: int = 0

    @property
    def has_image_index(self) -> bool:
        return self.image_dimension > 0

    @property
    def collection(self) -> str:
        """The backend collection holding this knowledge base's chunks."""
        return f"kb:{self.workspace_id}:{self.index_id}"


class JobStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"  # finished, some documents failed
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class JobDocument:
    doc_id: str
    name: str
    status: str  # a DocumentStatus value
    message: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    workspace_id: str
    index_id: str
    status: JobStatus
    created_at: str
    updated_at: str
    message: str = ""
    documents: tuple[JobDocument, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    request_id: str
    workspace_id: str
    index_id: str
    query: str
    rewritten_query: str
    request: Mapping[str, Any]
    nodes: Sequence[Mapping[str, Any]]
    created_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class Catalog(Protocol):
    def create_knowledge_base(self, kb: KnowledgeBase) -> None:
        """Raises ``AlreadyExistsError`` when (workspace, index id) or (workspace, name) is taken."""

    def get_knowledge_base(self, workspace_id: str, index_id: str) -> KnowledgeBase | None: ...

    def list_knowledge_bases(
        self, workspace_id: str, *, name: str | None, offset: int, limit: int
    ) -> tuple[list[KnowledgeBase], int]: ...

    def knowledge_bases_for_uri(self, uri: str) -> list[KnowledgeBase]:
        """Every knowledge base (any workspace) whose ``source_uri`` prefix holds ``uri``."""

    def delete_knowledge_base(self, workspace_id: str, index_id: str) -> bool: ...

    def put_job(self, job: Job) -> None: ...

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job | None: ...

    def add_history(self, record: HistoryRecord) -> None: ...

    def list_history(
        self, workspace_id: str, index_id: str, *, offset: int, limit: int
    ) -> tuple[list[HistoryRecord], int]: ...
