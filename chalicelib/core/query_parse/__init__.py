"""The local (no model) parser of SemanticQuery queries: a time range, places, labels and the remaining free text.

The seed's example ``2023 年杭州的风景`` becomes ProduceTime in [2023-01-01, 2024-01-01), an address containing 杭州, a
label containing 风景, and no remaining text. ``parse_query`` is a pure function of the query, the dataset's
vocabulary and ``now``; Chinese and English are both understood, mixed freely.

The package: ``time_builders`` reads a matched time expression into bounds, ``times`` holds the ordered rule table
and finds and joins the query's time expressions, ``terms`` matches places and labels against the vocabulary,
``remainder`` trims function words off what is left, ``normalise`` is the query's normal form; ``parse_query`` here
runs them in turn.

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

from datetime import datetime

from chalicelib.core.query_conditions import QueryConditions, TimeRange, Vocabulary
from chalicelib.core.query_parse.normalise import _fold, _normalise
from chalicelib.core.query_parse.remainder import _remaining
from chalicelib.core.query_parse.terms import _matcher, _occurrences, _select_terms
from chalicelib.core.query_parse.time_builders import _Context
from chalicelib.core.query_parse.times import _join_times, _scan_times

__all__ = ["parse_query"]


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
