"""SemanticQuery over HTTP (``chalice.test.Client``, local stage, hashing embedder) on the synthetic photo library.

The library (``tests.fakes.photos``) is indexed through BatchIndexFileMeta, 100 files per call as documented, so what
is checked is the whole documented path: conditions from the Query filter the files, WithFields projects them,
MediaTypes and MaxResults narrow them, SourceURI searches by a file. The service's ``now`` is the real clock here, so
no query uses a relative time ("去年", "last summer"): those are the benchmark's business, at a fixed now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from chalicelib.core.file_fields import label_values, place_values
from chalicelib.core.media_files import wall_clock
from tests.api.conftest import Api, Reply
from tests.fakes.photos import photo_files

PROJECT, DATASET = "album", "photos"
IN_DATASET = {"ProjectName": PROJECT, "DatasetName": DATASET}
SEED_QUERY = "2023 年杭州的风景"
LAKE_IMAGE = "s3://sift-photos/20190712-hangzhou-02.jpg"  # labels 风景/scenery and 湖泊/lake


def call(api: Api, operation: str, body: Mapping[str, Any]) -> Reply:
    return api.post(f"/imm/{operation}", dict(body))


def ok(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    assert isinstance(reply.body, dict) and reply.body["RequestId"]
    return reply.body


def error(reply: Reply, status: int, code: str) -> str:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"Code", "Message", "RequestId", "HostId", "Recommend"}, reply.body
    assert reply.body["Code"] == code
    return str(reply.body["Message"])


def semantic(api: Api, **fields: Any) -> list[dict[str, Any]]:
    files = ok(call(api, "SemanticQuery", {**IN_DATASET, **fields}))["Files"]
    assert isinstance(files, list)
    return files


def in_2023_hangzhou_scenery(file: Mapping[str, Any]) -> bool:
    """The seed's reading of "2023 年杭州的风景", evaluated on the given fields (wall-clock ProduceTime)."""
    produced = wall_clock(file.get("ProduceTime"))
    return (
        produced is not None and datetime(2023, 1, 1) <= produced < datetime(2024, 1, 1)
        and any("杭州" in value for value in place_values(file))
        and any("风景" in value for value in label_values(file))
    )


def uris(files: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(file["URI"]) for file in files}


@pytest.fixture
def album(api: Api) -> Api:
    ok(call(api, "CreateProject", {"ProjectName": PROJECT}))
    ok(call(api, "CreateDataset", IN_DATASET))
    files = photo_files()
    for start in range(0, len(files), 100):
        indexed = ok(call(api, "BatchIndexFileMeta", {**IN_DATASET, "Files": files[start:start + 100]}))["Files"]
        assert {item["ObjectStatus"] for item in indexed} == {"Indexed"}, indexed
    return api


def test_the_seed_example_returns_exactly_the_files_meeting_its_three_conditions(album: Api) -> None:
    library = photo_files()
    expected_images = {
        file["URI"] for file in library if file["MediaType"] == "image" and in_2023_hangzhou_scenery(file)
    }
    assert len(expected_images) >= 2  # the dataset holds such files, or this test would prove nothing
    files = semantic(album, Query=SEED_QUERY)
    assert files and all(in_2023_hangzhou_scenery(file) for file in files), [file["URI"] for file in files]
    assert uris(files) == expected_images
    # Wall-clock semantics: 2023-01-01T07:00+08:00 (2022 in UTC) is in, 2024-01-01T00:30+08:00 (2023 in UTC) is out.
    assert "s3://sift-photos/20230101-hangzhou-01.jpg" in uris(files)
    assert "s3://sift-photos/20240101-hangzhou-01.jpg" not in uris(files)
    for file in files:  # a query result carries no Elements (those are ContextualRetrieval's)
        assert file["MediaType"] == "image" and "Elements" not in file
        assert 0 <= file["SemanticSimilarity"] <= 1


def test_the_documented_sample_query_and_an_english_one(album: Api) -> None:
    april = semantic(album, Query="2021年4月杭州的风景")
    assert april and all(file["ProduceTime"].startswith("2021-04") for file in april)
    english = semantic(album, Query="Hangzhou scenery in 2023")
    assert uris(english) == uris(semantic(album, Query=SEED_QUERY))


