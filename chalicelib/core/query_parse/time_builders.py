"""What a time expression means: calendar arithmetic, number and month words, the regex fragments whose named groups
the builders read, and the builders that turn a match into bounds (given ``now``)."""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

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
_CN_DIGITS: Final = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
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
