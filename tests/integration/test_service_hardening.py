"""Hostile and careless input through real HTTP: ``pulserec serve`` with its access log on.

One server serves the module (uvicorn with httptools, as deployed); its log file is read
by the tests that check what the server writes about requests.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
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


@pytest.mark.parametrize("size", [1_500_000, 5_000_000])
def test_urllib_reads_the_413_of_a_body_it_sends_whole(server: ServerProcess, size: int) -> None:
    # urllib writes the whole body before it reads the answer: the server must read (and
    # drop) the body, or the client sees a reset connection instead of the 413
    body = b'{"events": [' + b" " * size + b"]}"
    request = urllib.request.Request(
        f"{server.url}/v1/events", data=body, method="POST", headers=HEADERS
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413
    detail = json.loads(caught.value.read())["detail"]
    assert detail[0]["field"] == "body" and "1048576" in detail[0]["message"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_body_declared_past_the_drain_bound_is_refused_at_once(server: ServerProcess) -> None:
    # 1 GB announced, nothing sent: the 413 comes without waiting, and the connection closes
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            f"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert json.loads(body)["detail"][0]["field"] == "body"


def test_api_keys_never_reach_the_access_log(server: ServerProcess) -> None:
    key = ADMIN_KEY
    auth = {"X-API-Key": key}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        # the old ?key= links, and clients that put a key where it does not belong
        assert http.get(f"/?key={key}").status_code == 200
        assert http.get(f"/dashboard?key={key}").status_code == 200
        assert http.get(f"/v1/admin/status?key={key}").status_code == 401
        assert http.get(f"/v1/items?limit=2&api_key={key}", headers=auth).status_code == 200
        assert http.get(f"/v1/items?X-API-Key={key}").status_code == 401
        assert http.get(f"/v1/users/{key}/interests", headers=auth).status_code == 404
        assert http.get("/v1/search", params={"q": key}, headers=auth).status_code == 200
        # the links pulserec prints now: the fragment never leaves the browser
        assert http.get(f"/#key={key}").status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "/v1/search?q=" not in server.log.read_text():
        time.sleep(0.05)
    log = server.log.read_text()
    assert '"GET /?key=[redacted] HTTP/1.1" 200' in log
    assert '"GET /v1/items?limit=2&api_key=[redacted] HTTP/1.1" 200' in log
    assert '"GET /v1/users/[redacted]/interests HTTP/1.1" 404' in log
    assert key not in log


def test_a_form_or_text_body_is_415_and_json_passes(server: ServerProcess) -> None:
    body = json.dumps(event("ct-user", "jazz-1")).encode()
    key = {"X-API-Key": ADMIN_KEY}
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):  # curl -d, fetch
        r = httpx.post(f"{server.url}/v1/events", content=body,
                       headers=key | {"Content-Type": content_type})  # fmt: skip
        assert r.status_code == 415 and r.json()["detail"][0]["field"] == "Content-Type"
    r = httpx.post(f"{server.url}/v1/events", content=body, headers=HEADERS)
    assert r.status_code == 200 and r.json()["accepted"] == 1


def test_head_on_get_routes_through_uvicorn(server: ServerProcess) -> None:
    key = {"X-API-Key": ADMIN_KEY}
    for path in ("/healthz", "/v1/items/jazz-1", "/"):
        got, head = (
            httpx.get(server.url + path, headers=key),
            httpx.head(server.url + path, headers=key),
        )
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == got.headers["content-length"]
    # the connection stays usable after a HEAD: no body bytes were left on it
    with httpx.Client(base_url=server.url, headers=key) as http:
        assert [http.head("/healthz").status_code, http.get("/healthz").status_code] == [200, 200]
