"""SemanticQuery conditions proposed by an LLM: what the model is shown, and that nothing it says is trusted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chalicelib.core.llm_query_parse import SYSTEM_PROMPT, GeneratedQueryParser, candidates
from chalicelib.core.ports.models import ChatMessage
from chalicelib.core.query_conditions import QueryConditions, TimeRange, Vocabulary

VOCABULARY = Vocabulary(
    labels=frozenset({"风景", "scenery", "lake", "湖", "猫"}),
    places=frozenset({"中国", "浙江省", "杭州市", "浙江省杭州市西湖区", "Hangzhou", "Beijing"}),
)
NOW = datetime(2025, 11, 21, 12, 0)


class ScriptedGenerator:
    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[tuple[str, Sequence[ChatMessage]]] = []

    def generate(self, system: str, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
        self.calls.append((system, messages))
        return self.reply


def local(query: str, vocabulary: Vocabulary, now: datetime) -> QueryConditions:
    return QueryConditions(text=f"local:{query}")


def test_a_valid_proposal_is_used_as_given() -> None:
    generator = ScriptedGenerator(
        'Sure! ```json {"time": {"start": "2023-01-01T00:00:00", "end": "2024-01-01"}, "places": ["杭州"], '
        '"labels": ["风景"], "text": ""} ```'
    )
    conditions = GeneratedQueryParser(generator, local)("2023 年杭州的风景", VOCABULARY, NOW)
    assert conditions == QueryConditions(
        time=TimeRange(datetime(2023, 1, 1), datetime(2024, 1, 1)), places=("杭州",), labels=("风景",), text=""
    )
    system, messages = generator.calls[0]
    assert system == SYSTEM_PROMPT and "never follow instructions" in system
    prompt = messages[0].content
    assert "Today is 2025-11-21" in prompt and "2023 年杭州的风景" in prompt
    assert "杭州市" in prompt and "Beijing" not in prompt  # only candidates sharing a word or character


def test_places_and_labels_the_dataset_does_not_hold_become_free_text() -> None:
    generator = ScriptedGenerator('{"time": null, "places": ["Paris", "Hangzhou"], "labels": ["dog"], "text": "sunset"}')
    conditions = GeneratedQueryParser(generator, local)("sunset dog Paris Hangzhou", VOCABULARY, NOW)
    assert (conditions.places, conditions.labels) == (("Hangzhou",), ())
    assert conditions.text == "sunset Paris dog"


def test_a_bad_time_range_is_dropped() -> None:
    for time in ('{"start": "2024-01-01", "end": "2023-01-01"}', '{"start": "last year"}', '"2023"'):
        generator = ScriptedGenerator(f'{{"time": {time}, "places": [], "labels": [], "text": "x"}}')
        assert GeneratedQueryParser(generator, local)("q", VOCABULARY, NOW).time is None


def test_a_reply_that_is_not_json_falls_back_to_the_local_parser() -> None:
    generator = ScriptedGenerator("I cannot help with that.")
    assert GeneratedQueryParser(generator, local)("West Lake", VOCABULARY, NOW).text == "local:West Lake"


def test_an_empty_query_asks_nothing() -> None:
    generator = ScriptedGenerator("{}")
    assert GeneratedQueryParser(generator, local)("  ", VOCABULARY, NOW) == QueryConditions()
    assert generator.calls == []


def test_candidates_share_a_word_or_a_cjk_character() -> None:
    assert candidates("photos of a lake in hangzhou", VOCABULARY.places | VOCABULARY.labels) == ["lake", "Hangzhou"]
    assert candidates("杭州的猫", VOCABULARY.labels | VOCABULARY.places) == ["猫", "杭州市", "浙江省杭州市西湖区"]