def test_with_fields_projects_each_file_onto_the_named_fields_and_uri(album: Api) -> None:
    files = semantic(album, Query=SEED_QUERY, WithFields=["Title", "ProduceTime", "NoSuchField"])
    assert files
    for file in files:
        assert set(file) == {"URI", "Title", "ProduceTime"}
    everything = semantic(album, Query=SEED_QUERY)
    assert {"Labels", "Addresses", "ObjectId", "Insights", "ProjectName"} <= set(everything[0])
    assert semantic(album, Query=SEED_QUERY, WithFields=["URI"]) == [{"URI": file["URI"]} for file in everything]


def test_media_types_default_to_images_and_filter_to_what_is_asked(album: Api) -> None:
    video = "s3://sift-photos/20230415-hangzhou-01.mp4"  # 2023, Hangzhou, scenery: a video
    default = semantic(album, Query=SEED_QUERY)
    assert {file["MediaType"] for file in default} == {"image"} and video not in uris(default)
    videos = semantic(album, Query=SEED_QUERY, MediaTypes=["video"])
    assert uris(videos) == {video}
    both = semantic(album, Query=SEED_QUERY, MediaTypes=["image", "video"])
    assert uris(both) == uris(default) | {video}
    all_videos = semantic(album, Query="中国", MediaTypes=["video"])
    assert all_videos and {file["MediaType"] for file in all_videos} == {"video"}


def test_max_results_caps_the_count_and_never_exceeds_100(album: Api) -> None:
    china_images = [
        file for file in photo_files()
        if file["MediaType"] == "image" and any(value == "中国" for value in place_values(file))
    ]
    assert len(china_images) > 100  # enough matches for the documented cap to bite
    assert len(semantic(album, Query="中国", MaxResults=5)) == 5
    assert len(semantic(album, Query="中国", MaxResults=1)) == 1
    assert len(semantic(album, Query="中国", MaxResults=1000)) == 100
    assert len(semantic(album, Query="中国")) == 100
    first_five = semantic(album, Query="中国", MaxResults=5)
    assert [file["URI"] for file in first_five] == [file["URI"] for file in semantic(album, Query="中国")][:5]
    for bad in (0, 1001):
        assert "MaxResults" in error(call(album, "SemanticQuery", {**IN_DATASET, "Query": "中国", "MaxResults": bad}),
                                     400, "InvalidArgument")


def test_source_uri_returns_similar_files_without_the_file_itself(album: Api) -> None:
    source = next(file for file in photo_files() if file["URI"] == LAKE_IMAGE)
    similar = semantic(album, SourceURI=LAKE_IMAGE)
    assert similar and LAKE_IMAGE not in uris(similar)
    assert {file["MediaType"] for file in similar} == {"image"}
    # The closest file shows the same thing: the same labels (the file vector is built from what is said about it).
    assert set(label_values(similar[0])) == set(label_values(source))
    scores = [file["SemanticSimilarity"] for file in similar]
    assert scores == sorted(scores, reverse=True)
    videos = semantic(album, SourceURI=LAKE_IMAGE, MediaTypes=["video"])
    assert videos and {file["MediaType"] for file in videos} == {"video"}
    assert len(semantic(album, SourceURI=LAKE_IMAGE, MaxResults=3)) == 3


def test_source_uri_of_an_unindexed_file_is_404(album: Api) -> None:
    reply = call(album, "SemanticQuery", {**IN_DATASET, "SourceURI": "s3://sift-photos/never-indexed.jpg"})
    assert error(reply, 404, "ResourceNotFound").startswith("The specified resource file is not found")


@pytest.mark.parametrize(
    "fields",
    [{}, {"Query": "   "}, {"Query": SEED_QUERY, "SourceURI": LAKE_IMAGE}, {"WithFields": ["URI"]}],
    ids=["neither", "blank-query", "both", "only-with-fields"],
)
def test_exactly_one_of_query_and_source_uri_is_required(album: Api, fields: dict[str, Any]) -> None:
    message = error(call(album, "SemanticQuery", {**IN_DATASET, **fields}), 400, "InvalidArgument")
    assert "Query" in message and "SourceURI" in message


@pytest.mark.parametrize(
    ("names", "resource"),
    [({"ProjectName": PROJECT, "DatasetName": "nothing"}, "dataset"),
     ({"ProjectName": "nowhere", "DatasetName": DATASET}, "project")],
)
def test_unknown_dataset_or_project_is_404(album: Api, names: dict[str, str], resource: str) -> None:
    for fields in ({"Query": SEED_QUERY}, {"SourceURI": LAKE_IMAGE}):
        message = error(call(album, "SemanticQuery", {**names, **fields}), 404, "ResourceNotFound")
        assert message.startswith(f"The specified resource {resource} is not found")
