"""Durable storage of events and items, chosen by URL.

``memory://`` keeps everything in the process (tests, replay);
``sqlite:///path/to/pulserec.db`` is the embedded default. Backends register
their URL scheme in :data:`BACKENDS`, so the engine never names one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from pulserec.types import Event, Item


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it: with its sequence number and spam flag."""

    seq: int
    event: Event
    spam: bool = False


class StorageUnavailable(RuntimeError):
    """The storage server cannot be reached now; the request may be retried later.

    Raised instead of a driver's connection or timeout error, so callers (the
    HTTP service answers 503) need not know which backend is in use. A write
    that raised this was not acknowledged.
    """


class Storage(ABC):
    """The event log (append-only) and the item table of one deployment.

    ``shared`` is True for a backend that several processes write at once
    (Redis): a process must then read a user's log tail before trusting the
    state it holds for that user.
    """

    url: str
    shared: bool = False

    @abstractmethod
    def append(
        self, events: Sequence[Event], spam: Sequence[bool] | None = None
    ) -> list[int | None]:
        """Append events durably (committed before returning).

        Returns the new sequence number of each event, or ``None`` for an event
        whose ``event_id`` is already in the log (an idempotent retry).
        """

    @abstractmethod
    def events(
        self, *, user_id: str | None = None, after_seq: int = 0, since_ts: float | None = None
    ) -> Iterator[StoredEvent]:
        """Stored events in sequence order, optionally of one user, after a sequence number,
        and stamped at ``since_ts`` or later.

        Timestamps are event times, not in log order: ``since_ts`` filters, the order
        stays the log's. A backend reads no more of its log than the filter needs where it
        can (an index, files whose time range ends before ``since_ts``).
        """

    def newest_timestamp(self) -> float | None:
        """The latest timestamp of the log's events that are not spam; None when it has
        none. (A scan; backends do it cheaper.)"""
        return max((s.event.timestamp for s in self.events() if not s.spam), default=None)

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Remove every event of a user; returns how many were removed."""

    @abstractmethod
    def upsert_items(self, items: Iterable[Item]) -> int:
        """Insert or replace items; returns how many were written."""

    @abstractmethod
    def delete_item(self, item_id: str) -> bool:
        """Remove an item; True when it existed."""

    @abstractmethod
    def items(self) -> Iterator[Item]:
        """Every stored item."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """``{"events": n, "users": n, "items": n}``."""

    @abstractmethod
    def put_document(self, kind: str, name: str, body: str | None) -> None:
        """Store an operator's named configuration (JSON text) of a kind, e.g. a
        placement; ``None`` deletes it."""

    @abstractmethod
    def documents(self, kind: str) -> dict[str, str]:
        """Every stored document of a kind, by name."""

    def user_history(self, user_id: str) -> list[StoredEvent]:
        """Every event of a user in sequence order, archived ones included.

        ``events(user_id=...)`` reads what restores a user's real-time state, which on a
        backend that archives its log (Redis) is the retained window only; a user's
        deletion and a session's merge need all of it.
        """
        return list(self.events(user_id=user_id))

    def user_ids(self) -> set[str]:
        """The users with at least one event in the log (a scan; backends do it cheaper)."""
        return {stored.event.user_id for stored in self.events()}

    def close(self) -> None:
        """Release connections and files."""


BACKENDS: dict[str, Callable[[str], Storage]] = {}
"""URL scheme -> factory taking the full URL."""


def open_storage(url: str) -> Storage:
    """Open the storage a URL names, e.g. ``sqlite:///data/pulserec.db`` or ``memory://``."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in BACKENDS:
        import pulserec.storage.memory
        import pulserec.storage.redis
        import pulserec.storage.sqlite  # noqa: F401  (registers the backends)
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise ValueError(
            f"storage_url: unknown scheme {scheme!r} in {url!r}; known: {sorted(BACKENDS)}"
        )
    return factory(url)
