"""The local (no model) parser of SemanticQuery queries: a time range, places, labels and the remaining free text.

The seed's example ``2023 年杭州的风景`` becomes ProduceTime in [2023-01-01, 2024-01-01), an address containing 杭州, a
label containing 风景, and no remaining text. ``parse_query`` is a pure function of the query, the dataset's
vocabulary and ``now``; Chinese and English are both understood, mixed freely.

Decisions (the documentation leaves them open)
----------------------------------------------
Input
  * The query is NFKC-normalised (full-width digits, letters and spaces become ASCII) and its whitespace collapsed;
    every ``text`` returned is a piece of that normalised query. ``now`` is wall-clock: an aware ``now`` has its
    offset dropped, not converted.

Time (at most one condition; ranges are naive wall-clock, end exclusive)
  * Years: ``2023年`` / ``2023 年`` / ``二〇二三年`` / ``2023`` / ``in 2023``. Every year must lie in 1900–2100; outside
    it the words stay in the text. A bare 4-digit number is a year only when it stands alone: not part of a longer
    number or word (``20230``, ``1920x1080``, ``v2023``, ``2023.5``, ``No.2023``, ``第2023``, ``$2023``), not followed by
    a unit or counter (``2000人``, ``3000 米``, ``2000 people``, ``2023号``), and not inside a vocabulary term the
    query mentions (place ``1912街区``, place ``Pier 1912``). Two-digit years (``23年``) are not read (they also mean
    "23 years"). Decades: ``1990s`` / ``1990年代``.
  * Months: ``2021年4月`` / ``2021年四月`` / ``2021-04`` / ``2021/4`` / ``April 2021`` / ``Apr. 2021`` / ``April of
    2021`` / ``去年4月`` / ``April last year``. A month without a year (``4月``, ``四月份``, ``in April``, ``during
    May``) is the most recent such month that has begun: this year's if it has begun (the current month included),
    else last year's. English month names alone are read only after ``in``/``during``/``from``/``last``/``this`` or
    with a day (``May`` is also a verb and a name). ``last April`` is the most recent April that has ended, ``this
    April`` the current year's.
  * Days: ``2019年5月1日`` / ``2019年5月1号`` / ``2019-05-01`` / ``2019/5/1`` / ``2019.5.1`` / ``May 1, 2019`` /
    ``May 1st 2019`` / ``1 May 2019`` / ``1st of May, 2019``; without a year (``5月1日``, ``May 1``) the most recent
    such day that is not in the future. Impossible dates (``2019年2月30日``) are not days; the longest valid reading
    of the start is taken instead (``2019年2月``). US ``5/1/2019`` is not read (ambiguous with day/month order).
  * A form without a year that follows one with a year in the same query takes that year (``2019年4月到6月`` is
    April–June 2019), instead of the "most recent" rule; it is not moved to the next year when it comes earlier in
    the year (``2019年11月到2月`` covers Feb–Dec 2019).
  * Seasons are meteorological: spring Mar–May, summer Jun–Aug, autumn (fall) Sep–Nov, winter Dec–Feb. A year's
    winter starts in its December: ``2022年冬天`` / ``winter 2022`` = [2022-12-01, 2023-03-01). ``去年夏天`` /
    ``summer last year`` is the season of last year by that rule (likewise ``前年``). ``last summer`` / ``past
    summer`` is the most recent such season that has ended (in October 2024 that is summer 2024; in January 2024
    ``last winter`` is the winter that ended in March 2023, the current one having not ended). ``this winter`` /
    ``今年冬天`` is the season containing ``now`` if ``now`` is in one (January 2024: Dec 2023–Feb 2024), else this
    year's. A season without a year or a relative word (``夏天的海边``, ``summer``) is no time condition: it names no
    single period, so it stays in the text (or is matched as a label if the dataset holds it).
  * Half years: ``2023年上半年`` = Jan–Jun, ``去年下半年`` = Jul–Dec.
  * Calendar spans: ``今天``/``today``, ``昨天``/``yesterday``, ``前天``/``the day before yesterday``, ``本周``/``this
    week`` and ``上周``/``last week`` (calendar weeks starting Monday), ``本月``/``this month``, ``上个月``/``last
    month``, ``今年``/``this year``, ``去年``/``last year``, ``前年``/``the year before last``.
  * Rolling spans: ``最近一周`` / ``近7天`` / ``过去三个月`` / ``最近半年`` / ``past week`` / ``last 7 days`` / ``past 3
    months`` / ``previous 2 years``: the N units ending with today, whole days: [today − N units + 1 day, tomorrow).
    So ``last week`` is the previous calendar week while ``past week`` / ``last 7 days`` is rolling.
  * Open ranges: ``since 2020`` / ``2020年以来`` / ``2020年至今`` / ``2020年起`` / ``2020 onwards`` run from the start of
    the period to the end of today; ``after 2020`` / ``2020年以后`` / ``2020年之后`` from its end to the end of today;
    ``before 2020`` / ``2020年以前`` / ``2020年之前`` from 1900-01-01 to its start.
  * Several time expressions (``2019 and 2020``, ``2019年到2021年``, ``2019-2020``, ``2019年4月到6月``): one range
    covering them all (earliest start to latest end), since a file any of them names must pass the filter; the
    remaining text still ranks. ``text`` is the expressions' words (with the connector when they are joined by one:
    ``2019 and 2020``), several unjoined ones separated by a space.
  * A time expression that lies strictly inside a longer vocabulary term the query mentions is part of that term
    (place ``五月花广场``: ``五月`` is not May).

Places and labels (never a term the dataset does not hold)
  * Matched against the vocabulary case-insensitively (Latin script on word boundaries; CJK anywhere), longest match
    first, left to right; each word of the query belongs to at most one condition. Duplicates are dropped, order
    is the query's.
  * Places match a vocabulary value whole, any comma-separated part of it, any administrative component of a Chinese
    address (``浙江省杭州市西湖区龙井路1号`` → ``浙江省``, ``杭州市``, ``西湖区``, ``龙井路1号``), and any of these without
    its administrative suffix (省 市 区 县 镇 乡 街道 新区 自治区 自治州 自治县 特别行政区; City Province District County
    Township) when at least two characters remain: ``杭州`` matches ``杭州市``, ``Hangzhou`` matches ``Hangzhou City``.
  * The condition value is what the query said, spelled as the dataset spells it — always a substring of a
    vocabulary value (``杭州`` stays ``杭州``; ``hangzhou`` becomes ``Hangzhou``). When the query says more than the
    dataset holds (``杭州市`` against a dataset holding only ``杭州``) the suffix is consumed and the value is the
    dataset's ``杭州``.
  * Labels match a LabelName/ParentLabelName value whole; an English value also matches its regular plural
    (``lakes`` → ``Lake``, ``beaches`` → ``Beach``, ``cities`` → ``City``; irregular plurals are not known).
  * A term both a place and a label: a whole-value match beats a derived one (component, suffix-less, plural); among
    equals the place wins (geographic names are what address conditions are for; the seed splits 杭州 into
    Address). So with label ``西湖`` and place ``西湖区``, ``西湖`` is a label.
  * A one-character CJK term (``猫``, ``花``) matches only as a word of its own: each neighbour is a condition, a
    non-CJK character, the query's edge or a function word (``猫的照片``, ``杭州的猫``, but not ``小猫``, ``花园``).

Remaining text
  * The query minus the time, place and label words, each leftover piece trimmed of function words at its edges
    (a piece made only of function words is dropped; interior words are kept for the semantic match: ``a man with a
    dog`` → ``man with a dog``), pieces joined with one space.
  * English function words: ``chalicelib.core.text.ENGLISH_STOPWORDS`` (without ``no``/``not``) plus photo(s),
    picture(s), pic(s), image(s), snapshot(s), taken, show, find, search, display, want, see, all, some, any, during,
    between.
  * Chinese function words: requests (帮我找 给我看 我想看 查找 搜索 显示 ...), media nouns (照片 图片 相片 图像 影像
    相册), 的 的时候 时候 期间 拍的 拍摄的 and particles (了 吗 呢 吧 啊); next to a condition also the prepositions,
    postpositions and conjunctions 在 于 从 自 里 中 上 内 边 年 时 和 与 及 或. A one-character one other than 的 and
    the particles is removed only when it stands apart (its other side is a function word, non-CJK or the piece's
    edge), so ``中国``, ``高中``, ``自行车``, ``和平路`` keep their first or last character (and ``猫和狗`` with only 猫
    held leaves ``和狗``).
  * A place or label the dataset does not hold stays in the text (``北京的风景`` → text ``北京``).

Cost
  * The vocabulary's keys (whole values, parts, suffix-less forms, plurals) go into one dict, built once per
    vocabulary (an LRU cache of 16; a ``Vocabulary`` is immutable and hashable): ~50 ms for 5,000 values. A parse
    then looks up each query position once per distinct key length and tries ~50 compiled time patterns per
    position: well under a millisecond for a typical query.
"""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

