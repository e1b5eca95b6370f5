"""Compiled expressions by text, and the masks of those that read the items alone.

A filter that reads only item properties (``item.price < 50``) is computed once per
state of the catalog and then read from the cache; one that reads the user or the clock
is computed per request (a few vectorised passes over the property columns). Compiled
expressions are kept until a property is added to the catalog (which may change how an
expression types).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from pulserec.control.compile import Compiled, Env, Purpose, UserView, compile_expression
from pulserec.control.properties import Properties

MAX_CACHED = 256
"""Expressions (and static masks) kept, least recently used first out."""


class Expressions:
    """Compiles filter and boost expressions over one catalog's properties, with caches.

    Not thread-safe on its own: the engine calls it under its lock.
    """

    def __init__(self, props: Properties, max_cached: int = MAX_CACHED) -> None:
        self.props = props
        self.max_cached = max_cached
        self._compiled: OrderedDict[tuple[str, str], tuple[int, Compiled]] = OrderedDict()
        self._masks: OrderedDict[str, tuple[int, np.ndarray]] = OrderedDict()

    def compiled(self, text: str, purpose: Purpose) -> Compiled:
        """The compiled expression (raises :class:`~pulserec.control.syntax.ExpressionError`)."""
        key = (text, purpose)
        found = self._compiled.get(key)
        if found is not None and found[0] == self.props.schema_version:
            self._compiled.move_to_end(key)
            return found[1]
        compiled = compile_expression(text, self.props, purpose)
        _put(self._compiled, key, (self.props.schema_version, compiled), self.max_cached)
        return compiled

    def mask(
        self,
        text: str,
        user: UserView | None = None,
        now: float | None = None,
        context: int | None = None,
    ) -> np.ndarray:
        """Which items of the whole catalog pass the filter ``text`` (a read-only array);
        ``context``: the index of the item the list is shown beside."""
        compiled = self.compiled(text, "filter")
        if compiled.static:
            found = self._masks.get(text)
            if found is not None and found[0] == self.props.version:
                self._masks.move_to_end(text)
                return found[1]
        mask = compiled(Env(self.props, None, now, user or UserView(), context))
        if compiled.static:
            mask.flags.writeable = False
            _put(self._masks, text, (self.props.version, mask), self.max_cached)
        return mask

    def boost(
        self,
        text: str,
        rows: np.ndarray,
        user: UserView | None = None,
        now: float | None = None,
        context: int | None = None,
    ) -> np.ndarray:
        """The boost ``text`` of the given items (0 where it has no value)."""
        compiled = self.compiled(text, "boost")
        rows = np.asarray(rows, np.int64)
        return compiled(Env(self.props, rows, now, user or UserView(), context))


def _put(cache: OrderedDict, key: object, value: object, size: int) -> None:  # type: ignore[type-arg]
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
