"""A state store for several processes sharing one event log (Redis).

Each process keeps its own in-memory states, and each state remembers the
newest log sequence number folded into it (``UserState.seq``). Before a state
is served, the store reads the user's log tail after that number and applies
what other processes appended meanwhile, in log order. One range read per
request, no invalidation messages to lose, and no race: whatever was
acknowledged before the read is in the state that answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pulserec.state.base import StateConfig, UserState
from pulserec.state.memory import MemoryStateStore


class LogTailStateStore(MemoryStateStore):
    """:class:`MemoryStateStore` that catches a held state up with the shared log on read.

    Parameters
    ----------
    config : StateConfig, optional
    tail : callable
        ``tail(user_id, after_seq)`` -> the user's stored events after ``after_seq``,
        in order (objects with ``seq``, ``event`` and ``spam``), or None when the user
        was deleted since: the held state is then dropped and rebuilt from the log.
    apply : callable
        ``apply(state, stored_event)`` folds one stored event into a state.
    **kwargs
        Passed to :class:`MemoryStateStore` (``restore`` rebuilds an absent state from
        the whole log and must set its ``seq``).
    """

    def __init__(
        self,
        config: StateConfig | None = None,
        *,
        tail: Callable[[str, int], Iterable[Any] | None],
        apply: Callable[[UserState, Any], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        self.tail = tail
        self.apply = apply
        self.caught_up = 0
        self.resets = 0

    def get(self, user_id: str) -> UserState | None:
        held = self.peek(user_id)
        if held is not None:
            tail = self.tail(user_id, held.seq)
            if tail is None:  # deleted by another process: never extend the old state
                self.delete(user_id)
                self.resets += 1
            else:
                for stored in tail:
                    self.apply(held, stored)
                    held.seq = stored.seq
                    self.caught_up += 1
        return super().get(user_id)
