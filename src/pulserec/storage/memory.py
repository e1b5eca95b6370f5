"""Storage that lives in the process: for tests and offline replay."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pulserec.storage.base import BACKENDS, Storage, StoredEvent
from pulserec.types import Event, Item


class MemoryStorage(Storage):
    """Lists and dicts; nothing survives the process."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._events: list[StoredEvent] = []
        self._by_user: dict[str, list[StoredEvent]] = {}
        self._event_ids: set[str] = set()
        self._items: dict[str, Item] = {}
        self._documents: dict[str, dict[str, str]] = {}
        self._seq = 0

    def append(
        self, events: Sequence[Event], spam: Sequence[bool] | None = None
    ) -> list[int | None]:
        flags = list(spam) if spam is not None else [False] * len(events)
        out: list[int | None] = []
        for event, flag in zip(events, flags, strict=True):
            if event.event_id is not None:
                if event.event_id in self._event_ids:
                    out.append(None)
                    continue
                self._event_ids.add(event.event_id)
            self._seq += 1
            stored = StoredEvent(self._seq, event, flag)
            self._events.append(stored)
            self._by_user.setdefault(event.user_id, []).append(stored)
            out.append(self._seq)
        return out

    def events(
        self, *, user_id: str | None = None, after_seq: int = 0, since_ts: float | None = None
    ) -> Iterator[StoredEvent]:
        source = self._events if user_id is None else self._by_user.get(user_id, [])
        for stored in list(source):
            if stored.seq > after_seq and (since_ts is None or stored.event.timestamp >= since_ts):
                yield stored

    def delete_user(self, user_id: str) -> int:
        keep = [s for s in self._events if s.event.user_id != user_id]
        removed = len(self._events) - len(keep)
        self._events = keep
        self._by_user.pop(user_id, None)
        return removed

    def upsert_items(self, items: Iterable[Item]) -> int:
        n = 0
        for item in items:
            self._items[item.item_id] = item
            n += 1
        return n

    def delete_item(self, item_id: str) -> bool:
        return self._items.pop(item_id, None) is not None

    def items(self) -> Iterator[Item]:
        return iter(list(self._items.values()))

    def put_document(self, kind: str, name: str, body: str | None) -> None:
        docs = self._documents.setdefault(kind, {})
        if body is None:
            docs.pop(name, None)
        else:
            docs[name] = body

    def documents(self, kind: str) -> dict[str, str]:
        return dict(self._documents.get(kind, {}))

    def user_ids(self) -> set[str]:
        return {user for user, events in self._by_user.items() if events}

    def counts(self) -> dict[str, int]:
        return {"events": len(self._events), "users": len(self._by_user), "items": len(self._items)}


BACKENDS["memory"] = MemoryStorage
