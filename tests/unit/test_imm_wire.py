"""Wire models, views and envelope of the media-dataset API family (``chalicelib.api.imm`` / ``imm_fields`` /
``imm_operations`` / ``envelopes``).

The contract is the published IMM API reference (2020-09-30) and ``/work/shared/seeds/000_…`` (ContextualRetrieval,
whose sample response holds the full File object) and ``003_…`` (ContextualAnswer). Example values below are the
documented examples; limits are the documented ones, or Sift's where the reference is silent (see the docstrings of
``chalicelib.api.imm`` and ``chalicelib.api.imm_fields``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api import imm, imm_fields, imm_operations
from chalicelib.api.common import RequestModel, decode_json_body, parse_request
from chalicelib.api.envelopes import Family, failure, success
from chalicelib.api.imm import (
    BatchDeleteFileMetaRequest,
    BatchIndexFileMetaRequest,
    ContextualMessage,
    ContextualRetrievalRequest,
    CreateBindingRequest,
    CreateDatasetRequest,
    CreateProjectRequest,
    DeleteFileMetaRequest,
    GetFileMetaRequest,
    IndexFileMetaRequest,
    ListDatasetsRequest,
    validate_messages,
)
from chalicelib.api.imm_fields import FileInput
from chalicelib.core.errors import (
    AlreadyExistsError,
    ErrorKind,
    InternalError,
    InvalidParameterError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceError,
    ServiceUnavailableError,
    ThrottlingError,
)
from chalicelib.core.ports.catalog import Binding, Dataset, Project

# ../shared beside the repository, as on the build machines and in CI.
SEED_000 = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_44ff24fc97cd9274.txt"

# Words that would betray Python internals in a caller-facing message.
_INTERNALS = re.compile(r"dict|NoneType|pydantic|Traceback|errors\.pydantic\.dev|Value error|FileInput|Contextual")

# The File of the sample success response of seed 000 (Results[0]), verbatim: floats, the int CRC, the tab and
# newline of CustomId and all.
SEED_FILE_JSON = r"""
{
      "OwnerId": "102321002467****",
      "ProjectName": "test-project",
      "DatasetName": "test-dataset",
      "ObjectType": "file",
      "ObjectId": "75d5de2c50754e3dadd5c35dbca5f9949369e37eb342a73821f690c94c36c7f7",
      "UpdateTime": "2021-06-29T14:50:13.011643661+08:00",
      "CreateTime": "2021-06-29T14:50:13.011643661+08:00",
      "URI": "oss://examplebucket/sampleobject.jpg",
      "OSSURI": "oss://examplebucket/sampleobject.jpg",
      "Filename": "sampleobject.jpg",
      "MediaType": "image",
      "ContentType": "image/jpeg",
      "Size": 1000,
      "FileHash": "1d9c280a7c4f67f7ef873e28449dbe17",
      "FileModifiedTime": "2021-06-29T14:50:13.011643661+08:00",
      "FileCreateTime": "2021-06-29T14:50:13.011643661+08:00",
      "FileAccessTime": "2021-06-29T14:50:13.011643661+08:00",
      "ProduceTime": "2021-06-29T14:50:13.011643661+08:00",
      "LatLong": "30.134390,120.074997",
      "Timezone": "",
      "Addresses": [
        {
          "Language": "zh-hans",
          "AddressLine": "",
          "Country": "",
          "Province": "",
          "City": "",
          "District": "",
          "Township": ""
        }
      ],
      "TravelClusterId": "-",
      "Orientation": 0,
      "Figures": [
        {
          "FigureId": "868a9e74-cde5-4c7a-9013-28bb984****",
          "FigureConfidence": 1,
          "FigureClusterId": "Cluster-dbe72fec-b84c-4ab6-885b-3678e64****",
          "FigureClusterConfidence": 1,
          "FigureType": "face",
          "Age": 29,
          "AgeSD": 5,
          "Gender": "female",
          "GenderConfidence": 1,
          "Emotion": "happiness",
          "EmotionConfidence": 0.70784568786621,
          "FaceQuality": 0.960875928401947,
          "Boundary": {
            "Width": 200,
            "Height": 300,
            "Left": 10,
            "Top": 30,
            "Polygon": [
              {
                "X": 10,
                "Y": 10
              }
            ]
          },
          "Mouth": "close",
          "MouthConfidence": 1,
          "Beard": "none",
          "BeardConfidence": 1,
          "Hat": "none",
          "HatConfidence": 1,
          "Mask": "none",
          "MaskConfidence": 1,
          "Glasses": "none",
          "GlassesConfidence": 0.8,
          "Sharpness": 0.7,
          "Attractive": 0.96,
          "HeadPose": {
            "Pitch": 18.385589599609375,
            "Roll": 4.204030513763428,
            "Yaw": 2.4945924282073975
          }
        }
      ],
      "FigureCount": 10,
      "Labels": [
        {
          "Language": "zh-Hans",
          "LabelName": "",
          "LabelLevel": 1,
          "LabelConfidence": 0.9891784601980591,
          "ParentLabelName": "",
          "CentricScore": 0.7319999933242798
        }
      ],
      "Title": "test",
      "ImageWidth": 270,
      "ImageHeight": 500,
      "EXIF": {
        "Compression": {
          "value": 6
        },
        "DateTime": {
          "value": "2020:08:19 17:11:11"
        }
      },
      "ImageScore": {
        "OverallQualityScore": 0.736
      },
      "CroppingSuggestions": [
        {
          "AspectRatio": "2:3",
          "Confidence": 0.7079545259475708,
          "Boundary": {
            "Width": 200,
            "Height": 300,
            "Left": 10,
            "Top": 30,
            "Polygon": [
              {
                "X": 10,
                "Y": 10
              }
            ]
          }
        }
      ],
      "OCRContents": [
        {
          "Language": "zh-hans",
          "Contents": "",
          "Confidence": 0.8254936695098877,
          "Boundary": {
            "Width": 200,
            "Height": 300,
            "Left": 10,
            "Top": 30,
            "Polygon": [
              {
                "X": 10,
                "Y": 10
              }
            ]
          }
        }
      ],
      "VideoWidth": 1080,
      "VideoHeight": 1920,
      "VideoStreams": [
        {
          "Index": 0,
          "Language": "en",
          "CodecName": "h264",
          "CodecLongName": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
          "Profile": "High",
          "CodecTimeBase": "1373627/83160000",
          "CodecTagString": "avc1",
          "CodecTag": "0x31637661",
          "Width": 1280,
          "Height": 720,
          "HasBFrames": 2,
          "SampleAspectRatio": "1:1",
          "DisplayAspectRatio": "16:9",
          "PixelFormat": "yuv420p",
          "Level": 40,
          "FrameRate": "25/1",
          "AverageFrameRate": "25/1",
          "TimeBase": "1/12800",
          "StartTime": 0,
          "Duration": 22.88,
          "Bitrate": 5407765,
          "FrameCount": 572,
          "Rotate": 90,
          "BitDepth": 8,
          "ColorSpace": "bt709",
          "ColorRange": "tv",
          "ColorTransfer": "bt709",
          "ColorPrimaries": "bt709"
        }
      ],
      "Subtitles": [
        {
          "Index": 2,
          "Language": "en",
          "CodecName": "mov_text",
          "CodecLongName": "MOV text",
          "CodecTagString": "tx3g",
          "CodecTag": "0x67337874",
          "StartTime": 0,
          "Duration": 71.378,
          "Bitrate": 74,
          "Content": "",
          "Width": 600,
          "Height": 30
        }
      ],
      "AudioStreams": [
        {
          "Index": 1,
          "Language": "en",
          "CodecName": "aac",
          "CodecLongName": "AAC (Advanced Audio Coding)",
          "CodecTimeBase": "1/44100",
          "CodecTagString": "mp4a",
          "CodecTag": "0x6134706d",
          "TimeBase": "1/48000",
          "StartTime": 0.0235,
          "Duration": 3.690667,
          "Bitrate": 320087,
          "FrameCount": 173,
          "Lyric": "test",
          "SampleFormat": "fltp",
          "SampleRate": 48000,
          "Channels": 2,
          "ChannelLayout": "stereo"
        }
      ],
      "Artist": "Jane",
      "AlbumArtist": "Jane",
      "AudioCovers": [
        {
          "ImageWidth": 500,
          "ImageHeight": 820,
          "EXIF": {
            "FileSize": {
              "value": 29304
            },
            "Format": {
              "value": "jpg"
            }
          },
          "ImageScore": {
            "OverallQualityScore": 0.736
          },
          "CroppingSuggestions": [
            {
              "AspectRatio": "2:3",
              "Confidence": 0.7079545259475708
            }
          ],
          "OCRContents": [
            {
              "Language": "zh-hans",
              "Contents": "",
              "Confidence": 0.8254936695098877
            }
          ]
        }
      ],
      "Composer": "Jane",
      "Performer": "Jane",
      "Language": "eng",
      "Album": "FirstAlbum",
      "PageCount": 5,
      "ETag": "1D9C280A7C4F67F7EF873E28449****",
      "CacheControl": "no-cache",
      "ContentDisposition": "attachment; filename =test.jpg",
      "ContentEncoding": "UTF-8",
      "ContentLanguage": "zh-CN",
      "AccessControlAllowOrigin": "https://aliyundoc.com",
      "AccessControlRequestMethod": "PUT",
      "ServerSideEncryptionCustomerAlgorithm": "SM4",
      "ServerSideEncryption": "AES256",
      "ServerSideDataEncryption": "SM4",
      "ServerSideEncryptionKeyId": "9468da86-3509-4f8d-a61e-6eab1eac****",
      "OSSStorageClass": "Standard",
      "OSSCRC64": 559890638950338000,
      "ObjectACL": "default",
      "ContentMd5": "HZwoCnxPZ/fvhz4oRJ2+Fw==",
      "OSSUserMeta": {
        "key": "val"
      },
      "OSSTaggingCount": 2,
      "OSSTagging": {
        "key": "val"
      },
      "OSSExpiration": "2120-01-01T12:00:00.000Z",
      "OSSVersionId": "CAEQNhiBgMDJgZCA0BYiIDc4MGZjZGI2OTBjOTRmNTE5NmU5NmFhZjhjYmY0****",
      "OSSDeleteMarker": "CAEQMhiBgIDXiaaB0BYiIGQzYmRkZGUxMTM1ZDRjOTZhNjk4YjRjMTAyZjhl****",
      "OSSObjectType": "Normal",
      "CustomId": "\t\nmember-image-id-0001",
      "CustomLabels": {
        "MemberName": "Tim",
        "Enabled": "True",
        "ItemCount": 10
      },
      "StreamCount": 1,
      "ProgramCount": 1,
      "FormatName": "mov",
      "FormatLongName": "QuickTime / MOV",
      "StartTime": 0,
      "Bitrate": 13091201,
      "Duration": 15.263,
      "SemanticSimilarity": 0.855123,
      "SemanticTypes": [
        "content"
      ],
      "Elements": [
        {
          "ElementContents": [
            {
              "Type": "text",
              "Content": "",
              "URL": "http://aliyun.com",
              "TimeRange": [
                0
              ]
            }
          ],
          "ObjectId": "id1",
          "ElementType": "",
          "SemanticSimilarity": 0.8,
          "ElementRelations": [
            {
              "Type": "child,parent",
              "ObjectId": "id1"
            }
          ]
        }
      ],
      "SceneElements": [
        {
          "TimeRange": [
            100
          ],
          "FrameTimes": [
            30
          ]
        }
      ],
      "OCRTexts": "Alibaba Cloud IMM\n",
      "FileStatus": "",
      "Reason": "[InternalError] The request has been failed due to some unknown error. status: 500, requestId: CC5ACFBD-BB7A-496D-A9D6-****",
      "SmartClusters": [
        {
          "SmartClusterId": "SmartCluster-12cd1645-deae-4b5e-9434-613747b75f6d",
          "Similarity": 0.9
        }
      ],
      "ObjectStatus": "Indexed",
      "SequenceNumber": 3,
      "ClusterStatus": {
        "key": {
          "key": [
            "smart-cluster-modified-0001"
          ]
        }
      },
      "ClusterModifications": {
        "key": {
          "key": [
            "exlude"
          ]
        }
      },
      "Insights": {
        "Video": {
          "Description": "",
          "Caption": ""
        },
        "Image": {
          "Caption": "",
          "Description": ""
        }
      },
      "MetaLockVersion": 0
    }
