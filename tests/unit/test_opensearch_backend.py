"""Unit tests of ``OpenSearchBackend`` against a scripted fake client (no cluster: tests/contract covers a real one)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, RequestError, TransportError
from opensearchpy.serializer import JSONSerializer

from chalicelib.api.errors import InternalError, ServiceUnavailableError, ThrottlingError
from chalicelib.core.filters import parse_search_filters
from chalicelib.search.base import ChunkRecord, DocumentRecord, DocumentStatus, RecallQuery, ScoredChunk, StoredChunk
from chalicelib.search.opensearch.backend import OpenSearchBackend
from chalicelib.search.opensearch.builders import (
    bulk_actions,
    compile_filter,
    delete_by_doc_query,
    dense_query,
    index_settings_and_mappings,
    msearch_body,
    sparse_query,
)

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
        for alias in [alias for alias, target in self._client.aliases.items() if target == index]:
            del self._client.aliases[alias]
        return {"acknowledged": True}

    def refresh(self, *, index: str) -> dict[str, Any]:
        self._client.calls.append(("indices.refresh", {"index": index}))
        return {}


class FakeClient:
    """Just the ``OpenSearch`` methods the backend calls: records every request, keeps documents in dicts, and
    answers ``msearch`` / ``bulk`` items from scripts."""

    transport = FakeTransport()

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.mappings: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.indices = FakeIndices(self)
        self.msearch_responses: list[dict[str, Any] | Exception] = []
        # chunk id -> statuses its next bulk attempts get (then 201); an int status or (status, error) pair
        self.bulk_script: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.bulk_requests: list[list[dict[str, Any]]] = []

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

    def bulk(self, *, body: str, **params: Any) -> dict[str, Any]:
        lines = [json.loads(line) for line in body.splitlines() if line]
        self.calls.append(("bulk", {"body": lines, **params}))
        pairs = list(zip(lines[::2], lines[1::2], strict=True))
        self.bulk_requests.append([action for action, _ in pairs])
        items = []
        for action, source in pairs:
            meta = action["index"]
            script = self.bulk_script.get(meta["_id"])
            if script:
                status, error = script.pop(0)
                items.append({"index": {"_index": meta["_index"], "_id": meta["_id"], "status": status,
                                        "error": error}})
                continue
            physical = self.resolve(meta["_index"])
            self.docs[physical][meta["_id"]] = source
            items.append({"index": {"_index": physical, "_id": meta["_id"], "status": 201, "result": "created"}})
        return {"took": 1, "errors": any(item["index"]["status"] >= 300 for item in items), "items": items}

    def delete_by_query(self, *, index: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.calls.append(("delete_by_query", {"index": index, "body": body, **params}))
        store = self.docs[self.resolve(index)]
        doomed = [key for key, source in store.items() if _matches(source, body["query"])]
        for key in doomed:
            del store[key]
        return {"deleted": len(doomed)}

    def count(self, *, index: str) -> dict[str, Any]:
        self.calls.append(("count", {"index": index}))
        return {"count": len(self.docs[self.resolve(index)])}

    def index(self, *, index: str, id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("index", {"index": index, "id": id, "body": body}))
        self.docs[self.resolve(index)][id] = json.loads(json.dumps(body))
        return {"result": "created"}

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
        sources = [s for s in self.docs[self.resolve(index)].values() if _matches(s, body["query"])]
        sources.sort(key=lambda s: (s["name"], s["doc_id"]))
        page = sources[body["from"]: body["from"] + body["size"]]
        return {"hits": {"total": {"value": len(sources), "relation": "eq"}, "hits": [{"_source": s} for s in page]}}


def _matches(source: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    ((field, value),) = query["term"].items()
    return source.get(field) == value


# --- helpers ----------------------------------------------------------------------------------------------------------


def record(doc_id: str, name: str | None = None) -> DocumentRecord:
    return DocumentRecord(doc_id=doc_id, name=name or f"{doc_id}.txt", uri=f"s3://b/{doc_id}", content_type="text/plain",
                          size=1, version="v1", status=DocumentStatus.INDEXED, metadata={"team": "search"})


def chunk(doc_id: str, position: int, vector: list[float] | None = None) -> ChunkRecord:
    return ChunkRecord(chunk_id=f"{doc_id}_{position}", doc_id=doc_id, position=position, text=f"text {position}",
                       search_text=f"search {position}", vector=vector or [1.0, 0.0, 0.0, 0.0], metadata={"p": position})


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
    backend = OpenSearchBackend(client, refresh=False)  # type: ignore[arg-type]
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
