"""What the online loop records, and the protocol of the stores that keep it.

One :class:`ServedList` row per list served (not one per item), one :class:`Attribution`
row per event counted for a list, one JSON document per experiment. The storage backends
each have a store (:mod:`pulserec.online.stores`), chosen by the event log's URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServedList:
    """A list the engine answered with: who saw which items where, in which variant.

    ``user_id`` is empty for a list served to nobody in particular (items similar to
    an item, asked without a user). ``novelty`` is the mean self-information,
    ``-log2`` of the share of interactions, of its items when it was served.
    """

    recommendation_id: str
    user_id: str
    placement: str
    variant: str
    timestamp: float
    item_ids: tuple[str, ...]
    novelty: float = 0.0
    experiment: str = ""


@dataclass(frozen=True, slots=True)
class Attribution:
    """An event counted for the list that showed its item, at a 1-based position."""

    recommendation_id: str
    user_id: str
    item_id: str
    type: str
    position: int
    timestamp: float
    served_at: float
    placement: str
    variant: str
    experiment: str = ""
    explicit: bool = False


class OnlineStore(ABC):
    """Durable rows of the online loop; every write is committed before it returns."""

    @abstractmethod
    def append_lists(self, lists: Iterable[ServedList]) -> None:
        """Write served lists (one transaction)."""

    @abstractmethod
    def lists(self, *, since: float = 0.0) -> Iterator[ServedList]:
        """Served lists with ``timestamp >= since``, oldest first."""

    @abstractmethod
    def get_list(self, recommendation_id: str) -> ServedList | None:
        """One served list by id, or None."""

    @abstractmethod
    def append_attributions(self, rows: Iterable[Attribution], *, sync: bool = True) -> None:
        """Write attributed events (one transaction). ``sync=False`` lets a store that
        shares a write-ahead log with the events skip its own flush to disk: the events'
        commit that follows flushes both."""

    @abstractmethod
    def delete_attributions(self, rows: Iterable[Attribution]) -> None:
        """Remove attributed events written for events that were then not stored."""

    @abstractmethod
    def attributions(self, *, since: float = 0.0) -> Iterator[Attribution]:
        """Attributed events whose list was served at or after ``since``, oldest first."""

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Remove a user's lists and attributed events; returns how many lists went."""

    @abstractmethod
    def put_experiment(self, name: str, document: str) -> None:
        """Create or replace an experiment's JSON document."""

    @abstractmethod
    def experiments(self) -> dict[str, str]:
        """Every experiment's JSON document by name."""

    def close(self) -> None:
        """Release connections."""
