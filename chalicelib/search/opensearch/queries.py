"""The read requests of a recall: the SearchFilters tree as filter DSL, the dense, sparse and image legs, and the one
``msearch`` that carries them.

Everything here returns plain dicts and imports no client, so it can be golden-tested and reused by any transport.
Filters read the typed metadata copies described in ``mapping``'s module docstring (the gaps they leave are there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from chalicelib.core.filters import AnyOf, Equals, Group, Like, Node, NotEquals, Operator, Range
from chalicelib.core.text_values import numeric_text
from chalicelib.search.opensearch.mapping import (
    BOOLEAN_FIELD,
    FOLDED_FIELD,
    IMAGE_VECTOR_FIELD,
    KEYWORD_FIELD,
    NUMBER_FIELD,
    VECTOR_FIELD,
)

# ---------------------------------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------------------------------


def compile_filter(tree: Group | None) -> dict[str, Any] | None:
    """The SearchFilters tree as OpenSearch bool-query DSL with the semantics of ``chalicelib.core.filters.matches``.

    Why it is exact: every condition targets the typed copy for its value's kind (``mapping``'s module docstring), so a
    string, number or boolean only ever meets stored values of the same kind; ``must_not`` of a ``term`` holds for a
    missing field and for an array with no equal element, as ``neq`` does; ``like`` is a case-sensitive wildcard on
    the case-folded copy with the (already case-folded) pattern escaped, so ``%``, ``_``, ``*``, ``?`` and ``\\`` are
    literal. Used as ``bool.filter`` (sparse leg) and inside the ``knn`` clause (dense leg), so no scoring applies.
    ``None`` (no filter) compiles to ``None``.
    """
    if tree is None:
        return None
    return _compile(tree)


def _compile(node: Node) -> dict[str, Any]:
    if isinstance(node, Group):
        clauses = [_compile(child) for child in node.children]
        if node.operator is Operator.AND:
            return {"bool": {"filter": clauses}}
        if not clauses:  # an empty OR holds for nothing (the embedded loop returns False)
            return {"bool": {"must_not": [{"match_all": {}}]}}
        return {"bool": {"should": clauses, "minimum_should_match": 1}}
    if isinstance(node, Equals):
        return _any_of(AnyOf(node.field, (node.value,)))
    if isinstance(node, NotEquals):
        return {"bool": {"must_not": [_any_of(AnyOf(node.field, (node.value,)))]}}
    if isinstance(node, AnyOf):
        return _any_of(node)
    if isinstance(node, Like):
        return {"wildcard": {f"{FOLDED_FIELD}.{node.field}": {"value": _wildcard_pattern(node)}}}
    if isinstance(node, Range):
        bounds = {
            name: value
            for name, value in (("gt", node.gt), ("gte", node.gte), ("lt", node.lt), ("lte", node.lte))
            if value is not None
        }
        return {"range": {f"{NUMBER_FIELD}.{node.field}": bounds}}
    raise TypeError(f"not a filter node: {node!r}")


def _typed_field(field: str, value: object) -> str:
    """The typed copy a value of this kind is compared against (booleans first: Python's bool is an int)."""
    if isinstance(value, bool):
        return f"{BOOLEAN_FIELD}.{field}"
    if isinstance(value, (int, float)):
        return f"{NUMBER_FIELD}.{field}"
    if isinstance(value, str):
        return f"{KEYWORD_FIELD}.{field}"
    raise TypeError(f"not a filter value: {value!r}")


def _any_of(node: AnyOf) -> dict[str, Any]:
    """One ``term`` / ``terms`` per kind present (in first-seen order, duplicates dropped); several are ORed. A string
    that reads as a number also stands for that number (``chalicelib.core.text_values.numeric_text``)."""
    by_field: dict[str, list[object]] = {}
    for given in node.values:
        number = numeric_text(given)
        for value in (given,) if number is None else (given, number):
            values = by_field.setdefault(_typed_field(node.field, value), [])
            if not any(type(seen) is type(value) and seen == value for seen in values):
                values.append(value)
    clauses: list[dict[str, Any]] = [
        {"term": {field: values[0]}} if len(values) == 1 else {"terms": {field: values}}
        for field, values in by_field.items()
    ]
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _wildcard_pattern(node: Like) -> str:
    """The ``like`` pattern in Lucene wildcard syntax: a substring is ``*text*``; with ``%`` the literal runs are
    joined by ``*`` and the pattern is anchored at both ends, as the embedded matcher reads it."""
    if not node.parts:
        return f"*{_escape_wildcard(node.substring)}*"
    return "*".join(_escape_wildcard(part) for part in node.parts)


def _escape_wildcard(text: str) -> str:
    """Lucene wildcard syntax has exactly three special characters: ``*``, ``?`` and the escape ``\\``."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


# ---------------------------------------------------------------------------------------------------------------------
# Recall
# ---------------------------------------------------------------------------------------------------------------------

# Hits carry only what a recalled chunk is made of. Not the vectors (an image chunk would drag its image vector
# along), and not ``search_text`` or the typed filter copies of the metadata, which repeat what is kept: measured by
# ``bench.cost``, that cut the msearch response of a default Retrieve from 641 KiB to 290 KiB.
RECALL_SOURCE_FIELDS: Final = ("chunk_id", "doc_id", "position", "text", "metadata")
_SOURCE: Final = {"includes": list(RECALL_SOURCE_FIELDS)}


def dense_query(vector: Sequence[float], k: int, filter_dsl: dict[str, Any] | None) -> dict[str, Any]:
    """The dense leg: approximate k-NN with the filter *inside* the ``knn`` clause.

    Why: efficient filtering (faiss / lucene engines) applies the filter while walking the graph, so the leg still
    returns ``k`` hits under a selective filter; a post-filter would return fewer. The vectors are never sent back.
    Note the returned ``_score`` is the engine's transformed similarity (for ``innerproduct``: ``1 + ip`` when
    ``ip >= 0``, else ``1 / (1 - ip)``), not the raw cosine; the backend maps it back. The ``nmslib`` engine does not
    support an inner filter.
    """
    return _knn_query(VECTOR_FIELD, vector, k, filter_dsl)


def image_query(vector: Sequence[float], k: int, filter_dsl: dict[str, Any] | None) -> dict[str, Any]:
    """One query image's item of the image leg: k-NN on ``image_vector``, the filter inside it as in ``dense_query``.

    Why ``ignore_unmapped``: a collection created without an image index has no ``image_vector`` field, and a k-NN
    query on an unmapped field fails the whole item (``Field 'image_vector' is not knn_vector type``). With
    ``ignore_unmapped`` (k-NN plugin 2.11+) it matches nothing instead, so the image leg of such a collection is empty
    without the backend having to know its mapping (no extra round trip per recall, no cache to go stale). Only the
    unmapped case is forgiven: a query vector of the wrong dimension still fails the item loudly. Only chunks that
    carry an image vector are in that field's graph, so the leg never returns a text-only chunk.
    """
    query = _knn_query(IMAGE_VECTOR_FIELD, vector, k, filter_dsl)
    query["query"]["knn"][IMAGE_VECTOR_FIELD]["ignore_unmapped"] = True
    return query


def _knn_query(field: str, vector: Sequence[float], k: int, filter_dsl: dict[str, Any] | None) -> dict[str, Any]:
    _check_k(k)
    knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": k}
    if filter_dsl is not None:
        knn["filter"] = filter_dsl
    return {"size": k, "_source": dict(_SOURCE), "query": {"knn": {field: knn}}}


def sparse_query(text: str, k: int, filter_dsl: dict[str, Any] | None) -> dict[str, Any]:
    """The sparse leg: BM25 over both analyses of ``search_text``, their scores added.

    Why two ``match`` clauses in ``should``: the embedded backend indexes one mixed field (stemmed Latin terms plus CJK
    bigrams); here each analysis has its own sub-field (and keeps only its own token types), so summing the two
    matches scores the same terms. The filter goes in ``bool.filter`` (no effect on scores, cached).
    """
    _check_k(k)
    query: dict[str, Any] = {
        "should": [{"match": {"search_text": text}}, {"match": {"search_text.cjk": text}}],
        "minimum_should_match": 1,
    }
    if filter_dsl is not None:
        query["filter"] = [filter_dsl]
    return {"size": k, "_source": dict(_SOURCE), "query": {"bool": query}}


def msearch_body(
    index: str,
    dense: dict[str, Any] | None,
    sparse: dict[str, Any] | None,
    images: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Header/body pairs for one ``msearch`` round trip: dense first, then sparse, each only when its leg is on, then
    one item per query image (``image_query``), in the order given; the backend reads the responses in this order."""
    body: list[dict[str, Any]] = []
    for leg in (dense, sparse, *images):
        if leg is not None:
            body.extend(({"index": index}, leg))
    return body


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r} (a top-K of 0 means: do not send that leg)")