from chalicelib.core.query_conditions import QueryConditions, TimeRange, Vocabulary
from chalicelib.core.text import CJK_RUN, ENGLISH_STOPWORDS, is_cjk

__all__ = ["parse_query"]

MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2100
EARLIEST: Final = datetime(MIN_YEAR, 1, 1)  # the open start of "before ..." ranges

Bounds = tuple[datetime, datetime]


# ---------------------------------------------------------------------------------------------------------------------
# calendar arithmetic


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day of month clamped (Mar 31 − 1 month = Feb 29/28)."""
    total = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(total, 12)
    return date(year, month0 + 1, min(day.day, monthrange(year, month0 + 1)[1]))


def _year(year: int) -> Bounds:
    return datetime(year, 1, 1), datetime(year + 1, 1, 1)


def _month(year: int, month: int) -> Bounds:
    start = date(year, month, 1)
    return _day_start(start), _day_start(_add_months(start, 1))


def _months(year: int, month: int, count: int) -> Bounds:
    start = date(year, month, 1)
    return _day_start(start), _day_start(_add_months(start, count))


def _one_day(day: date) -> Bounds:
    return _day_start(day), _day_start(day + timedelta(days=1))


def _season(year: int, first_month: int) -> Bounds:
    return _months(year, first_month, 3)


def _valid_year(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


# ---------------------------------------------------------------------------------------------------------------------
# words and numbers

_MONTH_NAMES: Final = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
    "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_SEASON_MONTHS: Final = {
    "spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12, "春": 3, "夏": 6, "秋": 9, "冬": 12,
}  # fmt: skip
_CN_DIGITS: Final = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_NUMBERS: Final = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_REL_YEARS: Final = {"去年": -1, "今年": 0, "本年": 0, "前年": -2, "last year": -1, "this year": 0}


def _number(word: str) -> int | None:
    """An integer written in ASCII digits, Chinese numerals up to 99 (``二十三``, ``两``) or English up to twelve."""
    word = word.strip().lower()
    if word.isdigit():
        return int(word)
    if word in _EN_NUMBERS:
        return _EN_NUMBERS[word]
    if "十" in word:
        tens, _, ones = word.partition("十")
        if (tens and tens not in _CN_DIGITS) or (ones and ones not in _CN_DIGITS):
            return None
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    if word and all(char in _CN_DIGITS for char in word):
        value = 0
        for char in word:
            value = value * 10 + _CN_DIGITS[char]
        return value
    return None


# ---------------------------------------------------------------------------------------------------------------------
# time patterns

# Boundaries for Latin script and digits (``\b`` would treat CJK characters as word characters).
_B: Final = r"(?<![0-9A-Za-z])"
_E: Final = r"(?![0-9A-Za-z])"
_NUM_B: Final = r"(?<![0-9〇零一二三四五六七八九十两百千万])"  # a number starts here, not inside a longer one

_YEAR4: Final = r"(?P<year>\d{4})(?!\d)"
_CN_YEAR: Final = rf"(?:{_NUM_B}(?P<year>\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年|(?P<rel>去年|今年|本年|前年))"
_CN_MONTH: Final = rf"{_NUM_B}(?P<month>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])\s*月"
_CN_DAY: Final = r"(?P<day>3[01]|[12]\d|0?[1-9]|三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九])(?!\d)\s*[日号]"
_EN_MONTH: Final = (
    r"(?P<mname>january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)(?![A-Za-z])\.?"
)
_EN_DAY: Final = r"(?P<day>3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?(?![0-9A-Za-z])"
_EN_YEAR: Final = rf"(?:{_YEAR4}{_E}|(?P<rel>last year|this year))"
_EN_SEASON: Final = r"(?P<season>spring|summer|autumn|fall|winter)(?![A-Za-z])"
_EN_COUNT: Final = r"\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_UNITS_AFTER_NUMBER: Final = (
    r"(?!\s*(?:个|米|元|块|张|人|次|件|位|只|条|克|斤|公里|千米|万|亿|多|余|号|栋|层|岁|分"
    r"|(?:km|m|kg|g|px|pixels?|people|persons?|meters?|metres?|feet|ft|steps?|yuan|dollars?|usd|rmb|times?"
    r"|calories|kcal|points?)(?![A-Za-z])))"
)


@dataclass
class _Context:
    now: datetime
    year: int | None = None  # the year of the last time expression that named one (yearless forms take it)

    @property
    def today(self) -> date:
        return self.now.date()

    def tomorrow(self) -> datetime:
        return _day_start(self.today + timedelta(days=1))


# A builder reads a match into bounds plus the year it named (None: it named none), or rejects it (None).
Built = tuple[Bounds, int | None]
Builder = Callable[[re.Match[str], _Context], Built | None]


def _named_year(match: re.Match[str], ctx: _Context) -> int | None:
    """The explicit (``2023``, ``二〇二三``) or relative (``去年``, ``last year``) year of a match, if valid."""
    groups = match.groupdict()
    if groups.get("year"):
        value = _number(groups["year"])
    elif groups.get("rel"):
        value = ctx.now.year + _REL_YEARS[groups["rel"].lower()]
    else:
        return None
    return value if value is not None and _valid_year(value) else None


def _month_of(match: re.Match[str]) -> int | None:
    groups = match.groupdict()
    month = _MONTH_NAMES[groups["mname"].lower()] if groups.get("mname") else _number(groups.get("month") or "")
    return month if month is not None and 1 <= month <= 12 else None


def _yearless_month(month: int, ctx: _Context) -> int:
    """The year of a month named without one: the query's year, else the most recent such month that has begun."""
    if ctx.year is not None:
        return ctx.year
    return ctx.now.year if month <= ctx.now.month else ctx.now.year - 1


