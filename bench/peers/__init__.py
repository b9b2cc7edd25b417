"""Sift beside peer engines doing the same hybrid work on the same data (issue 16, part 1).

    python -m bench.peers --dataset ../shared/datasets/scifact [--embedder use] [--json]
    make install-peers   # LanceDB, Qdrant's client (local mode) and Haystack: requirements-peers.txt

The work: top-100 dense + top-100 BM25, fused, top 5, no rerank. The data: the chunks Sift indexed (``open_index``,
cached in ``.bench-cache``), each as Sift searches it (``search_text``: title and chunk), with the very vectors Sift
stored, read from its SQLite store of record. Query vectors are computed once with Sift's embedder (through the
embedding cache) and handed to every engine: the query embedding is never timed.

Engines, each measured in its own process (``--engine NAME``) so its peak RSS is its own:

* ``sift``: a fresh knowledge base built through Sift's indexing path (``index_texts``: chunking, SQLite, tantivy)
  with an embedder that answers from the stored vectors; then in-process Retrieve, request handling included (JSON
  body → validation → pipeline → response dict, as ``bench.speed``), and the backend's recall alone
  (``EmbeddedBackend.recall``: both legs, no fusion).
* ``floor``: the physical floor: tantivy alone (its own ``en_stem`` analysis) for BM25 top-100 and one numpy
  matrix-vector product with ``argpartition`` for dense top-100; its nDCG@10 fuses the two lists with RRF (k=60),
  untimed.
* ``lancedb``: LanceDB's native full-text index and a flat (exact) cosine vector search, hybrid with its default
  ``RRFReranker``.
* ``qdrant``: qdrant-client's local mode (in memory), a dense cosine vector plus a sparse BM25 vector with the IDF
  modifier, fused by Qdrant's RRF in ``query_points``.
* ``haystack``: Haystack's ``InMemoryDocumentStore`` with its BM25 and embedding retrievers and a ``DocumentJoiner``
  (reciprocal rank fusion) in a Pipeline.

Per engine: index build in chunks/s (from the same chunk texts and vectors), query p50/p95 over every judged query
after a warm-up, peak RSS (and its rise over the inputs loaded), nDCG@10 at document level (a document ranks by its
best chunk; a retrieved document with the query's id is dropped, BEIR's rule) from an untimed pass that keeps 100
fused chunks. A peer whose package is missing, or that fails, is reported by name with the reason.
"""
