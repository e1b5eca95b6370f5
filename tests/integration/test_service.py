"""The HTTP service end to end through FastAPI's TestClient: real SQLite, hashing encoder."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_data import ADMIN_KEY, API_KEYS, INGEST_KEY, READ_KEY, seed

from pulserec.config import LimitSettings, Settings
from pulserec.engine import Engine
from pulserec.service import create_app
from pulserec.service.keys import KeyConfigError
from pulserec.service.runtime import Runtime
from pulserec.state.pending import PendingItems
from pulserec.types import EVENT_TYPES

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": ADMIN_KEY}
READ = {"X-API-Key": READ_KEY}
INGEST = {"X-API-Key": INGEST_KEY}
JSON_INGEST = {**INGEST, "Content-Type": "application/json"}

MakeClient = Callable[..., TestClient]


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, encoder="hashing", api_keys=API_KEYS, **overrides)


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the shop, its history and trained models (trained once)."""
    data = tmp_path_factory.mktemp("seeded") / "data"
    with TestClient(create_app(settings_for(data), on_empty=seed)) as client:
        client.app.state.runtime.trainer.join()  # type: ignore[attr-defined]
    return data


@pytest.fixture
def make_client(tmp_path: Path, seeded_dir: Path) -> Iterator[MakeClient]:
    """Start apps on a copy of the seeded data dir; all closed at the end."""
    shutil.copytree(seeded_dir, tmp_path / "data")
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        app = create_app(settings_for(tmp_path / "data", **overrides))
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def status(client: TestClient) -> dict[str, Any]:
    r = client.get("/v1/admin/status", headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def click(user: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "type": "click", "timestamp": time.time(), **extra}


def rec_ids(client: TestClient, user: str, **params: Any) -> list[str]:
    r = client.get(f"/v1/users/{user}/recommendations", params=params, headers=READ)
    assert r.status_code == 200, r.text
    return [it["item_id"] for it in r.json()["items"]]


def fields(response: Any) -> list[str | None]:
    return [d["field"] for d in response.json()["detail"]]


# ------------------------------------------------------------------------------------ startup


def test_startup_seeds_an_empty_log_and_trains(tmp_path: Path) -> None:
    # the transformer is kept whatever the held-out window says of it (the gate's own
    # tests are in tests/unit/engine): this test follows it into the second version
    settings = settings_for(tmp_path / "fresh", engine={"sequential_gate": False})
    with TestClient(create_app(settings, on_empty=seed)) as client:
        # served at once by the models that fit in seconds; the transformer follows
        first = status(client)
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        quick = runtime.engine.models
        runtime.trainer.join()
        st = status(client)
        health = client.get("/healthz").json()
    assert first["model_version"] != "untrained" and quick.sequential is None
    assert (st["events"], st["users"], st["items"]) == (400, 40, 40)
    assert st["model_version"] != "untrained" and st["training"] is False
    assert runtime.engine.models.sequential is not None
    assert st["model_version"] != first["model_version"]
    assert st["last_training"]["seconds"] > 0
    assert health == {"status": "ok", "model_version": st["model_version"]}
    # the dashboard's figures: validation of this version against the one it replaced
    assert first["last_training"]["previous_version"] is None
    assert st["last_training"]["previous_version"] == first["model_version"]
    metrics = st["last_training"]["metrics"]
    for key in ("recall@10", "ndcg@10", "previous_recall@10", "previous_ndcg@10"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["ndcg@10"] <= metrics["recall@10"]
    assert metrics["validation_choices"] >= 20
    assert metrics["catalog_items"] == metrics["previous_catalog_items"] == 40


def test_a_restart_restores_log_models_and_user_state(make_client: MakeClient) -> None:
    first = make_client()
    assert (
        first.post("/v1/events", json=click("alice", "hiking-3"), headers=INGEST).json()["accepted"]
        == 1
    )
    before, interests = status(first), first.get("/v1/users/alice/interests", headers=READ).json()
    first.__exit__(None, None, None)

    second = make_client()
    after = status(second)
    assert (after["events"], after["users"], after["items"]) == (401, 41, 40)
    # the saved artifacts are loaded, not refitted
    assert after["model_version"] == before["model_version"]
    assert after["last_training"]["seconds"] is None
    assert second.get("/v1/users/alice/interests", headers=READ).json() == interests


def test_the_server_keeps_what_it_writes_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual shell umask: the server must not depend on it
    try:
        data = tmp_path / "srv" / "data"
        app = create_app(settings_for(data, engine={"sequential": False}), on_empty=seed)
        with TestClient(app) as client:
            client.post("/v1/events", json=click("ana", "jazz-1"), headers=INGEST)
            client.post("/v1/admin/train", headers=ADMIN)
            runtime(client).trainer.join()
            written = [data, *data.rglob("*")]
            modes = {str(p.relative_to(data)): oct(p.stat().st_mode & 0o777) for p in written}
        assert {
            "pulserec.db",
            "pulserec.db-wal",
            "pulserec.db-shm",
            "artifacts/current.json",
        } < set(modes)
        assert sum(name.startswith("artifacts/") for name in modes) > 4
        want = {name: "0o700" if (data / name).is_dir() else "0o600" for name in modes}
        assert modes == want
        assert oct((tmp_path / "srv").stat().st_mode & 0o777) == "0o700"
        assert os.umask(0o022) == 0o022  # the app's umask ended with it
    finally:
        os.umask(old)


def test_without_any_api_key_the_app_refuses_to_exist(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="no API key configured"):
        create_app(Settings(data_dir=tmp_path, encoder="hashing"))
    with pytest.raises(KeyConfigError, match="unknown scope 'write'"):
        create_app(Settings(data_dir=tmp_path, encoder="hashing", api_keys="long-enough:write"))
    with pytest.raises(KeyConfigError, match="at least 8"):
        create_app(Settings(data_dir=tmp_path, encoder="hashing", api_keys="short:read"))


def test_keys_can_come_from_a_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# operators\nfile-admin-key:admin\n\nfile-read-key:read\n")
    app = create_app(Settings(data_dir=tmp_path / "d", encoder="hashing", api_keys_file=keys))
    with TestClient(app) as client:
        assert client.get("/v1/admin/status", headers={"X-API-Key": "file-admin-key"}).is_success
        r = client.get("/v1/admin/status", headers={"X-API-Key": "file-read-key"})
        assert r.status_code == 403


# --------------------------------------------------------------------------------------- auth

ROUTES = [
    ("POST", "/v1/events", "ingest"),
    ("PUT", "/v1/items", "ingest"),
    ("DELETE", "/v1/items/jazz-1", "ingest"),
    ("GET", "/v1/items", "read"),
    ("GET", "/v1/items/jazz-1", "read"),
    ("GET", "/v1/items/jazz-1/similar", "read"),
    ("GET", "/v1/users/u1/recommendations", "read"),
    ("GET", "/v1/users/u1/interests", "read"),
    ("GET", "/v1/search?q=jazz&user_id=u1", "read"),
    ("DELETE", "/v1/users/u1", "admin"),
    ("POST", "/v1/admin/train", "admin"),
    ("GET", "/v1/admin/status", "admin"),
    ("GET", "/metrics", "admin"),
]
LACKING = {"ingest": READ, "read": INGEST, "admin": READ}


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_needs_a_key_with_its_scope(
    client: TestClient, method: str, path: str, scope: str
) -> None:
    body = {"json": click("u1", "jazz-1")} if method in ("POST", "PUT") else {}
    for headers, code in (({}, 401), ({"X-API-Key": "not-a-key-at-all"}, 401),
                          (LACKING[scope], 403)):  # fmt: skip
        r = client.request(method, path, headers=headers, **body)
        assert r.status_code == code, (headers, r.text)
        # the answer names the header and carries no data
        assert r.json()["detail"][0]["field"] == "X-API-Key"
        assert set(r.json()) == {"detail"}
    st = status(client)
    assert st["events"] == 400 and st["items"] == 40  # nothing was written or deleted


def test_healthz_and_docs_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/users/{user_id}/recommendations" in spec["paths"]
    event = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    single = event["schema"]["anyOf"][1]
    assert set(single["properties"]["type"]["enum"]) == EVENT_TYPES
    # user_id may be left out (an anonymous session's event): its string form is bounded
    user_id = single["properties"]["user_id"]["anyOf"][0]
    assert user_id["maxLength"] == LimitSettings().max_id_len


def test_each_app_enforces_and_documents_its_own_limits(make_client: MakeClient) -> None:
    # the routers are shared by every app: the limits come from each app's settings
    small = make_client(limits=LimitSettings(max_k=5, max_id_len=12))
    assert small.get("/v1/users/u1/recommendations?k=6", headers=READ).status_code == 422
    assert small.get("/v1/users/a-very-long-user/interests", headers=READ).status_code == 422
    assert small.get("/v1/admin/trending?n=6", headers=ADMIN).status_code == 422
    spec = small.get("/openapi.json").json()
    small.__exit__(None, None, None)
    default = make_client()
    assert len(rec_ids(default, "u1", k=6)) == 6
    params = spec["paths"]["/v1/users/{user_id}/recommendations"]["get"]["parameters"]
    by_name = {p["name"]: p["schema"] for p in params}
    assert by_name["k"]["maximum"] == 5 and by_name["user_id"]["maxLength"] == 12
    assert "x-pulserec-limit" not in str(spec)
    default_spec = default.get("/openapi.json").json()
    body = default_spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    batch = body["application/json"]["schema"]["anyOf"][0]["properties"]["events"]
    assert batch["maxItems"] == LimitSettings().max_batch


# ------------------------------------------------------------------------------------- events


def test_a_batch_with_bad_events_stores_the_good_ones(client: TestClient) -> None:
    now = time.time()
    batch = [
        click("carol", "jazz-1"),
        {"user_id": "carol\x00", "item_id": "jazz-2", "type": "click", "timestamp": now},
        click("carol", "jazz-3"),
        {"user_id": "carol", "item_id": "jazz-4", "type": "teleport", "timestamp": now},
        {"user_id": "carol", "type": "click", "timestamp": now},  # no item
        {"user_id": "carol", "item_id": "jazz-5", "type": "view", "timestamp": now + 7 * 86400},
        {"user_id": "carol", "item_id": "jazz-6", "type": "view", "timestamp": "yesterday"},
        click("carol", "jazz-7", value=float("nan")) | {"value": None},
        "not an object",
        click("carol", "jazz-8", colour="red"),
    ]
    r = client.post("/v1/events", json={"events": batch}, headers=INGEST)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    got = {(e["index"], e["field"]) for e in body["errors"]}
    assert got == {
        (1, "user_id"), (3, "type"), (4, "item_id"), (5, "timestamp"), (6, "timestamp"),
        (8, None), (9, "colour"),
    }  # fmt: skip
    assert all(e["message"] for e in body["errors"])
    assert status(client)["events"] == 403
    recent = client.get("/v1/users/carol/interests", headers=READ).json()["recent_items"]
    assert set(recent) == {"jazz-1", "jazz-3", "jazz-7"}


def test_a_request_without_any_valid_event_is_422_naming_each_field(client: TestClient) -> None:
    bad = [{"user_id": "x" * 300, "item_id": "jazz-1", "type": "click", "timestamp": 1.0},
           {"user_id": "dave", "item_id": "jazz-1", "type": "click", "timestamp": -5}]  # fmt: skip
    r = client.post("/v1/events", json={"events": bad}, headers=INGEST)
    assert r.status_code == 422
    assert fields(r) == ["events.0.user_id", "events.1.timestamp"]
    assert "256" in r.json()["detail"][0]["message"]
    single = client.post("/v1/events", json=bad[1], headers=INGEST)
    assert single.status_code == 422 and fields(single) == ["timestamp"]
    assert status(client)["events"] == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b"[" * 100_000 + b"]" * 100_000, "body"),
        (b'{"events": []}', "events"),
        (b'{"events": {"user_id": "u"}}', "events"),
        (b'{"events": [], "extra": 1}', "extra"),
        (b'{"events": [], "\xed\xa0\x80": 1}', "\\ud800"),
    ],
)
def test_malformed_bodies_are_422_naming_the_field(
    client: TestClient, body: bytes, field: str
) -> None:
    r = client.post("/v1/events", content=body, headers=JSON_INGEST)
    assert r.status_code == 422 and fields(r) == [field], r.text


