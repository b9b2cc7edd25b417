"""Fixtures of the ``SearchBackend`` contract suite (in the spirit of Haystack's DocumentStore test mixins).

Every test in ``tests/contract`` receives ``backend`` once per implementation: the embedded backend (SQLite + tantivy
+ numpy in ``tmp_path``) and the OpenSearch backend against the in-memory node (``tests/fakes/opensearch.py``) on
every run; the OpenSearch backend against a real cluster when ``SIFT_OPENSEARCH_URL`` points at one (skipped else).
The in-memory node skips only what needs a real analyzer or BM25 scoring.

Tests never share a collection: ``make_collection`` hands out unique names (in the ``kb:<workspace>:<index>`` shape
production uses) and drops every collection it made when the test ends, so a shared cluster stays clean.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chalicelib.core.ports.search import SearchBackend
from chalicelib.search.embedded.backend import EmbeddedBackend
from tests.fakes.opensearch import InMemoryOpenSearch

OPENSEARCH_URL_ENV = "SIFT_OPENSEARCH_URL"


def embedded_backend(tmp_path: Path) -> SearchBackend:
    return EmbeddedBackend(tmp_path)


def opensearch_backend(tmp_path: Path) -> SearchBackend:
    """The OpenSearch backend against ``$SIFT_OPENSEARCH_URL``; imported lazily so the suite runs without it.

    Collections have unique names, so one ``sift-contract`` prefix is enough (its shared documents index is kept).
    The contract expects read-after-write, so the backend refreshes after every write
    (``ManagedCluster(refresh=True)``).
    """
    opensearchpy = pytest.importorskip("opensearchpy")
    from chalicelib.search.opensearch.backend import OpenSearchBackend
    from chalicelib.search.opensearch.flavours import ManagedCluster

    client = opensearchpy.OpenSearch(hosts=[os.environ[OPENSEARCH_URL_ENV]], timeout=30)
    return OpenSearchBackend(client, index_prefix="sift-contract", flavour=ManagedCluster(refresh=True))


def in_memory_opensearch_backend(tmp_path: Path, node: InMemoryOpenSearch | None = None) -> SearchBackend:
    """The OpenSearch backend with its real client, talking to the in-memory node of ``tests/fakes/opensearch.py``:
    every run exercises the OpenSearch adapter end to end (bodies, bulk lines, msearch) without a cluster, and the
    node checks every request against the OpenSearch API specification."""
    from chalicelib.search.opensearch.backend import OpenSearchBackend
    from chalicelib.search.opensearch.client import build_client
    from chalicelib.search.opensearch.flavours import ManagedCluster
    from chalicelib.settings import OpenSearchConnection

    client = build_client(OpenSearchConnection("https://search.example"))
    (node or InMemoryOpenSearch()).mount(client)
    return OpenSearchBackend(client, index_prefix="sift-contract", flavour=ManagedCluster(refresh=True))


BACKEND_FACTORIES: dict[str, Callable[[Path], SearchBackend]] = {
    "embedded": embedded_backend,
    "opensearch-memory": in_memory_opensearch_backend,
    "opensearch": opensearch_backend,
}


@pytest.fixture(
    params=[
        pytest.param("embedded", id="embedded"),
        pytest.param("opensearch-memory", id="opensearch-memory"),
        pytest.param(
            "opensearch",
            id="opensearch",
            marks=pytest.mark.skipif(
                not os.environ.get(OPENSEARCH_URL_ENV),
                reason=f"set {OPENSEARCH_URL_ENV} to run the contract suite against an OpenSearch cluster",
            ),
        ),
    ]
)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(backend_name: str, tmp_path: Path) -> Iterator[SearchBackend]:
    if backend_name != "opensearch-memory":
        yield BACKEND_FACTORIES[backend_name](tmp_path)
        return
    node = InMemoryOpenSearch()
    yield in_memory_opensearch_backend(tmp_path, node)
    # Every body the backend sent was checked against the OpenSearch API specification (tests/fakes/opensearch_spec.py).
    assert node.violations == []


@pytest.fixture
def make_collection(backend: SearchBackend) -> Iterator[Callable[..., str]]:
    """``make_collection(dimension, image_dimension=0)`` creates a fresh, uniquely named collection; all are dropped afterwards."""
    created: list[str] = []

    def make(dimension: int = 4, image_dimension: int = 0) -> str:
        name = f"kb:ws_contract:{uuid.uuid4().hex[:12]}"
        backend.create_collection(name, dimension, image_dimension)
        created.append(name)
        return name

    yield make
    for name in created:
        backend.delete_collection(name)


@pytest.fixture
def collection(make_collection: Callable[..., str]) -> str:
    """A fresh 4-dimensional collection."""
    return make_collection(4)