"""
SEED_FILE: dict[str, Any] = json.loads(SEED_FILE_JSON)

# The File fields the service sets (Sift's decision, see the module docstring of chalicelib.api.imm_fields): identity
# and index bookkeeping, what a query computes, and the attributes of the stored object, which are read from the object.
OUTPUT_ONLY = [
    "OwnerId", "ProjectName", "DatasetName", "ObjectType", "ObjectId", "CreateTime", "UpdateTime", "ObjectStatus",
    "FileStatus", "Reason", "SequenceNumber", "MetaLockVersion", "ClusterStatus", "ClusterModifications",
    "SemanticSimilarity", "SemanticTypes", "Elements",
    "Filename", "Size", "ETag", "ContentMd5", "FileModifiedTime", "FileCreateTime", "FileAccessTime", "CacheControl",
    "ContentDisposition", "ContentEncoding", "ContentLanguage", "AccessControlAllowOrigin",
    "AccessControlRequestMethod", "ServerSideEncryption", "ServerSideEncryptionCustomerAlgorithm",
    "ServerSideEncryptionKeyId", "ServerSideDataEncryption", "ObjectACL", "OSSStorageClass", "OSSCRC64",
    "OSSUserMeta", "OSSTagging", "OSSTaggingCount", "OSSExpiration", "OSSVersionId", "OSSDeleteMarker",
    "OSSObjectType",
]
SEED_INPUT_FILE: dict[str, Any] = {key: value for key, value in SEED_FILE.items() if key not in OUTPUT_ONLY}

IN_DATASET: dict[str, Any] = {"ProjectName": "test-project", "DatasetName": "test-dataset"}
URI = "oss://examplebucket/sampleobject.jpg"


def rejected(model: type, payload: dict[str, Any]) -> InvalidParameterError:
    """Parse ``payload`` expecting rejection, and check the error is fit for an API caller."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_request(model, payload)
    error = caught.value
    assert error.kind is ErrorKind.INVALID_PARAMETER and error.kind.status == 400
    assert str(error) == f"Parameter {error.field} is invalid: {error.problem}"
    assert not _INTERNALS.search(str(error)), str(error)
    return error


