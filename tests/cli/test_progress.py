"""The progress line: redrawn in place on a terminal, a line every few seconds in a log, files/chunks/rate/ETA."""

from __future__ import annotations

import io

from sift_cli.output import display_width, fit
from sift_cli.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_every_interval_and_the_last_one() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, 4, tty=False, line_interval_s=5.0, clock=clock)
    progress.start()
    clock.now += 2
    progress.document("doc_a", "FINISH", 10)  # within the interval: not drawn
    clock.now += 4
    progress.document("doc_b", "FAILED", 0)  # 6 s in: drawn
    clock.now += 2
    progress.document("doc_c", "FINISH", 0)  # unchanged
    progress.document("doc_d", "EMPTY", 0)
    progress.finish()

    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "indexing [------------------------] 0/4 files · 0 chunks · 0.0 chunks/s · ETA ? (0s so far)"
    assert lines[1] == "indexing [############------------] 2/4 files · 10 chunks · 1.7 chunks/s · ETA 6s"
    assert lines[2] == "indexing [########################] 4/4 files · 10 chunks · 1.2 chunks/s · done in 8s"
    assert len(lines) == 3
    assert progress.unchanged == {"doc_c"} and progress.chunks == 10


def test_a_terminal_line_is_redrawn_in_place() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, None, tty=True, clock=clock)
    progress.start()
    clock.now += 1
    progress.document("doc_a", "FINISH", 3)
    progress.document("doc_a", "FINISH", 4)  # indexed again (it changed meanwhile): the last report counts
    progress.finish()

    text = stream.getvalue()
    assert text.startswith("\rindexing 0 files") and text.endswith("\n")
    assert text.count("\r") == 3 and "1 files · 4 chunks · 4.0 chunks/s · 1s" in text


def test_disabled_progress_writes_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 2, enabled=False)
    progress.start()
    progress.document("doc_a", "FINISH", 1)
    progress.finish()
    assert stream.getvalue() == "" and progress.done == 1


def test_cells_fit_display_columns_of_cjk_text() -> None:
    assert display_width("杭州门店") == 8
    assert fit("杭州门店几点关门", 7) == "杭州门…"
    assert fit("杭州门店几点关门", 8) == "杭州门… "  # a wide character never split: padded
    assert display_width(fit("杭州门店几点关门", 7)) == 7
    assert fit("tent", 6) == "tent  "
