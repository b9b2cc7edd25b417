"""SemanticQuery quality on a synthetic photo library: does the parser find the right conditions, and do the files
the service returns satisfy them?

    python -m bench.semantic [--embedder e5|use|minilm|hashing] [--json]

The library is ``tests.fakes.photos.photo_files()`` (about 180 File dicts: bilingual labels and addresses, ProduceTime
2018–2025); the labelled queries are ``bench/data/semantic_queries.json`` (Chinese and English, with the conditions
a correct parser must produce at the fixed ``NOW`` of the library). The library is indexed into a fresh local-stage
dataset in a temporary directory (``MediaService.index_files``, the path BatchIndexFileMeta takes), embedded by the
stage's default local model (``Settings().embedder``: e5) unless ``--embedder`` says otherwise; a real model's
embeddings are cached in ``.bench-cache/embeddings.db`` (the cache keys on the model's name).

Two measures, per language and overall:

Conditions
    ``parse_query(query, media.vocabulary(dataset), now=NOW)`` against the labels. Each condition is one atom: the
    time range (right only if start and end both equal the label's), each place, each label. Micro precision (right
    atoms / atoms produced) and recall (right atoms / labelled atoms) per kind and over all kinds, and the share of
    queries parsed exactly (every atom right, none extra). A place or label counts as right when it equals the label
    case-insensitively, or when one contains the other and both select the same files of the library: a parser
    may answer with the dataset's own value (杭州市 for 杭州), which is the same condition here. Free text is not
    scored (the labels say only which words must not become conditions).

Results
    ``media.semantic_query(dataset, query=..., now=NOW, media_types=["image", "video"])`` is judged by an oracle: a
    file is relevant if it satisfies the *labelled* conditions, with the service's own semantics (wall-clock
    ProduceTime in [start, end), case-insensitive substring of an address value / a LabelName or ParentLabelName;
    ``wall_clock`` of ``chalicelib.core.media_files``, ``place_values`` and ``label_values`` of
    ``chalicelib.core.file_fields``). Mean P@10 over the queries that have a relevant file; most have fewer than
    10, and then P@10 is the precision of the returned list cut at 10 (relevant among the first min(10, returned) /
    min(10, returned)), so a perfect answer scores 1; an empty answer scores 0. "Only matching" is the share of queries whose returned files all satisfy the conditions (an
    empty answer counts only when nothing matches). Recall is the share of relevant files returned, out of at most
    100 (SemanticQuery returns no more).

One markdown table is printed, the queries the parser got wrong go to stderr, and ``--json`` prints one JSON object
as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from chalicelib.composition import build_services
from chalicelib.core.file_fields import label_values, place_values
from chalicelib.core.media import MAX_SEMANTIC_FILES, MediaService
from chalicelib.core.media_files import wall_clock
from chalicelib.core.ports.catalog import Dataset
from chalicelib.core.ports.search import DocumentStatus
from chalicelib.core.query_conditions import QueryConditions, TimeRange
from chalicelib.core.query_parse import parse_query
from chalicelib.settings import LOCAL_EMBEDDERS, Settings
from tests.fakes.photos import NOW, photo_files

CACHE = Path(".bench-cache")
QUERIES: Final = Path(__file__).resolve().parent / "data" / "semantic_queries.json"
PROJECT: Final = "bench"
DATASET: Final = "photos"
KINDS: Final = ("time", "place", "label")
LANGUAGES: Final = ("zh", "en")
P_AT: Final = 10
MEDIA_TYPES: Final = ("image", "video")


@dataclass(frozen=True, slots=True)
class Labelled:
    """One labelled query: the conditions a correct parser produces (``time`` None: the query names no time)."""

    query: str
    lang: str
    time: TimeRange | None
    places: tuple[str, ...]
    labels: tuple[str, ...]


def load_queries(path: Path = QUERIES) -> list[Labelled]:
    document = json.loads(path.read_text(encoding="utf-8"))
    queries: list[Labelled] = []
    for item in document["queries"]:
        span = item["time"]
        queries.append(Labelled(
            query=item["query"],
            lang=item["lang"],
            time=TimeRange(datetime.fromisoformat(span[0]), datetime.fromisoformat(span[1])) if span else None,
            places=tuple(item["places"]),
            labels=tuple(item["labels"]),
        ))
    return queries


# --- the oracle ---------------------------------------------------------------------------------------------------


class Library:
    """The photo files with the values conditions are matched against, folded once (the service folds case too)."""

    def __init__(self, files: Sequence[Mapping[str, Any]]) -> None:
        self.files = list(files)
        self._times = {str(file["URI"]): wall_clock(file.get("ProduceTime")) for file in files}
        self._values = {
            "place": {str(file["URI"]): [value.casefold() for value in place_values(file)] for file in files},
            "label": {str(file["URI"]): [value.casefold() for value in label_values(file)] for file in files},
        }

    def satisfies(self, uri: str, span: TimeRange | None, places: Sequence[str], labels: Sequence[str]) -> bool:
        """Whether the file at ``uri`` meets every condition, as the service's filters decide it."""
        if span is not None:
            produced = self._times.get(uri)
            if produced is None or not span.start <= produced < span.end:
                return False
        return all(self._holds("place", uri, place) for place in places) and all(
            self._holds("label", uri, label) for label in labels
        )

    def relevant(self, labelled: Labelled) -> set[str]:
        return {
            str(file["URI"]) for file in self.files
            if self.satisfies(str(file["URI"]), labelled.time, labelled.places, labelled.labels)
        }

    def selects(self, kind: str, value: str) -> frozenset[str]:
        """The files one place or label condition lets through."""
        return frozenset(uri for uri in self._values[kind] if self._holds(kind, uri, value))

    def _holds(self, kind: str, uri: str, value: str) -> bool:
        folded = value.casefold()
        return any(folded in stored for stored in self._values[kind][uri])