def conversation(*contents: str) -> list[dict[str, Any]]:
    """Messages alternating user/assistant from user, one per content."""
    return [{"Role": "user" if i % 2 == 0 else "assistant", "Content": c} for i, c in enumerate(contents)]


def messages(*pairs: tuple[str, str]) -> list[ContextualMessage]:
    return [ContextualMessage.model_validate({"Role": role, "Content": content}) for role, content in pairs]


def retrieval(**changes: Any) -> dict[str, Any]:
    return {**IN_DATASET, "Messages": conversation("Show me photos of the West Lake"), **changes}


# --- the sample File of seed 000 --------------------------------------------------------------------------------------


def test_the_embedded_sample_file_is_the_seed_s() -> None:
    if not SEED_000.is_file():
        pytest.skip("the seed pages are not available here")
    text = SEED_000.read_text(encoding="utf-8")
    start = text.index("{", text.index("Sample success responses"))
    sample, _ = json.JSONDecoder().raw_decode(text, start)
    assert sample["Results"][0] == SEED_FILE


def test_every_field_of_the_sample_file_is_either_input_or_output_only() -> None:
    accepted = imm_fields.INPUT_FILE_FIELDS | imm_fields.INPUT_EXTENSION_FIELDS
    assert set(OUTPUT_ONLY) == imm_fields.OUTPUT_ONLY_FIELDS
    assert not accepted & imm_fields.OUTPUT_ONLY_FIELDS
    assert set(SEED_FILE) == accepted | imm_fields.OUTPUT_ONLY_FIELDS  # the sample holds every field, and no other


def test_the_sample_file_comes_back_exactly_as_given() -> None:
    file = parse_request(FileInput, SEED_INPUT_FILE)

    given = file.given_fields()
    assert given == SEED_INPUT_FILE
    # Exactly: same JSON text, so ints stay ints (Figures[0].FigureConfidence 1, StartTime 0) and floats keep digits.
    assert json.dumps(given, sort_keys=True) == json.dumps(SEED_INPUT_FILE, sort_keys=True)
    assert given["CustomId"] == "\t\nmember-image-id-0001"
    assert given["Figures"][0]["HeadPose"]["Pitch"] == 18.385589599609375
    assert given["EXIF"] == {"Compression": {"value": 6}, "DateTime": {"value": "2020:08:19 17:11:11"}}
    assert given["VideoStreams"][0]["Duration"] == 22.88 and given["VideoStreams"][0]["CodecTag"] == "0x31637661"
    assert given["Insights"] == {"Video": {"Description": "", "Caption": ""}, "Image": {"Caption": "", "Description": ""}}
    assert given["CustomLabels"] == {"MemberName": "Tim", "Enabled": "True", "ItemCount": 10}
    assert isinstance(given["StartTime"], int) and isinstance(given["Duration"], float)


