"""The online loop through HTTP: a list served, a click with its id, CTR moving for the
right variant and position; experiments defined, reported and stopped; Prometheus."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_data import ADMIN_KEY, API_KEYS, seed

from pulserec.config import Settings
from pulserec.service import create_app

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": ADMIN_KEY}
JSON = {**ADMIN, "Content-Type": "application/json"}


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, encoder="hashing", api_keys=API_KEYS,
                    engine={"sequential": False})  # fmt: skip


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("online") / "data"
    with TestClient(create_app(settings_for(data), on_empty=seed)) as client:
        client.app.state.runtime.trainer.join()  # type: ignore[attr-defined]
    return data


@pytest.fixture
def client(tmp_path: Path, seeded_dir: Path) -> Iterator[TestClient]:
    shutil.copytree(seeded_dir, tmp_path / "data")
    with TestClient(create_app(settings_for(tmp_path / "data"))) as c:
        yield c


def groups(client: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    r = client.get("/v1/admin/online?window=1h", headers=ADMIN)
    assert r.status_code == 200, r.text
    return {(g["placement"], g["variant"]): g for g in r.json()["groups"]}


def click(client: TestClient, user: str, item: str, **extra: Any) -> None:
    event = {"user_id": user, "item_id": item, "type": "click", "timestamp": time.time(), **extra}
    r = client.post("/v1/events", json=event, headers=JSON)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_a_click_with_its_id_moves_ctr_of_its_variant_and_position(client: TestClient) -> None:
    r = client.post("/v1/admin/experiments", headers=JSON, json={
        "name": "diversity", "horizon_users": 1, "variants": [
            {"name": "plain", "share": 0.5},
            {"name": "varied", "share": 0.5, "overrides": {"diversity": 0.8}},
        ]})  # fmt: skip
    assert r.status_code == 201, r.text
    lists, n_lists = {}, {"plain": 0, "varied": 0}
    for u in range(40):
        body = client.get(f"/v1/users/u{u}/recommendations?k=5&placement=home",
                          headers=ADMIN).json()  # fmt: skip
        assert body["variant"] in ("plain", "varied") and len(body["recommendation_id"]) == 32
        assert [i["position"] for i in body["items"]] == [1, 2, 3, 4, 5]
        lists.setdefault(body["variant"], body)
        n_lists[body["variant"]] += 1
    varied = lists["varied"]
    user = varied["user_id"]
    click(client, user, varied["items"][1]["item_id"],
          recommendation_id=varied["recommendation_id"], position=2)  # fmt: skip
    g = groups(client)
    assert g[("home", "varied")]["clicks"] == 1 and g[("home", "plain")]["clicks"] == 0
    assert g[("home", "varied")]["ctr_by_position"][:2] == [0.0, 1 / n_lists["varied"]]
    assert g[("home", "varied")]["impressions"] == 5 * n_lists["varied"]
    assert g[("home", "plain")]["impressions"] == 5 * n_lists["plain"]
    report = client.get("/v1/admin/experiments/diversity", headers=ADMIN).json()
    by_name = {v["name"]: v for v in report["variants"]}
    assert by_name["varied"]["clicks"] == 1 and by_name["plain"]["clicks"] == 0
    assert report["comparisons"][0]["variant"] == "varied" and report["warnings"]
    assert report["comparisons"][0]["test"] == "permutation"  # a few users: permuted
    metrics = client.get("/metrics", headers=ADMIN).text
    assert 'pulserec_online_clicks_total{placement="home",variant="varied"} 1.0' in metrics
    assert 'pulserec_online_clicks_by_position_total{placement="home",position="2"} 1.0' in metrics
    assert "pulserec_online_list_write_seconds_count" in metrics  # the writer's histogram
    assert "pulserec_online_list_write_max_seconds" in metrics
    r = client.post("/v1/admin/experiments/diversity/conclude", headers=JSON,
                    json={"winner": "varied"})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "concluded"
    body = client.get(f"/v1/users/{user}/recommendations?k=3", headers=ADMIN).json()
    assert body["variant"] == ""


def test_similar_and_search_lists_are_attributed_too(client: TestClient) -> None:
    sim = client.get("/v1/items/jazz-1/similar?k=4&user_id=newbie", headers=ADMIN).json()
    click(client, "newbie", sim["items"][3]["item_id"])  # no id: the window rule finds it
    found = client.get("/v1/search?q=trail+boots&k=3&user_id=walker", headers=ADMIN).json()
    assert found["recommendation_id"]
    click(client, "walker", found["items"][0]["item_id"],
          recommendation_id=found["recommendation_id"])  # fmt: skip
    g = groups(client)
    assert g[("similar", "")]["ctr_by_position"] == [0.0, 0.0, 0.0, 1.0]
    assert g[("search", "")]["clicks"] == 1


def test_bad_experiments_are_refused_by_field(client: TestClient) -> None:
    def post(body: dict[str, Any]) -> Any:
        return client.post("/v1/admin/experiments", headers=JSON, json=body)

    ok = {"name": "x", "variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]}
    too_much = {**ok, "variants": [{"name": "a", "share": 0.7}, {"name": "b", "share": 0.5}]}
    r = post(too_much)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "variants.1"
    bad = {**ok, "variants": [{"name": "a", "share": 0.5},
                              {"name": "b", "share": 0.5, "overrides": {"speed": 1}}]}  # fmt: skip
    assert "speed" in post(bad).json()["detail"][0]["message"]
    assert post(ok).status_code == 201
    assert post({**ok, "name": "y"}).status_code == 409  # one experiment at a time
    r = client.post("/v1/admin/experiments/x/variants", headers=JSON,
                    json={"name": "c", "share": 0.1})  # fmt: skip
    assert r.status_code == 422 and "free" in r.json()["detail"][0]["message"]
    assert client.get("/v1/admin/experiments/nope", headers=ADMIN).status_code == 404
    assert client.get("/v1/admin/online?window=soon", headers=ADMIN).status_code == 422
    assert client.post("/v1/admin/experiments/x/stop", headers=ADMIN).json()["status"] == "stopped"
