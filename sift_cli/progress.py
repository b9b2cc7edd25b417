"""A progress line for indexing, on stderr: redrawn in place (``\\r``) on a terminal, a line every few seconds
otherwise (a log or a pipe), and a last line when done.

It is fed the indexer's per-document reports (``chalicelib.core.telemetry.indexed_documents_to``): files done of the
total, chunks written, chunks per second and the time left at the files' pace so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


class Progress:
    def __init__(self, stream: TextIO, total: int | None, *, enabled: bool = True, tty: bool | None = None,
                 line_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self.total = total
        self._enabled = enabled
        self._tty = stream.isatty() if tty is None else tty
        self._interval = 0.1 if self._tty else line_interval_s
        self._clock = clock
        self._started = clock()
        self._last_drawn: float | None = None
        self._width = 0
        self.chunks_by_document: dict[str, int] = {}
        self.unchanged: set[str] = set()

    # the indexer's reports ---------------------------------------------------------------------------------------

    def document(self, doc_id: str, status: str, chunks: int) -> None:
        """One document settled (reported again when it was indexed twice: the last report counts)."""
        self.chunks_by_document[doc_id] = chunks
        if status == "FINISH" and chunks == 0:
            self.unchanged.add(doc_id)  # an indexed version found unchanged: nothing written
        else:
            self.unchanged.discard(doc_id)
        self.draw()

    @property
    def done(self) -> int:
        return len(self.chunks_by_document)

    @property
    def chunks(self) -> int:
        return sum(self.chunks_by_document.values())

    # drawing -----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.draw(force=True)

    def draw(self, *, force: bool = False) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if not force and self._last_drawn is not None and now - self._last_drawn < self._interval:
            return
        self._last_drawn = now
        line = self.line(now)
        if self._tty:
            self._stream.write("\r" + line + " " * max(0, self._width - len(line)))
            self._width = len(line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """The last line (on a terminal the line stays, followed by a newline)."""
        if not self._enabled:
            return
        self.draw(force=True)
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((self._clock() if now is None else now) - self._started, 1e-9)
        done, total = self.done, self.total
        if total is not None and done > total:  # files added since they were listed
            total = done
        rate = self.chunks / elapsed
        parts = [f"{done}/{total} files" if total is not None else f"{done} files", f"{self.chunks} chunks",
                 f"{rate:.1f} chunks/s"]
        if total is not None and total > 0:
            filled = round(BAR_WIDTH * done / total)
            bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"
            if done >= total:
                parts.append(f"done in {_duration(elapsed)}")
            elif done:
                parts.append(f"ETA {_duration(elapsed / done * (total - done))}")
            else:
                parts.append(f"ETA ? ({_duration(elapsed)} so far)")
            return f"indexing {bar} " + " · ".join(parts)
        return "indexing " + " · ".join([*parts, _duration(elapsed)])


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
