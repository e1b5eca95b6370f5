"""Nearest-neighbour indexes over item vectors."""

from pulserec.index.approximate import ApproximateIndex
from pulserec.index.base import VectorIndex
from pulserec.index.exact import ExactIndex
from pulserec.index.hnsw import HNSWIndex
from pulserec.index.ivf import IVFIndex

__all__ = ["ApproximateIndex", "ExactIndex", "HNSWIndex", "IVFIndex", "VectorIndex"]
