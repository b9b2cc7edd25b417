"""The steps of one size, each run in its own process by ``run``: build, serve (cold open + latency), peer."""

from __future__ import annotations

import cProfile
import importlib
import io
import json
import os
import pstats
import resource
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest import mock

import numpy as np

from bench.scale.synth import DIMENSION, MODEL, SHARDS, Material, documents
from bench.speed import machine, percentiles, time_each

WORKSPACE = "bench"
INDEX_ID = "scale"
LEG_TOP_K = 100
TOP_N = 5
WARMUP = 20
FILTERED_QUERIES = 30
FILTER = [{"shard": "g3"}]  # a tenth of the chunks


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return peak_rss_mb()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def disk_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    files = [path] if path.is_file() else [item for item in path.rglob("*") if item.is_file()]
    return round(sum(item.stat().st_size for item in files) / 2**20, 2)


class QueryVectors:
    """Sift's ``Embedder`` for the retriever: the precomputed query vectors (a lookup, so the embedding is not
    timed); documents are written with their vectors and never embedded."""

    def __init__(self, material: Material) -> None:
        self._queries = {text: vector.tolist() for text, vector in zip(material.query_texts, material.query_vectors)}

    name = MODEL
    dimension = DIMENSION

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        raise RuntimeError("bench.scale writes chunks with their vectors; nothing should embed documents")

    def embed_query(self, text: str) -> list[float]:
        return self._queries[text]


def open_service(directory: Path, material: Material) -> tuple[Any, Any]:
    """A knowledge-base service on ``directory`` (the stage's wiring, ``build_service``) with the query-vector stub,
    and the very backend it searches."""
    import chalicelib.composition
    from chalicelib.composition import build_service
    from chalicelib.settings import Settings

    backends: list[Any] = []
    real_build_backend = chalicelib.composition.build_backend

    def capture(*args: Any, **kwargs: Any) -> Any:
        backends.append(real_build_backend(*args, **kwargs))
        return backends[-1]

    embedder = QueryVectors(material)
    with mock.patch("chalicelib.composition.models.build_embedder", lambda *_, **__: embedder), \
            mock.patch("chalicelib.composition.build_backend", capture):
        service = build_service(Settings(data_dir=directory, embedding_cache=None, backend="embedded"))
    return service, backends[0]


def tantivy_dir(directory: Path) -> Path:
    return directory / "search" / "tantivy"