# --- scoring --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """Micro counts of one kind of condition: atoms right, atoms produced, atoms labelled."""

    right: int = 0
    produced: int = 0
    labelled: int = 0

    def add(self, other: Tally) -> None:
        self.right += other.right
        self.produced += other.produced
        self.labelled += other.labelled

    @property
    def precision(self) -> float | None:
        return self.right / self.produced if self.produced else None

    @property
    def recall(self) -> float | None:
        return self.right / self.labelled if self.labelled else None

    def as_json(self) -> dict[str, Any]:
        return {
            "precision": _round(self.precision), "recall": _round(self.recall),
            "right": self.right, "produced": self.produced, "labelled": self.labelled,
        }


def same_value(kind: str, expected: str, parsed: str, library: Library) -> bool:
    """Equal ignoring case, or one contains the other and both select the same files (杭州 / 杭州市)."""
    a, b = expected.casefold(), parsed.casefold()
    if a == b:
        return True
    return (a in b or b in a) and library.selects(kind, expected) == library.selects(kind, parsed)


def score_conditions(labelled: Labelled, parsed: QueryConditions, library: Library) -> dict[str, Tally]:
    tallies = {kind: Tally() for kind in KINDS}
    time_tally = tallies["time"]
    time_tally.labelled = int(labelled.time is not None)
    time_tally.produced = int(parsed.time is not None)
    if labelled.time is not None and parsed.time is not None:
        time_tally.right = int((labelled.time.start, labelled.time.end) == (parsed.time.start, parsed.time.end))
    for kind, expected, produced in (
        ("place", labelled.places, parsed.places), ("label", labelled.labels, parsed.labels)
    ):
        tally = tallies[kind]
        tally.labelled, tally.produced = len(expected), len(produced)
        unmatched = list(produced)
        for value in expected:
            match = next((item for item in unmatched if same_value(kind, value, item, library)), None)
            if match is not None:
                unmatched.remove(match)
                tally.right += 1
    return tallies