def _yearless_day(month: int, day: int, ctx: _Context) -> date | None:
    if ctx.year is not None:
        try:
            return date(ctx.year, month, day)
        except ValueError:
            return None
    for year in range(ctx.now.year, ctx.now.year - 8, -1):  # Feb 29 looks back to the last leap year
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= ctx.today:
            return candidate
    return None


def _build_date(match: re.Match[str], ctx: _Context) -> Built | None:
    month, day = _month_of(match), _number(match["day"])
    if month is None or day is None:
        return None
    year = _named_year(match, ctx)
    if match.groupdict().get("year") or match.groupdict().get("rel"):
        if year is None:
            return None
        try:
            return _one_day(date(year, month, day)), year
        except ValueError:
            return None
    found = _yearless_day(month, day, ctx)
    return (_one_day(found), None) if found is not None else None


def _build_month(match: re.Match[str], ctx: _Context) -> Built | None:
    month, year = _month_of(match), _named_year(match, ctx)
    if month is None or year is None:
        return None
    return _month(year, month), year


def _build_yearless_month(match: re.Match[str], ctx: _Context) -> Built | None:
    month = _month_of(match)
    if month is None:
        return None
    which = (match.groupdict().get("which") or "").lower()
    if which == "last":
        year = ctx.now.year if month < ctx.now.month else ctx.now.year - 1
    elif which == "this":
        year = ctx.now.year
    else:
        year = _yearless_month(month, ctx)
    return (_month(year, month), None) if _valid_year(year) else None


def _build_year(match: re.Match[str], ctx: _Context) -> Built | None:
    year = _named_year(match, ctx)
    return (_year(year), year) if year is not None else None


