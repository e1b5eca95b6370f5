"""Hostile and careless input through real HTTP: ``pulserec serve`` with its access log on.

One server serves the module (uvicorn with httptools, as deployed); its log file is read
by the tests that check what the server writes about requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from service_data import ADMIN_KEY, API_KEYS, catalog

from serverproc import ServerProcess

pytestmark = pytest.mark.integration

HEADERS = {"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"}
SURROGATE = b"\xed\xa0\x80"
"""U+D800 as UTF-8 would encode it; no valid UTF-8 holds these bytes."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server over a fresh data dir holding the test shop; access log on."""
    tmp = tmp_path_factory.mktemp("hardening")
    env = {"PULSEREC_API_KEYS": API_KEYS, "PULSEREC_ENCODER": "hashing"}
    proc = ServerProcess(["--data-dir", str(tmp / "data")], tmp / "server.log", env)
    items = [{"item_id": i.item_id, "title": i.title, "text": i.text,
              "categories": list(i.categories)} for i in catalog()]  # fmt: skip
    r = httpx.put(f"{proc.url}/v1/items", json={"items": items}, headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    yield proc
    proc.stop()


def post(server: ServerProcess, path: str, body: bytes, method: str = "POST") -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", content=body, headers=HEADERS, timeout=30)


def event(user: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "type": "click", "timestamp": time.time(), **extra}


def test_raw_surrogate_bytes_reject_one_event_not_the_batch(server: ServerProcess) -> None:
    now = int(time.time())
    good = [b'{"user_id":"s1","item_id":"jazz-%d","type":"click","timestamp":%d}' % (j % 20, now)
            for j in range(999)]  # fmt: skip
    bad = b'{"user_id":"u1","item_id":"jazz-1","type":"comment","text":"nice ' + SURROGATE
    bad += b'","timestamp":%d}' % now
    r = post(server, "/v1/events", b'{"events":[' + b",".join([*good, bad]) + b"]}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 999
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(999, "text")]
    assert "surrogate U+D800" in body["errors"][0]["message"]

    alone = post(server, "/v1/events", bad)
    assert alone.status_code == 422 and alone.headers["content-type"] == "application/json"
    assert [d["field"] for d in alone.json()["detail"]] == ["text"]
    search = b'{"user_id":"u1","type":"search","text":"jazz ' + SURROGATE + b'","timestamp":1}'
    assert [d["field"] for d in post(server, "/v1/events", search).json()["detail"]] == ["text"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (b'{"item_id":"x1","title":"Kind of ' + SURROGATE + b'"}', "title"),
        (b'{"item_id":"x1","attributes":{"k' + SURROGATE + b'":1}}', "attributes"),
    ],
)
def test_raw_surrogate_bytes_in_items_are_422(
    server: ServerProcess, item: bytes, field: str
) -> None:
    r = post(server, "/v1/items", item, method="PUT")
    assert r.status_code == 422 and [d["field"] for d in r.json()["detail"]] == [field], r.text


def test_surrogate_bytes_in_urls_are_no_server_error(server: ServerProcess) -> None:
    get = {"X-API-Key": ADMIN_KEY}
    r = httpx.get(f"{server.url}/v1/search?q=jazz%ED%A0%80&user_id=u%ED%A0%80", headers=get)
    assert r.status_code < 500, r.text
    r = httpx.get(f"{server.url}/v1/users/u%ED%A0%80/recommendations", headers=get)
    assert r.status_code < 500, r.text
