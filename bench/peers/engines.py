"""What an engine is to the worker, and the two that are not peers: Sift itself and the physical floor."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest import mock

import numpy as np

from bench.peers.data import LEG_TOP_K, QUALITY_DEPTH, TOP_N, Bundle, rrf


@dataclass(frozen=True, slots=True)
class Variant:
    """One timed row: ``call(i)`` does the work for query ``i`` (timed); ``ranking(i)`` its documents (untimed)."""

    name: str
    bm25: str
    fusion: str
    call: Callable[[int], object]
    ranking: Callable[[int], list[str]]


class Engine:
    """``build`` indexes the bundle's chunks (timed as a whole); ``variants`` are then timed query by query.
    ``modules`` are imported before the build is timed (a missing one is the engine's "not installed")."""

    version = ""
    modules: tuple[str, ...] = ()

    def build(self, bundle: Bundle) -> None:
        raise NotImplementedError

    def variants(self) -> list[Variant]:
        raise NotImplementedError


# Sift -------------------------------------------------------------------------------------------------------------


class PrecomputedEmbedder:
    """Sift's ``Embedder`` answering from the vectors Sift stored (documents, by search text) and the query vectors
    computed once: the embedding model is neither loaded nor timed."""

    def __init__(self, model: str, dimension: int, documents: dict[str, np.ndarray], queries: dict[str, list[float]]):
        self._model, self._dimension = model, dimension
        self._documents, self._queries = documents, queries  # documents as arrays: lists would cost ~140 MB here

    @property
    def name(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            return [self._documents[text].tolist() for text in texts]
        except KeyError as exc:
            raise RuntimeError("Sift's indexer embedded a text the cached index does not hold (chunking changed?); "
                               "delete .bench-cache/index to rebuild it") from exc

    def embed_query(self, text: str) -> list[float]:
        return self._queries[text]


class SiftEngine(Engine):
    """A fresh knowledge base built through Sift's indexing path; Retrieve in-process and the backend's recall."""

    modules = ("chalicelib.composition", "chalicelib.composition.models", "chalicelib.api.operations",
               "chalicelib.search.embedded.backend")

    def build(self, bundle: Bundle) -> None:
        import chalicelib.composition
        from bench.quality import WORKSPACE
        from chalicelib.composition import build_service
        from chalicelib.core.indexing import TextDocument
        from chalicelib.settings import Settings

        self._bundle = bundle
        documents = dict(zip(bundle.texts, bundle.vectors))
        queries = {text: vector.tolist() for text, vector in zip(bundle.query_texts, bundle.query_vectors)}
        embedder = PrecomputedEmbedder(bundle.model, bundle.vectors.shape[1], documents, queries)
        self._directory = tempfile.TemporaryDirectory(prefix="sift-peers-")
        self._settings = Settings(data_dir=Path(self._directory.name), embedding_cache=None, embedder=bundle.embedder)
        backends: list[Any] = []
        real_build_backend = chalicelib.composition.build_backend

        def capture_backend(*args: Any, **kwargs: Any) -> Any:
            backends.append(real_build_backend(*args, **kwargs))
            return backends[-1]

        with mock.patch("chalicelib.composition.models.build_embedder", lambda *_, **__: embedder), \
                mock.patch("chalicelib.composition.build_backend", capture_backend):
            self._service = build_service(self._settings)
        self._backend = backends[0]  # the very backend the service searches (no second copy of its matrix)
        self._service.create(WORKSPACE, name="peers", index_id="peers")
        self._service.index_texts(WORKSPACE, "peers", (
            TextDocument(doc_id=doc_id, name=doc_id, title=title, text=text, metadata={})
            for doc_id, title, text in bundle.documents
        ))
        self._collection = self._service.get(WORKSPACE, "peers").collection
        chunks = self._backend.count_chunks(self._collection)
        if chunks != len(bundle.keys):
            raise RuntimeError(f"Sift indexed {chunks} chunks here, the cached index holds {len(bundle.keys)}")
        self._query_vectors = [queries[text] for text in bundle.query_texts]

    def variants(self) -> list[Variant]:
        from bench.quality import WORKSPACE
        from chalicelib.api.operations import BY_NAME, invoke
        from chalicelib.core.fusion import fuse
        from chalicelib.core.ports.search import RecallQuery
        from chalicelib.core.retrieval import RetrievalQuery
        from chalicelib.core.services import Services

        bundle, service, backend, collection = self._bundle, self._service, self._backend, self._collection
        operation = BY_NAME["Retrieve"]
        components = cast(Services, SimpleNamespace(knowledge_bases=service))
        fusion = self._settings.fusion
        method = f"Sift's {fusion.method.value} fusion (the default)"

        def retrieve(i: int) -> None:
            body = json.dumps({"IndexId": "peers", "Query": bundle.query_texts[i], "EnableReranking": False,
                               "DenseSimilarityTopK": LEG_TOP_K, "SparseSimilarityTopK": LEG_TOP_K,
                               "RerankTopN": TOP_N}).encode()
            response = invoke(lambda: components, operation, path_params={"WorkspaceId": WORKSPACE}, body=body)
            if response.status != 200:
                raise RuntimeError(f"Retrieve failed: {response.body!r}")

        def retrieve_ranking(i: int) -> list[str]:
            query = RetrievalQuery(bundle.query_texts[i], LEG_TOP_K, LEG_TOP_K, top_n=QUALITY_DEPTH)
            chunks = service.retrieve(WORKSPACE, "peers", query, request_id="peers").chunks
            return _unique(item.chunk.doc_id for item in chunks)

        def recall_query(i: int) -> Any:
            return RecallQuery(bundle.query_texts[i], self._query_vectors[i], LEG_TOP_K, LEG_TOP_K)

        def recall_ranking(i: int) -> list[str]:
            recalled = backend.recall(collection, recall_query(i))
            return _unique(c.chunk.doc_id for c in fuse(recalled.dense, recalled.sparse, fusion, dense_on=True,
                                                          sparse_on=True)[:QUALITY_DEPTH])

        bm25 = "tantivy (Sift's analyzer: English stemming, CJK bigrams)"
        return [
            Variant("sift Retrieve (in-process, request handling)", bm25, method, retrieve, retrieve_ranking),
            Variant("sift backend recall alone (both legs, no fusion)", bm25, "none timed (nDCG: Sift's fusion)",
                    lambda i: backend.recall(collection, recall_query(i)), recall_ranking),
        ]


# The physical floor -----------------------------------------------------------------------------------------------


class FloorEngine(Engine):
    """tantivy alone for BM25 top-100 and one numpy matrix-vector product for dense top-100."""

    modules = ("tantivy",)

    def build(self, bundle: Bundle) -> None:
        from importlib import metadata

        import tantivy

        self.version = f"tantivy {metadata.version('tantivy')}"
        self._bundle = bundle
        builder = tantivy.SchemaBuilder()
        builder.add_unsigned_field("row", stored=True, indexed=True, fast=True)
        builder.add_text_field("text", stored=False, tokenizer_name="en_stem", index_option="freq")
        self._schema = builder.build()
        self._index = tantivy.Index(self._schema)  # in RAM
        writer = self._index.writer(64 * 1024 * 1024)
        for row, text in enumerate(bundle.texts):
            document = tantivy.Document()
            document.add_unsigned("row", row)
            document.add_text("text", text)
            writer.add_document(document)
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        # The query side of en_stem, so a query is analysed as the field was.
        self._analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.stemmer("english")).build()
        )
        norms = np.linalg.norm(bundle.vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        self._matrix = np.ascontiguousarray(bundle.vectors / norms, dtype=np.float32)
        self._tantivy = tantivy

    def bm25(self, i: int) -> list[int]:
        tantivy = self._tantivy
        terms = self._analyzer.analyze(self._bundle.query_texts[i])
        if not terms:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "text", term)) for term in terms]
        )
        searcher = self._searcher
        return [searcher.doc(address)["row"][0] for _, address in searcher.search(query, LEG_TOP_K).hits]

    def dense(self, i: int) -> list[int]:
        vector = self._bundle.query_vectors[i]
        scores = self._matrix @ (vector / np.linalg.norm(vector))
        top = np.argpartition(-scores, LEG_TOP_K - 1)[:LEG_TOP_K] if len(scores) > LEG_TOP_K else np.arange(len(scores))
        return top[np.argsort(-scores[top], kind="stable")].tolist()  # type: ignore[no-any-return]

    def variants(self) -> list[Variant]:
        documents = self._bundle.documents_of
        both = "RRF k=60, untimed (nDCG only)"
        return [
            Variant("floor: tantivy BM25 top-100 + numpy dense top-100", "tantivy en_stem", both,
                    lambda i: (self.bm25(i), self.dense(i)),
                    lambda i: documents(rrf([self.dense(i), self.bm25(i)])[:QUALITY_DEPTH])),
            Variant("floor: tantivy BM25 top-100 alone", "tantivy en_stem", "- (one leg)", self.bm25,
                    lambda i: documents(self.bm25(i))),
            Variant("floor: numpy dense top-100 alone", "-", "- (one leg)", self.dense,
                    lambda i: documents(self.dense(i))),
        ]


def _unique(doc_ids: Any) -> list[str]:
    ranking: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in ranking:
            ranking.append(doc_id)
    return ranking


def engine(name: str) -> Engine:
    """The engine called ``name`` (``ModuleNotFoundError`` from a peer whose package is missing)."""
    if name == "sift":
        return SiftEngine()
    if name == "floor":
        return FloorEngine()
    from bench.peers import thirdparty

    return thirdparty.PEERS[name]()
