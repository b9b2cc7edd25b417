"""The synthetic corpus: real sentences recombined into chunk-sized texts, vectors near real ones (see the package)."""

from __future__ import annotations

import hashlib
import pickle
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.beir import load
from chalicelib.composition.models import build_embedder
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, Chunk, chunk_blocks
from chalicelib.core.extraction import TextBlock
from chalicelib.core.indexing import chunk_metadata, search_text
from chalicelib.core.ports.search import ChunkRecord, DocumentRecord, DocumentStatus
from chalicelib.settings import Settings

SEED = 16
DIMENSION = 384
SOURCE_DIMENSION = 512
NOISE = 0.025  # per dimension, on a unit vector: cosine to the base ≈ 1 / sqrt(1 + 384 · NOISE²) ≈ 0.9
FOREIGN_SENTENCE = 0.3
CHUNKS_PER_DOCUMENT = 2
MIN_CHARS, MAX_CHARS = 600, DEFAULT_CHUNK_SIZE
BLOCK = 1000  # documents generated per random stream: the corpus is the same whatever the write batch
SHARDS = 10  # every document's metadata has shard g0..g9; a filter on one keeps a tenth of the chunks
MODEL = f"bench/scale-synthetic-{DIMENSION}"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Material:
    titles: list[str]
    sentences: list[list[str]]  # per source document
    base: np.ndarray  # float32 (documents, DIMENSION): each source document's projected, normalised vector
    query_ids: list[str]
    query_texts: list[str]
    query_vectors: np.ndarray  # float32 (queries, DIMENSION)

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> Material:
        material = pickle.loads(path.read_bytes())
        if not isinstance(material, Material):
            raise TypeError(f"{path} holds no Material")
        return material


def projection() -> np.ndarray:
    """A fixed random SOURCE_DIMENSION × DIMENSION matrix with orthonormal columns."""
    gaussian = np.random.default_rng(SEED).standard_normal((SOURCE_DIMENSION, DIMENSION))
    return np.linalg.qr(gaussian)[0].astype(np.float32)


def near(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * NOISE
    return (noisy / np.linalg.norm(noisy, axis=-1, keepdims=True)).astype(np.float32)


def _source_vectors(kind: str, texts: list[str], vectors: str, cache: Path) -> np.ndarray:
    """512-d vectors of ``texts``: USE's (from Sift's embedding cache, computed and cached when missing) or hashing."""
    if vectors == "hashing":
        from chalicelib.models.local import HashingEmbedder

        return np.asarray(HashingEmbedder(SOURCE_DIMENSION).embed_documents(texts), dtype=np.float32)
    from chalicelib.models.use import USE_NAME

    keys = [hashlib.sha256(f"{USE_NAME}\x00{kind}\x00{text}".encode()).digest() for text in texts]
    found: dict[bytes, np.ndarray] = {}
    if cache.exists():
        connection = sqlite3.connect(cache)
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            rows = connection.execute(
                f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(batch))})", batch).fetchall()
            found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        connection.close()
    missing = [text for text, key in zip(texts, keys) if key not in found]
    if missing:  # through Sift's caching embedder, so the next run finds them
        model = build_embedder(Settings(embedder="use", embedding_cache=cache))
        computed = model.embed_documents(missing) if kind == "document" else [model.embed_query(t) for t in missing]
        for text, vector in zip(missing, computed):
            found[hashlib.sha256(f"{USE_NAME}\x00{kind}\x00{text}".encode()).digest()] = np.asarray(vector, np.float32)
    return np.vstack([found[key] for key in keys]).astype(np.float32)


def build_material(dataset_dir: Path, vectors: str, cache: Path) -> Material:
    dataset = load(dataset_dir)
    titles, sentences, first_chunks = [], [], []
    for doc_id, (title, text, _) in dataset.corpus.items():
        parts = [part.strip() for part in _SENTENCE.split(text) if part.strip()]
        if not parts:
            continue
        record = DocumentRecord(doc_id=doc_id, name=doc_id, uri="", content_type="text/plain", size=0, version="",
                                status=DocumentStatus.INDEXED, title=title)
        chunks = chunk_blocks([TextBlock(text)], chunk_size=DEFAULT_CHUNK_SIZE, overlap=DEFAULT_OVERLAP)
        titles.append(title)
        sentences.append(parts)
        first_chunks.append(search_text(record, chunks[0]))
    rotation = projection()
    rng = np.random.default_rng([SEED, 0])
    base = _source_vectors("document", first_chunks, vectors, cache) @ rotation
    base = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
    query_texts = [query.text for query in dataset.queries]
    queries = near(_source_vectors("query", query_texts, vectors, cache) @ rotation, rng)
    return Material(titles, sentences, base, [q.query_id for q in dataset.queries], query_texts, queries)


@dataclass(frozen=True, slots=True)
class SyntheticDocument:
    record: DocumentRecord
    chunks: list[ChunkRecord]


def _chunk_text(material: Material, base: int, rng: np.random.Generator) -> str:
    own = material.sentences[base]
    target = int(rng.integers(MIN_CHARS, MAX_CHARS + 1))
    position = int(rng.integers(len(own)))
    parts: list[str] = []
    length = 0
    while length < target and len(parts) < 64:
        if rng.random() < FOREIGN_SENTENCE:
            other = material.sentences[int(rng.integers(len(material.sentences)))]
            sentence = other[int(rng.integers(len(other)))]
        else:
            sentence = own[position % len(own)]
            position += 1
        if parts and length + 1 + len(sentence) > MAX_CHARS:
            break
        parts.append(sentence[:MAX_CHARS])
        length += len(parts[-1]) + 1
    return " ".join(parts)


def documents(material: Material, chunks: int) -> Iterator[SyntheticDocument]:
    """The documents of the first ``chunks`` chunks, each as the indexer would write it."""
    total = -(-chunks // CHUNKS_PER_DOCUMENT)
    for block in range(-(-total // BLOCK)):
        rng = np.random.default_rng([SEED, 1, block])
        # Whole blocks are drawn whatever the size, so a smaller corpus is a prefix of a larger one.
        bases = rng.integers(len(material.titles), size=BLOCK)  # one base document per document, all its chunks
        vectors = near(np.repeat(material.base[bases][:, None, :], CHUNKS_PER_DOCUMENT, axis=1), rng)
        for offset in range(min(BLOCK, total - block * BLOCK)):
            j = block * BLOCK + offset
            base = int(bases[offset])
            texts = [_chunk_text(material, base, rng) for _ in range(CHUNKS_PER_DOCUMENT)]
            width = min(CHUNKS_PER_DOCUMENT, chunks - j * CHUNKS_PER_DOCUMENT)
            title = material.titles[base]
            doc_id = f"s{j:07d}"
            body = "\n\n".join(texts[:width])
            record = DocumentRecord(doc_id=doc_id, name=f"{doc_id}.txt", uri="", content_type="text/plain",
                                    size=len(body.encode()), version=hashlib.sha256(body.encode()).hexdigest(),
                                    status=DocumentStatus.INDEXED, title=title, metadata={"shard": f"g{j % SHARDS}"},
                                    chunk_count=width, created_at="2026-01-01T00:00:00Z",
                                    updated_at="2026-01-01T00:00:00Z")
            records = []
            for position in range(width):
                chunk = Chunk(texts[position], (), position)
                records.append(ChunkRecord(
                    chunk_id=f"{doc_id}_{position}", doc_id=doc_id, position=position, text=chunk.text,
                    search_text=search_text(record, chunk), vector=vectors[offset, position].tolist(),
                    metadata=chunk_metadata(record, chunk)))
            yield SyntheticDocument(record, records)