SURROGATE = b"\xed\xa0\x80"
"""U+D800 as UTF-8 would encode it: no valid UTF-8 holds these bytes, yet Python's JSON
decoder reads them (it decodes with surrogatepass)."""


@pytest.mark.parametrize("bad", [SURROGATE, b"\\ud800"], ids=["raw", "escaped"])
@pytest.mark.parametrize(
    ("event", "field"),
    [
        (b'"user_id": "u{S}", "item_id": "jazz-1", "type": "click"', "user_id"),
        (b'"user_id": "u", "item_id": "jazz-1{S}", "type": "click"', "item_id"),
        (b'"user_id": "u", "item_id": "jazz-1", "type": "comment", "text": "nice {S}"', "text"),
        (b'"user_id": "u", "type": "search", "text": "jazz {S}"', "text"),
        (b'"user_id": "u", "item_id": "jazz-1", "type": "click", "event_id": "e{S}"', "event_id"),
        (b'"user_id": "u", "item_id": "jazz-1", "type": "click{S}"', "type"),
        (b'"user_id": "u", "item_id": "jazz-1", "type": "click", "x{S}": 1', "x\\ud800"),
    ],
)
def test_unpaired_surrogates_reject_only_their_event(
    client: TestClient, event: bytes, field: str, bad: bytes
) -> None:
    now = str(time.time()).encode()
    good = [b'{"user_id": "sv", "item_id": "jazz-%d", "type": "click", "timestamp": %s}' % (j, now)
            for j in range(3)]  # fmt: skip
    entry = b"{" + event.replace(b"{S}", bad) + b', "timestamp": ' + now + b"}"
    r = client.post("/v1/events", content=b'{"events": [' + b", ".join([*good, entry]) + b"]}",
                    headers=JSON_INGEST)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert [(e["index"], e["field"]) for e in r.json()["errors"]] == [(3, field)]
    single = client.post("/v1/events", content=entry, headers=JSON_INGEST)
    assert single.status_code == 422 and fields(single) == [field], single.text
    assert status(client)["events"] == 403


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ('"item_id": "it{S}"', "items.1.item_id"),
        ('"item_id": "it", "title": "Kind of {S}"', "items.1.title"),
        ('"item_id": "it", "text": "{S}"', "items.1.text"),
        ('"item_id": "it", "categories": ["ok", "c{S}"]', "items.1.categories.1"),
        ('"item_id": "it", "attributes": {"k{S}": 1}', "items.1.attributes"),
        ('"item_id": "it", "attributes": {"k": "v{S}"}', "items.1.attributes"),
        ('"item_id": "it", "attributes": {"k": ["a", "v{S}"]}', "items.1.attributes"),
    ],
)
def test_unpaired_surrogates_in_items_are_422_naming_the_field(
    client: TestClient, item: str, field: str
) -> None:
    for bad in (SURROGATE, b"\\ud800"):
        body = b'{"items": [{"item_id": "fine"}, {' + item.encode().replace(b"{S}", bad) + b"}]}"
        r = client.put("/v1/items", content=body, headers=JSON_INGEST)
        assert r.status_code == 422 and fields(r) == [field], r.text
        assert "surrogate" in r.json()["detail"][0]["message"]
    assert status(client)["items"] == 40


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1", "application/jsonp"],
)  # fmt: skip
def test_a_body_not_sent_as_json_is_415(client: TestClient, content_type: str | None) -> None:
    body = json.dumps(click("tia", "jazz-1")).encode()
    headers = INGEST if content_type is None else {**INGEST, "Content-Type": content_type}
    for method, path in (("POST", "/v1/events"), ("PUT", "/v1/items")):
        r = client.request(method, path, content=body, headers=headers)
        assert r.status_code == 415 and fields(r) == ["Content-Type"], r.text
        assert "expected Content-Type: application/json" in r.json()["detail"][0]["message"]
    assert status(client)["events"] == 400


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=UTF-8", "application/vnd.shop+json"],
)
def test_json_content_types_are_accepted(client: TestClient, content_type: str) -> None:
    body = json.dumps(click("tia", "jazz-1")).encode()
    r = client.post("/v1/events", content=body, headers={**INGEST, "Content-Type": content_type})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_a_single_event_object_is_accepted(client: TestClient) -> None:
    r = client.post("/v1/events", json=click("erin", "hiking-2"), headers=INGEST)
    assert r.json() == {"accepted": 1, "duplicates": 0, "errors": []}


