"""Unit tests of ``OpenSearchBackend`` against a scripted fake client (no cluster: tests/contract covers a real one)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, RequestError, TransportError
from opensearchpy.serializer import JSONSerializer

from chalicelib.api.search_filters import parse_search_filters
from chalicelib.composition import build_backend
from chalicelib.core.errors import InternalError, ServiceUnavailableError, ThrottlingError
from chalicelib.core.ports.search import (
    ChunkRecord,
    DocumentRecord,
    DocumentStatus,
    RecallQuery,
    ScoredChunk,
    StoredChunk,
)
from chalicelib.search.opensearch.backend import OpenSearchBackend
from chalicelib.search.opensearch.builders import bulk_actions, delete_by_doc_query
from chalicelib.search.opensearch.flavours import ManagedCluster, ServerlessCollection
from chalicelib.search.opensearch.mapping import index_settings_and_mappings
from chalicelib.search.opensearch.queries import compile_filter, dense_query, image_query, msearch_body, sparse_query
from chalicelib.settings import Settings

COLLECTION = "kb:ws:index"


# --- the fake client --------------------------------------------------------------------------------------------------


class FakeTransport:
    serializer = JSONSerializer()


class FakeIndices:
    def __init__(self, client: FakeClient) -> None:
        self._client = client

    def exists(self, *, index: str) -> bool:
        self._client.calls.append(("indices.exists", {"index": index}))
        return index in self._client.indices_by_name() or index in self._client.aliases

    def create(self, *, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self._client.calls.append(("indices.create", {"index": index, "body": body}))
        if index in self._client.mappings:
            raise RequestError(400, "resource_already_exists_exception",
                               {"error": {"type": "resource_already_exists_exception", "reason": "exists"}})
        self._client.mappings[index] = body
        self._client.docs.setdefault(index, {})
        for alias in body.get("aliases", {}):
            self._client.aliases[alias] = index
        return {"acknowledged": True}

    def put_alias(self, *, index: str, name: str) -> dict[str, Any]:
        self._client.calls.append(("indices.put_alias", {"index": index, "name": name}))
        self._client.aliases[name] = index
        return {"acknowledged": True}

    def get_alias(self, *, name: str) -> dict[str, Any]:
        self._client.calls.append(("indices.get_alias", {"name": name}))
        if name not in self._client.aliases:
            raise NotFoundError(404, "alias_missing", {"error": f"alias [{name}] missing", "status": 404})
        return {self._client.aliases[name]: {"aliases": {name: {}}}}

    def get_mapping(self, *, index: str) -> dict[str, Any]:
        self._client.calls.append(("indices.get_mapping", {"index": index}))
        physical = self._client.resolve(index)
        return {physical: {"mappings": self._client.mappings[physical]["mappings"]}}

    def delete(self, *, index: str) -> dict[str, Any]:
        self._client.calls.append(("indices.delete", {"index": index}))
        if index not in self._client.mappings:
            raise NotFoundError(404, "index_not_found_exception", {})
        del self._client.mappings[index]
        del self._client.docs[index]
        self._client.ghosts.pop(index, None)
        for alias in [alias for alias, target in self._client.aliases.items() if target == index]:
            del self._client.aliases[alias]
        return {"acknowledged": True}

    def refresh(self, *, index: str) -> dict[str, Any]:
        self._client.calls.append(("indices.refresh", {"index": index}))
        self._client.reject_in_serverless("_refresh")
        return {}


class FakeClient:
    """Just the ``OpenSearch`` methods the backend calls: records every request, keeps documents in dicts, and
    answers ``msearch`` / ``bulk`` items from scripts.

    ``serverless=True`` models an OpenSearch Serverless vector collection: a custom ``_id`` in an index request is
    rejected (bulk item 400, or a raised ``RequestError`` for ``index``), ``_refresh`` and ``_delete_by_query`` raise,
    ids are assigned by the server (``auto-1``, ``auto-2``, ...), and searches lag: a written document is invisible to
    ``search`` / ``count`` and a deleted one still visible (deleting it again answers 404) until ``settle()`` — the
    ~1 s visibility delay (``lag=False`` turns the delay off).
    """

    transport = FakeTransport()

    def __init__(self, *, serverless: bool = False, lag: bool = True) -> None:
        self.serverless = serverless
        self.lag = serverless and lag
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.mappings: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.indices = FakeIndices(self)
        self.msearch_responses: list[dict[str, Any] | Exception] = []
        # chunk id (or, for a delete, document id) -> (status, error) its next bulk attempts get before succeeding
        self.bulk_script: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.bulk_requests: list[list[dict[str, Any]]] = []
        self.bulk_answers: list[list[dict[str, Any]]] = []  # the items of each bulk answer, in request order
        # serverless visibility lag: written but not yet searchable / deleted but still searchable, per physical index
        self.hidden: set[tuple[str, str]] = set()
        self.ghosts: dict[str, dict[str, dict[str, Any]]] = {}
        self._auto_ids = itertools.count(1)

    def settle(self) -> None:
        """Let the serverless visibility delay pass: every write and delete becomes visible to searches."""
        self.hidden.clear()
        self.ghosts.clear()

    def reject_in_serverless(self, api: str) -> None:
        if self.serverless:
            raise RequestError(400, "illegal_argument_exception",
                               {"error": {"type": "illegal_argument_exception", "reason": f"{api} is not supported"}})

    def _store(self, physical: str, doc_id: str | None, source: dict[str, Any]) -> str:
        doc_id = doc_id or f"auto-{next(self._auto_ids)}"
        self.docs[physical][doc_id] = source
        if self.lag:
            self.hidden.add((physical, doc_id))
        return doc_id

    def _remove(self, physical: str, doc_id: str) -> bool:
        store = self.docs[physical]
        if doc_id not in store:
            return False
        source = store.pop(doc_id)
        if self.lag and (physical, doc_id) not in self.hidden:
            self.ghosts.setdefault(physical, {})[doc_id] = source
        self.hidden.discard((physical, doc_id))
        return True

    def searchable(self, physical: str) -> list[tuple[str, dict[str, Any]]]:
        visible = [(key, source) for key, source in self.docs[physical].items() if (physical, key) not in self.hidden]
        return visible + list(self.ghosts.get(physical, {}).items())

    # helpers
    def indices_by_name(self) -> dict[str, dict[str, Any]]:
        return self.mappings

    def resolve(self, name: str) -> str:
        physical = self.aliases.get(name, name)
        if physical not in self.mappings:
            raise NotFoundError(404, "index_not_found_exception",
                                {"error": {"type": "index_not_found_exception", "reason": f"no such index [{name}]"}})
        return physical

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    # document APIs
    def msearch(self, *, body: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(("msearch", {"body": body}))
        response = self.msearch_responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response

    def bulk(self, body: str, **params: Any) -> dict[str, Any]:
        # opensearch-py 2.x's streaming_bulk passes the body positionally.
        lines = iter(json.loads(line) for line in body.splitlines() if line)
        pairs = [(action, None if "delete" in action else next(lines)) for action in lines]
        self.calls.append(("bulk", {"body": [line for pair in pairs for line in pair if line is not None], **params}))
        self.bulk_requests.append([action for action, _ in pairs])
        items = []
        for action, source in pairs:
            ((op, meta),) = action.items()
            key = meta.get("_id") or (source or {}).get("chunk_id")
            script = self.bulk_script.get(key) if key else None
            if script:
                status, error = script.pop(0)
                items.append({op: {"_index": meta["_index"], "_id": meta.get("_id"), "status": status, "error": error}})
                continue
            if op == "delete":
                try:
                    gone = not self._remove(self.resolve(meta["_index"]), meta["_id"])
                except NotFoundError:
                    items.append({op: {"_index": meta["_index"], "_id": meta["_id"], "status": 404, "error": {
                        "type": "index_not_found_exception", "reason": "no such index"}}})
                    continue
                items.append({op: {"_index": meta["_index"], "_id": meta["_id"], "status": 404 if gone else 200,
                                   "result": "not_found" if gone else "deleted"}})
                continue
            if self.serverless and "_id" in meta:
                items.append({op: {"_index": meta["_index"], "status": 400, "error": {
                    "type": "illegal_argument_exception",
                    "reason": "Document ID is not supported in create/index operation request"}}})
                continue
            physical = self.resolve(meta["_index"])
            doc_id = self._store(physical, meta.get("_id"), source or {})
            items.append({op: {"_index": physical, "_id": doc_id, "status": 201, "result": "created"}})
        self.bulk_answers.append([next(iter(item.values())) for item in items])
        errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
        return {"took": 1, "errors": errors, "items": items}

    def delete_by_query(self, *, index: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.calls.append(("delete_by_query", {"index": index, "body": body, **params}))
        self.reject_in_serverless("_delete_by_query")
        store = self.docs[self.resolve(index)]
        doomed = [key for key, source in store.items() if _matches(source, body["query"], key)]
        for key in doomed:
            del store[key]
        return {"deleted": len(doomed)}

    def count(self, *, index: str) -> dict[str, Any]:
        self.calls.append(("count", {"index": index}))
        return {"count": len(self.searchable(self.resolve(index)))}

    def index(self, *, index: str, body: dict[str, Any], id: str | None = None) -> dict[str, Any]:
        self.calls.append(("index", {"index": index, "body": body, **({"id": id} if id is not None else {})}))
        if id is not None:
            self.reject_in_serverless("a custom document id")
        doc_id = self._store(self.resolve(index), id, json.loads(json.dumps(body)))
        return {"_id": doc_id, "result": "created"}

    def get(self, *, index: str, id: str) -> dict[str, Any]:
        self.calls.append(("get", {"index": index, "id": id}))
        store = self.docs[self.resolve(index)]
        if id not in store:
            raise NotFoundError(404, "not found", {"found": False})
        return {"_id": id, "found": True, "_source": store[id]}

    def delete(self, *, index: str, id: str, **params: Any) -> dict[str, Any]:
        self.calls.append(("delete", {"index": index, "id": id, **params}))
        store = self.docs[self.resolve(index)]
        if id not in store:
            raise NotFoundError(404, "not_found", {"result": "not_found"})
        del store[id]
        return {"result": "deleted"}

    def search(self, *, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("search", {"index": index, "body": body}))
        found = [(key, s) for key, s in self.searchable(self.resolve(index)) if _matches(s, body["query"], key)]
        fields = [next(iter(clause)) for clause in body.get("sort", [])]
        found.sort(key=lambda pair: tuple(pair[1][field] for field in fields))
        start = body.get("from", 0)
        hits = []
        for key, source in found[start: start + body["size"]]:
            hit: dict[str, Any] = {"_id": key}
            if body.get("_source") is not False:
                wanted = body.get("_source")
                hit["_source"] = {k: v for k, v in source.items() if not isinstance(wanted, list) or k in wanted}
            if fields:
                hit["sort"] = [source[field] for field in fields]
            hits.append(hit)
        return {"timed_out": False, "_shards": {"total": 1, "successful": 1, "failed": 0},
                "hits": {"total": {"value": len(found), "relation": "eq"}, "hits": hits}}


def _matches(source: Mapping[str, Any], query: Mapping[str, Any], key: str) -> bool:
    """The query DSL subset the backend sends to ``search`` / ``delete_by_query`` (term, range, ids, bool)."""
    ((kind, body),) = query.items()
    if kind == "term":
        ((field, value),) = body.items()
        return source.get(field) == value
    if kind == "range":
        ((field, bounds),) = body.items()
        value = source.get(field)
        return value is not None and all(
            {"gte": value >= bound, "gt": value > bound, "lte": value <= bound, "lt": value < bound}[op]
            for op, bound in bounds.items()
        )
    if kind == "ids":
        return key in body["values"]
    if kind == "bool":
        return all(_matches(source, clause, key) for clause in body.get("filter", [])) and not any(
            _matches(source, clause, key) for clause in body.get("must_not", [])
        )
    raise AssertionError(f"the fake does not model {kind!r} queries")


# --- helpers ----------------------------------------------------------------------------------------------------------


def record(doc_id: str, name: str | None = None) -> DocumentRecord:
    return DocumentRecord(doc_id=doc_id, name=name or f"{doc_id}.txt", uri=f"s3://b/{doc_id}", content_type="text/plain",
                          size=1, version="v1", status=DocumentStatus.INDEXED, metadata={"team": "search"})


def chunk(
    doc_id: str, position: int, vector: list[float] | None = None, image_vector: list[float] | None = None
) -> ChunkRecord:
    return ChunkRecord(chunk_id=f"{doc_id}_{position}", doc_id=doc_id, position=position, text=f"text {position}",
                       search_text=f"search {position}", vector=vector or [1.0, 0.0, 0.0, 0.0], metadata={"p": position},
                       image_vector=image_vector)


def hit(chunk_id: str, score: float) -> dict[str, Any]:
    return {"_id": chunk_id, "_score": score, "_source": {
        "chunk_id": chunk_id, "doc_id": chunk_id.split("_")[0], "position": int(chunk_id.split("_")[1]),
        "text": f"text of {chunk_id}", "search_text": "ignored", "metadata": {"k": "v"}}}


def ok(*hits: dict[str, Any]) -> dict[str, Any]:
    return {"took": 1, "timed_out": False, "_shards": {"total": 1, "successful": 1, "failed": 0},
            "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": list(hits)}, "status": 200}


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def backend(client: FakeClient) -> OpenSearchBackend:
    backend = OpenSearchBackend(client, bulk_initial_backoff=0)  # type: ignore[arg-type]
    backend.create_collection(COLLECTION, 4)
    client.calls.clear()
    return backend


# --- collections ------------------------------------------------------------------------------------------------------


def test_names_follow_the_alias_layout() -> None:
    backend = OpenSearchBackend(FakeClient(), index_prefix="px")  # type: ignore[arg-type]
    digest = hashlib.sha1(COLLECTION.encode()).hexdigest()[:16]
    assert backend.alias(COLLECTION) == f"px-{digest}"
    assert backend.physical_index(COLLECTION) == f"px-{digest}-v1"
    assert backend.documents_index == "px-documents"


def test_create_collection_issues_the_builder_mapping_with_its_alias(client: FakeClient) -> None:
    backend = OpenSearchBackend(client, engine="lucene", space_type="cosinesimil", m=8)  # type: ignore[arg-type]

    backend.create_collection(COLLECTION, 4)

    creates = {call["index"]: call["body"] for name, call in client.calls if name == "indices.create"}
    alias, physical = backend.alias(COLLECTION), backend.physical_index(COLLECTION)
    assert creates[physical] == {
        **index_settings_and_mappings(4, engine="lucene", space_type="cosinesimil", m=8),
        "aliases": {alias: {}},
    }
    assert backend.documents_index in creates
    assert client.aliases[alias] == physical


def test_create_collection_is_idempotent_and_rejects_another_dimension(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    backend.create_collection(COLLECTION, 4)
    assert "indices.create" not in client.methods()

    with pytest.raises(ValueError, match="dimension 4, not 8"):
        backend.create_collection(COLLECTION, 8)


def test_constructor_rejects_an_unknown_engine(client: FakeClient) -> None:
    with pytest.raises(ValueError):
        OpenSearchBackend(client, engine="annoy")  # type: ignore[arg-type]


def test_delete_collection_drops_the_index_and_its_documents_and_ignores_unknown_names(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])

    backend.delete_collection(COLLECTION)
    backend.delete_collection(COLLECTION)
    backend.delete_collection("never-created")

    assert backend.physical_index(COLLECTION) not in client.mappings
    assert backend.get_document(COLLECTION, "a") is None
    assert backend.count_chunks(COLLECTION) == 0
    assert backend.list_documents(COLLECTION, offset=0, limit=10) == ([], 0)


def test_create_collection_with_an_image_index_issues_the_builder_mapping(client: FakeClient) -> None:
    backend = OpenSearchBackend(client, engine="lucene", m=8)  # type: ignore[arg-type]

    backend.create_collection(COLLECTION, 4, 3)

    creates = {call["index"]: call["body"] for name, call in client.calls if name == "indices.create"}
    assert creates[backend.physical_index(COLLECTION)] == {
        **index_settings_and_mappings(4, image_dimension=3, engine="lucene", m=8),
        "aliases": {backend.alias(COLLECTION): {}},
    }


def test_re_creating_a_collection_compares_both_dimensions(client: FakeClient) -> None:
    backend = OpenSearchBackend(client)  # type: ignore[arg-type]
    backend.create_collection(COLLECTION, 4, 3)
    backend.create_collection("kb:ws:text-only", 4)
    client.calls.clear()

    backend.create_collection(COLLECTION, 4, 3)  # same dimensions: a no-op
    backend.create_collection("kb:ws:text-only", 4, 0)
    assert "indices.create" not in client.methods()

    with pytest.raises(ValueError, match="image dimension 3, not 5"):
        backend.create_collection(COLLECTION, 4, 5)
    with pytest.raises(ValueError, match="image dimension 3, not 0"):
        backend.create_collection(COLLECTION, 4)
    with pytest.raises(ValueError, match="image dimension 0, not 3"):
        backend.create_collection("kb:ws:text-only", 4, 3)
    with pytest.raises(ValueError, match="exists with dimension 4, not 8"):  # the text dimension is reported first
        backend.create_collection(COLLECTION, 8, 5)


def test_image_vectors_are_normalised_on_write_and_text_chunks_omit_the_field(client: FakeClient) -> None:
    backend = OpenSearchBackend(client)  # type: ignore[arg-type]
    backend.create_collection(COLLECTION, 4, 3)

    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0), chunk("a", 1, image_vector=[0.0, 3.0, 4.0])])])

    stored = client.docs[backend.physical_index(COLLECTION)]
    assert "image_vector" not in stored["a_0"]
    assert stored["a_1"]["image_vector"] == [0.0, 0.6, 0.8]
    assert stored["a_1"] == bulk_actions(
        "x", (record("a"), [chunk("a", 1, image_vector=[0.0, 0.6, 0.8])])
    )[0]["_source"]


# --- writes -----------------------------------------------------------------------------------------------------------


def test_upsert_deletes_old_chunks_before_writing_and_stores_the_record(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0), chunk("a", 1), chunk("a", 2)])])
    client.calls.clear()

    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0, [3.0, 4.0, 0.0, 0.0])])])

    assert client.methods() == ["delete_by_query", "bulk", "index", "indices.refresh"]
    delete = client.calls[0][1]
    assert delete["index"] == backend.alias(COLLECTION) and delete["body"] == delete_by_doc_query("a")
    (sent,) = client.bulk_requests[-1]
    assert sent == {"index": {"_index": backend.alias(COLLECTION), "_id": "a_0"}}
    assert client.calls[1][1]["require_alias"] is True
    assert client.calls[3] == ("indices.refresh", {"index": f"{backend.alias(COLLECTION)},sift-documents"})
    stored = client.docs[backend.physical_index(COLLECTION)]
    assert list(stored) == ["a_0"]
    # The source is the builder's, with the vector normalised to unit length (inner product == cosine).
    expected = bulk_actions("x", (record("a"), [chunk("a", 0, [0.6, 0.8, 0.0, 0.0])]))[0]["_source"]
    assert stored["a_0"] == expected
    assert backend.count_chunks(COLLECTION) == 1
    got = backend.get_document(COLLECTION, "a")
    assert got is not None and got.chunk_count == 1 and got.metadata == {"team": "search"}


def test_refresh_false_never_calls_refresh(client: FakeClient) -> None:
    backend = OpenSearchBackend(client, flavour=ManagedCluster(refresh=False))  # type: ignore[arg-type]
    backend.create_collection(COLLECTION, 4)
    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])
    assert "indices.refresh" not in client.methods()


def test_a_429_item_is_retried_until_every_chunk_is_written(backend: OpenSearchBackend, client: FakeClient) -> None:
    rejected = {"type": "es_rejected_execution_exception", "reason": "queue full"}
    client.bulk_script["a_1"] = [(429, rejected), (429, rejected)]

    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0), chunk("a", 1), chunk("a", 2)])])

    assert [[a["index"]["_id"] for a in request] for request in client.bulk_requests] == [
        ["a_0", "a_1", "a_2"], ["a_1"], ["a_1"],
    ]
    assert sorted(client.docs[backend.physical_index(COLLECTION)]) == ["a_0", "a_1", "a_2"]


def test_a_permanent_item_failure_raises_naming_the_document(backend: OpenSearchBackend, client: FakeClient) -> None:
    client.bulk_script["a_1"] = [(400, {"type": "mapper_parsing_exception", "reason": "failed to parse [vector]"})]

    with pytest.raises(InternalError) as caught:
        backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0), chunk("a", 1)])])

    message = caught.value.message
    assert "'a'" in message and "1 of 2 chunks" in message and "a_1" in message
    assert "mapper_parsing_exception: failed to parse [vector]" in message
    assert backend.get_document(COLLECTION, "a") is None  # the record is not written over a partial document


def test_a_429_that_outlasts_the_retries_is_service_unavailable(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    client.bulk_script["a_0"] = [(429, {"type": "es_rejected_execution_exception", "reason": "queue full"})] * 4

    with pytest.raises(ServiceUnavailableError, match="document 'a'.*queue full.*retry the request"):
        backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])
    assert len(client.bulk_requests) == 4  # the first attempt and max_retries=3


def test_upsert_into_a_missing_collection_raises_value_error(backend: OpenSearchBackend) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        backend.upsert_documents("kb:ws:missing", [(record("a"), [chunk("a", 0)])])


def test_documents_are_listed_by_name_and_deleted(backend: OpenSearchBackend, client: FakeClient) -> None:
    backend.upsert_documents(COLLECTION, [(record("x", "b.txt"), [chunk("x", 0)]), (record("y", "a.txt"), [])])

    page, total = backend.list_documents(COLLECTION, offset=0, limit=1)
    assert total == 2 and [r.name for r in page] == ["a.txt"]

    assert backend.delete_document(COLLECTION, "x") is True
    assert backend.delete_document(COLLECTION, "x") is False
    assert backend.count_chunks(COLLECTION) == 0
    assert backend.list_documents(COLLECTION, offset=0, limit=10)[1] == 1


# --- recall -----------------------------------------------------------------------------------------------------------


def test_recall_sends_one_msearch_with_both_builder_legs_and_maps_hits(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    filters = parse_search_filters([{"team": "search"}])
    client.msearch_responses.append({"responses": [ok(hit("a_0", 1.5), hit("b_1", 0.8)), ok(hit("c_2", 7.25))]})

    result = backend.recall(COLLECTION, RecallQuery("pricing plans", [0.0, 2.0, 0.0, 0.0], 5, 3, filters))

    assert client.methods() == ["msearch"]
    filter_dsl = compile_filter(filters)
    assert filter_dsl is not None
    assert client.calls[0][1]["body"] == msearch_body(
        backend.alias(COLLECTION),
        dense_query([0.0, 1.0, 0.0, 0.0], 5, filter_dsl),
        sparse_query("pricing plans", 3, filter_dsl),
    )
    # innerproduct scores back to cosine: 1.5 -> 0.5 (ip >= 0), 0.8 -> 1 - 1/0.8 = -0.25 (ip < 0); BM25 untouched.
    assert [(h.chunk.chunk_id, round(h.score, 6)) for h in result.dense] == [("a_0", 0.5), ("b_1", -0.25)]
    assert result.sparse == [ScoredChunk(StoredChunk("c_2", "c", 2, "text of c_2", {"k": "v"}), 7.25)]


@pytest.mark.parametrize(
    ("dense_k", "sparse_k", "legs"),
    [(0, 3, ["sparse"]), (5, 0, ["dense"])],
)
def test_a_leg_with_top_k_zero_is_left_out_of_the_msearch(
    backend: OpenSearchBackend, client: FakeClient, dense_k: int, sparse_k: int, legs: list[str]
) -> None:
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0))]})

    result = backend.recall(COLLECTION, RecallQuery("text", [1.0, 0.0, 0.0, 0.0], dense_k, sparse_k))

    (body,) = [call["body"] for name, call in client.calls if name == "msearch"]
    assert len(body) == 2  # one header/body pair
    assert ("knn" in body[1]["query"]) == (legs == ["dense"])
    assert len(result.dense) == (1 if legs == ["dense"] else 0)
    assert len(result.sparse) == (1 if legs == ["sparse"] else 0)
    if legs == ["dense"]:
        assert math.isclose(result.dense[0].score, 1.0)


def test_recall_with_nothing_to_ask_sends_nothing(backend: OpenSearchBackend, client: FakeClient) -> None:
    result = backend.recall(COLLECTION, RecallQuery("   ", [0.0, 0.0, 0.0, 0.0], 5, 5))
    assert result.dense == [] and result.sparse == [] and client.calls == []


def test_recall_on_a_missing_collection_is_empty(backend: OpenSearchBackend, client: FakeClient) -> None:
    missing = {"error": {"type": "index_not_found_exception", "reason": "no such index"}, "status": 404}
    client.msearch_responses.append({"responses": [missing, missing]})
    result = backend.recall("kb:ws:missing", RecallQuery("x", [1.0, 0, 0, 0], 5, 5))
    assert result.dense == [] and result.sparse == []


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (429, "es_rejected_execution_exception", ServiceUnavailableError),
        (503, "search_phase_execution_exception", ServiceUnavailableError),
        (400, "query_shard_exception", InternalError),
    ],
)
def test_an_msearch_item_error_raises_a_clear_service_error(
    backend: OpenSearchBackend, client: FakeClient, status: int, error_type: str, expected: type[Exception]
) -> None:
    failed = {"error": {"type": error_type, "reason": "something broke", "root_cause": []}, "status": status}
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0)), failed]})

    with pytest.raises(expected) as caught:
        backend.recall(COLLECTION, RecallQuery("x", [1.0, 0, 0, 0], 5, 5))

    assert type(caught.value) is expected
    message = str(caught.value)
    assert f"sparse recall (HTTP {status}): {error_type}: something broke" in message
    assert ("retry the request" in message) == (expected is ServiceUnavailableError)


def test_a_timed_out_leg_is_service_unavailable(backend: OpenSearchBackend, client: FakeClient) -> None:
    client.msearch_responses.append({"responses": [{**ok(), "timed_out": True}]})
    with pytest.raises(ServiceUnavailableError, match="timed out during the dense recall"):
        backend.recall(COLLECTION, RecallQuery("", [1.0, 0, 0, 0], 5, 0))


# --- image recall -----------------------------------------------------------------------------------------------------


def test_recall_sends_one_image_item_per_query_image_in_the_same_msearch(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    filters = parse_search_filters([{"team": "search"}])
    client.msearch_responses.append({"responses": [
        ok(hit("d_0", 1.5)),
        ok(hit("s_0", 3.0)),
        ok(hit("x_0", 1.9), hit("y_1", 1.5)),               # image 1: x 0.9, y 0.5
        ok(hit("y_1", 1.8), hit("z_2", 1.7), hit("x_0", 1.1)),  # image 2: y 0.8, z 0.7, x 0.1
    ]})
    query = RecallQuery("pricing", [0.0, 2.0, 0.0, 0.0], 5, 3, filters,
                        image_vectors=[[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]], image_top_k=2)

    result = backend.recall(COLLECTION, query)

    assert client.methods() == ["msearch"]  # dense + sparse + one item per image: still one round trip
    filter_dsl = compile_filter(filters)
    assert filter_dsl is not None
    body = client.calls[0][1]["body"]
    assert body == msearch_body(
        backend.alias(COLLECTION),
        dense_query([0.0, 1.0, 0.0, 0.0], 5, filter_dsl),
        sparse_query("pricing", 3, filter_dsl),
        [image_query([0.6, 0.8, 0.0], 2, filter_dsl), image_query([0.0, 0.0, 1.0], 2, filter_dsl)],
    )
    assert len(body) == 2 * (2 + 2)
    for item in body[5::2]:  # the image items: the filter is inside the kNN clause (efficient filtering)
        assert item["query"]["knn"]["image_vector"]["filter"] == filter_dsl
    # Merged per chunk keeping the best cosine over the images, best first, cut to image_top_k.
    assert [(h.chunk.chunk_id, round(h.score, 6)) for h in result.image] == [("x_0", 0.9), ("y_1", 0.8)]
    assert [h.chunk.chunk_id for h in result.dense] == ["d_0"] and [h.chunk.chunk_id for h in result.sparse] == ["s_0"]


def test_image_leg_alone_with_ties_keeps_first_found_order(backend: OpenSearchBackend, client: FakeClient) -> None:
    client.msearch_responses.append({"responses": [ok(hit("a_0", 1.5), hit("b_0", 1.25)), ok(hit("c_0", 1.5))]})

    result = backend.recall(COLLECTION, RecallQuery("", None, 0, 0, image_vectors=[[1.0], [0.5]], image_top_k=5))

    (body,) = [call["body"] for name, call in client.calls if name == "msearch"]
    assert [next(iter(item["query"]["knn"])) for item in body[1::2]] == ["image_vector", "image_vector"]
    assert [(h.chunk.chunk_id, h.score) for h in result.image] == [("a_0", 0.5), ("c_0", 0.5), ("b_0", 0.25)]
    assert result.dense == [] and result.sparse == []


@pytest.mark.parametrize(
    "query",
    [
        RecallQuery("", None, 0, 0, image_vectors=[[1.0, 0.0]], image_top_k=0),  # leg switched off
        RecallQuery("", None, 0, 0, image_vectors=[], image_top_k=5),  # no query images
        RecallQuery("", None, 0, 0, image_vectors=[[0.0, 0.0]], image_top_k=5),  # a zero image vector
    ],
)
def test_image_leg_with_nothing_to_ask_sends_nothing(
    backend: OpenSearchBackend, client: FakeClient, query: RecallQuery
) -> None:
    assert backend.recall(COLLECTION, query).image == [] and client.calls == []


def test_a_zero_image_vector_is_left_out_of_the_msearch(backend: OpenSearchBackend, client: FakeClient) -> None:
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0))]})

    backend.recall(COLLECTION, RecallQuery("", None, 0, 0, image_vectors=[[0.0, 0.0], [0.0, 5.0]], image_top_k=3))

    (body,) = [call["body"] for name, call in client.calls if name == "msearch"]
    assert body == msearch_body(backend.alias(COLLECTION), None, None, [image_query([0.0, 1.0], 3, None)])


def test_image_recall_on_a_collection_without_an_image_index_is_empty(
    backend: OpenSearchBackend, client: FakeClient
) -> None:
    # The fixture's collection has no image index. No mapping look-up is made: the item carries ignore_unmapped, so
    # the cluster answers it with no hits (what the fake scripts here) in the same single round trip.
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0)), ok()]})

    result = backend.recall(COLLECTION, RecallQuery("", [1.0, 0, 0, 0], 5, 0, image_vectors=[[1.0]], image_top_k=5))

    assert client.methods() == ["msearch"]
    assert client.calls[0][1]["body"][3]["query"]["knn"]["image_vector"]["ignore_unmapped"] is True
    assert result.image == [] and [h.chunk.chunk_id for h in result.dense] == ["a_0"]


def test_image_recall_on_a_missing_collection_is_empty(backend: OpenSearchBackend, client: FakeClient) -> None:
    missing = {"error": {"type": "index_not_found_exception", "reason": "no such index"}, "status": 404}
    client.msearch_responses.append({"responses": [missing, missing]})
    query = RecallQuery("", None, 0, 0, image_vectors=[[1.0], [0.5]], image_top_k=5)
    assert backend.recall("kb:ws:missing", query).image == []


def test_a_failed_image_item_raises_naming_the_image_recall(backend: OpenSearchBackend, client: FakeClient) -> None:
    failed = {"error": {"type": "illegal_argument_exception",
                        "reason": "Query vector has invalid dimension: 2. Dimension should be: 3"}, "status": 400}
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0)), ok(), failed]})

    with pytest.raises(InternalError, match=r"image recall \(HTTP 400\): illegal_argument_exception: Query vector"):
        backend.recall(COLLECTION, RecallQuery("", [1.0, 0, 0, 0], 5, 0, image_vectors=[[1.0], [0.5]], image_top_k=5))


def test_a_missing_image_response_is_an_internal_error(backend: OpenSearchBackend, client: FakeClient) -> None:
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0))]})
    with pytest.raises(InternalError, match="without a image response"):
        backend.recall(COLLECTION, RecallQuery("", None, 0, 0, image_vectors=[[1.0], [0.5]], image_top_k=5))


# --- transport errors -------------------------------------------------------------------------------------------------


def test_connection_timeout_is_service_unavailable(backend: OpenSearchBackend, client: FakeClient) -> None:
    timeout = ConnectionTimeout("TIMEOUT", "timed out", TimeoutError("read timed out"))
    client.msearch_responses.append(timeout)

    with pytest.raises(ServiceUnavailableError) as caught:
        backend.recall(COLLECTION, RecallQuery("x", None, 0, 5))

    assert caught.value.kind.status == 503
    assert caught.value.message == "OpenSearch did not answer in time; retry the request"
    assert caught.value.__cause__ is timeout


@pytest.mark.parametrize(
    ("status", "expected"), [(429, ThrottlingError), (502, ServiceUnavailableError), (400, InternalError)]
)
def test_transport_errors_are_translated(
    backend: OpenSearchBackend, client: FakeClient, status: int, expected: type[Exception]
) -> None:
    error = TransportError(status, "boom", {"error": {"root_cause": [{"type": "x_exception", "reason": "why"}]}})
    client.msearch_responses.append(error)

    with pytest.raises(expected) as caught:
        backend.recall(COLLECTION, RecallQuery("x", None, 0, 5))

    assert type(caught.value) is expected and caught.value.__cause__ is error
    assert "x_exception: why" in str(caught.value)


# --- OpenSearch Serverless mode ---------------------------------------------------------------------------------------


def serverless_backend(client: FakeClient, **options: Any) -> OpenSearchBackend:
    # The flavour has no refresh option at all: nothing can turn refreshes on.
    flavour = ServerlessCollection(**options)
    return OpenSearchBackend(client, flavour=flavour, bulk_initial_backoff=0)  # type: ignore[arg-type]


def stamped(doc_id: str, updated_at: str) -> DocumentRecord:
    return dataclasses.replace(record(doc_id), updated_at=updated_at)


def forbidden_requests(client: FakeClient) -> list[tuple[str, Any]]:
    """Every recorded request that uses refresh, delete-by-query or a custom id (or a GET/DELETE by computed id)."""
    found: list[tuple[str, Any]] = []
    for name, call in client.calls:
        if name in {"indices.refresh", "delete_by_query", "get", "delete"}:
            found.append((name, call))
        if "refresh" in call:
            found.append((name, "refresh parameter"))
        if name == "index" and "id" in call:
            found.append((name, call["id"]))
        if name == "bulk":
            found.extend((name, line) for line in call["body"] if "_id" in line.get("index", {}))
    return found


def test_serverless_main_operations_never_use_refresh_delete_by_query_or_custom_ids() -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)

    backend.create_collection(COLLECTION, 4, 3)
    backend.upsert_documents(COLLECTION, [
        (stamped("a", "2026-01-01T00:00:00.000Z"), [chunk("a", 0), chunk("a", 1, image_vector=[1.0, 0.0, 0.0])]),
        (record("b"), [chunk("b", 0)]),
    ])
    client.settle()
    backend.upsert_documents(COLLECTION, [(stamped("a", "2026-01-02T00:00:00.000Z"), [chunk("a", 0)])])
    client.settle()
    assert backend.count_chunks(COLLECTION) == 2
    got = backend.get_document(COLLECTION, "a")
    assert got is not None and got.chunk_count == 1 and got.updated_at == "2026-01-02T00:00:00.000Z"
    assert backend.delete_document(COLLECTION, "b") is True
    client.settle()
    assert backend.get_document(COLLECTION, "b") is None
    page, total = backend.list_documents(COLLECTION, offset=0, limit=10)
    assert total == 1 and [r.doc_id for r in page] == ["a"]
    client.msearch_responses.append({"responses": [ok(hit("a_0", 2.0)), ok(hit("a_0", 1.0)), ok()]})
    result = backend.recall(COLLECTION, RecallQuery("t", [1.0, 0, 0, 0], 5, 5, image_vectors=[[1.0]], image_top_k=2))
    assert [h.chunk.chunk_id for h in result.dense] == ["a_0"]
    backend.delete_collection(COLLECTION)
    client.settle()
    assert backend.get_document(COLLECTION, "a") is None
    assert backend.list_documents(COLLECTION, offset=0, limit=10) == ([], 0)
    assert backend.count_chunks(COLLECTION) == 0

    assert forbidden_requests(client) == []
    assert {"search", "bulk", "index", "msearch", "indices.create", "indices.delete"} <= set(client.methods())
    assert client.docs[backend.documents_index] == {}  # every record of the collection was removed


def test_serverless_upsert_collects_old_ids_before_writing_so_it_never_deletes_its_own_chunks() -> None:
    # No visibility lag here (everything is searchable at once): if the old ids were looked up after the new chunks
    # were written, the re-upsert would find and delete its own chunks. Same chunk ids, new text: only new ones remain.
    client = FakeClient(serverless=True, lag=False)
    backend = serverless_backend(client)
    backend.create_collection(COLLECTION, 4)
    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0), chunk("a", 1), chunk("a", 2)])])
    client.calls.clear()
    client.bulk_requests.clear()
    replacement = [dataclasses.replace(chunk("a", 0), text="new 0"), dataclasses.replace(chunk("a", 1), text="new 1")]

    backend.upsert_documents(COLLECTION, [(record("a"), replacement)])

    # find old chunk ids, find old record ids, delete old chunks, write new chunks, write record, delete old record
    assert client.methods() == ["search", "search", "bulk", "bulk", "index", "bulk"]
    assert client.calls[0][1]["body"]["query"] == {"bool": {"filter": [delete_by_doc_query("a")["query"]]}}
    assert [next(iter(a)) for a in client.bulk_requests[0]] == ["delete"] * 3
    assert [next(iter(a)) for a in client.bulk_requests[1]] == ["index"] * 2
    assert [next(iter(a)) for a in client.bulk_requests[2]] == ["delete"]
    stored = client.docs[backend.physical_index(COLLECTION)]
    assert sorted(source["text"] for source in stored.values()) == ["new 0", "new 1"]
    assert len(client.docs[backend.documents_index]) == 1
    got = backend.get_document(COLLECTION, "a")
    assert got is not None and got.chunk_count == 2


def test_serverless_re_upsert_inside_the_visibility_window_leaves_stale_copies_until_the_next_one() -> None:
    # PINNED GAP (module docstring, "Visibility"): the second upsert cannot see the first one's chunks and record yet.
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)
    backend.create_collection(COLLECTION, 4)
    backend.upsert_documents(COLLECTION, [(stamped("a", "2026-01-01T00:00:00.000Z"), [chunk("a", 0), chunk("a", 1)])])
    backend.upsert_documents(COLLECTION, [(stamped("a", "2026-01-02T00:00:00.000Z"), [chunk("a", 0)])])
    client.settle()

    assert backend.count_chunks(COLLECTION) == 3  # both versions survive
    assert backend.list_documents(COLLECTION, offset=0, limit=10)[1] == 2  # listed twice
    got = backend.get_document(COLLECTION, "a")
    assert got is not None and got.updated_at == "2026-01-02T00:00:00.000Z"  # reads prefer the newer record

    backend.upsert_documents(COLLECTION, [(stamped("a", "2026-01-03T00:00:00.000Z"), [chunk("a", 0)])])
    client.settle()

    assert backend.count_chunks(COLLECTION) == 1
    page, total = backend.list_documents(COLLECTION, offset=0, limit=10)
    assert total == 1 and page[0].updated_at == "2026-01-03T00:00:00.000Z"


def test_serverless_id_look_ups_page_exactly_even_when_sort_keys_tie() -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client, id_page_size=2)
    backend.create_collection(COLLECTION, 4)
    chunks = [chunk("a", 0), chunk("a", 1), chunk("a", 2)]
    backend.upsert_documents(COLLECTION, [(record("a"), chunks)])
    backend.upsert_documents(COLLECTION, [(record("a"), chunks)])  # inside the window: every chunk id twice
    backend.upsert_documents(COLLECTION, [(record("b"), [chunk("b", 0)])])
    client.settle()
    assert backend.count_chunks(COLLECTION) == 7
    client.calls.clear()

    assert backend.delete_document(COLLECTION, "a") is True
    client.settle()

    assert backend.count_chunks(COLLECTION) == 1  # all six copies found across pages of 2 whose boundaries tie
    assert backend.get_document(COLLECTION, "a") is None and backend.get_document(COLLECTION, "b") is not None
    chunk_pages = [call["body"] for name, call in client.calls
                   if name == "search" and call["index"] == backend.alias(COLLECTION)]
    assert len(chunk_pages) == 4  # 2 + 2 + 2 + an empty last page
    second = chunk_pages[1]["query"]["bool"]
    assert second["filter"][1] == {"range": {"chunk_id": {"gte": "a_0"}}}
    assert len(second["must_not"][0]["ids"]["values"]) == 2  # both copies of a_0 already seen


def test_serverless_delete_counts_a_404_as_already_gone() -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)
    backend.create_collection(COLLECTION, 4)
    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])
    client.settle()

    assert backend.delete_document(COLLECTION, "a") is True
    # Inside the window the deleted copies are still found; deleting them again answers 404: no error, not "deleted".
    assert backend.delete_document(COLLECTION, "a") is False
    assert [item["status"] for item in client.bulk_answers[-2]] == [404]  # the chunk
    assert [item["status"] for item in client.bulk_answers[-1]] == [404]  # the record
    client.settle()
    assert backend.delete_document(COLLECTION, "a") is False
    assert backend.delete_document("kb:ws:missing", "a") is False


@pytest.mark.parametrize(
    ("status", "expected"), [(429, ServiceUnavailableError), (500, ServiceUnavailableError), (400, InternalError)]
)
def test_serverless_a_failed_delete_item_raises(status: int, expected: type[Exception]) -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)
    backend.create_collection(COLLECTION, 4)
    backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])
    client.settle()
    (server_id,) = client.docs[backend.physical_index(COLLECTION)]
    client.bulk_script[server_id] = [(status, {"type": "some_exception", "reason": "broken"})] * 4

    with pytest.raises(expected) as caught:
        backend.delete_document(COLLECTION, "a")

    assert type(caught.value) is expected
    assert f"chunks of document 'a' (first: id {server_id!r}, HTTP {status}: some_exception: broken)" in str(caught.value)


def test_serverless_a_failed_chunk_write_raises_without_quoting_a_server_id() -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)
    backend.create_collection(COLLECTION, 4)
    client.bulk_script["a_1"] = [(400, {"type": "mapper_parsing_exception", "reason": "failed to parse"})]

    with pytest.raises(InternalError) as caught:
        backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0), chunk("a", 1)])])

    assert caught.value.message == (
        "OpenSearch failed to write 1 of 2 chunks of document 'a' "
        "(first: HTTP 400: mapper_parsing_exception: failed to parse)"
    )
    client.settle()
    assert backend.get_document(COLLECTION, "a") is None  # the record is not written over a partial document


def test_serverless_upsert_into_a_missing_collection_raises_value_error() -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)
    backend.create_collection(COLLECTION, 4)
    with pytest.raises(ValueError, match="does not exist"):
        backend.upsert_documents("kb:ws:missing", [(record("a"), [chunk("a", 0)])])


def test_serverless_delete_collection_removes_only_that_collections_records() -> None:
    client = FakeClient(serverless=True)
    backend = serverless_backend(client)
    for name in (COLLECTION, "kb:ws:other"):
        backend.create_collection(name, 4)
        backend.upsert_documents(name, [(record("a"), [chunk("a", 0)]), (record("b"), [])])
    client.settle()

    backend.delete_collection(COLLECTION)
    backend.delete_collection("kb:ws:never-created")
    client.settle()

    assert backend.list_documents(COLLECTION, offset=0, limit=10) == ([], 0)
    assert backend.list_documents("kb:ws:other", offset=0, limit=10)[1] == 2
    assert backend.count_chunks("kb:ws:other") == 1


def test_serverless_reads_before_any_collection_exists_are_empty() -> None:
    backend = serverless_backend(FakeClient(serverless=True))
    assert backend.get_document(COLLECTION, "a") is None
    assert backend.delete_document(COLLECTION, "a") is False
    backend.delete_collection(COLLECTION)


@pytest.mark.parametrize(("auth", "serverless"), [("sigv4-aoss", True), ("sigv4-es", False), ("none", False)])
def test_the_composition_picks_the_flavour_from_the_signing_service(auth: str, serverless: bool) -> None:
    settings = Settings.from_environment({
        "SIFT_BACKEND": "opensearch",
        "SIFT_OPENSEARCH_URL": "https://search.example",
        "SIFT_OPENSEARCH_AUTH": auth,
        "AWS_REGION": "eu-west-1",
    })
    client = FakeClient(serverless=True)  # a serverless collection: refuses custom ids, refresh, delete-by-query
    backend = build_backend(settings, SimpleNamespace(opensearch=client))  # type: ignore[arg-type]
    backend.create_collection(COLLECTION, 4)

    if serverless:
        backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])
        assert forbidden_requests(client) == []
    else:
        with pytest.raises(InternalError):  # a domain's requests: refused by a serverless collection
            backend.upsert_documents(COLLECTION, [(record("a"), [chunk("a", 0)])])


@pytest.mark.parametrize("size", [0, 10_001, True])
def test_constructor_rejects_an_id_page_size_beyond_the_result_window(size: Any) -> None:
    with pytest.raises(ValueError, match="id_page_size"):
        ServerlessCollection(id_page_size=size)
