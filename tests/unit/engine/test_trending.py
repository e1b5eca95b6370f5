"""Live trending counts and their cached top list."""

from __future__ import annotations

from pulserec.engine.trending import TOP_EVERY, Trending


def test_the_top_list_is_cached_between_a_few_close_events() -> None:
    trending = Trending(half_life_s=100.0)
    for _ in range(5):
        trending.add(0, 0.0)
    assert trending.top(1, 3).tolist() == [0]
    # item 2 leads now, but a few events a second later leave the cached list as it was
    for _ in range(10):
        trending.add(2, 1.0)
    assert trending.top(1, 3).tolist() == [0]
    for _ in range(TOP_EVERY):
        trending.add(1, 1.0)
    assert trending.top(1, 3).tolist() == [1]


def test_the_top_list_follows_the_counts_once_they_have_decayed() -> None:
    # events weeks apart: an item that arrived after the list was made leads it two events
    # later, when the old counts have decayed ten half-lives
    trending = Trending(half_life_s=100.0)
    for _ in range(20):
        trending.add(0, 0.0)
    assert trending.top(2, 3).tolist()[0] == 0
    trending.add(2, 1000.0)
    trending.add(2, 1000.0)
    assert trending.top(2, 3).tolist() == [2, 0]


def test_a_recomputed_top_list_is_the_one_the_whole_catalog_gives() -> None:
    """The recompute ranks the previous list and the items counted since; it must give
    the whole catalog's list, item for item, ties and zeros included."""
    import numpy as np

    from pulserec.engine.arrays import top_indices

    rng = np.random.default_rng(3)
    for n_items, spread in ((500, 1.0), (500, 0.0), (60, 0.5)):
        fast, whole = Trending(half_life_s=300.0), Trending(half_life_s=300.0)
        whole._top_n = lambda n, size, previous, t=whole: (  # type: ignore[method-assign]
            top_indices(t.scores(size), n), False
        )
        ts, recomputed = 0.0, 0
        for step in range(3000):
            ts += float(rng.exponential(spread)) if spread else 0.0  # 0: many exact ties
            if step % 500 == 250:  # a batch, as at start
                items = rng.integers(0, n_items, 40)
                times = np.full(40, ts)
                fast.add_many(items, times)
                whole.add_many(items, times)
            else:
                item = int(rng.zipf(1.3) % n_items)
                fast.add(item, ts)
                whole.add(item, ts)
            for n in (10, 50):
                before = fast._top.get(n)
                assert fast.top(n, n_items).tolist() == whole.top(n, n_items).tolist()
                recomputed += fast._top[n] is not before
        assert recomputed > 50


def test_a_top_list_is_untied_when_nothing_outside_it_equals_its_last() -> None:
    trending = Trending(half_life_s=100.0)
    for item, times in ((0, 3), (1, 2), (2, 1)):
        for _ in range(times):
            trending.add(item, 0.0)
    assert trending.ranked(2, 4) == (trending.top(2, 4), True)
    assert trending.ranked(2, 4)[0].tolist() == [0, 1]
    tied = Trending(half_life_s=100.0)
    for item in (0, 0, 1, 2):  # items 1 and 2 tie at the list's edge
        tied.add(item, 0.0)
    assert not tied.ranked(2, 4)[1]
    assert not tied.ranked(3, 4)[1]  # item 3, never taken, is no one's 3rd: a zero
    assert not trending.ranked(4, 4)[1]  # the whole catalog: nothing to tell apart


def test_counts_decay_from_each_event_across_moves_of_the_anchor() -> None:
    """Counts kept at an anchor time read as the exactly decayed sums, before and after
    the anchor moves (an event per half-life for 60 half-lives: REBASE passes often)."""
    import math

    import numpy as np

    from pulserec.engine.trending import REBASE

    half = 10.0
    trending = Trending(half_life_s=half)
    times = {0: [], 1: [], 2: []}  # type: dict[int, list[float]]
    anchors = set()
    for step in range(60):
        ts = 1_000.0 + step * half
        item = step % 3
        trending.add(item, ts)
        times[item].append(ts)
        anchors.add(trending.base_ts)
        expected = [sum(0.5 ** ((ts - t) / half) for t in times[j]) for j in range(3)]
        np.testing.assert_allclose(trending.scores(3), expected, rtol=1e-12)
        np.testing.assert_allclose(trending.at(np.array([2, 0])), expected[2::-2], rtol=1e-12)
        raw = trending.raw(3)  # proportional: the same ratios
        np.testing.assert_allclose(raw / raw.sum(), np.array(expected) / sum(expected))
        # the kept values' sum, kept as they change
        assert math.isclose(trending.kept_total, raw.sum(), rel_tol=1e-12)
    assert len(anchors) >= 60 * math.log(2.0) // REBASE  # the anchor did move
    # an item never counted reads 0, and the catalog grows to it
    assert trending.at(np.array([5])).tolist() == [0.0] and len(trending.scores(6)) == 6


def test_a_gap_beyond_float_range_leaves_only_the_new_event() -> None:
    import numpy as np

    trending = Trending(half_life_s=1.0)
    trending.add(0, 0.0)
    trending.add(1, 5_000.0)  # 5,000 half-lives later: item 0's count is below 1e-300
    assert trending.scores(2).tolist() == [0.0, 1.0]
    # an event stamped before the latest one counts decayed to the latest time
    trending.add(0, 4_999.0)
    assert trending.scores(2).tolist() == [0.5, 1.0]
    assert trending.kept_total * trending.scale == 1.5
    trending.add_many(np.array([0, 1, 1]), np.array([5_000.0, 5_000.0, 5_000.0]))
    assert trending.kept_total * trending.scale == 4.5
