"""Wire models of the media-dataset API family (Intelligent Media Management, IMM): projects, datasets, bindings,
file metadata and ContextualRetrieval.

Parameter names, ranges and shapes follow the published IMM API reference (API version 2020-09-30: the operation pages
and the ``File``, ``InputFile``, ``ContextualMessage``, ``Project``, ``Dataset`` and ``Binding`` structures) and
``seeds/000_…`` (ContextualRetrieval) / ``seeds/003_…`` (ContextualAnswer). Where the reference is silent Sift chooses;
every choice is listed here so the README can repeat it.

Names
    ``ProjectName`` and ``DatasetName`` follow IMM's naming rule everywhere, not only on creation: 1 to 128 characters,
    letters, digits, ``-`` and ``_``, starting with a letter or ``_``. A name that breaks the rule cannot exist, so a
    read with one is a 400 rather than a 404; the rule also keeps ``:`` out of names, which Sift uses as the separator
    of collection keys (``ds:<project>:<dataset>``).

URIs
    A file is ``s3://bucket/key``, ``oss://bucket/key`` (the scheme of every documented sample) or ``file:///path``.
    The bucket follows the common S3/OSS bucket rule (3 to 63 characters: lower-case letters, digits, ``.`` and ``-``,
    starting and ending with a letter or digit); the key must be non-empty and must not end with ``/`` (that names a
    folder). A binding URI is a bucket or a prefix: ``s3://bucket``, ``s3://bucket/photos/``, ``file:///data``. URIs
    are at most 2,048 characters (IMM states no limit; S3 keys are at most 1,024 bytes) and control characters are
    refused. Whether a URI is readable is decided when it is read, not here: the wire model only checks its form.

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

The File of IndexFileMeta / BatchIndexFileMeta (``FileInput``)
    IMM's ``InputFile`` documents URI, OSSURI, MediaType, ContentType, FileHash, CustomId, CustomLabels, Figures,
    Labels, Addresses, LatLong, ProduceTime, Title, Album, AlbumArtist, Artist, Composer and Performer. IMM computes
    the rest of a ``File`` with its media-analysis workflows; Sift has none, so it also accepts the descriptive fields
    those workflows would have produced (``INPUT_EXTENSION_FIELDS``: image, video, audio, OCR, scene, insight and
    smart-cluster metadata), which lets a File exported from IMM be indexed into Sift. Every accepted field is
    optional except ``URI`` and is stored and returned exactly as given (``FileInput.given_fields``); nested objects
    are kept as given, checked only for being JSON objects (and, for Labels and Addresses, whose text fields
    SemanticQuery matches, for those fields being strings); numbers keep their JSON type (``1`` is not turned into
    ``1.0``); ``EXIF`` may be an object (IMM's samples) or a serialized JSON string (IMM's SDKs). ``MediaType`` is
    one of the documented values, ``ProduceTime`` an RFC 3339 time and ``LatLong`` ``"latitude,longitude"`` in
    degrees (either may be empty): queries compare them, so they must mean what they say.

    ``OUTPUT_ONLY_FIELDS`` are refused with a message naming the field: the service sets them. They are the file's
    identity and index bookkeeping (OwnerId, ProjectName, DatasetName, ObjectType, ObjectId, CreateTime, UpdateTime,
    ObjectStatus, FileStatus, Reason, SequenceNumber, MetaLockVersion, ClusterStatus, ClusterModifications), what a
    query computes (SemanticSimilarity, SemanticTypes, Elements) and the attributes of the stored object, which are
    read from the object itself (Filename, Size, ETag, ContentMd5, the File*Time fields, the HTTP headers, the
    server-side-encryption fields and the OSS* / ObjectACL fields). Any other field is refused as unknown.

Accepted but ignored
    Sift has no workflow templates, quotas, tags, service roles or asynchronous notifications, so these documented
    parameters are validated and then ignored: CreateProject ``ServiceRole``, ``TemplateId``, ``Tag``,
    ``DatasetConfig`` and the quota fields (``ProjectMaxDatasetCount``, ``DatasetMaxBindCount``,
    ``DatasetMaxFileCount``, ``DatasetMaxEntityCount``, ``DatasetMaxRelationCount``, ``DatasetMaxTotalFileSize``);
    CreateDataset ``TemplateId``, ``WorkflowParameters`` (documented as an invalid parameter), ``DatasetConfig`` and
    the same quota fields; IndexFileMeta / BatchIndexFileMeta ``Notification``, ``UserData`` and the older
    ``NotifyTopicName`` / ``NotifyEndpoint``; BatchDeleteFileMeta ``NotifyTopicName`` / ``NotifyEndpoint``; the
    ``Files`` of a ContextualRetrieval message.

Times
    Responses give times in RFC 3339 with a numeric offset (IMM's ``2021-06-29T14:50:13.011643661+08:00`` style):
    Sift's stored ``…Z`` times become ``…+00:00``, fractional seconds without trailing zeros.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator, model_validator

from chalicelib.api.bailian import MAX_HISTORY_MESSAGES, MAX_MESSAGE_CHARS
from chalicelib.api.common import RequestModel
from chalicelib.core.errors import InvalidParameterError
from chalicelib.core.ports.catalog import Binding, Dataset, Project

# --- limits ---------------------------------------------------------------------------------------------------------

MAX_NAME_CHARS = 128
MAX_DESCRIPTION_CHARS = 256
MAX_URI_CHARS = 2048
MAX_BATCH = 100
MAX_LIST_RESULTS = 200
DEFAULT_LIST_RESULTS = 100
MAX_USER_DATA_BYTES = 2048
MAX_SMART_CLUSTER_IDS = 100
MAX_WITH_FIELDS = 100
MAX_TAGS = 20
# Every message of a conversation, history and current question together (2n+1 with n = 50).
MAX_MESSAGES = MAX_HISTORY_MESSAGES + 1

# --- names ----------------------------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
NAME_RULE = "must be 1 to 128 characters of letters, digits, '-' and '_', starting with a letter or '_'"


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(NAME_RULE)
    return value


ResourceName = Annotated[str, AfterValidator(_check_name)]

# --- URIs -----------------------------------------------------------------------------------------------------------

_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_OBJECT_URI = re.compile(rf"(?:s3|oss)://{_BUCKET}/(?P<key>.+)", re.DOTALL)
_PREFIX_URI = re.compile(rf"(?:s3|oss)://{_BUCKET}(?:/.*)?", re.DOTALL)
_FILE_URI = re.compile(r"file:///(?P<key>.+)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

FILE_URI_RULE = "must be the URI of a file: s3://bucket/key, oss://bucket/key or file:///path"
PREFIX_URI_RULE = "must be the URI of a bucket or a prefix: s3://bucket[/prefix], oss://bucket[/prefix] or file:///path"


def _check_common(value: str) -> None:
    if len(value) > MAX_URI_CHARS:
        raise ValueError(f"must be at most {MAX_URI_CHARS} characters")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")


def _check_file_uri(value: str) -> str:
    _check_common(value)
    match = _OBJECT_URI.fullmatch(value) or _FILE_URI.fullmatch(value)
    if match is None:
        raise ValueError(FILE_URI_RULE)
    if match["key"].endswith("/"):
        raise ValueError("names a folder (it ends with '/'); a file URI names one object")
    return value


def _check_prefix_uri(value: str) -> str:
    _check_common(value)
    if not (_PREFIX_URI.fullmatch(value) or _FILE_URI.fullmatch(value)):
        raise ValueError(PREFIX_URI_RULE)
    return value


FileUri = Annotated[str, AfterValidator(_check_file_uri)]
PrefixUri = Annotated[str, AfterValidator(_check_prefix_uri)]

# --- plain JSON values kept exactly as given ------------------------------------------------------------------------


def _number(value: Any) -> int | float:
    """An int stays an int and a float a float: ``1`` must come back as ``1``, not ``1.0``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")  # noqa: TRY004 - pydantic reports ValueError, not TypeError, as invalid input
    return value


