"""Placements from JSON and back, and the lists recently shown."""

from __future__ import annotations

import pytest

from pulserec.control.placements import Placement, Promotion
from pulserec.control.shown import ShownLists
from pulserec.types import ValidationError

FULL = {
    "k": 8, "sources": ["covisit", "session"], "weights": {"trending": 0.0},
    "filter": "item.stock > 0", "boost": "0.2 * item.sponsored", "diversity": 0.3,
    "exclude_seen": False, "repeat_after_days": 30.0,
    "not_shown": {"lists": 3, "minutes": 60.0},
    "promotions": [{"filter": "item.sponsored", "share": 0.25},
                   {"filter": "item.brand == 'acme'", "slots": [0, 4]}],
}  # fmt: skip


def test_json_round_trip() -> None:
    placement = Placement.from_dict("home", FULL)
    assert placement.promotions[1] == Promotion("item.brand == 'acme'", slots=(0, 4))
    assert placement.to_dict() == FULL
    assert Placement.from_dict("home", placement.to_dict()) == placement
    assert Placement.from_dict("bare", {}).to_dict() == {}


def test_promotion_slot_counts() -> None:
    assert Promotion("true", share=0.2).count(10) == 2
    assert Promotion("true", share=0.25).count(10) == 2  # rounded down: never over
    assert Promotion("true", share=0.3).count(10) == 3
    assert Promotion("true", slots=(0, 4, 12)).count(10) == 2  # a slot past k is not one


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"k": 101}, "k"), ({"k": True}, "k"), ({"diversity": 2}, "diversity"),
        ({"filter": ""}, "filter"), ({"sources": "ann"}, "sources"),
        ({"weights": {"x": "1"}}, "weights.x"), ({"not_shown": {"hours": 1}}, "not_shown"),
        ({"promotions": [{"filter": "true", "share": 0.5, "slots": [1]}]}, "promotions.0"),
        ({"promotions": [{"filter": "true", "slots": [100]}]}, "promotions.0.slots.0"),
        ({"exclude_seen": "no"}, "exclude_seen"),
    ],
)  # fmt: skip
def test_bad_fields_are_named(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Placement.from_dict("x", body)
    assert info.value.field == field


def test_shown_lists_by_count_by_time_and_both() -> None:
    shown = ShownLists(per_user=3)
    for j, ids in enumerate((["a"], ["b"], ["c"], ["d"])):
        shown.add("ana", ids, now=100.0 * j)  # a at 0, b at 100, c at 200, d at 300
    assert shown.recent("ana", lists=2) == {"c", "d"}
    assert shown.recent("ana", seconds=150, now=300) == {"c", "d"}
    assert shown.recent("ana", lists=1, seconds=250, now=300) == {"b", "c", "d"}
    assert shown.recent("ana", lists=10) == {"b", "c", "d"}  # three lists held per user
    assert shown.recent("bob", lists=5) == set()
    shown.forget("ana")
    assert shown.recent("ana", lists=5) == set()


def test_shown_lists_hold_the_latest_users_only() -> None:
    shown = ShownLists(max_users=2)
    for user in ("a", "b", "c"):
        shown.add(user, ["x"], now=0.0)
    assert shown.recent("a", lists=1) == set() and shown.recent("c", lists=1) == {"x"}
