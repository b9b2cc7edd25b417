"""What the core measures, handed to whoever records it, without the core knowing who that is.

``chalicelib.observability`` opens a sink for each request it scopes (``stage_timings_to``); the retrieval pipeline
reports its per-stage milliseconds with ``record_stage_timings``. Outside a scope (benchmarks, scripts) the report
goes nowhere. Standard library only: the core stays free of powertools and of the adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

StageTimingsSink = Callable[[Mapping[str, float]], None]

_stage_timings: ContextVar[StageTimingsSink | None] = ContextVar("sift_stage_timings", default=None)


@contextmanager
def stage_timings_to(sink: StageTimingsSink) -> Iterator[None]:
    """Send the stage timings reported in this context (this request) to ``sink``."""
    token = _stage_timings.set(sink)
    try:
        yield
    finally:
        _stage_timings.reset(token)


def record_stage_timings(timings: Mapping[str, float]) -> None:
    """Report the pipeline's per-stage milliseconds to the sink in scope, if any."""
    sink = _stage_timings.get()
    if sink is not None:
        sink(timings)
