"""What each operation answers: the shape of ``Data`` (knowledge-base family) or of the keys beside ``RequestId``
(media family), one model per operation, declared in the registry beside the request model.

The models are the response half of the wire contract, written from the official SDKs' response models (every key
they parse is here, with its type) plus Sift's documented extensions. They describe; they do not build: handlers return
plain values, and with ``SIFT_CHECK_RESPONSES=true`` (the test suite sets it) every successful answer is validated
against its operation's model before it leaves, so a handler that drifts from its declared shape fails loudly in the
tests instead of silently breaking a client. Off by default: a deployed stage does not pay for the check.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_pascal


class Shape(BaseModel):
    """A response structure: PascalCase wire names, nothing undeclared."""

    model_config = ConfigDict(alias_generator=AliasGenerator(validation_alias=to_pascal), extra="forbid",
                              defer_build=True)  # built on first use, as the request models (api/common.py)


class OpenShape(Shape):
    """A structure that also carries what the caller gave, as given (IMM's File)."""

    model_config = ConfigDict(extra="allow")


class Empty(Shape):
    """An answer of ``RequestId`` alone (IMM's DeleteFileMeta)."""


# --- the knowledge-base family: ``Data`` ----------------------------------------------------------------------------


class LegScoreView(Shape):
    score: float
    normalized: float
    rank: int


class FusionView(Shape):
    method: str
    dense_weight: float | None
    prior_dense_weight: float | None
    rrf_k: int | None
    legs: int


class QueryExplanationView(Shape):
    text: str
    dense: LegScoreView | None
    sparse: LegScoreView | None
    image: LegScoreView | None
    fusion: FusionView | None
    fused_score: float


class RerankExplanationView(Shape):
    model: str
    mode: str
    score: float | None
    rank: int | None
    depth: int | None
    floor: float | None


class TermMatchView(Shape):
    term: str
    start: int
    end: int


class ExplanationView(Shape):
    """Sift extension (``Explain``): why a node or file ranked where it did (chalicelib.api.extensions)."""

    score: float
    fused_score: float
    queries: list[QueryExplanationView]
    rerank: RerankExplanationView | None
    matches: list[TermMatchView]


class FileExplanationView(ExplanationView):
    """A file's explanation is its best element's, with that element's id and text (what ``Matches`` index)."""

    object_id: str
    content: str


class Node(Shape):
    text: str
    score: float
    metadata: dict[str, Any]
    explain: ExplanationView | None = None  # Sift extension, with Explain


class RetrieveData(Shape):
    nodes: list[Node]


class CreatedIndex(Shape):
    id: str
    name: str


class IndexView(Shape):
    id: str
    name: str
    description: str
    structure_type: str
    source_uri: str | None = Field(alias="SourceURI")
    chunk_size: int
    overlap_size: int
    rerank_model_name: str
    rerank_min_score: float | None
    embedding_model_name: str
    document_count: int
    create_time: str
    sink_type: str
    source_type: str | None
    document_ids: list[str] | None
    category_ids: list[str] | None


class Page(Shape):
    page_number: int
    page_size: int
    total_count: int


class ListIndicesData(Page):
    indices: list[IndexView]


class IndexRefData(Shape):
    id: str


class JobStarted(Shape):
    id: str
    status: str


class IndexJobStarted(JobStarted):
    index_id: str


class JobDocumentView(Shape):
    doc_id: str
    doc_name: str
    status: str
    message: str


class JobStatusData(Shape):
    job_id: str
    status: str
    message: str
    create_time: str
    update_time: str
    documents: list[JobDocumentView]
    counts: dict[str, int]  # Sift extension: Total, Indexed, Empty, Failed


class DocumentView(Shape):
    id: str
    name: str
    title: str
    source_uri: str = Field(alias="SourceURI")
    source_id: str
    document_type: str
    size: int
    status: str
    message: str
    chunk_count: int
    metadata: dict[str, Any]
    gmt_create: str
    gmt_modified: str


class ListDocumentsData(Page):
    documents: list[DocumentView]


class DeletedDocumentsData(Shape):
    deleted_document: list[str]
    failed_document: list[str]


class HistoryRecordView(Shape):
    request_id: str
    query: str
    rewritten_query: str
    request: dict[str, Any]
    nodes: list[dict[str, Any]]
    create_time: str


class HistoryData(Page):
    records: list[HistoryRecordView]


# data center


class UploadParam(Shape):
    method: str
    url: str
    headers: dict[str, str]


class LeaseData(Shape):
    file_upload_lease_id: str
    type: str
    param: UploadParam


class AddedFile(Shape):
    file_id: str
    parser: str


class FileView(Shape):
    file_id: str
    category_id: str
    file_name: str
    file_type: str
    size_in_bytes: int
    status: str
    parser: str
    tags: list[str]
    parse_error_message: str
    create_time: str


class TokenPage(Shape):
    has_next: bool
    max_results: int
    next_token: str
    total_count: int


class ListFileData(TokenPage):
    file_list: list[FileView]


class FileRefData(Shape):
    file_id: str


class AddedCategory(Shape):
    category_id: str
    category_name: str


class CategoryView(Shape):
    category_id: str
    category_name: str
    category_type: str
    parent_category_id: str
    is_default: bool


class ListCategoryData(TokenPage):
    category_list: list[CategoryView]


class CategoryRefData(Shape):
    category_id: str


# --- the media family: the keys beside ``RequestId`` ----------------------------------------------------------------


class ProjectView(Shape):
    project_name: str
    description: str
    create_time: str
    update_time: str
    dataset_count: int | None = None


class DatasetView(Shape):
    project_name: str
    dataset_name: str
    description: str
    create_time: str
    update_time: str
    file_count: int | None = None
    bind_count: int | None = None


class BindingView(Shape):
    project_name: str
    dataset_name: str
    uri: str = Field(alias="URI")
    state: str
    reason: str
    create_time: str
    update_time: str


class ProjectAnswer(Shape):
    project: ProjectView


class DatasetAnswer(Shape):
    dataset: DatasetView


class DatasetsAnswer(Shape):
    datasets: list[DatasetView]
    next_token: str


class BindingAnswer(Shape):
    binding: BindingView


class IndexOutcome(Shape):
    uri: str = Field(alias="URI")
    object_id: str
    object_status: str
    reason: str


class IndexedFilesAnswer(Shape):
    event_id: str
    files: list[IndexOutcome]  # Sift extension: one outcome per file, in request order


class ElementContent(Shape):
    type: str
    content: str


class Element(Shape):
    object_id: str
    element_type: str
    semantic_similarity: float
    element_contents: list[ElementContent]
    explain: ExplanationView | None = None  # Sift extension, with Explain


class File(OpenShape):
    """The documented File: what Sift computes (every key optional: ``WithFields`` may leave any out but ``URI``),
    then whatever the caller gave when indexing it."""

    uri: str = Field(alias="URI")
    project_name: str | None = None
    dataset_name: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    filename: str | None = None
    media_type: str | None = None
    content_type: str | None = None
    size: int | None = None
    file_hash: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    object_status: str | None = None
    file_status: str | None = None
    reason: str | None = None
    semantic_similarity: float | None = None
    semantic_types: list[str] | None = None
    elements: list[Element] | None = None
    explain: FileExplanationView | None = None  # Sift extension, with Explain


class FilesAnswer(Shape):
    files: list[File]


class ResultsAnswer(Shape):
    results: list[File]


class DeletedFilesAnswer(Shape):
    deleted_uris: list[str] = Field(alias="DeletedURIs")
    not_found_uris: list[str] = Field(alias="NotFoundURIs")


class Answer(Shape):
    content: str
    references: list[File]


class ContextualAnswerAnswer(Shape):
    answer: Answer


# --- the check ----------------------------------------------------------------------------------------------------


class ResponseShapeError(Exception):
    """A handler answered outside its operation's declared response model (a bug of Sift's, never of the caller's)."""


def checking() -> bool:
    return os.environ.get("SIFT_CHECK_RESPONSES", "false").lower() == "true"


def check(operation: str, model: type[Shape], data: Any) -> None:
    """Raise ``ResponseShapeError`` when ``data`` is not what ``model`` declares."""
    try:
        model.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise ResponseShapeError(f"{operation} answered outside {model.__name__}: {exc}") from exc
