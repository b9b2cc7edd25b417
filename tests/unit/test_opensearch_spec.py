"""The OpenSearch API specification check the in-memory node applies (``tests/fakes/opensearch_spec.py``): it refuses
what a cluster would, and every body the OpenSearch backend sends passes it."""

from __future__ import annotations

import json

import pytest

from chalicelib.api.search_filters import parse_search_filters
from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus, RecallQuery
from chalicelib.search.opensearch.backend import OpenSearchBackend
from chalicelib.search.opensearch.client import build_client
from chalicelib.search.opensearch.flavours import ManagedCluster
from chalicelib.settings import OpenSearchConnection
from tests.fakes.opensearch import InMemoryOpenSearch
from tests.fakes.opensearch_spec import SpecViolation, specification


@pytest.mark.parametrize(("method", "path", "body", "says"), [
    ("POST", "/_msearch", b'{"index": "a"}\n{"query": {"match_alll": {}}}\n', "match_alll"),
    ("POST", "/_msearch", b'{"indx": "a"}\n{"size": 3}\n', "indx"),
    ("POST", "/_msearch", b'{"index": "a"}\n{"query": {"bool": {"musst": []}}}\n', "musst"),
    ("POST", "/_bulk", b'{"upsert": {"_index": "a", "_id": "1"}}\n{"x": 1}\n', "upsert"),
    ("PUT", "/a", json.dumps({"setings": {}}).encode(), "setings"),
    ("PUT", "/a", json.dumps({"mappings": {"properties": {"v": {"type": "knn_vector", "dimension": "3"}}}}).encode(),
     "dimension"),
    ("GET", "/_alias/a", b'{"x": 1}', "takes no body"),
    ("POST", "/a/_nonsense", b"{}", "no POST"),
])
def test_the_check_refuses_what_a_cluster_would(method: str, path: str, body: bytes, says: str) -> None:
    with pytest.raises(SpecViolation, match=says):
        specification().check(method, path, body)


def test_every_body_the_opensearch_backend_sends_is_in_the_spec() -> None:
    node = InMemoryOpenSearch()
    client = build_client(OpenSearchConnection("https://search.example"))
    node.mount(client)
    backend = OpenSearchBackend(client, index_prefix="sift-spec", flavour=ManagedCluster(refresh=True))
    before = node.spec.checked
    collection = "kb:ws_spec:one"
    backend.create_collection(collection, 3, 2)
    record = DocumentRecord("d1", "d1.txt", "s3://b/d1.txt", "text/plain", 1, "v1", DocumentStatus.INDEXED)
    chunks = [ChunkRecord("d1_0", "d1", 0, "a zebra crossing", "a zebra crossing", [1.0, 0.0, 0.0],
                          {"category": "news", "price": 5, "tags": ["a", "b"], "published": True},
                          image_vector=[0.0, 1.0])]
    backend.upsert_documents(collection, [(record, chunks)])
    tree = parse_search_filters([{"category": "news", "price": {"gte": 1, "lt": 10}, "tags": ["a"]},
                                 {"_operator": "OR", "title": {"like": "zeb%"}, "published": True,
                                  "_conditions": [{"category": {"neq": "blog"}}]}])
    result = backend.recall(collection, RecallQuery("zebra", [1.0, 0.0, 0.0], 5, 5, tree, [[0.0, 1.0]], 5))
    assert [hit.chunk.chunk_id for hit in result.dense] == ["d1_0"]
    backend.get_documents(collection, ["d1"])
    backend.list_documents(collection, offset=0, limit=10)
    backend.count_chunks(collection)
    backend.document_vector(collection, "d1")
    assert backend.delete_document(collection, "d1")
    backend.delete_collection(collection)

    assert node.violations == []
    assert node.spec.checked - before >= 8  # index creation, bulk lines, the msearch of three legs, queries, deletes
