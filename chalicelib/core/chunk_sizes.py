"""The chunk sizes a knowledge base may set (Bailian's ``ChunkSize``/``OverlapSize``) and Sift's defaults.

Apart from the chunker so that the wire models, which validate the sizes, load without it (``import app`` stays
cheap: the chunker pulls in text extraction and sentence splitting).
"""

from __future__ import annotations

from typing import Final

# Knowledge-base defaults, chosen by measurement (README, Benchmarks): on SciFact, 1,200-character chunks with 200 of
# overlap beat 500/100 on BM25 (nDCG@10 0.691 vs 0.670) and on hybrid (0.723 vs 0.719); all-MiniLM-L6-v2 reads
# about 1,000-1,200 English characters (256 word pieces) before it truncates.
DEFAULT_CHUNK_SIZE: Final = 1200
DEFAULT_OVERLAP: Final = 200
MAX_CHUNK_SIZE: Final = 2048
MAX_OVERLAP: Final = 1024
