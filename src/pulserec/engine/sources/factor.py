"""Nearest items in the factor space to the user's long-term vector alone.

That query changes only when the models do (a refit), so for the serving models a user's
candidates are kept between their requests (:class:`FactorCache`, a bounded LRU; requests
under a filter search afresh): a user who comes back within a model set's life skips one
of the request's three index searches. When models are swapped in, the lists of the
users read or active lately are searched again in batches (:meth:`FactorCache.fill`), so
their first request under the new models skips that search too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from pulserec.engine.arrays import unit
from pulserec.engine.modelset import ModelSet
from pulserec.engine.sources.base import Request


class FactorCache:
    """The factor source's candidates per user for the serving models, at most
    ``max_users`` users (the least recently read leave first; 0: nothing kept)."""

    def __init__(self, max_users: int) -> None:
        self.max_users = max_users
        self._serving: ModelSet | None = None
        self._lists: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._lists)

    @property
    def cached_users(self) -> list[str]:
        """Users whose lists are kept, least recently read first."""
        with self._lock:
            return list(self._lists)

    def serve(self, models: ModelSet | None) -> None:
        """From now on ``models`` are the serving ones: every kept list is dropped."""
        with self._lock:
            self._serving = models
            self._lists.clear()

    def forget(self, user_id: str) -> None:
        """Drop one user's list (it is derived from their factor vector)."""
        with self._lock:
            self._lists.pop(user_id, None)

    def get(self, models: ModelSet, user_id: str, n: int) -> np.ndarray | None:
        """The user's kept ``n`` candidates under ``models``, or None."""
        if models is not self._serving:
            return None
        with self._lock:
            found = self._lists.get(user_id)
            if found is None or len(found) != n:
                return None
            self._lists.move_to_end(user_id)
        return found.astype(np.int64)

    def put(self, models: ModelSet, user_id: str, found: np.ndarray) -> None:
        """Keep ``found`` (item indices, -1 padded) as the user's list under ``models``."""
        if self.max_users <= 0:
            return
        with self._lock:
            if models is not self._serving:  # not the serving models, or swapped meanwhile
                return
            self._lists[user_id] = found.astype(np.int32)
            self._lists.move_to_end(user_id)
            while len(self._lists) > self.max_users:
                self._lists.popitem(last=False)

    def fill(self, models: ModelSet, users: Iterable[str], n: int) -> int:
        """Search and keep the ``n`` candidates of ``users`` (least recent first; the
        latest :attr:`max_users` the models have a vector for) under the serving
        ``models``: the lists their requests would search for, in batches (at most
        :data:`FILL_BATCH` queries) where the index is approximate. Lists kept meanwhile
        stay. Stops where other models are swapped in. Returns how many lists were added."""
        if self.max_users <= 0 or models is not self._serving:
            return 0
        wanted, queries = [], []
        # the most recent first: each goes in behind those kept before it
        for user_id in dict.fromkeys(reversed(list(users))):
            q = unit(models.long_term(user_id))
            if q is not None:  # as the source's own search asks it
                wanted.append(user_id)
                queries.append(np.asarray(q, np.float32))
                if len(wanted) == self.max_users:
                    break
        kept, index = 0, models.cf_index
        # as many queries together as the index answers each as it would alone: an exact
        # product over a batch rounds differently from one query's, and near-ties would
        # order differently
        batch = min(FILL_BATCH, index.batch_queries) if index.uses_graph else 1
        for start in range(0, len(wanted), batch):
            found, _ = index.search(np.stack(queries[start : start + batch]), n)
            with self._lock:
                if models is not self._serving:
                    break
                for user_id, row in zip(wanted[start : start + batch], found, strict=True):
                    if user_id not in self._lists:  # a request's own list is as good
                        self._lists[user_id] = row.astype(np.int32)
                        self._lists.move_to_end(user_id, last=False)
                        kept += 1
                while len(self._lists) > self.max_users:
                    self._lists.popitem(last=False)
        return kept


FILL_BATCH = 512
"""Queries per index search when the kept lists are filled for new models."""


class FactorSource:
    """What the factor model fitted at the last refit says of the user."""

    name = "factor"

    def candidates(self, request: Request, n: int) -> np.ndarray | None:
        models = request.models
        lt = unit(request.long_term)
        if models is None or lt is None:
            return None
        cache = request.factor_cache if request.allowed is None else None
        if cache is not None:
            found = cache.get(models, request.user_id, n)
            if found is not None:
                return found
        found = request.search(models.cf_index, lt, n)
        if cache is not None:
            cache.put(models, request.user_id, found)
        return found
