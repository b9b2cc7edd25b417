"""A per-collection writer lock shared by the threads of one process and by every process on the data directory.

tantivy lets one ``IndexWriter`` per index exist at a time and fails a second one at once (``LockBusy``); SQLite and
the tantivy index must also move together (a write reads the generation it brings the index to). So every write, and
every rebuild of a derived index, holds this lock: a second process (the seed script while the server runs) waits
for the first instead of failing, and reads never see a half-applied pair.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chalicelib.core.errors import ServiceUnavailableError

# Writes hold the lock for one batch's SQLite transaction and tantivy commit (well under a second); a process that
# waits this long behind another is better told so than left hanging.
WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.005


class CollectionLock:
    """Exclusive across threads and processes, re-entrant within the thread that holds it."""

    def __init__(self, path: Path, *, wait_seconds: float = WAIT_SECONDS) -> None:
        self._path = path
        self._wait_seconds = wait_seconds
        self._threads = threading.RLock()
        self._depth = 0
        self._descriptor: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if self._depth == 0:
                self._descriptor = self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._descriptor is not None:
                    fcntl.flock(self._descriptor, fcntl.LOCK_UN)
                    os.close(self._descriptor)
                    self._descriptor = None

    @contextmanager
    def held_in_process(self) -> Iterator[None]:
        """Exclusive across this process's threads only: for work that reads SQLite and writes nothing on disk (a
        dense snapshot), which other processes need not wait for."""
        with self._threads:
            yield

    def _acquire(self) -> int:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self._wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(descriptor)
                    raise ServiceUnavailableError(
                        f"Another process has held the index's writer lock for {self._wait_seconds:.0f} s; "
                        "try again later"
                    ) from None
                time.sleep(_POLL_SECONDS)
