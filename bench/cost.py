"""What a Retrieve costs on the AWS production path: round trips and bytes per dependency, per request.

    python -m bench.cost --dataset ../shared/datasets/scifact [--documents 500] [--queries 50] [--json]

Why round trips and bytes rather than latency: on AWS a Retrieve's time and price are dominated by its calls to
OpenSearch, Bedrock and DynamoDB, and those are fixed by the code path, not by the machine. The issue's goal is
per Retrieve 1 OpenSearch ``msearch`` + 1 embedding call + at most 1 rerank call; this prints what the code does.

How: stage ``dev`` runs as deployed — its environment from ``.chalice/config.json``, the composition root's own
wiring and client configuration, requests through the Chalice app (``chalice.test.Client``), so the API's own JSON
is counted too — with only the network replaced, at the HTTP layer so every byte counted was really serialised:

- OpenSearch: the real opensearch-py client (SigV4-signed for ``aoss``, Serverless mode) with
  ``tests.fakes.opensearch.InMemoryOpenSearch`` mounted as its transport;
- Bedrock: the real botocore clients answered by ``tests.fakes.bedrock.FakeBedrock`` (Titan Text V2 embeddings,
  Rerank, Converse), which sizes its answers like the real models' (dense vectors at Titan's precision);
- DynamoDB and S3: moto, each client metered here (every HTTP attempt, its operation and body sizes).

A knowledge base is created through the API, ``--documents`` SciFact documents are indexed through
``service().index_texts`` (as bench/quality.py does; the API's indexing job would add the S3 reads and the job's
catalog writes), then ``--queries`` judged test queries are sent through ``POST /{WorkspaceId}/index/retrieve`` in
three variants: the documented defaults (reranking on), ``EnableReranking: false``, and ``QueryHistory`` +
``EnableRewrite: true`` (adds a Converse call). Retrieve columns are per-request medians; the indexing column is the
mean per document. Nothing is asserted: this measures. A Retrieve that does not answer 200 stops it with exit
status 1, since its counts would describe an error path.

Not the numbers of a real cluster: the in-memory node's ``match`` is term overlap, not BM25, so which chunks come back
(and so response and rerank sizes) differ a little from a real collection's; request counts do not.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from bench.beir import Dataset, load
from bench.gateway import iam_authorized
from chalicelib import composition
from chalicelib.core.indexing import TextDocument
from tests.fakes.bedrock import BedrockCall, FakeBedrock
from tests.fakes.opensearch import InMemoryOpenSearch, RecordedRequest

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
WORKSPACE: Final = "bench"
REGION: Final = "us-west-2"
OPENSEARCH_URL: Final = "https://sift0bench0collection.us-west-2.aoss.amazonaws.com"
RETRIEVE_PATH: Final = f"/{WORKSPACE}/index/retrieve"
JSON_HEADERS: Final = {"Content-Type": "application/json"}
BEDROCK_OPERATIONS: Final = ("InvokeModel", "Rerank", "Converse")
ASSISTANT_TURN: Final = "Here is what the literature says about that."
# The goal per Retrieve, beside the rows it speaks about.
GOAL: Final = {"opensearch": "1 (`POST /_msearch`)", "InvokeModel": "1", "Rerank": "≤ 1"}
OPERATION_NOTES: Final = {"InvokeModel": " (embedding)", "Converse": " (rewrite)"}


class BenchError(Exception):
    """The run cannot measure what it set out to (an API call failed)."""


# --- metering ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwsCall:
    """One HTTP attempt of a boto3 client (a retried call counts once per attempt: each is a round trip)."""

    service: str
    operation: str
    request_bytes: int
    response_bytes: int = 0


class AwsCallMeter:
    """Records every HTTP attempt of the boto3 clients it is attached to, whoever answers them (moto here).

    ``before-send`` (registered first, answering nothing) sees each attempt's signed request; ``before-parse`` sees its
    response body, so both sizes are the serialised ones.
    """

    def __init__(self) -> None:
        self.calls: list[AwsCall] = []

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-send.{service}", self._sent)
        client.meta.events.register(f"before-parse.{service}", self._received)
        return client

    def _sent(self, request: Any, event_name: str, **_kwargs: Any) -> None:
        _event, service, operation = event_name.split(".", 2)
        self.calls.append(AwsCall(service, operation, _size(request.body)))

    def _received(self, response_dict: Mapping[str, Any], **_kwargs: Any) -> None:
        body = response_dict.get("body")
        size = len(body) if isinstance(body, bytes | bytearray) else int(response_dict["headers"].get("content-length", 0))
        self.calls[-1] = replace(self.calls[-1], response_bytes=size)


def _size(body: Any) -> int:
    if body is None:
        return 0
    if isinstance(body, bytes | bytearray | str):
        return len(body.encode() if isinstance(body, str) else body)
    raise TypeError(f"cannot size a request body of type {type(body).__name__}")


@dataclass(slots=True)
class Dependencies:
    """The fakes and meters standing in for the network, and where each record list stood at a mark."""

    opensearch: InMemoryOpenSearch = field(default_factory=InMemoryOpenSearch)
    bedrock: FakeBedrock = field(default_factory=FakeBedrock)
    aws: AwsCallMeter = field(default_factory=AwsCallMeter)

    def mark(self) -> tuple[int, int, int]:
        return len(self.opensearch.requests), len(self.bedrock.calls), len(self.aws.calls)

    def since(self, mark: tuple[int, int, int]) -> Usage:
        return Usage(
            self.opensearch.requests[mark[0] :], self.bedrock.calls[mark[1] :], self.aws.calls[mark[2] :]
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """The records made between two marks: what one request (or one indexing run) cost."""

    opensearch: Sequence[RecordedRequest]
    bedrock: Sequence[BedrockCall]
    aws: Sequence[AwsCall]


def network_free_clients(dependencies: Dependencies) -> type[composition.AwsClients]:
    """``AwsClients`` exactly as deployed (same clients, same botocore configuration), each given its fake or meter."""

    class NetworkFreeClients(composition.AwsClients):
        @functools.cached_property
        def s3(self) -> Any:
            return dependencies.aws.attach(super().s3)

        @functools.cached_property
        def dynamodb(self) -> Any:
            return dependencies.aws.attach(super().dynamodb)

        @functools.cached_property
        def opensearch(self) -> Any:
            client = super().opensearch  # the real client, SigV4 and all
            dependencies.opensearch.mount(client)
            return client

        def _bedrock(self, service: str) -> Any:
            return dependencies.bedrock.attach(super()._bedrock(service))

    return NetworkFreeClients


# --- stage dev without a network --------------------------------------------------------------------------------------


def dev_environment() -> dict[str, str]:
    """Stage ``dev``'s variables from config.json, the collection endpoint filled in, fake credentials only."""
    stages = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())["stages"]
    return {
        **stages["dev"]["environment_variables"],
        "SIFT_OPENSEARCH_URL": OPENSEARCH_URL,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


@contextmanager
def patched_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` as the whole Sift/AWS environment (no stray SIFT_* or real AWS profile), restored afterwards."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("SIFT_") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def dev_stage(dependencies: Dependencies) -> Iterator[Any]:
    """A ``chalice.test.Client`` on stage ``dev``, its service built now from the dev environment."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    environment = dev_environment()
    original_clients = composition.AwsClients
    with patched_environment(environment), mock_aws():
        from app import app
        from chalicelib.composition import service
        from chalicelib.store.dynamodb import create_table

        create_table(boto3.client("dynamodb", region_name=REGION), environment["SIFT_CATALOG_TABLE"])
        composition.AwsClients = network_free_clients(dependencies)  # type: ignore[misc]
        try:
            service.cache_clear()
            service()  # built here, from this environment; every request reuses it (tests/api/conftest.py says why)
            with iam_authorized(), Client(app, stage_name="dev", project_dir=str(REPO_ROOT)) as client:
                yield client
        finally:
            composition.AwsClients = original_clients  # type: ignore[misc]
            service.cache_clear()


def post(client: Any, path: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], int, int]:
    """POST JSON through the app: ``(answer, request bytes, response bytes)``; ``BenchError`` unless it is 200."""
    raw = json.dumps(body).encode()
    response = client.http.post(path, headers=JSON_HEADERS, body=raw)
    if response.status_code != 200:
        raise BenchError(f"POST {path} answered {response.status_code}: {response.body.decode(errors='replace')}")
    return json.loads(response.body), len(raw), len(response.body)


# --- measuring --------------------------------------------------------------------------------------------------------


def route(method: str, path: str, prefix: str) -> str:
    """``POST /sift-dev-1a2b…/_search`` → ``POST /{chunks}/_search``: one name per kind of request."""
    segments = [segment for segment in path.split("/") if segment]
    named = []
    for position, segment in enumerate(segments):
        if position and segments[position - 1] == "_doc":
            named.append("{id}")
        elif segment == f"{prefix}-documents":
            named.append("{documents}")
        elif segment.startswith(f"{prefix}-"):
            named.append("{chunks}")
        else:
            named.append(segment)
    return f"{method} /{'/'.join(named)}"


def metrics(usage: Usage, api_sent: int, api_received: int, prefix: str) -> dict[str, float]:
    """One request's (or one batch's) counts and KiB, flat: ``opensearch.calls``, ``bedrock.Rerank.sent``, ..."""
    values: dict[str, float] = defaultdict(float)
    for request in usage.opensearch:
        values["opensearch.calls"] += 1
        values[f"opensearch.path:{route(request.method, request.path, prefix)}"] += 1
        values["opensearch.sent"] += request.request_bytes / 1024
        values["opensearch.received"] += request.response_bytes / 1024
    for call in usage.bedrock:
        values[f"bedrock.{call.operation}.calls"] += 1
        values[f"bedrock.{call.operation}.sent"] += call.request_bytes / 1024
        values[f"bedrock.{call.operation}.received"] += call.response_bytes / 1024
    for aws in usage.aws:
        values[f"{aws.service}.calls"] += 1
        values[f"{aws.service}.op:{aws.operation}"] += 1
        values[f"{aws.service}.sent"] += aws.request_bytes / 1024
        values[f"{aws.service}.received"] += aws.response_bytes / 1024
    values["round_trips"] = float(len(usage.opensearch) + len(usage.bedrock) + len(usage.aws))
    values["api.sent"] = api_sent / 1024
    values["api.received"] = api_received / 1024
    return dict(values)


def medians(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median over requests (a request without the key counts as 0)."""
    keys = sorted({key for sample in samples for key in sample})
    return {key: statistics.median(sample.get(key, 0.0) for sample in samples) for key in keys}


def per_document(total: Mapping[str, float], documents: int) -> dict[str, float]:
    return {key: value / documents for key, value in total.items()}


@dataclass(frozen=True, slots=True)
class Measured:
    """What one run found: a column of metrics per measured step, and what the numbers depend on."""

    columns: dict[str, dict[str, float]]  # column title -> metrics
    documents: int
    chunks: int
    queries: int
    dimension: int
    embedder: str
    seconds: dict[str, float]


Variant = Callable[[str, str, int], dict[str, Any]]  # (index id, query, position) -> Retrieve body


def variants(queries: Sequence[str]) -> dict[str, Variant]:
    """The three Retrieve bodies compared; the rewrite variant's history is the previous query and a short answer."""
    def history(position: int) -> list[dict[str, str]]:
        earlier = queries[position - 1] if position else queries[-1]
        return [{"role": "user", "content": earlier}, {"role": "assistant", "content": ASSISTANT_TURN}]

    return {
        "Retrieve: defaults (rerank on)": lambda index_id, text, _: {"IndexId": index_id, "Query": text},
        "Retrieve: `EnableReranking: false`": lambda index_id, text, _: {
            "IndexId": index_id, "Query": text, "EnableReranking": False,
        },
        "Retrieve: `QueryHistory` + `EnableRewrite: true`": lambda index_id, text, position: {
            "IndexId": index_id, "Query": text, "EnableRewrite": True, "QueryHistory": history(position),
        },
    }


def measure(dataset: Dataset, documents: int, queries: int) -> Measured:
    """Create a knowledge base through the API, index ``documents`` documents, run every variant; count everything."""
    from chalicelib.composition import service
    from chalicelib.settings import Settings

    dependencies = Dependencies()
    columns: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    texts = [query.text for query in dataset.queries[:queries]]
    corpus = list(dataset.corpus.items())[:documents]
    with dev_stage(dependencies) as client:
        settings = Settings.from_environment()
        prefix = settings.opensearch_index_prefix

        mark = dependencies.mark()
        created, sent, received = post(client, f"/{WORKSPACE}/index/create", {"Name": dataset.name})
        index_id = str(created["Data"]["Id"])
        columns["CreateIndex (once)"] = metrics(dependencies.since(mark), sent, received, prefix)

        started = time.perf_counter()
        mark = dependencies.mark()
        service().knowledge_bases.index_texts(
            WORKSPACE, index_id,
            (TextDocument(doc_id=doc_id, name=doc_id, title=title, text=text) for doc_id, (title, text, _) in corpus),
        )
        total = metrics(dependencies.since(mark), 0, 0, prefix)
        columns["indexing, per document (`index_texts`, mean)"] = per_document(total, len(corpus))
        seconds["indexing"] = time.perf_counter() - started

        for title, body in variants(texts).items():
            started = time.perf_counter()
            samples = []
            for position, text in enumerate(texts):
                mark = dependencies.mark()
                _, sent, received = post(client, RETRIEVE_PATH, body(index_id, text, position))
                samples.append(metrics(dependencies.since(mark), sent, received, prefix))
            columns[title] = medians(samples)
            seconds[title] = time.perf_counter() - started
    chunk_index_docs = sum(
        len(index["docs"]) for name, index in dependencies.opensearch.indices.items()
        if name != f"{prefix}-documents"
    )
    return Measured(columns, len(corpus), chunk_index_docs, len(texts), settings.embedding_dimensions,
                    settings.embedder, seconds)


# --- the table --------------------------------------------------------------------------------------------------------


def number(value: float) -> str:
    """Whole numbers as they are; means with the digits that say something (0.002 is not 0.00)."""
    if value == int(value):
        return str(int(value))
    if value < 0.01:
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def count(values: Mapping[str, float], key: str) -> str:
    return number(values.get(key, 0.0))


def kib(values: Mapping[str, float], key: str) -> str:
    sent, received = values.get(f"{key}.sent", 0.0), values.get(f"{key}.received", 0.0)
    return "—" if not sent and not received else f"{sent:.1f} / {received:.1f}"


def calls(values: Mapping[str, float], total_key: str, detail_prefix: str) -> str:
    """``1 (`POST /_msearch`)``, or ``4 (`A` ×2, `B` ×2)``: the count, and what it was made of."""
    total = values.get(total_key, 0.0)
    details = {key[len(detail_prefix) :]: value for key, value in values.items() if key.startswith(detail_prefix)}
    details = {name: value for name, value in details.items() if value}
    if not total:
        return "0"
    if len(details) == 1 and next(iter(details.values())) == total:
        return f"{number(total)} (`{next(iter(details))}`)"
    return f"{number(total)} ({', '.join(f'`{name}` ×{number(value)}' for name, value in details.items())})"


def rows(columns: Mapping[str, Mapping[str, float]]) -> list[tuple[str, list[str], str]]:
    """(label, one cell per column, goal)."""
    seen = {key.split(".")[1] for values in columns.values() for key in values if key.startswith("bedrock.")}
    operations = [*BEDROCK_OPERATIONS, *sorted(seen - set(BEDROCK_OPERATIONS))]
    table: list[tuple[str, list[str], str]] = []

    def add(label: str, cell: Callable[[Mapping[str, float]], str], goal: str = "") -> None:
        table.append((label, [cell(values) for values in columns.values()], goal))

    add("OpenSearch round trips", lambda v: calls(v, "opensearch.calls", "opensearch.path:"), GOAL["opensearch"])
    add("OpenSearch KiB sent / received", lambda v: kib(v, "opensearch"))
    for operation in operations:
        key = f"bedrock.{operation}"
        add(f"Bedrock {operation}{OPERATION_NOTES.get(operation, '')} calls",
            functools.partial(count, key=f"{key}.calls"), GOAL.get(operation, ""))
        add(f"Bedrock {operation} KiB sent / received", functools.partial(kib, key=key))
    add("DynamoDB calls", lambda v: calls(v, "dynamodb.calls", "dynamodb.op:"))
    add("DynamoDB KiB sent / received", lambda v: kib(v, "dynamodb"))
    add("S3 calls", lambda v: calls(v, "s3.calls", "s3.op:"))
    add("round trips in all", functools.partial(count, key="round_trips"))
    add("API request / response KiB", lambda v: kib(v, "api"))
    return table


def retrieve_defaults() -> str:
    """The documented defaults the Retrieve variants run with (read from the request model, not restated)."""
    from chalicelib.api.bailian import DEFAULT_RERANK_TOP_N, RetrieveRequest

    dense = RetrieveRequest.model_fields["dense_similarity_top_k"].default
    sparse = RetrieveRequest.model_fields["sparse_similarity_top_k"].default
    top_n = DEFAULT_RERANK_TOP_N
    return f"`DenseSimilarityTopK` {dense}, `SparseSimilarityTopK` {sparse}, `RerankTopN` {top_n}"


def markdown(measured: Measured) -> str:
    titles = list(measured.columns)
    lines = [
        f"| | {' | '.join(titles)} | goal per Retrieve |",
        f"|---|{'---|' * len(titles)}---|",
    ]
    for label, cells, goal in rows(measured.columns):
        lines.append(f"| {label} | {' | '.join(cells)} | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default=None, help="qrels split (default: the only/first one)")
    parser.add_argument("--documents", type=int, default=500, help="corpus documents to index (default 500)")
    parser.add_argument("--queries", type=int, default=50, help="judged queries per Retrieve variant (default 50)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.documents < 1 or args.queries < 1:
        parser.error("--documents and --queries must be positive")

    dataset = load(args.dataset, args.split)
    try:
        measured = measure(dataset, args.documents, args.queries)
    except BenchError as exc:
        print(f"bench.cost: {exc}", file=sys.stderr)
        return 1
    print(
        ", ".join(f"{name}: {seconds:.1f} s" for name, seconds in measured.seconds.items()), file=sys.stderr
    )
    print(
        f"Stage `dev` (OpenSearch Serverless, Bedrock, DynamoDB), {dataset.name}: {measured.documents} documents "
        f"({measured.chunks} chunks), {measured.queries} judged queries per variant. Embedder "
        f"`{measured.embedder.removeprefix('bedrock:')}` at {measured.dimension} dimensions; "
        f"{retrieve_defaults()} (the documented defaults). "
        "Retrieve columns: median per request; KiB are HTTP bodies.\n"
    )
    print(markdown(measured))
    if args.json:
        print(json.dumps({"dataset": dataset.name, "documents": measured.documents, "chunks": measured.chunks,
                          "queries": measured.queries, "dimension": measured.dimension,
                          "columns": measured.columns}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