def _build_years(match: re.Match[str], ctx: _Context) -> Built | None:
    first, last = int(match["year"]), int(match["last"])
    if not (_valid_year(first) and _valid_year(last) and first <= last):
        return None
    return (datetime(first, 1, 1), datetime(last + 1, 1, 1)), last


def _build_decade(match: re.Match[str], ctx: _Context) -> Built | None:
    first = int(match["decade"])
    return ((datetime(first, 1, 1), datetime(first + 10, 1, 1)), None) if _valid_year(first) else None


def _build_half(match: re.Match[str], ctx: _Context) -> Built | None:
    year = _named_year(match, ctx)
    if year is None:
        return None
    return _months(year, 1 if match["half"] == "上" else 7, 6), year


def _this_season(first_month: int, now: datetime) -> Bounds:
    previous = _season(now.year - 1, first_month)  # only a winter can still be running from last year
    if previous[0] <= now < previous[1]:
        return previous
    return _season(now.year, first_month)


def _last_season(first_month: int, now: datetime) -> Bounds:
    for year in (now.year, now.year - 1, now.year - 2):
        bounds = _season(year, first_month)
        if bounds[1] <= now:
            return bounds
    raise AssertionError("a season two years back has always ended")  # pragma: no cover


def _build_season(match: re.Match[str], ctx: _Context) -> Built | None:
    first_month = _SEASON_MONTHS[match["season"].lower()]
    groups = match.groupdict()
    which = (groups.get("which") or "").lower()
    if which in ("last", "past"):
        return _last_season(first_month, ctx.now), None
    rel = (groups.get("rel") or "").lower()
    if which == "this" or rel in ("今年", "本年", "this year"):
        return _this_season(first_month, ctx.now), ctx.now.year
    year = _named_year(match, ctx)
    if year is None:
        return None
    return _season(year, first_month), year


def _build_rolling(match: re.Match[str], ctx: _Context) -> Built | None:
    """The N units ending with today (whole days): [today − N units + 1 day, tomorrow)."""
    count_word = match.groupdict().get("count")
    unit = match["unit"].lower()
    if count_word == "半":  # 半年 = 6 months, 半个月 = 15 days
        if unit == "年":
            count, unit = 6, "月"
        elif unit == "月":
            count, unit = 15, "天"
        else:
            return None
    else:
        parsed = _number(count_word) if count_word else 1
        if parsed is None or not 1 <= parsed <= 1200:
            return None
        count = parsed
    today = ctx.today
    if unit in ("天", "日", "day"):
        earliest = today - timedelta(days=count)
    elif unit in ("周", "星期", "礼拜", "week"):
        earliest = today - timedelta(weeks=count)
    elif unit in ("月", "month"):
        earliest = _add_months(today, -count)
    else:
        earliest = _add_months(today, -12 * count)
    start = _day_start(earliest + timedelta(days=1))
    return ((start, ctx.tomorrow()), None) if start.year >= MIN_YEAR else None


def _calendar(span: str) -> Builder:
    """A fixed calendar span relative to today (``昨天``, ``last week``, ``this month``, ``前年`` ...)."""

    def build(match: re.Match[str], ctx: _Context) -> Built | None:
        today, now = ctx.today, ctx.now
        monday = today - timedelta(days=today.weekday())
        spans: dict[str, Callable[[], Built]] = {
            "today": lambda: (_one_day(today), None),
            "yesterday": lambda: (_one_day(today - timedelta(days=1)), None),
            "day_before": lambda: (_one_day(today - timedelta(days=2)), None),
            "this_week": lambda: ((_day_start(monday), _day_start(monday + timedelta(days=7))), None),
            "last_week": lambda: ((_day_start(monday - timedelta(days=7)), _day_start(monday)), None),
            "this_month": lambda: (_month(now.year, now.month), None),
            "last_month": lambda: (_month(*_previous_month(now)), None),
            "this_year": lambda: (_year(now.year), now.year),
            "last_year": lambda: (_year(now.year - 1), now.year - 1),
            "year_before": lambda: (_year(now.year - 2), now.year - 2),
        }
        return spans[span]()

    return build


def _previous_month(now: datetime) -> tuple[int, int]:
    return (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    build: Builder
    bare: bool = False  # a bare number: any vocabulary term covering it wins


def _rule(pattern: str, build: Builder, *, bare: bool = False) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), build, bare)


