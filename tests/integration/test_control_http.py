"""Placements, promotions and their rules over HTTP, on the seeded shop plus ten mugs."""

from __future__ import annotations

import time
from typing import Any

import pytest
import test_service
from fastapi.testclient import TestClient
from test_service import ADMIN, INGEST, READ, MakeClient, fields, rec_ids

pytestmark = pytest.mark.integration

MUGS = "item.category == 'mugs'"

# the service tests' fixtures: the seeded data dir (trained once per module) and clients
seeded_dir = test_service.seeded_dir
make_client = test_service.make_client
client = test_service.client


def put_mugs(client: TestClient) -> None:
    """mug-0..9: price 10 j, acme below 3, zen above; 7, 8 and 9 sponsored."""
    mugs = [{"item_id": f"mug-{j}", "title": f"Mug {j}", "categories": ["mugs"],
             "attributes": {"price": 10 * j, "brand": "acme" if j < 3 else "zen",
                            "sponsored": j >= 7}}
            for j in range(10)]  # fmt: skip
    assert client.put("/v1/items", json={"items": mugs}, headers=INGEST).status_code == 200


def put(client: TestClient, name: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.put(f"/v1/placements/{name}", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def recs(client: TestClient, user: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"/v1/users/{user}/recommendations", params=params, headers=READ)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_placements_are_stored_served_and_survive_a_restart(make_client: MakeClient) -> None:
    first = make_client()
    put_mugs(first)
    body = {"k": 4, "filter": MUGS, "diversity": 0.2}
    assert put(first, "shelf", body) == {"name": "shelf", **body}
    assert first.put("/v1/placements/x", json=body, headers=READ).status_code == 403
    listed = first.get("/v1/placements", headers=READ).json()["placements"]
    assert listed == [{"name": "shelf", **body}]
    shelf = rec_ids(first, "u1", placement="shelf")
    assert len(shelf) == 4 and all(i.startswith("mug-") for i in shelf)
    assert len(rec_ids(first, "u1", placement="shelf", k=2)) == 2  # the request's k wins
    both = rec_ids(first, "u1", placement="shelf", filter="item.price < 20")
    assert sorted(both) == ["mug-0", "mug-1"]  # the placement's filter and the request's
    bad = first.get(
        "/v1/users/u1/recommendations",
        params={"placement": "shelf", "filter": "item.price <"},
        headers=READ,
    )
    assert bad.status_code == 422 and fields(bad) == ["filter"]
    assert "at position 12" in bad.json()["detail"][0]["message"]  # in the request's text
    first.__exit__(None, None, None)

    second = make_client()
    assert second.get("/v1/placements/shelf", headers=READ).json() == {"name": "shelf", **body}
    r = second.delete("/v1/placements/shelf", headers=ADMIN)
    assert r.json() == {"name": "shelf", "deleted": True}
    assert second.get("/v1/placements/shelf", headers=READ).status_code == 404
    assert second.delete("/v1/placements/shelf", headers=ADMIN).status_code == 404
    # the name now only labels the list (online metrics): the placement's k no longer
    # applies
    assert len(rec_ids(second, "u1", placement="shelf")) == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sources": ["ann", "nope"]}, "sources.1"),
        ({"weights": {"nope": 1.0}}, "weights.nope"),
        ({"filter": "item.price <"}, "filter"),
        ({"boost": "item.brand"}, "boost"),
        ({"k": 0}, "k"),
        ({"colour": 1}, "colour"),
        ({"not_shown": {"lists": 0}}, "not_shown.lists"),
        ({"promotions": [{"filter": "true"}]}, "promotions.0"),
        ({"promotions": [{"filter": "item.nope", "share": 0.2}]}, "promotions.0.filter"),
        ({"promotions": [{"filter": "true", "share": 0.6}, {"filter": "true", "share": 0.6}]},
         "promotions"),
        ({"promotions": [{"filter": "true", "slots": [1]}, {"filter": "true", "slots": [1]}]},
         "promotions"),
    ],
)  # fmt: skip
def test_a_bad_placement_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    put_mugs(client)
    r = client.put("/v1/placements/bad", json=body, headers=ADMIN)
    assert r.status_code == 422 and fields(r) == [field], r.text
    assert client.get("/v1/placements/bad", headers=READ).status_code == 404


def test_a_promotion_takes_its_share_and_never_more(client: TestClient) -> None:
    put_mugs(client)
    put(client, "mugs", {"k": 10, "filter": MUGS,
                         "promotions": [{"filter": "item.sponsored", "share": 0.2}]})  # fmt: skip
    for boost in (None, "100 * item.sponsored"):  # even when every sponsored item wins
        items = recs(client, "u1", placement="mugs", **({"boost": boost} if boost else {}))
        ids = [i["item_id"] for i in items]
        sponsored = [i for i in items if i["item_id"] in {"mug-7", "mug-8", "mug-9"}]
        # 7 mugs are not sponsored; 2 of 10 slots go to sponsored ones
        assert len(ids) == 9 and len(sponsored) == 2
        assert all(i["reason"] == "promoted" for i in sponsored)
        assert all(i["reason"] != "promoted" for i in items if i not in sponsored)


def test_pinned_slots(client: TestClient) -> None:
    put_mugs(client)
    put(client, "pins", {"k": 5, "promotions": [{"filter": "item.brand == 'acme'",
                                                 "slots": [3, 0]}]})  # fmt: skip
    items = recs(client, "u1", placement="pins")
    acme = {"mug-0", "mug-1", "mug-2"}
    assert len(items) == 5
    assert [j for j, i in enumerate(items) if i["item_id"] in acme] == [0, 3]
    assert items[0]["reason"] == items[3]["reason"] == "promoted"


