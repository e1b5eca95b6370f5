"""PendingItems: unknown item id -> waiting users, at most max_size pairs, LRU by item."""

from __future__ import annotations

import random

import pytest

from pulserec.state.pending import PendingItems


def test_pairs_are_counted_once_and_popped_with_their_item() -> None:
    pending = PendingItems(max_size=10)
    for item, user in [("a", "u1"), ("a", "u1"), ("a", "u2"), ("b", "u1")]:
        pending.add(item, user)
    assert (pending.size, len(pending)) == (3, 2)
    assert pending.pop(["a", "never-seen"]) == {"u1", "u2"}
    assert (pending.size, "a" in pending, "b" in pending) == (1, False, True)
    assert pending.pop(["a"]) == set()


def test_the_least_recently_touched_item_goes_first() -> None:
    pending = PendingItems(max_size=3)
    pending.add("old", "u1")
    pending.add("mid", "u1")
    pending.add("old", "u2")  # touching "old" makes "mid" the oldest
    pending.add("new", "u3")
    assert "mid" not in pending and pending.users("old") == {"u1", "u2"}
    assert (pending.size, pending.dropped, pending.dropped_items) == (3, 1, 1)
    pending.add("newer", "u4")  # "old" (2 users) goes whole
    assert sorted(pending) == ["new", "newer"]
    assert (pending.size, pending.dropped, pending.dropped_items) == (2, 3, 2)


def test_an_item_with_more_users_than_the_bound_is_dropped_whole() -> None:
    pending = PendingItems(max_size=2)
    for user in ("u1", "u2", "u3"):
        pending.add("hot", user)
    assert (len(pending), pending.size, pending.dropped) == (0, 0, 3)


def test_a_zero_bound_holds_nothing() -> None:
    pending = PendingItems(max_size=0)
    pending.add("a", "u1")
    assert (len(pending), pending.size, pending.dropped) == (0, 0, 1)


def test_discard_user_forgets_the_user_everywhere() -> None:
    pending = PendingItems()
    for item, user in [("a", "gone"), ("b", "gone"), ("b", "stay"), ("c", "stay")]:
        pending.add(item, user)
    pending.discard_user("gone")
    assert "a" not in pending and pending.users("b") == {"stay"} and pending.size == 2
    assert pending.pop(["a", "b", "c"]) == {"stay"}


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_a_bad_bound_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match="max_size: expected an integer >= 0"):
        PendingItems(max_size=bad)  # type: ignore[arg-type]


def test_random_operations_keep_the_bound_and_match_a_reference() -> None:
    rng = random.Random(7)
    pending = PendingItems(max_size=25)
    reference: dict[str, set[str]] = {}  # insertion order = touch order
    dropped = 0
    for _ in range(5000):
        item, user = f"i{rng.randrange(40)}", f"u{rng.randrange(8)}"
        op = rng.random()
        if op < 0.8:
            pending.add(item, user)
            reference[item] = reference.pop(item, set()) | {user}
            while sum(map(len, reference.values())) > 25:
                dropped += len(reference.pop(next(iter(reference))))
        elif op < 0.95:
            assert pending.pop([item]) == reference.pop(item, set())
        else:
            pending.discard_user(user)
            for key in list(reference):
                reference[key].discard(user)
                if not reference[key]:
                    del reference[key]
        assert pending.size == sum(map(len, reference.values())) <= 25
        assert list(pending) == list(reference)
    assert pending.dropped == dropped > 0
