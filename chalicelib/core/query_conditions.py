"""What a SemanticQuery asks for, split into conditions that must all hold (the seed's "2023 年杭州的风景" →
ProduceTime in 2023, an address containing 杭州, a label containing 风景).

Times compare **wall-clock** values: a file's ProduceTime ``2023-12-31T23:30:00+08:00`` was taken in 2023 where it
was taken, whatever its offset, and "2023年" means 2023 in the same sense. So ranges and stored times are naive
datetimes (the offset dropped, not converted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``start`` inclusive, ``end`` exclusive, both naive wall-clock times; ``text`` is the words it was read from."""

    start: datetime
    end: datetime
    text: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("time ranges are naive wall-clock times")
        if not self.start < self.end:
            raise ValueError("a time range must end after it starts")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The values a dataset holds, which place and label conditions are matched against (never invented ones)."""

    labels: frozenset[str] = field(default_factory=frozenset)  # LabelName and ParentLabelName values
    places: frozenset[str] = field(default_factory=frozenset)  # Country, Province, City, District, Township, AddressLine


@dataclass(frozen=True, slots=True)
class QueryConditions:
    """All must hold: ``time`` (ProduceTime within it), every place (an address field contains it), every label (a
    LabelName or ParentLabelName contains it); ``text`` is what remains, matched semantically (empty: nothing)."""

    time: TimeRange | None = None
    places: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    text: str = ""
