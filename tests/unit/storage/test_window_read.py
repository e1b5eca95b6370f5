"""Reading the log by event time on each backend: ``events(since_ts=...)`` returns what
filtering the whole log gives, and ``newest_timestamp`` its latest non-spam time, reading
no more than they need; a refit's window (``events_frame``) is the frame that reading the
whole log and filtering it gave.

Known answer: a log of 600 events of 20 users, stamped one second apart in log order but
jittered by up to ±90 s (event times need not follow the log), every 13th spam, and the
latest time of all on a spam event. On Redis the log is archived to several files first, so
a cutoff falls inside a file, and files wholly before it are not read.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pulserec.engine.training import EVENT_COLUMNS, EVENT_TYPES, events_frame
from pulserec.storage import Storage, open_storage
from pulserec.storage import archive as archive_module
from pulserec.storage import sqlite as sqlite_module
from pulserec.storage.redis import RedisStorage
from pulserec.storage.redis_archive import archive_log
from pulserec.storage.sqlite import SQLiteStorage
from pulserec.types import Event

N = 600
WINDOWS = [0.0, 1.0, 30.0, 95.5, 200.0, 550.0, 10_000.0]
CUTOFFS = [-1.0, 900.0, 1100.0, 1333.3, 1449.0, 1450.0, 1600.0, 1689.0, 4999.0, 5000.0, 6e3]


def log() -> tuple[list[Event], list[bool]]:
    rng = random.Random(7)
    events, spam = [], []
    for j in range(N):
        t = 1000.0 + j + rng.uniform(-90, 90)
        text = f"note {j}" if j % 41 == 0 else None
        kind = "comment" if text else "click"
        value = 4.0 if j % 7 == 0 else None
        events.append(Event(f"u{j % 20}", f"i{j % 31}", kind, t, value, text))
        spam.append(j % 13 == 5)
    events[-40] = Event("spammer", "i1", "click", 5000.0)  # the latest time: spam
    spam[-40] = True
    return events, spam


def read_all_then_filter(storage: Storage, window_s: float) -> pd.DataFrame:
    """``events_frame`` as it was: the whole log, then the window in pandas."""
    rows = [
        (e.user_id, e.item_id, e.type, e.timestamp, e.value, e.text)
        for s in storage.events()
        if not s.spam
        for e in (s.event,)
    ]
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    if window_s > 0 and len(frame):
        times = frame["timestamp"]
        frame = frame[times >= times.max() - window_s].reset_index(drop=True)
    return frame


def filled(url: str, folder: Path, archived: bool = False) -> Storage:
    """A storage holding :func:`log`; ``archived``: a Redis one whose events older than
    1,450 s (about 380 of them) left for files of 100 events."""
    s = open_storage(url)
    events, spam = log()
    for lo in range(0, N, 250):
        s.append(events[lo : lo + 250], spam[lo : lo + 250])
    if archived:
        assert isinstance(s, RedisStorage)
        report = archive_log(s, retention_s=150.0, folder=folder, now=1600.0, max_events=100)
        assert len(report.files) == 4
    return s


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-archived"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    name = request.param
    if name.startswith("redis"):
        base = request.getfixturevalue("redis_url")
        url = f"{base}?prefix={request.getfixturevalue('redis_prefix')}"
    else:
        url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path}/p.db"}[name]
    s = filled(url, tmp_path, archived=name == "redis-archived")
    yield s
    s.close()


def test_since_ts_reads_what_filtering_the_whole_log_gives(storage: Storage) -> None:
    whole = [(s.seq, s.event, s.spam) for s in storage.events()]
    assert len(whole) == N
    for cutoff in CUTOFFS:
        for after in (0, 200, 420):
            got = storage.events(since_ts=cutoff, after_seq=after)
            read = [(s.seq, s.event, s.spam) for s in got]
            assert read == [r for r in whole if r[0] > after and r[1].timestamp >= cutoff]
    assert [s.seq for s in storage.events(since_ts=5000.0)] == [N - 39]


def test_the_newest_time_is_the_latest_of_the_events_not_spam(storage: Storage) -> None:
    events, spam = log()
    top = max(e.timestamp for e, flag in zip(events, spam, strict=True) if not flag)
    assert 1600.0 < top < 1700.0
    assert storage.newest_timestamp() == top


@pytest.mark.parametrize("window", WINDOWS)
def test_the_window_frame_is_the_whole_read_filtered(storage: Storage, window: float) -> None:
    expected = read_all_then_filter(storage, window)
    got = events_frame(storage, window)
    # the one difference: the columns' types no longer depend on which rows were read
    # (pandas makes a column of None alone objects, with a value or a text floats or str)
    pd.testing.assert_frame_equal(got, expected.astype(EVENT_TYPES))
    if 0 < window < 500:
        assert 0 < len(got) < len(read_all_then_filter(storage, 0.0))


def test_the_window_ends_at_the_newest_event_not_spam(storage: Storage) -> None:
    newest = storage.newest_timestamp()
    assert newest is not None
    frame = events_frame(storage, 30.0)
    assert frame["timestamp"].min() >= newest - 30.0 and frame["timestamp"].max() == newest


def test_an_empty_or_all_spam_log_gives_an_empty_window(tmp_path: Path) -> None:
    s = open_storage(f"sqlite:///{tmp_path}/p.db")
    assert events_frame(s, 60.0).empty
    s.append([Event("a", "x", "click", 1.0)], spam=[True])
    frame = events_frame(s, 60.0)
    assert frame.empty and list(frame.columns) == EVENT_COLUMNS
    assert frame.dtypes.to_dict() == events_frame(s).dtypes.to_dict()
    s.close()


def test_events_newer_than_the_window_read_narrow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """An event appended between finding the newest time and reading the window moves it:
    the frame is the window of what the read saw."""
    s = open_storage("memory://")
    s.append([Event("a", "x", "click", 10.0), Event("b", "y", "click", 20.0)])
    found = s.newest_timestamp

    def then_append() -> float | None:
        newest = found()
        s.append([Event("c", "z", "click", 25.0)])
        return newest

    monkeypatch.setattr(s, "newest_timestamp", then_append)
    assert events_frame(s, 10.0)["timestamp"].tolist() == [20.0, 25.0]


def test_a_newest_event_deleted_during_the_read_reads_the_window_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = open_storage("memory://")
    s.append([Event("a", "x", "click", 5.0), Event("a", "y", "click", 10.0),
              Event("b", "y", "click", 30.0)])  # fmt: skip
    found = s.newest_timestamp
    calls = []

    def then_delete() -> float | None:
        newest = found()
        if not calls:
            s.delete_user("b")
        calls.append(newest)
        return newest

    monkeypatch.setattr(s, "newest_timestamp", then_delete)
    assert events_frame(s, 6.0)["timestamp"].tolist() == [5.0, 10.0]
    assert calls == [30.0, 10.0]


def test_files_before_the_cutoff_are_not_read(
    redis_url: str, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = filled(f"{redis_url}?prefix={redis_prefix}", tmp_path, archived=True)
    assert isinstance(storage, RedisStorage)
    archive = storage.archive()
    assert archive is not None
    read: list[str] = []

    class Spy(pq.ParquetFile):
        def __init__(self, source: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(source, *args, **kwargs)
            self.name = Path(source).name

        def read_row_groups(self, *args: Any, **kwargs: Any) -> Any:
            read.append(self.name)
            return super().read_row_groups(*args, **kwargs)

        def read_row_group(self, *args: Any, **kwargs: Any) -> Any:
            read.append(self.name)
            return super().read_row_group(*args, **kwargs)

    monkeypatch.setattr(archive_module.pq, "ParquetFile", Spy)
    assert storage.newest_timestamp() is not None
    assert read == []  # the live log holds the newest time; no file ends later
    # the archived events end before 1,450 s; a cutoff at 1,400 s starts in the last file
    ends = {f.path.name: pq.read_table(f.path)["timestamp"] for f in archive.files()}
    reached = sorted(name for name, times in ends.items() if max(times.to_pylist()) >= 1400.0)
    assert reached == [archive.files()[-1].path.name]
    times = [s.event.timestamp for s in storage.events(since_ts=1400.0)]
    assert sorted(set(read)) == reached
    assert min(times) >= 1400.0 and any(t < 1450.0 for t in times)  # archived ones too
    storage.close()


def test_a_trim_between_two_pages_of_a_time_bounded_read_loses_nothing(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    s = open_storage(f"{redis_url}?prefix={redis_prefix}")
    assert isinstance(s, RedisStorage)
    s.append([Event(f"u{j % 7}", "x", "click", float(j)) for j in range(3000)])
    reader = s.events(since_ts=1000.0)
    first = [next(reader) for _ in range(10)]  # a page (250 entries) is scanned in Redis
    assert [e.seq for e in first] == list(range(1001, 1011))
    archive_log(s, retention_s=10.0, folder=tmp_path, now=2500.0)  # trims to 2,490
    rest = [e.seq for e in reader]
    assert [e.seq for e in first] + rest == list(range(1001, 3001))
    s.close()


def test_the_newest_time_may_be_archived(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    """An old-dated event stamped in the future was archived; the live log is older."""
    s = open_storage(f"{redis_url}?prefix={redis_prefix}")
    assert isinstance(s, RedisStorage)
    s.append([Event("a", "x", "click", 1.0), Event("a", "y", "click", 9_000.0),
              Event("s", "y", "click", 9_500.0), Event("b", "z", "click", 2.0)],
             spam=[False, False, True, False])  # fmt: skip
    # the clock runs past 9,000 s: everything but the last event, newer than the window
    archive_log(s, retention_s=100.0, folder=tmp_path, now=9_600.0)
    s.append([Event("c", "x", "click", 3.0)])
    assert len(list(s.events(since_ts=0))) == 5
    assert s.newest_timestamp() == 9_000.0
    assert [e.seq for e in s.events(since_ts=8_990.0)] == [2, 3]
    s.close()


def test_an_earlier_database_gets_the_timestamp_index(tmp_path: Path) -> None:
    """A file written before the index existed opens, is indexed once, and reads alike."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE,"
        " user_id TEXT NOT NULL, item_id TEXT, type TEXT NOT NULL, timestamp REAL NOT NULL,"
        " value REAL, text TEXT, spam INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX events_user ON events (user_id, seq);"
        "INSERT INTO events (user_id, item_id, type, timestamp) VALUES"
        " ('a', 'x', 'click', 30.0), ('b', 'y', 'click', 10.0), ('a', 'z', 'click', 25.0);"
    )
    conn.commit()
    conn.close()
    s = open_storage(f"sqlite:///{path}")
    indexes = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "events_time" in indexes
    assert s.newest_timestamp() == 30.0
    assert [e.event.item_id for e in s.events(since_ts=25.0)] == ["x", "z"]
    s.append([Event("c", "w", "click", 12.0)])
    assert [e.seq for e in s.events(since_ts=11.0)] == [1, 3, 4]
    s.close()


