"""Speed, measured in one run beside a peer library on the same data and machine.

    python -m bench.speed --dataset ../shared/datasets/scifact [--json]

Reports Retrieve latency in-process (the whole operation: JSON body → validation → pipeline → response dict) over the
dataset's judged queries — without and with reranking, with the query embedding cached (excluded) and computed by the
local model (included) — the sparse leg alone beside bm25s (the peer), indexing throughput, and the cold import
time of ``app``. Timings on a shared 2-core machine are noisy: medians and ratios from one run are what to quote.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from bench.beir import Dataset, load
from bench.quality import WORKSPACE, open_index
from chalicelib.api.operations import BY_NAME, invoke
from chalicelib.composition import build_service
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.indexing import TextDocument
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.services import Services
from chalicelib.settings import Settings


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p95_ms": round(p95, 3)}


def time_each(items: Sequence[Any], call: Callable[[Any], object], warmup: int = 20) -> list[float]:
    for item in items[:warmup]:
        call(item)
    samples = []
    for item in items:
        started = time.perf_counter()
        call(item)
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def retrieve_latency(service: KnowledgeBaseService, index_id: str, queries: Sequence[str], extra: dict[str, Any]) -> dict[str, float]:
    operation = BY_NAME["Retrieve"]
    # ``invoke`` reads only the component the operation names (``knowledge_bases`` for Retrieve).
    components = cast(Services, SimpleNamespace(knowledge_bases=service))

    def call(text: str) -> None:
        body = json.dumps({"IndexId": index_id, "Query": text, **extra}).encode()
        response = invoke(lambda: components, operation, path_params={"WorkspaceId": WORKSPACE}, body=body)
        if response.status != 200:
            raise RuntimeError(f"Retrieve failed: {response.body}")

    return percentiles(time_each(queries, call))


def bm25s_peer(dataset: Dataset, queries: Sequence[str]) -> dict[str, float]:
    """bm25s (no stemmer, as its MTEB baseline) indexing the same title + text and answering top-100 queries."""
    import bm25s

    doc_ids = list(dataset.corpus)
    texts = [f"{title}\n{text}" for title, text, _ in dataset.corpus.values()]
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    index_seconds = time.perf_counter() - started

    def call(text: str) -> None:
        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False)
        retriever.retrieve(tokens, k=100, show_progress=False, n_threads=1)

    result = percentiles(time_each(queries, call))
    result["index_docs_per_s"] = round(len(doc_ids) / index_seconds, 1)
    return result


def indexing_throughput(dataset: Dataset, sample: int, cached_embeddings: Path | None) -> float:
    """Documents per second through Sift's indexing path into a fresh knowledge base."""
    with tempfile.TemporaryDirectory() as directory:
        service = build_service(Settings(data_dir=Path(directory), embedding_cache=cached_embeddings))
        service.create(WORKSPACE, name="throughput", index_id="throughput")
        documents = [
            TextDocument(doc_id=doc_id, name=doc_id, title=title, text=text)
            for doc_id, (title, text, _) in list(dataset.corpus.items())[:sample]
        ]
        started = time.perf_counter()
        service.index_texts(WORKSPACE, "throughput", documents)
        return round(len(documents) / (time.perf_counter() - started), 1)


_IMPORT_PROBE = (
    "import sys, time; started = time.perf_counter(); import app; elapsed = time.perf_counter() - started; "
    "print(elapsed * 1000, 'torch' in sys.modules, 'sentence_transformers' in sys.modules, 'numpy' in sys.modules)"
)


def cold_import() -> dict[str, Any]:
    """Median of five fresh interpreters importing ``app`` as a Lambda would (no model, no service built)."""
    runs = []
    for _ in range(5):
        output = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True,
            env={"PATH": "/usr/bin:/bin", "SIFT_STAGE": "dev"},
        ).stdout.split()
        runs.append(output)
    return {
        "ms": round(statistics.median(float(run[0]) for run in runs), 1),
        "loads_torch": runs[0][1] == "True",
        "loads_sentence_transformers": runs[0][2] == "True",
        "loads_numpy": runs[0][3] == "True",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index-sample", type=int, default=300, help="documents embedded live for the indexing rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    dataset = load(args.dataset)
    queries = [query.text for query in dataset.queries]
    service, index_id, _ = open_index(dataset, DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP)
    live_model = build_service(Settings(data_dir=Path(".bench-cache/index"), embedding_cache=None))
    # Warm the cached service's query embeddings so "cached" really excludes the model.
    for text in queries:
        service.retrieve(WORKSPACE, index_id, _probe(text), request_id="warm")

    rows: dict[str, dict[str, Any]] = {
        "sift_retrieve_no_rerank_cached_embedding": retrieve_latency(service, index_id, queries, {"EnableReranking": False}),
        "sift_retrieve_default_cached_embedding": retrieve_latency(service, index_id, queries, {}),
        "sift_retrieve_no_rerank_live_embedding": retrieve_latency(live_model, index_id, queries, {"EnableReranking": False}),
        "sift_retrieve_default_live_embedding": retrieve_latency(live_model, index_id, queries, {}),
        "sift_sparse_leg_only": retrieve_latency(
            service, index_id, queries, {"EnableReranking": False, "DenseSimilarityTopK": 0, "Rerank": [{"RerankTopN": 20}]}
        ),
        "bm25s_peer_top100": bm25s_peer(dataset, queries),
    }
    indexing = {
        "sift_docs_per_s_cached_embeddings": indexing_throughput(dataset, len(dataset.corpus), Path(".bench-cache/embeddings.db")),
        "sift_docs_per_s_live_model": indexing_throughput(dataset, args.index_sample, None),
        "bm25s_docs_per_s_sparse_only": rows["bm25s_peer_top100"].pop("index_docs_per_s"),
    }
    imports = cold_import()

    print(f"{'retrieve (in-process, ' + str(len(queries)) + ' queries)':<48} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in rows.items():
        print(f"{name:<48} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}")
    for name, value in indexing.items():
        print(f"{name:<48} {value:>8.1f}")
    print(f"{'cold import of app (ms)':<48} {imports['ms']:>8.1f}  torch={imports['loads_torch']} "
          f"sentence_transformers={imports['loads_sentence_transformers']}")
    if args.json:
        print(json.dumps({"dataset": dataset.name, "results": {"retrieve": rows, "indexing": indexing,
                                                                "cold_import": imports}}))
    return 0


def _probe(text: str) -> Any:
    from chalicelib.core.retrieval import RetrievalQuery

    return RetrievalQuery(text, dense_top_k=100, sparse_top_k=0, top_n=1)


if __name__ == "__main__":
    sys.exit(main())
