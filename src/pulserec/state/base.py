"""Online user state and the rule that updates it on every event.

The state holds what a user is into *now*: recency-decayed, event-type
weighted sums of the vectors of the items they touched (one sum in the
collaborative item-vector space, one in the text space), a bounded recent
item sequence, a bounded seen set and negative signals. Applying an event
costs O(dim) and never refits a model.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pulserec.config import StateSettings

_DEFAULTS = StateSettings()

DEFAULT_TYPE_WEIGHTS: dict[str, float] = dict(_DEFAULTS.type_weights)
"""How strongly each event type moves interest (view < click < cart < purchase)."""


@dataclass
class StateConfig:
    """Parameters of the update rule; defaults and their meaning in
    :class:`pulserec.config.StateSettings`, the one place they are written."""

    half_life_s: float = _DEFAULTS.half_life_s
    event_decay: float = _DEFAULTS.event_decay
    max_recent: int = _DEFAULTS.max_recent
    max_seen: int = _DEFAULTS.max_seen
    max_negatives: int = _DEFAULTS.max_negatives
    max_queries: int = _DEFAULTS.max_queries
    impression_threshold: int = _DEFAULTS.impression_threshold
    rating_slope: float = _DEFAULTS.rating_slope
    type_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))


class UserState:
    """Everything the engine knows about one user between model refits."""

    __slots__ = (
        "impressions",
        "last_ts",
        "n_events",
        "negatives",
        "queries",
        "rating_count",
        "rating_sum",
        "recent",
        "seen",
        "seq",
        "short_cf",
        "short_text",
        "user_id",
    )

    def __init__(self, user_id: str, config: StateConfig) -> None:
        self.user_id = user_id
        self.short_cf: np.ndarray | None = None
        self.short_text: np.ndarray | None = None
        self.last_ts: float | None = None
        self.recent: deque[tuple[int, float, float]] = deque(maxlen=config.max_recent)
        self.seen: OrderedDict[int, None] = OrderedDict()
        self.negatives: OrderedDict[int, float] = OrderedDict()
        self.impressions: OrderedDict[int, int] = OrderedDict()
        self.queries: deque[tuple[str, float]] = deque(maxlen=config.max_queries)
        self.n_events = 0
        self.rating_sum = 0.0
        self.rating_count = 0
        self.seq = 0  # the newest log sequence number folded in (0: not tracked)

    def seen_items(self) -> np.ndarray:
        return np.fromiter(self.seen.keys(), dtype=np.int64, count=len(self.seen))

    def recent_items(self, n: int | None = None) -> list[int]:
        """Most recent positive items, newest first."""
        items = [i for i, w, _ in reversed(self.recent) if w > 0]
        return items if n is None else items[:n]

    def penalties(self, threshold: int) -> dict[int, float]:
        """Negative weight per item: explicit negatives plus impressions ignored too often."""
        out = dict(self.negatives)
        for item, count in self.impressions.items():
            if count >= threshold:
                out[item] = out.get(item, 0.0) + 0.5 * (count - threshold + 1)
        return out


def event_weight(
    state: UserState,
    event_type: str,
    value: float | None,
    sentiment: float | None,
    config: StateConfig,
) -> float:
    """Signed strength of one event for this user's interests."""
    w = config.type_weights.get(event_type, 0.0)
    if event_type == "rate" and value is not None:
        mean = state.rating_sum / state.rating_count if state.rating_count else value
        # A rating counts as interest (the user chose the item), moved up or
        # down by how it compares with the user's own mean rating.
        w = max(0.1, 1.0 + config.rating_slope * (value - mean))
    elif event_type == "comment" and sentiment is not None:
        w = 2.0 * sentiment - 1.0  # sentiment in [0, 1]: 0 pushes away, 1 pulls in
    return w


def _bounded_put(d: OrderedDict, key: int, value: object, cap: int) -> None:  # type: ignore[type-arg]
    d[key] = value
    d.move_to_end(key)
    while len(d) > cap:
        d.popitem(last=False)


def apply_event(
    state: UserState,
    config: StateConfig,
    *,
    event_type: str,
    timestamp: float,
    item_idx: int | None = None,
    value: float | None = None,
    item_cf: np.ndarray | None = None,
    item_text: np.ndarray | None = None,
    query_text: np.ndarray | None = None,
    query: str | None = None,
    sentiment: float | None = None,
    spam: bool = False,
) -> float:
    """Update ``state`` in place with one event; returns the weight applied.

    ``item_cf`` / ``item_text`` are the item's unit vectors in the two
    spaces (absent when the item is not in the catalog yet); ``query_text``
    is a search query's embedding. Flagged spam is counted but moves nothing.
    """
    state.n_events += 1
    if spam:
        return 0.0
    weight = event_weight(state, event_type, value, sentiment, config)
    if event_type == "rate" and value is not None:
        state.rating_sum += value
        state.rating_count += 1

    if state.last_ts is None:
        decay = 1.0
    else:
        dt = max(0.0, timestamp - state.last_ts)
        decay = config.event_decay * math.exp(-math.log(2.0) * dt / config.half_life_s)
    state.last_ts = timestamp if state.last_ts is None else max(state.last_ts, timestamp)

    moves = weight != 0.0 and event_type != "impression"
    if moves:
        if item_cf is not None:
            state.short_cf = _decayed_add(state.short_cf, decay, weight, item_cf)
        text_vec = query_text if query_text is not None else item_text
        if text_vec is not None:
            state.short_text = _decayed_add(state.short_text, decay, weight, text_vec)

    if query is not None:
        state.queries.append((query, timestamp))
    if item_idx is None:
        return weight
    if event_type == "impression":
        _bounded_put(
            state.impressions,
            item_idx,
            state.impressions.get(item_idx, 0) + 1,
            config.max_negatives,
        )
        return weight
    if weight < 0:
        _bounded_put(
            state.negatives,
            item_idx,
            state.negatives.get(item_idx, 0.0) - weight,
            config.max_negatives,
        )
    else:
        state.impressions.pop(item_idx, None)  # engaged with: no longer ignored
        state.negatives.pop(item_idx, None)
    state.recent.append((item_idx, weight, timestamp))
    _bounded_put(state.seen, item_idx, None, config.max_seen)
    return weight


def _decayed_add(
    current: np.ndarray | None, decay: float, weight: float, vec: np.ndarray
) -> np.ndarray:
    if current is None or current.shape != vec.shape:
        return (weight * vec).astype(np.float32)
    current *= decay
    current += weight * vec
    return current


class StateStore(ABC):
    """Where online user states live. Reads never create state."""

    config: StateConfig

    @abstractmethod
    def get(self, user_id: str) -> UserState | None:
        """The user's state, or ``None`` for a user never seen."""

    @abstractmethod
    def peek(self, user_id: str) -> UserState | None:
        """The state only if it is held right now (no restore from the log)."""

    @abstractmethod
    def get_or_create(self, user_id: str) -> UserState:
        """The user's state, created empty when new (only writers call this)."""

    @abstractmethod
    def delete(self, user_id: str) -> bool:
        """Forget a user; True when there was something to forget."""

    @abstractmethod
    def __len__(self) -> int:
        """Users held right now."""

    @abstractmethod
    def __iter__(self) -> Iterator[str]:
        """User ids held right now."""
