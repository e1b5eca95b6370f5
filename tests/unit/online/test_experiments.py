"""Assignment by a stable hash: sticky, proportional, and undisturbed by new variants."""

from __future__ import annotations

import pytest

from pulserec.online.experiments import SLOTS, Experiment, Overrides

SOURCES = {"ann", "factor", "sequential", "trending"}
FEATURES = {"long_term", "short_term", "sequential"}


def make(shares: list[float]) -> Experiment:
    e = Experiment("exp", [], 0.0)
    for i, share in enumerate(shares):
        e.add_variant(f"v{i}", share, Overrides())
    return e


def test_shares_split_users_in_proportion() -> None:
    e = make([0.5, 0.3])
    users = [f"user-{i}" for i in range(20_000)]
    names = [v.name if (v := e.variant_of(u)) else "" for u in users]
    assert names.count("v0") / len(users) == pytest.approx(0.5, abs=0.015)
    assert names.count("v1") / len(users) == pytest.approx(0.3, abs=0.015)
    assert names.count("") / len(users) == pytest.approx(0.2, abs=0.015)


def test_assignment_is_sticky_across_copies_and_json() -> None:
    e = make([0.5, 0.5])
    again = Experiment.from_json(e.to_json())
    for u in (f"u{i}" for i in range(500)):
        assert e.variant_of(u) is not None
        assert e.variant_of(u).name == again.variant_of(u).name  # type: ignore[union-attr]


def test_a_new_variant_does_not_move_assigned_users() -> None:
    e = make([0.4, 0.4])
    users = [f"u{i}" for i in range(5000)]
    before = {u: v.name for u in users if (v := e.variant_of(u)) is not None}
    e.add_variant("v2", 0.2, Overrides())
    after = {u: v.name for u in users if (v := e.variant_of(u)) is not None}
    assert all(after[u] == name for u, name in before.items())
    assert set(after) - set(before) and all(after[u] == "v2" for u in set(after) - set(before))
    with pytest.raises(ValueError, match="free"):
        e.add_variant("v3", 0.1, Overrides())
    assert e.free_slots() == [] and sum(hi - lo for v in e.variants for lo, hi in v.slots) == SLOTS


def test_salt_draws_another_split() -> None:
    a, b = make([0.5, 0.5]), make([0.5, 0.5])
    b.salt = "seed-1"
    users = [f"u{i}" for i in range(2000)]
    same = sum(a.variant_of(u).name == b.variant_of(u).name for u in users)  # type: ignore[union-attr]
    assert 0.4 < same / len(users) < 0.6


def test_overrides_are_checked_by_name() -> None:
    o = Overrides.parse(
        {"diversity": 0.3, "realtime": False, "sources": ["ann"], "weights": {"sequential": 0}},
        sources=SOURCES, features=FEATURES,
    )  # fmt: skip
    assert o.to_dict() == {"diversity": 0.3, "realtime": False, "sources": ["ann"],
                           "weights": {"sequential": 0.0}}  # fmt: skip
    for bad, match in (({"diversity": 2}, "diversity"), ({"colour": 1}, "colour"),
                       ({"sources": ["nope"]}, "nope"), ({"weights": {"x": 1}}, "x"),
                       ({"realtime": "no"}, "realtime"),
                       ({"weights": {"sequential": 1e308}}, "sequential")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            Overrides.parse(bad, sources=SOURCES, features=FEATURES)


def test_overrides_say_what_a_request_ranks_with() -> None:
    configured = ("ann", "sequential", "trending")
    assert Overrides().ranking(0.3, configured) == (0.3, None, None)
    off = Overrides(diversity=0.5, sequential=False, weights={"text": 2.0})
    assert off.ranking(0.3, configured) == (
        0.5, ("ann", "trending"), {"text": 2.0, "sequential": 0.0}
    )
    assert Overrides(sources=("sequential", "ann"), sequential=False).ranking(0.0, configured)[
        1
    ] == ("ann",)
