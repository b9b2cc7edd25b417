"""Wire models of the knowledge-base API family (Model Studio / Bailian): Retrieve and its supporting operations.

Field names, defaults and ranges follow ``seeds/001_…`` (English) and ``seeds/004_…`` (Japanese). Where the pages are
silent Sift chooses, and the README lists each choice.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from chalicelib.api.common import RequestModel
from chalicelib.api.extensions import FusionRequest
from chalicelib.api.search_filters import parse_search_filters
from chalicelib.core.chunk_sizes import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, MAX_CHUNK_SIZE, MAX_OVERLAP
from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.filters import Group

# Identifiers Sift generates or accepts: letters, digits, "_" and "-".
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
WorkspaceId = Annotated[str, Field(pattern=ID_PATTERN)]
IndexId = Annotated[str, Field(pattern=ID_PATTERN)]

# The Query is documented as unlimited; an upper bound still protects the service. 20,000 characters is far beyond
# any real question and well inside what the embedders accept after truncation.
MAX_QUERY_CHARS = 20_000
MAX_MESSAGE_CHARS = 1_000
MAX_HISTORY_MESSAGES = 100
MAX_IMAGES = 10

RerankModelName = Literal["qwen3-rerank-hybrid", "qwen3-rerank", "gte-rerank-hybrid", "gte-rerank"]
RERANK_MODEL_NAMES: tuple[str, ...] = RerankModelName.__args__  # type: ignore[attr-defined]
DEFAULT_RERANK_MODEL: RerankModelName = "qwen3-rerank-hybrid"
RewriteModelName = Literal["conv-rewrite-qwen-1.8b"]


RerankTopN = Annotated[int, Field(ge=1, le=20)]
RerankMinScore = Annotated[float, Field(ge=0.01, le=1.0)]
DEFAULT_RERANK_TOP_N = 5


class RerankConfig(RequestModel):
    """``Rerank[0]``. The SDKs' ``RetrieveRequestRerank`` holds ``ModelName``, ``RerankMode`` and ``RerankInstruct``;
    ``RerankTopN`` and ``RerankMinScore`` are top-level Retrieve parameters, accepted here too as an alias (Sift's
    earlier form)."""

    model_name: RerankModelName | None = None
    rerank_mode: Literal["qa", "similar", "custom"] = "qa"
    rerank_instruct: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)] | None = None
    rerank_min_score: RerankMinScore | None = None
    rerank_top_n: RerankTopN | None = None

    @model_validator(mode="after")
    def _custom_needs_instruction(self) -> RerankConfig:
        if self.rerank_mode == "custom" and not self.rerank_instruct:
            raise ValueError("RerankInstruct is required when RerankMode is custom")
        return self


class RewriteConfig(RequestModel):
    model_name: RewriteModelName = "conv-rewrite-qwen-1.8b"


class HistoryMessage(RequestModel):
    role: Literal["user", "assistant"] = Field(validation_alias="role", serialization_alias="role")
    content: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)] = Field(
        validation_alias="content", serialization_alias="content"
    )


class RetrieveExtra(RequestModel):
    """``Extra``: ``{"uniqueId"}``, the caller's id for the request; kept in the retriever history, not searched."""

    unique_id: Annotated[str, Field(max_length=256)] | None = Field(default=None, alias="uniqueId")


