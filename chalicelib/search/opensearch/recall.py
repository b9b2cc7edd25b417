"""Recall on OpenSearch: one ``msearch`` for the dense, sparse and image legs, read back into a ``RecallResult``.

* Vectors are L2-normalised here (the query and the query images, as the chunks were on write: ``indices``) so inner
  product is the cosine; scores coming back from the engine are mapped back to the raw cosine (``cosine``). A zero
  query vector recalls nothing.
* The request is the dense item, the sparse item, then one image k-NN item per query image, every k-NN item with the
  compiled filter inside it (``queries``). The image leg keeps each chunk's best cosine over the query images, best
  first, cut to ``image_top_k``. It does not look at the mapping: the image items carry ``ignore_unmapped`` (k-NN
  plugin 2.11+), so a collection without an image index answers an empty image leg in the same round trip (the caller
  only sends image vectors for knowledge bases with an image index anyway).
* A collection that does not exist recalls nothing; an item that failed, timed out or lost shards raises.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opensearchpy import OpenSearch

from chalicelib.core.errors import InternalError
from chalicelib.core.ports.search import RecallQuery, RecallResult, ScoredChunk, StoredChunk
from chalicelib.search.opensearch.errors import check_search, classify, error_reason, error_type, translated
from chalicelib.search.opensearch.indices import normalise
from chalicelib.search.opensearch.queries import compile_filter, dense_query, image_query, msearch_body, sparse_query


def recall_chunks(client: OpenSearch, index: str, query: RecallQuery, space_type: str) -> RecallResult:
    """``SearchBackend.recall`` on the alias ``index`` of a collection whose vectors live in ``space_type``."""
    filter_dsl = compile_filter(query.filters)
    dense = None
    if query.dense_top_k > 0 and query.vector is not None:
        vector = normalise(query.vector)
        if any(vector):
            dense = dense_query(vector, query.dense_top_k, filter_dsl)
    sparse = None
    if query.sparse_top_k > 0 and query.text.strip():
        sparse = sparse_query(query.text, query.sparse_top_k, filter_dsl)
    images: list[dict[str, Any]] = []
    if query.image_top_k > 0:
        for image_vector in query.image_vectors:
            normalised = normalise(image_vector)
            if any(normalised):  # a zero image vector recalls nothing, like a zero text vector
                images.append(image_query(normalised, query.image_top_k, filter_dsl))
    if dense is None and sparse is None and not images:
        return RecallResult(dense=[], sparse=[])
    with translated("recall"):
        response = client.msearch(body=msearch_body(index, dense, sparse, images))
    responses = iter(response.get("responses", []))
    legs: dict[str, list[ScoredChunk]] = {"dense": [], "sparse": []}
    for leg, body in (("dense", dense), ("sparse", sparse)):
        if body is not None:
            legs[leg] = _hits(leg, _next_item(responses, leg), space_type)
    per_image = [_hits("image", _next_item(responses, "image"), space_type) for _ in images]
    return RecallResult(dense=legs["dense"], sparse=legs["sparse"], image=_best_per_chunk(per_image, query.image_top_k))


def _hits(leg: str, item: Mapping[str, Any], space_type: str) -> list[ScoredChunk]:
    if "error" in item:
        if error_type(item) == "index_not_found_exception":
            return []  # the collection does not exist (or was deleted): nothing to recall
        status = item.get("status")
        raise classify(status, f"OpenSearch failed the {leg} recall (HTTP {status}): {error_reason(item['error'])}")
    check_search(item, f"{leg} recall")
    scored: list[ScoredChunk] = []
    for hit in item.get("hits", {}).get("hits", []):
        source = hit["_source"]
        chunk = StoredChunk(
            chunk_id=source["chunk_id"],
            doc_id=source["doc_id"],
            position=int(source["position"]),
            text=source["text"],
            metadata=source.get("metadata") or {},
        )
        score = float(hit["_score"])
        scored.append(ScoredChunk(chunk, score if leg == "sparse" else cosine(score, space_type)))
    return scored


def _next_item(responses: Iterator[Mapping[str, Any]], leg: str) -> Mapping[str, Any]:
    item = next(responses, None)
    if item is None:
        raise InternalError(f"OpenSearch answered the recall without a {leg} response")
    return item


def _best_per_chunk(per_image: Sequence[Sequence[ScoredChunk]], top_k: int) -> list[ScoredChunk]:
    """The image leg: each chunk once with its best cosine over the query images, best first (ties keep the order in
    which they were first found), at most ``top_k``."""
    best: dict[str, ScoredChunk] = {}
    for hits in per_image:
        for hit in hits:
            seen = best.get(hit.chunk.chunk_id)
            if seen is None or hit.score > seen.score:
                best[hit.chunk.chunk_id] = hit  # a better score keeps the chunk's first-found place for ties
    return sorted(best.values(), key=lambda hit: -hit.score)[:top_k]


def cosine(score: float, space_type: str) -> float:
    """The raw cosine behind the engine's ``_score`` for unit vectors.

    ``innerproduct``: ``1 + ip`` when ``ip >= 0`` else ``1 / (1 - ip)``; ``cosinesimil``: ``(1 + cos) / 2``;
    ``l2``: ``1 / (1 + d²)`` with ``d² = 2 - 2 cos``.
    """
    if space_type == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    return 1.0 - (1.0 / score - 1.0) / 2.0
