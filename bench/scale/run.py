"""The driver: material once, then per size a build, a serve and a rebuild process and the peers; the tables."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.scale import synth, workers
from bench.speed import last_json_line, load_line, machine, probe_failure

ROOT = Path(__file__).resolve().parents[2]
PEERS = ("floor", "lancedb", "qdrant", "haystack")
STEP_TIMEOUT_S = 3600.0


def _sizes(raw: str) -> list[int]:
    try:
        sizes = [int(item.replace("_", "")) for item in raw.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated chunk counts, not {raw!r}") from None
    if any(size < 2 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be at least 2 chunks")
    return sizes


def _peers(raw: str) -> list[str]:
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    if any(name not in PEERS for name in chosen):
        raise argparse.ArgumentTypeError(f"choose among {', '.join(PEERS)} (comma-separated), not {raw!r}")
    return chosen


def step(arguments: list[str], timeout: float = STEP_TIMEOUT_S) -> dict[str, Any]:
    """One worker step in a fresh interpreter: its last JSON line, or what went wrong."""
    command = [sys.executable, "-m", "bench.scale", *arguments]
    try:
        completed = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=None, text=True, cwd=ROOT,
                                   timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "skipped", "reason": f"did not finish in {timeout:.0f} s (the limit)"}
    reported = last_json_line(completed.stdout)
    if reported is not None:
        return reported
    completed.stderr = ""
    return {"status": "error", "reason": probe_failure(completed)}


def measure_size(size: int, material_path: Path, work: Path, args: argparse.Namespace,
                 previous_peers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    directory = work / f"size-{size}"
    common = ["--material", str(material_path), "--directory", str(directory), "--size", str(size)]
    report: dict[str, Any] = {"size": size, "loadavg_start": machine()["loadavg"]}
    print(f"size {size:,}: build", file=sys.stderr, flush=True)
    report["build"] = step(["--worker", "build", *common, "--build-budget", str(args.build_budget)])
    if "chunks" in report["build"]:
        print(f"size {size:,}: serve", file=sys.stderr, flush=True)
        profile = args.profile if size == max(args.sizes) else 0
        report["serve"] = step(["--worker", "serve", *common, "--profile", str(profile)])
        print(f"size {size:,}: rebuild (tantivy deleted)", file=sys.stderr, flush=True)
        report["rebuild"] = step(["--worker", "rebuild", *common])
    shutil.rmtree(directory, ignore_errors=True)
    report["peers"] = []
    for name in args.peers:
        if name != "floor" and size not in args.peers_at:
            continue
        reason = _projected_out(previous_peers.get(name), size, args)
        if reason:
            report["peers"].append({"engine": name, "status": "skipped", "reason": reason})
            continue
        print(f"size {size:,}: peer {name}", file=sys.stderr, flush=True)
        outcome = step(["--worker", "peer", "--engine", name, *common, "--peer-rss-mb", str(args.peer_rss_mb),
                        "--peer-query-budget", str(args.peer_query_budget)], timeout=args.peer_timeout)
        outcome.setdefault("engine", name)
        report["peers"].append(outcome)
        if outcome.get("status") == "ok":
            previous_peers[name] = outcome
    report["loadavg_end"] = machine()["loadavg"]
    return report


def _projected_out(previous: dict[str, Any] | None, size: int, args: argparse.Namespace) -> str:
    """Why a peer's build at ``size`` would pass the limits, scaled linearly from its last size; "" if it would not."""
    if previous is None:
        return ""
    factor = size / previous["chunks"]
    build = previous["build_s"] * factor
    query = max(row["p50_ms"] for row in previous["rows"]) * factor / 1000.0
    if build + 5 * query > args.peer_timeout:
        return (f"projected from {previous['chunks']:,} chunks: build ~{build:,.0f} s, a query ~{query:,.1f} s "
                f"(limit {args.peer_timeout:,.0f} s)")
    return ""


def _ms(row: dict[str, Any] | None) -> str:
    if not row or "p50_ms" not in row:
        return "n/a"
    return f"{row['p50_ms']:.1f} / {row['p95_ms']:.1f}"