def build(directory: Path, material: Material, size: int, budget_s: float) -> dict[str, Any]:
    import inspect

    from chalicelib.core.indexing import Indexer
    from chalicelib.core.retrieval import RetrievalQuery

    batch_documents = inspect.signature(Indexer).parameters["batch_documents"].default
    service, backend = open_service(directory, material)
    service.create(WORKSPACE, name=INDEX_ID, index_id=INDEX_ID)
    collection = service.get(WORKSPACE, INDEX_ID).collection
    written = generate_s = write_s = 0.0
    chunks = 0
    checkpoints: list[tuple[int, float]] = []
    stream = documents(material, size)
    started = time.perf_counter()
    partial = False
    while chunks < size:
        mark = time.perf_counter()
        batch = [(item.record, item.chunks) for _, item in zip(range(batch_documents), stream)]
        generate_s += time.perf_counter() - mark
        if not batch:
            break
        mark = time.perf_counter()
        backend.upsert_documents(collection, batch)
        write_s += time.perf_counter() - mark
        chunks += sum(len(item) for _, item in batch)
        if not checkpoints or chunks - checkpoints[-1][0] >= max(size // 10, 1):
            checkpoints.append((chunks, write_s))
            print(f"  build {chunks:,}/{size:,} chunks, {write_s:.0f} s writing", flush=True, file=_stderr())
        if write_s > budget_s:
            partial = True
            break
    written = time.perf_counter() - started
    tantivy_after_writes, rss_writes = disk_mb(tantivy_dir(directory)), peak_rss_mb()
    # The first search after the writes brings every derived index up to SQLite's generation (on a fresh
    # collection the writes leave tantivy behind and the first search builds it whole): part of the build.
    mark = time.perf_counter()
    service.retrieve(WORKSPACE, INDEX_ID, RetrievalQuery(material.query_texts[0], LEG_TOP_K, LEG_TOP_K, top_n=TOP_N),
                     request_id="scale")
    sync_s = time.perf_counter() - mark
    result: dict[str, Any] = {
        "chunks": chunks, "documents": service.document_count(service.get(WORKSPACE, INDEX_ID)),
        "batch_documents": batch_documents, "write_s": round(write_s, 2), "wall_s": round(written, 2),
        "generate_s": round(generate_s, 2), "write_chunks_per_s": round(chunks / write_s, 1),
        "first_search_sync_s": round(sync_s, 2), "build_s": round(write_s + sync_s, 2),
        "chunks_per_s": round(chunks / (write_s + sync_s), 1),
        "checkpoints": [[count, round(seconds, 2)] for count, seconds in checkpoints],
        "sqlite_mb": round(sum(disk_mb(directory / "search" / name) for name in ("sift.db", "sift.db-wal")), 1),
        "tantivy_mb_after_writes": tantivy_after_writes, "tantivy_mb": disk_mb(tantivy_dir(directory)),
        "peak_rss_writes_mb": rss_writes, "peak_rss_mb": peak_rss_mb(), "partial": partial,
    }
    if partial and len(checkpoints) >= 2:
        (c0, s0), (c1, s1) = checkpoints[-2], checkpoints[-1]
        rate = (c1 - c0) / max(s1 - s0, 1e-9)  # the latest rate: it falls as the index grows
        result["extrapolated_build_s"] = round(write_s + (size - chunks) / rate, 0)
    return result


def _stderr() -> Any:
    import sys

    return sys.stderr


def serve(directory: Path, material: Material, *, drop_tantivy: bool, latency: bool, profile: int) -> dict[str, Any]:
    from chalicelib.api.operations import BY_NAME, invoke
    from chalicelib.core.services import Services

    if drop_tantivy:
        shutil.rmtree(tantivy_dir(directory))
    queries = material.query_texts
    started = time.perf_counter()
    service, backend = open_service(directory, material)
    operation = BY_NAME["Retrieve"]
    components = cast(Services, SimpleNamespace(knowledge_bases=service))

    def retrieve(extra: dict[str, Any]) -> Callable[[str], None]:
        def call(text: str) -> None:
            body = json.dumps({"IndexId": INDEX_ID, "Query": text, **extra}).encode()
            response = invoke(lambda: components, operation, path_params={"WorkspaceId": WORKSPACE}, body=body)
            if response.status != 200:
                raise RuntimeError(f"Retrieve failed: {response.body!r}")
        return call

    hybrid = {"EnableReranking": False, "DenseSimilarityTopK": LEG_TOP_K, "SparseSimilarityTopK": LEG_TOP_K,
              "RerankTopN": TOP_N}
    opened = time.perf_counter()
    retrieve(hybrid)(queries[0])
    first = time.perf_counter()
    result: dict[str, Any] = {
        "open_s": round(opened - started, 3), "first_query_s": round(first - opened, 3),
        "cold_open_s": round(first - started, 3), "rss_after_open_mb": rss_mb(), "peak_rss_open_mb": peak_rss_mb(),
        "tantivy_mb": disk_mb(tantivy_dir(directory)),
    }
    if not latency:
        return result
    variants: dict[str, tuple[dict[str, Any], Sequence[str]]] = {
        "hybrid_no_rerank": (hybrid, queries),
        "default_rerank": ({}, queries),
        "dense_leg": ({"EnableReranking": False, "DenseSimilarityTopK": LEG_TOP_K, "SparseSimilarityTopK": 0}, queries),
        "sparse_leg": ({"EnableReranking": False, "DenseSimilarityTopK": 0, "SparseSimilarityTopK": LEG_TOP_K}, queries),
        "hybrid_filtered": ({**hybrid, "SearchFilters": FILTER}, queries[:FILTERED_QUERIES]),
    }
    result["retrieve"] = {name: {**percentiles(time_each(texts, retrieve(extra), min(WARMUP, len(texts) // 2))),
                                 "queries": len(texts)} for name, (extra, texts) in variants.items()}
    result["parts"] = parts(service, backend, material)
    result["peak_rss_mb"] = peak_rss_mb()
    if profile:
        result["profile"] = _profile(retrieve(hybrid), queries[: min(len(queries), 100)], profile)
    return result


def parts(service: Any, backend: Any, material: Material) -> dict[str, Any]:
    """The backend's pieces alone, over every query (private seams of the embedded backend; ``error`` if they moved)."""
    from chalicelib.core.ports.search import RecallQuery

    collection = service.get(WORKSPACE, INDEX_ID).collection
    rows = list(range(len(material.query_texts)))
    texts, vectors = material.query_texts, material.query_vectors
    timed: dict[str, Any] = {}

    def time_part(name: str, call: Callable[[int], object], items: Sequence[int] = rows) -> None:
        try:
            timed[name] = percentiles(time_each(items, call, min(WARMUP, len(items) // 2)))
        except Exception as exc:  # noqa: BLE001 - a seam that moved is reported, the rest still runs
            timed[name] = {"error": f"{type(exc).__name__}: {exc}"}

    time_part("backend_recall_both_legs", lambda i: backend.recall(collection, RecallQuery(
        texts[i], vectors[i].tolist(), LEG_TOP_K, LEG_TOP_K)))
    try:
        snapshot = backend._dense_snapshot(collection)
        sparse = backend._synced_sparse(collection)
    except Exception as exc:  # noqa: BLE001
        timed["seams"] = f"{type(exc).__name__}: {exc}"
        return timed
    time_part("dense_matmul_top100", lambda i: snapshot.matrix.search(vectors[i].tolist(), LEG_TOP_K))
    # The dense leg against exact search over the same rows (an approximate index, if the backend has one, is
    # judged here: recall@100 of its top 100) and the exact product's own time.
    matrix = snapshot.matrix
    ivf = getattr(matrix, "ivf", None)
    row_keys = matrix.keys if ivf is None else matrix.keys[ivf.order]  # the key of each row of ``matrix.vectors``

    def exact(i: int) -> np.ndarray:
        scores = matrix.vectors @ (vectors[i] / np.linalg.norm(vectors[i]))
        k = min(LEG_TOP_K, len(scores))
        return row_keys[np.argpartition(-scores, k - 1)[:k]]  # type: ignore[no-any-return]

    time_part("dense_exact_top100", exact)
    overlaps = [len({key for key, _ in matrix.search(vectors[i].tolist(), LEG_TOP_K)} & set(exact(i).tolist()))
                / min(LEG_TOP_K, len(row_keys)) for i in rows]
    timed["dense_index"] = "exact" if ivf is None else f"IVF ({type(ivf).__name__})"
    timed["dense_recall_at_100_vs_exact"] = round(float(np.mean(overlaps)), 4)
    time_part("tantivy_top100", lambda i: sparse.search(texts[i], LEG_TOP_K))
    recalled = {i: [key for key, _ in snapshot.matrix.search(vectors[i].tolist(), LEG_TOP_K)]
                + [key for key, _ in sparse.search(texts[i], LEG_TOP_K)] for i in rows}
    if hasattr(backend, "_stored_chunks"):  # texts from SQLite through a text cache, the rest from the snapshot
        time_part("chunk_fetch_recalled", lambda i: backend._stored_chunks(collection, snapshot, list(set(recalled[i]))))
    else:
        time_part("chunk_fetch_recalled", lambda i: backend._store.chunks_by_key(list(set(recalled[i]))))
    from chalicelib.api.search_filters import parse_search_filters

    group = parse_search_filters(FILTER)
    few = rows[: min(len(rows), 10)]

    def first_mask(_: int) -> object:
        snapshot.masks.clear()  # the snapshot keeps recent filters' masks: time the evaluation, not the cache
        return snapshot.mask(group)

    time_part("filter_mask", first_mask, few)
    mask = snapshot.mask(group)
    assert mask is not None
    allowed = snapshot.matrix.keys[mask].tolist()
    timed["filter_keeps"] = f"{int(mask.sum()):,} of {len(mask):,} chunks (1/{SHARDS})"
    time_part("tantivy_top100_filtered", lambda i: sparse.search(texts[i], LEG_TOP_K, allowed), few)
    return timed


def _profile(call: Callable[[str], None], queries: Sequence[str], top: int) -> list[str]:
    profiler = cProfile.Profile()
    profiler.enable()
    for text in queries:
        call(text)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    lines = [line.rstrip() for line in stream.getvalue().splitlines() if line.strip()]
    header = next((index for index, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [f"{len(queries)} hybrid Retrieves (no rerank), by own time:", *lines[header:]]


# peers ------------------------------------------------------------------------------------------------------------


def _watch_rss(limit_mb: float, name: str) -> None:
    """Stop this process (with its report line) when its RSS passes ``limit_mb``."""
    def watch() -> None:
        while True:
            if rss_mb() > limit_mb:
                print(json.dumps({"engine": name, "status": "skipped",
                                  "reason": f"RSS passed {limit_mb:,.0f} MB (inputs + the cap)"}), flush=True)
                os._exit(3)
            time.sleep(0.5)
    threading.Thread(target=watch, daemon=True).start()


def _budgeted(call: Callable[[int], object], queries: range, budget_s: float) -> dict[str, Any]:
    """p50/p95 over the queries after a few warm-up calls, stopping once ``budget_s`` is spent (slow peers)."""
    for i in queries[:3]:
        call(i)
    samples: list[float] = []
    spent = 0.0
    for i in queries:
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000.0)
        spent += samples[-1] / 1000.0
        if spent > budget_s:
            break
    return {**percentiles(samples), "queries": len(samples)}


def peer(name: str, material: Material, size: int, rss_limit_mb: float, query_budget_s: float) -> dict[str, Any]:
    """``bench.peers``' engine ``name`` on the synthetic corpus: build, then its variants timed over the queries."""
    result: dict[str, Any] = {"engine": name, "loadavg_start": machine()["loadavg"]}
    try:
        from bench.peers import engines
        from bench.peers.data import Bundle
    except ImportError as exc:
        return {**result, "status": "missing", "reason": f"bench.peers is not available here ({exc})"}
    texts: list[str] = []
    doc_ids: list[str] = []
    vectors = np.zeros((size, DIMENSION), dtype=np.float32)
    for document in documents(material, size):
        for chunk in document.chunks:
            vectors[len(texts)] = chunk.vector
            texts.append(chunk.search_text)
            doc_ids.append(chunk.doc_id)
    bundle = Bundle(dataset="synthetic", embedder="synthetic", model=MODEL, keys=np.arange(size, dtype=np.int64),
                    doc_ids=doc_ids, texts=texts, vectors=vectors, documents=[], query_ids=material.query_ids,
                    query_texts=material.query_texts, query_vectors=material.query_vectors, qrels={})
    inputs_mb = rss_mb()
    _watch_rss(inputs_mb + rss_limit_mb, name)  # the cap is on the engine's own memory, over the inputs held here
    queries = range(len(bundle.query_texts))
    try:
        engine = engines.engine(name)
        for module in engine.modules:
            importlib.import_module(module)
        started = time.perf_counter()
        engine.build(bundle)
        build_s = time.perf_counter() - started
        rows = [{"name": variant.name, **_budgeted(variant.call, queries, query_budget_s)}
                for variant in engine.variants()]
    except ModuleNotFoundError as exc:
        return {**result, "status": "not installed", "reason": f"no module {exc.name!r} (make install-peers)"}
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return {**result, "status": "error", "reason": f"{type(exc).__name__}: {exc}"}
    return {**result, "status": "ok", "version": engine.version, "chunks": size, "build_s": round(build_s, 2),
            "chunks_per_s": round(size / build_s, 1), "rss_inputs_mb": inputs_mb, "peak_rss_mb": peak_rss_mb(),
            "rows": rows, "loadavg_end": machine()["loadavg"]}
