"""Retrieval quality on a BEIR-layout dataset, through Sift's own indexing and retrieval paths.

    python -m bench.quality --dataset ../shared/datasets/scifact [--json]
    python -m bench.quality --dataset ../shared/datasets/kdconv-travel-convret --conversational [--json]

Indexes the corpus into a knowledge base (embedded backend, the stage's local embedder, the default chunking unless
--chunk-size/--overlap say otherwise) and reports nDCG@10, Recall@20 (the deepest a reranked Retrieve returns:
RerankTopN ≤ 20) and Recall@100 for ``bm25``, ``dense``, ``hybrid`` and ``hybrid_rerank``. A document ranks by its
best chunk.
The index and the embeddings are kept under ``.bench-cache/`` so a rerun takes seconds.

``--conversational`` (datasets whose queries carry ``metadata.history``, oldest first, the query text being the
current turn) compares ``last_turn`` — hybrid retrieval for the current turn alone — with ``conversation``, the
conversation-aware method ContextualRetrieval uses (``chalicelib.core.conversation``), both without reranking,
``conversation_rerank`` with the local reranker, and ``conversation_bm25`` / ``conversation_dense``, the conversation
method on one recall leg alone (what its fusion must not lose to).

``--embedder`` picks the local model (``e5``, ``use``, ``minilm``; as ``SIFT_EMBEDDER``), each with its own cached
index.
Scoring follows BEIR's rule for sets whose queries are themselves corpus documents (BEIR's ``ignore_identical_ids``,
on by default there): a retrieved document whose id equals the query's id is dropped before scoring, so such sets
compare with published figures (``--keep-identical-ids`` turns it off).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.beir import Dataset, Query, load
from bench.metrics import mean, ndcg_at_k, recall_at_k
from chalicelib.composition import build_service
from chalicelib.core.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from chalicelib.core.conversation import Conversation
from chalicelib.core.indexing import TextDocument
from chalicelib.core.knowledge_base import KnowledgeBaseService
from chalicelib.core.ports.models import ChatMessage
from chalicelib.core.retrieval import RerankOptions, RetrievalQuery, RetrievedChunk
from chalicelib.settings import LOCAL_EMBEDDERS, Settings

CACHE = Path(".bench-cache")
WORKSPACE = "bench"
# Deep enough for Recall@100 at document level: both legs at their documented maximum of 100 chunks each.
DEPTH = 200

METHODS: dict[str, Callable[[str], RetrievalQuery]] = {
    "bm25": lambda text: RetrievalQuery(text, dense_top_k=0, sparse_top_k=100, top_n=DEPTH),
    "dense": lambda text: RetrievalQuery(text, dense_top_k=100, sparse_top_k=0, top_n=DEPTH),
    "hybrid": lambda text: RetrievalQuery(text, dense_top_k=100, sparse_top_k=100, top_n=DEPTH),
    "hybrid_rerank": lambda text: RetrievalQuery(
        text, dense_top_k=100, sparse_top_k=100, top_n=DEPTH, rerank=RerankOptions(model_name=None)
    ),
}


CONVERSATIONAL_METHODS = ("last_turn", "conversation", "conversation_rerank", "conversation_bm25", "conversation_dense")
# The conversation method's (dense top-K, sparse top-K): both legs, or one alone.
_CONVERSATION_LEGS = {"conversation_bm25": (0, 100), "conversation_dense": (100, 0)}


def conversation_of(query: Query) -> Conversation:
    """The query's conversation: history turns alternate roles backwards from the current (user) turn."""
    history = [str(turn) for turn in query.metadata.get("history", [])]
    roles = ["user" if (len(history) - position) % 2 == 0 else "assistant" for position in range(len(history))]
    return Conversation(tuple(ChatMessage(role, turn) for role, turn in zip(roles, history)), query.text)


def conversational_ranking(service: KnowledgeBaseService, index_id: str, method: str, query: Query) -> list[str]:
    if method == "last_turn":
        return document_ranking(service, index_id, METHODS["hybrid"](query.text))
    rerank = RerankOptions(model_name=None) if method == "conversation_rerank" else None
    dense_top_k, sparse_top_k = _CONVERSATION_LEGS.get(method, (100, 100))
    options = RetrievalQuery(query.text, dense_top_k=dense_top_k, sparse_top_k=sparse_top_k, top_n=DEPTH,
                             rerank=rerank)
    result = service.retrieve_conversation(WORKSPACE, index_id, conversation_of(query), options)
    return _documents(result.chunks)


def add_embedder_arguments(parser: argparse.ArgumentParser) -> None:
    """``--embedder`` and ``--embedder-threads``, the arguments of ``open_index`` (shared with bench.answer)."""
    parser.add_argument("--embedder", default=Settings().embedder, choices=LOCAL_EMBEDDERS)
    parser.add_argument("--embedder-threads", type=int, default=1, help="threads of the local embedder (e5, use)")


