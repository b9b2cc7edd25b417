"""Finding the query's time expressions: the ordered rule table (pattern and builder), the left-to-right scan, and
joining expressions by connectors and since/after/before words into one range."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from chalicelib.core.query_parse.terms import _Occurrence
from chalicelib.core.query_parse.time_builders import (
    _B,
    _CN_DAY,
    _CN_MONTH,
    _CN_YEAR,
    _E,
    _EN_COUNT,
    _EN_DAY,
    _EN_MONTH,
    _EN_SEASON,
    _EN_YEAR,
    _NUM_B,
    _UNITS_AFTER_NUMBER,
    _YEAR4,
    EARLIEST,
    Bounds,
    Builder,
    _build_date,
    _build_decade,
    _build_half,
    _build_month,
    _build_rolling,
    _build_season,
    _build_year,
    _build_yearless_month,
    _build_years,
    _calendar,
    _Context,
)


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