# Tried in this order at each position of the query; the first that matches and builds wins there.
_RULES: Final = (
    # days
    _rule(rf"{_CN_YEAR}\s*的?\s*{_CN_MONTH}\s*{_CN_DAY}", _build_date),
    _rule(
        rf"{_B}(?<![./-]){_YEAR4}(?P<sep>[-/.])(?P<month>1[0-2]|0?[1-9])(?P=sep)(?P<day>3[01]|[12]\d|0?[1-9])"
        r"(?![0-9A-Za-z]|[./-]\d)",
        _build_date,
    ),
    _rule(rf"{_B}{_EN_MONTH}\s*{_EN_DAY},?\s*{_YEAR4}{_E}", _build_date),
    _rule(rf"{_B}{_EN_DAY}\s+(?:of\s+)?{_EN_MONTH},?\s*{_YEAR4}{_E}", _build_date),
    # year ranges written as one ("2019-2020"), then months
    _rule(
        rf"{_B}(?<![./-]){_YEAR4}\s*[-–~]\s*(?P<last>\d{{4}})(?:\s*年(?!代))?(?![0-9A-Za-z]|[./-]\d)",
        _build_years,
    ),
    _rule(rf"{_CN_YEAR}\s*的?\s*{_CN_MONTH}份?", _build_month),
    _rule(rf"{_B}(?<![./-]){_YEAR4}(?P<sep>[-/])(?P<month>1[0-2]|0?[1-9])(?![0-9A-Za-z]|[./-]\d)", _build_month),
    _rule(rf"{_B}{_EN_MONTH},?\s*(?:(?:of|in)\s+)?{_EN_YEAR}", _build_month),
    # seasons and half years
    _rule(rf"{_CN_YEAR}\s*的?\s*(?P<season>[春夏秋冬])[天季]", _build_season),
    _rule(rf"{_B}{_EN_SEASON},?\s*(?:(?:of|in)\s+)?{_EN_YEAR}", _build_season),
    _rule(rf"{_B}{_YEAR4}\s+{_EN_SEASON}", _build_season),
    _rule(rf"{_B}(?P<which>last|this|past)\s+{_EN_SEASON}", _build_season),
    _rule(rf"{_CN_YEAR}\s*的?\s*(?P<half>[上下])半年", _build_half),
    # decades and years
    _rule(rf"{_B}(?P<decade>\d{{3}}0)(?:s|\s*年代){_E}", _build_decade),
    _rule(rf"{_NUM_B}(?<![A-Za-z])(?P<year>\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年(?!代)", _build_year),
    # rolling spans, then calendar spans
    _rule(
        r"(?:最近|(?<!附)近|过去)的?\s*(?P<count>\d{1,3}|[一二两三四五六七八九十]{1,3}|半)\s*个?\s*"
        r"(?P<unit>天|日|周|星期|礼拜|月|年)",
        _build_rolling,
    ),
    _rule(
        rf"{_B}(?:past|last|previous)\s+(?P<count>{_EN_COUNT})\s+(?P<unit>day|week|month|year)s?{_E}", _build_rolling
    ),
    _rule(rf"{_B}past\s+(?P<unit>day|week|month|year){_E}", _build_rolling),
    _rule(r"今天|今日", _calendar("today")),
    _rule(r"昨天|昨日", _calendar("yesterday")),
    _rule(r"前天", _calendar("day_before")),
    _rule(r"本周|这周|这一?个?星期|本星期|这一?个?礼拜", _calendar("this_week")),
    _rule(r"上周|上一?个?星期|上一?个?礼拜", _calendar("last_week")),
    _rule(r"本月|这个月|当月", _calendar("this_month")),
    _rule(r"上一?个月|上月", _calendar("last_month")),
    _rule(r"今年|本年", _calendar("this_year")),
    _rule(r"去年", _calendar("last_year")),
    _rule(r"前年", _calendar("year_before")),
    _rule(rf"{_B}today{_E}", _calendar("today")),
    _rule(rf"{_B}(?:the\s+)?day\s+before\s+yesterday{_E}", _calendar("day_before")),
    _rule(rf"{_B}yesterday{_E}", _calendar("yesterday")),
    _rule(rf"{_B}this\s+week{_E}", _calendar("this_week")),
    _rule(rf"{_B}(?:last|previous)\s+week{_E}", _calendar("last_week")),
    _rule(rf"{_B}this\s+month{_E}", _calendar("this_month")),
    _rule(rf"{_B}(?:last|previous)\s+month{_E}", _calendar("last_month")),
    _rule(rf"{_B}this\s+year{_E}", _calendar("this_year")),
    _rule(rf"{_B}(?:the\s+)?year\s+before\s+last{_E}", _calendar("year_before")),
    _rule(rf"{_B}(?:last|previous)\s+year{_E}", _calendar("last_year")),
    # days and months without a year
    _rule(rf"{_CN_MONTH}\s*{_CN_DAY}", _build_date),
    _rule(rf"{_CN_MONTH}份?", _build_yearless_month),
    _rule(rf"{_B}{_EN_MONTH}\s*{_EN_DAY}", _build_date),
    _rule(rf"{_B}{_EN_DAY}\s+of\s+{_EN_MONTH}", _build_date),
    # Not when a year follows: "in April 2021" is April 2021 (the month-and-year rule's), not April plus 2021.
    _rule(
        rf"{_B}(?:(?:in|during|from)\s+|(?P<which>last|this)\s+){_EN_MONTH}(?!\s*,?\s*\d{{4}})",
        _build_yearless_month,
    ),
    # a bare number, last
    _rule(
        rf"(?<![0-9A-Za-z.$¥€£#第])(?<!\d[-/]){_YEAR4}(?!\.?\d)(?![-/]\d)(?![A-Za-z]){_UNITS_AFTER_NUMBER}",
        _build_year,
        bare=True,
    ),
)

# Words joining two time expressions into one ("2019 and 2020", "2019年到2021年").
_CONNECTORS: Final = frozenset(
    ["", "and", "to", "-", "–", "—", "~", "到", "至", "和", "与", "或", "or", "through", "thru", "until", "till", "&",
     "、", ","]
)  # fmt: skip
_SINCE_BEFORE: Final = re.compile(r"(?<![A-Za-z])(?P<word>since|after|before)\s*$", re.IGNORECASE)
_SINCE_AFTER: Final = re.compile(
    r"\s*(?P<word>以来|至今|到现在|到今天|起|开始|以后|之后|以前|之前|onwards?|and later|or later|and earlier|or earlier"
    r"|until now|till now|to now|to date)(?![A-Za-z])",
    re.IGNORECASE,
)
_OPEN_FROM_START: Final = frozenset(
    ["since", "以来", "至今", "到现在", "到今天", "起", "开始", "onward", "onwards", "and later", "or later", "until now",
     "till now", "to now", "to date"]
)  # fmt: skip
_OPEN_FROM_END: Final = frozenset(["after", "以后", "之后"])
_OPEN_TO_START: Final = frozenset(["before", "以前", "之前", "and earlier", "or earlier"])


