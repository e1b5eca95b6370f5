"""What every approximate index shares: exact search below a size threshold, keys mapped
to the faiss structure's nodes, dead nodes skipped and rebuilt away, narrow filters scored
exactly."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from pulserec.index.base import VectorIndex, allowed_keys, as_queries
from pulserec.index.exact import ExactIndex


class ApproximateIndex(VectorIndex):
    """A faiss structure over the live vectors, with replace and remove.

    Every vector is also held exactly (:class:`ExactIndex`): below ``exact_threshold``
    live keys it answers alone (for small catalogs brute force is both faster and exact),
    and the structure is built from it. The structure's nodes are numbered in the order
    vectors were added; a removed or replaced key leaves a dead node that searches skip
    (through a selector of the live nodes), and the structure is rebuilt from the live
    vectors once dead nodes pass ``rebuild_ratio`` of them or a subclass says so
    (:meth:`_stale`).

    A filtered search (``allow``) that leaves at most ``filter_exact_share`` of the live
    keys scores them exactly; a wider one searches the structure with the mask as a faiss
    ID selector, so every result passes it, and scores them exactly after all where the
    structure found fewer than ``k`` of them (a walk or the probed cells met too few).
    """

    batch_queries: int = 1
    """Queries one search may take together, each answered as it would be alone."""

    def __init__(
        self,
        dim: int,
        *,
        exact_threshold: int = 20_000,
        rebuild_ratio: float = 0.2,
        filter_exact_share: float = 0.1,
    ) -> None:
        self.dim = dim
        self.exact_threshold = exact_threshold
        self.rebuild_ratio = rebuild_ratio
        self.filter_exact_share = filter_exact_share
        self._exact = ExactIndex(dim)
        self._graph: object | None = None
        self._node_key = np.zeros(0, dtype=np.int64)  # node -> key, -1 when dead
        self._dead = 0  # nodes of ``_node_key`` that are -1, counted as they die
        self._key_node: dict[int, int] = {}
        self._live_params: dict[int, object] = {}
        """Search parameters selecting the live nodes, per ``k``; dropped on any change."""

    def __len__(self) -> int:
        return len(self._exact)

    @property
    def uses_graph(self) -> bool:
        """Whether searches go to the faiss structure (else to the exact index)."""
        return self._graph is not None

    @abstractmethod
    def _build(self, vectors: np.ndarray) -> object:
        """A new faiss structure holding ``vectors`` (nodes 0, 1, ... in row order)."""

    def _stale(self) -> bool:
        """Whether the structure should be built again from the live vectors (beyond its
        dead nodes): never, unless a subclass says otherwise."""
        return False

    @abstractmethod
    def _params(self, nodes_ok: np.ndarray, k: int, n_ok: int, live: int) -> object:
        """faiss search parameters for the top ``k`` with a selector that returns only the
        nodes where ``nodes_ok`` is true (``n_ok`` of the ``live`` nodes)."""

    def _rebuild(self) -> None:
        keys = np.fromiter(self._exact._slot.keys(), dtype=np.int64)
        # nothing live: the exact index answers until the threshold is reached again
        self._graph = self._build(self._exact.vectors(keys)) if len(keys) else None
        self._node_key = keys.copy()
        self._dead = 0
        self._key_node = {int(k): j for j, k in enumerate(keys.tolist())}
        self._live_params.clear()

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).ravel()
        vecs = as_queries(vectors, self.dim)
        self._exact.add(keys, vecs)
        if self._graph is None:
            if len(self) >= self.exact_threshold:
                self._rebuild()
            return
        self._kill(keys)
        start = len(self._node_key)
        self._graph.add(vecs)  # type: ignore[attr-defined]
        self._live_params.clear()
        self._node_key = np.concatenate([self._node_key, keys])
        for j, key in enumerate(keys.tolist()):
            self._key_node[key] = start + j
        self._maybe_rebuild()

    def _kill(self, keys: np.ndarray) -> None:
        for key in keys.tolist():
            node = self._key_node.pop(key, None)
            if node is not None:
                self._node_key[node] = -1
                self._dead += 1
                self._live_params.clear()

    def _maybe_rebuild(self) -> None:
        if self._dead > self.rebuild_ratio * max(len(self._node_key), 1) or self._stale():
            self._rebuild()

    def remove(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).ravel()
        self._exact.remove(keys)
        if self._graph is not None:
            self._kill(keys)
            self._maybe_rebuild()

    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = as_queries(queries, self.dim)
        if self._graph is None:
            return self._exact.search(q, k, allow=allow)
        params = None
        # dead nodes are counted, not summed: a search at 100k items read 100k keys for it
        live = len(self._node_key) - self._dead
        n_ok = live
        if allow is not None:
            nodes_ok, n_ok, live = self._allowed_nodes(allow)
            if n_ok <= self.filter_exact_share * live:
                return self._exact.search(q, k, allow=allow)
            if n_ok < live:
                params = self._params(nodes_ok, k, n_ok, live)  # it skips dead nodes too
        if params is None and self._dead:
            # the live nodes as a selector, kept until a node dies or joins: fetching past
            # the dead ones instead made a search at 100k items 2.5 times as slow with
            # 1,000 of them (and the dead may reach ``rebuild_ratio`` before a rebuild)
            params = self._live_params.get(k)
            if params is None:
                params = self._live_params[k] = self._params(self._node_key >= 0, k, live, live)
        if params is None:
            scores, nodes = self._graph.search(q, k)  # type: ignore[attr-defined]
        else:
            scores, nodes = self._graph.search(q, k, params=params)  # type: ignore[attr-defined]
        out_keys = np.where(nodes >= 0, self._node_key[np.maximum(nodes, 0)], -1)
        out_scores = np.where(nodes >= 0, scores, -np.inf).astype(np.float32)
        if params is not None:  # came back short (a walk or the probed cells met too few
            # of the nodes the selector lets through): those, exactly
            short = np.flatnonzero((out_keys < 0).sum(axis=1) > max(k - n_ok, 0))
            if len(short):
                out_keys[short], out_scores[short] = self._exact.search(q[short], k, allow=allow)
        return out_keys, out_scores

    def _allowed_nodes(self, allow: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Which nodes ``allow`` lets through, how many, and how many are live."""
        if self._exact._identity and len(self._node_key) == self._exact._n:
            nodes_ok = self._exact.allowed_slots(allow)  # node j holds key j
        else:
            nodes_ok = allowed_keys(self._node_key, self._node_key >= 0, allow)
        return nodes_ok, int(np.count_nonzero(nodes_ok)), len(self._node_key) - self._dead

    def allowed_subset(self, allow: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The allowed keys and their vectors when a search under ``allow`` would score
        them exactly (see the class docstring); None when it would search the structure."""
        if self._graph is not None:
            _, n_ok, live = self._allowed_nodes(allow)
            if n_ok > self.filter_exact_share * live:
                return None
        return self._exact.allowed_subset(allow)


def node_selector(nodes_ok: np.ndarray) -> tuple[object, tuple[object, ...]]:
    """A faiss selector of the nodes where ``nodes_ok`` is true, and the objects it reads
    during a search (keep them alive as long as the selector)."""
    import faiss

    bits = np.packbits(nodes_ok, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(nodes_ok), faiss.swig_ptr(bits))
    return selector, (bits, selector)
