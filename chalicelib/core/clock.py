"""Time and identifiers, in one place so tests and records agree on their formats."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utc_now() -> str:
    """ISO 8601 with milliseconds and a ``Z``, e.g. ``2026-11-21T08:30:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_request_id() -> str:
    """Upper-case UUID, the documented RequestId style (``17204B98-7734-4F9A-8464-2446A84821CA``)."""
    return str(uuid.uuid4()).upper()


def new_id(prefix: str) -> str:
    """A short random id such as ``kb_3f9c0a1d2e4b``; letters, digits and ``_`` only."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