@dataclass(slots=True)
class QueryOutcome:
    labelled: Labelled
    parsed: QueryConditions
    tallies: dict[str, Tally]
    returned: list[str]
    relevant: set[str]
    seconds: float
    hits: list[bool] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return all(t.right == t.labelled == t.produced for t in self.tallies.values())

    @property
    def p_at_10(self) -> float | None:
        """None without a relevant file; see the module docstring for the cut when fewer than 10 are relevant."""
        if not self.relevant:
            return None
        top = self.hits[:P_AT]
        denominator = P_AT if len(self.relevant) >= P_AT else len(top)
        return sum(top) / denominator if denominator else 0.0

    @property
    def only_matching(self) -> bool:
        return all(self.hits) and (bool(self.returned) or not self.relevant)

    @property
    def recall(self) -> float | None:
        """The share of relevant files returned, out of at most 100 (SemanticQuery's documented maximum)."""
        if not self.relevant:
            return None
        return len(self.relevant.intersection(self.returned)) / min(len(self.relevant), MAX_SEMANTIC_FILES)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.labelled.query,
            "lang": self.labelled.lang,
            "exact": self.exact,
            "expected": _conditions_json(self.labelled.time, self.labelled.places, self.labelled.labels),
            "parsed": {**_conditions_json(self.parsed.time, self.parsed.places, self.parsed.labels),
                       "text": self.parsed.text},
            "relevant": len(self.relevant),
            "returned": len(self.returned),
            "p@10": _round(self.p_at_10),
            "only_matching": self.only_matching,
        }