def test_the_sample_file_survives_a_json_body_and_index_file_meta() -> None:
    body = json.dumps({**IN_DATASET, "File": SEED_INPUT_FILE}, ensure_ascii=False).encode()
    request = parse_request(IndexFileMetaRequest, decode_json_body(body))
    assert request.file.given_fields() == SEED_INPUT_FILE


def test_only_the_given_fields_come_back() -> None:
    assert parse_request(FileInput, {"URI": URI}).given_fields() == {"URI": URI}
    given = parse_request(FileInput, {"URI": URI, "Title": None, "Labels": []}).given_fields()
    assert given == {"URI": URI, "Title": None, "Labels": []}  # the SDKs send empty arrays; null stays null


@pytest.mark.parametrize("field", OUTPUT_ONLY)
def test_output_only_fields_are_refused_by_name(field: str) -> None:
    error = rejected(IndexFileMetaRequest, {**IN_DATASET, "File": {"URI": URI, field: SEED_FILE[field]}})
    assert error.field == f"File.{field}"
    assert "set by the service" in error.problem


def test_an_output_only_field_of_a_batch_names_the_file() -> None:
    files = [{"URI": URI}, {"URI": "oss://examplebucket/b.jpg", "ObjectId": "id1"}]
    assert rejected(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": files}).field == "Files[1].ObjectId"


def test_unknown_file_fields_are_refused() -> None:
    error = rejected(IndexFileMetaRequest, {**IN_DATASET, "File": {"URI": URI, "Colour": "red"}})
    assert (error.field, error.problem) == ("File.Colour", "is not a known parameter")


def test_the_file_needs_a_uri() -> None:
    assert rejected(IndexFileMetaRequest, {**IN_DATASET, "File": {"Title": "x"}}).field == "File.URI"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Title", 5),
        ("CustomLabels", ["a"]),
        ("Labels", {"LabelName": "x"}),
        ("Figures", ["face"]),
        ("ImageWidth", -1),
        ("ImageWidth", 1.5),
        ("ImageWidth", True),
        ("Duration", "15.263"),
        ("Duration", True),
        ("MediaType", "picture"),
        ("ProduceTime", "yesterday"),
        ("ProduceTime", "2021-06-29 14:50:13"),
        ("LatLong", "north"),
        ("LatLong", "91.0,120.0"),
        ("LatLong", "30.1,181.0"),
        ("EXIF", 3),
    ],
)
def test_file_fields_of_the_wrong_type_are_refused(field: str, value: Any) -> None:
    assert re.fullmatch(rf"{field}(\[\d+\])?", rejected(FileInput, {"URI": URI, field: value}).field)


def test_label_and_address_text_must_be_text() -> None:
    assert rejected(FileInput, {"URI": URI, "Labels": [{"LabelName": 3}]}).field == "Labels[0]"
    error = rejected(FileInput, {"URI": URI, "Addresses": [{"City": "杭州"}, {"City": None}]})
    assert (error.field, error.problem) == ("Addresses[1]", "City must be a string")


@pytest.mark.parametrize("media_type", ["image", "video", "audio", "document", "archive", "other"])
def test_every_documented_media_type_is_accepted(media_type: str) -> None:
    assert parse_request(FileInput, {"URI": URI, "MediaType": media_type}).given_fields()["MediaType"] == media_type


@pytest.mark.parametrize(
    "value", ["", "2021-06-29T14:50:13Z", "2021-06-29T14:50:13.011643661+08:00", "2023-01-01T00:00:00-05:00"]
)
def test_produce_time_accepts_rfc3339_or_empty(value: str) -> None:
    assert parse_request(FileInput, {"URI": URI, "ProduceTime": value}).given_fields()["ProduceTime"] == value


@pytest.mark.parametrize("value", ["", "30.134390,120.074997", "-90,180", "0,-180.0"])
def test_lat_long_accepts_degrees_or_empty(value: str) -> None:
    assert parse_request(FileInput, {"URI": URI, "LatLong": value}).given_fields()["LatLong"] == value


def test_exif_may_also_be_a_json_string_as_the_sdks_send_it() -> None:
    exif = '{"Compression": {"value": 6}}'
    assert parse_request(FileInput, {"URI": URI, "EXIF": exif}).given_fields()["EXIF"] == exif


# --- URIs -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "oss://examplebucket/sampleobject.jpg",
        "oss://test-bucket/test-object.jpg",
        "s3://my-bucket/photos/2023/west lake.jpg",
        "s3://my.bucket.example/a",
        "s3://abc/中文/照片.jpg",
        "file:///tmp/photos/a.jpg",
        "s3://abc/" + "k" * (imm_fields.MAX_URI_CHARS - len("s3://abc/")),
    ],
)
def test_file_uris_accepted(uri: str) -> None:
    assert parse_request(DeleteFileMetaRequest, {**IN_DATASET, "URI": uri}).uri == uri


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "examplebucket/sampleobject.jpg",
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/a.jpg",
        "pds://domains/d/drives/1/files/f/revisions/r",
        "oss://examplebucket",
        "oss://examplebucket/",
        "s3://bucket/photos/",
        "s3://Bucket/a.jpg",
        "s3://ab/a.jpg",
        "s3://-bucket/a.jpg",
        "s3://bucket/a\nb.jpg",
        "file://relative/a.jpg",
        "file:///",
        "s3://abc/" + "k" * (imm_fields.MAX_URI_CHARS - len("s3://abc/") + 1),
    ],
)
def test_file_uris_rejected(uri: str) -> None:
    assert rejected(DeleteFileMetaRequest, {**IN_DATASET, "URI": uri}).field == "URI"


