"""The online loop: served lists, attribution of events to them, online metrics,
experiments and their statistics (see docs/online.md)."""

from pulserec.online.base import Attribution, OnlineStore, ServedList
from pulserec.online.loop import ExperimentError, OnlineLoop
from pulserec.online.stores import open_online_store

__all__ = [
    "Attribution",
    "ExperimentError",
    "OnlineLoop",
    "OnlineStore",
    "ServedList",
    "open_online_store",
]