@dataclass
class _TimeGroup:
    start: int  # span in the normalised query
    end: int
    bounds: Bounds


def _scan_times(query: str, ctx: _Context, terms: list[_Occurrence]) -> list[_TimeGroup]:
    """Every time expression, left to right, each as a group of its own."""
    found: list[_TimeGroup] = []
    position = 0
    while position < len(query):
        if query[position].isspace():
            position += 1
            continue
        for rule in _RULES:
            match = rule.pattern.match(query, position)
            if match is None or match.end() == position:
                continue
            built = rule.build(match, ctx)
            if built is None or _inside_term(match.start(), match.end(), terms, strictly=not rule.bare):
                continue
            bounds, year = built
            if year is not None:
                ctx.year = year
            found.append(_TimeGroup(match.start(), match.end(), bounds))
            position = match.end()
            break
        else:
            position += 1
    return found


def _inside_term(start: int, end: int, terms: list[_Occurrence], *, strictly: bool) -> bool:
    return any(
        term.start <= start and end <= term.end and (not strictly or term.end - term.start > end - start)
        for term in terms
    )


def _join_times(query: str, groups: list[_TimeGroup], ctx: _Context) -> list[_TimeGroup]:
    """Merge expressions joined by a connector, then widen each for since/after/before words around it."""
    merged: list[_TimeGroup] = []
    for group in groups:
        if merged and query[merged[-1].end : group.start].strip().lower() in _CONNECTORS:
            last = merged[-1]
            last.end = group.end
            last.bounds = (min(last.bounds[0], group.bounds[0]), max(last.bounds[1], group.bounds[1]))
        else:
            merged.append(_TimeGroup(group.start, group.end, group.bounds))
    for index, group in enumerate(merged):
        floor = merged[index - 1].end if index > 0 else 0
        before = _SINCE_BEFORE.search(query, floor, group.start)
        after = _SINCE_AFTER.match(query, group.end)
        if before is not None:
            word = before["word"].lower()
            group.start = before.start()
        elif after is not None:
            word = " ".join(after["word"].lower().split())
            group.end = after.end()
        else:
            continue
        start, end = group.bounds
        if word in _OPEN_FROM_START or word in _OPEN_FROM_END:
            first = start if word in _OPEN_FROM_START else end
            group.bounds = (first, max(ctx.tomorrow(), first + timedelta(days=1)))
        elif word in _OPEN_TO_START:
            group.bounds = (min(EARLIEST, start - timedelta(days=1)), start)
    return merged


# ---------------------------------------------------------------------------------------------------------------------
# vocabulary matching


@dataclass(frozen=True, slots=True)
class _Term:
    place: bool  # else a label
    value: str  # the condition value: a substring of a vocabulary value, as the vocabulary spells it
    whole: bool  # a whole vocabulary value (not a component, suffix-less form or plural)


@dataclass(frozen=True, slots=True)
class _Occurrence:
    start: int
    end: int
    term: _Term


@dataclass(frozen=True, slots=True)
class _Matcher:
    terms: dict[str, _Term]  # folded key → the best term with that key
    lengths: tuple[int, ...]  # distinct key lengths, longest first


_CJK_ADMIN: Final = r"(?:特别行政区|自治区|自治州|自治县|新区|街道|省|市|区|县|镇|乡)"
_CJK_ADMIN_SPLIT: Final = re.compile(_CJK_ADMIN)
_CJK_ADMIN_END: Final = re.compile(rf"{_CJK_ADMIN}$")
_LATIN_ADMIN_END: Final = re.compile(r"\s+(?:city|province|district|county|township)$", re.IGNORECASE)
_QUERY_ADMIN_SUFFIX: Final = re.compile(
    rf"{_CJK_ADMIN}|\s+(?:city|province|district|county|township){_E}", re.IGNORECASE
)
_PART_SPLIT: Final = re.compile(r"[,;，；、]")
_WS: Final = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def _fold(text: str) -> str:
    """Lower case without changing the length (so offsets in the folded text are offsets in ``text``)."""
    lowered = text.lower()
    if len(lowered) == len(text):  # lower() only ever lengthens (İ → i̇), so equal lengths mean char by char
        return lowered
    return "".join(char if len(low := char.lower()) != 1 else low for char in text)


def _key(text: str) -> str:
    return _fold(_normalise(text))


def _place_parts(value: str) -> Iterable[str]:
    """Comma-separated parts and Chinese administrative components of an address, each with and without suffix."""
    for part in _PART_SPLIT.split(value):
        part = part.strip()
        if not part:
            continue
        pieces = [part]
        if CJK_RUN.search(part):
            position = 0
            for match in _CJK_ADMIN_SPLIT.finditer(part):
                pieces.append(part[position : match.end()])
                position = match.end()
            if 0 < position < len(part):
                pieces.append(part[position:])
        for piece in pieces:
            piece = piece.strip()
            yield piece
            suffix = _CJK_ADMIN_END.search(piece) or _LATIN_ADMIN_END.search(piece)
            if suffix is not None:
                yield piece[: suffix.start()].strip()