@pytest.mark.parametrize(
    "uri", ["oss://test-bucket", "oss://test-bucket/", "s3://my-bucket/photos/", "s3://my-bucket/photos", "file:///data"]
)
def test_binding_uris_are_buckets_or_prefixes(uri: str) -> None:
    assert parse_request(CreateBindingRequest, {**IN_DATASET, "URI": uri}).uri == uri


@pytest.mark.parametrize("uri", ["", "test-bucket", "https://test-bucket/", "oss://", "s3://B/", "file://data"])
def test_binding_uris_rejected(uri: str) -> None:
    assert rejected(CreateBindingRequest, {**IN_DATASET, "URI": uri}).field == "URI"


def test_create_binding_needs_all_three_parameters() -> None:
    for missing in ("ProjectName", "DatasetName", "URI"):
        payload = {**IN_DATASET, "URI": "oss://test-bucket"}
        del payload[missing]
        assert rejected(CreateBindingRequest, payload).field == missing


# --- names ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["test-project", "immtest", "dataset001", "_hidden", "A", "a" * 128, "x-1_y"])
def test_names_accepted(name: str) -> None:
    request = parse_request(CreateDatasetRequest, {"ProjectName": name, "DatasetName": name})
    assert (request.project_name, request.dataset_name) == (name, name)


@pytest.mark.parametrize("name", ["", "a" * 129, "1project", "-project", "my project", "a:b", "名前", "a/b", "a.b"])
@pytest.mark.parametrize("field", ["ProjectName", "DatasetName"])
def test_names_rejected_with_the_rule(field: str, name: str) -> None:
    error = rejected(CreateDatasetRequest, {**IN_DATASET, field: name})
    assert (error.field, error.problem) == (field, imm_fields.NAME_RULE)


@pytest.mark.parametrize(
    "model", [ListDatasetsRequest, GetFileMetaRequest, DeleteFileMetaRequest, ContextualRetrievalRequest]
)
def test_reads_apply_the_name_rule_too(model: type[RequestModel]) -> None:
    payload = {**retrieval(), "URI": URI, "ProjectName": "bad:name"}
    known = _aliases(model)
    assert rejected(model, {key: value for key, value in payload.items() if key in known}).field == "ProjectName"


def _aliases(model: type[RequestModel]) -> set[str]:
    return {str(field.alias or field.validation_alias) for field in model.model_fields.values()}


# --- CreateProject / CreateDataset / ListDatasets ---------------------------------------------------------------------

DOCUMENTED_QUOTAS: dict[str, int] = {
    "DatasetMaxBindCount": 10,
    "DatasetMaxFileCount": 100000000,
    "DatasetMaxEntityCount": 10000000000,
    "DatasetMaxRelationCount": 100000000000,
    "DatasetMaxTotalFileSize": 90000000000000000,
}


def test_the_documented_create_project_example_parses() -> None:
    request = parse_request(
        CreateProjectRequest,
        {
            "ProjectName": "test-project",
            "Description": "immtest",
            "ServiceRole": "AliyunIMMDefaultRole",
            "TemplateId": "Official:ImageManagement",
            "ProjectMaxDatasetCount": 1000000000,
            **DOCUMENTED_QUOTAS,
            "Tag": [{"Key": "env", "Value": "test"}],
            "DatasetConfig": {"Insights": {"Language": "zh"}},
        },
    )
    assert (request.project_name, request.description) == ("test-project", "immtest")


def test_create_project_needs_only_a_name() -> None:
    request = parse_request(CreateProjectRequest, {"ProjectName": "test-project"})
    assert request.description == "" and request.template_id is None and request.tag is None


def test_the_documented_create_dataset_example_parses() -> None:
    request = parse_request(
        CreateDatasetRequest,
        {
            **IN_DATASET,
            "Description": "immtest",
            "TemplateId": "Official:ImageManagement",
            **DOCUMENTED_QUOTAS,
            "WorkflowParameters": [{"Name": "key", "Value": "value"}],
        },
    )
    assert (request.project_name, request.dataset_name, request.description) == (
        "test-project", "test-dataset", "immtest",
    )


@pytest.mark.parametrize("model", [CreateProjectRequest, CreateDatasetRequest])
def test_description_is_at_most_256_characters(model: type[CreateProjectRequest | CreateDatasetRequest]) -> None:
    names = {key: value for key, value in IN_DATASET.items() if key in _aliases(model)}
    assert parse_request(model, {**names, "Description": "描" * 256}).description == "描" * 256
    assert rejected(model, {**names, "Description": "描" * 257}).field == "Description"


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("DatasetMaxBindCount", 1, 10),
        ("DatasetMaxFileCount", 1, 100_000_000),
        ("ProjectMaxDatasetCount", 1, 1_000_000_000),
    ],
)
def test_quotas_accept_their_documented_range(field: str, low: int, high: int) -> None:
    for value in (low, high):
        parse_request(CreateProjectRequest, {"ProjectName": "p", field: value})
    for value in (low - 1, high + 1):
        assert rejected(CreateProjectRequest, {"ProjectName": "p", field: value}).field == field


def test_unknown_parameters_are_refused() -> None:
    assert rejected(CreateProjectRequest, {"ProjectName": "p", "Colour": "red"}).field == "Colour"
    assert rejected(CreateDatasetRequest, {**IN_DATASET, "Tag": []}).field == "Tag"  # CreateProject only


