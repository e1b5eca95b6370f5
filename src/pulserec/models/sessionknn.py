"""Session-based k-nearest neighbours, learned online: the V-SKNN family.

A session is a short run of one user's items. To recommend for the current
session, past sessions sharing an item with it are neighbour candidates; the
``sample_size`` most recently active of them are kept, each is scored by its
similarity to the current session (the current session's items weighted by
recency: the latest counts most), the ``n_neighbors`` most similar stay, and
every item of those neighbours scores the sum of their similarities. This is
V-SKNN as published by Ludewig and Jannach ("Evaluation of session-based
recommendation algorithms", 2018), learned one event at a time and with
bounded memory: at most ``max_sessions`` sessions of at most
``max_session_len`` items each, and per item the ``sample_size`` latest
sessions holding it.

Everything is index-based (item indices, not ids); a session is any hashable
key. :class:`SessionTracker` turns a user's timed events into session keys
and current-session items: a new session after a gap of ``gap_s`` or more,
or, on data without usable sessions (``gap_s=None``), one running session
per user holding their latest items.

Examples
--------
>>> knn = SessionKNN()
>>> for session, items in enumerate([[1, 2, 3], [1, 2, 4], [5, 6]]):
...     for t, item in enumerate(items):
...         knn.add(session, item, float(t))
>>> items, scores = knn.recommend([1, 2], k=3, exclude=[1, 2])
>>> items.tolist(), scores.round(2).tolist()
([3, 4], [0.75, 0.75])
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

DENSE_VOTES = 32
"""Neighbour votes are summed over a dense array of item ids when the highest id voted
for is under this many times the number of votes (cheaper than sorting them then)."""

WEIGHTINGS: tuple[str, ...] = ("div", "linear", "same")
"""Position weights of the current session's items (latest first): ``div`` p / L,
``linear`` 1 - 0.1 (L - p) (at least 0), ``same`` 1 (plain SKNN's set overlap)."""


class SessionKNN:
    """Online session-based kNN (V-SKNN) over item indices.

    Parameters
    ----------
    n_neighbors : int
        Most similar sampled sessions whose items are scored.
    sample_size : int
        Most recently active candidate sessions compared with the current one;
        also how many latest sessions are remembered per item.
    max_sessions : int
        Sessions remembered; the oldest started is forgotten first.
    max_session_len : int
        Latest distinct items kept per session.
    weighting : str
        One of :data:`WEIGHTINGS`.

    Notes
    -----
    The similarity of a past session ``n`` to the current session ``s`` of
    ``L`` distinct items is ``sum(w(p) for item at position p of s in n) / L``.
    An item's list of sessions is ordered by when the session first took the
    item, which approximates recency for sessions still growing.
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 100,
        sample_size: int = 500,
        max_sessions: int = 50_000,
        max_session_len: int = 50,
        weighting: str = "div",
    ) -> None:
        for name, value in (
            ("n_neighbors", n_neighbors),
            ("sample_size", sample_size),
            ("max_sessions", max_sessions),
            ("max_session_len", max_session_len),
        ):
            if value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting: expected one of {WEIGHTINGS}, got {weighting!r}")
        self.n_neighbors = n_neighbors
        self.sample_size = sample_size
        self.max_sessions = max_sessions
        self.max_session_len = max_session_len
        self.weighting = weighting
        # a session lives in slot sid % max_sessions; an index entry holding an
        # evicted sid is recognised as stale because its slot now holds another sid
        self._slot_of: dict[Hashable, int] = {}
        self._slot_key: list[Hashable] = []
        self._slot_sid = np.zeros(0, dtype=np.int64)
        self._slot_ts = np.zeros(0, dtype=np.float64)
        self._slot_len = np.zeros(0, dtype=np.int64)
        self._slot_items = np.zeros((0, max_session_len), dtype=np.int64)
        # per item, its latest sessions: a ring of at most sample_size sids (-1: removed)
        self._item_sids: dict[int, np.ndarray] = {}
        self._item_added: dict[int, int] = {}
        self._next_sid = 0

    def __repr__(self) -> str:
        return (
            f"SessionKNN(n_neighbors={self.n_neighbors}, sample_size={self.sample_size}, "
            f"max_sessions={self.max_sessions}, max_session_len={self.max_session_len}, "
            f"weighting={self.weighting!r})"
        )

    @property
    def n_sessions(self) -> int:
        """Sessions held now."""
        return len(self._slot_of)

    def add(self, session_id: Hashable, item_idx: int, ts: float) -> None:
        """Learn one event: ``item_idx`` in session ``session_id`` at time ``ts`` (seconds)."""
        item = int(item_idx)
        if item < 0:
            raise ValueError(f"item_idx: expected an index >= 0, got {item_idx}")
        slot = self._slot_of.get(session_id)
        if slot is None:
            slot = self._open(session_id)
        sid = int(self._slot_sid[slot])
        n = int(self._slot_len[slot])
        row = self._slot_items[slot]
        found = np.flatnonzero(row[:n] == item)
        if len(found):  # a repeat moves the item to the latest position only
            p = int(found[0])
            row[p : n - 1] = row[p + 1 : n].copy()
            row[n - 1] = item
        else:
            if n == self.max_session_len:  # the oldest item leaves the session and its index
                self._unindex(int(row[0]), sid)
                row[: n - 1] = row[1:n].copy()
                n -= 1
            row[n] = item
            self._slot_len[slot] = n + 1
            self._index(item, sid)
        self._slot_ts[slot] = max(float(ts), float(self._slot_ts[slot]))

    def _index(self, item: int, sid: int) -> None:
        sids = self._item_sids.get(item)
        added = self._item_added.get(item, 0)
        if sids is None:
            sids = self._item_sids[item] = np.full(min(4, self.sample_size), -1, dtype=np.int64)
        elif added == len(sids) and len(sids) < self.sample_size:
            grown = np.full(min(2 * len(sids), self.sample_size), -1, dtype=np.int64)
            grown[: len(sids)] = sids
            sids = self._item_sids[item] = grown
        sids[added % len(sids)] = sid  # once full, the oldest entry is overwritten
        self._item_added[item] = added + 1

    def _unindex(self, item: int, sid: int) -> None:
        sids = self._item_sids.get(item)
        if sids is not None:
            sids[sids == sid] = -1

    def _open(self, session_id: Hashable) -> int:
        sid = self._next_sid
        self._next_sid += 1
        slot = sid % self.max_sessions
        if slot >= len(self._slot_sid):  # grow by doubling up to max_sessions
            size = min(self.max_sessions, max(1024, 2 * len(self._slot_sid)))
            grow = size - len(self._slot_sid)
            self._slot_sid = np.r_[self._slot_sid, np.full(grow, -1, dtype=np.int64)]
            self._slot_ts = np.r_[self._slot_ts, np.zeros(grow)]
            self._slot_len = np.r_[self._slot_len, np.zeros(grow, dtype=np.int64)]
            self._slot_items = np.vstack(
                [self._slot_items, np.zeros((grow, self.max_session_len), dtype=np.int64)]
            )
            self._slot_key.extend(None for _ in range(grow))
        else:
            old_key = self._slot_key[slot]
            if self._slot_sid[slot] >= 0 and self._slot_of.get(old_key) == slot:
                del self._slot_of[old_key]
        self._slot_sid[slot] = sid
        self._slot_ts[slot] = -np.inf
        self._slot_len[slot] = 0
        self._slot_key[slot] = session_id
        self._slot_of[session_id] = slot
        return slot

    def session_items(self, session_id: Hashable) -> list[int]:
        """The items held for a session, oldest first (empty when unknown or forgotten)."""
        slot = self._slot_of.get(session_id)
        if slot is None:
            return []
        return [int(i) for i in self._slot_items[slot, : self._slot_len[slot]]]

    def neighbors(
        self, session_items: Sequence[int], *, session_id: Hashable | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The nearest past sessions of a current session: (slots, similarities), best first.

        ``session_id`` names the current session when it is held, so it is not
        its own neighbour.
        """
        current = list(dict.fromkeys(reversed([int(i) for i in session_items])))[::-1]
        n = len(current)
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if n == 0:
            return empty
        pos = np.arange(1, n + 1, dtype=np.float64)  # 1 = oldest, n = latest
        if self.weighting == "div":
            weights = pos / n
        elif self.weighting == "linear":
            weights = np.maximum(1.0 - 0.1 * (n - pos), 0.0)
        else:
            weights = np.ones(n)
        chunks, counts = [], []
        for item in current:
            sids = self._item_sids.get(item)
            held = 0 if sids is None else min(self._item_added[item], len(sids))
            if held:
                assert sids is not None
                chunks.append(sids[:held])
            counts.append(held)
        if not chunks:
            return empty
        sids = np.concatenate(chunks)
        w_all = np.repeat(weights, counts)
        held_sid = sids >= 0  # -1: removed from the item's sessions
        slots = np.where(held_sid, sids % self.max_sessions, 0)
        live = held_sid & (self._slot_sid[slots] == sids)
        own = self._slot_of.get(session_id) if session_id is not None else None
        if own is not None:
            live &= slots != own
        slots, w_all = slots[live], w_all[live]
        if len(slots) == 0:
            return empty
        # dense sums over slots: cheaper than sorting the (item, session) pairs
        sim_all = np.bincount(slots, weights=w_all, minlength=len(self._slot_sid))
        cand = np.flatnonzero(sim_all > 0)
        if len(cand) > self.sample_size:  # the most recently active candidates
            recent = np.argpartition(-self._slot_ts[cand], self.sample_size - 1)
            cand = cand[recent[: self.sample_size]]
        sim = sim_all[cand] / n
        if len(cand) > self.n_neighbors:
            keep = np.argpartition(-sim, self.n_neighbors - 1)[: self.n_neighbors]
            cand, sim = cand[keep], sim[keep]
        order = np.lexsort((-self._slot_ts[cand], -sim))
        return cand[order], sim[order]

    def recommend(
        self,
        session_items: Sequence[int],
        k: int,
        exclude: Iterable[int] | np.ndarray = (),
        *,
        session_id: Hashable | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` items for a current session, best first, with their scores.

        Parameters
        ----------
        session_items : sequence of int
            The current session's items, oldest first (repeats count at their
            latest position).
        k : int
            Most items returned; fewer when the neighbours hold fewer.
        exclude : iterable of int or ndarray
            Items never returned (e.g. everything the user has seen).
        session_id : hashable, optional
            The current session's key when it is held, so it is not its own
            neighbour.

        Returns
        -------
        items, scores : ndarray
            Item indices (int64) and their summed neighbour similarity
            (float64, all > 0); ties go to the lower index.
        """
        if k < 1:
            raise ValueError(f"k: expected an integer >= 1, got {k}")
        cand, scores = self.votes(session_items, session_id=session_id)
        ex = exclude if isinstance(exclude, np.ndarray) else np.fromiter(exclude, dtype=np.int64)
        keep = scores > 0
        if len(ex):
            keep &= ~np.isin(cand, ex)
        cand, scores = cand[keep], scores[keep]
        order = np.lexsort((cand, -scores))[:k]  # ties to the lower index
        return cand[order], scores[order]

    def votes(
        self, session_items: Sequence[int], *, session_id: Hashable | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every item the nearest sessions hold, with its summed neighbour similarity:
        ``(items, scores)``, items sorted (a sparse vector over items; empty when the
        session shares no item with any held session)."""
        slots, sim = self.neighbors(session_items, session_id=session_id)
        if len(slots) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        lengths = self._slot_len[slots]
        held = np.arange(self.max_session_len) < lengths[:, None]
        found = self._slot_items[slots][held]
        weights = np.repeat(sim, lengths)
        if len(found) and int(found.max()) < DENSE_VOTES * len(found):
            # a dense sum over item ids beats sorting the votes; every similarity is > 0,
            # so the items voted for are those with a positive sum (the sums are the same
            # additions in the same order as below)
            sums = np.bincount(found, weights=weights)
            items = np.flatnonzero(sums > 0)
            return items, sums[items]
        items, inverse = np.unique(found, return_inverse=True)
        return items, np.bincount(inverse, weights=weights)

    def sessions(self) -> list[Hashable]:
        """The keys of the sessions held now."""
        return list(self._slot_of)

    def remove(self, session_id: Hashable) -> bool:
        """Forget a session and its items (a user's deletion); False when not held."""
        slot = self._slot_of.pop(session_id, None)
        if slot is None:
            return False
        sid = int(self._slot_sid[slot])
        for item in self._slot_items[slot, : self._slot_len[slot]]:
            self._unindex(int(item), sid)
        self._slot_sid[slot] = -1
        self._slot_len[slot] = 0
        self._slot_key[slot] = None
        return True


@dataclass
class _UserSession:
    number: int
    last_ts: float
    items: list[int] = field(default_factory=list)


class SessionTracker:
    """Each user's current session, from their timed events.

    Parameters
    ----------
    gap_s : float or None
        A user's event this many seconds or more after their previous one starts a
        new session. ``None``: one running session per user (for data without
        usable sessions), holding their latest ``max_len`` items.
    max_len : int
        Latest items kept of a session.

    Examples
    --------
    >>> tracker = SessionTracker(gap_s=1800.0)
    >>> tracker.add("ana", 7, 0.0)
    ('ana', 0)
    >>> tracker.current("ana", 60.0), tracker.current("ana", 4000.0)
    ([7], [])
    >>> tracker.add("ana", 8, 4000.0)
    ('ana', 1)
    """

    def __init__(self, gap_s: float | None = 1800.0, max_len: int = 50) -> None:
        if gap_s is not None and not gap_s > 0:
            raise ValueError(f"gap_s: expected seconds > 0 or None, got {gap_s}")
        if max_len < 1:
            raise ValueError(f"max_len: expected an integer >= 1, got {max_len}")
        self.gap_s = gap_s
        self.max_len = max_len
        self._users: dict[Hashable, _UserSession] = {}

    def _continues(self, held: _UserSession | None, ts: float) -> bool:
        return held is not None and (self.gap_s is None or ts - held.last_ts < self.gap_s)

    def current(self, user_id: Hashable, ts: float) -> list[int]:
        """Items of the session an event of ``user_id`` at ``ts`` would join (empty: a new one)."""
        held = self._users.get(user_id)
        return list(held.items) if held is not None and self._continues(held, ts) else []

    def key(self, user_id: Hashable, ts: float) -> Hashable | None:
        """Key of the session an event at ``ts`` would join; None when it would start one."""
        held = self._users.get(user_id)
        if held is None or not self._continues(held, ts):
            return None
        return user_id if self.gap_s is None else (user_id, held.number)

    def add(self, user_id: Hashable, item_idx: int, ts: float) -> Hashable:
        """Record an event; returns its session's key (for :meth:`SessionKNN.add`)."""
        held = self._users.get(user_id)
        if held is None:
            held = self._users[user_id] = _UserSession(0, ts)
        elif not self._continues(held, ts):
            held.number += 1
            held.items = []
        held.last_ts = max(held.last_ts, ts)
        held.items.append(int(item_idx))
        if len(held.items) > self.max_len:
            del held.items[0]
        return user_id if self.gap_s is None else (user_id, held.number)
