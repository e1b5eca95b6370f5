"""Durable storage backends, chosen by URL."""

from pulserec.storage.base import (
    BACKENDS,
    Storage,
    StorageUnavailable,
    StoredEvent,
    open_storage,
)
from pulserec.storage.memory import MemoryStorage
from pulserec.storage.sqlite import SQLiteStorage

__all__ = [
    "BACKENDS",
    "MemoryStorage",
    "SQLiteStorage",
    "Storage",
    "StorageUnavailable",
    "StoredEvent",
    "open_storage",
]
