"""The catalog: what exists (knowledge bases; media projects, datasets and bindings), what ran (indexing jobs) and
what was asked (retrieval history).

Search data lives in the ``SearchBackend``; the catalog holds the control plane. SQLite serves the ``local`` stage and
DynamoDB the AWS stages; both implement ``Catalog``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.core.access_keys import AccessKeyCatalog


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
    # Index versions (a reindex builds version n+1 beside the live version n, then swaps; ``chalicelib.workflows``).
    # The record's ``index_version`` is the alias every read and write goes through: changing it is one atomic
    # catalog write on either catalog, whatever the backend. ``reindex_job_id`` names the reindex building version
    # n+1 ("" when none is): writes during a reindex go to both versions, and only that job may swap or drop it.
    index_version: int = 1
    reindex_job_id: str = ""
    # Where a data-center index's documents come from (CreateIndex's SourceType, DocumentIds and CategoryIds; see
    # ``chalicelib.core.data_center``): SubmitIndexJob indexes them. Empty for a SourceURI index.
    source_type: str = ""
    document_ids: Sequence[str] = ()
    category_ids: Sequence[str] = ()

    def __post_init__(self) -> None:  # JSON gives lists back; records compare equal whichever way they came
        object.__setattr__(self, "document_ids", tuple(self.document_ids))
        object.__setattr__(self, "category_ids", tuple(self.category_ids))

    @property
    def has_image_index(self) -> bool:
        return self.image_dimension > 0

    @property
    def collection(self) -> str:
        """The backend collection holding this knowledge base's chunks (its live version)."""
        return self.collection_for(self.index_version)

    def collection_for(self, version: int) -> str:
        """Version 1 keeps the name collections had before versions existed, so existing data stays where it is."""
        base = f"kb:{self.workspace_id}:{self.index_id}"
        return base if version == 1 else f"{base}:v{version}"

    @property
    def pending_version(self) -> int | None:
        """The version a reindex is building, or None."""
        return self.index_version + 1 if self.reindex_job_id else None


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
    # False when the index may be behind the object: a read or the check after the write failed, or the object kept
    # changing. A retry may settle it (an object event is then failed, so that it is delivered again).
    settled: bool = True


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
    # How many documents the job saw: total, indexed, empty, failed (``chalicelib.core.index_jobs.job_counts``).
    # ``documents`` lists them all unless that list would not fit a DynamoDB item; then only the failed ones.
    counts: Mapping[str, int] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class Project:
    """A media project (the IMM family's top-level container of datasets)."""

    name: str
    description: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """A media dataset: files indexed by metadata and content, searched by ContextualRetrieval and SemanticQuery.

    Like a knowledge base it remembers the models its vectors were made with.
    """

    project_name: str
    name: str
    description: str
    embedding_model: str
    created_at: str
    updated_at: str
    image_embedding_model: str = ""
    image_dimension: int = 0

    @property
    def collection(self) -> str:
        """The backend collection holding this dataset's files (documents) and elements (chunks)."""
        return f"ds:{self.project_name}:{self.name}"

    @property
    def has_image_index(self) -> bool:
        return self.image_dimension > 0


@dataclass(frozen=True, slots=True)
class Binding:
    """An S3 prefix bound to a dataset: objects under ``uri`` are indexed into it, now and as they change."""

    project_name: str
    dataset_name: str
    uri: str
    state: str  # "Running" once created; "Failed" with a reason if the initial indexing could not run
    created_at: str
    updated_at: str
    reason: str = ""


class FileStatus(enum.Enum):
    """A data-center file's parsing state, as the SDKs' DescribeFile models it."""

    PARSING = "PARSING"
    PARSE_SUCCESS = "PARSE_SUCCESS"
    PARSE_FAILED = "PARSE_FAILED"


@dataclass(frozen=True, slots=True)
class Category:
    """A data-center category of a workspace: a folder of files, which an index can take whole (CategoryIds)."""

    workspace_id: str
    category_id: str
    name: str
    category_type: str  # UNSTRUCTURED | SESSION_FILE
    parent_id: str
    created_at: str


@dataclass(frozen=True, slots=True)
class UploadLease:
    """An upload granted by ApplyFileUploadLease: the file's bytes go to ``storage_key``, then AddFile consumes it."""

    workspace_id: str
    lease_id: str
    category_id: str
    category_type: str
    file_name: str
    md5: str  # lower-case hex, as the caller declared it
    size: int
    storage_key: str
    expires_at: float  # seconds since the epoch
    created_at: str


