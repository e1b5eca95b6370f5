"""Session-kNN: known answers on sessions small enough to score by hand."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pulserec.models.sessionknn import SessionKNN, SessionTracker


def fitted(sessions: list[list[int]], **params: int | str) -> SessionKNN:
    knn = SessionKNN(**params)  # type: ignore[arg-type]
    t = 0.0
    for sid, items in enumerate(sessions):
        for item in items:
            knn.add(sid, item, t)
            t += 1.0
    return knn


def test_scores_are_sums_of_recency_weighted_similarities() -> None:
    # current session [1, 2]: weights 1/2 (item 1) and 2/2 (item 2), divided by 2 items
    knn = fitted([[1, 3], [2, 4], [1, 2, 5], [6, 7]])
    items, scores = knn.recommend([1, 2], k=10, exclude=[1, 2])
    expected = {3: 0.25, 4: 0.5, 5: 0.75}  # session 2 shares both items: 0.25 + 0.5
    assert dict(zip(items.tolist(), scores.tolist(), strict=True)) == pytest.approx(expected)
    assert items.tolist() == [5, 4, 3]  # best first; item 6 and 7 share nothing


def test_the_latest_item_of_the_session_counts_most() -> None:
    knn = fitted([[1, 10], [2, 20]])
    assert knn.recommend([1, 2], k=1, exclude=[1, 2])[0].tolist() == [20]
    assert knn.recommend([2, 1], k=1, exclude=[1, 2])[0].tolist() == [10]
    same = fitted([[1, 10], [2, 20]], weighting="same")
    items, scores = same.recommend([2, 1], k=2, exclude=[1, 2])
    assert items.tolist() == [10, 20] and scores[0] == scores[1]  # tie: lower index first


def test_exclusion_k_and_an_unknown_session() -> None:
    knn = fitted([[1, 2, 3, 4]])
    assert knn.recommend([1], k=2)[0].tolist() == [1, 2]
    assert knn.recommend([1], k=5, exclude={1, 3})[0].tolist() == [2, 4]
    items, scores = knn.recommend([99], k=5)
    assert items.size == 0 and scores.size == 0
    assert knn.recommend([], k=5)[0].size == 0
    with pytest.raises(ValueError, match="k: expected"):
        knn.recommend([1], k=0)


def test_the_current_session_is_not_its_own_neighbour() -> None:
    knn = fitted([[1, 2], [1, 3]])
    # session 1 is the current one: only session 0 may vote
    assert knn.recommend([1, 3], k=5, exclude=[1, 3], session_id=1)[0].tolist() == [2]
    assert set(knn.recommend([1, 3], k=5, exclude=[1])[0].tolist()) == {2, 3}


def test_only_the_most_recent_candidates_are_sampled() -> None:
    # three sessions hold item 1; with a sample of 2 the oldest one ([1, 7]) is left out
    knn = fitted([[1, 7], [1, 8], [1, 9]], sample_size=2)
    assert knn.recommend([1], k=5, exclude=[1])[0].tolist() == [8, 9]
    top1 = fitted([[1, 7], [1, 2, 8]], n_neighbors=1)
    # the session sharing both items is the single neighbour
    assert top1.recommend([1, 2], k=5, exclude=[1, 2])[0].tolist() == [8]


def test_memory_is_bounded_and_forgotten_sessions_do_not_vote() -> None:
    knn = fitted([[1, 5], [2, 6], [3, 7]], max_sessions=2)
    assert knn.n_sessions == 2
    assert knn.recommend([1], k=5, exclude=[1])[0].size == 0  # session 0 was evicted
    assert knn.recommend([3], k=5, exclude=[3])[0].tolist() == [7]
    short = fitted([[1, 2, 3]], max_session_len=2)
    assert short.session_items(0) == [2, 3]
    assert short.recommend([1], k=5)[0].size == 0  # item 1 left the session, and its index


def test_votes_are_the_sparse_form_of_the_scores() -> None:
    knn = fitted([[1, 2, 3], [1, 2, 4], [5, 6]])
    items, votes = knn.votes([1, 2])
    # both neighbours match fully (similarity 1.5 / 2): each of their items gets 0.75
    assert items.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(votes, [1.5, 1.5, 0.75, 0.75])
    assert knn.votes([9])[0].size == 0


def test_a_removed_session_no_longer_votes() -> None:
    knn = fitted([[1, 2, 3], [1, 2, 4]], max_sessions=2)
    assert knn.remove(1) and not knn.remove(1)
    assert knn.sessions() == [0]
    assert knn.recommend([1, 2], k=5, exclude=[1, 2])[0].tolist() == [3]
    knn.add("new", 7, 10.0)
    knn.add("new", 1, 11.0)
    # the ring goes on: the new session takes the oldest's slot, the freed one stays empty
    assert knn.sessions() == ["new"] and knn.session_items(0) == []
    assert knn.recommend([1], k=5, exclude=[1])[0].tolist() == [7]


def test_a_repeated_item_moves_to_the_latest_position() -> None:
    knn = SessionKNN()
    for t, item in enumerate([1, 2, 1]):
        knn.add("s", item, float(t))
    assert knn.session_items("s") == [2, 1]


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ValueError, match="sample_size"):
        SessionKNN(sample_size=0)
    with pytest.raises(ValueError, match="weighting"):
        SessionKNN(weighting="cosine")
    with pytest.raises(ValueError, match="item_idx"):
        SessionKNN().add("s", -1, 0.0)
    with pytest.raises(ValueError, match="gap_s"):
        SessionTracker(gap_s=0.0)


def test_tracker_splits_sessions_at_the_gap() -> None:
    tracker = SessionTracker(gap_s=100.0, max_len=3)
    assert tracker.current("u", 0.0) == [] and tracker.key("u", 0.0) is None
    assert tracker.add("u", 1, 0.0) == ("u", 0)
    assert tracker.add("u", 2, 99.0) == ("u", 0)
    assert tracker.current("u", 150.0) == [1, 2] and tracker.key("u", 150.0) == ("u", 0)
    assert tracker.current("u", 199.0) == []  # 100 s after the last event: a new session
    assert tracker.add("u", 3, 199.0) == ("u", 1)
    for t, item in enumerate([4, 5, 6]):
        tracker.add("u", item, 200.0 + t)
    assert tracker.current("u", 203.0) == [4, 5, 6]  # max_len 3


def test_tracker_without_gaps_keeps_the_latest_items() -> None:
    tracker = SessionTracker(gap_s=None, max_len=2)
    for t, item in enumerate([1, 2, 3]):
        assert tracker.add("u", item, t * 1e6) == "u"
    assert tracker.current("u", 1e9) == [2, 3]


@pytest.mark.slow
def test_replays_twenty_thousand_events_quickly() -> None:
    # a few seconds on a quiet core; the bound leaves room for a shared machine
    rng = np.random.default_rng(0)
    users = rng.integers(0, 2000, 20_000)
    items = rng.zipf(1.3, 20_000) % 3000
    knn, tracker = SessionKNN(), SessionTracker(gap_s=None, max_len=20)
    t0 = time.perf_counter()
    found = 0
    for t, (user, item) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
        current = tracker.current(user, t)
        found += len(knn.recommend(current, 10, exclude=current)[0]) > 0
        knn.add(tracker.add(user, item, float(t)), item, float(t))
    assert time.perf_counter() - t0 < 60.0
    assert found > 15_000  # nearly every user with a history gets a list


@pytest.mark.parametrize("dense", [0, 32, 10**9])
def test_votes_are_the_same_whether_summed_densely_or_by_sorting(
    dense: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    sessions = [rng.choice(400, 6, replace=False).tolist() for _ in range(300)]
    knn = fitted(sessions)
    want = [knn.votes(s[:3]) for s in sessions[:50]]
    monkeypatch.setattr("pulserec.models.sessionknn.DENSE_VOTES", dense)
    for s, (items, scores) in zip(sessions[:50], want, strict=True):
        got_items, got_scores = knn.votes(s[:3])
        assert got_items.dtype == items.dtype and got_items.tolist() == items.tolist()
        assert got_scores.tolist() == scores.tolist()  # the same sums, bit for bit