def test_sqlite_reads_the_window_and_the_newest_time_through_the_index(tmp_path: Path) -> None:
    s = open_storage(f"sqlite:///{tmp_path}/p.db")
    assert isinstance(s, SQLiteStorage)
    s.append(log()[0][:50])
    ran: list[str] = []
    s._conn.set_trace_callback(ran.append)
    assert s.newest_timestamp() is not None and list(s.events(since_ts=1000.0))
    s._conn.set_trace_callback(None)
    assert len(ran) == 2
    for sql in ran:  # both read the timestamp index, not the table
        plan = " ".join(str(row) for row in s._conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "USING INDEX events_time" in plan, (sql, plan)
    s.close()


def test_a_whole_read_of_sqlite_in_pages_is_the_whole_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = filled(f"sqlite:///{tmp_path}/p.db", tmp_path)
    whole = [(s.seq, s.event, s.spam) for s in storage.events()]
    monkeypatch.setattr(sqlite_module, "_PAGE", 7)  # 600 events: 86 pages, the last short
    assert [(s.seq, s.event, s.spam) for s in storage.events()] == whole
    assert [s.seq for s in storage.events(after_seq=30)] == [r[0] for r in whole if r[0] > 30]
    monkeypatch.setattr(sqlite_module, "_PAGE", 50)  # 600 events: the last page is full
    assert [(s.seq, s.event, s.spam) for s in storage.events()] == whole
    storage.close()
