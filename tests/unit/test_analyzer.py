"""The sparse index's analyzer (``analyze``) and the script-aware text helpers under it (``chalicelib.core.text``)."""

from __future__ import annotations

import pytest

from chalicelib.core.text import (
    ENGLISH_STOPWORDS,
    cjk_bigrams,
    is_cjk,
    split_scripts,
    split_sentences,
    words,
)
from chalicelib.search.embedded.analyzer import analyze

# --- analyze: Latin text ----------------------------------------------------------------------------------------------


def test_analyze_lower_cases() -> None:
    assert analyze("Zebra ZEBRA zebra") == ["zebra", "zebra", "zebra"]


@pytest.mark.parametrize(
    ("text", "stem"),
    [("running", "run"), ("runs", "run"), ("RUNNING", "run"), ("crossings", "cross"), ("stripes", "stripe"),
     ("vaccines", "vaccin"), ("vaccine", "vaccin")],
)
def test_analyze_applies_the_english_stemmer(text: str, stem: str) -> None:
    assert analyze(text) == [stem]


def test_analyze_keeps_duplicates_and_stop_words() -> None:
    """Term frequency matters to BM25, and the analyzer has no stop-word filter."""
    assert analyze("the dog and the cat") == ["the", "dog", "and", "the", "cat"]


def test_analyze_splits_on_punctuation_and_underscores() -> None:
    assert analyze("state-of-the-art e-mail, foo_bar; v2.5!") == [
        "state", "of", "the", "art", "e", "mail", "foo", "bar", "v2", "5"
    ]


def test_analyze_keeps_accented_letters_lower_cased() -> None:
    assert analyze("CAFÉ Ünïcödé") == ["café", "ünïcödé"]


def test_analyze_drops_tokens_of_forty_bytes_or_more() -> None:
    """Pinned: the cap is tantivy's ``remove_long(40)``, which counts UTF-8 bytes and drops length >= 40."""
    kept = "a" * 39
    assert analyze(f"short {kept} {'b' * 40} {'c' * 200} tail") == ["short", kept, "tail"]
    # 20 two-byte letters are 40 bytes: dropped although only 20 characters long.
    assert analyze("é" * 20) == []
    assert analyze("é" * 19) == ["é" * 19]


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "?!.,;:", "——"])
def test_analyze_of_nothing_searchable_is_empty(text: str) -> None:
    assert analyze(text) == []


# --- analyze: CJK ----------------------------------------------------------------------------------------------------


def test_analyze_turns_chinese_runs_into_overlapping_bigrams() -> None:
    assert analyze("阿里云百炼") == ["阿里", "里云", "云百", "百炼"]


def test_analyze_keeps_a_single_cjk_character_as_a_unigram() -> None:
    assert analyze("云") == ["云"]
    assert analyze("a 云 b") == ["a", "云", "b"]


def test_analyze_does_not_bridge_bigrams_across_punctuation() -> None:
    assert analyze("你好，世界。") == ["你好", "世界"]


def test_analyze_handles_japanese_kana_and_kanji() -> None:
    assert analyze("ひらがな") == ["ひら", "らが", "がな"]
    assert analyze("カタカナ") == ["カタ", "タカ", "カナ"]
    assert analyze("東京タワー") == ["東京", "京タ", "タワ", "ワー"]


def test_analyze_handles_hangul() -> None:
    assert analyze("한국어") == ["한국", "국어"]


def test_analyze_keeps_the_order_of_mixed_text() -> None:
    assert analyze("Hello 阿里云 Running 云 end") == ["hello", "阿里", "里云", "run", "云", "end"]


def test_analyze_splits_latin_glued_to_cjk() -> None:
    assert analyze("使用API调用") == ["使用", "api", "调用"]


# --- text helpers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["阿", "ひ", "カ", "ｶ", "한", "㐀", "豈"])
def test_is_cjk_recognises_cjk_characters(char: str) -> None:
    assert is_cjk(char)


@pytest.mark.parametrize("char", ["a", "é", "1", "，", "。", " ", "Ж"])
def test_is_cjk_rejects_other_characters(char: str) -> None:
    assert not is_cjk(char)


def test_cjk_bigrams() -> None:
    assert cjk_bigrams("阿里云") == ["阿里", "里云"]
    assert cjk_bigrams("云") == ["云"]
    assert cjk_bigrams("") == []


@pytest.mark.parametrize(
    "text",
    ["", "plain english", "阿里云", "abc阿里def云", "  阿里云 百炼, and 東京タワー! 한국어 end  ", "云a云", "a\n\n云\t"],
)
def test_split_scripts_covers_the_input_exactly(text: str) -> None:
    pieces = list(split_scripts(text))

    assert "".join(segment for _, segment in pieces) == text
    assert all(segment for _, segment in pieces)
    for cjk, segment in pieces:
        assert all(is_cjk(char) == cjk for char in segment)
    # Adjacent pieces alternate between scripts: a run is never split in two.
    assert all(first[0] != second[0] for first, second in zip(pieces, pieces[1:]))


def test_split_scripts_labels_each_run() -> None:
    assert list(split_scripts("abc阿里def云")) == [(False, "abc"), (True, "阿里"), (False, "def"), (True, "云")]


def test_words_lower_cases_latin_and_splits_cjk_per_character() -> None:
    assert words("Hello, World! 阿里云 foo_bar x-y ÉCOLE 42") == [
        "hello", "world", "阿", "里", "云", "foo", "bar", "x", "y", "école", "42"
    ]


def test_words_of_punctuation_is_empty() -> None:
    assert words(" ,.!? ——。") == []


def test_split_sentences_on_latin_punctuation() -> None:
    assert split_sentences("Hello world. How are you? Fine! Next; done") == [
        "Hello world.", "How are you?", "Fine!", "Next;", "done"
    ]


def test_split_sentences_on_chinese_punctuation_without_spaces() -> None:
    assert split_sentences("你好。我很好！真的吗？是的；好") == ["你好。", "我很好！", "真的吗？", "是的；", "好"]


def test_split_sentences_on_blank_lines_and_drops_blank_pieces() -> None:
    assert split_sentences("First paragraph\n\nSecond paragraph\n\n\n\n  ") == ["First paragraph", "Second paragraph"]
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []


def test_split_sentences_keeps_a_decimal_point_and_a_single_newline() -> None:
    assert split_sentences("Pi is 3.14 roughly\nsee below. Then more") == [
        "Pi is 3.14 roughly\nsee below.", "Then more"
    ]


def test_split_sentences_mixed_languages() -> None:
    assert split_sentences("阿里云百炼是平台。It has an API. 支持检索！") == [
        "阿里云百炼是平台。", "It has an API.", "支持检索！"
    ]


def test_split_sentences_pins_abbreviations_as_sentence_ends() -> None:
    """Pinned: no abbreviation handling, so "e.g. this" is two sentences."""
    assert split_sentences("Use a filter, e.g. this one.") == ["Use a filter, e.g.", "this one."]


def test_english_stopwords_are_lower_case_function_words() -> None:
    assert {"the", "and", "what", "about"} <= ENGLISH_STOPWORDS
    assert all(word == word.lower() for word in ENGLISH_STOPWORDS)
    assert "warranty" not in ENGLISH_STOPWORDS
