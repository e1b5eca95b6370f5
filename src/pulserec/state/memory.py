"""In-process state store with bounded memory.

Idle users and the least recently used ones beyond ``max_users`` leave
memory; the next read restores them through ``restore`` (the engine replays
the user's events from the durable log), so eviction never loses anything.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from pulserec.state.base import StateConfig, StateStore, UserState


class MemoryStateStore(StateStore):
    """LRU dictionary of user states with idle expiry."""

    def __init__(
        self,
        config: StateConfig | None = None,
        *,
        max_users: int = 1_000_000,
        idle_ttl_s: float | None = None,
        restore: Callable[[str], UserState | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or StateConfig()
        self.max_users = max_users
        self.idle_ttl_s = idle_ttl_s
        self.restore = restore
        self.clock = clock
        self._states: OrderedDict[str, tuple[UserState, float]] = OrderedDict()
        self.evictions = 0
        self.restores = 0

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._states))

    def _touch(self, user_id: str, state: UserState) -> None:
        self._states[user_id] = (state, self.clock())
        self._states.move_to_end(user_id)
        self._expire()

    def _expire(self) -> None:
        while len(self._states) > self.max_users:
            self._states.popitem(last=False)
            self.evictions += 1
        if self.idle_ttl_s is None:
            return
        cutoff = self.clock() - self.idle_ttl_s
        while self._states:
            _, (_, last) = next(iter(self._states.items()))
            if last >= cutoff:
                break
            self._states.popitem(last=False)
            self.evictions += 1

    def peek(self, user_id: str) -> UserState | None:
        """The state if it is in memory now; never restores, never creates."""
        held = self._states.get(user_id)
        return held[0] if held is not None else None

    def get(self, user_id: str) -> UserState | None:
        held = self._states.get(user_id)
        if held is not None:
            self._touch(user_id, held[0])
            return held[0]
        if self.restore is None:
            return None
        state = self.restore(user_id)
        if state is not None:
            self.restores += 1
            self._touch(user_id, state)
        return state

    def get_or_create(self, user_id: str) -> UserState:
        state = self.get(user_id)
        if state is None:
            state = UserState(user_id, self.config)
            self._touch(user_id, state)
        return state

    def delete(self, user_id: str) -> bool:
        return self._states.pop(user_id, None) is not None

    def clear(self) -> None:
        self._states.clear()
