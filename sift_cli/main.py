"""``sift``: serve the local stage, index files into a knowledge base, query it, follow a job.

    sift serve [--host 127.0.0.1] [--port 8000] [--demo]
    sift index PATH... --workspace W --index I        local files and folders, s3://bucket/prefix
    sift query "text" --workspace W --index I [--top-n N] [--explain]
    sift status JOB --workspace W --index I

``index``, ``query`` and ``status`` run Sift's operations (CreateIndex, SubmitIndexAddDocumentsJob, Retrieve,
GetIndexJobStatus…) in this process on the local stage's data directory — ``SIFT_DATA_DIR``, by default the
repository's ``.sift``, the one ``make run`` serves — or, with ``--endpoint``, over HTTP on a running stage. ``--index``
takes an IndexId or an index's name. Results go to stdout (``--json``: machine-readable), progress and errors to stderr.

Exit codes: 0 success; 1 some files failed to index (``index``) or the job is PARTIAL or FAILED (``status``); 2 a
usage error (bad arguments, a path that does not exist, an ambiguous index name); 3 the service answered with an
error (its Code and Message are printed) or could not be started or reached; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sift_cli.client import Client, HttpClient, InProcessClient, ServiceFailure
from sift_cli.output import nodes_table
from sift_cli.progress import Progress

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3
EXIT_INTERRUPTED = 130

PROJECT_DIR = Path(__file__).resolve().parent.parent
PAGE_SIZE = 100


class UsageError(Exception):
    """A mistake in the command line (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error, argparse's own convention
    _prepare_environment(args)
    if args.verbose:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    elif not logging.getLogger().handlers:  # the service's and the parsers' warnings (a document that failed…) are
        logging.getLogger().addHandler(logging.NullHandler())  # in the summary already: no "last resort" printing
    try:
        if args.command == "serve":
            return serve(args)
        client: Client = HttpClient(args.endpoint) if args.endpoint else InProcessClient()
        return {"index": index, "query": query, "status": status}[args.command](args, client)
    except UsageError as error:
        print(f"sift {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ServiceFailure as failure:
        shown = f" (HTTP {failure.status}" + (f", RequestId {failure.request_id})" if failure.request_id else ")")
        print(f"sift {args.command}: error: {failure.code}: {failure.message}"
              f"{shown if failure.status else ''}", file=sys.stderr)
        if getattr(args, "json", False):
            _print_json(failure.envelope)
        return EXIT_SERVICE
    except KeyboardInterrupt:
        print(f"\nsift {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the stage could not be built (configuration, a missing model…)
        if args.verbose:
            raise
        print(f"sift {args.command}: error: {type(error).__name__}: {error} (--verbose shows the traceback)",
              file=sys.stderr)
        return EXIT_SERVICE


# --- the command line -----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sift", description="Sift's local stage and knowledge bases from the command line.",
        epilog="Exit codes: 0 ok, 1 some files (or the job) failed, 2 usage error, 3 service error, 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("--data-dir", type=Path, help="the local stage's data directory (default: $SIFT_DATA_DIR, "
                        "else the repository's .sift, the one `make run` serves)")
    common.add_argument("--verbose", action="store_true", help="the service's log lines and tracebacks on stderr")

    remote = argparse.ArgumentParser(add_help=False, parents=[common])
    remote.add_argument("--workspace", required=True, metavar="W", help="the WorkspaceId")
    remote.add_argument("--index", required=True, metavar="I", help="the IndexId, or the index's name")
    remote.add_argument("--endpoint", metavar="URL", help="call a running stage over HTTP (http://127.0.0.1:8000) "
                        "instead of running the operations in this process")

    serve_ = commands.add_parser("serve", parents=[common], help="serve the local stage (chalice local)",
                                 description="Serve the local stage on HOST:PORT with chalice local.")
    serve_.add_argument("--host", default="127.0.0.1")
    serve_.add_argument("--port", type=int, default=8000)
    serve_.add_argument("--demo", action="store_true", help="seed the demo knowledge base ws_demo/kb_demo from "
                        "examples/docs first (scripts.seed_demo, what `make run` does)")

    index_ = commands.add_parser(
        "index", parents=[remote], help="index files and folders (local, or s3://bucket/prefix)",
        description="Index files into an index, creating it (named I) when no index has that id or name. Without "
                    "PATH: the sources the index was created with (SubmitIndexJob).")
    index_.add_argument("paths", nargs="*", metavar="PATH", help="a file, a folder, or s3://bucket/prefix")
    index_.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    query_ = commands.add_parser("query", parents=[remote], help="retrieve from an index (Retrieve)",
                                 description="Run Retrieve and print the nodes.")
    query_.add_argument("text", metavar="QUERY")
    query_.add_argument("--top-n", type=int, metavar="N", help="how many nodes (RerankTopN, 1-20; default 5)")
    query_.add_argument("--explain", action="store_true", help="each node's dense and sparse scores and ranks, "
                        "fused score and rerank (Explain)")

    status_ = commands.add_parser("status", parents=[remote], help="an indexing job's status (GetIndexJobStatus)",
                                  description="Print a job's status, counts and failed documents.")
    status_.add_argument("job", metavar="JOB", help="the JobId")
    return parser


def _prepare_environment(args: argparse.Namespace) -> None:
    """The local stage's defaults (as the Makefile and .chalice/config.json set them), and its data directory."""
    os.environ.setdefault("SIFT_STAGE", "local")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.data_dir is not None:
        os.environ["SIFT_DATA_DIR"] = str(args.data_dir.expanduser().resolve())
    elif "SIFT_DATA_DIR" not in os.environ and (PROJECT_DIR / "app.py").is_file():
        os.environ["SIFT_DATA_DIR"] = str(PROJECT_DIR / ".sift")  # `make run`'s, wherever sift is run from


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


# --- serve ----------------------------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    if not (PROJECT_DIR / "app.py").is_file() or not (PROJECT_DIR / ".chalice" / "config.json").is_file():
        raise UsageError(f"no Chalice project at {PROJECT_DIR} (sift serve runs from a checkout: make install)")
    chalice = Path(sys.executable).parent / "chalice"
    if not chalice.is_file():
        found = shutil.which("chalice")
        if found is None:
            raise UsageError("chalice is not installed (make install)")
        chalice = Path(found)
    if args.demo:
        seeded = subprocess.run([sys.executable, "-m", "scripts.seed_demo"], cwd=PROJECT_DIR, check=False)
        if seeded.returncode != 0:
            _note(f"sift serve: the demo seed ended with exit code {seeded.returncode}; serving anyway")
    endpoint = f"http://{args.host}:{args.port}"
    if args.json:
        print(json.dumps({"Endpoint": endpoint, "DataDir": os.environ.get("SIFT_DATA_DIR", ".sift")}))  # one line
    _note(f"sift serve: the local stage on {endpoint} (data: {os.environ.get('SIFT_DATA_DIR', '.sift')})")
    sys.stdout.flush()
    os.chdir(PROJECT_DIR)
    argv = [str(chalice), "local", "--stage", "local", "--host", args.host, "--port", str(args.port),
            "--no-autoreload"]
    os.execv(chalice, argv)  # chalice local becomes this process (signals reach it directly)
    return EXIT_OK  # not reached


# --- index ----------------------------------------------------------------------------------------------------------


def resolve_index(client: Client, workspace_id: str, ref: str) -> tuple[str, str] | None:
    """The (IndexId, Name) of the index whose id is ``ref``, else of the one index named ``ref``; None if none."""
    named: list[tuple[str, str]] = []
    page = 1
    while True:
        data = client.call("ListIndices", workspace_id, {"PageNumber": page, "PageSize": PAGE_SIZE})
        indices = data.get("Indices") or []
        for entry in indices:
            if entry.get("Id") == ref:
                return ref, str(entry.get("Name") or "")
            if entry.get("Name") == ref:
                named.append((str(entry["Id"]), ref))
        if not indices or page * PAGE_SIZE >= int(data.get("TotalCount") or 0):
            break
        page += 1
    if len(named) > 1:
        ids = ", ".join(index_id for index_id, _ in named)
        raise UsageError(f"{len(named)} indexes of workspace {workspace_id} are named {ref!r} ({ids}): "
                         "give --index its IndexId")
    return named[0] if named else None


def _root(path: str) -> str:
    """A PATH argument as a source URI: s3:// and file:// as given, a local path as its absolute file:// URI."""
    if path.startswith("s3://"):
        if len(path) <= len("s3://") or path[len("s3://"):].startswith("/"):
            raise UsageError(f"{path}: an S3 source is s3://bucket/prefix")
        return path
    if "://" in path and not path.startswith("file://"):
        raise UsageError(f"{path}: a source is a local file or folder, a file:// URI or s3://bucket/prefix")
    from chalicelib.sources.local import to_path, to_uri

    local = to_path(path).expanduser()
    if not local.exists():
        raise UsageError(f"{path}: no such file or directory")
    return to_uri(local)


def _listed(roots: Sequence[str], client: Client) -> list[str] | None:
    """The objects under ``roots``, listed by the stage's own sources (sidecars and hidden files left out, as the
    service lists them); None when a root cannot be listed from here (the job's answer then says why)."""
    from chalicelib.sources.local import LocalFileSource

    uris: list[str] = []
    local = LocalFileSource()
    try:
        for root in roots:
            if local.handles(root):
                uris.extend(local.list(root))
            elif isinstance(client, InProcessClient):
                from chalicelib.composition import AwsClients
                from chalicelib.settings import Settings
                from chalicelib.sources.s3 import S3Source

                uris.extend(S3Source(AwsClients(Settings.from_environment()).s3).list(root))
            else:
                return None  # the stage lists S3 with its own credentials
    except Exception:  # noqa: BLE001 - e.g. no AWS credentials here: the service will say
        return None
    return list(dict.fromkeys(uris))


def _shown_path(uri: str) -> str:
    """A source URI as the user named it: a local file relative to the working directory when under it."""
    if uri.startswith("file://"):
        from chalicelib.sources.local import to_path

        path = to_path(uri)
        with contextlib.suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)
    return uri


def index(args: argparse.Namespace, client: Client) -> int:
    from chalicelib.core.ingest import document_id
    from chalicelib.core.telemetry import indexed_documents_to

    workspace_id = args.workspace
    roots = [_root(path) for path in args.paths]
    if len(roots) > 1000:
        raise UsageError("at most 1000 PATHs in one job (SourceURIs): name their folders instead")
    found = resolve_index(client, workspace_id, args.index)
    created = found is None
    if found is None:
        if not roots:
            raise UsageError(f"workspace {workspace_id} has no index {args.index!r}, and no PATH was given to "
                             "create it from")
        parameters: dict[str, Any] = {"Name": args.index}
        if len(roots) == 1:
            parameters["SourceURI"] = roots[0]  # SubmitIndexJob (`sift index` without PATH) indexes it again
        found = (client.call("CreateIndex", workspace_id, parameters)["Id"], args.index)
        _note(f"created index {found[0]} named {args.index!r} in workspace {workspace_id}")
    index_id, index_name = found

    files = _listed(roots, client) if roots else None
    paths = {document_id(uri): uri for uri in files or ()}
    progress = Progress(sys.stderr, len(files) if files is not None else None,
                        enabled=client.in_process and not args.no_progress)
    started_at = time.monotonic()
    if not client.in_process and not args.no_progress:
        count = f"{len(files)} files" if files is not None else "the files"
        _note(f"indexing {count} through {args.endpoint} (the stage answers when the job is done; no live progress "
              "over HTTP)")
    progress.start()
    with indexed_documents_to(progress.document) if client.in_process else contextlib.nullcontext():
        if roots:
            started = client.call("SubmitIndexAddDocumentsJob", workspace_id,
                                  {"IndexId": index_id, "SourceURIs": roots})
        else:
            started = client.call("SubmitIndexJob", workspace_id, {"IndexId": index_id})
    if files is None and progress.total is None:
        progress.total = progress.done
    progress.finish()
    seconds = time.monotonic() - started_at
    job = client.call("GetIndexJobStatus", workspace_id, {"IndexId": index_id, "JobId": started["Id"]})

    counts = {key: int(value) for key, value in (job.get("Counts") or {}).items()}
    documents = job.get("Documents") or []

    def listed(status: str) -> list[dict[str, str]]:
        return [{"DocId": doc["DocId"], "DocName": doc["DocName"],
                 "Path": _shown_path(paths[doc["DocId"]]) if doc["DocId"] in paths else doc["DocName"],
                 "Message": doc.get("Message") or ""}
                for doc in documents if doc.get("Status") == status]

    failed, empty = listed("FAILED"), listed("EMPTY")
    summary = {
        "WorkspaceId": workspace_id, "IndexId": index_id, "IndexName": index_name, "Created": created,
        "JobId": job["JobId"], "Status": job["Status"], "Message": job.get("Message") or "",
        "Counts": {"Total": counts.get("Total", len(documents)), "Indexed": counts.get("Indexed", 0),
                   "Empty": counts.get("Empty", 0), "Failed": counts.get("Failed", 0),
                   "Unchanged": len(progress.unchanged) if client.in_process else None,
                   "Chunks": progress.chunks if client.in_process else None},
        "Seconds": round(seconds, 3), "Failed": failed, "Empty": empty,
    }
    if args.json:
        _print_json(summary)
    else:
        print(_index_summary(summary))
    return EXIT_FAILURES if summary["Counts"]["Failed"] or job["Status"] == "FAILED" else EXIT_OK


def _index_summary(summary: dict[str, Any]) -> str:
    counts = summary["Counts"]
    indexed = f"{counts['Indexed']} indexed"
    if counts["Unchanged"]:
        indexed += f" ({counts['Unchanged']} unchanged)"
    chunks = f" · {_plural(counts['Chunks'], 'chunk')} written" if counts["Chunks"] is not None else ""
    name = f" ({summary['IndexName']!r})" if summary["IndexName"] and summary["IndexName"] != summary["IndexId"] else ""
    lines = [
        f"index {summary['IndexId']}{name} in workspace {summary['WorkspaceId']}"
        + (" (created)" if summary["Created"] else ""),
        (f"job {summary['JobId']}: {summary['Status']} — {counts['Total']} files: {indexed}, "
         f"{counts['Empty']} empty, {counts['Failed']} failed{chunks} in {summary['Seconds']:.1f}s"),
    ]
    if summary["Message"]:
        lines.append(f"  {summary['Message']}")
    if counts["Total"] == 0 and summary["Status"] != "FAILED":
        lines.append("  no files to index under the given paths")
    for title, entries in (("failed", summary["Failed"]), ("empty", summary["Empty"])):
        if entries:
            lines.append(f"{title}:")
            lines.extend(f"  {entry['Path']}: {entry['Message'] or '(no reason given)'}" for entry in entries)
    return "\n".join(lines)


# --- query, status --------------------------------------------------------------------------------------------------


def _index_id(client: Client, args: argparse.Namespace) -> str:
    """``--index`` as an IndexId; an unknown one goes to the operation as given, whose error names it."""
    found = resolve_index(client, args.workspace, args.index)
    return found[0] if found else args.index


def query(args: argparse.Namespace, client: Client) -> int:
    parameters: dict[str, Any] = {"IndexId": _index_id(client, args), "Query": args.text}
    if args.top_n is not None:
        parameters["RerankTopN"] = args.top_n
    if args.explain:
        parameters["Explain"] = True
    data = client.call("Retrieve", args.workspace, parameters)
    if args.json:
        _print_json(data)
        return EXIT_OK
    nodes = data.get("Nodes") or []
    if not nodes:
        print("no nodes")
        return EXIT_OK
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 120
    print(nodes_table(nodes, explain=args.explain, width=width))
    return EXIT_OK


def status(args: argparse.Namespace, client: Client) -> int:
    index_id = _index_id(client, args)
    job = client.call("GetIndexJobStatus", args.workspace, {"IndexId": index_id, "JobId": args.job})
    if args.json:
        _print_json(job)
    else:
        counts = job.get("Counts") or {}
        lines = [f"job {job['JobId']} of index {index_id} in workspace {args.workspace}: {job['Status']}"]
        if counts:
            lines.append(f"  {counts.get('Total', 0)} documents: {counts.get('Indexed', 0)} indexed, "
                         f"{counts.get('Empty', 0)} empty, {counts.get('Failed', 0)} failed")
        lines.append(f"  created {job.get('CreateTime', '?')}, updated {job.get('UpdateTime', '?')}")
        if job.get("Message"):
            lines.append(f"  {job['Message']}")
        failed = [doc for doc in job.get("Documents") or [] if doc.get("Status") == "FAILED"]
        if failed:
            lines.append("failed:")
            lines.extend(f"  {doc['DocName']}: {doc.get('Message') or '(no reason given)'}" for doc in failed)
        print("\n".join(lines))
    return EXIT_FAILURES if job.get("Status") in ("PARTIAL", "FAILED") else EXIT_OK