def test_retries_with_the_same_event_id_are_stored_once(client: TestClient) -> None:
    batch = [click("frank", f"jazz-{j}", event_id=f"frank-{j}") for j in range(5)]
    first = client.post("/v1/events", json={"events": batch}, headers=INGEST).json()
    again = client.post("/v1/events", json={"events": batch}, headers=INGEST).json()
    assert (first["accepted"], first["duplicates"]) == (5, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 5)
    twice = [click("frank", "jazz-9", event_id="frank-9")] * 2
    assert (
        client.post("/v1/events", json={"events": twice}, headers=INGEST).json()["duplicates"] == 1
    )
    assert status(client)["events"] == 406
    assert client.get("/v1/users/frank/interests", headers=READ).json()["n_events"] == 6


def test_an_event_for_an_item_not_yet_in_the_catalog_is_stored(client: TestClient) -> None:
    r = client.post("/v1/events", json=click("gina", "brand-new-item"), headers=INGEST)
    assert r.json()["accepted"] == 1
    assert status(client)["events"] == 401
    assert client.get("/v1/users/gina/interests", headers=READ).json()["n_events"] == 1


def test_comment_spam_is_flagged_in_the_log(client: TestClient) -> None:
    comments = [
        click("hank", "jazz-1") | {"type": "comment", "text": "Lovely warm tone on side two."},
        click("hank", "jazz-2") | {"type": "comment", "text": "BUY NOW!!! BEST PRICES www.x.com"},
    ]
    assert (
        client.post("/v1/events", json={"events": comments}, headers=INGEST).json()["accepted"] == 2
    )
    stored = list(runtime(client).engine.storage.events(user_id="hank"))
    assert [s.spam for s in stored] == [False, True]
    assert "pulserec_events_spam_total 1.0" in client.get("/metrics", headers=ADMIN).text