def _object_or_text(value: Any) -> dict[str, Any] | str:
    """EXIF is an object in IMM's samples and a serialized JSON object (a string) in its SDKs; both are kept."""
    if not isinstance(value, dict | str):
        raise ValueError("must be an object or a string")  # noqa: TRY004 - pydantic reports ValueError as invalid input
    return value


Number = Annotated[int | float, PlainValidator(_number)]
ObjectOrText = Annotated[dict[str, Any] | str, PlainValidator(_object_or_text)]
Count = Annotated[int, Field(ge=0)]
Text = Annotated[str, Field(max_length=MAX_URI_CHARS)]
JsonObject = dict[str, Any]
JsonObjects = list[JsonObject]

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")
_LAT_LONG = re.compile(r"(?P<lat>[+-]?\d{1,2}(?:\.\d+)?),(?P<long>[+-]?\d{1,3}(?:\.\d+)?)")


def _check_time(value: str) -> str:
    """Times are compared (SemanticQuery: "photos of 2023"), so they must be times; empty means unknown."""
    if value and not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time such as 2021-06-29T14:50:13.011643661+08:00")
    return value


def _check_lat_long(value: str) -> str:
    """``"latitude,longitude"`` in degrees, as in the documented sample ``30.134390,120.074997``; empty means unknown."""
    if not value:
        return value
    match = _LAT_LONG.fullmatch(value)
    if match is None or abs(float(match["lat"])) > 90 or abs(float(match["long"])) > 180:
        raise ValueError("must be 'latitude,longitude' in degrees, such as 30.134390,120.074997")
    return value


