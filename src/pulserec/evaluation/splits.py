"""Deterministic train / validation / test splits of an event frame.

Two protocols, matching RecBole's public ones so figures are comparable:

* ``random811`` — per user, shuffle, then 80 % train, 10 % validation,
  10 % test (RecBole's ``RS: [0.8, 0.1, 0.1]``, ``group_by: user``, including
  its rounding for users with fewer than ten interactions).
* ``loo`` — per user in time order: last interaction to test, second-last to
  validation; users with fewer than three interactions stay whole in train.

Fixed splits can be read from and written to a folder holding
``train.csv``, ``valid.csv`` and ``test.csv`` (header ``user_id,item_id,timestamp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pulserec.catalog.idmap import IdMap
from pulserec.config import DEFAULT_SEED
from pulserec.events.base import DataFormatError
from pulserec.events.interactions import Interactions
from pulserec.types import NEGATIVE_TYPES

PROTOCOLS = ("random811", "loo")
SPLIT_FILES = ("train", "valid", "test")
SPLIT_COLUMNS = ["user_id", "item_id", "timestamp"]


@dataclass
class Split:
    """Three disjoint parts of one event frame."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    protocol: str
    seed: int | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


@dataclass
class SplitData:
    """A split as interaction matrices sharing one user and one item index space."""

    train: Interactions
    valid: Interactions
    test: Interactions
    protocol: str

    @property
    def n_users(self) -> int:
        return self.train.n_users

    @property
    def n_items(self) -> int:
        return self.train.n_items


def positive_interactions(events: pd.DataFrame) -> pd.DataFrame:
    """Positive events with an item, first occurrence of each (user, item) pair, in time order.

    Every positive event counts as one implicit interaction (no rating threshold).
    """
    ev = events
    if "type" in ev.columns:
        ev = ev[~ev["type"].isin(NEGATIVE_TYPES)]
    ev = ev[ev["item_id"].notna()]
    order = np.argsort(ev["timestamp"].to_numpy(dtype=np.float64), kind="stable")
    ev = ev.iloc[order]
    ev = ev.drop_duplicates(subset=["user_id", "item_id"], keep="first")
    return ev.loc[:, SPLIT_COLUMNS].reset_index(drop=True)


def _group_positions(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by user: each row's position within its user, and its user's size."""
    n = len(users)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, n])
    size_per_row = np.repeat(sizes, sizes)
    pos = np.arange(n) - np.repeat(starts, sizes)
    return pos, size_per_row


def random811(events: pd.DataFrame, seed: int = DEFAULT_SEED) -> Split:
    """Per-user random 80/10/10 split of the positive interactions."""
    ev = positive_interactions(events)
    rng = np.random.default_rng(seed)
    keys = rng.random(len(ev))
    user_codes = pd.factorize(ev["user_id"])[0]
    order = np.lexsort((keys, user_codes))
    ev = ev.iloc[order].reset_index(drop=True)
    pos, n = _group_positions(user_codes[order])
    n_valid = np.floor(0.1 * n).astype(np.int64)
    n_test = n_valid.copy()
    n_train = n - n_valid - n_test
    # RecBole's rounding: a part whose share is below one interaction still
    # gets one, taken from train, while train keeps more than one.
    small = (n > 0) & (n < 10)
    give_test = small & (n_train > 1)
    n_test += give_test
    n_train -= give_test
    give_valid = small & (n_train > 1)
    n_valid += give_valid
    n_train -= give_valid
    part = np.where(pos < n_train, 0, np.where(pos < n_train + n_valid, 1, 2))
    return Split(
        ev[part == 0].reset_index(drop=True),
        ev[part == 1].reset_index(drop=True),
        ev[part == 2].reset_index(drop=True),
        "random811",
        seed,
    )


def leave_one_out(events: pd.DataFrame) -> Split:
    """Per user by time: last interaction to test, second-last to validation."""
    ev = positive_interactions(events)
    user_codes = pd.factorize(ev["user_id"])[0]
    order = np.argsort(user_codes, kind="stable")  # keeps time order within a user
    ev = ev.iloc[order].reset_index(drop=True)
    pos, n = _group_positions(user_codes[order])
    from_end = n - pos  # 1 for the last interaction
    enough = n >= 3
    part = np.where(enough & (from_end == 1), 2, np.where(enough & (from_end == 2), 1, 0))
    return Split(
        ev[part == 0].reset_index(drop=True),
        ev[part == 1].reset_index(drop=True),
        ev[part == 2].reset_index(drop=True),
        "loo",
    )


def make_split(events: pd.DataFrame, protocol: str, seed: int = DEFAULT_SEED) -> Split:
    """Split by protocol name (``random811`` or ``loo``)."""
    if protocol == "random811":
        return random811(events, seed)
    if protocol == "loo":
        return leave_one_out(events)
    raise ValueError(f"protocol: unknown {protocol!r}; expected one of {list(PROTOCOLS)}")


def write_split(split: Split, directory: str | Path) -> Path:
    """Write ``train.csv``, ``valid.csv`` and ``test.csv`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in SPLIT_FILES:
        frame: pd.DataFrame = getattr(split, name)
        frame.loc[:, SPLIT_COLUMNS].to_csv(directory / f"{name}.csv", index=False)
    return directory


def read_split(directory: str | Path, protocol: str = "fixed") -> Split:
    """Read a fixed split written by :func:`write_split` or by another tool."""
    directory = Path(directory)
    parts = {}
    for name in SPLIT_FILES:
        path = directory / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: a split folder needs {', '.join(SPLIT_FILES)} .csv")
        frame = pd.read_csv(path, dtype={"user_id": str, "item_id": str}, keep_default_na=False)
        missing = [c for c in SPLIT_COLUMNS if c not in frame.columns]
        if missing:
            raise DataFormatError(
                str(path), 1, missing[0], f"header must be {','.join(SPLIT_COLUMNS)}"
            )
        ts = pd.to_numeric(frame["timestamp"], errors="coerce")
        bad = np.flatnonzero(ts.isna().to_numpy())
        if len(bad):
            raise DataFormatError(str(path), int(bad[0]) + 2, "timestamp", "not a number")
        for col in ("user_id", "item_id"):
            empty = np.flatnonzero((frame[col].str.len() == 0).to_numpy())
            if len(empty):
                raise DataFormatError(str(path), int(empty[0]) + 2, col, "empty id")
        frame["timestamp"] = ts.astype(np.float64)
        parts[name] = frame.loc[:, SPLIT_COLUMNS]
    return Split(parts["train"], parts["valid"], parts["test"], protocol)


def to_split_data(split: Split, items: list[str] | None = None) -> SplitData:
    """Matrices for a split; the item space is ``items`` (the catalog) plus every split item.

    Full ranking happens over this whole item space.
    """
    users = IdMap()
    for part in (split.train, split.valid, split.test):
        users.add(part["user_id"].astype(str).tolist())
    item_map = IdMap(items or [])
    for part in (split.train, split.valid, split.test):
        item_map.add(part["item_id"].astype(str).tolist())
    return SplitData(
        Interactions.from_events(split.train, users, item_map),
        Interactions.from_events(split.valid, users, item_map),
        Interactions.from_events(split.test, users, item_map),
        split.protocol,
    )