def test_bodies_over_the_limit_are_413(make_client: MakeClient) -> None:
    client = make_client(limits=LimitSettings(max_body_bytes=2048, max_batch=5))
    big = {"events": [click("ivan", "jazz-1", text="x" * 3000)]}
    r = client.post("/v1/events", json=big, headers=INGEST)
    assert r.status_code == 413 and fields(r) == ["body"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted
        yield b'{"events": ['
        for _ in range(100):
            yield b'{"user_id": "ivan", "item_id": "jazz-1", "type": "click", "timestamp": 1},'
        yield b"]}"

    r = client.post("/v1/events", content=chunks(), headers=JSON_INGEST)
    assert r.status_code == 413
    six = {"events": [click("ivan", "jazz-1")] * 6}
    r = client.post("/v1/events", json=six, headers=INGEST)
    assert r.status_code == 422 and fields(r) == ["events"] and "1 to 5" in r.text
    assert status(client)["events"] == 400


# -------------------------------------------------------------------------- recommendations


def test_recommendations_change_on_the_next_call_after_events(client: TestClient) -> None:
    r = client.get("/v1/users/newbie/recommendations", params={"k": 10}, headers=READ)
    body = r.json()
    assert body["user_id"] == "newbie" and body["model_version"] == status(client)["model_version"]
    before = [it["item_id"] for it in body["items"]]
    assert all(it["title"] and it["reason"] for it in body["items"])
    clicks = [click("newbie", f"hiking-{j}") for j in (3, 4, 5)]
    client.post("/v1/events", json={"events": clicks}, headers=INGEST)
    after = rec_ids(client, "newbie", k=10)
    assert after != before
    assert sum(i.startswith("hiking") for i in after) >= 8
    assert not {"hiking-3", "hiking-4", "hiking-5"} & set(after)  # seen items are left out


def test_kept_lists_answer_again_and_the_users_events_still_change_them(
    make_client: MakeClient,
) -> None:
    client = make_client(engine={"list_cache_ttl_s": 60.0})
    first = client.get("/v1/users/newbie/recommendations", params={"k": 10}, headers=READ)
    again = client.get("/v1/users/newbie/recommendations", params={"k": 10}, headers=READ)
    assert again.json()["items"] == first.json()["items"]
    assert again.json()["recommendation_id"] != first.json()["recommendation_id"]
    clicks = [click("newbie", f"hiking-{j}") for j in (3, 4, 5)]
    client.post("/v1/events", json={"events": clicks}, headers=INGEST)
    after = rec_ids(client, "newbie", k=10)  # the user's events: ranked afresh at once
    assert sum(i.startswith("hiking") for i in after) >= 8
    assert not {"hiking-3", "hiking-4", "hiking-5"} & set(after)
    text = client.get("/metrics", headers=ADMIN).text
    assert "pulserec_list_cache_hits_total 1.0" in text
    assert "pulserec_list_cache_misses_total 2.0" in text
    assert "pulserec_list_cache_users 1.0" in text


def test_recommendation_filters(client: TestClient) -> None:
    assert len(rec_ids(client, "u1", k=3)) == 3
    assert all(i.startswith("jazz") for i in rec_ids(client, "u1", k=5, category="jazz"))
    top = rec_ids(client, "u1", k=5)
    assert not set(top[:2]) & set(rec_ids(client, "u1", k=5, exclude=top[:2]))
    assert len(rec_ids(client, "u1", k=5, diversity=1.0)) == 5


def test_filter_and_boost_expressions(client: TestClient) -> None:
    mugs = [{"item_id": f"mug-{j}", "title": f"Mug {j}", "categories": ["mugs"],
             "attributes": {"price": 10 * j, "brand": "acme" if j % 2 else "zen"}}
            for j in range(6)]  # fmt: skip
    assert client.put("/v1/items", json={"items": mugs}, headers=INGEST).status_code == 200
    assert sorted(rec_ids(client, "u1", k=10, filter="item.price < 30")) == [
        "mug-0", "mug-1", "mug-2"
    ]  # fmt: skip
    jazz = rec_ids(client, "u1", k=5, filter="item.category == 'jazz' or item.brand == 'acme'")
    assert len(jazz) == 5 and all(i.startswith("jazz") or i in {"mug-1", "mug-3", "mug-5"}
                                  for i in jazz)  # fmt: skip
    assert rec_ids(client, "u1", k=3, boost="1000 * (item.id == 'mug-5')")[0] == "mug-5"
    same = rec_ids(client, "u1", k=3, filter="item.category in user.recent_categories")
    assert same == rec_ids(client, "u1", k=3, category="hiking")  # u1 clicks hiking only
    for params, field, message in (
        ({"filter": "item.price <"}, "filter", "expected a value at position 12"),
        ({"boost": "item.brand"}, "boost", "a boost must be a number"),
        ({"filter": "x" * 2001}, "filter", "at most 2000 characters"),
    ):
        r = client.get("/v1/users/u1/recommendations", params=params, headers=READ)
        assert r.status_code == 422 and fields(r) == [field], r.text
        assert message in r.json()["detail"][0]["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": "ten"}, "k"),
        ({"diversity": 1.5}, "diversity"),
        ({"diversity": "nan"}, "diversity"),
        ({"category": "a\tb"}, "category"),
        ({"exclude": ["ok", " padded "]}, "exclude.1"),
    ],
)
def test_bad_query_parameters_are_422_naming_them(
    client: TestClient, query: dict[str, Any], field: str
) -> None:
    r = client.get("/v1/users/u1/recommendations", params=query, headers=READ)
    assert r.status_code == 422 and fields(r) == [field], r.text


