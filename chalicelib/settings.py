"""One ``Settings`` object read from the environment (the cached service built from it is ``composition.service``).

Switching a stage changes environment variables only (``.chalice/config.json``), never code: the stage ``local`` runs
on the embedded backend with local models, ``dev`` and ``prod`` on OpenSearch, Bedrock and DynamoDB. What each
variable selects is built in ``chalicelib.composition``; heavy modules (numpy, tantivy, torch, boto3) are imported
there, inside the builders, so importing this module — and ``app`` — stays cheap.

Model selectors share one syntax: a local name (``e5``, ``minilm``, ``hashing``, ``local``) or ``bedrock:<model id>``, where
the id may carry a cross-region inference prefix (``us.``, ``eu.``, ``global.``, ...) or, for rerankers, be a full
model ARN.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from chalicelib.core.fusion import FusionConfig, FusionMethod

# The documented Retrieve ModelName values of the reranker; each maps to a configured model.
# The local embedders SIFT_EMBEDDER may name (chalicelib.composition.models builds them).
LOCAL_EMBEDDERS = ("e5", "use", "minilm", "hashing")
RERANK_MODEL_NAMES = ("qwen3-rerank-hybrid", "qwen3-rerank", "gte-rerank-hybrid", "gte-rerank")
BEDROCK_PREFIX = "bedrock:"


class ConfigurationError(Exception):
    """The environment names something this build cannot provide."""


# The OpenSearch connection a stage names (SIFT_OPENSEARCH_*); chalicelib.search.opensearch.client builds the client.
AUTH_MODES = ("none", "basic", "sigv4-es", "sigv4-aoss")


@dataclass(frozen=True, slots=True)
class OpenSearchConnection:
    url: str
    auth: str = "none"
    region: str = ""
    user: str = ""
    password: str = ""
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"SIFT_OPENSEARCH_URL must be an http(s) URL, not {self.url!r}")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"SIFT_OPENSEARCH_AUTH must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if self.auth.startswith("sigv4") and not self.region:
            raise ValueError("SigV4 authentication needs a region (AWS_REGION)")
        if self.auth == "basic" and not (self.user and self.password):
            raise ValueError("basic authentication needs SIFT_OPENSEARCH_USER and SIFT_OPENSEARCH_PASSWORD")


@dataclass(frozen=True, slots=True)
class KnnSettings:
    """HNSW parameters of the OpenSearch ``knn_vector`` fields."""

    engine: str = "faiss"
    space_type: str = "innerproduct"
    m: int = 16
    ef_construction: int = 128


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str = "local"
    backend: str = "embedded"  # embedded | opensearch
    catalog: str = "sqlite"  # sqlite | dynamodb
    catalog_table: str = "sift-catalog"
    data_dir: Path = Path(".sift")
    embedder: str = "e5"  # e5 | use | minilm | hashing | bedrock:<model id> (README, Benchmarks: why e5)
    embedder_threads: int = 1  # threads of a local model's engine (e5, use); chalicelib.models.e5 says why 1
    embedding_dimensions: int = 1024  # Bedrock text embedders that take a size (Titan v2: 256, 512 or 1024)
    embedding_cache: Path | None = None  # None: no cache; the local stage keeps one in the data directory
    reranker: str = "local"  # local | bedrock:<model id or ARN>: serves every documented rerank ModelName
    rerank_models: Mapping[str, str] = field(default_factory=dict)  # per-ModelName overrides of ``reranker``
    rewriter: str = "local"  # local | bedrock:<Converse model id>: serves conv-rewrite-qwen-1.8b
    tenant_prefixes: bool = False  # sources must lie under s3://<bucket>/<tenant>/ (chalicelib.core.tenancy)
    data_center_bucket: str = ""  # where data-center files live on AWS ("" locally: <data dir>/datacenter)
    # Who may call (chalicelib.core.access_keys): "none" (the local stage's default: open, with a warning), "iam"
    # (the AWS stages' default: API Gateway checks SigV4) or "accesskey" (the SDKs' ACS3-HMAC-SHA256 signatures).
    auth: str = "none"
    master_key_file: Path = Path("~/.config/sift/master.key")  # seals access-key secrets locally (not in the data dir)
    kms_key_id: str = ""  # seals them on AWS
    # Whether tenants may name the server's own files as sources (file:// or paths): yes on an open local stage, no
    # with access keys unless the operator says so (SIFT_LOCAL_FILES=true: every key holder may read the server's disk).
    local_files: bool = True
    generator: str = "local"  # local (extractive answers, rule-based query parsing) | bedrock:<Converse model id>
    image_embedder: str = ""  # "" (no image index) | bedrock:<multimodal model id>
    image_embedding_dimensions: int = 1024
    image_fetch_private_hosts: bool = False  # let query images come from private addresses (local development)
    bedrock_region: str = ""  # "" = the function's own region
    fusion: FusionConfig = field(default_factory=FusionConfig)
    opensearch: OpenSearchConnection | None = None
    opensearch_index_prefix: str = "sift"
    knn: KnnSettings = field(default_factory=KnnSettings)
    region: str = ""
    debug: bool = False
    # Where indexing jobs, bindings' initial indexing and reindexes run: ``inprocess`` (inside the request, the local
    # stage) or ``stepfunctions`` (the state machines of infra/, started by ``chalicelib.workflows``; their ARNs below).
    job_runner: str = "inprocess"
    batch_index_state_machine: str = ""
    reindex_state_machine: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        region = env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", ""))
        data_dir = Path(env.get("SIFT_DATA_DIR", ".sift"))
        try:
            fusion = FusionConfig(
                method=FusionMethod(env.get("SIFT_FUSION", FusionMethod.CONFIDENCE.value)),
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
                    region=region,
                    user=env.get("SIFT_OPENSEARCH_USER", ""),
                    password=env.get("SIFT_OPENSEARCH_PASSWORD", ""),
                )
                if env.get("SIFT_OPENSEARCH_URL")
                else None
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        knn = KnnSettings(
            engine=env.get("SIFT_KNN_ENGINE", "faiss"),
            space_type=env.get("SIFT_KNN_SPACE", "innerproduct"),
            m=_integer(env, "SIFT_KNN_M", 16),
            ef_construction=_integer(env, "SIFT_KNN_EF_CONSTRUCTION", 128),
        )
        return cls(
            stage=env.get("SIFT_STAGE", "local"),
            backend=_choice(env, "SIFT_BACKEND", "embedded", ("embedded", "opensearch")),
            catalog=_choice(env, "SIFT_CATALOG", "sqlite", ("sqlite", "dynamodb")),
            catalog_table=env.get("SIFT_CATALOG_TABLE", "sift-catalog"),
            data_dir=data_dir,
            embedder=_model(env, "SIFT_EMBEDDER", "e5", LOCAL_EMBEDDERS),
            embedder_threads=_integer(env, "SIFT_EMBEDDER_THREADS", 1),
            embedding_dimensions=_integer(env, "SIFT_EMBEDDING_DIMENSIONS", 1024),
            embedding_cache=_cache_path(env.get("SIFT_EMBEDDING_CACHE", "data"), data_dir),
            reranker=_model(env, "SIFT_RERANKER", "local", ("local",)),
            rerank_models=_rerank_models(env.get("SIFT_RERANK_MODELS", "")),
            rewriter=_model(env, "SIFT_REWRITER", "local", ("local",)),
            generator=_model(env, "SIFT_GENERATOR", "local", ("local",)),
            tenant_prefixes=_boolean(env, "SIFT_TENANT_PREFIXES"),
            data_center_bucket=env.get("SIFT_DATA_CENTER_BUCKET", "").strip(),
            auth=_choice(env, "SIFT_AUTH", "none" if env.get("SIFT_STAGE", "local") == "local" else "iam",
                         ("none", "iam", "accesskey")),
            master_key_file=Path(env.get("SIFT_MASTER_KEY_FILE", "~/.config/sift/master.key")).expanduser(),
            kms_key_id=env.get("SIFT_KMS_KEY_ID", "").strip(),
            local_files=_boolean(env, "SIFT_LOCAL_FILES", env.get("SIFT_AUTH") != "accesskey"),
            image_embedder=_model(env, "SIFT_IMAGE_EMBEDDER", "", ("",)),
            image_embedding_dimensions=_integer(env, "SIFT_IMAGE_EMBEDDING_DIMENSIONS", 1024),
            image_fetch_private_hosts=_boolean(env, "SIFT_IMAGE_FETCH_PRIVATE_HOSTS"),
            bedrock_region=env.get("SIFT_BEDROCK_REGION", ""),
            fusion=fusion,
            opensearch=opensearch,
            opensearch_index_prefix=env.get("SIFT_OPENSEARCH_INDEX_PREFIX", "sift"),
            knn=knn,
            region=region,
            debug=_boolean(env, "SIFT_DEBUG"),
            **_job_runner(env),
        )


def _job_runner(env: Mapping[str, str]) -> dict[str, str]:
    """``SIFT_JOB_RUNNER`` and, for ``stepfunctions``, the two state machine ARNs it needs."""
    runner = _choice(env, "SIFT_JOB_RUNNER", "inprocess", ("inprocess", "stepfunctions"))
    batch = env.get("SIFT_BATCH_INDEX_STATE_MACHINE", "").strip()
    reindex = env.get("SIFT_REINDEX_STATE_MACHINE", "").strip()
    if runner == "stepfunctions":
        missing = [name for name, value in (("SIFT_BATCH_INDEX_STATE_MACHINE", batch),
                                            ("SIFT_REINDEX_STATE_MACHINE", reindex)) if not value.startswith("arn:")]
        if missing:
            raise ConfigurationError(f"SIFT_JOB_RUNNER=stepfunctions needs state machine ARNs in {', '.join(missing)}")
    return {"job_runner": runner, "batch_index_state_machine": batch, "reindex_state_machine": reindex}


def bedrock_model_id(selector: str) -> str | None:
    """The model id of a ``bedrock:<id>`` selector; ``None`` for a local one."""
    return selector[len(BEDROCK_PREFIX):] if selector.startswith(BEDROCK_PREFIX) else None


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, default)
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r}; choose one of {', '.join(choices)}")
    return value


def _model(env: Mapping[str, str], name: str, default: str, local: tuple[str, ...]) -> str:
    value = env.get(name, default).strip()
    if value in local or (value.startswith(BEDROCK_PREFIX) and len(value) > len(BEDROCK_PREFIX)):
        return value
    options = [repr(option) for option in local] + ["'bedrock:<model id>'"]
    raise ConfigurationError(f"{name}={value!r}; choose one of {', '.join(options)}")


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigurationError(f"{name}={raw!r} must be positive")
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name, "true" if default else "false").lower()
    if raw not in ("true", "false"):
        raise ConfigurationError(f"{name}={raw!r}; use true or false")
    return raw == "true"


def _rerank_models(raw: str) -> dict[str, str]:
    """``SIFT_RERANK_MODELS``: a JSON object from documented ModelName to a ``bedrock:`` selector or ``local``."""
    if not raw.strip():
        return {}
    try:
        mapping = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"SIFT_RERANK_MODELS is not JSON: {exc}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigurationError("SIFT_RERANK_MODELS must be a JSON object of strings")
    unknown = sorted(set(mapping) - set(RERANK_MODEL_NAMES))
    if unknown:
        raise ConfigurationError(f"SIFT_RERANK_MODELS names {unknown}; the documented names are {RERANK_MODEL_NAMES}")
    for name, selector in mapping.items():
        _model({f"SIFT_RERANK_MODELS[{name}]": selector}, f"SIFT_RERANK_MODELS[{name}]", "local", ("local",))
    return dict(mapping)


def _cache_path(value: str, data_dir: Path) -> Path | None:
    """``SIFT_EMBEDDING_CACHE``: ``off``, ``data`` (``<data dir>/embeddings.db``, the default) or a file path."""
    if value == "off":
        return None
    return data_dir / "embeddings.db" if value == "data" else Path(value)
