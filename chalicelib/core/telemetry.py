"""What the core measures, handed to whoever records it, without the core knowing who that is.

``chalicelib.observability`` opens a sink for each request it scopes (``stage_timings_to``); the retrieval pipeline
reports its per-stage milliseconds with ``record_stage_timings``. Outside a scope (benchmarks, scripts) the report
goes nowhere. Likewise the indexer reports each document it settles (``record_indexed_document``) to a sink an
in-process caller opens around its request (``indexed_documents_to``: the ``sift`` CLI's progress bar). Standard library only: the core stays free of powertools and of the adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TypeVar

Sink = TypeVar("Sink")

StageTimingsSink = Callable[[Mapping[str, float]], None]

_stage_timings: ContextVar[StageTimingsSink | None] = ContextVar("sift_stage_timings", default=None)

# (document id, DocumentStatus value, chunks written): a document indexing settled in this context.
IndexedDocumentSink = Callable[[str, str, int], None]

_indexed_documents: ContextVar[IndexedDocumentSink | None] = ContextVar("sift_indexed_documents", default=None)


@contextmanager
def _sink_in_scope(variable: ContextVar[Sink | None], sink: Sink) -> Iterator[None]:
    """``sink`` receives what is reported to ``variable`` in this context, until the block ends."""
    token = variable.set(sink)
    try:
        yield
    finally:
        variable.reset(token)


def stage_timings_to(sink: StageTimingsSink) -> AbstractContextManager[None]:
    """Send the stage timings reported in this context (this request) to ``sink``."""
    return _sink_in_scope(_stage_timings, sink)


def record_stage_timings(timings: Mapping[str, float]) -> None:
    """Report the pipeline's per-stage milliseconds to the sink in scope, if any."""
    sink = _stage_timings.get()
    if sink is not None:
        sink(timings)


def indexed_documents_to(sink: IndexedDocumentSink) -> AbstractContextManager[None]:
    """Send each document the indexer settles in this context (this thread: an in-process job) to ``sink``."""
    return _sink_in_scope(_indexed_documents, sink)


def record_indexed_document(doc_id: str, status: str, chunks: int) -> None:
    """Report a document's outcome (``chunks``: how many were written, 0 when nothing was) to the sink in scope, if
    any. A document indexed twice in one context (it changed meanwhile, or a reindex builds a second version) is
    reported twice."""
    sink = _indexed_documents.get()
    if sink is not None:
        sink(doc_id, status, chunks)
