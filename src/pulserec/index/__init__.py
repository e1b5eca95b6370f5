"""Nearest-neighbour indexes over item vectors."""

from pulserec.index.base import VectorIndex
from pulserec.index.exact import ExactIndex
from pulserec.index.hnsw import HNSWIndex

__all__ = ["ExactIndex", "HNSWIndex", "VectorIndex"]
