"""One ``Settings`` object read from the environment, and the cached composition root that builds the service.

Switching a stage changes environment variables only (``.chalice/config.json``), never code. Heavy modules (numpy,
tantivy, torch) are imported inside the builders, so importing this module — and ``app`` — stays cheap.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.core.fusion import FusionConfig, FusionMethod
from chalicelib.search.opensearch.client import OpenSearchConnection

if TYPE_CHECKING:
    from chalicelib.core.knowledge_base import KnowledgeBaseService
    from chalicelib.models.base import Embedder
    from chalicelib.search.base import SearchBackend
    from chalicelib.sources.base import ObjectSource


class ConfigurationError(Exception):
    """The environment names something this build cannot provide."""


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str = "local"
    backend: str = "embedded"  # embedded | opensearch
    data_dir: Path = Path(".sift")
    embedder: str = "minilm"  # minilm | hashing
    embedding_cache: Path | None = None  # None: no cache; the local stage keeps one in the data directory
    fusion: FusionConfig = field(default_factory=FusionConfig)
    opensearch: OpenSearchConnection | None = None
    debug: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            fusion = FusionConfig(
                method=FusionMethod(env.get("SIFT_FUSION", FusionMethod.MINMAX.value)),
                dense_weight=float(env.get("SIFT_DENSE_WEIGHT", "0.5")),
                rrf_k=int(env.get("SIFT_RRF_K", "60")),
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid fusion settings: {exc}") from exc
        try:
            opensearch = (
                OpenSearchConnection(
                    url=env["SIFT_OPENSEARCH_URL"],
                    auth=env.get("SIFT_OPENSEARCH_AUTH", "none"),
                    region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
                    user=env.get("SIFT_OPENSEARCH_USER", ""),
                    password=env.get("SIFT_OPENSEARCH_PASSWORD", ""),
                )
                if env.get("SIFT_OPENSEARCH_URL")
                else None
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        return cls(
            opensearch=opensearch,
            stage=env.get("SIFT_STAGE", "local"),
            backend=env.get("SIFT_BACKEND", "embedded"),
            data_dir=Path(env.get("SIFT_DATA_DIR", ".sift")),
            embedder=env.get("SIFT_EMBEDDER", "minilm"),
            embedding_cache=_cache_path(env.get("SIFT_EMBEDDING_CACHE", "data"), Path(env.get("SIFT_DATA_DIR", ".sift"))),
            fusion=fusion,
            debug=env.get("SIFT_DEBUG", "false").lower() == "true",
        )


def _cache_path(value: str, data_dir: Path) -> Path | None:
    """``SIFT_EMBEDDING_CACHE``: ``off``, ``data`` (``<data dir>/embeddings.db``, the default) or a file path."""
    if value == "off":
        return None
    return data_dir / "embeddings.db" if value == "data" else Path(value)


def build_embedder(settings: Settings) -> Embedder:
    from chalicelib.models.local import HashingEmbedder, SentenceTransformerEmbedder

    embedders: dict[str, Callable[[], Embedder]] = {"minilm": SentenceTransformerEmbedder, "hashing": HashingEmbedder}
    if settings.embedder not in embedders:
        raise ConfigurationError(f"SIFT_EMBEDDER={settings.embedder!r}; choose one of {sorted(embedders)}")
    embedder: Embedder = embedders[settings.embedder]()
    if settings.embedding_cache is not None:
        from chalicelib.models.cache import CachingEmbedder

        embedder = CachingEmbedder(embedder, settings.embedding_cache)
    return embedder


def build_backend(settings: Settings) -> SearchBackend:
    """``embedded`` (SQLite + tantivy + numpy under the data dir) or ``opensearch`` (a cluster, see client.py)."""
    if settings.backend == "embedded":
        from chalicelib.search.embedded.backend import EmbeddedBackend

        return EmbeddedBackend(settings.data_dir / "search")
    if settings.backend == "opensearch":
        if settings.opensearch is None:
            raise ConfigurationError("SIFT_BACKEND=opensearch needs SIFT_OPENSEARCH_URL")
        from chalicelib.search.opensearch.backend import OpenSearchBackend
        from chalicelib.search.opensearch.client import build_client

        # Serverless collections have no refresh API; managed domains and self-hosted clusters do.
        return OpenSearchBackend(build_client(settings.opensearch), refresh=settings.opensearch.auth != "sigv4-aoss")
    raise ConfigurationError(f"SIFT_BACKEND={settings.backend!r}; choose embedded or opensearch")


def build_service(settings: Settings) -> KnowledgeBaseService:
    """Wire the whole service for a stage."""
    from chalicelib.core.indexing import Indexer
    from chalicelib.core.knowledge_base import KnowledgeBaseService
    from chalicelib.core.retrieval import Retriever
    from chalicelib.models.local_rerank import LocalReranker
    from chalicelib.models.local_rewrite import ContextRewriter
    from chalicelib.models.registry import RerankerRegistry
    from chalicelib.sources.local import LocalFileSource
    from chalicelib.store.sqlite import SqliteCatalog

    backend = build_backend(settings)
    catalog = SqliteCatalog(settings.data_dir / "catalog.db")
    embedder = build_embedder(settings)
    hybrid, semantic = LocalReranker("hybrid"), LocalReranker("semantic")
    rerankers = RerankerRegistry(
        {"qwen3-rerank-hybrid": hybrid, "gte-rerank-hybrid": hybrid, "qwen3-rerank": semantic, "gte-rerank": semantic},
        default="qwen3-rerank-hybrid",
    )
    retriever = Retriever(backend, embedder, rerankers, ContextRewriter(), settings.fusion)
    indexer = Indexer(backend, embedder, [LocalFileSource(), *_s3_sources()])
    return KnowledgeBaseService(catalog, backend, indexer, retriever, embedder.name, embedder.dimension)


def _s3_sources() -> list[ObjectSource]:
    """S3 is a source on every stage (EventBridge events name S3 objects); boto3 is only imported here."""
    import boto3

    from chalicelib.sources.s3 import S3Source

    return [S3Source(boto3.client("s3"))]


@functools.lru_cache(maxsize=1)
def service() -> KnowledgeBaseService:
    """The process-wide service, built on first use (a Lambda container builds it once per cold start)."""
    return build_service(Settings.from_environment())