def test_list_datasets_defaults_and_paging() -> None:
    request = parse_request(ListDatasetsRequest, {"ProjectName": "test-project"})
    assert (request.limit, request.offset, request.prefix) == (imm.DEFAULT_LIST_RESULTS, 0, None)
    request = parse_request(ListDatasetsRequest, {"ProjectName": "p", "MaxResults": 0, "NextToken": ""})
    assert (request.limit, request.offset) == (100, 0)
    request = parse_request(ListDatasetsRequest, {"ProjectName": "p", "MaxResults": 200, "NextToken": "200"})
    assert (request.limit, request.offset) == (200, 200)


@pytest.mark.parametrize(("field", "value"), [("MaxResults", -1), ("MaxResults", 201), ("MaxResults", "10"),
                                              ("NextToken", "abc"), ("NextToken", "-1"), ("Prefix", "p" * 129)])
def test_list_datasets_rejects(field: str, value: Any) -> None:
    assert rejected(ListDatasetsRequest, {"ProjectName": "p", field: value}).field == field


def test_next_token_walks_the_pages() -> None:
    assert imm.next_token(0, 100, 250) == "100"
    assert imm.next_token(200, 50, 250) == ""
    assert imm.next_token(0, 0, 0) == ""
    page = parse_request(ListDatasetsRequest, {"ProjectName": "p", "NextToken": imm.next_token(0, 100, 250)})
    assert page.offset == 100


# --- file metadata operations -----------------------------------------------------------------------------------------


def test_index_file_meta_accepts_the_ignored_notification_parameters() -> None:
    request = parse_request(
        IndexFileMetaRequest,
        {
            **IN_DATASET,
            "File": {"URI": URI, "CustomId": "member-image-id-0001", "CustomLabels": {"MemberName": "Tim"}},
            "Notification": {"MNS": {"TopicName": "test-topic"}},
            "UserData": "{\"id\": \"test-data\"}",
            "NotifyTopicName": "test-topic",
            "NotifyEndpoint": "http://1111111111.mns.cn-hangzhou.aliyuncs.com/",
        },
    )
    assert request.file.uri == URI


def test_user_data_is_at_most_2048_bytes() -> None:
    payload = {**IN_DATASET, "File": {"URI": URI}}
    parse_request(IndexFileMetaRequest, {**payload, "UserData": "a" * 2048})
    parse_request(IndexFileMetaRequest, {**payload, "UserData": "中" * 682})  # 2,046 bytes
    assert rejected(IndexFileMetaRequest, {**payload, "UserData": "a" * 2049}).field == "UserData"
    assert rejected(IndexFileMetaRequest, {**payload, "UserData": "中" * 683}).field == "UserData"  # 2,049 bytes


def files(count: int) -> list[dict[str, Any]]:
    return [{"URI": f"oss://examplebucket/{i}.jpg"} for i in range(count)]