def tables(reports: list[dict[str, Any]]) -> list[str]:
    lines = [("| chunks | build chunks/s (writes + first-search sync) | SQLite MB | tantivy MB | build peak RSS MB "
              "| serve RSS MB (peak) | cold open s | cold open, tantivy deleted s (peak RSS MB) |"),
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for report in reports:
        build, serve, rebuild = report["build"], report.get("serve", {}), report.get("rebuild", {})
        if "chunks" not in build:
            lines.append(f"| {report['size']:,} | {build.get('status')}: {build.get('reason')} | | | | | | |")
            continue
        label = f"{build['chunks']:,}" + (" (partial)" if build["partial"] else "")
        rate = (f"{build['chunks_per_s']:,.0f} ({build['write_s']:,.1f} s writes + {build['first_search_sync_s']:,.1f} s "
                f"first-search sync)")
        if build["partial"] and "extrapolated_build_s" in build:
            rate += f", {report['size']:,} extrapolated {build['extrapolated_build_s']:,.0f} s"
        lines.append(
            f"| {label} | {rate} | {build['sqlite_mb']:,.0f} | {build['tantivy_mb']:,.0f} | {build['peak_rss_mb']:,.0f} |"
            f" {serve.get('rss_after_open_mb', 'n/a')} ({serve.get('peak_rss_mb', 'n/a')}) |"
            f" {serve.get('cold_open_s', 'n/a')} | {rebuild.get('cold_open_s', 'n/a')}"
            f" ({rebuild.get('peak_rss_open_mb', 'n/a')}) |")
    lines += ["", "Retrieve in-process, p50 / p95 ms (request handling included, query embedding excluded):", "",
              ("| chunks | hybrid, no rerank | default (rerank) | dense leg | sparse leg | hybrid + filter (1/10) | "
               "recall alone | matmul top-100 | tantivy top-100 | chunk fetch | filter mask | tantivy filtered |"),
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for report in reports:
        retrieve, part = report.get("serve", {}).get("retrieve", {}), report.get("serve", {}).get("parts", {})
        lines.append(f"| {report['size']:,} | " + " | ".join(_ms(retrieve.get(name)) for name in (
            "hybrid_no_rerank", "default_rerank", "dense_leg", "sparse_leg", "hybrid_filtered")) + " | "
            + " | ".join(_ms(part.get(name)) for name in (
                "backend_recall_both_legs", "dense_matmul_top100", "tantivy_top100", "chunk_fetch_recalled",
                "filter_mask", "tantivy_top100_filtered")) + " |")
    lines += ["", "| chunks | dense index | dense recall@100 vs exact | exact matmul top-100 p50 / p95 ms |",
              "|---:|---|---:|---:|"]
    for report in reports:
        part = report.get("serve", {}).get("parts", {})
        lines.append(f"| {report['size']:,} | {part.get('dense_index', 'n/a')} | "
                     f"{part.get('dense_recall_at_100_vs_exact', 'n/a')} | {_ms(part.get('dense_exact_top100'))} |")
    lines += ["", "Peers (same texts and vectors, top-100 + top-100 fused, top 5; bench.peers' adapters):", "",
              "| chunks | engine | build chunks/s | peak RSS MB | p50 / p95 ms |", "|---:|---|---:|---:|---:|"]
    for report in reports:
        for outcome in report["peers"]:
            if outcome.get("status") != "ok":
                lines.append(f"| {report['size']:,} | {outcome['engine']} | {outcome.get('status')}: "
                             f"{outcome.get('reason')} | | |")
                continue
            for position, row in enumerate(outcome["rows"]):
                build = f"{outcome['chunks_per_s']:,.0f}" if position == 0 else "〃"
                rss = f"{outcome['peak_rss_mb']:,.0f}" if position == 0 else "〃"
                lines.append(f"| {report['size']:,} | {row['name']} | {build} | {rss} | {_ms(row)}"
                             f" ({row['queries']} queries) |")
    return lines


def main(argv: list[str] | None = None) -> int:
    from bench.scale import __doc__ as description

    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--peers-at", type=_sizes, default=[100_000, 1_000_000], metavar="SIZES",
                        help="sizes at which LanceDB, Qdrant and Haystack run (the floor runs at every size; \"\" for none)")
    parser.add_argument("--dataset", type=Path, default=Path("../shared/datasets/scifact"))
    parser.add_argument("--vectors", choices=("use", "hashing"), default="use", help="the 512-d source vectors")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache/embeddings.db"))
    parser.add_argument("--work-dir", type=Path, default=None, help="where the data directories go (a temp dir)")
    parser.add_argument("--build-budget", type=float, default=1500.0, help="seconds of writing before a build stops")
    parser.add_argument("--peers", type=_peers, default=list(PEERS), help=f"among {', '.join(PEERS)}")
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    parser.add_argument("--peer-rss-mb", type=float, default=6144.0,
                        help="a peer's own memory cap: RSS over the inputs its worker holds (texts and vectors)")
    parser.add_argument("--peer-query-budget", type=float, default=120.0,
                        help="seconds of timed queries per peer row; a slower peer is timed on fewer queries")
    parser.add_argument("--profile", type=int, default=25, metavar="N",
                        help="cProfile's top N for Retrieve at the largest size (0: none)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=("build", "serve", "rebuild", "peer"), help=argparse.SUPPRESS)
    for hidden in ("--material", "--directory", "--engine"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_work(args)), flush=True)
        return 0

    start = machine()
    print(load_line("start", start), flush=True)
    material = synth.build_material(args.dataset, args.vectors, args.cache)
    reports: list[dict[str, Any]] = []
    previous_peers: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sift-scale-", dir=args.work_dir) as work:
        material_path = Path(work) / "material.pickle"
        material.save(material_path)
        for size in args.sizes:
            reports.append(measure_size(size, material_path, Path(work), args, previous_peers))
    end = machine()
    print(f"{len(material.titles):,} source documents, {len(material.query_texts)} queries; {synth.DIMENSION}-d "
          f"vectors from {args.vectors}; {synth.CHUNKS_PER_DOCUMENT} chunks per document; p50/p95 after "
          f"{workers.WARMUP} warm-up calls")
    for line in tables(reports):
        print(line)
    for report in reports:
        for line in report.get("serve", {}).get("profile", []):
            print(f"  {line}")
    print(load_line("end", end))
    if args.json:
        print(json.dumps({"dataset": str(args.dataset), "vectors": args.vectors, "dimension": synth.DIMENSION,
                          "queries": len(material.query_texts), "machine": {"start": start, "end": end},
                          "sizes": reports}))
    return 0


def code_state() -> dict[str, Any]:
    """The commit and the uncommitted changes to chalicelib a step measured (the code may move between steps)."""
    def git(*arguments: str) -> str:
        completed = subprocess.run(["git", *arguments], check=False, capture_output=True, text=True, cwd=ROOT)
        return completed.stdout if completed.returncode == 0 else ""

    diff = git("diff", "HEAD", "--", "chalicelib") + git("ls-files", "--others", "--exclude-standard", "chalicelib")
    return {"head": git("rev-parse", "--short", "HEAD").strip(),
            "chalicelib_changes": [line[3:] for line in git("status", "--porcelain", "--", "chalicelib").splitlines()],
            "chalicelib_diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else ""}


def _work(args: argparse.Namespace) -> dict[str, Any]:
    code = code_state()  # at the start: the step imports chalicelib right after
    return {**_step(args), "code": code}


def _step(args: argparse.Namespace) -> dict[str, Any]:
    material = synth.Material.load(Path(args.material))
    directory = Path(args.directory)
    if args.worker == "build":
        return workers.build(directory, material, args.size, args.build_budget)
    if args.worker == "serve":
        return workers.serve(directory, material, drop_tantivy=False, latency=True, profile=args.profile)
    if args.worker == "rebuild":
        return workers.serve(directory, material, drop_tantivy=True, latency=False, profile=0)
    return workers.peer(args.engine, material, args.size, args.peer_rss_mb, args.peer_query_budget)
