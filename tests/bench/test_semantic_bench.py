"""The SemanticQuery benchmark runs end to end on the synthetic photo library, and its labels mean what they say.

The benchmark's figures on the real model are in the README; here the fast hashing embedder is enough (the condition
measures do not depend on the embedder at all), and the checks are that it reports what it promises, that the seed's
example parses exactly, and that the labelled queries are consistent with the library they are judged against.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import semantic
from chalicelib.core.file_fields import label_values, place_values
from chalicelib.core.query_conditions import QueryConditions, TimeRange
from tests.fakes.photos import NOW, photo_files

SEED_QUERY = "2023 年杭州的风景"


def last_json(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def library() -> semantic.Library:
    return semantic.Library(photo_files())


def test_the_bench_reports_condition_and_result_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert semantic.main(["--embedder", "hashing", "--json"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("| metric | zh | en | all |")
    report = last_json(output)
    assert report["embedder"] == "hashing" and report["files"] == len(photo_files())
    assert report["queries"] == len(semantic.load_queries()) == len(report["per_query"])
    for kind in (*semantic.KINDS, "overall"):
        for measure in ("precision", "recall"):
            assert 0 <= report["conditions"][kind][measure] <= 1, (kind, measure)
    assert 0 <= report["parsed_exactly"] <= 1
    results = report["results"]
    assert 0 <= results["p@10"] <= 1 and 0 <= results["only_matching"] <= 1 and 0 <= results["recall"] <= 1
    assert results["p@10_queries"] == report["queries"]  # every labelled query has a matching file
    assert set(report["by_language"]) == {"zh", "en"}
    seed = next(item for item in report["per_query"] if item["query"] == SEED_QUERY)
    assert seed["exact"] is True and seed["p@10"] == 1.0 and seed["only_matching"] is True
    assert seed["parsed"] == {
        "time": ["2023-01-01T00:00:00", "2024-01-01T00:00:00"], "places": ["杭州"], "labels": ["风景"], "text": "",
    }


def test_the_labelled_queries_cover_both_languages_and_the_seed_examples() -> None:
    queries = semantic.load_queries()
    assert sum(1 for q in queries if q.lang == "zh") >= 20 and sum(1 for q in queries if q.lang == "en") >= 20
    texts = {q.query for q in queries}
    assert {SEED_QUERY, "2021年4月杭州的风景", "去年夏天三亚的海滩", "beach in Sanya last summer"} <= texts
    assert len(texts) == len(queries)


def test_every_labelled_condition_is_one_the_library_can_answer(library: semantic.Library) -> None:
    """A place or label that no file holds could never be a condition (the parser only uses the vocabulary)."""
    places = {value.casefold() for file in photo_files() for value in place_values(file)}
    labels = {value.casefold() for file in photo_files() for value in label_values(file)}
    for labelled in semantic.load_queries():
        for place in labelled.places:
            assert any(place.casefold() in value for value in places), (labelled.query, place)
        for label in labelled.labels:
            assert any(label.casefold() in value for value in labels), (labelled.query, label)
        assert library.relevant(labelled), labelled.query  # something to find


@pytest.mark.parametrize("absent", ["东京", "Tokyo", "纽约", "New York", "樱花", "cherry blossom"])
def test_places_and_labels_the_queries_call_absent_are_absent(absent: str) -> None:
    for file in photo_files():
        assert not any(absent.casefold() in value.casefold() for value in place_values(file) + label_values(file))


def test_the_library_is_deterministic_and_has_files_without_time_or_address() -> None:
    files = photo_files()
    assert files == photo_files()
    assert 150 <= len(files) <= 300 and len({file["URI"] for file in files}) == len(files)
    videos = [file for file in files if file["MediaType"] == "video"]
    assert 0.05 <= len(videos) / len(files) <= 0.15 and all(file["URI"].endswith(".mp4") for file in videos)
    assert any("ProduceTime" not in file for file in files) and any("Addresses" not in file for file in files)
    assert any(not file.get("ProduceTime", "").endswith("+08:00") for file in files if "ProduceTime" in file)
    assert NOW.tzinfo is None


def test_a_condition_is_right_when_it_selects_the_same_files(library: semantic.Library) -> None:
    assert semantic.same_value("place", "杭州", "杭州市", library)  # the dataset's own spelling, same files
    assert semantic.same_value("place", "hangzhou", "Hangzhou", library)
    assert not semantic.same_value("place", "杭州", "浙江", library)
    assert not semantic.same_value("label", "美食", "火锅", library)  # 火锅 contains no 美食 and selects fewer


def test_scoring_counts_atoms_per_kind(library: semantic.Library) -> None:
    labelled = next(q for q in semantic.load_queries() if q.query == SEED_QUERY)
    assert labelled.time is not None
    wrong_year = QueryConditions(
        TimeRange(labelled.time.start.replace(year=2022), labelled.time.end.replace(year=2023)),
        ("杭州市",), ("风景", "湖泊"),
    )
    tallies = semantic.score_conditions(labelled, wrong_year, library)
    assert (tallies["time"].right, tallies["time"].produced, tallies["time"].labelled) == (0, 1, 1)
    assert (tallies["place"].right, tallies["place"].produced, tallies["place"].labelled) == (1, 1, 1)
    assert (tallies["label"].right, tallies["label"].produced, tallies["label"].labelled) == (1, 2, 1)
