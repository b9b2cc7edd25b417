"""Behaviour of ``chalicelib.core.chunking``: sizes, overlap, CJK, heading boundaries and determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.core.chunking import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_OVERLAP,
    MAX_CHUNK_SIZE,
    MAX_OVERLAP,
    Chunk,
    chunk_blocks,
)
from chalicelib.core.extraction import TextBlock, extract
from chalicelib.core.text import is_cjk
from tests.fixtures.demo import demo_documents

ENGLISH = " ".join(
    f"Sentence {index} explains that the tent model {index} weighs {index + 1} kilograms." for index in range(40)
)
CHINESE = "".join(f"第{index}句说明帐篷型号{index}的重量是{index + 1}公斤。" for index in range(40))


def assert_valid(chunks: list[Chunk], chunk_size: int) -> None:
    """Invariants every chunking must hold."""
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= chunk_size


def test_defaults() -> None:
    assert (DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, MAX_CHUNK_SIZE, MAX_OVERLAP) == (1200, 200, 2048, 1024)


def test_short_text_is_one_chunk() -> None:
    assert chunk_blocks([TextBlock("Just one sentence.", ("Intro",))]) == [
        Chunk(text="Just one sentence.", headings=("Intro",), position=0)
    ]


def test_no_blocks_no_chunks() -> None:
    assert chunk_blocks([]) == []
    assert chunk_blocks([TextBlock("   "), TextBlock("\n")]) == []


@pytest.mark.parametrize(("chunk_size", "overlap"), [(500, 100), (200, 50), (120, 0), (80, 79), (2048, 1024), (1, 0)])
def test_sizes_are_respected(chunk_size: int, overlap: int) -> None:
    blocks = [TextBlock(ENGLISH), TextBlock(CHINESE), TextBlock("x" * 3000), TextBlock("词" * 700)]
    chunks = chunk_blocks(blocks, chunk_size=chunk_size, overlap=overlap)
    assert_valid(chunks, chunk_size)


def test_english_chunks_hold_whole_sentences() -> None:
    chunks = chunk_blocks([TextBlock(ENGLISH)], chunk_size=300, overlap=0)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence ")
        assert chunk.text.endswith("kilograms.")
    assert " ".join(chunk.text for chunk in chunks) == ENGLISH


def test_overlap_repeats_trailing_whole_sentences() -> None:
    chunks = chunk_blocks([TextBlock(ENGLISH)], chunk_size=300, overlap=100)
    assert len(chunks) > 3
    for previous, current in zip(chunks, chunks[1:]):
        last_sentence = previous.text.rsplit(". ", 1)[-1]
        assert len(last_sentence) <= 100
        assert current.text.startswith(last_sentence + " ")
    # Every sentence of the text is somewhere in the chunks.
    for index in range(40):
        assert any(f"tent model {index} weighs" in chunk.text for chunk in chunks)


def test_overlap_takes_several_short_sentences_up_to_the_budget() -> None:
    text = "Aa. Bb. Cc. Dd. Ee. Ff. Gg. Hh. Ii. Jj."
    chunks = chunk_blocks([TextBlock(text)], chunk_size=20, overlap=8)
    assert [chunk.text for chunk in chunks] == ["Aa. Bb. Cc. Dd. Ee.", "Dd. Ee. Ff. Gg. Hh.", "Gg. Hh. Ii. Jj."]


def test_zero_overlap_partitions_the_text() -> None:
    chunks = chunk_blocks([TextBlock(CHINESE)], chunk_size=100, overlap=0)
    assert "".join(chunk.text for chunk in chunks) == CHINESE


def test_cjk_sentences_are_joined_without_spaces() -> None:
    chunks = chunk_blocks([TextBlock(CHINESE)], chunk_size=120, overlap=30)
    assert len(chunks) > 3
    for chunk in chunks:
        assert " " not in chunk.text
        assert chunk.text.startswith("第") and chunk.text.endswith("。")
    for previous, current in zip(chunks, chunks[1:]):
        last_sentence = previous.text.rstrip("。").rsplit("。", 1)[-1] + "。"
        assert current.text.startswith(last_sentence)


def test_cjk_without_punctuation_is_cut_between_characters() -> None:
    text = "帐篷睡袋背包登山杖" * 50  # 450 characters, no sentence punctuation
    chunks = chunk_blocks([TextBlock(text)], chunk_size=100, overlap=20)
    assert_valid(chunks, 100)
    assert all(" " not in chunk.text for chunk in chunks)
    assert len(chunks) >= 5
    # Consecutive slices share exactly their overlap characters.
    for previous, current in zip(chunks, chunks[1:]):
        shared = next(size for size in range(20, 0, -1) if previous.text.endswith(current.text[:size]))
        assert 1 <= shared <= 20
    stitched = chunks[0].text
    for previous, current in zip(chunks, chunks[1:]):
        shared = next(size for size in range(20, 0, -1) if previous.text.endswith(current.text[:size]))
        stitched += current.text[shared:]
    assert stitched == text


def test_long_latin_sentence_is_cut_at_word_boundaries() -> None:
    words = [f"word{index:03d}" for index in range(300)]
    sentence = " ".join(words) + "."
    chunks = chunk_blocks([TextBlock(sentence)], chunk_size=200, overlap=40)
    assert_valid(chunks, 200)
    vocabulary = set(words) | {words[-1] + "."}
    for chunk in chunks:
        assert set(chunk.text.split(" ")) <= vocabulary  # never a fragment of a word
    for previous, current in zip(chunks, chunks[1:]):
        before, after = previous.text.split(" "), current.text.split(" ")
        shared = max(size for size in range(len(after) + 1) if before[len(before) - size :] == after[:size])
        assert shared >= 1  # the next chunk opens with the previous chunk's trailing words ...
        assert len(" ".join(after[:shared])) <= 40  # ... no more than the overlap allows
    assert " ".join(chunks[0].text.split(" ")[:3]) == "word000 word001 word002"
    assert chunks[-1].text.endswith("word299.")


def test_single_word_longer_than_a_chunk_is_cut() -> None:
    chunks = chunk_blocks([TextBlock("a" * 250)], chunk_size=100, overlap=10)
    assert_valid(chunks, 100)
    assert "".join(chunk.text for chunk in chunks) == "a" * 250


def test_chunks_never_cross_heading_paths() -> None:
    blocks = [
        TextBlock("Intro text.", ("Guide",)),
        TextBlock("Tents last five years.", ("Guide", "Warranty")),
        TextBlock("Packs last ten years.", ("Guide", "Warranty")),
        TextBlock("Ship in two days.", ("Guide", "Shipping")),
    ]
    chunks = chunk_blocks(blocks)
    assert chunks == [
        Chunk("Intro text.", ("Guide",), 0),
        Chunk("Tents last five years.\nPacks last ten years.", ("Guide", "Warranty"), 1),
        Chunk("Ship in two days.", ("Guide", "Shipping"), 2),
    ]


def test_no_overlap_across_heading_paths() -> None:
    section_a = " ".join(f"Alpha fact number {index}." for index in range(30))
    section_b = " ".join(f"Beta fact number {index}." for index in range(30))
    chunks = chunk_blocks([TextBlock(section_a, ("A",)), TextBlock(section_b, ("B",))], chunk_size=150, overlap=60)
    assert_valid(chunks, 150)
    for chunk in chunks:
        if chunk.headings == ("A",):
            assert "Beta" not in chunk.text
        else:
            assert chunk.headings == ("B",) and "Alpha" not in chunk.text
    first_b = next(chunk for chunk in chunks if chunk.headings == ("B",))
    assert first_b.text.startswith("Beta fact number 0.")


def test_small_blocks_under_the_same_headings_are_merged() -> None:
    blocks = [TextBlock(f"Store {index} opens at {8 + index} am.", ("Stores",)) for index in range(10)]
    chunks = chunk_blocks(blocks, chunk_size=100, overlap=0)
    assert_valid(chunks, 100)
    assert [chunk.text.count("\n") + 1 for chunk in chunks] == [4, 4, 2]
    assert chunks[0].text == "\n".join(f"Store {index} opens at {8 + index} am." for index in range(4))


def test_a_block_that_fits_a_chunk_is_not_split() -> None:
    record = "sku: LK-{0}\nname: Product {0}\ndescription: A fine product that does many useful things."
    blocks = [TextBlock(record.format(index)) for index in range(6)]
    chunks = chunk_blocks(blocks, chunk_size=200, overlap=50)
    assert_valid(chunks, 200)
    for chunk in chunks:
        assert chunk.text.startswith("sku: LK-")
    for index in range(6):
        assert any(record.format(index) in chunk.text for chunk in chunks)


def test_mixed_english_and_chinese() -> None:
    text = (
        "Larkspur Outdoor sells tents. 拉克斯珀户外销售帐篷。我们在杭州、上海和北京有门店。"
        "The Trailhead 2P costs $249. 保修期为 5 年。Returns are accepted within 60 days."
    )
    whole = chunk_blocks([TextBlock(text)], chunk_size=500, overlap=0)
    assert [chunk.text for chunk in whole] == [text]
    chunks = chunk_blocks([TextBlock(text)], chunk_size=40, overlap=10)
    assert_valid(chunks, 40)
    joined = " ".join(chunk.text for chunk in chunks)
    fragments = ("拉克斯珀户外销售帐篷。", "我们在杭州、上海和北京有门店。", "The Trailhead 2P costs $249.", "保修期为 5 年。")
    for fragment in fragments:
        assert fragment in joined
    for chunk in chunks:  # a space only where the source had one, never between two CJK characters
        assert "。 " not in chunk.text
        triples = zip(chunk.text, chunk.text[1:], chunk.text[2:])
        assert not any(is_cjk(left) and middle == " " and is_cjk(right) for left, middle, right in triples)


def test_list_lines_keep_their_line_breaks() -> None:
    chunks = chunk_blocks([TextBlock("Options:\n- Standard: $6.95.\n- Expedited: $14.95.\n- Overnight: $29.95.")])
    assert chunks[0].text == "Options:\n- Standard: $6.95.\n- Expedited: $14.95.\n- Overnight: $29.95."


def test_chunking_is_deterministic() -> None:
    blocks = [TextBlock(ENGLISH, ("A",)), TextBlock(CHINESE, ("B",)), TextBlock("x " * 400, ("B",))]
    first = chunk_blocks(blocks, chunk_size=180, overlap=45)
    second = chunk_blocks(list(blocks), chunk_size=180, overlap=45)
    assert first == second


@pytest.mark.parametrize(
    ("chunk_size", "overlap"),
    [(0, 0), (-5, 0), (MAX_CHUNK_SIZE + 1, 0), (100, -1), (100, 100), (100, 150), (2048, MAX_OVERLAP + 1)],
)
def test_invalid_sizes_are_rejected(chunk_size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_blocks([TextBlock("text")], chunk_size=chunk_size, overlap=overlap)


@pytest.mark.parametrize("path", demo_documents(), ids=lambda path: path.name)
def test_demo_documents_chunk_sensibly(path: Path) -> None:
    document = extract(path.read_bytes(), filename=path.name)
    chunks = chunk_blocks(document.blocks)
    assert_valid(chunks, DEFAULT_CHUNK_SIZE)
    assert 1 <= len(chunks) <= 20
    # Nothing is lost: every block's first sentence appears in some chunk.
    for block in document.blocks:
        opening = block.text.split("\n")[0][:60]
        assert any(opening in chunk.text for chunk in chunks)