def _plurals(value: str) -> list[str]:
    """Regular English plurals of a label ending in a Latin letter (``Beach`` → ``Beaches``)."""
    if not re.search(r"[A-Za-z]{2}$", value):
        return []
    if re.search(r"(?:s|x|z|ch|sh)$", value, re.IGNORECASE):
        return [value + "es"]
    if re.search(r"[^aeiouAEIOU]y$", value):
        return [value[:-1] + "ies"]
    return [value + "s"]


def _better(candidate: _Term, current: _Term | None) -> bool:
    if current is None:
        return True
    return (candidate.whole, candidate.place) > (current.whole, current.place)


@lru_cache(maxsize=16)
def _matcher(vocabulary: Vocabulary) -> _Matcher:
    """Keys of every place and label form, built once per vocabulary (vocabularies are hashable and immutable)."""
    terms: dict[str, _Term] = {}

    def add(form: str, term: _Term) -> None:
        key = _key(form)
        minimum = 1 if term.whole else 2
        if len(key) >= minimum and _better(term, terms.get(key)):
            terms[key] = term

    for value in sorted(vocabulary.places):
        if not value.strip():
            continue
        add(value, _Term(True, value.strip(), True))
        for part in _place_parts(value):
            add(part, _Term(True, part, False))
    for value in sorted(vocabulary.labels):
        if not value.strip():
            continue
        add(value, _Term(False, value.strip(), True))
        for plural in _plurals(value.strip()):
            add(plural, _Term(False, value.strip(), False))
    return _Matcher(terms, tuple(sorted({len(key) for key in terms}, reverse=True)))


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _occurrences(folded: str, matcher: _Matcher) -> list[_Occurrence]:
    """Every place where a vocabulary key occurs in the folded query (Latin keys on word boundaries)."""
    found: list[_Occurrence] = []
    size = len(folded)
    lengths = [length for length in matcher.lengths if length <= size]
    for start in range(size):
        if folded[start].isspace():
            continue
        for length in lengths:
            end = start + length
            if end > size:
                continue
            term = matcher.terms.get(folded[start:end])
            if term is None:
                continue
            if _is_latin(folded[start]) and start > 0 and _is_latin(folded[start - 1]):
                continue
            if _is_latin(folded[end - 1]) and end < size and _is_latin(folded[end]):
                continue
            found.append(_Occurrence(start, end, term))
    return found


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in spans)


