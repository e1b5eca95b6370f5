"""Several API processes sharing one Redis: state, models and faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_data import ADMIN_KEY, API_KEYS, catalog, history

from pulserec.engine import Engine
from pulserec.scaleout import ModelSubscriber, request_training, run_worker
from pulserec.state import LogTailStateStore
from pulserec.storage import Storage, StorageUnavailable, open_storage
from pulserec.storage.redis import RedisStorage
from pulserec.text import make_encoder
from pulserec.types import Event
from redisproc import RedisServer, free_port
from serverproc import ServerProcess

pytestmark = pytest.mark.integration

HEADERS = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def opened() -> Iterator[list[Storage]]:
    """Storages a test opens; closed (their sockets too) when it ends."""
    storages: list[Storage] = []
    yield storages
    for storage in storages:
        storage.close()


def engine_on(url: str, opened: list[Storage], artifacts: Path | None = None) -> Engine:
    opened.append(open_storage(url))
    engine = Engine(opened[-1], make_encoder("hashing"), artifacts_dir=artifacts)
    engine.load_from_storage()
    return engine


def top_topics(engine: Engine, user: str, k: int = 5) -> set[str]:
    return {s.item_id.split("-")[0] for s in engine.recommend(user, k).items}


def test_events_ingested_by_one_engine_move_the_other(
    redis_url: str, redis_prefix: str, opened: list[Storage]
) -> None:
    url = f"{redis_url}?prefix={redis_prefix}"
    a = engine_on(url, opened)
    a.upsert_items(catalog())
    b = engine_on(url, opened)  # knows the catalog from Redis
    a.ingest_many([Event("ana", f"jazz-{j}", "click", 1000.0 + j) for j in range(3)])
    assert top_topics(b, "ana") == {"jazz"}
    b_state = b.states.peek("ana")
    assert b_state is not None and b_state.n_events == 3
    # the next events go through A again; B's held state catches up from the log tail
    a.ingest_many([Event("ana", f"hiking-{j}", "click", 2000.0 + j) for j in range(6)])
    assert "hiking" in top_topics(b, "ana")
    assert b.states.peek("ana") is b_state and b_state.n_events == 9
    # and B's own ingest is seen by A, with A's trending counting both processes' events
    b.ingest(Event("bo", "hiking-3", "purchase", 3000.0))
    assert a.recommend("bo", 3).items and a.states.peek("bo") is not None
    assert a.trending.scores(len(a.catalog))[a.catalog.idx("hiking-3")] > 0
    # a user forgotten through A is forgotten by B on its next read, even with new events
    assert a.delete_user("ana") == 9
    assert b.states.get("ana") is None
    b.ingest(Event("ana", "hiking-2", "view", 4000.0))  # B holds nothing: rebuilt on read
    assert b.states.get("bo") is not None  # B holds bo now
    a.ingest(Event("bo", "jazz-1", "view", 4000.0))
    a.delete_user("bo")
    a.ingest(Event("bo", "jazz-2", "click", 5000.0))
    state = b.states.get("bo")
    assert state is not None and state.n_events == 1
    assert isinstance(b.states, LogTailStateStore) and b.states.resets == 2


def test_worker_trains_and_every_subscriber_swaps_in(
    redis_url: str, redis_prefix: str, tmp_path: Path, opened: list[Storage]
) -> None:
    url = f"{redis_url}?prefix={redis_prefix}"
    artifacts = tmp_path / "artifacts"
    api = engine_on(url, opened, artifacts)
    api.upsert_items(catalog())
    api.ingest_many(history())
    subscriber = ModelSubscriber(api).start()
    try:
        time.sleep(0.3)  # subscribed
        worker = engine_on(url, opened, artifacts)
        assert run_worker(worker, every=None, once=True) == 1
        deadline = time.monotonic() + 10
        while api.models is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.models is not None and worker.models is not None
        assert api.models.version == worker.models.version

        # on request: the admin route's push wakes a waiting worker
        stop = threading.Event()
        fits: list[int] = []
        loop = threading.Thread(
            target=lambda: fits.append(run_worker(worker, every=None, stop=stop))
        )
        loop.start()
        before = subscriber.swaps
        api.ingest_many([Event("late", "jazz-1", "click", 9e6)])
        storage = api.storage
        assert isinstance(storage, RedisStorage)
        request_training(storage)
        deadline = time.monotonic() + 15
        while subscriber.swaps == before and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        loop.join(10)
        assert subscriber.swaps == before + 1 and fits == [1]
        assert "late" in api.models.users
    finally:
        subscriber.stop()


class Api(ServerProcess):
    """``pulserec serve --storage redis://...`` on a free loopback port."""

    def __init__(self, storage_url: str, data_dir: Path, log: Path) -> None:
        env = {"PULSEREC_API_KEYS": API_KEYS, "PULSEREC_ENCODER": "hashing"}
        args = ["--data-dir", str(data_dir), "--storage", storage_url, "--no-access-log"]
        super().__init__(args, log, env)


