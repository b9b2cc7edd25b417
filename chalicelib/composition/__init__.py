"""The composition root: builds the service a stage's ``Settings`` describe.

Every adapter is given its SDK client here (``AwsClients``), so a test can hand in stubbed or fake clients and run
the very same wiring as a deployed function: ``build_service(settings, clients)``. Imports are inside the builders:
the ``local`` stage never imports boto3's Bedrock adapters or opensearch-py, and ``dev`` never imports torch.
Here: the clients, the stores and backends, the services; which models a stage runs is ``composition.models``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.settings import ConfigurationError, Settings, bedrock_model_id

if TYPE_CHECKING:
    from pathlib import Path

    from chalicelib.core.access_keys import AccessKeys, Gate, SecretBox
    from chalicelib.core.data_center import BlobStore
    from chalicelib.core.knowledge_base import KnowledgeBaseService
    from chalicelib.core.ports.catalog import Catalog
    from chalicelib.core.ports.search import SearchBackend
    from chalicelib.core.ports.sources import ObjectSource
    from chalicelib.core.services import Services
    from chalicelib.workflows.batches import ResultReader
    from chalicelib.workflows.runner import StepFunctionsJobRunner

# Bedrock's retries are botocore's standard mode: throttling (429), 5xx faults, connection errors and timeouts are
# resent with jittered exponential backoff (throttling waits up to 1 s, then up to 2 s), 3 attempts in all; what is
# still failing then is translated by chalicelib.models.bedrock.calls (still throttled: ThrottlingError, HTTP 429).
# Not adaptive mode: its client-side rate limiter (experimental in botocore) paces one client, and a Lambda container
# serves one request at a time, so it would learn nothing the fleet shares and only delay later first attempts.
# Timeouts are per attempt; one attempt's stay well inside the API Gateway limit of 29 s.
_BEDROCK_CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "total_max_attempts": 3},
    "connect_timeout": 5,
    "read_timeout": 20,
}



class AwsClients:
    """The SDK clients adapters are given, each created on first use (a cold start pays only for what it uses)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @functools.cached_property
    def s3(self) -> Any:
        import boto3
        from botocore.config import Config

        # SigV4 everywhere: data-center upload leases are presigned URLs, and SigV2 presigning is deprecated.
        return boto3.client("s3", config=Config(signature_version="s3v4"))

    @functools.cached_property
    def kms(self) -> Any:
        import boto3

        return boto3.client("kms")

    @functools.cached_property
    def dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb")

    @functools.cached_property
    def stepfunctions(self) -> Any:
        import boto3

        return boto3.client("stepfunctions")

    @functools.cached_property
    def bedrock_runtime(self) -> Any:
        return self._bedrock("bedrock-runtime")

    @functools.cached_property
    def bedrock_agent_runtime(self) -> Any:
        return self._bedrock("bedrock-agent-runtime")

    @functools.cached_property
    def opensearch(self) -> Any:
        from chalicelib.search.opensearch.client import build_client

        if self._settings.opensearch is None:
            raise ConfigurationError("SIFT_BACKEND=opensearch needs SIFT_OPENSEARCH_URL")
        return build_client(self._settings.opensearch)

    def _bedrock(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        region = self._settings.bedrock_region or None  # None: the function's own region
        return boto3.client(service, region_name=region, config=Config(**_BEDROCK_CLIENT_CONFIG))


def build_service(settings: Settings, clients: AwsClients | None = None) -> KnowledgeBaseService:
    """The knowledge-base service of a stage (benchmarks and scripts that need only that)."""
    return build_services(settings, clients).knowledge_bases


def build_services(settings: Settings, clients: AwsClients | None = None) -> Services:
    """Wire everything a stage serves."""
    from chalicelib.composition.models import (
        build_embedder,
        build_generator,
        build_image_embedder,
        build_rerankers,
        build_rewriter,
        generated_answerer,
        generated_query_parser,
        image_queries,
    )
    from chalicelib.core.data_center import DataCenterService
    from chalicelib.core.index_jobs import IndexJobs
    from chalicelib.core.indexing import Indexer
    from chalicelib.core.knowledge_base import KnowledgeBaseService
    from chalicelib.core.media import MediaService
    from chalicelib.core.reindex import Reindexer
    from chalicelib.core.retrieval import Retriever
    from chalicelib.core.services import Services
    from chalicelib.sources.data_center import DataCenterSource
    from chalicelib.sources.local import LocalFileSource
    from chalicelib.sources.s3 import S3Source

    clients = clients or AwsClients(settings)
    backend = build_backend(settings, clients)
    embedder = build_embedder(settings, clients)
    image_embedder = build_image_embedder(settings, clients)
    retriever = Retriever(
        backend,
        embedder,
        build_rerankers(settings, clients),
        build_rewriter(settings, clients),
        settings.fusion,
        image_queries=image_queries(settings, clients, image_embedder),
    )
    # S3 is a source on every stage (EventBridge events name S3 objects); local files only where there is a disk.
    # (file:// URIs on a Lambda would let a caller index the function's own files.)
    catalog = build_catalog(settings, clients)
    data_center = DataCenterService(catalog, build_blob_store(settings, clients))
    sources: list[ObjectSource] = [DataCenterSource(data_center), S3Source(clients.s3)]
    if settings.stage == "local":
        sources.insert(1, LocalFileSource())
    indexer = Indexer(backend, embedder, sources, image_embedder=image_embedder)
    from chalicelib.core.tenancy import SourcePolicy

    source_policy = SourcePolicy(tenant_prefixes=settings.tenant_prefixes, local_files=settings.local_files)
    knowledge_bases = KnowledgeBaseService(
        catalog, backend, indexer, retriever, embedder.name, embedder.dimension,
        image_embedding_model=image_embedder.name if image_embedder else "",
        image_dimension=image_embedder.dimension if image_embedder else 0,
        source_policy=source_policy,
        data_center=data_center,
    )
    runner = build_job_runner(settings, clients)  # None: jobs, reindexes and bindings run in this process
    jobs = IndexJobs(knowledge_bases, catalog, indexer, runner=runner, source_policy=source_policy)
    reindex = Reindexer(knowledge_bases, jobs, catalog, backend, indexer, embedder.name, embedder.dimension,
                        runner=runner)
    # ContextualRetrieval's focus query comes from an LLM only when one is configured; else the local method.
    llm_rewriter = build_rewriter(settings, clients) if bedrock_model_id(settings.rewriter) else None
    generator = build_generator(settings, clients)
    media = MediaService(
        catalog, backend, indexer, retriever, embedder.name, embedder.dimension, rewriter=llm_rewriter,
        query_parser=generated_query_parser(generator) if generator else None,
        answerer=generated_answerer(generator) if generator else None,
        source_policy=source_policy, job_runner=runner,
    )
    return Services(knowledge_bases, jobs, reindex, media, data_center, build_gate(settings, clients, catalog), indexer)


def build_job_runner(settings: Settings, clients: AwsClients | None = None) -> StepFunctionsJobRunner | None:
    """The Step Functions runner when ``SIFT_JOB_RUNNER=stepfunctions``; None: jobs run in-process."""
    if settings.job_runner != "stepfunctions":
        return None
    from chalicelib.workflows.runner import StepFunctionsJobRunner

    return StepFunctionsJobRunner(
        (clients or AwsClients(settings)).stepfunctions, settings.batch_index_state_machine,
        settings.reindex_state_machine,
    )


# --- storage ----------------------------------------------------------------------------------------------------------


def build_backend(settings: Settings, clients: AwsClients | None = None) -> SearchBackend:
    """``embedded`` (SQLite + tantivy + numpy under the data dir) or ``opensearch`` (a cluster, see client.py)."""
    if settings.backend == "embedded":
        from chalicelib.search.embedded.backend import EmbeddedBackend

        return EmbeddedBackend(settings.data_dir / "search")
    if settings.backend == "opensearch":
        if settings.opensearch is None:
            raise ConfigurationError("SIFT_BACKEND=opensearch needs SIFT_OPENSEARCH_URL")
        from chalicelib.search.opensearch.backend import OpenSearchBackend
        from chalicelib.search.opensearch.flavours import ManagedCluster, ServerlessCollection

        client = (clients or AwsClients(settings)).opensearch
        serverless = settings.opensearch.auth == "sigv4-aoss"
        return OpenSearchBackend(
            client,
            flavour=ServerlessCollection() if serverless else ManagedCluster(),
            index_prefix=settings.opensearch_index_prefix,
            engine=settings.knn.engine,
            space_type=settings.knn.space_type,
            m=settings.knn.m,
            ef_construction=settings.knn.ef_construction,
        )
    raise ConfigurationError(f"SIFT_BACKEND={settings.backend!r}; choose embedded or opensearch")


def build_gate(settings: Settings, clients: AwsClients | None = None, catalog: Catalog | None = None) -> Gate:
    """Who may call, under ``SIFT_AUTH``."""
    from chalicelib.core.access_keys import AuthMode, Gate

    mode = AuthMode(settings.auth)
    keys = build_access_keys(settings, clients, catalog) if mode is AuthMode.ACCESS_KEY else None
    return Gate(mode, keys)


def build_access_keys(
    settings: Settings, clients: AwsClients | None = None, catalog: Catalog | None = None
) -> AccessKeys:
    """The access keys of the stage's catalog, their secrets sealed with KMS (``SIFT_KMS_KEY_ID``) or, without it,
    the local master key (``SIFT_MASTER_KEY_FILE``)."""
    from chalicelib import observability
    from chalicelib.core.access_keys import AccessKeys

    box: SecretBox
    if settings.kms_key_id:
        from chalicelib.sealing.kms import KmsBox

        box = KmsBox((clients or AwsClients(settings)).kms, settings.kms_key_id)
    elif settings.stage == "local":
        from chalicelib.sealing.master_key import MasterKeyBox

        box = MasterKeyBox(settings.master_key_file)
    else:
        raise ConfigurationError("SIFT_AUTH=accesskey on an AWS stage needs SIFT_KMS_KEY_ID (the stack's key)")
    return AccessKeys(catalog or build_catalog(settings, clients), box,
                      on_failure=lambda code: observability.annotate(auth_failure=code))


def build_blob_store(settings: Settings, clients: AwsClients | None = None) -> BlobStore | None:
    """Where data-center files are kept: ``SIFT_DATA_CENTER_BUCKET`` on AWS, ``<data dir>/datacenter`` locally; None
    (the data-center operations answer that it is not configured) on an AWS stage without a bucket."""
    if settings.data_center_bucket:
        from chalicelib.blobs.s3 import S3BlobStore

        return S3BlobStore((clients or AwsClients(settings)).s3, settings.data_center_bucket)
    if settings.stage == "local":
        from chalicelib.blobs.local import LocalBlobStore

        return LocalBlobStore(settings.data_dir / "datacenter")
    return None


def build_catalog(settings: Settings, clients: AwsClients | None = None) -> Catalog:
    if settings.catalog == "dynamodb":
        from chalicelib.store.dynamodb import DynamoDbCatalog

        return DynamoDbCatalog((clients or AwsClients(settings)).dynamodb, settings.catalog_table)
    from chalicelib.store.sqlite import SqliteCatalog

    return SqliteCatalog(_sqlite_catalog_path(settings))


def _sqlite_catalog_path(settings: Settings) -> Path:
    return settings.data_dir / "catalog.db"


@functools.lru_cache(maxsize=1)
def service() -> Services:
    """The process-wide services, built on first use (a Lambda container builds them once per cold start)."""
    return build_services(Settings.from_environment())


def run_task(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Lambda entry point of the state machines' tasks (``IndexingTasks`` in app.py): the process's services, S3
    for the results a Map exported."""
    from chalicelib.workflows.tasks import handle_task

    return handle_task(service(), event, results=_s3_results())


@functools.cache
def _s3_results() -> ResultReader:
    from chalicelib.workflows.batches import S3ResultReader

    return S3ResultReader(AwsClients(Settings.from_environment()).s3)
