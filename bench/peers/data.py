"""The inputs every engine gets: Sift's chunks and stored vectors, the query vectors, the judgments."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import quality
from bench.beir import Dataset
from bench.metrics import mean, ndcg_at_k
from chalicelib.composition.models import build_embedder
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.search.embedded.store import SqliteStore
from chalicelib.settings import Settings

# Every leg's depth, and how many fused chunks the timed call returns (Retrieve's default RerankTopN).
LEG_TOP_K = 100
TOP_N = 5
# The untimed pass that scores nDCG@10 keeps this many fused chunks, enough for ten distinct documents.
QUALITY_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Bundle:
    dataset: str
    embedder: str  # Sift's name for the local model (``use``, ``e5``, ``hashing``)
    model: str  # the model's own name, as Sift records it
    keys: np.ndarray  # int64 (n,): Sift's chunk keys, in store order
    doc_ids: list[str]  # (n,): each chunk's document
    texts: list[str]  # (n,): each chunk's search text (title and chunk), as both of Sift's legs match it
    vectors: np.ndarray  # float32 (n, d): the vectors Sift stored for them
    documents: list[tuple[str, str, str]]  # (doc id, title, text): what Sift's own indexing path starts from
    query_ids: list[str]
    query_texts: list[str]
    query_vectors: np.ndarray  # float32 (q, d): Sift's embedder's, computed once
    qrels: dict[str, dict[str, int]]

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> Bundle:
        bundle = pickle.loads(path.read_bytes())
        if not isinstance(bundle, Bundle):
            raise TypeError(f"{path} holds no Bundle")
        return bundle

    def ndcg_at_10(self, rankings: Sequence[Sequence[str]]) -> float:
        """Mean nDCG@10 over the queries of document rankings (one per query, in query order), BEIR's rule applied."""
        scores = []
        for query_id, ranking in zip(self.query_ids, rankings, strict=True):
            kept = [doc_id for doc_id in ranking if doc_id != query_id]
            scores.append(ndcg_at_k(kept, self.qrels[query_id], 10))
        return round(mean(scores), 4)

    def documents_of(self, rows: Sequence[int]) -> list[str]:
        """The documents of chunk rows (best first), in the order of their best chunk."""
        ranking: list[str] = []
        for row in rows:
            doc_id = self.doc_ids[row]
            if doc_id not in ranking:
                ranking.append(doc_id)
        return ranking


def build_bundle(dataset: Dataset, embedder: str) -> Bundle:
    """Sift's cached index of ``dataset`` (built through Sift first if missing), read back with its vectors."""
    service, index_id, _ = quality.open_index(dataset, DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, embedder=embedder)
    knowledge_base = service.get(quality.WORKSPACE, index_id)
    # The embedded backend's store of record (``build_backend``: ``<data dir>/search/sift.db``), read-only here.
    store = SqliteStore(quality.CACHE / "index" / "search" / "sift.db")
    collection = knowledge_base.collection
    columns = store.chunk_columns(collection, store.dimension(collection) or 0, store.image_dimension(collection))
    _, rows = store.text_rows(collection)  # (key, doc_id, search_text), in the same ascending key order
    if not rows:
        raise RuntimeError(f"{index_id} has no chunks in {quality.CACHE}")
    model = build_embedder(Settings(embedder=embedder, embedding_cache=quality.CACHE / "embeddings.db"))
    queries = dataset.queries
    query_vectors = np.asarray([model.embed_query(query.text) for query in queries], dtype=np.float32)
    return Bundle(
        dataset=dataset.name,
        embedder=embedder,
        model=model.name,
        keys=columns.keys,
        doc_ids=[doc_id for _, doc_id, _ in rows],
        texts=[search_text for _, _, search_text in rows],
        vectors=columns.vectors,
        documents=[(doc_id, title, text) for doc_id, (title, text, _) in dataset.corpus.items()],
        query_ids=[query.query_id for query in queries],
        query_texts=[query.text for query in queries],
        query_vectors=query_vectors.reshape(len(queries), -1),
        qrels={query.query_id: dataset.qrels[query.query_id] for query in queries},
    )


def rrf(lists: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Reciprocal rank fusion of ranked row lists (best first), ties kept in first-seen order."""
    scores: dict[int, float] = {}
    for ranked in lists:
        for rank, row in enumerate(ranked, start=1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda row: -scores[row])
