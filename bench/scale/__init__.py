"""How Sift's embedded backend scales: synthetic corpora of 10k, 100k and 1M chunks (issue 16, part 2).

    python -m bench.scale [--sizes 10000,100000,1000000] [--peers-at 100000,1000000] [--json]
    python -m bench.scale --dataset ../shared/datasets/scifact --vectors use   # the defaults

The corpus (``bench.scale.synth``; deterministic, seed ``SEED``): the dataset's documents are read in place (never
copied) and split into sentences. Synthetic document ``j`` has ``CHUNKS_PER_DOCUMENT`` chunks; each draws a *base*
document ``b`` (uniformly), starts at a random sentence of ``b`` and takes its sentences in order (cyclically), each
one replaced with probability ``FOREIGN_SENTENCE`` by a random sentence of a random other document, until the chunk
reaches a random length of 600–1,200 characters (Sift's default chunk size is 1,200). The chunk's search text is
``b``'s title and the chunk, as the indexer makes it. Vectors are near real ones: ``b``'s real 512-d vector — USE's
(universal-sentence-encoder-multilingual-3) embedding of ``b``'s first chunk as Sift indexes it, read from the
embedding cache (``.bench-cache/embeddings.db``; computed and cached when missing) — times a fixed random 512×384
matrix with orthonormal columns, plus Gaussian noise of ``NOISE`` per dimension (cosine ≈ 0.9 to the base), then
L2-normalised; 384 dimensions, the issue's 1M target. Queries: the dataset's judged queries (SciFact: 300), their USE
query vectors made the same way (precomputed: the query embedding is never timed). ``--vectors hashing`` takes
Sift's hashing embedder as the 512-d source instead (tests: no model, no cache).

Per size, each step in its own process (so RSS is the step's own):

* ``build``: a knowledge base created through ``KnowledgeBaseService.create``, written into ``kb.collection`` with
  ``EmbeddedBackend.upsert_documents`` in batches of the indexer's ``batch_documents`` (32) documents — what
  ``Indexer._write`` calls, with ``ChunkRecord``s made by the indexer's own ``search_text`` / ``chunk_metadata``.
  Chunking and embedding are not timed (there is nothing to embed); generating the texts is not timed either.
  Reports chunks/s, the disk size of the SQLite store and of the tantivy directory, peak RSS. A build that runs past
  ``--build-budget`` seconds stops and reports the chunks written and an extrapolation, labelled partial.
* ``serve``: a fresh process opens the data directory (a new service on it), answers one Retrieve — the cold open:
  the dense matrix rebuilt from SQLite, tantivy opened — then times Retrieve in-process with request handling
  (``operations.invoke``, as ``bench.speed``) over every query after 20 warm-up calls: hybrid without rerank
  (``EnableReranking`` false, top 5, ``DenseSimilarityTopK`` 100 + ``SparseSimilarityTopK`` 100), the default
  request (rerank on), the dense leg alone, the sparse leg alone, and hybrid with a ``SearchFilters`` that keeps a
  tenth of the chunks (on the first ``FILTERED_QUERIES`` queries); then the backend's parts alone: ``recall``, the
  exact matmul top-100, tantivy's top-100, SQLite's fetch of the recalled chunks, the filter mask. The query
  embedding is the stub's dictionary lookup. ``--profile N`` adds cProfile's top N (own time) over hybrid Retrieves.
* ``rebuild``: the same cold open with the tantivy directory deleted first: every derived index rebuilt from SQLite.
* ``floor`` and the peers (``--peers-at`` sizes; LanceDB, Qdrant local, Haystack) through ``bench.peers``' engine
  adapters, on the same search texts and vectors, the same hybrid work (top-100 + top-100, fused, top 5), each in its
  own process under a time limit (``--peer-timeout``) and an RSS cap (``--peer-rss-mb``). A peer is skipped at a
  size when its build at the previous peer size, scaled linearly, would pass either.

The data directory is a temporary one (``--work-dir``, default the system's temp dir), deleted at the end. Load
average is reported at the start and the end; timings on a shared 2-core machine are noisy.
"""
