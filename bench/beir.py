"""Load a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) from ../shared/datasets."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    corpus: dict[str, tuple[str, str, dict[str, Any]]]  # doc id → (title, text, metadata)
    queries: list[Query]  # only the queries that have judgments in the split
    qrels: dict[str, dict[str, int]]  # query id → doc id → relevance
    split: str = ""  # the qrels split the queries were judged in


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load(directory: Path, split: str | None = None) -> Dataset:
    qrels_dir = directory / "qrels"
    if split is None:
        split = next(iter(sorted(path.stem for path in qrels_dir.glob("*.tsv"))))
    qrels: dict[str, dict[str, int]] = {}
    with (qrels_dir / f"{split}.tsv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)  # header
        for row in reader:
            if len(row) >= 3 and row[0].strip():
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2].strip())
    corpus = {
        str(doc["_id"]): (doc.get("title", ""), doc.get("text", ""), doc.get("metadata") or {})
        for doc in _jsonl(directory / "corpus.jsonl")
    }
    queries = [
        Query(str(item["_id"]), item["text"], item.get("metadata") or {})
        for item in _jsonl(directory / "queries.jsonl")
        if str(item["_id"]) in qrels
    ]
    return Dataset(directory.name, corpus, queries, qrels, split)