def _strings_in(keys: tuple[str, ...]) -> AfterValidator:
    """An object whose listed members, where present, must be strings: the text fields that queries match against."""

    def check(item: JsonObject) -> JsonObject:
        for key in keys:
            if key in item and not isinstance(item[key], str):
                raise ValueError(f"{key} must be a string")
        return item

    return AfterValidator(check)


Time = Annotated[str, AfterValidator(_check_time)]
LatLong = Annotated[str, AfterValidator(_check_lat_long)]
Labels = list[Annotated[JsonObject, _strings_in(("LabelName", "ParentLabelName", "Language"))]]
Addresses = list[
    Annotated[JsonObject, _strings_in(("Language", "AddressLine", "Country", "Province", "City", "District", "Township"))]
]
MediaType = Literal["image", "video", "audio", "document", "archive", "other"]

# --- the File of IndexFileMeta --------------------------------------------------------------------------------------


def _output_only(value: Any) -> Any:
    raise ValueError("is set by the service (an output-only File field) and cannot be given")


OutputOnly = Annotated[Any, AfterValidator(_output_only)]


class _OutputOnlyFields(RequestModel):
    """The File fields the service sets: declared so that giving one is refused with its name and the reason."""

    owner_id: OutputOnly = None
    project_name: OutputOnly = None
    dataset_name: OutputOnly = None
    object_type: OutputOnly = None
    object_id: OutputOnly = None
    create_time: OutputOnly = None
    update_time: OutputOnly = None
    object_status: OutputOnly = None
    file_status: OutputOnly = None
    reason: OutputOnly = None
    sequence_number: OutputOnly = None
    meta_lock_version: OutputOnly = None
    cluster_status: OutputOnly = None
    cluster_modifications: OutputOnly = None
    semantic_similarity: OutputOnly = None
    semantic_types: OutputOnly = None
    elements: OutputOnly = None
    filename: OutputOnly = None
    size: OutputOnly = None
    etag: OutputOnly = Field(default=None, alias="ETag")
    content_md5: OutputOnly = None
    file_modified_time: OutputOnly = None
    file_create_time: OutputOnly = None
    file_access_time: OutputOnly = None
    cache_control: OutputOnly = None
    content_disposition: OutputOnly = None
    content_encoding: OutputOnly = None
    content_language: OutputOnly = None
    access_control_allow_origin: OutputOnly = None
    access_control_request_method: OutputOnly = None
    server_side_encryption: OutputOnly = None
    server_side_encryption_customer_algorithm: OutputOnly = None
    server_side_encryption_key_id: OutputOnly = None
    server_side_data_encryption: OutputOnly = None
    object_acl: OutputOnly = Field(default=None, alias="ObjectACL")
    oss_storage_class: OutputOnly = Field(default=None, alias="OSSStorageClass")
    oss_crc64: OutputOnly = Field(default=None, alias="OSSCRC64")
    oss_user_meta: OutputOnly = Field(default=None, alias="OSSUserMeta")
    oss_tagging: OutputOnly = Field(default=None, alias="OSSTagging")
    oss_tagging_count: OutputOnly = Field(default=None, alias="OSSTaggingCount")
    oss_expiration: OutputOnly = Field(default=None, alias="OSSExpiration")
    oss_version_id: OutputOnly = Field(default=None, alias="OSSVersionId")
    oss_delete_marker: OutputOnly = Field(default=None, alias="OSSDeleteMarker")
    oss_object_type: OutputOnly = Field(default=None, alias="OSSObjectType")


class FileInput(_OutputOnlyFields):
    """The ``File`` of IndexFileMeta and one of the ``Files`` of BatchIndexFileMeta (see the module docstring).

    Only ``URI`` is required. ``given_fields`` is what the service stores: exactly the fields the caller gave, under
    their wire names, with their values untouched (an int stays an int, nested objects stay as they came).
    """

    # IMM's documented InputFile
    uri: FileUri = Field(alias="URI")
    oss_uri: Text | None = Field(default=None, alias="OSSURI")
    media_type: MediaType | None = None
    content_type: Annotated[str, Field(max_length=256)] | None = None
    file_hash: Text | None = None
    custom_id: Text | None = None
    custom_labels: JsonObject | None = None
    figures: JsonObjects | None = None
    labels: Labels | None = None
    addresses: Addresses | None = None
    lat_long: LatLong | None = None
    produce_time: Time | None = None
    title: str | None = None
    album: str | None = None
    album_artist: str | None = None
    artist: str | None = None
    composer: str | None = None
    performer: str | None = None
    # Sift's extension: what IMM's workflows would have computed (INPUT_EXTENSION_FIELDS)
    figure_count: Count | None = None
    timezone: str | None = None
    travel_cluster_id: str | None = None
    orientation: int | None = None
    image_width: Count | None = None
    image_height: Count | None = None
    exif: ObjectOrText | None = Field(default=None, alias="EXIF")
    image_score: JsonObject | None = None
    cropping_suggestions: JsonObjects | None = None
    ocr_contents: JsonObjects | None = Field(default=None, alias="OCRContents")
    ocr_texts: str | None = Field(default=None, alias="OCRTexts")
    video_width: Count | None = None
    video_height: Count | None = None
    video_streams: JsonObjects | None = None
    subtitles: JsonObjects | None = None
    audio_streams: JsonObjects | None = None
    audio_covers: JsonObjects | None = None
    language: str | None = None
    page_count: Count | None = None
    stream_count: Count | None = None
    program_count: Count | None = None
    format_name: str | None = None
    format_long_name: str | None = None
    start_time: Number | None = None
    bitrate: Count | None = None
    duration: Number | None = None
    scene_elements: JsonObjects | None = None
    smart_clusters: JsonObjects | None = None
    insights: JsonObject | None = None

    def given_fields(self) -> dict[str, Any]:
        """The fields the caller gave, by wire name, values unchanged (``null`` included if it was given)."""
        return {
            _wire_name(name): getattr(self, name)
            for name in type(self).model_fields
            if name in self.model_fields_set
        }


