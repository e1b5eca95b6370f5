"""The catalog grouped by first category, kept up to date per upsert (engine/groups.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pulserec.engine.config import EngineConfig
from pulserec.engine.groups import Groups, group_from_scratch
from pulserec.engine.items import LiveItems
from pulserec.types import Item


def live() -> LiveItems:
    return LiveItems(None, EngineConfig())


def members(items: LiveItems, category: str) -> list[str]:
    code = items.category_codes[category]
    return [items.catalog.at(int(j)).item_id for j in items.category_members(code)]


def item(item_id: str, *categories: str) -> Item:
    return Item(item_id, categories=categories)


def test_added_items_join_their_first_category_in_index_order() -> None:
    items = live()
    items.upsert([item("a", "tea", "mugs"), item("b", "mugs"), item("c", "tea"), item("d")])
    assert members(items, "tea") == ["a", "c"]
    assert members(items, "mugs") == ["b"]  # a's second category does not count
    assert items.category_members(-1).tolist() == [3]  # no category
    items.upsert([item("e", "mugs"), item("f", "tea")])
    assert members(items, "tea") == ["a", "c", "f"]
    assert members(items, "mugs") == ["b", "e"]
    assert items.category.tolist() == [0, 1, 0, -1, 1, 0]
    assert items.category_members(99).tolist() == []  # a code nobody has


def test_a_changed_category_moves_the_item_and_keeps_both_groups_ascending() -> None:
    items = live()
    items.upsert([item(x, "tea" if j % 2 else "mugs") for j, x in enumerate("abcdef")])
    assert members(items, "tea") == ["b", "d", "f"] and members(items, "mugs") == ["a", "c", "e"]
    items.upsert([item("c", "tea")])  # into the middle of tea
    assert members(items, "tea") == ["b", "c", "d", "f"] and members(items, "mugs") == ["a", "e"]
    items.upsert([item("a", "tea"), item("e", "tea")])  # mugs empties
    assert members(items, "tea") == ["a", "b", "c", "d", "e", "f"]
    assert members(items, "mugs") == []
    items.upsert([item("d"), item("b", "books")])  # to no category, to a new one
    assert members(items, "tea") == ["a", "c", "e", "f"]
    assert members(items, "books") == ["b"]
    assert items.category_members(-1).tolist() == [3]
    items.upsert([item("f", "tea")])  # same category: nothing moves
    assert members(items, "tea") == ["a", "c", "e", "f"]


def test_the_last_of_an_index_given_twice_in_a_batch_wins() -> None:
    items = live()
    items.upsert([item("a", "tea"), item("b", "tea")])
    items.upsert([item("a", "mugs"), item("a", "books"), item("c", "mugs"), item("c", "tea")])
    assert members(items, "tea") == ["b", "c"]
    assert members(items, "books") == ["a"] and members(items, "mugs") == []


def test_deleted_items_stay_in_their_group_and_a_re_upsert_regroups_them() -> None:
    items = live()
    items.upsert([item("a", "tea"), item("b", "tea"), item("c", "mugs")])
    assert items.delete("b")
    # the grouping is by code, as from scratch; the ranking's mask drops deleted items
    assert members(items, "tea") == ["a", "b"]
    items.upsert([item("b", "mugs")])  # back, in another category, at its old index
    assert not items.is_deleted("b")
    assert members(items, "tea") == ["a"] and members(items, "mugs") == ["b", "c"]
    assert items.delete("c")
    items.upsert([item("c", "mugs")])  # back in the same category
    assert members(items, "mugs") == ["b", "c"]


def test_id_only_items_from_events_have_no_category() -> None:
    items = live()
    items.upsert([item("a", "tea")])
    items.ensure(["x", "a", "y"])
    assert items.category_members(-1).tolist() == [1, 2]
    items.upsert([item("x", "tea")])
    assert members(items, "tea") == ["a", "x"] and items.category_members(-1).tolist() == [2]


def test_many_categories() -> None:
    items = live()
    items.upsert([item(f"i{j}", f"c{j % 50}") for j in range(1000)])
    for c in range(50):
        assert members(items, f"c{c}") == [f"i{j}" for j in range(c, 1000, 50)]
    items.upsert([item(f"i{j}", f"c{(j + 1) % 50}") for j in range(0, 1000, 2)])  # half move
    for c in range(50):
        want = sorted(
            {j for j in range(1, 1000, 2) if j % 50 == c}
            | {j for j in range(0, 1000, 2) if (j + 1) % 50 == c}
        )
        assert members(items, f"c{c}") == [f"i{j}" for j in want]


def test_a_group_handed_out_is_never_changed_by_later_upserts() -> None:
    items = live()
    items.upsert([item(f"i{j}", "tea" if j % 3 else "mugs") for j in range(30)])
    tea = items.category_codes["tea"]
    before = items.category_members(tea)
    kept = before.copy()
    items.upsert([item("i3", "tea"), item("i1", "mugs"), item("new", "tea")])
    assert before.tolist() == kept.tolist()
    assert not before.flags.writeable
    with pytest.raises(ValueError):
        before[0] = 5
    assert items.category_members(tea).tolist() != kept.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_grouping_equals_grouping_from_scratch(seed: int) -> None:
    """Random upserts (new items, category changes, none), deletions and id-only
    items: after each step, every code's group is what one stable sort would give."""
    rng = np.random.default_rng(seed)
    items = live()
    n_categories = int(rng.integers(2, 30))

    def random_item(item_id: str) -> Item:
        if rng.random() < 0.1:
            return item(item_id)
        return item(item_id, f"c{rng.integers(n_categories)}", "second")

    for _ in range(300):
        n = len(items)
        action = rng.random()
        if action < 0.6 or n == 0:
            size = int(rng.integers(1, 20))
            ids = [f"i{j}" for j in rng.integers(0, n + size, size)]  # new ones, known ones
            items.upsert([random_item(x) for x in ids])
        elif action < 0.8:
            items.delete(f"i{rng.integers(n)}")
        elif action < 0.9:
            items.ensure([f"i{j}" for j in rng.integers(0, n + 5, 3)])
        else:
            items.upsert([])
        codes = items.category.copy()
        assert len(codes) == len(items.catalog)
        for code in [-1, *range(n_categories + 1)]:
            assert items.category_members(code).tolist() == group_from_scratch(codes, code).tolist()


def test_groups_random_assignments_match_from_scratch() -> None:
    """The data structure alone, with larger batches and duplicate indices."""
    rng = np.random.default_rng(7)
    groups = Groups()
    for _ in range(200):
        if rng.random() < 0.3:
            groups.resize(len(groups) + int(rng.integers(0, 50)))
        if not len(groups):
            continue
        idx = rng.integers(0, len(groups), int(rng.integers(0, 40)))
        groups.assign(idx, rng.integers(-1, 8, len(idx)))
        if rng.random() < 0.5:
            continue
        for code in range(-1, 9):
            want = group_from_scratch(groups.codes, code)
            assert groups.members(code).tolist() == want.tolist()
