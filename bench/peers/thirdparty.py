"""The peers: LanceDB, Qdrant's local mode and Haystack's in-memory store, each with its own BM25 and fusion.

Each imports its package in ``build`` so a missing one raises ``ModuleNotFoundError`` there (the worker reports it).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from importlib import metadata

from bench.peers.data import LEG_TOP_K, QUALITY_DEPTH, TOP_N, Bundle
from bench.peers.engines import Engine, Variant

# Haystack reports usage to its vendor unless told not to; it reads this when it is imported.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")


def _version(distribution: str) -> str:
    return f"{distribution} {metadata.version(distribution)}"


class LanceEngine(Engine):
    """LanceDB: one table (row, text, vector); its native full-text index; flat cosine search; hybrid RRF."""

    modules = ("lancedb", "pyarrow")

    def build(self, bundle: Bundle) -> None:
        import lancedb
        import pyarrow as pa
        from lancedb.index import FTS

        self.version = _version("lancedb")
        self._bundle = bundle
        self._directory = tempfile.TemporaryDirectory(prefix="lancedb-peers-")
        dimension = bundle.vectors.shape[1]
        data = pa.table({
            "row": pa.array(range(len(bundle.texts)), pa.int64()),
            "text": pa.array(bundle.texts, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(bundle.vectors.ravel(), pa.float32()), dimension),
        })
        database = lancedb.connect(self._directory.name)
        self._table = database.create_table("chunks", data)
        # The native full-text index (FTS's defaults: simple tokenizer, lower case, English stemming and stop words).
        self._table.create_index("text", config=FTS())  # (for FTS the first argument is the column)

    def _hybrid(self, i: int, limit: int) -> list[int]:
        bundle = self._bundle
        # LanceDB's hybrid limit is both legs' depth and the fused list's length: 100, then the first TOP_N.
        result = (
            self._table.search(query_type="hybrid").vector(bundle.query_vectors[i]).text(bundle.query_texts[i])
            .distance_type("cosine").limit(LEG_TOP_K).select(["row"]).to_arrow()
        )
        return result.column("row").to_pylist()[:limit]  # type: ignore[no-any-return]

    def variants(self) -> list[Variant]:
        return [Variant(f"lancedb ({self.version})", "LanceDB native FTS (BM25)", "RRF k=60 (RRFReranker, its default)",
                        lambda i: self._hybrid(i, TOP_N),
                        lambda i: self._bundle.documents_of(self._hybrid(i, QUALITY_DEPTH)))]


class QdrantEngine(Engine):
    """qdrant-client's local mode (in memory): a named dense vector and a sparse BM25 vector, fused by Qdrant's RRF.

    Qdrant's BM25 splits the work: the client gives each document its terms' saturated term frequencies
    (``tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))``, k1=1.2, b=0.75, as fastembed's ``Qdrant/bm25``) and each query
    its terms at weight 1; the collection's IDF modifier supplies the IDF. fastembed itself downloads its BM25 files
    from a model hub at run time, which this machine cannot reach, so the same recipe is written here with tantivy's
    English analyzer and stop words; the query's analysis is timed with the query.
    """

    K1, B = 1.2, 0.75
    modules = ("qdrant_client", "tantivy")

    def build(self, bundle: Bundle) -> None:
        import tantivy
        from qdrant_client import QdrantClient, models

        self.version = _version("qdrant-client")
        self._bundle, self._models = bundle, models
        self._analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.stopword("english"))
            .filter(tantivy.Filter.stemmer("english")).build()
        )
        self._client = QdrantClient(":memory:")
        self._client.create_collection(
            "chunks",
            vectors_config={"dense": models.VectorParams(size=bundle.vectors.shape[1], distance=models.Distance.COSINE)},
            sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        analysed = [Counter(self._analyzer.analyze(text)) for text in bundle.texts]
        average = sum(sum(terms.values()) for terms in analysed) / max(len(analysed), 1)
        self._vocabulary: dict[str, int] = {}
        for start in range(0, len(analysed), 512):  # a batch of points at a time, as Qdrant's docs upload them
            points = []
            for row in range(start, min(start + 512, len(analysed))):
                terms = analysed[row]
                norm = self.K1 * (1 - self.B + self.B * sum(terms.values()) / average) if average else self.K1
                indices = [self._vocabulary.setdefault(term, len(self._vocabulary)) for term in terms]
                values = [tf * (self.K1 + 1) / (tf + norm) for tf in terms.values()]
                points.append(models.PointStruct(id=row, vector={
                    "dense": bundle.vectors[row].tolist(), "bm25": models.SparseVector(indices=indices, values=values),
                }))
            self._client.upsert("chunks", points)

    def _hybrid(self, i: int, limit: int) -> list[int]:
        models = self._models
        terms = {self._vocabulary[term] for term in self._analyzer.analyze(self._bundle.query_texts[i])
                 if term in self._vocabulary}
        sparse = models.SparseVector(indices=sorted(terms), values=[1.0] * len(terms))
        response = self._client.query_points(
            "chunks",
            prefetch=[models.Prefetch(query=self._bundle.query_vectors[i].tolist(), using="dense", limit=LEG_TOP_K),
                      models.Prefetch(query=sparse, using="bm25", limit=LEG_TOP_K)],
            query=models.FusionQuery(fusion=models.Fusion.RRF), limit=limit, with_payload=False,
        )
        return [int(point.id) for point in response.points]

    def variants(self) -> list[Variant]:
        return [Variant(f"qdrant local mode ({self.version})", "sparse BM25 tf + IDF modifier", "RRF k=2 (Qdrant's default)",
                        lambda i: self._hybrid(i, TOP_N),
                        lambda i: self._bundle.documents_of(self._hybrid(i, QUALITY_DEPTH)))]


class HaystackEngine(Engine):
    """Haystack: InMemoryDocumentStore (cosine), its BM25 and embedding retrievers, a reciprocal-rank-fusion joiner."""

    modules = ("haystack", "haystack.components.joiners", "haystack.components.retrievers.in_memory",
               "haystack.document_stores.in_memory")

    def build(self, bundle: Bundle) -> None:
        from haystack import Document, Pipeline
        from haystack.components.joiners import DocumentJoiner
        from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
        from haystack.document_stores.in_memory import InMemoryDocumentStore

        self.version = _version("haystack-ai")
        self._bundle = bundle
        store = InMemoryDocumentStore(embedding_similarity_function="cosine")
        store.write_documents([
            Document(id=str(row), content=text, embedding=vector.tolist())
            for row, (text, vector) in enumerate(zip(bundle.texts, bundle.vectors))
        ])
        self._pipeline = Pipeline()
        self._pipeline.add_component("bm25", InMemoryBM25Retriever(store, top_k=LEG_TOP_K))
        self._pipeline.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=LEG_TOP_K))
        self._pipeline.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_N))
        self._pipeline.connect("bm25.documents", "joiner.documents")
        self._pipeline.connect("dense.documents", "joiner.documents")
        self._query_vectors = [vector.tolist() for vector in bundle.query_vectors]

    def _hybrid(self, i: int, limit: int) -> list[int]:
        result = self._pipeline.run({
            "bm25": {"query": self._bundle.query_texts[i]},
            "dense": {"query_embedding": self._query_vectors[i]},
            "joiner": {"top_k": limit},
        })
        return [int(document.id) for document in result["joiner"]["documents"]]

    def variants(self) -> list[Variant]:
        return [Variant(f"haystack in-memory ({self.version})", "InMemoryDocumentStore BM25L (its default)",
                        "RRF k=61, 0-based ranks (DocumentJoiner)", lambda i: self._hybrid(i, TOP_N),
                        lambda i: self._bundle.documents_of(self._hybrid(i, QUALITY_DEPTH)))]


PEERS: dict[str, type[Engine]] = {"lancedb": LanceEngine, "qdrant": QdrantEngine, "haystack": HaystackEngine}
# The distribution each peer needs (for the "not installed" reason) — requirements-peers.txt pins them.
DISTRIBUTIONS = {"lancedb": "lancedb", "qdrant": "qdrant-client", "haystack": "haystack-ai"}