def _wire_name(field_name: str) -> str:
    field = FileInput.model_fields[field_name]
    alias = field.alias or field.validation_alias
    assert isinstance(alias, str)
    return alias


def _aliases(model: type[RequestModel]) -> frozenset[str]:
    names: set[str] = set()
    for field in model.model_fields.values():
        alias = field.alias or field.validation_alias
        assert isinstance(alias, str)
        names.add(alias)
    return frozenset(names)


OUTPUT_ONLY_FIELDS: frozenset[str] = _aliases(_OutputOnlyFields)
INPUT_FILE_FIELDS: frozenset[str] = frozenset({
    "URI", "OSSURI", "MediaType", "ContentType", "FileHash", "CustomId", "CustomLabels", "Figures", "Labels",
    "Addresses", "LatLong", "ProduceTime", "Title", "Album", "AlbumArtist", "Artist", "Composer", "Performer",
})
INPUT_EXTENSION_FIELDS: frozenset[str] = _aliases(FileInput) - OUTPUT_ONLY_FIELDS - INPUT_FILE_FIELDS

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


# --- responses ------------------------------------------------------------------------------------------------------


def rfc3339(stamp: str) -> str:
    """A stored time in IMM's response format: RFC 3339 with a numeric offset, no trailing zeros in the fraction.

    ``2026-11-21T08:30:00.120Z`` → ``2026-11-21T08:30:00.12+00:00``. A time without an offset is UTC (Sift stores
    UTC); an unparseable stamp is returned as stored rather than failing a read.
    """
    if not stamp:
        return stamp
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.isoformat(timespec="seconds")
    base, offset = seconds[:19], seconds[19:]
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{base}.{fraction}{offset}" if fraction else f"{base}{offset}"


def project_view(project: Project, *, dataset_count: int | None = None) -> dict[str, Any]:
    """The documented ``Project`` structure, with the fields Sift keeps (quotas and templates are not kept)."""
    view: dict[str, Any] = {
        "ProjectName": project.name,
        "Description": project.description,
        "CreateTime": rfc3339(project.created_at),
        "UpdateTime": rfc3339(project.updated_at),
    }
    if dataset_count is not None:
        view["DatasetCount"] = dataset_count
    return view


def dataset_view(
    dataset: Dataset, file_count: int | None = None, *, bind_count: int | None = None
) -> dict[str, Any]:
    """The documented ``Dataset`` structure, with the fields Sift keeps; counts where the caller of this knows them."""
    view: dict[str, Any] = {
        "ProjectName": dataset.project_name,
        "DatasetName": dataset.name,
        "Description": dataset.description,
        "CreateTime": rfc3339(dataset.created_at),
        "UpdateTime": rfc3339(dataset.updated_at),
    }
    if file_count is not None:
        view["FileCount"] = file_count
    if bind_count is not None:
        view["BindCount"] = bind_count
    return view


def binding_view(binding: Binding) -> dict[str, Any]:
    """The documented ``Binding`` structure. ``Reason`` is empty unless the binding failed."""
    return {
        "ProjectName": binding.project_name,
        "DatasetName": binding.dataset_name,
        "URI": binding.uri,
        "State": binding.state,
        "Reason": binding.reason,
        "CreateTime": rfc3339(binding.created_at),
        "UpdateTime": rfc3339(binding.updated_at),
    }


def next_token(offset: int, returned: int, total: int) -> str:
    """ListDatasets ``NextToken``: the offset of the next page, or ``""`` when this page was the last."""
    following = offset + returned
    return str(following) if returned and following < total else ""
