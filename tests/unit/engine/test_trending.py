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