@pytest.mark.parametrize("user", ["bad%01id", "x" * 257, "%20"])
def test_bad_user_ids_in_the_path_are_422(client: TestClient, user: str) -> None:
    r = client.get(f"/v1/users/{user}/recommendations", headers=READ)
    assert r.status_code == 422 and fields(r) == ["user_id"], r.text


def test_ids_may_hold_any_printable_character(client: TestClient) -> None:
    user = "ü/ser:42 ✓ 👩‍💻 用户"
    assert (
        client.post("/v1/events", json=click(user, "jazz-1"), headers=INGEST).json()["accepted"]
        == 1
    )
    r = client.get(f"/v1/users/{user}/interests", headers=READ)
    assert r.status_code == 200 and r.json()["user_id"] == user


def test_reads_never_create_state_for_unknown_users(client: TestClient) -> None:
    engine = runtime(client).engine
    assert client.get("/v1/users/ghost/recommendations", headers=READ).status_code == 200
    assert client.get("/v1/search", params={"q": "trail"}, headers=READ).status_code == 200
    r = client.get("/v1/users/ghost/interests", headers=READ)
    assert r.status_code == 404 and fields(r) == ["user_id"]
    assert engine.states.peek("ghost") is None
    assert status(client)["users"] == 40
    assert client.get("/v1/users/ghost/interests", headers=READ).status_code == 404


