import numpy as np
import pytest

from pulserec.state import MemoryStateStore, StateConfig, UserState, apply_event

X = np.array([1.0, 0.0], dtype=np.float32)
Y = np.array([0.0, 1.0], dtype=np.float32)


def fresh(**kw: float) -> tuple[UserState, StateConfig]:
    config = StateConfig(**kw)  # type: ignore[arg-type]
    return UserState("u", config), config


def test_event_types_are_ordered_by_strength() -> None:
    weights = []
    for kind in ("view", "click", "cart", "purchase"):
        state, config = fresh()
        weights.append(
            apply_event(state, config, event_type=kind, timestamp=0, item_idx=1, item_cf=X)
        )
    assert weights == sorted(weights) and len(set(weights)) == 4


def test_short_term_vector_decays_toward_the_latest_interest() -> None:
    state, config = fresh(half_life_s=100.0, event_decay=1.0)
    apply_event(state, config, event_type="click", timestamp=0, item_idx=1, item_cf=X)
    apply_event(state, config, event_type="click", timestamp=100, item_idx=2, item_cf=Y)
    # one half-life later the first click counts half
    assert state.short_cf == pytest.approx([0.5, 1.0])
    assert state.recent_items() == [2, 1]


def test_rating_is_weighted_around_the_users_mean() -> None:
    state, config = fresh(rating_slope=0.5)
    w = [
        apply_event(state, config, event_type="rate", timestamp=t, item_idx=t, value=v, item_cf=X)
        for t, v in enumerate([4.0, 2.0, 5.0])
    ]
    # first rating is the mean itself; then mean 4 -> 2 is below; mean 3 -> 5 is above
    assert w[0] == pytest.approx(1.0)
    assert w[1] == pytest.approx(max(0.1, 1 + 0.5 * (2 - 4)))
    assert w[2] == pytest.approx(1 + 0.5 * (5 - 3))


def test_negative_comment_pushes_away_and_spam_moves_nothing() -> None:
    state, config = fresh()
    w = apply_event(
        state, config, event_type="comment", timestamp=0, item_idx=3, item_cf=X, sentiment=0.1
    )
    assert w < 0 and state.short_cf is not None and state.short_cf[0] < 0
    assert state.negatives[3] == pytest.approx(-w)
    before = state.short_cf.copy()
    assert (
        apply_event(state, config, event_type="like", timestamp=1, item_idx=4, item_cf=Y, spam=True)
        == 0.0
    )
    assert np.array_equal(state.short_cf, before) and 4 not in state.seen
    assert state.n_events == 2


def test_ignored_impressions_become_a_penalty_until_clicked() -> None:
    state, config = fresh(impression_threshold=2)
    for t in range(3):
        apply_event(state, config, event_type="impression", timestamp=t, item_idx=7)
    assert state.penalties(2)[7] == pytest.approx(1.0)
    assert state.short_cf is None  # impressions never move interests
    apply_event(state, config, event_type="click", timestamp=5, item_idx=7, item_cf=X)
    assert 7 not in state.penalties(2)


def test_search_moves_the_text_interest() -> None:
    state, config = fresh()
    apply_event(state, config, event_type="search", timestamp=0, query_text=Y, query="sci-fi")
    assert state.short_text == pytest.approx(Y)
    assert [q for q, _ in state.queries] == ["sci-fi"]


def test_memory_is_bounded_per_user() -> None:
    state, config = fresh(max_recent=5, max_seen=8)  # type: ignore[arg-type]
    for i in range(20):
        apply_event(state, config, event_type="view", timestamp=i, item_idx=i)
    assert len(state.recent) == 5 and len(state.seen) == 8
    assert state.seen_items().tolist() == list(range(12, 20))


def test_store_reads_never_create_state() -> None:
    store = MemoryStateStore()
    assert store.get("ghost") is None
    assert len(store) == 0
    store.get_or_create("real")
    assert len(store) == 1 and list(store) == ["real"]
    assert store.delete("real") and not store.delete("real")


def test_evicted_users_come_back_through_restore() -> None:
    now = [0.0]
    restored: list[str] = []
    in_log: set[str] = set()  # users the durable log knows

    def restore(user_id: str) -> UserState | None:
        if user_id not in in_log:
            return None
        restored.append(user_id)
        return UserState(user_id, StateConfig())

    store = MemoryStateStore(max_users=2, idle_ttl_s=10, restore=restore, clock=lambda: now[0])
    for name in ("u1", "u2", "u3"):
        store.get_or_create(name)
        in_log.add(name)
    assert list(store) == ["u2", "u3"] and store.evictions == 1
    now[0] = 100.0
    assert store.get("u1") is not None  # idle ones expire, u1 is restored
    assert list(store) == ["u1"] and restored == ["u1"]
    assert store.get("x9") is None and len(store) == 1