def _stands_apart(query: str, start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    """A one-character CJK term is a word of its own: each side is taken, non-CJK, the edge or a function word."""
    left_ok = (
        start == 0
        or not is_cjk(query[start - 1])
        or _overlaps(start - 1, start, taken)
        or query[:start].endswith(_CJK_ANY_TOKENS)
    )
    right_ok = (
        end == len(query)
        or not is_cjk(query[end])
        or _overlaps(end, end + 1, taken)
        or query[end:].startswith(_CJK_ANY_TOKENS)
    )
    return left_ok and right_ok


def _select_terms(query: str, occurrences: list[_Occurrence], taken: list[tuple[int, int]]) -> list[_Occurrence]:
    """Longest first (whole values, then places, before others of the same length), never overlapping."""
    ranked = sorted(
        occurrences, key=lambda o: (-(o.end - o.start), not o.term.whole, not o.term.place, o.start)
    )
    chosen: list[_Occurrence] = []
    for occurrence in ranked:
        if _overlaps(occurrence.start, occurrence.end, taken):
            continue
        single_cjk = occurrence.end - occurrence.start == 1 and is_cjk(query[occurrence.start])
        if single_cjk and not _stands_apart(query, occurrence.start, occurrence.end, taken):
            continue
        end = occurrence.end
        if occurrence.term.place:  # "杭州市" against a dataset holding "杭州": the suffix goes with the place
            suffix = _QUERY_ADMIN_SUFFIX.match(query, end)
            if suffix is not None and not _overlaps(end, suffix.end(), taken):
                end = suffix.end()
        chosen.append(_Occurrence(occurrence.start, end, occurrence.term))
        taken.append((occurrence.start, end))
    return sorted(chosen, key=lambda o: o.start)


# ---------------------------------------------------------------------------------------------------------------------
# remaining text

_EN_STOP: Final = (ENGLISH_STOPWORDS - {"no", "not"}) | {
    "photo", "photos", "picture", "pictures", "pic", "pics", "image", "images", "snapshot", "snapshots", "taken",
    "show", "find", "search", "display", "want", "see", "all", "some", "any", "during", "between", "s",
}  # fmt: skip
_CJK_LEADING: Final = (
    "帮我找", "帮我搜", "帮我看", "给我看", "我想看", "我想找", "我要看", "我要找", "查找", "查询", "搜索", "寻找", "显示",
    "看看", "所有的", "所有", "全部的", "全部", "一些", "关于", "有关", "我的", "我们的", "拍摄于", "摄于", "请", "找",
)  # fmt: skip
_CJK_TRAILING: Final = (
    "的照片", "的图片", "的相片", "照片", "图片", "相片", "图像", "影像", "相册", "的时候", "时候", "期间", "拍摄的",
    "拍下的", "拍的", "的", "了", "吗", "呢", "吧", "啊",
)  # fmt: skip
_CJK_AFTER_CONDITION: Final = ("拍摄的", "拍的", "的", "里", "中", "上", "内", "边", "年", "时", "和", "与", "及", "或")
_CJK_BEFORE_CONDITION: Final = ("拍摄于", "在", "于", "从", "自", "的", "和", "与", "及", "或")
_CJK_ANY: Final = frozenset(
    _CJK_LEADING + _CJK_TRAILING + _CJK_AFTER_CONDITION + _CJK_BEFORE_CONDITION + ("我", "我们", "张", "些")
)
_CJK_ANY_TOKENS: Final = tuple(sorted(_CJK_ANY, key=len, reverse=True))
_ALWAYS_REMOVED: Final = frozenset(["的", "了", "吗", "呢", "吧", "啊"])  # one-character words never part of a longer one
_PUNCT: Final = " \t,.;:!?\"'()[]{}<>/\\|-–—~·、。“”‘’【】《》「」『』…"
_LATIN_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_LATIN_WORD_END: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?$")


def _only_function_words(piece: str) -> bool:
    position = 0
    for run in CJK_RUN.finditer(piece):
        if not _latin_all_stop(piece[position : run.start()]) or not _cjk_all_stop(run.group()):
            return False
        position = run.end()
    return _latin_all_stop(piece[position:])


def _latin_all_stop(text: str) -> bool:
    return all(word.lower() in _EN_STOP for word in _LATIN_WORD.findall(text))


def _cjk_all_stop(run: str) -> bool:
    """Whether ``run`` splits entirely into function words."""
    reachable = [True] + [False] * len(run)
    for index in range(len(run)):
        if reachable[index]:
            for token in _CJK_ANY_TOKENS:
                if run.startswith(token, index):
                    reachable[index + len(token)] = True
    return reachable[-1]


def _trim(piece: str, after_condition: bool, before_condition: bool) -> str:
    """``piece`` without function words at its edges (one-character ones only where they stand apart)."""
    leading = sorted(_CJK_LEADING + (_CJK_AFTER_CONDITION if after_condition else ()), key=len, reverse=True)
    trailing = sorted(_CJK_TRAILING + (_CJK_BEFORE_CONDITION if before_condition else ()), key=len, reverse=True)
    text = piece.strip(_PUNCT)
    while text:
        rest = _trim_head(text, leading)
        if rest is None:
            break
        text = rest.strip(_PUNCT)
    while text:
        rest = _trim_tail(text, trailing)
        if rest is None:
            break
        text = rest.strip(_PUNCT)
    return text


def _trim_head(text: str, tokens: list[str]) -> str | None:
    if not is_cjk(text[0]):
        first_cjk = CJK_RUN.search(text)
        word = _LATIN_WORD.match(text[: first_cjk.start() if first_cjk else len(text)])
        if word is not None and word.group().lower() in _EN_STOP:
            return text[word.end() :]
        return None
    for token in tokens:
        if text.startswith(token):
            rest = text[len(token) :]
            if len(token) > 1 or token in _ALWAYS_REMOVED or not rest or not is_cjk(rest[0]) or rest.startswith(
                _CJK_ANY_TOKENS
            ):
                return rest
    return None


def _trim_tail(text: str, tokens: list[str]) -> str | None:
    if not is_cjk(text[-1]):
        last_cjk_end = max((run.end() for run in CJK_RUN.finditer(text)), default=0)
        word = _LATIN_WORD_END.search(text[last_cjk_end:])
        if word is not None and word.group().lower() in _EN_STOP:
            return text[: last_cjk_end + word.start()]
        return None
    for token in tokens:
        if text.endswith(token):
            rest = text[: -len(token)]
            if len(token) > 1 or token in _ALWAYS_REMOVED or not rest or not is_cjk(rest[-1]) or rest.endswith(
                _CJK_ANY_TOKENS
            ):
                return rest
    return None


def _remaining(query: str, taken: list[tuple[int, int]]) -> str:
    pieces: list[str] = []
    position = 0
    spans = sorted(taken)
    gaps: list[tuple[int, int]] = []
    for start, end in spans:
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < len(query):
        gaps.append((position, len(query)))
    for start, end in gaps:
        piece = query[start:end]
        if not piece.strip(_PUNCT) or _only_function_words(piece):
            continue
        trimmed = _trim(piece, after_condition=start > 0, before_condition=end < len(query))
        if trimmed:
            pieces.append(trimmed)
    return _normalise(" ".join(pieces))


# ---------------------------------------------------------------------------------------------------------------------


def parse_query(query: str, vocabulary: Vocabulary, *, now: datetime) -> QueryConditions:
    """Split a SemanticQuery query into a time range, places, labels and remaining text (module docstring: rules)."""
    text = _normalise(query)
    if not text:
        return QueryConditions()
    ctx = _Context(now.replace(tzinfo=None))
    folded = _fold(text)
    occurrences = _occurrences(folded, _matcher(vocabulary))

    groups = _join_times(text, _scan_times(text, ctx, occurrences), ctx)
    time: TimeRange | None = None
    if groups:
        time = TimeRange(
            min(group.bounds[0] for group in groups),
            max(group.bounds[1] for group in groups),
            " ".join(text[group.start : group.end] for group in groups),
        )
    taken = [(group.start, group.end) for group in groups]

    chosen = _select_terms(folded, occurrences, taken)
    places: list[str] = []
    labels: list[str] = []
    for occurrence in chosen:
        into = places if occurrence.term.place else labels
        if occurrence.term.value not in into:
            into.append(occurrence.term.value)
    return QueryConditions(time, tuple(places), tuple(labels), _remaining(text, taken))