@pytest.fixture
def apis() -> Iterator[list[Api]]:
    started: list[Api] = []
    yield started
    for api in started:
        api.stop()


def items_payload() -> dict[str, Any]:
    return {"items": [{"item_id": i.item_id, "title": i.title, "text": i.text,
                       "categories": list(i.categories)} for i in catalog()]}  # fmt: skip


def rec_topics(http: httpx.Client, base: str, user: str) -> list[str]:
    r = http.get(f"{base}/v1/users/{user}/recommendations", params={"k": 5})
    assert r.status_code == 200, r.text
    return [i["item_id"].split("-")[0] for i in r.json()["items"]]


def test_event_posted_to_one_process_changes_the_next_answer_of_another(
    redis_url: str, redis_prefix: str, tmp_path: Path, apis: list[Api]
) -> None:
    storage = f"{redis_url}?prefix={redis_prefix}"
    a = Api(storage, tmp_path / "data", tmp_path / "a.log")
    apis.append(a)
    b = Api(storage, tmp_path / "data", tmp_path / "b.log")
    apis.append(b)
    with httpx.Client(headers=HEADERS, timeout=10.0) as http:
        assert http.put(f"{a.url}/v1/items", json=items_payload()).json() == {"upserted": 40}
        now = time.time()
        for j, topic in enumerate(["jazz", "jazz", "jazz"]):
            event = {"user_id": "ana", "item_id": f"{topic}-{j}", "type": "click",
                     "timestamp": now + j}  # fmt: skip
            assert http.post(f"{a.url}/v1/events", json=event).json()["accepted"] == 1
        assert set(rec_topics(http, b.url, "ana")) == {"jazz"}  # B learnt the items too
        events = [{"user_id": "ana", "item_id": f"hiking-{j}", "type": "purchase",
                   "timestamp": now + 10 + j} for j in range(5)]  # fmt: skip
        assert http.post(f"{a.url}/v1/events", json={"events": events}).json()["accepted"] == 5
        assert rec_topics(http, b.url, "ana")[0] == "hiking"  # the very next request
        # and the other way round
        event = {"user_id": "bo", "item_id": "jazz-7", "type": "purchase", "timestamp": now}
        assert http.post(f"{b.url}/v1/events", json=event).json()["accepted"] == 1
        assert rec_topics(http, a.url, "bo")[0] == "jazz"
        # the admin route asks the worker for a refit instead of training in the API process
        assert http.post(f"{b.url}/v1/admin/train").status_code == 202
    queue = open_storage(storage)
    assert isinstance(queue, RedisStorage)
    assert queue.client.llen(queue.key("train")) == 1
    queue.close()


def test_redis_outage_answers_503_then_recovers_losing_nothing(
    tmp_path: Path, apis: list[Api]
) -> None:
    server = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        api = Api(server.url, tmp_path / "data", tmp_path / "api.log")
        apis.append(api)
        http = httpx.Client(base_url=api.url, headers=HEADERS, timeout=10.0)
        assert http.put("/v1/items", json=items_payload()).status_code == 200
        acked: list[str] = []
        answers: dict[int, int] = {}
        n = 0

        def post() -> httpx.Response:
            nonlocal n
            event = {"user_id": f"d{n % 3}", "item_id": f"jazz-{n % 20}", "type": "click",
                     "timestamp": time.time(), "event_id": f"e{n}"}  # fmt: skip
            t0 = time.monotonic()
            r = http.post("/v1/events", json=event)
            assert time.monotonic() - t0 < 3.0, "a request hung on the unreachable Redis"
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
            if r.status_code == 200 and r.json()["accepted"] == 1:
                acked.append(event["event_id"])
            n += 1
            return r

        for _ in range(20):
            post()
        server.stop()  # mid-ingest: Redis goes away
        for _ in range(5):
            r = post()
            assert r.status_code == 503, r.text
            assert "storage unavailable" in r.json()["detail"][0]["message"]
            assert r.headers["retry-after"] == "1"
        r = http.get("/v1/users/d0/recommendations")
        assert r.status_code == 503 and r.json()["detail"][0]["field"] is None
        server.start()  # same port and directory: the AOF is replayed
        deadline = time.monotonic() + 10
        while post().status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover after Redis returned"
            time.sleep(0.1)
        for _ in range(10):
            assert post().status_code == 200
        assert http.get("/v1/users/d0/recommendations").status_code == 200
        http.close()
        assert set(answers) == {200, 503}
        back = open_storage(server.url)
        stored = {s.event.event_id for s in back.events()}
        back.close()
        assert len(acked) >= 31 and set(acked) <= stored
    finally:
        server.stop()


def test_unreachable_storage_is_named_not_hidden() -> None:
    storage = open_storage(f"redis://127.0.0.1:{free_port()}/0?timeout=0.3")
    with pytest.raises(StorageUnavailable, match=r"redis at redis://127\.0\.0\.1:\d+/0"):
        storage.counts()
    storage.close()
