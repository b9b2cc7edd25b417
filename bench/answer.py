"""ContextualRetrieval → ContextualAnswer on a conversational BEIR-layout dataset, with the local extractive answerer.

    python -m bench.answer --dataset ../shared/datasets/kdconv-travel-convret [--queries N] [--documents K]
        [--embedder e5|use|minilm] [--json]

For every judged query: the conversation (``bench.quality.conversation_of``: the history turns, then the current
one) is retrieved for, the way ContextualRetrieval does it with ``RecallOnly`` (conversation-aware hybrid recall,
no rerank: ``KnowledgeBaseService.retrieve_conversation``), over the knowledge base ``bench.quality`` builds and
caches in ``.bench-cache`` (the same index, so no second copy; a missing cache is rebuilt, about 8 minutes for
KdConv). The top ``--documents`` documents (5 by default) become File dicts shaped like ContextualRetrieval's
Results — ``ObjectId`` the document id, ``URI`` ``kdconv://<doc id>``, ``Title``, ``SemanticSimilarity`` and one
Element per matching chunk — and go, with the conversation, through ``answer_files`` to ``ExtractiveAnswerer``, as
ContextualAnswer would take them.

Why these measures: the extractive answerer's promise is that References are the files the answer quotes and that
it says "not found" rather than answer unsupported. So the report gives the share of answers whose References
include a relevant document (the qrels), the share of "not found" answers, the mean number of References, and for
scale the share of queries where a relevant document was among the files passed at all (the ceiling of the first
measure), how often a relevant document that was passed is cited, and the share of References that are relevant.
KdConv's judgements name the one knowledge triple the reference reply used; a quoted sibling triple of the same
entity counts as not relevant, so these are lower bounds. About a quarter of KdConv's turns are statements rather
than questions (every turn of a dialogue is a query); for those "not found" is often the honest answer.

By default every judged query runs (1,702 on KdConv dev); ``--queries N`` takes N evenly spaced ones (deterministic).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.beir import Dataset, Query, load
from bench.metrics import mean
from bench.quality import WORKSPACE, add_embedder_arguments, conversation_of, open_index
from chalicelib.core.answer import Answer
from chalicelib.core.answer_sources import answer_files
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.extractive_answer import ExtractiveAnswerer
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.retrieval import RetrievalQuery, RetrievedChunk

PROJECT: Final = "bench"
# Chunks recalled per leg and kept after fusion: ContextualRetrieval's depth (chalicelib.core.media.RECALL_DEPTH).
RECALL_DEPTH: Final = 100
DEFAULT_DOCUMENTS: Final = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    query_id: str
    passed: list[str]  # the document ids handed to the answerer, best first
    references: list[str]  # the document ids the answer cites
    not_found: bool
    relevant: frozenset[str]

    @property
    def cites_relevant(self) -> bool:
        return bool(self.relevant.intersection(self.references))

    @property
    def relevant_passed(self) -> bool:
        return bool(self.relevant.intersection(self.passed))


def sample(queries: Sequence[Query], count: int | None) -> list[Query]:
    """``count`` evenly spaced queries (all of them when ``count`` is None or not smaller)."""
    if count is None or count >= len(queries):
        return list(queries)
    return [queries[position * len(queries) // count] for position in range(count)]


def result_files(
    dataset: Dataset, chunks: Sequence[RetrievedChunk], documents: int
) -> list[dict[str, Any]]:
    """The top ``documents`` documents as ContextualRetrieval Results: one Element per matching chunk."""
    grouped: dict[str, list[RetrievedChunk]] = {}
    for item in chunks:
        if item.chunk.doc_id in grouped or len(grouped) < documents:
            grouped.setdefault(item.chunk.doc_id, []).append(item)
    files: list[dict[str, Any]] = []
    for doc_id, elements in grouped.items():
        title = dataset.corpus[doc_id][0] if doc_id in dataset.corpus else ""
        files.append({
            "ProjectName": PROJECT,
            "DatasetName": dataset.name,
            "ObjectId": doc_id,
            "URI": f"kdconv://{doc_id}",
            "Title": title,
            "SemanticSimilarity": round(max(element.score for element in elements), 6),
            "Elements": [
                {
                    "ObjectId": element.chunk.chunk_id,
                    "ElementType": "text",
                    "SemanticSimilarity": round(element.score, 6),
                    "ElementContents": [{"Type": "text", "Content": element.chunk.text}],
                }
                for element in elements
            ],
        })
    return files


def answer_query(
    service: KnowledgeBaseService, index_id: str, dataset: Dataset, query: Query, documents: int,
    answerer: ExtractiveAnswerer,
) -> tuple[list[dict[str, Any]], Answer]:
    conversation = conversation_of(query)
    recall = RetrievalQuery(
        query.text, dense_top_k=RECALL_DEPTH, sparse_top_k=RECALL_DEPTH, top_n=RECALL_DEPTH, rerank=None
    )
    result = service.retrieve_conversation(WORKSPACE, index_id, conversation, recall)
    files = result_files(dataset, result.chunks, documents)
    return files, answerer.answer(conversation, answer_files(files))


def evaluate(
    service: KnowledgeBaseService, index_id: str, dataset: Dataset, queries: Sequence[Query], documents: int
) -> list[Outcome]:
    answerer = ExtractiveAnswerer()
    outcomes: list[Outcome] = []
    for query in queries:
        files, answer = answer_query(service, index_id, dataset, query, documents, answerer)
        relevant = frozenset(doc for doc, gain in dataset.qrels.get(query.query_id, {}).items() if gain > 0)
        outcomes.append(Outcome(
            query_id=query.query_id,
            passed=[str(file["ObjectId"]) for file in files],
            references=[reference.object_id for reference in answer.references],
            not_found=not answer.references,
            relevant=relevant,
        ))
    return outcomes


def summarise(outcomes: Sequence[Outcome]) -> dict[str, float]:
    cited = [reference for outcome in outcomes for reference in outcome.references]
    relevant_cited = sum(
        1 for outcome in outcomes for reference in outcome.references if reference in outcome.relevant
    )
    answered = [outcome for outcome in outcomes if not outcome.not_found]
    reachable = [outcome for outcome in outcomes if outcome.relevant_passed]
    return {
        "references_include_relevant": round(mean([float(o.cites_relevant) for o in outcomes]), 4),
        "not_found": round(mean([float(o.not_found) for o in outcomes]), 4),
        "mean_references": round(mean([float(len(o.references)) for o in outcomes]), 4),
        "relevant_passed": round(mean([float(o.relevant_passed) for o in outcomes]), 4),
        "answered_citing_relevant": round(mean([float(o.cites_relevant) for o in answered]), 4),
        "relevant_passed_cited": round(mean([float(o.cites_relevant) for o in reachable]), 4),
        "references_relevant": round(relevant_cited / len(cited), 4) if cited else 0.0,
    }


ROWS: Final = (
    ("references_include_relevant", "References include a relevant document"),
    ("not_found", '"not found" answers'),
    ("mean_references", "mean References per answer"),
    ("relevant_passed", "a relevant document among the files passed (ceiling)"),
    ("relevant_passed_cited", "relevant document passed: References include one"),
    ("answered_citing_relevant", "answered: References include a relevant document"),
    ("references_relevant", "References that are relevant"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default=None, help="qrels split (default: the only/first one)")
    parser.add_argument("--queries", type=int, default=None, help="evenly spaced subset of N queries (default: all)")
    parser.add_argument("--documents", type=int, default=DEFAULT_DOCUMENTS, help="top documents passed to the answer")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    add_embedder_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.queries is not None and args.queries < 1:
        parser.error("--queries must be at least 1")
    if args.documents < 1:
        parser.error("--documents must be at least 1")

    dataset = load(args.dataset, args.split)
    queries = sample(dataset.queries, args.queries)
    print(f"{dataset.name}: {len(dataset.corpus)} documents, {len(queries)} of {len(dataset.queries)} judged queries",
          file=sys.stderr)
    service, index_id, seconds = open_index(
        dataset, args.chunk_size, args.overlap, embedder=args.embedder, threads=args.embedder_threads
    )
    if seconds:
        print(f"indexed in {seconds:.1f} s", file=sys.stderr)
    started = time.perf_counter()
    outcomes = evaluate(service, index_id, dataset, queries, args.documents)
    elapsed = time.perf_counter() - started
    scores = summarise(outcomes)
    ms_per_query = round(elapsed * 1000 / max(len(outcomes), 1), 2)

    print(f"| {dataset.name} {dataset.split}: {len(outcomes)} queries, top {args.documents} documents, extractive "
          "| value |")
    print("|---|---:|")
    for key, label in ROWS:
        print(f"| {label} | {scores[key]:.3f} |")
    print(f"| ms/query (retrieve + answer) | {ms_per_query:.1f} |")
    if args.json:
        print(json.dumps({
            "dataset": dataset.name, "split": dataset.split, "queries": len(outcomes), "documents": args.documents,
            "answerer": "extractive", **scores, "ms_per_query": ms_per_query,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