def test_delete_user_removes_events_and_state(client: TestClient) -> None:
    # u3 has 10 events in the seeded history and long-term factors in the trained models
    more = {"events": [click("u3", "hiking-1"), click("u3", "hiking-2")]}
    assert client.post("/v1/events", json=more, headers=INGEST).json()["accepted"] == 2
    assert client.get("/v1/users/u3/interests", headers=READ).status_code == 200
    assert rec_ids(client, "u3", k=40) != rec_ids(client, "a-stranger", k=40)
    r = client.delete("/v1/users/u3", headers=ADMIN)
    assert r.json() == {"user_id": "u3", "deleted_events": 12}
    assert client.get("/v1/users/u3/interests", headers=READ).status_code == 404
    assert runtime(client).engine.states.peek("u3") is None
    assert list(runtime(client).engine.storage.events(user_id="u3")) == []
    st = status(client)
    assert (st["events"], st["users"]) == (400 - 10, 39)
    # u3 is a stranger now: the cold-start list, with the items they clicked back in it
    assert rec_ids(client, "u3", k=40) == rec_ids(client, "a-stranger", k=40)
    assert client.delete("/v1/users/u3", headers=ADMIN).json()["deleted_events"] == 0


# ------------------------------------------------------------------------------------- items


def test_an_upserted_item_is_searchable_and_recommendable_at_once(client: TestClient) -> None:
    item = {"item_id": "theremin-1", "title": "Theremin lessons",
            "text": "theremin oscillator electronic", "categories": ["electronic"],
            "attributes": {"price": 12.5, "tags": ["new", "audio"]}}  # fmt: skip
    assert client.put("/v1/items", json=item, headers=INGEST).json() == {"upserted": 1}
    got = client.get("/v1/items/theremin-1", headers=READ).json()
    assert got["title"] == "Theremin lessons" and got["attributes"]["tags"] == ["new", "audio"]
    found = client.get("/v1/search", params={"q": "theremin", "k": 3}, headers=READ).json()
    assert found["items"][0]["item_id"] == "theremin-1"
    assert rec_ids(client, "u1", k=5, category="electronic") == ["theremin-1"]
    # a user who searched for it gets it recommended, with a reason
    client.get("/v1/search", params={"q": "theremin oscillator", "user_id": "kim"}, headers=READ)
    assert client.get("/v1/users/kim/interests", headers=READ).json()["queries"] == [
        "theremin oscillator"
    ]
    assert "theremin-1" in rec_ids(client, "kim", k=5)


def test_item_batches_are_all_or_nothing(client: TestClient) -> None:
    batch = [{"item_id": "ok-1", "title": "Fine"}, {"item_id": "", "title": "Bad"},
             {"item_id": "ok-2", "categories": ["a", "b\n"]}]  # fmt: skip
    r = client.put("/v1/items", json={"items": batch}, headers=INGEST)
    assert r.status_code == 422
    assert fields(r) == ["items.1.item_id", "items.2.categories.1"]
    assert client.get("/v1/items/ok-1", headers=READ).status_code == 404
    assert status(client)["items"] == 40
    ok = client.put("/v1/items", json={"items": [batch[0]]}, headers=INGEST)
    assert ok.json() == {"upserted": 1} and status(client)["items"] == 41


def test_a_publication_time_in_milliseconds_is_422_naming_the_field(client: TestClient) -> None:
    # in milliseconds it would read as a date centuries ahead: never out, never proposed
    item = {"item_id": "late-1", "categories": ["jazz"], "created_at": 1.7e12}
    r = client.put("/v1/items", json=item, headers=INGEST)
    assert r.status_code == 422 and fields(r) == ["created_at"], r.text
    assert "less than or equal to 4102444800" in r.json()["detail"][0]["message"]
    assert client.get("/v1/items/late-1", headers=READ).status_code == 404
    item["created_at"] = 1.7e9
    assert client.put("/v1/items", json=item, headers=INGEST).status_code == 200
    assert client.get("/v1/items/late-1", headers=READ).json()["created_at"] == 1.7e9


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (b'{"price": NaN}', "attribute 'price': must be a finite number, got nan"),
        (b'{"price": 1e400}', "attribute 'price': must be a finite number, got inf"),
        (b'{"sizes": [1, -Infinity]}', "attribute 'sizes': must be a finite number, got -inf"),
        (b'{"%s": 1}' % (b"k" * 100_000), "an attribute name must be at most 256 characters"),
        (b'{"": 1}', "an attribute name must not be empty"),
        (b'{"a\\tb": 1}', "an attribute name must not contain control"),
        (b'{"note": "%s"}' % (b"x" * 5001), "attribute 'note': must be at most 5000 characters"),
    ],
)
def test_bad_item_attributes_are_422(client: TestClient, attributes: bytes, message: str) -> None:
    body = b'{"item_id": "attr-1", "attributes": ' + attributes + b"}"
    r = client.put("/v1/items", content=body, headers=JSON_INGEST)
    assert r.status_code == 422 and fields(r) == ["attributes"], r.text
    assert r.json()["detail"][0]["message"].startswith(message)
    assert client.get("/v1/items/attr-1", headers=READ).status_code == 404


