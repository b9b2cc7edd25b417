"""The media-dataset service on the local stage: projects, datasets, files, bindings and ContextualRetrieval."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.composition import build_services
from chalicelib.core.conversation import Conversation
from chalicelib.core.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from chalicelib.core.media import MediaService
from chalicelib.core.media_files import metadata_text
from chalicelib.core.ports.catalog import Dataset
from chalicelib.core.ports.models import ChatMessage
from chalicelib.settings import Settings

PHOTO = {
    "URI": "oss://examplebucket/west-lake.jpg",
    "Title": "West Lake at dusk",
    "Labels": [{"LabelName": "风景", "LabelConfidence": 0.98}, {"LabelName": "lake"}],
    "Addresses": [{"Country": "中国", "Province": "浙江省", "City": "杭州市", "AddressLine": "西湖"}],
    "Insights": {"Image": {"Caption": "a pagoda above the water", "Description": "Leifeng Pagoda at sunset"}},
    "SmartClusters": [{"SmartClusterId": "SmartCluster-lakes", "Similarity": 0.9}],
    "Size": 1000,
}
TICKET = {
    "URI": "oss://examplebucket/museum-ticket.png",
    "OCRTexts": "Palace Museum admission ticket 60 yuan",
    "SmartClusters": [{"SmartClusterId": "SmartCluster-tickets"}],
}


@pytest.fixture
def media(tmp_path: Path) -> MediaService:
    settings = Settings(data_dir=tmp_path / "data", embedder="hashing", embedding_cache=None)
    return build_services(settings).media


@pytest.fixture
def dataset(media: MediaService) -> Dataset:
    media.create_project("travel")
    return media.create_dataset("travel", "photos")


def ask(*turns: str) -> Conversation:
    *history, question = turns
    roles = ["user" if position % 2 == 0 else "assistant" for position in range(len(history))]
    return Conversation(tuple(ChatMessage(role, text) for role, text in zip(roles, history)), question)


def test_projects_and_datasets_are_unique_and_named_in_errors(media: MediaService, dataset: Dataset) -> None:
    with pytest.raises(AlreadyExistsError, match="project"):
        media.create_project("travel")
    with pytest.raises(AlreadyExistsError, match="dataset"):
        media.create_dataset("travel", "photos")
    with pytest.raises(NotFoundError, match="The specified resource project is not found"):
        media.create_dataset("nowhere", "photos")
    with pytest.raises(NotFoundError, match="The specified resource dataset is not found"):
        media.get_dataset("travel", "videos")
    media.create_dataset("travel", "videos")
    datasets, total = media.list_datasets("travel", prefix="v", offset=0, limit=10)
    assert ([item.name for item in datasets], total) == (["videos"], 1)


def test_media_files_are_found_by_what_is_said_about_them(media: MediaService, dataset: Dataset) -> None:
    outcomes = media.index_files(dataset, [PHOTO, TICKET])
    assert [outcome.status for outcome in outcomes] == ["FINISH", "FINISH"]
    files = media.contextual_retrieval(dataset, ask("pagoda by the lake"), recall_only=True)
    assert files[0].record.uri == PHOTO["URI"]
    assert files[0].media_type == "image"
    assert files[0].given == PHOTO  # stored and returned as given
    assert files[0].similarity == max(element.score for element in files[0].elements)
    assert "杭州市" in files[0].elements[0].chunk.text  # the address is part of the searchable text


def test_the_conversation_supplies_the_subject_a_follow_up_leaves_out(media: MediaService, dataset: Dataset) -> None:
    media.index_files(dataset, [PHOTO, TICKET])
    conversation = ask("Show me the Palace Museum pictures", "Here is the museum.", "how much was the admission?")
    files = media.contextual_retrieval(dataset, conversation)
    assert files[0].record.uri == TICKET["URI"]


def test_smart_cluster_ids_keep_only_those_clusters(media: MediaService, dataset: Dataset) -> None:
    media.index_files(dataset, [PHOTO, TICKET])
    files = media.contextual_retrieval(dataset, ask("museum ticket"), smart_cluster_ids=["SmartCluster-lakes"])
    assert [file.record.uri for file in files] == [PHOTO["URI"]]


def test_the_same_file_indexed_twice_is_one_file_and_a_deleted_one_is_gone_at_once(
    media: MediaService, dataset: Dataset
) -> None:
    media.index_files(dataset, [PHOTO])
    media.index_files(dataset, [{**PHOTO, "Title": "West Lake at night"}])
    assert media.file_count(dataset) == 1
    assert media.get_file(dataset, PHOTO["URI"]).given["Title"] == "West Lake at night"
    assert media.delete_files(dataset, [PHOTO["URI"], "oss://examplebucket/never.jpg"]) == (
        [PHOTO["URI"]], ["oss://examplebucket/never.jpg"],
    )
    assert media.contextual_retrieval(dataset, ask("West Lake"), recall_only=True) == []
    with pytest.raises(NotFoundError, match="file"):
        media.get_file(dataset, PHOTO["URI"])


def test_documents_become_elements_and_unreadable_ones_keep_their_metadata(
    media: MediaService, dataset: Dataset, tmp_path: Path
) -> None:
    guide = tmp_path / "guide.txt"
    guide.write_text("Hangzhou travel guide.\n\nThe boat tour around West Lake takes forty minutes.", encoding="utf-8")
    unreadable = {"URI": "oss://examplebucket/notes.txt", "Title": "Notes about Suzhou gardens"}
    media.index_files(dataset, [{"URI": guide.as_uri()}, unreadable])
    document = media.get_file(dataset, guide.as_uri())
    assert (document.media_type, document.record.reason) == ("document", "")
    notes = media.get_file(dataset, unreadable["URI"])
    assert "could not be read" in notes.record.reason
    files = media.contextual_retrieval(dataset, ask("how long is the boat tour?"), recall_only=True)
    assert files[0].record.uri == guide.as_uri()
    assert "forty minutes" in files[0].elements[0].chunk.text
    assert media.contextual_retrieval(dataset, ask("Suzhou gardens"), recall_only=True)[0].record.uri == unreadable["URI"]


def test_a_binding_indexes_what_is_there_and_follows_changes(
    media: MediaService, dataset: Dataset, tmp_path: Path
) -> None:
    folder = tmp_path / "bound"
    folder.mkdir()
    (folder / "a.txt").write_text("Lingyin Temple opens at seven.", encoding="utf-8")
    binding = media.create_binding("travel", "photos", folder.as_uri() + "/")
    assert binding.state == "Running"
    assert media.file_count(dataset) == 1
    with pytest.raises(AlreadyExistsError, match="binding"):
        media.create_binding("travel", "photos", folder.as_uri() + "/")
    (folder / "b.txt").write_text("The tea fields of Longjing village.", encoding="utf-8")
    assert [outcome.status for outcome in media.on_object_created((folder / "b.txt").as_uri())] == ["FINISH"]
    assert media.file_count(dataset) == 2
    (folder / "a.txt").unlink()
    assert media.on_object_removed((folder / "a.txt").as_uri()) == 1
    assert media.file_count(dataset) == 1
    with pytest.raises(InvalidParameterError, match="URI"):
        media.create_binding("travel", "photos", "ftp://elsewhere/")


def test_metadata_text_reads_the_documented_fields() -> None:
    text = metadata_text(PHOTO, "west-lake.jpg")
    for expected in ("West Lake at dusk", "风景", "a pagoda above the water", "Leifeng Pagoda", "浙江省", "west-lake.jpg"):
        assert expected in text
