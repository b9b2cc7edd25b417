"""The OpenSearch backend through the real opensearch-py client against the in-memory node (tests/fakes/opensearch):
the calls the unit tests with a scripted client do not reach — stored vectors and attributes read back."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus
from chalicelib.search.opensearch.backend import OpenSearchBackend
from chalicelib.search.opensearch.client import build_client
from chalicelib.search.opensearch.flavours import ManagedCluster, ServerlessCollection
from chalicelib.settings import OpenSearchConnection
from tests.fakes.opensearch import InMemoryOpenSearch

COLLECTION = "ds:travel:photos"


@pytest.fixture
def node() -> InMemoryOpenSearch:
    return InMemoryOpenSearch()


@pytest.fixture(params=[False, True], ids=["domain", "serverless"])
def backend(request: pytest.FixtureRequest, node: InMemoryOpenSearch) -> OpenSearchBackend:
    client = build_client(OpenSearchConnection("https://search.example"))
    node.mount(client)
    backend = OpenSearchBackend(client, flavour=ServerlessCollection() if request.param else ManagedCluster())
    backend.create_collection(COLLECTION, 3)
    return backend


def record(doc_id: str, **changes: object) -> DocumentRecord:
    base = DocumentRecord(doc_id, f"{doc_id}.jpg", f"s3://b/{doc_id}.jpg", "image/jpeg", 1, "v1", DocumentStatus.INDEXED)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chunk(doc_id: str, position: int, vector: list[float]) -> ChunkRecord:
    return ChunkRecord(f"{doc_id}_{position}", doc_id, position, "text", "text", vector, {"media_type": "image"})


def test_document_vector_and_attributes_read_back(backend: OpenSearchBackend) -> None:
    given = {"Labels": [{"LabelName": "风景", "LabelConfidence": 0.98}], "CustomId": "\t\nid"}
    backend.upsert_documents(COLLECTION, [(record("a", attributes=given), [chunk("a", 1, [0, 1, 0]), chunk("a", 0, [3, 4, 0])])])
    vector = backend.document_vector(COLLECTION, "a")
    assert vector is not None and [round(value, 4) for value in vector] == [0.6, 0.8, 0.0]
    assert backend.document_vector(COLLECTION, "missing") is None
    stored = backend.get_document(COLLECTION, "a")
    assert stored is not None and stored.attributes == given


def test_get_documents_is_one_search_for_the_whole_page(backend: OpenSearchBackend, node: InMemoryOpenSearch) -> None:
    backend.upsert_documents(COLLECTION, [(record(name), [chunk(name, 0, [1, 0, 0])]) for name in ("a", "b", "c")])
    before = len(node.requests)
    found = backend.get_documents(COLLECTION, ["a", "c", "zzz"])
    assert sorted(found) == ["a", "c"] and found["c"].name == "c.jpg"
    assert [(request.method, request.path) for request in node.requests[before:]] == [
        ("POST", "/sift-documents/_search")
    ]
