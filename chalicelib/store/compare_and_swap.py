"""The compare-and-swap loop of both catalogs' ``update_knowledge_base``: read, change, write only if unchanged, repeat.

A catalog supplies two steps: ``read`` gives the stored record and the revision it was read at (the raw stored body),
and ``write`` stores the new record only if the stored revision is still that one (SQLite: ``UPDATE ... WHERE body =
<the body read>``; DynamoDB: ``UpdateItem`` with a ``ConditionExpression`` on the body), saying whether it did. The
condition compares the raw stored body, not a re-encoded record, so records written by older code versions (without
the newer fields) are updated too. Two reindexes, or a reindex and a delete, can then never both win.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from chalicelib.core.errors import ThrottlingError
from chalicelib.core.ports.catalog import KnowledgeBase

# A record that changes under us this many times in a row is contended beyond reason: the caller retries later.
ATTEMPTS: Final = 5

# The fields the catalogs keep outside the body too (keys, the name reservation, the SourceURI index): never changed.
IDENTITY: Final = ("workspace_id", "index_id", "name", "source_uri")

Revision = TypeVar("Revision")
Change = Callable[[KnowledgeBase], KnowledgeBase]


def compare_and_swap(
    read: Callable[[], tuple[Revision, KnowledgeBase] | None],
    write: Callable[[Revision, KnowledgeBase], bool],
    change: Change,
) -> KnowledgeBase | None:
    """The semantics of ``Catalog.update_knowledge_base`` (see there), on a catalog's ``read`` and ``write``."""
    for _ in range(ATTEMPTS):
        found = read()
        if found is None:
            return None
        revision, current = found
        new = change(current)
        if new == current:
            return current
        for name in IDENTITY:
            if getattr(current, name) != getattr(new, name):
                raise ValueError(f"an update of the knowledge base record cannot change {name}")
        if write(revision, new):
            return new
    raise ThrottlingError("The knowledge base is being changed concurrently; retry later")