def test_batch_index_takes_one_to_one_hundred_files() -> None:
    assert len(parse_request(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": files(1)}).files) == 1
    assert len(parse_request(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": files(100)}).files) == 100
    assert rejected(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": files(101)}).field == "Files"
    assert rejected(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": []}).field == "Files"


def test_batch_index_refuses_a_uri_twice() -> None:
    error = rejected(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": [*files(3), {"URI": "oss://examplebucket/1.jpg"}]})
    assert (error.field, error.problem) == ("Files[3].URI", "repeats Files[1].URI")


def test_batch_index_keeps_each_file_as_given() -> None:
    batch = [SEED_INPUT_FILE, {"URI": "s3://bucket/b.jpg", "Title": "b"}]
    request = parse_request(BatchIndexFileMetaRequest, {**IN_DATASET, "Files": batch})
    assert [file.given_fields() for file in request.files] == batch


def test_batch_delete_takes_one_to_one_hundred_uris() -> None:
    uris = [file["URI"] for file in files(100)]
    assert parse_request(BatchDeleteFileMetaRequest, {**IN_DATASET, "URIs": uris}).uris == uris
    assert parse_request(BatchDeleteFileMetaRequest, {**IN_DATASET, "URIs": [URI, URI]}).uris == [URI, URI]
    assert rejected(BatchDeleteFileMetaRequest, {**IN_DATASET, "URIs": [*uris, URI]}).field == "URIs"
    assert rejected(BatchDeleteFileMetaRequest, {**IN_DATASET, "URIs": []}).field == "URIs"
    assert rejected(BatchDeleteFileMetaRequest, {**IN_DATASET, "URIs": [URI, "s3://b"]}).field == "URIs[1]"
    assert rejected(BatchDeleteFileMetaRequest, {**IN_DATASET, "URIs": URI}).field == "URIs"


def test_get_file_meta_with_fields() -> None:
    request = parse_request(GetFileMetaRequest, {**IN_DATASET, "URI": URI, "WithFields": ["Labels", "Figures"]})
    assert (request.uri, request.with_fields) == (URI, ["Labels", "Figures"])
    assert parse_request(GetFileMetaRequest, {**IN_DATASET, "URI": URI}).with_fields is None
    assert rejected(GetFileMetaRequest, {**IN_DATASET, "URI": URI, "WithFields": ["x"] * 101}).field == "WithFields"
    assert rejected(GetFileMetaRequest, {**IN_DATASET, "URI": URI, "WithFields": [""]}).field == "WithFields[0]"


def test_delete_file_meta_needs_the_uri() -> None:
    assert rejected(DeleteFileMetaRequest, IN_DATASET).field == "URI"


# --- ContextualRetrieval ----------------------------------------------------------------------------------------------


def test_the_seed_contextual_retrieval_example_parses() -> None:
    request = parse_request(
        ContextualRetrievalRequest,
        {
            **IN_DATASET,
            "Messages": conversation("Photos of my cat", "Here are 3 photos.", "Only the ones from 2023"),
            "RecallOnly": False,
            "SmartClusterIds": ["SmartCluster-01686226-be59-4391-a1ac-b7b073455de3"],
        },
    )
    assert (request.project_name, request.dataset_name, request.recall_only) == ("test-project", "test-dataset", False)
    assert request.smart_cluster_ids == ["SmartCluster-01686226-be59-4391-a1ac-b7b073455de3"]
    assert request.conversation == (
        [("user", "Photos of my cat"), ("assistant", "Here are 3 photos.")], "Only the ones from 2023",
    )


def test_recall_only_defaults_to_false_and_must_be_a_boolean() -> None:
    assert parse_request(ContextualRetrievalRequest, retrieval()).recall_only is False
    assert parse_request(ContextualRetrievalRequest, retrieval(RecallOnly=True)).recall_only is True
    assert rejected(ContextualRetrievalRequest, retrieval(RecallOnly="true")).field == "RecallOnly"


def test_smart_cluster_ids_are_bounded() -> None:
    ids = [f"SmartCluster-{i}" for i in range(imm.MAX_SMART_CLUSTER_IDS)]
    assert parse_request(ContextualRetrievalRequest, retrieval(SmartClusterIds=ids)).smart_cluster_ids == ids
    too_many = [*ids, "SmartCluster-x"]
    assert rejected(ContextualRetrievalRequest, retrieval(SmartClusterIds=too_many)).field == "SmartClusterIds"
    assert rejected(ContextualRetrievalRequest, retrieval(SmartClusterIds=[""])).field == "SmartClusterIds[0]"
    assert rejected(ContextualRetrievalRequest, retrieval(SmartClusterIds=["x" * 129])).field == "SmartClusterIds[0]"


def test_messages_are_role_content_and_files() -> None:
    history = [
        {"Role": "user", "Content": "Photos of my cat"},
        {"Role": "assistant", "Content": "Here they are.", "Files": [{"URI": URI, "ObjectId": "id1", "Elements": []}]},
        {"Role": "user", "Content": "Which is the newest?"},
    ]
    request = parse_request(ContextualRetrievalRequest, retrieval(Messages=history))
    assert request.messages[1].files == [{"URI": URI, "ObjectId": "id1", "Elements": []}]
    assert rejected(ContextualRetrievalRequest, retrieval(Messages=[{"Role": "user"}])).field == "Messages[0].Content"
    lower = [{"role": "user", "content": "x"}]
    assert rejected(ContextualRetrievalRequest, retrieval(Messages=lower)).field.startswith("Messages[0].")
    assert rejected(ContextualRetrievalRequest, {**IN_DATASET}).field == "Messages"


def test_the_request_enforces_the_message_rules() -> None:
    error = rejected(ContextualRetrievalRequest, retrieval(Messages=conversation("a", "b")))
    assert error.field == "Messages"


# --- the Messages rules, one test each --------------------------------------------------------------------------------


def test_a_single_question_is_a_conversation() -> None:
    assert validate_messages(messages(("user", "Where is the cat?"))) == ([], "Where is the cat?")


def test_messages_must_not_be_empty() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages([])
    assert caught.value.field == "Messages" and "current question" in caught.value.problem


def test_roles_are_only_user_and_assistant() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages(messages(("user", "a"), ("system", "b"), ("user", "c")))
    assert (caught.value.field, caught.value.problem) == ("Messages[1].Role", "must be user or assistant")


def test_messages_start_with_user() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages(messages(("assistant", "Hello"), ("user", "a"), ("assistant", "b")))
    assert caught.value.field == "Messages[0].Role" and caught.value.problem.startswith("must be user")


def test_messages_alternate_user_and_assistant() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages(messages(("user", "a"), ("assistant", "b"), ("assistant", "c"), ("user", "d"), ("user", "e")))
    assert caught.value.field == "Messages[2].Role"
    assert caught.value.problem == "must be user: messages alternate user and assistant, starting with user"


def test_messages_end_with_the_current_question_from_user() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages(messages(("user", "a"), ("assistant", "b")))
    assert caught.value.field == "Messages" and "2n+1" in caught.value.problem


def test_at_most_one_hundred_history_messages() -> None:
    contents = [f"m{i}" for i in range(imm.MAX_HISTORY_MESSAGES + 1)]
    history, question = validate_messages(
        [ContextualMessage.model_validate(m) for m in conversation(*contents)]
    )
    assert len(history) == 100 and question == "m100"
    too_long = [ContextualMessage.model_validate(m) for m in conversation(*contents, "extra", "question")]
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages(too_long)
    assert caught.value.field == "Messages" and "at most 100 history messages" in caught.value.problem
    assert rejected(ContextualRetrievalRequest, retrieval(Messages=conversation(*contents, "x", "y"))).field == "Messages"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_message_is_at_most_1000_characters(index: int) -> None:
    contents = ["问" * 1000] * 3
    assert validate_messages([ContextualMessage.model_validate(m) for m in conversation(*contents)])[1] == "问" * 1000
    contents[index] = "问" * 1001
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages([ContextualMessage.model_validate(m) for m in conversation(*contents)])
    assert caught.value.field == f"Messages[{index}].Content"
    assert caught.value.problem == "must be at most 1000 characters, not 1001"


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_the_current_question_must_not_be_empty(question: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_messages(messages(("user", "a"), ("assistant", ""), ("user", question)))
    assert caught.value.field == "Messages[2].Content" and "must not be empty" in caught.value.problem


def test_history_messages_may_be_empty() -> None:
    assert validate_messages(messages(("user", "a"), ("assistant", ""), ("user", "b"))) == (
        [("user", "a"), ("assistant", "")], "b",
    )


# --- response builders ------------------------------------------------------------------------------------------------

CREATED = "2026-11-21T08:30:00.123Z"
UPDATED = "2026-11-21T09:00:00Z"


def test_project_view_has_the_documented_keys() -> None:
    project = Project(name="test-project", description="immtest", created_at=CREATED, updated_at=UPDATED)
    assert imm_operations.project_view(project) == {
        "ProjectName": "test-project",
        "Description": "immtest",
        "CreateTime": "2026-11-21T08:30:00.123+00:00",
        "UpdateTime": "2026-11-21T09:00:00+00:00",
    }
    assert imm_operations.project_view(project, dataset_count=3)["DatasetCount"] == 3


def test_dataset_view_has_the_documented_keys() -> None:
    dataset = Dataset(
        project_name="test-project", name="test-dataset", description="", embedding_model="m",
        created_at=CREATED, updated_at=CREATED,
    )
    assert imm_operations.dataset_view(dataset) == {
        "ProjectName": "test-project",
        "DatasetName": "test-dataset",
        "Description": "",
        "CreateTime": "2026-11-21T08:30:00.123+00:00",
        "UpdateTime": "2026-11-21T08:30:00.123+00:00",
    }
    assert imm_operations.dataset_view(dataset, 7)["FileCount"] == 7
    assert imm_operations.dataset_view(dataset, 0, bind_count=1) == {**imm_operations.dataset_view(dataset), "FileCount": 0, "BindCount": 1}


def test_binding_view_has_the_documented_keys() -> None:
    binding = Binding(
        project_name="test-project", dataset_name="test-dataset", uri="oss://test-bucket", state="Running",
        created_at=CREATED, updated_at=UPDATED,
    )
    assert imm_operations.binding_view(binding) == {
        "ProjectName": "test-project",
        "DatasetName": "test-dataset",
        "URI": "oss://test-bucket",
        "State": "Running",
        "Reason": "",
        "CreateTime": "2026-11-21T08:30:00.123+00:00",
        "UpdateTime": "2026-11-21T09:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("stored", "wire"),
    [
        ("2026-11-21T08:30:00.123Z", "2026-11-21T08:30:00.123+00:00"),
        ("2026-11-21T08:30:00.120Z", "2026-11-21T08:30:00.12+00:00"),
        ("2026-11-21T08:30:00.000Z", "2026-11-21T08:30:00+00:00"),
        ("2026-11-21T08:30:00", "2026-11-21T08:30:00+00:00"),
        ("2021-06-29T14:50:13.011643+08:00", "2021-06-29T14:50:13.011643+08:00"),
        ("", ""),
        ("not a time", "not a time"),
    ],
)
def test_times_are_rfc3339_with_an_offset(stored: str, wire: str) -> None:
    assert imm_operations.rfc3339(stored) == wire


# --- the IMM envelope -------------------------------------------------------------------------------------------------

REQUEST_ID = "6E93D6C9-5AC0-49F9-914D-E02678D3ABCD"


def test_imm_success_is_the_data_next_to_the_request_id() -> None:
    body = success(Family.IMM, {"Project": {"ProjectName": "test-project"}}, REQUEST_ID)
    assert body == {"RequestId": REQUEST_ID, "Project": {"ProjectName": "test-project"}}
    assert next(iter(body)) == "RequestId"


def test_imm_success_request_id_is_the_call_s() -> None:
    assert success(Family.IMM, {"RequestId": "other", "EventId": "e"}, REQUEST_ID) == {
        "RequestId": REQUEST_ID, "EventId": "e",
    }


def test_imm_success_without_data_is_the_request_id_alone() -> None:
    assert success(Family.IMM, None, REQUEST_ID) == {"RequestId": REQUEST_ID}
    assert success(Family.IMM, {}, REQUEST_ID) == {"RequestId": REQUEST_ID}


def test_imm_success_refuses_data_that_is_not_a_mapping() -> None:
    with pytest.raises(TypeError):
        success(Family.IMM, [1, 2], REQUEST_ID)


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidParameterError("ProjectName", "is required"), "InvalidArgument", 400),
        (PayloadTooLargeError("The body is too large"), "InvalidArgument", 413),
        (NotFoundError("project", "test-project"), "ResourceNotFound", 404),
        (AlreadyExistsError("dataset", "test-dataset"), "ResourceAlreadyExists", 409),
        (ThrottlingError("Slow down"), "Throttling", 429),
        (InternalError("Boom"), "InternalError", 500),
        (ServiceUnavailableError("Try again"), "ServiceUnavailable", 503),
    ],
)
def test_imm_failure_codes(error: ServiceError, code: str, status: int) -> None:
    assert failure(Family.IMM, error, REQUEST_ID, host="imm.example") == {
        "Code": code, "Message": error.message, "RequestId": REQUEST_ID, "HostId": "imm.example", "Recommend": ""}
    assert error.kind.status == status


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_error_kind_has_an_imm_code(kind: ErrorKind) -> None:
    error = ServiceError("x")
    error.kind = kind
    body = failure(Family.IMM, error, REQUEST_ID)
    assert set(body) == {"Code", "Message", "RequestId", "HostId", "Recommend"} and body["Code"]


def test_the_bailian_envelope_is_unchanged() -> None:
    assert success(Family.BAILIAN, {"Nodes": []}, REQUEST_ID) == {
        "Code": "Success", "Data": {"Nodes": []}, "Message": "success", "RequestId": REQUEST_ID, "Status": "200",
        "Success": True,
    }
    assert failure(Family.BAILIAN, NotFoundError("index", "x"), REQUEST_ID) == {
        "Code": "Index.NotFound", "Message": "The specified resource index is not found: x", "RequestId": REQUEST_ID,
        "Status": "404", "Success": False,
    }
    assert failure(Family.BAILIAN, InvalidParameterError("Query", "is required"), REQUEST_ID)["Code"] == (
        "Index.InvalidParameter"
    )
