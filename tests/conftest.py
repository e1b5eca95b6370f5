"""Shared fixtures. Real-data tests fail, never skip, when the data is missing."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from redisproc import RedisServer

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("PULSEREC_DATA_ROOT", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """``../shared/data`` (or ``$PULSEREC_DATA_ROOT``); fails loudly when absent."""
    root = _data_root()
    if not (root / "INDEX.md").is_file():
        pytest.fail(
            f"real datasets not found at {root}: place the shared data there or set "
            "PULSEREC_DATA_ROOT; integration tests never skip"
        )
    return root


@pytest.fixture(scope="session")
def dataset_dir(data_root: Path):  # type: ignore[no-untyped-def]
    """``dataset_dir("ml-100k")`` -> the folder, failing when it is missing."""

    def get(name: str) -> Path:
        path = data_root / name
        if not path.is_dir():
            pytest.fail(f"dataset folder {path} is missing; integration tests never skip")
        return path

    return get


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A throwaway Redis server for the session (fails when redis-server is missing)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$PULSEREC_REDIS_URL`` (must answer), else a throwaway local server.

    Never skips: an unreachable ``PULSEREC_REDIS_URL`` fails, and so does a
    missing ``redis-server`` binary when no URL is given.
    """
    url = os.environ.get("PULSEREC_REDIS_URL")
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            pytest.fail(f"PULSEREC_REDIS_URL={url} is unreachable: {exc}")
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis-shared"))
    server.start()
    yield server.url
    server.stop()


_redis_prefixes = itertools.count()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses, so tests share one server without clashing."""
    return f"t{os.getpid()}x{next(_redis_prefixes)}x{time.time_ns()}"
