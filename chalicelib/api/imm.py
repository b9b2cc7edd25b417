"""Request models of the media-dataset API family (Intelligent Media Management, IMM): projects, datasets, bindings,
file metadata, ContextualRetrieval, SemanticQuery and ContextualAnswer, with the rules of their conversations.

Parameter names, ranges and shapes follow the published IMM API reference (API version 2020-09-30: the operation pages
and the ``File``, ``InputFile``, ``ContextualMessage``, ``Project``, ``Dataset`` and ``Binding`` structures) and
``seeds/000_…`` (ContextualRetrieval) / ``seeds/003_…`` (ContextualAnswer). Where the reference is silent Sift chooses;
every choice is listed here, or in the docstring of the module that makes it, so the README can repeat it: the values
these requests are made of (names, URIs, the ``File`` of IndexFileMeta) are ``chalicelib.api.imm_fields``, and what
the operations answer is built in ``chalicelib.api.imm_operations``.

Limits
    BatchIndexFileMeta takes 1 to 100 ``Files`` and BatchDeleteFileMeta 1 to 100 ``URIs`` (documented). Two entries of
    one BatchIndexFileMeta naming the same URI are refused (which one should win is undefined); repeated URIs in
    BatchDeleteFileMeta are harmless and accepted. ListDatasets ``MaxResults`` is 0 to 200, 0 or absent meaning 100
    (documented); its ``NextToken`` is the decimal offset of the next page, produced by ``next_token``. ``Description``
    is at most 256 characters (documented 1 to 256; an empty string means none). ``UserData`` is at most 2,048 bytes
    (documented). Sift's bounds where IMM states none: ``SmartClusterIds`` at most 100 ids of at most 128 characters,
    ``WithFields`` at most 100 names, CreateProject ``Tag`` at most 20 tags (the usual cloud-resource limit).

Messages (ContextualRetrieval)
    A message is ``{"Role", "Content", "Files"}`` (the documented ``ContextualMessage``). The rules are documented;
    ``validate_messages`` enforces them and names the message that breaks one: roles are ``user`` or ``assistant``;
    messages alternate, starting with ``user``, and end with the current question from ``user`` (2n+1 messages);
    at most 100 history messages (101 in all); every message at most 1,000 characters; the current question not
    blank. ``Files`` of a message are accepted as any JSON objects and not used by ContextualRetrieval: the
    documentation recommends passing the files a ContextualRetrieval returned, and those are full ``File`` objects.

Accepted but ignored
    Sift has no workflow templates, quotas, tags, service roles or asynchronous notifications, so these documented
    parameters are validated and then ignored: CreateProject ``ServiceRole``, ``TemplateId``, ``Tag``,
    ``DatasetConfig`` and the quota fields (``ProjectMaxDatasetCount``, ``DatasetMaxBindCount``,
    ``DatasetMaxFileCount``, ``DatasetMaxEntityCount``, ``DatasetMaxRelationCount``, ``DatasetMaxTotalFileSize``);
    CreateDataset ``TemplateId``, ``WorkflowParameters`` (documented as an invalid parameter), ``DatasetConfig`` and
    the same quota fields; IndexFileMeta / BatchIndexFileMeta ``Notification``, ``UserData`` and the older
    ``NotifyTopicName`` / ``NotifyEndpoint``; BatchDeleteFileMeta ``NotifyTopicName`` / ``NotifyEndpoint``; the
    ``Files`` of a ContextualRetrieval message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from chalicelib.api.bailian import MAX_HISTORY_MESSAGES, MAX_MESSAGE_CHARS
from chalicelib.api.common import RequestModel
from chalicelib.api.extensions import FusionRequest
from chalicelib.api.imm_fields import (
    MAX_URI_CHARS,
    FileInput,
    FileUri,
    JsonObject,
    MediaType,
    PrefixUri,
    ResourceName,
)
from chalicelib.core.errors import InvalidParameterError

# --- limits ---------------------------------------------------------------------------------------------------------

MAX_NAME_CHARS = 128
MAX_DESCRIPTION_CHARS = 256
MAX_BATCH = 100
MAX_LIST_RESULTS = 200
DEFAULT_LIST_RESULTS = 100
MAX_USER_DATA_BYTES = 2048
MAX_SMART_CLUSTER_IDS = 100
MAX_WITH_FIELDS = 100
MAX_TAGS = 20
# Every message of a conversation, history and current question together (2n+1 with n = 50).
MAX_MESSAGES = MAX_HISTORY_MESSAGES + 1

# --- messages -------------------------------------------------------------------------------------------------------


class ContextualMessage(RequestModel):
    """One message of a conversation. ``Role`` is checked by ``validate_messages`` so the rule can be stated whole."""

    role: str
    content: str
    files: Annotated[list[JsonObject], Field(max_length=MAX_BATCH)] | None = None


def validate_messages(messages: Sequence[ContextualMessage]) -> tuple[list[tuple[str, str]], str]:
    """The conversation as ``(history, question)``: history as ``(role, content)`` pairs, oldest first.

    Raises ``InvalidParameterError`` naming ``Messages`` (a rule about the list) or the message that breaks a rule
    (``Messages[3].Role``), with the rule in words.
    """
    if not messages:
        raise InvalidParameterError("Messages", "must hold at least the current question from user")
    if len(messages) > MAX_MESSAGES:
        raise InvalidParameterError(
            "Messages",
            f"must hold at most {MAX_HISTORY_MESSAGES} history messages and the current question "
            f"({MAX_MESSAGES} in all), not {len(messages)}",
        )
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.role not in ("user", "assistant"):
            raise InvalidParameterError(f"Messages[{index}].Role", "must be user or assistant")
        if message.role != expected:
            raise InvalidParameterError(
                f"Messages[{index}].Role",
                f"must be {expected}: messages alternate user and assistant, starting with user",
            )
        if len(message.content) > MAX_MESSAGE_CHARS:
            raise InvalidParameterError(
                f"Messages[{index}].Content", f"must be at most {MAX_MESSAGE_CHARS} characters, not {len(message.content)}"
            )
    if len(messages) % 2 == 0:
        raise InvalidParameterError(
            "Messages",
            "must end with the current question from user: user-assistant pairs, then the question (2n+1 messages)",
        )
    question = messages[-1].content
    if not question.strip():
        raise InvalidParameterError(f"Messages[{len(messages) - 1}].Content", "the current question must not be empty")
    return [(message.role, message.content) for message in messages[:-1]], question


# --- requests -------------------------------------------------------------------------------------------------------

Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]
Ignored = Annotated[str, Field(max_length=256)]


class Tag(RequestModel):
    key: Annotated[str, Field(min_length=1, max_length=128)]
    value: Annotated[str, Field(max_length=256)] = ""


class WorkflowParameter(RequestModel):
    name: Annotated[str, Field(max_length=256)]
    value: Annotated[str, Field(max_length=MAX_URI_CHARS)] = ""


class InsightsConfig(RequestModel):
    language: Annotated[str, Field(max_length=32)] | None = None


class DatasetConfig(RequestModel):
    """Accepted and ignored: Sift runs no insight or smart-cluster workflows."""

    insights: InsightsConfig | None = None
    smart_cluster: JsonObject | None = None


class _Quotas(RequestModel):
    """Dataset quotas: validated against the documented ranges, then ignored (Sift enforces none of them)."""

    dataset_max_bind_count: Annotated[int, Field(ge=1, le=10)] | None = None
    dataset_max_file_count: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    dataset_max_entity_count: Annotated[int, Field(ge=1)] | None = None
    dataset_max_relation_count: Annotated[int, Field(ge=1)] | None = None
    dataset_max_total_file_size: Annotated[int, Field(ge=1)] | None = None


class CreateProjectRequest(_Quotas):
    project_name: ResourceName
    description: Description = ""
    project_max_dataset_count: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None
    service_role: Ignored | None = None
    template_id: Ignored | None = None
    tag: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None
    dataset_config: DatasetConfig | None = None


class CreateDatasetRequest(_Quotas):
    project_name: ResourceName
    dataset_name: ResourceName
    description: Description = ""
    template_id: Ignored | None = None
    workflow_parameters: Annotated[list[WorkflowParameter], Field(max_length=MAX_BATCH)] | None = None
    dataset_config: DatasetConfig | None = None


def _check_token(value: str) -> str:
    if not re.fullmatch(r"[0-9]{0,9}", value):
        raise ValueError("must be empty or a NextToken returned by ListDatasets")
    return value


class ListDatasetsRequest(RequestModel):
    project_name: ResourceName
    max_results: Annotated[int, Field(ge=0, le=MAX_LIST_RESULTS)] = 0
    next_token: Annotated[str, AfterValidator(_check_token)] | None = None
    prefix: Annotated[str, Field(max_length=MAX_NAME_CHARS)] | None = None

    @property
    def limit(self) -> int:
        """Documented: 0 or absent means 100."""
        return self.max_results or DEFAULT_LIST_RESULTS

    @property
    def offset(self) -> int:
        return int(self.next_token) if self.next_token else 0


def next_token(offset: int, returned: int, total: int) -> str:
    """ListDatasets ``NextToken``: the offset of the next page, or ``""`` when this page was the last."""
    following = offset + returned
    return str(following) if returned and following < total else ""


class CreateBindingRequest(RequestModel):
    project_name: ResourceName
    dataset_name: ResourceName
    uri: PrefixUri = Field(alias="URI")


class _InDataset(RequestModel):
    project_name: ResourceName
    dataset_name: ResourceName


class _Notified(_InDataset):
    """The asynchronous-notification parameters of the indexing operations: accepted, ignored (Sift indexes
    synchronously and notifies nobody)."""

    notification: JsonObject | None = None
    user_data: str | None = None
    notify_topic_name: Ignored | None = None
    notify_endpoint: Ignored | None = None

    @model_validator(mode="after")
    def _user_data_size(self) -> _Notified:
        if self.user_data is not None and len(self.user_data.encode("utf-8")) > MAX_USER_DATA_BYTES:
            raise InvalidParameterError("UserData", f"must be at most {MAX_USER_DATA_BYTES} bytes")
        return self


class IndexFileMetaRequest(_Notified):
    file: FileInput


class BatchIndexFileMetaRequest(_Notified):
    files: Annotated[list[FileInput], Field(min_length=1, max_length=MAX_BATCH)]

    @model_validator(mode="after")
    def _distinct_uris(self) -> BatchIndexFileMetaRequest:
        seen: dict[str, int] = {}
        for index, file in enumerate(self.files):
            if file.uri in seen:
                raise InvalidParameterError(f"Files[{index}].URI", f"repeats Files[{seen[file.uri]}].URI")
            seen[file.uri] = index
        return self


class GetFileMetaRequest(_InDataset):
    uri: FileUri = Field(alias="URI")
    with_fields: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_WITH_FIELDS)
    ] | None = None


class DeleteFileMetaRequest(_InDataset):
    uri: FileUri = Field(alias="URI")


class BatchDeleteFileMetaRequest(_InDataset):
    uris: Annotated[list[FileUri], Field(min_length=1, max_length=MAX_BATCH)] = Field(alias="URIs")
    notify_topic_name: Ignored | None = None
    notify_endpoint: Ignored | None = None


class ContextualRetrievalRequest(_InDataset):
    messages: list[ContextualMessage]
    recall_only: bool = False
    smart_cluster_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=MAX_SMART_CLUSTER_IDS)
    ] | None = None
    # Sift extensions (chalicelib.api.extensions): this request's fusion settings; explained scores on every file.
    fusion: FusionRequest | None = None
    explain: bool = False

    @model_validator(mode="after")
    def _conversation_rules(self) -> ContextualRetrievalRequest:
        validate_messages(self.messages)
        return self

    @property
    def conversation(self) -> tuple[list[tuple[str, str]], str]:
        """``(history, question)``, see ``validate_messages``."""
        return validate_messages(self.messages)


MAX_SEMANTIC_RESULTS = 1000  # documented MaxResults range 1..1000; at most 100 files are returned (documented)
MAX_QUERY_CHARS = 1000  # Sift's bound; the documentation states none
MAX_ANSWER_FILES = 100


def _default_media_types() -> list[MediaType]:
    return ["image"]  # documented default


class SemanticQueryRequest(_InDataset):
    """``Query`` or ``SourceURI``, exactly one (the documentation requires one; both at once would be ambiguous).
    ``NextToken`` is documented as no longer available: accepted, ignored."""

    query: Annotated[str, Field(max_length=MAX_QUERY_CHARS)] | None = None
    source_uri: FileUri | None = Field(default=None, alias="SourceURI")
    max_results: Annotated[int, Field(ge=1, le=MAX_SEMANTIC_RESULTS)] = MAX_SEMANTIC_RESULTS
    with_fields: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_WITH_FIELDS)
    ] | None = None
    media_types: Annotated[list[MediaType], Field(min_length=1, max_length=6)] = Field(
        default_factory=_default_media_types
    )
    next_token: Ignored | None = None
    fusion: FusionRequest | None = None  # Sift extensions, as on ContextualRetrieval
    explain: bool = False

    @model_validator(mode="after")
    def _query_or_source(self) -> SemanticQueryRequest:
        has_query = bool(self.query and self.query.strip())
        if has_query == (self.source_uri is not None):
            raise InvalidParameterError("Query", "give exactly one of Query and SourceURI")
        return self


class ContextualAnswerRequest(RequestModel):
    """``Files`` are File objects as ContextualRetrieval returns them, passed straight in (validated as objects)."""

    project_name: ResourceName
    messages: list[ContextualMessage]
    files: Annotated[list[JsonObject], Field(max_length=MAX_ANSWER_FILES)] | None = None

    @model_validator(mode="after")
    def _conversation_rules(self) -> ContextualAnswerRequest:
        validate_messages(self.messages)
        return self

    @property
    def conversation(self) -> tuple[list[tuple[str, str]], str]:
        return validate_messages(self.messages)
