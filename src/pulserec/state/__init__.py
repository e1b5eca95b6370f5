"""Online user state: the update rule and the stores that hold it."""

from pulserec.state.base import (
    DEFAULT_TYPE_WEIGHTS,
    StateConfig,
    StateStore,
    UserState,
    apply_event,
    event_weight,
)
from pulserec.state.memory import MemoryStateStore
from pulserec.state.shared import LogTailStateStore

__all__ = [
    "DEFAULT_TYPE_WEIGHTS",
    "LogTailStateStore",
    "MemoryStateStore",
    "StateConfig",
    "StateStore",
    "UserState",
    "apply_event",
    "event_weight",
]