def test_item_properties_are_typed_and_a_clash_is_422_naming_the_field(
    client: TestClient,
) -> None:
    first = {"item_id": "p-1", "attributes": {"price": 5, "launch": "2026-01-05"}}
    assert client.put("/v1/items", json=first, headers=INGEST).status_code == 200
    batch = [{"item_id": "p-2", "attributes": {"price": 7}},
             {"item_id": "p-3", "attributes": {"price": "cheap", "sizes": [1, 2]}},
             {"item_id": "p-4",
              "attributes": {"launch": "2026-01-05T10:00", "id": "x"}}]  # fmt: skip
    r = client.put("/v1/items", json={"items": batch}, headers=INGEST)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["message"]) for e in r.json()["detail"]] == [
        ("items.1.attributes.price", "expected a number (the property's type), got a string"),
        ("items.1.attributes.sizes", "a list must hold strings only, got int"),
        ("items.2.attributes.launch",
         "a datetime needs a timezone (Z or +hh:mm), got '2026-01-05T10:00'"),
        ("items.2.attributes.id", "'id' is a built-in property; use another name"),
    ]  # fmt: skip
    assert client.get("/v1/items/p-2", headers=READ).status_code == 404  # all or nothing
    one = client.put("/v1/items", json={"item_id": "p-5", "attributes": {"price": True}},
                     headers=INGEST)  # fmt: skip
    assert one.status_code == 422 and fields(one) == ["attributes.price"]


def test_browse_get_and_delete_items(client: TestClient) -> None:
    page = client.get("/v1/items", params={"limit": 5, "offset": 18}, headers=READ).json()
    assert page["total"] == 40 and page["offset"] == 18 and page["limit"] == 5
    assert [i["item_id"] for i in page["items"]] == [
        "jazz-18", "jazz-19", "hiking-0", "hiking-1", "hiking-2",
    ]  # fmt: skip
    hiking = client.get("/v1/items", params={"category": "hiking", "limit": 100}, headers=READ)
    assert hiking.json()["total"] == 20
    assert client.get("/v1/items", params={"limit": 101}, headers=READ).status_code == 422

    assert client.delete("/v1/items/hiking-0", headers=INGEST).json() == {
        "item_id": "hiking-0", "deleted": True,
    }  # fmt: skip
    assert client.get("/v1/items/hiking-0", headers=READ).status_code == 404
    assert client.delete("/v1/items/hiking-0", headers=INGEST).status_code == 404
    assert "hiking-0" not in rec_ids(client, "u1", k=40, category="hiking")
    similar = client.get("/v1/items/hiking-1/similar", params={"k": 30}, headers=READ).json()
    assert "hiking-0" not in [s["item_id"] for s in similar["items"]]
    assert (
        client.get("/v1/items", params={"category": "hiking"}, headers=READ).json()["total"] == 19
    )


def test_similar_items(client: TestClient) -> None:
    r = client.get("/v1/items/jazz-4/similar", params={"k": 5}, headers=READ)
    items = r.json()["items"]
    assert r.json()["item_id"] == "jazz-4" and len(items) == 5
    assert all(i["item_id"].startswith("jazz") and i["item_id"] != "jazz-4" for i in items)
    missing = client.get("/v1/items/nope/similar", headers=READ)
    assert missing.status_code == 404 and fields(missing) == ["item_id"]


def test_search_validates_its_query(client: TestClient) -> None:
    assert fields(client.get("/v1/search", params={"q": "  "}, headers=READ)) == ["q"]
    assert fields(client.get("/v1/search", headers=READ)) == ["q"]
    r = client.get("/v1/search", params={"q": "jazz", "k": 0}, headers=READ)
    assert r.status_code == 422 and fields(r) == ["k"]


# ------------------------------------------------------------------------------------- admin


def test_train_runs_in_the_background_while_ingest_and_reads_keep_working(
    client: TestClient,
) -> None:
    engine: Engine = runtime(client).engine
    old_version = status(client)["model_version"]
    gate = threading.Event()
    real_train = engine.train

    def held_train(**kwargs: Any) -> Any:
        assert gate.wait(30), "the test never released the refit"
        return real_train(**kwargs)

    engine.train = held_train  # type: ignore[method-assign]
    r = client.post("/v1/admin/train", headers=ADMIN)
    assert r.status_code == 202 and r.json() == {"status": "training", "model_version": old_version}
    again = client.post("/v1/admin/train", headers=ADMIN)
    assert again.status_code == 409
    assert status(client)["training"] is True
    # the loop keeps going while the refit runs
    more = [click("lee", f"jazz-{j}") for j in range(6)]
    assert client.post("/v1/events", json={"events": more}, headers=INGEST).json()["accepted"] == 6
    assert len(rec_ids(client, "lee", k=5)) == 5
    gate.set()
    deadline = time.monotonic() + 30
    while status(client)["training"] and time.monotonic() < deadline:
        time.sleep(0.05)
    st = status(client)
    assert st["training"] is False and st["last_error"] is None
    assert st["model_version"] != old_version
    assert st["last_training"]["model_version"] == st["model_version"]
    assert st["last_training"]["seconds"] > 0
    assert client.get("/healthz").json()["model_version"] == st["model_version"]
    assert rec_ids(client, "lee", k=5)


