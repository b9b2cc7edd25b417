"""The image index through the service: which indexes get one, how images are indexed, when query images are used.

The multimodal model is a small deterministic fake (the Bedrock ones are Stubber-tested in test_bedrock_multimodal and
run end to end in tests/api/test_stages.py); everything else is the real embedded stage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.core.errors import InternalError
from chalicelib.core.fusion import FusionConfig
from chalicelib.core.images import ImageQueryEmbedder
from chalicelib.core.index_jobs import IndexJobs
from chalicelib.core.indexing import Indexer
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.ports.models import detect_image_format
from chalicelib.core.rerankers import RerankerRegistry
from chalicelib.core.retrieval import RetrievalQuery, Retriever
from chalicelib.models.local import HashingEmbedder
from chalicelib.models.local_rerank import LocalReranker
from chalicelib.models.local_rewrite import ContextRewriter
from chalicelib.search.embedded.backend import EmbeddedBackend
from chalicelib.sources.local import LocalFileSource
from chalicelib.store.sqlite import SqliteCatalog
from tests.fakes.images import GIF, PNG

WS = "ws_images"


class FakeImageEmbedder:
    """Vectors from a hash of the bytes: the same image always lands on the same vector, others elsewhere."""

    def __init__(self, name: str = "fake-multimodal/8") -> None:
        self._name = name
        self.calls: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return 8

    def embed_indexed_image(self, image: bytes) -> list[float]:
        self.calls.append("index")
        return self._vector(image)

    def embed_image(self, image: bytes) -> list[float]:
        self.calls.append("query")
        return self._vector(image)

    def embed_text(self, text: str) -> list[float]:
        return self._vector(text.encode())

    @staticmethod
    def _vector(data: bytes) -> list[float]:
        if detect_image_format(data) is None and data[:4] != b"text":
            raise ValueError("not an image")
        digest = hashlib.sha256(data).digest()
        return [float(byte) - 127.5 for byte in digest[:8]]


class FilesAsImages:
    """Query images by file path (the real loader's network rules are tested in test_image_loader)."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def load(self, reference: str, *, field: str) -> bytes:
        self.loaded.append(reference)
        return Path(reference).read_bytes()


@dataclass(frozen=True)
class Stage:
    knowledge_bases: KnowledgeBaseService
    jobs: IndexJobs


def service(data: Path, image_embedder: FakeImageEmbedder | None, loader: FilesAsImages) -> Stage:
    backend = EmbeddedBackend(data / "search")
    embedder = HashingEmbedder()
    rerankers = RerankerRegistry({"qwen3-rerank-hybrid": LocalReranker("hybrid")}, default="qwen3-rerank-hybrid")
    queries = ImageQueryEmbedder(loader, image_embedder) if image_embedder else None
    retriever = Retriever(backend, embedder, rerankers, ContextRewriter(), FusionConfig(), image_queries=queries)
    indexer = Indexer(backend, embedder, [LocalFileSource()], image_embedder=image_embedder)
    catalog = SqliteCatalog(data / "catalog.db")
    knowledge_bases = KnowledgeBaseService(
        catalog, backend, indexer, retriever, embedder.name, embedder.dimension,
        image_embedding_model=image_embedder.name if image_embedder else "",
        image_dimension=image_embedder.dimension if image_embedder else 0,
    )
    return Stage(knowledge_bases, IndexJobs(knowledge_bases, catalog, indexer))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "red-square.png").write_bytes(PNG)
    (folder / "pixel.gif").write_bytes(GIF)
    (folder / "not-really.png").write_bytes(b"this is text with a png name")
    (folder / "notes.txt").write_text("Notes about the red square painting and the pixel.")
    return folder


def statuses(outcomes: Sequence[object]) -> dict[str, str]:
    return {outcome.name: outcome.status for outcome in outcomes}  # type: ignore[attr-defined]


def test_images_become_image_chunks_and_query_images_find_them(tmp_path: Path, docs: Path) -> None:
    images, loader = FakeImageEmbedder(), FilesAsImages()
    kbs = service(tmp_path / "data", images, loader)
    kb = kbs.knowledge_bases.create(WS, name="with images")
    assert (kb.image_embedding_model, kb.image_dimension) == ("fake-multimodal/8", 8)
    job = kbs.jobs.submit_job(WS, kb.index_id, [docs.as_uri() + "/"])
    assert statuses(job.documents) == {
        "notes.txt": "FINISH", "pixel.gif": "FINISH", "red-square.png": "FINISH", "not-really.png": "FAILED",
    }
    failed = next(document for document in job.documents if document.name == "not-really.png")
    assert "could not be embedded" in failed.message

    result = kbs.knowledge_bases.retrieve(
        WS, kb.index_id, RetrievalQuery("zzz", sparse_top_k=0, images=[str(docs / "red-square.png")]),
        request_id="r1",
    )
    assert loader.loaded == [str(docs / "red-square.png")]
    scores = {item.chunk.metadata["doc_name"]: item.score for item in result.chunks}
    # The query image is the stored one: its chunk gets the image leg's top score, the other image less.
    assert scores["red-square.png"] == max(scores.values())
    assert scores["red-square.png"] > scores["pixel.gif"]
    assert next(item for item in result.chunks if item.chunk.text == "red-square").chunk.doc_id
    assert "embed_images" in result.timings_ms
    assert images.calls.count("query") == 1


def test_an_index_without_an_image_index_ignores_query_images(tmp_path: Path, docs: Path) -> None:
    loader = FilesAsImages()
    kbs = service(tmp_path / "data", None, loader)
    kb = kbs.knowledge_bases.create(WS, name="text only")
    assert not kb.has_image_index
    job = kbs.jobs.submit_job(WS, kb.index_id, [docs.as_uri() + "/"])
    assert statuses(job.documents)["red-square.png"] == "EMPTY"  # an image with no image index has no text
    result = kbs.knowledge_bases.retrieve(
        WS, kb.index_id, RetrievalQuery("red square", images=[str(docs / "red-square.png")]), request_id="r2"
    )
    assert loader.loaded == []  # not even fetched
    assert result.chunks[0].chunk.metadata["doc_name"] == "notes.txt"


def test_an_image_index_is_never_searched_or_written_with_another_model(tmp_path: Path, docs: Path) -> None:
    data = tmp_path / "data"
    kb = service(data, FakeImageEmbedder(), FilesAsImages()).knowledge_bases.create(WS, name="titan")
    other = service(data, FakeImageEmbedder("other-multimodal/8"), FilesAsImages())

    with pytest.raises(InternalError, match="other-multimodal/8"):
        other.knowledge_bases.retrieve(WS, kb.index_id, RetrievalQuery("q", images=[str(docs / "pixel.gif")]),
                                       request_id="r3")
    job = other.jobs.submit_job(WS, kb.index_id, [(docs / "pixel.gif").as_uri()])
    assert statuses(job.documents) == {"pixel.gif": "FAILED"}
    assert "fake-multimodal/8" in job.documents[0].message

    unconfigured = service(data, None, FilesAsImages())
    with pytest.raises(InternalError, match="no multimodal embedder"):
        unconfigured.knowledge_bases.retrieve(WS, kb.index_id, RetrievalQuery("q", images=[str(docs / "pixel.gif")]), request_id="r4")
