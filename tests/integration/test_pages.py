"""The web pages' routes through FastAPI's TestClient: pages, static files, dashboard data."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_data import ADMIN_KEY, API_KEYS, READ_KEY, seed

from pulserec.config import Settings
from pulserec.service import create_app
from pulserec.service.routers.dashboard import REPLAY_FILE

ADMIN = {"X-API-Key": ADMIN_KEY}
READ = {"X-API-Key": READ_KEY}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pages") / "data"


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, encoder="hashing", api_keys=API_KEYS)
    with TestClient(create_app(settings, on_empty=seed)) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "marker"),
    [("/", 'src="/static/live.js"'), ("/dashboard", 'src="/static/dashboard.js"')],
)
def test_pages_are_served_without_a_key(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text
    # everything the page loads is local: no CDN, no external host
    assert "http://" not in response.text and "https://" not in response.text


@pytest.mark.parametrize(
    ("name", "media"),
    [("live.js", "text/javascript"), ("common.js", "text/javascript"),
     ("dashboard.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg")],
)  # fmt: skip
def test_static_files_have_their_media_types(client: TestClient, name: str, media: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "name", ["nope.js", "..%2Fapp.py", "..%2F..%2Fconfig.py", ".hidden.js", "index.py"]
)
def test_static_serves_nothing_else(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/dashboard" not in paths
    assert {"/v1/admin/trending", "/v1/admin/active-users", "/v1/admin/replay"} <= set(paths)


@pytest.mark.parametrize(
    "path", ["/v1/admin/trending", "/v1/admin/active-users", "/v1/admin/replay"]
)
def test_dashboard_routes_need_the_admin_scope(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=READ).status_code == 403


def test_trending_follows_fresh_events(client: TestClient) -> None:
    now = time.time()
    events = [
        {"user_id": f"fan-{u}", "item_id": "hiking-7", "type": "purchase", "timestamp": now}
        for u in range(5)
    ]
    assert client.post("/v1/events", json={"events": events}, headers=ADMIN).status_code == 200
    body = client.get("/v1/admin/trending", params={"n": 5}, headers=ADMIN).json()
    assert 1 <= len(body["items"]) <= 5
    top = body["items"][0]
    assert top["item_id"] == "hiking-7"
    assert top["title"] == "Hiking 7" and top["categories"] == ["hiking"]
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True) and min(scores) > 0
    # deleted items leave the list
    assert client.delete("/v1/items/hiking-7", headers=ADMIN).status_code == 200
    after = client.get("/v1/admin/trending", params={"n": 5}, headers=ADMIN).json()
    assert "hiking-7" not in [it["item_id"] for it in after["items"]]
    assert client.get("/v1/admin/trending", params={"n": 0}, headers=ADMIN).status_code == 422


def test_active_users_count_recent_events_only(client: TestClient) -> None:
    def active(window: float) -> int:
        response = client.get("/v1/admin/active-users", params={"window_s": window}, headers=ADMIN)
        assert response.status_code == 200
        assert response.json()["scanned_events"] > 0
        count: int = response.json()["active_users"]
        return count

    def recent_events(window: float) -> tuple[int, float]:
        body = client.get("/v1/admin/active-users", params={"window_s": window},
                          headers=ADMIN).json()
        return body["events"], body["events_per_min"]

    before = active(600)
    events_before, _ = recent_events(600)
    now = time.time()
    events = [
        {"user_id": "act-a", "item_id": "jazz-1", "type": "click", "timestamp": now},
        {"user_id": "act-a", "item_id": "jazz-2", "type": "click", "timestamp": now},
        {"user_id": "act-b", "item_id": "jazz-3", "type": "view", "timestamp": now},
        # an old event counts in a wide window only
        {"user_id": "act-old", "item_id": "jazz-4", "type": "view", "timestamp": now - 7200},
    ]
    assert client.post("/v1/events", json={"events": events}, headers=ADMIN).status_code == 200
    assert active(600) == before + 2
    assert active(3 * 3600) >= before + 3
    # the event rate: the three recent events count in the last 10 minutes, the old one not
    events, per_min = recent_events(600)
    assert events == events_before + 3
    assert per_min == pytest.approx(events / 10.0, abs=1e-3)
    bad = client.get("/v1/admin/active-users", params={"window_s": 0}, headers=ADMIN)
    assert bad.status_code == 422


def test_replay_is_404_until_a_result_is_there(client: TestClient, data_dir: Path) -> None:
    path = data_dir / REPLAY_FILE
    path.unlink(missing_ok=True)
    missing = client.get("/v1/admin/replay", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["detail"][0]["message"] == "no replay result yet"
    result = {"dataset": "ml-100k", "k": 10, "results": [{"name": "realtime-on", "metrics": {}}]}
    path.write_text(json.dumps(result))
    try:
        assert client.get("/v1/admin/replay", headers=ADMIN).json() == result
        path.write_text("{not json")
        broken = client.get("/v1/admin/replay", headers=ADMIN)
        assert broken.status_code == 500
        assert REPLAY_FILE in broken.json()["detail"][0]["message"]
    finally:
        path.unlink()
