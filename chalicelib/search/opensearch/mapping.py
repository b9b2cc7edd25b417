"""The indices' settings and mappings: the chunk index of a collection and the shared documents index.

Everything here returns plain dicts and imports no client, so it can be golden-tested and reused by any transport.

Metadata layout (why filters do not query ``metadata.<name>`` directly)
-----------------------------------------------------------------------
The embedded filter semantics (``chalicelib.core.filters``) compare like with like: ``"5"`` never equals ``5``, ``true``
never equals ``1``, ranges only see numbers, ``like`` is a case-folded substring. A single dynamically mapped
``metadata.<name>`` field cannot keep that: its type is fixed by the first document, later values of another kind are
coerced (``5`` -> ``"5"`` on a keyword) or reject the whole document, a range on a keyword field compares strings
lexicographically, and a ``term`` of the wrong kind (``"cheap"`` on a double field) fails the *query* with a parse
error where the embedded backend simply matches nothing. So ``builders.bulk_actions`` writes each chunk's metadata
twice, and ``queries.compile_filter`` only ever reads the second copy:

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

from collections.abc import Mapping
from typing import Any, Final

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
    properties.update(
        {
            "metadata": {"type": "object", "enabled": False},
            KEYWORD_FIELD: {"type": "object", "dynamic": True},
            FOLDED_FIELD: {"type": "object", "dynamic": True},
            NUMBER_FIELD: {"type": "object", "dynamic": True},
            BOOLEAN_FIELD: {"type": "object", "dynamic": True},
        }
    )
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


# The shared documents index: one ``DocumentRecord`` per (collection, doc_id), filtered and sorted by the keywords,
# the record itself kept verbatim in ``record`` (``enabled: false``: stored, never indexed).
DOCUMENTS_INDEX_BODY: Final[dict[str, Any]] = {
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "collection": {"type": "keyword"},
            "doc_id": {"type": "keyword"},
            "name": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE},
            "record": {"type": "object", "enabled": False},
        },
    }
}
