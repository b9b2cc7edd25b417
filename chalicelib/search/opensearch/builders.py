"""Pure builders for the OpenSearch backend: index mapping, filter DSL, recall queries, bulk actions, id look-ups.

Everything here returns plain dicts and imports no client, so it can be golden-tested and reused by any transport.

Metadata layout (why filters do not query ``metadata.<name>`` directly)
-----------------------------------------------------------------------
The embedded filter semantics (``chalicelib.core.filters``) compare like with like: ``"5"`` never equals ``5``, ``true``
never equals ``1``, ranges only see numbers, ``like`` is a case-folded substring. A single dynamically mapped
``metadata.<name>`` field cannot keep that: its type is fixed by the first document, later values of another kind are
coerced (``5`` -> ``"5"`` on a keyword) or reject the whole document, a range on a keyword field compares strings
lexicographically, and a ``term`` of the wrong kind (``"cheap"`` on a double field) fails the *query* with a parse
error where the embedded backend simply matches nothing. So ``bulk_actions`` writes each chunk's metadata twice:

* ``metadata``: the caller's values verbatim, kept in ``_source`` only (``enabled: false``: never mapped or indexed);
* typed, filter-only copies, each namespace with one fixed type per field, so no mapping conflict or query-time type
  error is possible:

  - ``meta_keyword.<name>``: string values (exact ``eq`` / ``neq`` / array);
  - ``meta_folded.<name>``: the same strings ``str.casefold()``-ed in Python (``like``: the parser already case-folds
    the pattern, so a case-sensitive wildcard on this copy is exactly the embedded case-folded substring test);
  - ``meta_number.<name>``: ints and floats as ``double`` (``3 == 3.0``; ranges);
  - ``meta_boolean.<name>``: booleans.

  An array value is split element-wise by kind (multi-valued fields match when any element does, and ``must_not``
  holds when none does: the embedded array rules). ``None``, objects and nested arrays equal nothing and are left out,
  which is also the embedded outcome (a missing field satisfies only ``neq``).

Known gaps versus the embedded semantics (documented and pinned in tests/unit/test_opensearch_builders.py):

* Numbers are indexed as ``double``: integers beyond +-2**53 are compared after rounding.
* Non-finite numbers (``inf``; NaN matches nothing anyway) cannot be indexed as ``double`` and are left out, so an
  ``inf`` stored value does not satisfy ``{"gt": 5}`` as it does in the embedded backend.
* Strings longer than ``KEYWORD_IGNORE_ABOVE`` characters are not indexed (Lucene's term-length limit). ``eq`` and
  arrays are unaffected (filter values are at most 1,000 characters, so they cannot equal such a string) and ``neq``
  holds either way; only ``like`` on such a value misses.
* Metadata keys that are not valid filter field names (e.g. containing ``.``) are not indexed: no filter can name them,
  and a dotted key would otherwise clash with object mapping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from chalicelib.core.filters import (
    FIELD_NAME,
    AnyOf,
    Equals,
    Group,
    Like,
    Node,
    NotEquals,
    Operator,
    Range,
)
from chalicelib.core.ports.search import ChunkRecord, DocumentRecord
from chalicelib.core.text_values import numeric_text

ENGINES: Final = frozenset({"faiss", "lucene", "nmslib"})
SPACE_TYPES: Final = frozenset({"innerproduct", "cosinesimil", "l2"})

# Lucene rejects terms over 32,766 UTF-8 bytes; 8,191 characters of up to 4 bytes each always fit.
KEYWORD_IGNORE_ABOVE: Final = 8191
# Mirrors the embedded analyzer's ``remove_long`` cap: longer tokens are base64, hashes or URLs.
MAX_TOKEN_LENGTH: Final = 40

VECTOR_FIELD: Final = "vector"
# The image index: a second k-NN field, present in the mapping only for collections created with an image dimension,
# and in a chunk's source only when the chunk has an image embedding (k-NN fields are sparse: no value, no graph node).
IMAGE_VECTOR_FIELD: Final = "image_vector"

KEYWORD_FIELD: Final = "meta_keyword"
FOLDED_FIELD: Final = "meta_folded"
NUMBER_FIELD: Final = "meta_number"
BOOLEAN_FIELD: Final = "meta_boolean"

# Standard-tokenizer token types of non-CJK text. ``sift_english`` keeps exactly these and ``sift_cjk`` drops exactly
# these, so every token of ``search_text`` is scored by one of the two sub-fields, never both (the embedded analyzer
# likewise stems Latin segments and bigrams CJK runs of one mixed field).
_NON_CJK_TOKEN_TYPES: Final = ("<ALPHANUM>", "<NUM>", "<SOUTHEAST_ASIAN>", "<EMOJI>")


# ---------------------------------------------------------------------------------------------------------------------
# Index
# ---------------------------------------------------------------------------------------------------------------------


def index_settings_and_mappings(
    dimension: int,
    *,
    image_dimension: int = 0,
    engine: str = "faiss",
    space_type: str = "innerproduct",
    m: int = 16,
    ef_construction: int = 128,
) -> dict[str, Any]:
    """The ``indices.create`` body of one collection's chunk index.

    Why this shape: ``index.knn`` enables the HNSW vector field; ``search_text`` is analysed twice so OpenSearch ranks
    like the embedded analyzer (Snowball English stems for Latin text, overlapping bigrams for CJK runs), with the
    token types partitioned between the two sub-fields so nothing is counted twice; ``text`` is only returned, never
    searched; metadata is stored verbatim but filtered through typed copies (see the module docstring) whose dynamic
    templates fix one type per namespace. The top level is ``strict`` so a builder bug fails loudly instead of
    growing the mapping (and so an image vector sent to a collection without an image index is rejected, not mapped
    as floats). ``image_dimension`` > 0 adds the image index: ``image_vector``, a second HNSW field with the same
    engine, space and graph parameters as ``vector`` (so its scores map back to cosines the same way); 0 leaves it out.
    """
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise ValueError(f"dimension must be a positive integer, not {dimension!r}")
    if isinstance(image_dimension, bool) or not isinstance(image_dimension, int) or image_dimension < 0:
        raise ValueError(f"image_dimension must be an integer >= 0 (0: no image index), not {image_dimension!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {sorted(ENGINES)}, not {engine!r}")
    if space_type not in SPACE_TYPES:
        raise ValueError(f"space_type must be one of {sorted(SPACE_TYPES)}, not {space_type!r}")
    for name, value in (("m", m), ("ef_construction", ef_construction)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, not {value!r}")
    keyword = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    properties: dict[str, Any] = {
        "chunk_id": {"type": "keyword"},
        "doc_id": {"type": "keyword"},
        "position": {"type": "integer"},
        "text": {"type": "text", "index": False},
        "search_text": {
            "type": "text",
            "analyzer": "sift_english",
            "fields": {"cjk": {"type": "text", "analyzer": "sift_cjk"}},
        },
        VECTOR_FIELD: _knn_field(dimension, engine, space_type, m, ef_construction),
    }
    if image_dimension:
        properties[IMAGE_VECTOR_FIELD] = _knn_field(image_dimension, engine, space_type, m, ef_construction)
    properties.update({
        "metadata": {"type": "object", "enabled": False},
        KEYWORD_FIELD: {"type": "object", "dynamic": True},
        FOLDED_FIELD: {"type": "object", "dynamic": True},
        NUMBER_FIELD: {"type": "object", "dynamic": True},
        BOOLEAN_FIELD: {"type": "object", "dynamic": True},
    })
    return {
        "settings": {
            "index": {"knn": True},
            "analysis": {
                "filter": {
                    "sift_english_stemmer": {"type": "snowball", "language": "English"},
                    "sift_max_length": {"type": "length", "max": MAX_TOKEN_LENGTH},
                    "sift_non_cjk_only": {"type": "keep_types", "types": list(_NON_CJK_TOKEN_TYPES)},
                    "sift_cjk_only": {"type": "keep_types", "types": list(_NON_CJK_TOKEN_TYPES), "mode": "exclude"},
                },
                "analyzer": {
                    "sift_english": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["sift_non_cjk_only", "sift_max_length", "lowercase", "sift_english_stemmer"],
                    },
                    "sift_cjk": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["sift_cjk_only", "cjk_width", "lowercase", "cjk_bigram"],
                    },
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "dynamic_templates": [
                {"meta_keyword": {"path_match": f"{KEYWORD_FIELD}.*", "mapping": dict(keyword)}},
                {"meta_folded": {"path_match": f"{FOLDED_FIELD}.*", "mapping": dict(keyword)}},
                {"meta_number": {"path_match": f"{NUMBER_FIELD}.*", "mapping": {"type": "double"}}},
                {"meta_boolean": {"path_match": f"{BOOLEAN_FIELD}.*", "mapping": {"type": "boolean"}}},
            ],
            "properties": properties,
        },
    }


def _knn_field(dimension: int, engine: str, space_type: str, m: int, ef_construction: int) -> dict[str, Any]:
    return {
        "type": "knn_vector",
        "dimension": dimension,
        "method": {
            "name": "hnsw",
            "engine": engine,
            "space_type": space_type,
            "parameters": {"m": m, "ef_construction": ef_construction},
        },
    }


def mapped_dimensions(mappings: Mapping[str, Any]) -> tuple[int | None, int]:
    """``(dimension, image_dimension)`` of a chunk index from its ``mappings`` (as ``indices.get_mapping`` returns
    them per index): the text dimension is ``None`` when ``vector`` is not a mapped k-NN field, the image dimension 0
    when the index has no image index. The inverse of ``index_settings_and_mappings`` for ``create_collection``'s
    "same dimensions?" check."""
    properties = mappings.get("properties") or {}
    vector = properties.get(VECTOR_FIELD) or {}
    image = properties.get(IMAGE_VECTOR_FIELD) or {}
    dimension = int(vector["dimension"]) if "dimension" in vector else None
    return dimension, int(image.get("dimension", 0))


# ---------------------------------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------------------------------

def compile_filter(tree: Group | None) -> dict[str, Any] | None:
    """The SearchFilters tree as OpenSearch bool-query DSL with the semantics of ``chalicelib.core.filters.matches``.

    Why it is exact: every condition targets the typed copy for its value's kind (see the module docstring), so a
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
        bounds = {name: value for name, value in (("gt", node.gt), ("gte", node.gte), ("lt", node.lt),
                                                  ("lte", node.lte)) if value is not None}
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


# ---------------------------------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------------------------------


def bulk_actions(
    index: str, collection_doc: tuple[DocumentRecord, Sequence[ChunkRecord]], *, with_ids: bool = True
) -> list[dict[str, Any]]:
    """``index`` actions (for ``helpers.bulk``) writing one document's chunks, ``_id`` = ``chunk_id``.

    Why: a stable ``_id`` makes a retried write idempotent. Replacing a document also needs its stale chunks removed
    (run ``delete_by_doc_query`` first, or delete the ids no longer produced). Metadata goes in verbatim plus the typed
    filter copies described in the module docstring. An image chunk's ``image_vector`` is written to the image index
    field; a chunk without one omits the field (it is then simply not in the image graph). ``with_ids=False`` leaves
    ``_id`` out for OpenSearch Serverless vector collections, which assign their own ids and reject custom ones (the
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
    """The four filter-only copies of ``metadata`` (always all four keys, each value a list in stored order)."""
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