class RetrieveRequest(RequestModel):
    """POST /{WorkspaceId}/index/retrieve. ``search_filters`` arrives parsed into a typed tree.

    ``Query`` is optional when ``Images`` are given (the document's rule: a request searches by text, by images, or
    both). ``RerankTopN`` and ``RerankMinScore`` are top-level (as in the SDKs' ``RetrieveRequest``); given inside
    ``Rerank[0]`` too they must agree.
    """

    index_id: IndexId
    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS)] | None = None
    rerank_top_n: RerankTopN | None = None
    rerank_min_score: RerankMinScore | None = None
    extra: RetrieveExtra | None = None
    dense_similarity_top_k: Annotated[int, Field(ge=0, le=100)] = 100
    sparse_similarity_top_k: Annotated[int, Field(ge=0, le=100)] = 100
    enable_reranking: bool = True
    enable_rewrite: bool = False
    rerank: Annotated[list[RerankConfig], Field(max_length=1)] | None = None
    rewrite: Annotated[list[RewriteConfig], Field(max_length=1)] | None = None
    save_retriever_history: bool = False
    search_filters: Group | None = None
    images: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(max_length=MAX_IMAGES)] | None = None
    query_history: Annotated[list[HistoryMessage], Field(max_length=MAX_HISTORY_MESSAGES)] | None = None
    # Sift extensions (chalicelib.api.extensions): this request's fusion settings; explained scores on every node.
    fusion: FusionRequest | None = None
    explain: bool = False

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("search_filters", mode="plain")
    @classmethod
    def _parse_filters(cls, value: Any) -> Group | None:
        return parse_search_filters(value)

    @model_validator(mode="after")
    def _one_leg_on(self) -> RetrieveRequest:
        if self.dense_similarity_top_k + self.sparse_similarity_top_k == 0:
            # Not a ValueError: pydantic would report it against the whole body; this names the field.
            raise InvalidParameterError("DenseSimilarityTopK", "cannot be 0 when SparseSimilarityTopK is 0 too")
        return self

    @model_validator(mode="after")
    def _query_or_images(self) -> RetrieveRequest:
        if self.query is None and not self.images:
            raise InvalidParameterError("Query", "is required (unless Images are given)")
        return self

    @model_validator(mode="after")
    def _one_rerank_top_n_and_min_score(self) -> RetrieveRequest:
        nested = self.rerank_config
        for top, inner, name in ((self.rerank_top_n, nested.rerank_top_n, "RerankTopN"),
                                 (self.rerank_min_score, nested.rerank_min_score, "RerankMinScore")):
            if top is not None and inner is not None and top != inner:
                raise InvalidParameterError(name, f"is {top} here and {inner} in Rerank[0]: give it once")
        return self

    @property
    def rerank_config(self) -> RerankConfig:
        return self.rerank[0] if self.rerank else RerankConfig()

    @property
    def top_n(self) -> int:
        """How many nodes at most: ``RerankTopN`` (top-level or in ``Rerank[0]``), default 5."""
        return self.rerank_top_n or self.rerank_config.rerank_top_n or DEFAULT_RERANK_TOP_N

    @property
    def min_score(self) -> float | None:
        """The reranker's threshold: ``RerankMinScore`` (top-level or in ``Rerank[0]``), if given."""
        return self.rerank_min_score if self.rerank_min_score is not None else self.rerank_config.rerank_min_score


# --- supporting operations ------------------------------------------------------------------------------------------


SourceType = Literal["DATA_CENTER_FILE", "DATA_CENTER_CATEGORY"]
# Data-center ids: files and categories are made by Sift (``file_…``, ``cate_…``), plus the ``default`` category.
DataCenterId = Annotated[str, Field(pattern=ID_PATTERN)]
MAX_SOURCE_IDS = 1000


class DataCenterSources(RequestModel):
    """``SourceType`` with the ``DocumentIds`` (FileIds) or ``CategoryIds`` it names: where an index's documents come
    from in the documented flow."""

    source_type: SourceType | None = None
    document_ids: Annotated[list[DataCenterId], Field(min_length=1, max_length=MAX_SOURCE_IDS)] | None = None
    category_ids: Annotated[list[DataCenterId], Field(min_length=1, max_length=MAX_SOURCE_IDS)] | None = None

    @model_validator(mode="after")
    def _ids_for_the_type(self) -> DataCenterSources:
        wanted = {"DATA_CENTER_FILE": "DocumentIds", "DATA_CENTER_CATEGORY": "CategoryIds", None: None}[self.source_type]
        given = [name for name, value in (("DocumentIds", self.document_ids), ("CategoryIds", self.category_ids))
                 if value is not None]
        if wanted is not None and wanted not in given:
            raise InvalidParameterError(wanted, f"is required when SourceType is {self.source_type}")
        for name in given:
            if name != wanted:
                expected = "DATA_CENTER_FILE" if name == "DocumentIds" else "DATA_CENTER_CATEGORY"
                raise InvalidParameterError(name, f"is only read with SourceType {expected}")
        return self

    @property
    def file_ids(self) -> list[str]:
        return list(self.document_ids or ())

    @property
    def categories(self) -> list[str]:
        return list(self.category_ids or ())


