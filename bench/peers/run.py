"""The driver (one worker process per engine, then the table) and the worker (``--engine NAME``: one JSON line)."""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.beir import load
from bench.peers import engines
from bench.peers.data import LEG_TOP_K, TOP_N, Bundle, build_bundle
from bench.speed import last_json_line, load_line, machine, percentiles, probe_failure, time_each

ENGINES = ("floor", "sift", "lancedb", "qdrant", "haystack")
ROOT = Path(__file__).resolve().parents[2]  # where the workers run ``python -m bench.peers``
WORKER_TIMEOUT_SECONDS = 1800.0
WARMUP = 20


def _rss_mb() -> float:
    """This process's resident set now (Linux ``/proc``; the peak where that is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return _peak_rss_mb()


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def measure(name: str, bundle: Bundle, *, warmup: int = WARMUP, profile: int = 0) -> dict[str, Any]:
    """Build engine ``name`` on the bundle and time its variants; missing packages and failures are reported."""
    result: dict[str, Any] = {"engine": name, "loadavg_start": machine()["loadavg"]}
    inputs_mb = _rss_mb()
    queries = range(len(bundle.query_texts))
    try:
        engine = engines.engine(name)
        for module in engine.modules:
            importlib.import_module(module)
        started = time.perf_counter()
        engine.build(bundle)
        build_seconds = time.perf_counter() - started
        rows = []
        for variant in engine.variants():
            samples = time_each(queries, variant.call, warmup)
            rows.append({
                "name": variant.name, "bm25": variant.bm25, "fusion": variant.fusion, **percentiles(samples),
                "queries": len(samples), "ndcg@10": bundle.ndcg_at_10([variant.ranking(i) for i in queries]),
            })
        if profile and name == "sift":
            result["profile"] = _profile(engine.variants()[0].call, queries, profile)
    except ModuleNotFoundError as exc:
        return {**result, "status": "not installed", "reason": f"no module {exc.name!r} (make install-peers)"}
    except Exception as exc:  # noqa: BLE001 - reported by name in the table, the other engines still run
        return {**result, "status": "error", "reason": f"{type(exc).__name__}: {exc}"}
    return {
        **result, "status": "ok", "version": engine.version, "chunks": len(bundle.texts),
        "build_s": round(build_seconds, 3), "build_chunks_per_s": round(len(bundle.texts) / build_seconds, 1),
        "rss_inputs_mb": inputs_mb, "rss_peak_mb": _peak_rss_mb(), "rows": rows, "loadavg_end": machine()["loadavg"],
    }


def _profile(call: Any, queries: range, top: int) -> list[str]:
    """The ``top`` functions by own time over one pass of ``call`` (cProfile's overhead inflates small calls)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in queries:
        call(i)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line.rstrip() for line in stream.getvalue().splitlines() if line.strip()]
    header = next((index for index, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return lines[header:]


def run_worker(name: str, bundle_path: Path, *, profile: int = 0,
               timeout: float = WORKER_TIMEOUT_SECONDS) -> dict[str, Any]:
    """``measure`` in a fresh interpreter, so the peak RSS is this engine's alone."""
    command = [sys.executable, "-m", "bench.peers", "--engine", name, "--bundle", str(bundle_path),
               "--profile", str(profile)]
    environment = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False"}
    try:
        completed = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                                   env=environment)
    except subprocess.TimeoutExpired:
        return {"engine": name, "status": "error", "reason": f"did not finish in {timeout:.0f} s"}
    reported = last_json_line(completed.stdout)
    return reported if reported is not None else {"engine": name, "status": "error", "reason": probe_failure(completed)}


def table(reports: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| engine | BM25 | fusion | build chunks/s | p50 ms | p95 ms | nDCG@10 | peak RSS MB | RSS over inputs MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        if report["status"] != "ok":
            lines.append(f"| {report['engine']} | {report['status']}: {report['reason']} | | | | | | | |")
            continue
        over = report["rss_peak_mb"] - report["rss_inputs_mb"]
        for position, row in enumerate(report["rows"]):
            build = f"{report['build_chunks_per_s']:,.0f}" if position == 0 else "〃"
            rss = (f"{report['rss_peak_mb']:.0f} | {over:.0f}") if position == 0 else "〃 | 〃"
            lines.append(f"| {row['name']} | {row['bm25']} | {row['fusion']} | {build} | {row['p50_ms']:.2f} | "
                         f"{row['p95_ms']:.2f} | {row['ndcg@10']:.4f} | {rss} |")
    return lines


def _engines(raw: str) -> list[str]:
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ENGINES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(ENGINES)} (comma-separated), not {raw!r}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    from bench.peers import __doc__ as description

    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="a BEIR-layout dataset (required but with --engine)")
    parser.add_argument("--embedder", default="use", help="Sift's local embedder whose cached index is used")
    parser.add_argument("--engines", type=_engines, default=list(ENGINES), help=f"among {', '.join(ENGINES)}")
    parser.add_argument("--in-process", action="store_true",
                        help="measure every engine in this process (quick; peak RSS is then not per engine)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also cProfile Sift's Retrieve over the queries and show its top N costs by own time")
    parser.add_argument("--json", action="store_true", help="print one JSON report as the last line")
    parser.add_argument("--engine", help=argparse.SUPPRESS)  # worker mode: one engine, one JSON line
    parser.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.engine is not None:
        if args.bundle is None:
            parser.error("--engine needs --bundle")
        print(json.dumps(measure(args.engine, Bundle.load(args.bundle), profile=args.profile)), flush=True)
        return 0
    if args.dataset is None:
        parser.error("--dataset is required")

    start = machine()
    print(load_line("start", start), flush=True)
    dataset = load(args.dataset)
    bundle = build_bundle(dataset, args.embedder)
    print(f"{dataset.name}: {len(bundle.texts)} chunks of {len(bundle.documents)} documents, "
          f"{len(bundle.query_texts)} queries; {bundle.model} ({bundle.vectors.shape[1]} dimensions)", flush=True)
    reports = []
    with tempfile.TemporaryDirectory(prefix="sift-peers-") as directory:
        path = Path(directory) / "bundle.pickle"
        bundle.save(path)
        for name in args.engines:
            if args.in_process:
                report = measure(name, bundle, profile=args.profile)
            else:
                report = run_worker(name, path, profile=args.profile)
            reports.append(report)
            print(f"  {name}: {report['status']}", file=sys.stderr, flush=True)
    end = machine()

    print(f"top-{LEG_TOP_K} dense + top-{LEG_TOP_K} BM25, fused, top {TOP_N}, no rerank; query embedding excluded; "
          f"p50/p95 over {len(bundle.query_texts)} queries after {WARMUP} warm-up calls; nDCG@10 at document level")
    for line in table(reports):
        print(line)
    for report in reports:
        for line in report.get("profile", []):
            print(f"  {line}")
    print(load_line("end", end))
    if args.json:
        print(json.dumps({"dataset": dataset.name, "embedder": args.embedder, "model": bundle.model,
                          "chunks": len(bundle.texts), "queries": len(bundle.query_texts),
                          "machine": {"start": start, "end": end}, "engines": reports}))
    return 0
