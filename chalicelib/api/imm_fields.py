"""The values of the media-dataset API family's (IMM) parameters, and the File of IndexFileMeta built from them.

Resource names, file and prefix URIs, JSON values kept exactly as given, times and coordinates, and ``FileInput``
(with the File fields the service sets, which a caller cannot give). The request models (``chalicelib.api.imm``)
are made of these types. The rules follow the published IMM API reference (API version 2020-09-30: the ``File``
and ``InputFile`` structures); where the reference is silent Sift chooses, and every choice is listed here so the
README can repeat it.

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
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator

from chalicelib.api.common import RequestModel

# --- names ----------------------------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
NAME_RULE = "must be 1 to 128 characters of letters, digits, '-' and '_', starting with a letter or '_'"


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(NAME_RULE)
    return value


ResourceName = Annotated[str, AfterValidator(_check_name)]

# --- URIs -----------------------------------------------------------------------------------------------------------

MAX_URI_CHARS = 2048
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
    Annotated[
        JsonObject, _strings_in(("Language", "AddressLine", "Country", "Province", "City", "District", "Township"))
    ]
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
            _wire_name(name): getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set
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
INPUT_FILE_FIELDS: frozenset[str] = frozenset(
    {
        "URI",
        "OSSURI",
        "MediaType",
        "ContentType",
        "FileHash",
        "CustomId",
        "CustomLabels",
        "Figures",
        "Labels",
        "Addresses",
        "LatLong",
        "ProduceTime",
        "Title",
        "Album",
        "AlbumArtist",
        "Artist",
        "Composer",
        "Performer",
    }
)
INPUT_EXTENSION_FIELDS: frozenset[str] = _aliases(FileInput) - OUTPUT_ONLY_FIELDS - INPUT_FILE_FIELDS