def _conditions_json(span: TimeRange | None, places: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    return {
        "time": [span.start.isoformat(), span.end.isoformat()] if span else None,
        "places": list(places),
        "labels": list(labels),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def summarise(outcomes: Sequence[QueryOutcome]) -> dict[str, Any]:
    """The metrics of one group of queries (a language, or all)."""
    totals = {kind: Tally() for kind in KINDS}
    for outcome in outcomes:
        for kind in KINDS:
            totals[kind].add(outcome.tallies[kind])
    overall = Tally()
    for tally in totals.values():
        overall.add(tally)
    judged = [outcome for outcome in outcomes if outcome.relevant]
    return {
        "queries": len(outcomes),
        "conditions": {**{kind: totals[kind].as_json() for kind in KINDS}, "overall": overall.as_json()},
        "parsed_exactly": _round(_mean([float(outcome.exact) for outcome in outcomes])),
        "results": {
            "p@10": _round(_mean([outcome.p_at_10 for outcome in judged])),
            "p@10_queries": len(judged),
            "p@10_queries_with_fewer_than_10_relevant": sum(1 for o in judged if len(o.relevant) < P_AT),
            "only_matching": _round(_mean([float(outcome.only_matching) for outcome in outcomes])),
            "recall": _round(_mean([outcome.recall for outcome in judged])),
        },
        "ms_per_query": round(1000 * sum(o.seconds for o in outcomes) / max(len(outcomes), 1), 2),
    }


# --- running ------------------------------------------------------------------------------------------------------


def index_library(media: MediaService, files: Sequence[Mapping[str, Any]]) -> Dataset:
    """A new dataset holding ``files``, indexed as BatchIndexFileMeta would (100 files per call)."""
    media.create_project(PROJECT)
    dataset = media.create_dataset(PROJECT, DATASET)
    for start in range(0, len(files), 100):
        outcomes = media.index_files(dataset, files[start:start + 100])
        failed = [outcome for outcome in outcomes if outcome.status != DocumentStatus.INDEXED.value]
        if failed:
            raise RuntimeError(f"indexing failed: {failed[:3]}")
    return dataset


def evaluate(media: MediaService, dataset: Dataset, queries: Sequence[Labelled], library: Library) -> list[QueryOutcome]:
    vocabulary = media.vocabulary(dataset)
    outcomes: list[QueryOutcome] = []
    for labelled in queries:
        started = time.perf_counter()
        parsed = parse_query(labelled.query, vocabulary, now=NOW)
        _, files = media.semantic_query(dataset, query=labelled.query, now=NOW, media_types=list(MEDIA_TYPES))
        seconds = time.perf_counter() - started
        returned = [file.record.uri for file in files]
        outcome = QueryOutcome(
            labelled, parsed, score_conditions(labelled, parsed, library), returned, library.relevant(labelled),
            seconds,
        )
        outcome.hits = [
            library.satisfies(uri, labelled.time, labelled.places, labelled.labels) for uri in returned
        ]
        outcomes.append(outcome)
    return outcomes


def run(embedder: str, data_dir: Path, queries: Sequence[Labelled]) -> tuple[list[QueryOutcome], float]:
    """Index the library under ``data_dir`` and evaluate every query; returns the outcomes and seconds indexing."""
    cache = CACHE / "embeddings.db" if embedder != "hashing" else None
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
    media = build_services(Settings(data_dir=data_dir, embedder=embedder, embedding_cache=cache)).media
    files = photo_files()
    started = time.perf_counter()
    dataset = index_library(media, files)
    indexing = time.perf_counter() - started
    return evaluate(media, dataset, queries, Library(files)), indexing


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def table(groups: Mapping[str, Mapping[str, Any]]) -> str:
    """One markdown table: a row per metric, a column per language and one for all queries."""
    names = list(groups)
    rows: list[tuple[str, list[str]]] = [("queries", [str(groups[name]["queries"]) for name in names])]
    for kind in (*KINDS, "overall"):
        for measure in ("precision", "recall"):
            rows.append((
                f"{kind} condition {measure}",
                [_cell(groups[name]["conditions"][kind][measure]) for name in names],
            ))
    rows.append(("parsed exactly", [_cell(groups[name]["parsed_exactly"]) for name in names]))
    rows.append((
        "mean P@10 (queries)",
        [f"{_cell(groups[name]['results']['p@10'])} ({groups[name]['results']['p@10_queries']})" for name in names],
    ))
    rows.append(("only matching files returned", [_cell(groups[name]["results"]["only_matching"]) for name in names]))
    rows.append(("recall of matching files", [_cell(groups[name]["results"]["recall"]) for name in names]))
    rows.append(("ms/query", [f"{groups[name]['ms_per_query']:.1f}" for name in names]))
    lines = [
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        *(f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", choices=LOCAL_EMBEDDERS, default=Settings().embedder,
                        help="the local embedding model (default: the stage's, e5; hashing: fast, for tests)")
    parser.add_argument("--queries", type=Path, default=QUERIES, help="labelled queries (JSON)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)

    queries = load_queries(args.queries)
    with tempfile.TemporaryDirectory(prefix="sift-semantic-") as directory:
        outcomes, indexing = run(args.embedder, Path(directory), queries)
    files = len(photo_files())
    print(f"synthetic photos: {files} files indexed in {indexing:.1f} s ({args.embedder}), {len(queries)} labelled "
          f"queries, now = {NOW.isoformat()}", file=sys.stderr)
    for outcome in outcomes:
        if not outcome.exact:
            report = outcome.as_json()
            print(f"not exact: {outcome.labelled.query!r} expected {json.dumps(report['expected'], ensure_ascii=False)}"
                  f" parsed {json.dumps(report['parsed'], ensure_ascii=False)}", file=sys.stderr)

    groups = {lang: summarise([o for o in outcomes if o.labelled.lang == lang]) for lang in LANGUAGES}
    groups["all"] = summarise(outcomes)
    print(table(groups))
    print(f"\nP@10: {groups['all']['results']['p@10_queries_with_fewer_than_10_relevant']} of "
          f"{groups['all']['results']['p@10_queries']} judged queries have fewer than 10 matching files; for them P@10 "
          "is the precision of the returned list cut at 10 (a perfect answer scores 1).")
    if args.json:
        print(json.dumps({
            "dataset": "synthetic-photos",
            "files": files,
            "embedder": args.embedder,
            "now": NOW.isoformat(),
            "indexing_seconds": round(indexing, 2),
            **groups["all"],
            "by_language": {lang: groups[lang] for lang in LANGUAGES},
            "per_query": [outcome.as_json() for outcome in outcomes],
        }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