def test_not_shown_in_the_last_lists_or_minutes(client: TestClient) -> None:
    put_mugs(client)
    put(client, "last", {"k": 3, "filter": MUGS, "not_shown": {"lists": 1}})
    a, b, c = (set(rec_ids(client, "ann", placement="last")) for _ in range(3))
    assert len(a) == len(b) == len(c) == 3 and not a & b and not b & c
    put(client, "hour", {"k": 3, "filter": MUGS, "not_shown": {"minutes": 60}})
    lists = [rec_ids(client, "bob", placement="hour") for _ in range(4)]
    assert [len(x) for x in lists] == [3, 3, 3, 1]  # ten mugs, none twice within the hour
    assert len({i for x in lists for i in x}) == 10


def test_repeat_after_days(client: TestClient) -> None:
    put_mugs(client)
    two_days_ago = time.time() - 2 * 86_400
    event = {"user_id": "buyer", "item_id": "mug-1", "type": "purchase",
             "timestamp": two_days_ago}  # fmt: skip
    assert client.post("/v1/events", json=event, headers=INGEST).json()["accepted"] == 1
    put(client, "again", {"k": 10, "filter": MUGS, "repeat_after_days": 1})
    put(client, "weekly", {"k": 10, "filter": MUGS, "repeat_after_days": 7})
    assert "mug-1" in rec_ids(client, "buyer", placement="again")
    assert "mug-1" not in rec_ids(client, "buyer", placement="weekly")
    assert "mug-1" not in rec_ids(client, "buyer", filter=MUGS)


def visit(item: str, *, session: str | None = None, user: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"item_id": item, "type": "click", "timestamp": time.time()}
    if session is not None:
        event["session_id"] = session
    if user is not None:
        event["user_id"] = user
    return event


def test_an_anonymous_session_gets_real_time_lists_and_folds_in_at_login(
    client: TestClient,
) -> None:
    before = rec_ids(client, "session:s1", k=10)
    batch = [visit(f"hiking-{j}", session="s1") for j in (2, 3, 4)]
    assert client.post("/v1/events", json={"events": batch}, headers=INGEST).json()["accepted"] == 3
    after = rec_ids(client, "session:s1", k=10)
    hiking = sum(i.startswith("hiking") for i in after)
    assert hiking >= 8 and hiking > sum(i.startswith("hiking") for i in before)
    assert not {"hiking-2", "hiking-3", "hiking-4"} & set(after)
    # the login: one event carrying both ids moves the session's history to the user
    login = visit("hiking-5", session="s1", user="newcomer")
    assert client.post("/v1/events", json=login, headers=INGEST).json()["accepted"] == 1
    seen = {"hiking-2", "hiking-3", "hiking-4", "hiking-5"}
    assert not seen & set(rec_ids(client, "newcomer", k=20))
    assert client.get("/v1/users/session:s1/interests", headers=READ).status_code == 404
    # the session is a stranger again
    assert rec_ids(client, "session:s1", k=10) == rec_ids(client, "someone-new", k=10)


def test_merge_by_route(client: TestClient) -> None:
    batch = [visit(f"jazz-{j}", session="s2") for j in (1, 2)]
    client.post("/v1/events", json={"events": batch}, headers=INGEST)
    r = client.post("/v1/users/lee/merge", json={"session_id": "s2"}, headers=INGEST)
    assert r.json() == {"user_id": "lee", "session_id": "s2", "merged_events": 2}
    assert not {"jazz-1", "jazz-2"} & set(rec_ids(client, "lee", k=20))
    again = client.post("/v1/users/lee/merge", json={"session_id": "s2"}, headers=INGEST)
    assert again.json()["merged_events"] == 0
    assert client.post("/v1/users/lee/merge", json={"session_id": "s2"},
                       headers=READ).status_code == 403  # fmt: skip
    bad = client.post("/v1/users/lee/merge", json={"session": "s2"}, headers=INGEST)
    assert bad.status_code == 422 and "session_id" in fields(bad)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"item_id": "jazz-1", "type": "click", "timestamp": 1.0}, None),
        ({"user_id": "session:x", "item_id": "jazz-1", "type": "click", "timestamp": 1.0},
         "user_id"),
    ],
)  # fmt: skip
def test_an_event_needs_a_user_or_a_session(
    client: TestClient, event: dict[str, Any], field: str | None
) -> None:
    r = client.post("/v1/events", json=event, headers=INGEST)
    assert r.status_code == 422 and fields(r) == [field], r.text


def test_a_product_page_lists_the_context_items_category_without_it(client: TestClient) -> None:
    put_mugs(client)
    put(client, "product-page", {"k": 5, "filter": "item.category == context.category",
                                 "boost": "item.brand == context.brand"})  # fmt: skip
    items = recs(client, "u1", placement="product-page", context_item="mug-4")
    ids = [i["item_id"] for i in items]
    assert len(ids) == 5 and "mug-4" not in ids and all(i.startswith("mug-") for i in ids)
    jazz = rec_ids(client, "u1", placement="product-page", context_item="jazz-3")
    assert len(jazz) == 5 and all(i.startswith("jazz-") for i in jazz) and "jazz-3" not in jazz
    assert rec_ids(client, "u1", placement="product-page") == []  # no context: nothing passes
    r = client.get("/v1/users/u1/recommendations", params={"context_item": "nope"}, headers=READ)
    assert r.status_code == 422 and fields(r) == ["context_item"]