@dataclass(frozen=True, slots=True)
class DataCenterFile:
    """A file stored once in a workspace's data center; any index of the workspace can take it (DocumentIds)."""

    workspace_id: str
    file_id: str
    category_id: str
    category_type: str
    file_name: str
    size: int
    md5: str
    storage_key: str
    parser: str
    status: str  # a FileStatus value
    created_at: str
    updated_at: str
    tags: Sequence[str] = ()
    parse_error: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def stem(self) -> str:
        """The name without its extension (ListFile's FileName matches either)."""
        stem, dot, _ = self.file_name.rpartition(".")
        return stem if dot and stem else self.file_name

    @property
    def file_type(self) -> str:
        """The extension, lower case and without the dot (``pdf``), as DescribeFile reports it."""
        stem, dot, extension = self.file_name.rpartition(".")
        return extension.lower() if dot and stem else ""


class DataCenterCatalog(Protocol):
    """The data center's records: categories, upload leases and files, per workspace."""

    def create_category(self, category: Category) -> None: ...

    def get_category(self, workspace_id: str, category_id: str) -> Category | None: ...

    def list_categories(self, workspace_id: str) -> list[Category]:
        """Every category of the workspace, oldest first (a workspace holds few)."""

    def delete_category(self, workspace_id: str, category_id: str) -> bool: ...

    def put_lease(self, lease: UploadLease) -> None: ...

    def get_lease(self, workspace_id: str, lease_id: str) -> UploadLease | None: ...

    def list_leases(self, workspace_id: str) -> list[UploadLease]:
        """The workspace's leases not yet taken (expired ones included)."""

    def take_lease(self, workspace_id: str, lease_id: str) -> bool:
        """Delete the lease; True for exactly one caller, so a lease makes at most one file."""

    def put_file(self, file: DataCenterFile) -> None: ...

    def get_file(self, workspace_id: str, file_id: str) -> DataCenterFile | None: ...

    def list_files(self, workspace_id: str, *, category_id: str | None) -> list[DataCenterFile]:
        """The workspace's files (of one category, when given), oldest first."""

    def delete_file(self, workspace_id: str, file_id: str) -> bool: ...


class Catalog(DataCenterCatalog, AccessKeyCatalog, Protocol):
    def create_knowledge_base(self, kb: KnowledgeBase) -> None:
        """Raises ``AlreadyExistsError`` when (workspace, index id) or (workspace, name) is taken."""

    def get_knowledge_base(self, workspace_id: str, index_id: str) -> KnowledgeBase | None: ...

    def list_knowledge_bases(
        self, workspace_id: str, *, name: str | None, offset: int, limit: int
    ) -> tuple[list[KnowledgeBase], int]: ...

    def knowledge_bases_for_uri(self, uri: str) -> list[KnowledgeBase]:
        """Every knowledge base (any workspace) whose ``source_uri`` prefix holds ``uri``."""

    def update_knowledge_base(
        self, workspace_id: str, index_id: str, change: Callable[[KnowledgeBase], KnowledgeBase]
    ) -> KnowledgeBase | None:
        """Compare-and-swap of one record: how a reindex claims, swaps and releases index versions.

        ``change`` gets the stored record and returns the record to store (an equal one: nothing is written) or
        raises to refuse (nothing is written; the exception propagates). The write is conditional on the stored
        record being unchanged since it was read; when another writer got in between, the record is read again and
        ``change`` called again, up to a few times, then ``ThrottlingError``. So two reindexes can never both swap.
        ``change`` may not alter the record's identity (workspace, index id, name, source_uri): ``ValueError``.
        Returns the record stored afterwards; None when there is none (then ``change`` is not called).
        """

    def delete_knowledge_base(self, workspace_id: str, index_id: str) -> bool: ...

    def put_job(self, job: Job) -> None: ...

    def get_job(self, workspace_id: str, index_id: str, job_id: str) -> Job | None: ...

    def add_history(self, record: HistoryRecord) -> None: ...

    def list_history(
        self, workspace_id: str, index_id: str, *, offset: int, limit: int
    ) -> tuple[list[HistoryRecord], int]: ...

    # media: projects, datasets, bindings -------------------------------------------------------------------------

    def create_project(self, project: Project) -> None:
        """Raises ``AlreadyExistsError("project", name)`` when the name is taken."""

    def get_project(self, name: str) -> Project | None: ...

    def create_dataset(self, dataset: Dataset) -> None:
        """Raises ``AlreadyExistsError("dataset", name)`` when the project already has a dataset of that name."""

    def get_dataset(self, project_name: str, name: str) -> Dataset | None: ...

    def list_datasets(
        self, project_name: str, *, prefix: str | None, offset: int, limit: int
    ) -> tuple[list[Dataset], int]:
        """A page of the project's datasets ordered by name (``prefix``: names starting with it), and the total."""

    def create_binding(self, binding: Binding) -> None:
        """Raises ``AlreadyExistsError("binding", uri)`` when the dataset already has a binding for that URI."""

    def get_binding(self, project_name: str, dataset_name: str, uri: str) -> Binding | None: ...

    def put_binding(self, binding: Binding) -> None:
        """Overwrite an existing binding (its state and reason change as its initial indexing runs)."""

    def bindings_for_uri(self, uri: str) -> list[Binding]:
        """Every binding (any project) whose ``uri`` prefix holds ``uri``."""