def test_a_failed_refit_is_reported_and_the_old_models_stay(client: TestClient) -> None:
    engine = runtime(client).engine
    version = status(client)["model_version"]

    def broken_train(**kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    engine.train = broken_train  # type: ignore[method-assign]
    assert client.post("/v1/admin/train", headers=ADMIN).status_code == 202
    runtime(client).trainer.join(10)
    st = status(client)
    assert st["last_error"] == "RuntimeError: disk full" and st["model_version"] == version


def test_metrics_expose_latency_histograms_and_counters(client: TestClient) -> None:
    client.post("/v1/events", json={"events": [click("mo", "jazz-1"), {}]}, headers=INGEST)
    rec_ids(client, "mo")
    client.get("/v1/admin/status")  # 401
    client.get("/v1/users/mo/recommendations", params={"k": 0}, headers=READ)  # 422
    text = client.get("/metrics", headers=ADMIN).text
    assert "# TYPE pulserec_http_request_duration_seconds histogram" in text
    assert (
        'pulserec_http_request_duration_seconds_count{method="GET",'
        'route="/v1/users/{user_id:path}/recommendations"} 2.0'
    ) in text
    assert 'pulserec_http_request_duration_seconds_bucket{le="0.01",method="POST"' in text
    assert "pulserec_events_ingested_total 1.0" in text
    assert "pulserec_events_rejected_total 1.0" in text
    assert 'pulserec_http_errors_total{status="401"} 1.0' in text
    assert 'pulserec_http_errors_total{status="422"} 1.0' in text
    assert "/v1/users/mo" not in text  # raw paths (user ids) never become labels
    assert 'pulserec_gc_pause_seconds_bucket{generation="2",le="0.1"}' in text
    assert "pulserec_gc_frozen_objects" in text


def test_metrics_expose_the_pending_items_bound(client: TestClient) -> None:
    runtime(client).engine.items.pending = PendingItems(max_size=2)
    for item, user in [("soon-1", "a"), ("soon-1", "b"), ("soon-2", "a")]:  # one at a time
        r = client.post("/v1/events", json=click(user, item), headers=INGEST)
        assert r.status_code == 200 and r.json()["accepted"] == 1  # unknown item: logged
    text = client.get("/metrics", headers=ADMIN).text
    assert "pulserec_pending_items 1.0" in text
    assert "pulserec_pending_pairs 1.0" in text
    assert "pulserec_pending_dropped_total 2.0" in text


def test_unknown_routes_and_methods_answer_in_the_same_shape(client: TestClient) -> None:
    r = client.get("/v2/nothing", headers=READ)
    assert r.status_code == 404 and r.json() == {
        "detail": [{"field": None, "message": "Not Found"}]
    }
    assert client.patch("/v1/items", headers=READ).status_code == 405


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/v1/items/jazz-1", "/v1/users/u1/recommendations?k=3", "/", "/static/app.css"],
)
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    got = client.get(path, headers=ADMIN)
    head = client.head(path, headers=ADMIN)
    assert (head.status_code, head.content) == (got.status_code, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert client.head("/v1/admin/status").status_code == 401
    assert client.head("/v1/events", headers=ADMIN).status_code == 405
    text = client.get("/metrics", headers=ADMIN).text
    heads = [line for line in text.splitlines() if line.startswith(
        'pulserec_http_request_duration_seconds_count{method="HEAD"')]  # fmt: skip
    assert heads and not any('route="unmatched"' in line for line in heads), heads


def test_cors_is_off_unless_origins_are_configured(make_client: MakeClient) -> None:
    preflight = {"Origin": "http://shop.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "X-API-Key"}  # fmt: skip
    off = make_client()
    r = off.options("/v1/items", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    off.__exit__(None, None, None)
    on = make_client(cors_origins=["http://shop.example"])
    r = on.options("/v1/items", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "http://shop.example"


def test_the_event_log_is_the_sqlite_file_in_the_data_dir(
    client: TestClient, tmp_path: Path
) -> None:
    client.post("/v1/events", json=click("nia", "jazz-1", event_id="nia-1"), headers=INGEST)
    with sqlite3.connect(tmp_path / "data" / "pulserec.db") as db:
        rows = db.execute("SELECT user_id, item_id FROM events WHERE event_id = 'nia-1'")
        assert rows.fetchall() == [("nia", "jazz-1")]
    assert (tmp_path / "data" / "artifacts" / "current.json").is_file()
