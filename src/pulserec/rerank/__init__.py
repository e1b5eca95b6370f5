"""Re-ranking: MMR diversity and the reranker protocol."""

from pulserec.rerank.base import Reranker
from pulserec.rerank.mmr import MMRReranker, mmr

__all__ = ["MMRReranker", "Reranker", "mmr"]
