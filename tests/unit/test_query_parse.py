"""The local SemanticQuery parser: time forms (Chinese and English), places and labels held by the dataset, and the
free text that remains. ``now`` is fixed: Wednesday 2024-05-15 10:30 unless a case says otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.core.query_conditions import QueryConditions, TimeRange, Vocabulary
from chalicelib.core.query_parse import parse_query

NOW = datetime(2024, 5, 15, 10, 30)  # a Wednesday, in spring
JANUARY = datetime(2024, 1, 20, 9, 0)  # in winter: Dec 2023 – Feb 2024 is running
OCTOBER = datetime(2024, 10, 3, 18, 0)  # summer 2024 has ended

VOCABULARY = Vocabulary(
    labels=frozenset(
        ["风景", "猫", "荷花", "建筑", "西湖", "2046", "Landscape", "Lake", "Beach", "Sunset", "Dog", "West Lake", "City",
         "人物"]
    ),
    places=frozenset(
        ["中国", "浙江省", "杭州市", "西湖区", "浙江省杭州市西湖区龙井路1号", "五月花广场", "1912街区", "Hangzhou",
         "Zhejiang Province", "China", "Pier 1912", "Xihu District, Hangzhou, Zhejiang, China"]
    ),
)  # fmt: skip
EMPTY = Vocabulary()


def d(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day)


def parse(query: str, vocabulary: Vocabulary = VOCABULARY, now: datetime = NOW) -> QueryConditions:
    return parse_query(query, vocabulary, now=now)


# ---------------------------------------------------------------------------------------------------------------------
# time: (query, now, start, end, the words read)

TIME_CASES = [
    # years
    ("2023年", NOW, d(2023), d(2024), "2023年"),
    ("2023 年", NOW, d(2023), d(2024), "2023 年"),
    ("2023", NOW, d(2023), d(2024), "2023"),
    ("in 2023", NOW, d(2023), d(2024), "2023"),
    ("二〇二三年", NOW, d(2023), d(2024), "二〇二三年"),
    ("２０２３年", NOW, d(2023), d(2024), "2023年"),  # full-width digits
    ("1990s", NOW, d(1990), d(2000), "1990s"),
    ("1990年代", NOW, d(1990), d(2000), "1990年代"),
    # months
    ("2021年4月", NOW, d(2021, 4), d(2021, 5), "2021年4月"),
    ("2021年04月份", NOW, d(2021, 4), d(2021, 5), "2021年04月份"),
    ("2021年四月", NOW, d(2021, 4), d(2021, 5), "2021年四月"),
    ("2023年十二月", NOW, d(2023, 12), d(2024), "2023年十二月"),
    ("2021-04", NOW, d(2021, 4), d(2021, 5), "2021-04"),
    ("2021/4", NOW, d(2021, 4), d(2021, 5), "2021/4"),
    ("April 2021", NOW, d(2021, 4), d(2021, 5), "April 2021"),
    # a preposition before month and year must not split them into "April" (this year) plus "2021" (found by bench)
    ("in April 2021", NOW, d(2021, 4), d(2021, 5), "April 2021"),
    ("during May 2019", NOW, d(2019, 5), d(2019, 6), "May 2019"),
    ("from October, 2020", NOW, d(2020, 10), d(2020, 11), "October, 2020"),
    ("Apr 2021", NOW, d(2021, 4), d(2021, 5), "Apr 2021"),
    ("apr. 2021", NOW, d(2021, 4), d(2021, 5), "apr. 2021"),
    ("April of 2021", NOW, d(2021, 4), d(2021, 5), "April of 2021"),
    ("去年4月", NOW, d(2023, 4), d(2023, 5), "去年4月"),
    ("April last year", NOW, d(2023, 4), d(2023, 5), "April last year"),
    # months without a year: the most recent that has begun (May 2024 is running)
    ("4月", NOW, d(2024, 4), d(2024, 5), "4月"),
    ("5月份", NOW, d(2024, 5), d(2024, 6), "5月份"),
    ("6月", NOW, d(2023, 6), d(2023, 7), "6月"),
    ("十二月", NOW, d(2023, 12), d(2024), "十二月"),
    ("in April", NOW, d(2024, 4), d(2024, 5), "in April"),
    ("during June", NOW, d(2023, 6), d(2023, 7), "during June"),
    ("last May", NOW, d(2023, 5), d(2023, 6), "last May"),  # the most recent May that has ended
    ("this June", NOW, d(2024, 6), d(2024, 7), "this June"),
    # days
    ("2019年5月1日", NOW, d(2019, 5, 1), d(2019, 5, 2), "2019年5月1日"),
    ("2019年5月1号", NOW, d(2019, 5, 1), d(2019, 5, 2), "2019年5月1号"),
    ("2019年五月一日", NOW, d(2019, 5, 1), d(2019, 5, 2), "2019年五月一日"),
    ("2019-05-01", NOW, d(2019, 5, 1), d(2019, 5, 2), "2019-05-01"),
    ("2019/5/1", NOW, d(2019, 5, 1), d(2019, 5, 2), "2019/5/1"),
    ("2019.5.1", NOW, d(2019, 5, 1), d(2019, 5, 2), "2019.5.1"),
    ("May 1, 2019", NOW, d(2019, 5, 1), d(2019, 5, 2), "May 1, 2019"),
    ("May 1st 2019", NOW, d(2019, 5, 1), d(2019, 5, 2), "May 1st 2019"),
    ("1 May 2019", NOW, d(2019, 5, 1), d(2019, 5, 2), "1 May 2019"),
    ("the 1st of May, 2019", NOW, d(2019, 5, 1), d(2019, 5, 2), "1st of May, 2019"),
    ("2020年2月29日", NOW, d(2020, 2, 29), d(2020, 3, 1), "2020年2月29日"),
    ("2019年2月30日", NOW, d(2019, 2), d(2019, 3), "2019年2月"),  # no such day: the month is read
    # days without a year: the most recent that is not in the future
    ("5月1日", NOW, d(2024, 5, 1), d(2024, 5, 2), "5月1日"),
    ("12月25日", NOW, d(2023, 12, 25), d(2023, 12, 26), "12月25日"),
    ("May 20", NOW, d(2023, 5, 20), d(2023, 5, 21), "May 20"),
    ("the 1st of May", NOW, d(2024, 5, 1), d(2024, 5, 2), "1st of May"),
    ("2月29日", datetime(2025, 6, 1), d(2024, 2, 29), d(2024, 3, 1), "2月29日"),  # the last leap year
    # seasons with a year; a year's winter starts in its December
    ("2022年夏天", NOW, d(2022, 6), d(2022, 9), "2022年夏天"),
    ("2022年的秋季", NOW, d(2022, 9), d(2022, 12), "2022年的秋季"),
    ("2022年春天", NOW, d(2022, 3), d(2022, 6), "2022年春天"),
    ("2022年冬天", NOW, d(2022, 12), d(2023, 3), "2022年冬天"),
    ("summer 2022", NOW, d(2022, 6), d(2022, 9), "summer 2022"),
    ("summer of 2022", NOW, d(2022, 6), d(2022, 9), "summer of 2022"),
    ("2022 summer", NOW, d(2022, 6), d(2022, 9), "2022 summer"),
    ("fall 2021", NOW, d(2021, 9), d(2021, 12), "fall 2021"),
    ("winter 2023", NOW, d(2023, 12), d(2024, 3), "winter 2023"),
    # relative seasons
    ("去年夏天", NOW, d(2023, 6), d(2023, 9), "去年夏天"),
    ("前年秋天", NOW, d(2022, 9), d(2022, 12), "前年秋天"),
    ("summer last year", NOW, d(2023, 6), d(2023, 9), "summer last year"),
    ("去年冬天", NOW, d(2023, 12), d(2024, 3), "去年冬天"),
    ("去年冬天", JANUARY, d(2023, 12), d(2024, 3), "去年冬天"),
    ("今年春天", NOW, d(2024, 3), d(2024, 6), "今年春天"),
    ("this spring", NOW, d(2024, 3), d(2024, 6), "this spring"),
    ("this winter", NOW, d(2024, 12), d(2025, 3), "this winter"),
    ("this winter", JANUARY, d(2023, 12), d(2024, 3), "this winter"),  # the running one
    ("今年冬天", JANUARY, d(2023, 12), d(2024, 3), "今年冬天"),
    ("last summer", NOW, d(2023, 6), d(2023, 9), "last summer"),
    ("last summer", OCTOBER, d(2024, 6), d(2024, 9), "last summer"),  # it has just ended
    ("past summer", OCTOBER, d(2024, 6), d(2024, 9), "past summer"),
    ("last winter", NOW, d(2023, 12), d(2024, 3), "last winter"),
    ("last winter", JANUARY, d(2022, 12), d(2023, 3), "last winter"),  # the running one has not ended
    ("last winter", datetime(2024, 3, 1), d(2023, 12), d(2024, 3), "last winter"),  # ended at midnight
    ("last fall", NOW, d(2023, 9), d(2023, 12), "last fall"),
    # half years
    ("2023年上半年", NOW, d(2023), d(2023, 7), "2023年上半年"),
    ("去年下半年", NOW, d(2023, 7), d(2024), "去年下半年"),
    # calendar spans
    ("今天", NOW, d(2024, 5, 15), d(2024, 5, 16), "今天"),
    ("today", NOW, d(2024, 5, 15), d(2024, 5, 16), "today"),
    ("昨天", NOW, d(2024, 5, 14), d(2024, 5, 15), "昨天"),
    ("yesterday", NOW, d(2024, 5, 14), d(2024, 5, 15), "yesterday"),
    ("前天", NOW, d(2024, 5, 13), d(2024, 5, 14), "前天"),
    ("the day before yesterday", NOW, d(2024, 5, 13), d(2024, 5, 14), "the day before yesterday"),
    ("本周", NOW, d(2024, 5, 13), d(2024, 5, 20), "本周"),
    ("this week", NOW, d(2024, 5, 13), d(2024, 5, 20), "this week"),
    ("上周", NOW, d(2024, 5, 6), d(2024, 5, 13), "上周"),
    ("上个星期", NOW, d(2024, 5, 6), d(2024, 5, 13), "上个星期"),
    ("last week", NOW, d(2024, 5, 6), d(2024, 5, 13), "last week"),
    ("本月", NOW, d(2024, 5), d(2024, 6), "本月"),
    ("这个月", NOW, d(2024, 5), d(2024, 6), "这个月"),
    ("this month", NOW, d(2024, 5), d(2024, 6), "this month"),
    ("上个月", NOW, d(2024, 4), d(2024, 5), "上个月"),
    ("last month", NOW, d(2024, 4), d(2024, 5), "last month"),
    ("上个月", JANUARY, d(2023, 12), d(2024), "上个月"),
    ("今年", NOW, d(2024), d(2025), "今年"),
    ("this year", NOW, d(2024), d(2025), "this year"),
    ("去年", NOW, d(2023), d(2024), "去年"),
    ("last year", NOW, d(2023), d(2024), "last year"),
    ("前年", NOW, d(2022), d(2023), "前年"),
    ("the year before last", NOW, d(2022), d(2023), "the year before last"),
    # rolling spans: the N units ending with today
    ("最近一周", NOW, d(2024, 5, 9), d(2024, 5, 16), "最近一周"),
    ("近7天", NOW, d(2024, 5, 9), d(2024, 5, 16), "近7天"),
    ("past week", NOW, d(2024, 5, 9), d(2024, 5, 16), "past week"),
    ("last 7 days", NOW, d(2024, 5, 9), d(2024, 5, 16), "last 7 days"),
    ("最近三个月", NOW, d(2024, 2, 16), d(2024, 5, 16), "最近三个月"),
    ("过去3个月", NOW, d(2024, 2, 16), d(2024, 5, 16), "过去3个月"),
    ("past 3 months", NOW, d(2024, 2, 16), d(2024, 5, 16), "past 3 months"),
    ("past three months", NOW, d(2024, 2, 16), d(2024, 5, 16), "past three months"),
    ("最近半年", NOW, d(2023, 11, 16), d(2024, 5, 16), "最近半年"),
    ("过去一年", NOW, d(2023, 5, 16), d(2024, 5, 16), "过去一年"),
    ("previous 2 years", NOW, d(2022, 5, 16), d(2024, 5, 16), "previous 2 years"),
    # open ranges
    ("since 2020", NOW, d(2020), d(2024, 5, 16), "since 2020"),
    ("2020年以来", NOW, d(2020), d(2024, 5, 16), "2020年以来"),
    ("2020年至今", NOW, d(2020), d(2024, 5, 16), "2020年至今"),
    ("2022 onwards", NOW, d(2022), d(2024, 5, 16), "2022 onwards"),
    ("after 2020", NOW, d(2021), d(2024, 5, 16), "after 2020"),
    ("2020年以后", NOW, d(2021), d(2024, 5, 16), "2020年以后"),
    ("before 2020", NOW, d(1900), d(2020), "before 2020"),
    ("2020年之前", NOW, d(1900), d(2020), "2020年之前"),
    ("since last summer", NOW, d(2023, 6), d(2024, 5, 16), "since last summer"),
    # several expressions: one range covering them all
    ("2019 and 2020", NOW, d(2019), d(2021), "2019 and 2020"),
    ("between 2019 and 2020", NOW, d(2019), d(2021), "2019 and 2020"),
    ("from 2019 to 2021", NOW, d(2019), d(2022), "2019 to 2021"),
    ("2019-2020", NOW, d(2019), d(2021), "2019-2020"),
    ("2019 - 2020年", NOW, d(2019), d(2021), "2019 - 2020年"),
    ("2019年到2021年", NOW, d(2019), d(2022), "2019年到2021年"),
    ("2019年4月到6月", NOW, d(2019, 4), d(2019, 7), "2019年4月到6月"),  # 6月 takes the query's year
    ("2021年的猫和2019年的狗", NOW, d(2019), d(2022), "2021年 2019年"),
]


@pytest.mark.parametrize(
    ("query", "now", "start", "end", "words"), TIME_CASES, ids=[f"{c[0]}@{c[1]:%Y-%m-%d}" for c in TIME_CASES]
)
def test_time_forms(query: str, now: datetime, start: datetime, end: datetime, words: str) -> None:
    conditions = parse(query, EMPTY, now)
    assert conditions.time is not None, query
    assert (conditions.time.start, conditions.time.end) == (start, end)
    assert conditions.time.text == words


# ---------------------------------------------------------------------------------------------------------------------
# no time condition


NOT_TIMES = [
    "1920x1080 wallpaper",
    "20230 steps",
    "2000 people at the concert",
    "3000米高的山",
    "2000人",
    "2023号楼",
    "第2023张",
    "No.2023",
    "$2023",
    "¥2000",
    "version 2.2023",
    "2023.5 km",
    "v2023",
    "1899",  # out of 1900–2100
    "2101年",
    "12345",
    "138-2023-1234",
    "2023/2024/2025",
    "23年的老房子",  # two-digit years are not read
    "夏天的海边",  # a season with no year names no single period
    "summer vibes",
    "hot spring",
    "May I see the cats",  # a month name alone
]


@pytest.mark.parametrize("query", NOT_TIMES)
def test_no_time_condition(query: str) -> None:
    assert parse(query, EMPTY).time is None


# ---------------------------------------------------------------------------------------------------------------------
# whole parses: (query, now, time bounds or None, places, labels, remaining text)

FULL_CASES = [
    # the seed, as written (with a space) and without
    ("2023 年杭州的风景", NOW, (d(2023), d(2024)), ("杭州",), ("风景",), ""),
    ("2023年杭州的风景", NOW, (d(2023), d(2024)), ("杭州",), ("风景",), ""),
    ("2021年4月杭州的风景", NOW, (d(2021, 4), d(2021, 5)), ("杭州",), ("风景",), ""),
    ("photos of the West Lake in Hangzhou from last summer", NOW, (d(2023, 6), d(2023, 9)), ("Hangzhou",),
     ("West Lake",), ""),
    ("Photos of the west lake in hangzhou from last summer", NOW, (d(2023, 6), d(2023, 9)), ("Hangzhou",),
     ("West Lake",), ""),
    # places the dataset holds, matched without their suffix or by a component of an address
    ("杭州", NOW, None, ("杭州",), (), ""),
    ("浙江杭州", NOW, None, ("浙江", "杭州"), (), ""),
    ("杭州市", NOW, None, ("杭州市",), (), ""),
    ("浙江省的建筑", NOW, None, ("浙江省",), ("建筑",), ""),
    ("龙井路1号", NOW, None, ("龙井路1号",), (), ""),
    ("hangzhou city", NOW, None, ("Hangzhou",), (), ""),  # "City" goes with the place, not the label City
    ("Zhejiang", NOW, None, ("Zhejiang",), (), ""),
    ("xihu", NOW, None, ("Xihu",), (), ""),
    ("西湖区", NOW, None, ("西湖区",), (), ""),
    # a place the dataset does not hold stays in the text
    ("北京的风景", NOW, None, (), ("风景",), "北京"),
    ("2023年上海的建筑", NOW, (d(2023), d(2024)), (), ("建筑",), "上海"),
    ("a man with a dog in Beijing", NOW, None, (), ("Dog",), "man Beijing"),
    ("sunset in Paris", NOW, None, (), ("Sunset",), "Paris"),
    # place vs label: a whole label beats a place component; among equals the place wins
    ("西湖的荷花", NOW, None, (), ("西湖", "荷花"), ""),
    ("China", NOW, None, ("China",), (), ""),
    # labels: case-insensitive, regular plurals, CJK single characters only as words of their own
    ("lakes and beaches", NOW, None, (), ("Lake", "Beach"), ""),
    ("LANDSCAPE", NOW, None, (), ("Landscape",), ""),
    ("猫的照片", NOW, None, (), ("猫",), ""),
    ("杭州的猫", NOW, None, ("杭州",), ("猫",), ""),
    ("小猫", NOW, None, (), (), "小猫"),
    ("猫头鹰", NOW, None, (), (), "猫头鹰"),
    ("lakeside cafe", NOW, None, (), (), "lakeside cafe"),
    # a vocabulary term wins over a number or a month inside it
    ("1912街区的夜景", NOW, None, ("1912街区",), (), "夜景"),
    ("Pier 1912 sunset", NOW, None, ("Pier 1912",), ("Sunset",), ""),
    ("2046", NOW, None, (), ("2046",), ""),
    ("五月花广场", NOW, None, ("五月花广场",), (), ""),
    # mixed Chinese and English
    ("summer 2022 杭州 猫", NOW, (d(2022, 6), d(2022, 9)), ("杭州",), ("猫",), ""),
    ("2022年夏天 West Lake 的 sunset", NOW, (d(2022, 6), d(2022, 9)), (), ("West Lake", "Sunset"), ""),
    ("dogs in 杭州 去年", NOW, (d(2023), d(2024)), ("杭州",), ("Dog",), ""),
    ("去年夏天在西湖边拍的荷花照片", NOW, (d(2023, 6), d(2023, 9)), (), ("西湖", "荷花"), ""),
    ("最近一周杭州的人物", NOW, (d(2024, 5, 9), d(2024, 5, 16)), ("杭州",), ("人物",), ""),
    ("帮我找2023年在杭州拍的猫", NOW, (d(2023), d(2024)), ("杭州",), ("猫",), ""),
    # function words: dropped at the edges of what remains, kept inside it
    ("show me pictures of cats playing", NOW, None, (), (), "cats playing"),
    ("中国美院的照片", NOW, None, ("中国",), (), "美院"),
    ("高中的照片", NOW, None, (), (), "高中"),
    ("自行车", NOW, None, (), (), "自行车"),
    ("杭州和平路", NOW, None, ("杭州",), (), "和平路"),
    # nothing but free text; empty queries
    ("一只在草地上奔跑的金毛", NOW, None, (), (), "一只在草地上奔跑的金毛"),
    ("children playing football", NOW, None, (), (), "children playing football"),
    ("", NOW, None, (), (), ""),
    ("   ", NOW, None, (), (), ""),
    ("的照片", NOW, None, (), (), ""),
    ("today's sunset", NOW, (d(2024, 5, 15), d(2024, 5, 16)), (), ("Sunset",), ""),
]


@pytest.mark.parametrize(
    ("query", "now", "bounds", "places", "labels", "text"), FULL_CASES, ids=[c[0] or "<empty>" for c in FULL_CASES]
)
def test_parse(
    query: str,
    now: datetime,
    bounds: tuple[datetime, datetime] | None,
    places: tuple[str, ...],
    labels: tuple[str, ...],
    text: str,
) -> None:
    conditions = parse(query, VOCABULARY, now)
    got = (conditions.time.start, conditions.time.end) if conditions.time else None
    assert got == bounds
    assert conditions.places == places
    assert conditions.labels == labels
    assert conditions.text == text


def test_seed_example_in_full() -> None:
    assert parse("2023 年杭州的风景") == QueryConditions(
        time=TimeRange(d(2023), d(2024), "2023 年"), places=("杭州",), labels=("风景",), text=""
    )


# ---------------------------------------------------------------------------------------------------------------------
# properties


@pytest.mark.parametrize("query", [c[0] for c in FULL_CASES])
def test_conditions_are_always_held_by_the_dataset(query: str) -> None:
    conditions = parse(query)
    for place in conditions.places:
        assert any(place.casefold() in value.casefold() for value in VOCABULARY.places), place
    for label in conditions.labels:
        assert any(label.casefold() in value.casefold() for value in VOCABULARY.labels), label


def test_nothing_is_matched_against_an_empty_vocabulary() -> None:
    conditions = parse("2023年杭州的风景", EMPTY)
    assert (conditions.places, conditions.labels, conditions.text) == ((), (), "杭州的风景")


def test_the_query_says_more_than_the_dataset_holds() -> None:
    conditions = parse("杭州市的猫", Vocabulary(labels=frozenset(["猫"]), places=frozenset(["杭州"])))
    assert (conditions.places, conditions.labels, conditions.text) == (("杭州",), ("猫",), "")


def test_a_label_the_dataset_holds_takes_a_bare_season() -> None:
    conditions = parse("夏天的海边", Vocabulary(labels=frozenset(["夏天"])))
    assert (conditions.time, conditions.labels, conditions.text) == (None, ("夏天",), "海边")


def test_an_aware_now_is_read_as_wall_clock() -> None:
    aware = datetime(2024, 5, 15, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    conditions = parse("今天", EMPTY, aware)
    assert conditions.time is not None
    assert (conditions.time.start, conditions.time.end) == (d(2024, 5, 15), d(2024, 5, 16))


def test_pure() -> None:
    assert parse("photos of the West Lake in Hangzhou from last summer") == parse(
        "photos of the West Lake in Hangzhou from last summer"
    )


def test_exact_with_a_large_vocabulary() -> None:
    # Correctness only: how fast a parse is belongs to bench/, not to a timed assertion a loaded machine can fail.
    places = frozenset(f"测试{i}号街道" for i in range(3000)) | {f"Street {i}, Town {i} District" for i in range(2000)}
    labels = frozenset(f"标签{i}" for i in range(2000)) | frozenset(f"label {i}" for i in range(2000))
    vocabulary = Vocabulary(labels | {"风景"}, places | {"杭州市"})
    conditions = parse("2023 年杭州的风景 and label 17 near Town 5", vocabulary)
    assert conditions.places == ("杭州", "Town 5")
    assert conditions.labels == ("风景", "label 17")