class CreateIndexRequest(DataCenterSources):
    """POST /{WorkspaceId}/index/create. The documented sources are data-center files or categories (``SourceType``);
    ``SourceURI`` (objects under a prefix, indexed by S3 events too) is a Sift extension. ``SinkType`` has one value
    here, the built-in store (``DEFAULT`` names it too). ``EmbeddingModelName`` is served by the deployment's embedder,
    as every documented rerank name is served by its reranker; ListIndices reports the model that serves it."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: Annotated[str, Field(max_length=1000)] = ""
    structure_type: Literal["unstructured"] = "unstructured"
    source_uri: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(default=None, alias="SourceURI")
    sink_type: Literal["BUILT_IN", "DEFAULT"] = "BUILT_IN"
    embedding_model_name: Literal["text-embedding-v2", "text-embedding-v3", "text-embedding-v4"] | None = None
    chunk_size: Annotated[int, Field(ge=1, le=MAX_CHUNK_SIZE)] = DEFAULT_CHUNK_SIZE
    overlap_size: Annotated[int, Field(ge=0, le=MAX_OVERLAP)] = DEFAULT_OVERLAP
    rerank_model_name: RerankModelName = DEFAULT_RERANK_MODEL
    rerank_min_score: Annotated[float, Field(ge=0.01, le=1.0)] | None = None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> CreateIndexRequest:
        if self.overlap_size >= self.chunk_size:
            raise ValueError("OverlapSize must be smaller than ChunkSize")
        return self

    @model_validator(mode="after")
    def _one_kind_of_source(self) -> CreateIndexRequest:
        if self.source_uri is not None and self.source_type is not None:
            raise InvalidParameterError("SourceURI", "cannot be given with SourceType: an index reads one kind of source")
        return self


class IndexRef(RequestModel):
    index_id: IndexId


class ReindexRequest(RequestModel):
    """POST /{WorkspaceId}/index/reindex (a Sift extension, ``SubmitReindexJob``): rebuild the index from its SourceURI
    into a new version and swap it in. ``Force`` takes over from a reindex that was stopped without cleaning up."""

    index_id: IndexId
    force: bool = False


# Pages beyond this are refused rather than computed into an offset no store can seek to.
MAX_PAGE_NUMBER = 1_000_000


class PageRequest(RequestModel):
    page_number: Annotated[int, Field(ge=1, le=MAX_PAGE_NUMBER)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 10


class ListIndicesRequest(PageRequest):
    index_name: Annotated[str, Field(max_length=64)] | None = None


class SubmitJobRequest(DataCenterSources):
    """POST /{WorkspaceId}/index/add_documents_to_index: data-center files or categories (``SourceType``), or — a Sift
    extension — ``SourceURIs`` (without either, the index's own SourceURI). ``Extra`` is kept as the SDKs send it."""

    index_id: IndexId
    source_uris: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=2048)]], Field(min_length=1, max_length=1000)
    ] | None = Field(default=None, alias="SourceURIs")
    extra: RetrieveExtra | None = None

    @model_validator(mode="after")
    def _one_kind_of_source(self) -> SubmitJobRequest:
        if self.source_uris is not None and self.source_type is not None:
            raise InvalidParameterError("SourceURIs", "cannot be given with SourceType")
        return self


class JobStatusRequest(RequestModel):
    """``PageNumber`` and ``PageSize`` page the job's documents (the SDKs send the latter as ``pageSize``); without
    ``PageSize`` every document the job record holds is listed."""

    index_id: IndexId
    job_id: Annotated[str, Field(pattern=ID_PATTERN)]
    page_number: Annotated[int, Field(ge=1, le=MAX_PAGE_NUMBER)] = 1
    page_size: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, validation_alias=AliasChoices("PageSize", "pageSize")
    )


class ListDocumentsRequest(PageRequest):
    """``EnableNameLike`` (default false, as documented): ``DocumentName`` matches only that name; true: names that
    contain it."""

    index_id: IndexId
    document_name: Annotated[str, Field(max_length=1024)] | None = None
    enable_name_like: bool = False
    document_status: Literal["FINISH", "FAILED", "EMPTY"] | None = None


class DeleteDocumentsRequest(RequestModel):
    index_id: IndexId
    document_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(min_length=1, max_length=100)]


class HistoryRequest(PageRequest):
    index_id: IndexId