def open_index(
    dataset: Dataset, chunk_size: int, overlap: int, *, embedder: str = Settings().embedder, threads: int = 1
) -> tuple[KnowledgeBaseService, str, float]:
    """The dataset's knowledge base, indexed through Sift (once; later runs reuse it). Returns seconds spent indexing."""
    model = "" if embedder == "minilm" else f"-{embedder}"  # MiniLM's indexes keep the names they were cached under
    index_id = f"{dataset.name}-c{chunk_size}-o{overlap}{model}".replace(".", "_")[:64]
    settings = Settings(data_dir=CACHE / "index", embedding_cache=CACHE / "embeddings.db", embedder=embedder,
                        embedder_threads=threads)
    service = build_service(settings)
    existing = service.find(WORKSPACE, index_id)
    if existing is not None and service.document_count(existing) == len(dataset.corpus):
        return service, index_id, 0.0
    if existing is not None:
        service.delete(WORKSPACE, index_id)
    service.create(WORKSPACE, name=index_id, index_id=index_id, chunk_size=chunk_size, overlap_size=overlap)
    started = time.perf_counter()
    documents = (
        TextDocument(doc_id=doc_id, name=doc_id, title=title, text=text, metadata={})
        for doc_id, (title, text, _) in dataset.corpus.items()
    )
    service.index_texts(WORKSPACE, index_id, documents)
    return service, index_id, time.perf_counter() - started


def document_ranking(service: KnowledgeBaseService, index_id: str, query: RetrievalQuery) -> list[str]:
    return _documents(service.retrieve(WORKSPACE, index_id, query, request_id="bench").chunks)


def _documents(chunks: Sequence[RetrievedChunk]) -> list[str]:
    """Documents in the order of their best chunk."""
    ranking: list[str] = []
    for item in chunks:
        if item.chunk.doc_id not in ranking:
            ranking.append(item.chunk.doc_id)
    return ranking


def evaluate(
    dataset: Dataset, service: KnowledgeBaseService, index_id: str, methods: list[str], *, conversational: bool = False,
    ignore_identical_ids: bool = True,
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for method in methods:
        ndcgs, recalls_20, recalls = [], [], []
        started = time.perf_counter()
        for query in dataset.queries:
            if conversational:
                ranking = conversational_ranking(service, index_id, method, query)
            else:
                ranking = document_ranking(service, index_id, METHODS[method](query.text))
            if ignore_identical_ids:
                ranking = [doc_id for doc_id in ranking if doc_id != query.query_id]
            relevant = dataset.qrels[query.query_id]
            ndcgs.append(ndcg_at_k(ranking, relevant, 10))
            recalls_20.append(recall_at_k(ranking, relevant, 20))
            recalls.append(recall_at_k(ranking, relevant, 100))
        results[method] = {
            "ndcg@10": round(mean(ndcgs), 4),
            "recall@20": round(mean(recalls_20), 4),
            "recall@100": round(mean(recalls), 4),
            "ms_per_query": round((time.perf_counter() - started) * 1000 / max(len(dataset.queries), 1), 2),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default=None, help="qrels split (default: the only/first one)")
    parser.add_argument("--methods", default=None, help="comma-separated subset of " + ",".join(METHODS)
                        + " (with --conversational: " + ",".join(CONVERSATIONAL_METHODS) + ")")
    parser.add_argument("--conversational", action="store_true", help="multi-turn queries: last turn vs conversation")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    add_embedder_arguments(parser)
    parser.add_argument("--keep-identical-ids", action="store_true",
                        help="score a retrieved document whose id is the query's (BEIR drops it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)

    dataset = load(args.dataset, args.split)
    known = CONVERSATIONAL_METHODS if args.conversational else tuple(METHODS)
    methods = [method for method in (args.methods or ",".join(known)).split(",") if method]
    unknown = set(methods) - set(known)
    if unknown:
        parser.error(f"unknown methods: {sorted(unknown)}")
    print(f"{dataset.name}: {len(dataset.corpus)} documents, {len(dataset.queries)} judged queries", file=sys.stderr)
    service, index_id, seconds = open_index(
        dataset, args.chunk_size, args.overlap, embedder=args.embedder, threads=args.embedder_threads
    )
    if seconds:
        print(f"indexed in {seconds:.1f} s ({len(dataset.corpus) / seconds:.1f} docs/s)", file=sys.stderr)
    results = evaluate(dataset, service, index_id, methods, conversational=args.conversational,
                       ignore_identical_ids=not args.keep_identical_ids)

    print(f"{'method':<19} {'nDCG@10':>8} {'R@20':>8} {'R@100':>8} {'ms/query':>9}")
    for method, scores in results.items():
        print(f"{method:<19} {scores['ndcg@10']:>8.4f} {scores['recall@20']:>8.4f} {scores['recall@100']:>8.4f}"
              f" {scores['ms_per_query']:>9.2f}")
    if args.json:
        print(json.dumps({"dataset": dataset.name, "split": dataset.split, "embedder": args.embedder,
                          "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
