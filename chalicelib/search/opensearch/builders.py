"""The write-side requests: the bulk actions that write one document's chunks, the deletes that remove them, and the
documents-index queries that find records and ids by document (how clean-ups find what to delete where ids are
server-assigned).

Everything here returns plain dicts and imports no client, so it can be golden-tested and reused by any transport.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from chalicelib.core.filters import FIELD_NAME
from chalicelib.core.ports.search import ChunkRecord, DocumentRecord
from chalicelib.search.opensearch.mapping import (
    BOOLEAN_FIELD,
    FOLDED_FIELD,
    IMAGE_VECTOR_FIELD,
    KEYWORD_FIELD,
    NUMBER_FIELD,
    VECTOR_FIELD,
)

# ---------------------------------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------------------------------


def bulk_actions(
    index: str, collection_doc: tuple[DocumentRecord, Sequence[ChunkRecord]], *, with_ids: bool = True
) -> list[dict[str, Any]]:
    """``index`` actions (for ``helpers.bulk``) writing one document's chunks, ``_id`` = ``chunk_id``.

    Why: a stable ``_id`` makes a retried write idempotent. Replacing a document also needs its stale chunks removed
    (run ``delete_by_doc_query`` first, or delete the ids no longer produced). Metadata goes in verbatim plus the typed
    filter copies described in ``mapping``'s module docstring. An image chunk's ``image_vector`` is written to the
    image index field; a chunk without one omits the field (it is then simply not in the image graph).
    ``with_ids=False`` leaves ``_id`` out for OpenSearch Serverless vector collections, which assign their own ids and reject custom ones (the
    replacement is then found by ``id_page_query`` and removed by ``delete_actions``).
    """
    record, chunks = collection_doc
    actions: list[dict[str, Any]] = []
    for chunk in chunks:
        if chunk.doc_id != record.doc_id:
            raise ValueError(f"chunk {chunk.chunk_id!r} belongs to {chunk.doc_id!r}, not {record.doc_id!r}")
        source: dict[str, Any] = {
            "chunk_id": chunk.chunk_id,
            "doc_id": chunk.doc_id,
            "position": chunk.position,
            "text": chunk.text,
            "search_text": chunk.search_text,
            VECTOR_FIELD: [float(x) for x in chunk.vector],
        }
        if chunk.image_vector is not None:
            source[IMAGE_VECTOR_FIELD] = [float(x) for x in chunk.image_vector]
        source["metadata"] = dict(chunk.metadata)
        source.update(typed_metadata(chunk.metadata))
        action: dict[str, Any] = {"_op_type": "index", "_index": index}
        if with_ids:
            action["_id"] = chunk.chunk_id
        action["_source"] = source
        actions.append(action)
    return actions


def typed_metadata(metadata: Mapping[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """The four filter-only copies of ``metadata`` (always all four keys, each value a list in stored order); see
    ``mapping``'s module docstring."""
    typed: dict[str, dict[str, list[Any]]] = {KEYWORD_FIELD: {}, FOLDED_FIELD: {}, NUMBER_FIELD: {}, BOOLEAN_FIELD: {}}
    for name, value in metadata.items():
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, bool):
                typed[BOOLEAN_FIELD].setdefault(name, []).append(item)
            elif isinstance(item, (int, float)):
                if math.isfinite(item):
                    typed[NUMBER_FIELD].setdefault(name, []).append(item)
            elif isinstance(item, str):
                typed[KEYWORD_FIELD].setdefault(name, []).append(item)
                typed[FOLDED_FIELD].setdefault(name, []).append(item.casefold())
    return typed


def delete_by_doc_query(doc_id: str) -> dict[str, Any]:
    """The ``delete_by_query`` body removing every chunk of one document (``doc_id`` is a keyword: exact match)."""
    return {"query": {"term": {"doc_id": doc_id}}}


def delete_actions(index: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Bulk ``delete`` actions by ``_id``: the write half of a search-then-delete where ``delete_by_query`` is not
    available (OpenSearch Serverless). A delete is idempotent, so a retried batch is harmless."""
    return [{"_op_type": "delete", "_index": index, "_id": id_} for id_ in ids]


# ---------------------------------------------------------------------------------------------------------------------
# Look-ups by query (OpenSearch Serverless: no custom ids, no delete-by-query)
# ---------------------------------------------------------------------------------------------------------------------

# The largest page ``from + size`` allows under the default ``index.max_result_window``.
MAX_PAGE_SIZE: Final = 10_000


def record_query(collection: str, doc_id: str | None = None) -> dict[str, Any]:
    """The documents-index query for one collection's records, or for one document's record(s) when ``doc_id`` is
    given (both are keywords: exact match). Where ids are server-assigned this replaces the GET by the computed id."""
    if doc_id is None:
        return {"term": {"collection": collection}}
    return {"bool": {"filter": [{"term": {"collection": collection}}, {"term": {"doc_id": doc_id}}]}}


def id_page_query(
    query: dict[str, Any], sort_field: str, size: int, after: str | None = None, seen_at_after: Sequence[str] = ()
) -> dict[str, Any]:
    """One page of the ``_id`` s matching ``query``, ordered by the keyword ``sort_field``, without scroll or PIT.

    Paging: the first page has ``after=None``; each next one asks for ``sort_field >= after`` (the last key seen)
    minus the ids already seen *with that key* (``seen_at_after``). Why not ``search_after`` on the key alone: it
    skips every hit that ties the previous page's last key, and a sort key here is not unique (two copies of one chunk
    id can coexist while a replacement is not yet visible, which is exactly what a clean-up must find). Why not a
    ``_id`` tiebreaker: sorting on ``_id`` needs fielddata on it (deprecated, and disabled in newer engines). The
    exclusion list only ever holds ties of one key, so it stays tiny. No source is fetched: the ids and sort values
    are all a clean-up needs, and no total is counted.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"size must be an integer in [1, {MAX_PAGE_SIZE}], not {size!r}")
    clauses: list[dict[str, Any]] = [query]
    if after is not None:
        clauses.append({"range": {sort_field: {"gte": after}}})
    condition: dict[str, Any] = {"filter": clauses}
    if seen_at_after:
        condition["must_not"] = [{"ids": {"values": list(seen_at_after)}}]
    return {
        "query": {"bool": condition},
        "sort": [{sort_field: "asc"}],
        "size": size,
        "_source": False,
        "track_total_hits": False,
    }
