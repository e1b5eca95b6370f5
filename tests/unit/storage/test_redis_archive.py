"""Archiving a Redis log to Parquet and trimming it, on a real throwaway redis-server.

Known answer: a log of 1,200 events of 30 users, one second apart (times 0 to 1,199), a few
old-dated ones among them; with the clock at 1,200 and a 400 s window, the events up to
the first one stamped 800 or later leave Redis for the archive, and every read of the
whole log still returns the 1,200 events, once each, in sequence order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pulserec.storage import open_storage
from pulserec.storage import redis_archive as ra
from pulserec.storage.archive import FILE_NAME, LogArchive
from pulserec.storage.redis import RedisStorage
from pulserec.storage.redis_archive import archive_log
from pulserec.types import Event

N, USERS, NOW, WINDOW = 1200, 30, 1200.0, 400.0


@pytest.fixture
def storage(redis_url: str, redis_prefix: str) -> Iterator[RedisStorage]:
    s = open_storage(f"{redis_url}?prefix={redis_prefix}")
    assert isinstance(s, RedisStorage)
    yield s
    s.close()


def history(n: int = N) -> list[Event]:
    out = []
    for j in range(n):
        kind = "comment" if j % 97 == 0 else "click"
        text = f"remark {j}" if kind == "comment" else None
        out.append(Event(f"u{j % USERS}", f"i{j % 50}", kind, float(j), text=text,
                         event_id=f"e{j}" if j % 3 == 0 else None))  # fmt: skip
    return out


def fill(storage: RedisStorage, events: list[Event]) -> list[tuple[int, Event]]:
    seqs = []
    for lo in range(0, len(events), 500):
        seqs += storage.append(events[lo : lo + 500])
    return list(zip(seqs, events, strict=True))  # type: ignore[arg-type]


def whole(storage: RedisStorage, after_seq: int = 0) -> list[tuple[int, Event]]:
    return [(s.seq, s.event) for s in storage.events(after_seq=after_seq)]


def xlen(storage: RedisStorage, name: str) -> int:
    return int(storage.client.xlen(storage.key(name)))


def test_archive_and_trim_keep_every_event_readable_once_in_order(
    storage: RedisStorage, tmp_path: Path
) -> None:
    logged = fill(storage, history())
    before = storage.client.memory_usage(storage.key("log"), samples=0)
    report = archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW, max_events=300)
    assert report.events == 800 and len(report.files) == 3  # 300 + 300 + 200 a file
    assert [p.name for p in report.files] == [
        "events-00000000000000000001-00000000000000000300.parquet",
        "events-00000000000000000301-00000000000000000600.parquet",
        "events-00000000000000000601-00000000000000000800.parquet",
    ]
    # Redis keeps the window only, in the log and in each user's stream
    assert xlen(storage, "log") == 400
    assert storage.client.memory_usage(storage.key("log"), samples=0) < before / 2
    assert sum(xlen(storage, f"u:u{u}") for u in range(USERS)) == 400
    assert [s.seq for s in storage.events(user_id="u7")] == list(range(818, 1201, USERS))
    # the whole log reads the same, once each and in order, from anywhere in it
    assert whole(storage) == logged
    assert whole(storage, after_seq=450) == logged[450:]
    assert whole(storage, after_seq=1000) == logged[1000:]
    assert storage.counts() == {"events": N, "users": USERS, "items": 0}
    assert storage.last_seq() == N
    # a user's history joins the archive and their stream
    assert [s.seq for s in storage.user_history("u7")] == list(range(8, 1201, USERS))
    # rows are sorted by user inside a file; files are private
    table = pq.read_table(report.files[0])
    assert table.column("user_id").to_pylist() == sorted(table.column("user_id").to_pylist())
    assert oct(report.files[0].stat().st_mode & 0o777) == "0o600"
    # nothing more is old enough: a second run writes nothing
    again = archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW)
    assert again.events == 0 and not again.files
    assert whole(storage) == logged


def test_an_event_newer_than_the_window_stops_the_archive_there(
    storage: RedisStorage, tmp_path: Path
) -> None:
    events = history(100)
    events[40] = Event("u1", "late", "click", 950.0)  # newer than the window at seq 41
    events[60] = Event("u2", "old", "click", 1.0)  # old-dated, after it: waits with it
    logged = fill(storage, events)
    report = archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW)
    assert report.events == 40
    assert next(s.seq for s in storage.events(user_id="u1")) == 41
    assert whole(storage) == logged


def test_a_trim_between_two_pages_of_a_read_loses_nothing(
    storage: RedisStorage, tmp_path: Path
) -> None:
    logged = fill(storage, history(3000))
    reader = storage.events()
    first = [next(reader) for _ in range(10)]  # the first page (1,000 entries) is read
    archive_log(storage, retention_s=10.0, folder=tmp_path, now=2500.0)  # trims to 2,490
    rest = [(s.seq, s.event) for s in reader]
    assert [(s.seq, s.event) for s in first] + rest == logged


def test_a_crash_between_the_file_and_the_trim_is_finished_by_the_next_run(
    storage: RedisStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged = fill(storage, history())
    real_trim = ra._trim

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed after the file was written")

    monkeypatch.setattr(ra, "_trim", crash)
    with pytest.raises(KeyboardInterrupt):
        archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW, max_events=300)
    monkeypatch.setattr(ra, "_trim", real_trim)
    files = LogArchive(tmp_path / storage.prefix).files()
    assert [(f.lo, f.hi) for f in files] == [(1, 300)] and xlen(storage, "log") == N
    # the file and the untrimmed log together still read as the log, once each
    assert whole(storage) == logged
    assert storage.counts()["events"] == N  # the archive counts once trimmed
    # more events arrive; the next run finishes the trim, then carries on after the file
    logged += fill(storage, [Event("u1", "i1", "click", 1300.0)])
    report = archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW, max_events=300)
    assert report.recovered == 300 and report.events == 500
    files = LogArchive(tmp_path / storage.prefix).files()
    assert [(f.lo, f.hi) for f in files] == [(1, 300), (301, 600), (601, 800)]
    assert sum(pq.read_metadata(f.path).num_rows for f in files) == 800  # none twice
    assert xlen(storage, "log") == 401 and whole(storage) == logged
    assert storage.counts()["events"] == N + 1


def test_a_deleted_user_leaves_the_archive_and_never_comes_back(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    url = f"{redis_url}?prefix={redis_prefix}"
    storage, other = open_storage(url), open_storage(url)  # two processes
    assert isinstance(storage, RedisStorage) and isinstance(other, RedisStorage)
    logged = fill(storage, history())
    archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW, max_events=300)
    assert other.tail("u3", 0) is not None  # a process holding u3's state reads on
    # u3's events (each with an event id): 27 archived, 13 live; another process deletes them
    assert other.delete_user("u3") == N // USERS
    kept = [(seq, e) for seq, e in logged if e.user_id != "u3"]
    assert whole(storage) == kept
    assert storage.user_history("u3") == [] and "u3" not in storage.user_ids()
    for f in LogArchive(tmp_path / storage.prefix).files():
        assert "u3" not in pq.read_table(f.path).column("user_id").to_pylist()
        assert FILE_NAME.match(f.path.name)  # rewritten under the same range
    assert storage.counts() == {"events": N - N // USERS, "users": USERS - 1, "items": 0}
    assert storage.tail("u3", 0) is None  # every process drops the state it holds
    # their event ids left with them, archived ones included
    eids = {k.decode() for k in storage.client.hkeys(storage.key("eids"))}
    mine = {e.event_id for _, e in logged if e.user_id == "u3"}
    assert len(mine) == N // USERS and not mine & eids
    # a user whose events were all archived is forgotten too
    archive_log(storage, retention_s=1.0, folder=tmp_path, now=NOW + 100)
    assert xlen(storage, "log") == 0
    assert storage.delete_user("u6") == N // USERS and storage.tail("u6", 0) is None
    assert all(e.user_id not in ("u3", "u6") for _, e in whole(storage))
    storage.close()
    other.close()


def test_the_archive_keeps_its_events_for_archive_keep_s_only(
    storage: RedisStorage, tmp_path: Path
) -> None:
    """Events stamped 0-1,199, a second apart; with the clock at 1,200 and a 400 s window,
    seqs 1-800 go to three files of 300, 300 and 200; ``keep_s`` 1,000 then removes the
    archived events stamped before 200: two thirds of the first file."""
    logged = fill(storage, history())
    report = archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW,
                         max_events=300, keep_s=1000.0)  # fmt: skip
    gone = [(seq, e) for seq, e in logged if seq <= 800 and e.timestamp < 200.0]
    assert report.events == 800 and report.expired == len(gone) == 200
    kept = [(seq, e) for seq, e in logged if (seq, e) not in gone]
    assert whole(storage) == kept
    assert storage.counts()["events"] == N - 200
    files = LogArchive(tmp_path / storage.prefix).files()
    assert [f.lo for f in files] == [1, 301, 601]  # an emptied file keeps its range
    assert pq.read_metadata(files[0].path).num_rows == 100  # 1-300 less the 200 before 200
    # the removed events' ids are forgotten: a retry of one is taken as new
    eids = {k.decode() for k in storage.client.hkeys(storage.key("eids"))}
    assert not {e.event_id for _, e in gone if e.event_id} & eids
    # live events are never touched, however old: only the archive has a retention
    again = archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW + 300,
                        keep_s=1000.0)  # fmt: skip
    assert again.expired == 300  # the archived ones stamped 200-499
    assert [s.seq for s in storage.events()][:3] == [501, 502, 503]
    assert whole(storage) == [(seq, e) for seq, e in kept if e.timestamp >= 500.0]


def test_archive_keep_s_must_exceed_the_window(storage: RedisStorage, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from pulserec.config import LogSettings

    with pytest.raises(ValueError, match=r"log\.archive_keep_s: must exceed log\.retention_s"):
        archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW, keep_s=WINDOW)
    with pytest.raises(ValidationError, match=r"log\.archive_keep_s"):
        LogSettings(retention_s=400.0, archive_dir=tmp_path, archive_keep_s=100.0)
    assert LogSettings(retention_s=400.0, archive_dir=tmp_path, archive_keep_s=0.0)


def test_a_merged_session_takes_its_archived_events_along(
    storage: RedisStorage, tmp_path: Path
) -> None:
    from pulserec.engine import Engine

    session = "session:s1"
    storage.append([Event(session, "i1", "click", 1.0), Event(session, "i2", "click", 2.0)])
    storage.append([Event("ana", "i3", "click", 900.0)])
    archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW)
    assert list(storage.events(user_id="session:s1")) == []
    engine = Engine(storage)
    assert engine.merge_session("s1", "ana") == 2
    moved = [(s.event.item_id, s.event.timestamp) for s in storage.user_history("ana")]
    assert moved == [("i3", 900.0), ("i1", 1.0), ("i2", 2.0)]
    assert storage.user_history("session:s1") == []


def test_deleting_a_user_forgets_the_text_of_their_archived_comments(
    storage: RedisStorage, tmp_path: Path
) -> None:
    from pulserec.engine import Engine

    forgotten: list[tuple[str, list[str]]] = []

    class Cache:  # the embedding cache's forget, recorded
        def forget(self, texts: list[str], *, kind: str) -> int:
            forgotten.append((kind, list(texts)))
            return len(texts)

    storage.append([Event("ana", "i1", "comment", 1.0, text="an old remark"),
                     Event("ana", None, "search", 2.0, text="old query"),
                     Event("ana", "i2", "comment", 900.0, text="a new remark")])  # fmt: skip
    archive_log(storage, retention_s=WINDOW, folder=tmp_path, now=NOW)
    engine = Engine(storage)
    engine.encoder = Cache()  # type: ignore[assignment]
    assert engine.delete_user("ana") == 3
    assert forgotten == [("passage", ["a new remark", "an old remark"]),
                         ("query", ["old query"])]  # fmt: skip


def test_event_ids_refuse_retries_until_their_events_are_archived_and_old(
    storage: RedisStorage, tmp_path: Path
) -> None:
    import time

    fill(storage, history(300))
    n_ids = int(storage.client.hlen(storage.key("eids")))
    assert n_ids == 100
    # the window is 1 s of Redis's clock too: the ids of archived events wait for a run
    # at least 1 s after one that saw the counter past them
    archive_log(storage, retention_s=1.0, folder=tmp_path, now=250.0)
    assert storage.append([Event("u0", "i0", "click", 0.0, event_id="e0")]) == [None]
    assert int(storage.client.hlen(storage.key("eids"))) == n_ids
    time.sleep(1.1)
    report = archive_log(storage, retention_s=1.0, folder=tmp_path, now=250.0)
    assert report.ids_dropped == 83  # e0, e3 ... e246: the archived ones (seq 1 to 249)
    assert int(storage.client.hlen(storage.key("eids"))) == n_ids - 83
    # the live events' ids still refuse their retries
    assert storage.append([Event("u0", "i0", "click", 0.0, event_id="e297")]) == [None]


def test_archive_settings_errors_name_the_field(storage: RedisStorage, tmp_path: Path) -> None:
    from pulserec.config import ARCHIVE_DIR_REQUIRED, LogSettings
    from pulserec.config_names import settings_with
    from pulserec.scaleout import archive_due, run_worker

    assert ARCHIVE_DIR_REQUIRED.startswith("log.archive_dir: required when log.retention_s > 0")
    with pytest.raises(ValueError, match=r"log\.retention_s: Input should be greater"):
        settings_with(["log.retention_s=-5"])
    with pytest.raises(ValueError) as refused:  # the settings, as every command loads them
        settings_with(["log.retention_s=86400"])
    assert str(refused.value) == ARCHIVE_DIR_REQUIRED
    # settings built by hand skip that validation: the worker's archive run makes the same
    # check (LogSettings.archive_folder, which archive-events calls too), same message
    hand_built = LogSettings.model_construct(retention_s=86400.0, archive_dir=None)
    with pytest.raises(ValueError) as refused:
        archive_due(storage, hand_built)
    assert str(refused.value) == ARCHIVE_DIR_REQUIRED
    engine = worker_engine(storage, tmp_path)
    with pytest.raises(ValueError) as refused:  # a single run raises what it met
        run_worker(engine, every=None, once=True, log_settings=hand_built)
    assert str(refused.value) == ARCHIVE_DIR_REQUIRED
    assert LogSettings(archive_dir=tmp_path).archive_folder() is None  # 0: nothing archived
    assert LogSettings(retention_s=1.0, archive_dir=tmp_path).archive_folder() == tmp_path
    with pytest.raises(ValueError, match=r"log\.retention_s"):
        archive_log(storage, retention_s=0.0, folder=tmp_path)
    archive_log(storage, retention_s=10.0, folder=tmp_path / "a")
    with pytest.raises(ValueError, match=r"log\.archive_dir: .*recorded in"):
        archive_log(storage, retention_s=10.0, folder=tmp_path / "b")


def test_an_archive_missing_on_this_host_is_an_error_not_a_gap(
    storage: RedisStorage, tmp_path: Path
) -> None:
    from pulserec.storage import StorageUnavailable

    fill(storage, history(100))
    archive_log(storage, retention_s=WINDOW, folder=tmp_path / "shared", now=NOW)
    (tmp_path / "shared").rename(tmp_path / "elsewhere")  # not mounted here
    fresh = open_storage(storage.url)
    with pytest.raises(StorageUnavailable, match="mount the archive folder"):
        list(fresh.events())
    with pytest.raises(StorageUnavailable, match="mount the archive folder"):
        fresh.delete_user("u1")
    assert len(list(fresh.events(user_id="u1"))) == 0  # the stream was trimmed
    fresh.close()


def shop(n_users: int = 20, per_user: int = 8) -> list[Event]:
    """Even users click the first half of 40 items, odd users the second, long ago."""
    return [
        Event(f"s{u}", f"it-{(u % 2) * 20 + (3 * u + j) % 20}", "click", 1e6 + 60.0 * t)
        for u in range(n_users)
        for j in range(per_user)
        for t in (u * per_user + j,)
    ]


def worker_engine(storage: RedisStorage, tmp_path: Path) -> Any:
    from pulserec.engine import Engine, EngineConfig
    from pulserec.types import Item

    engine = Engine(storage, None, EngineConfig(sequential=False), tmp_path / "artifacts")
    engine.upsert_items([Item(f"it-{j}", f"Item {j}") for j in range(40)])
    engine.bootstrap(shop())
    return engine


def test_the_worker_archives_after_each_refit_and_refits_read_the_archive(
    storage: RedisStorage, tmp_path: Path
) -> None:
    import time

    from pulserec.config import LogSettings
    from pulserec.scaleout import run_worker

    engine = worker_engine(storage, tmp_path)
    settings = LogSettings(retention_s=86_400.0, archive_dir=tmp_path / "archive")
    assert run_worker(engine, every=None, once=True, log_settings=settings) == 1
    assert xlen(storage, "log") == 0 and storage.counts()["events"] == 160
    users = set(engine.models.users.to_list())
    assert len(users) == 20
    storage.append([Event("late", "it-3", "click", time.time())])
    assert run_worker(engine, every=None, once=True, log_settings=settings) == 1
    assert set(engine.models.users.to_list()) == users | {"late"}  # the archive was read
    assert xlen(storage, "log") == 1  # the recent event stays


def test_retention_zero_changes_nothing(storage: RedisStorage, tmp_path: Path) -> None:
    from pulserec.config import LogSettings
    from pulserec.scaleout import archive_due, run_worker

    engine = worker_engine(storage, tmp_path)
    keys = sorted(storage.client.keys(f"{storage.prefix}:*"))
    assert archive_due(storage, LogSettings()) is None
    assert run_worker(engine, every=None, once=True, log_settings=LogSettings()) == 1
    assert xlen(storage, "log") == 160 and storage.archive() is None
    assert not [k for k in storage.client.keys(f"{storage.prefix}:*") if b"archive" in k]
    assert set(keys) <= set(storage.client.keys(f"{storage.prefix}:*"))
