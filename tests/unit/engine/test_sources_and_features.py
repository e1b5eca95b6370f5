"""Candidate sources by name, request signals computed once, named feature columns."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from shop import CFG, catalog, history, tiny_models

from pulserec.engine import Engine, EngineConfig, ModelSet
from pulserec.engine.arrays import sparse_lookup
from pulserec.engine.config import EngineConfig as Config
from pulserec.engine.features import NAMES, feature_matrix
from pulserec.engine.items import LiveItems
from pulserec.engine.segments import history_length, segment_at, segment_of
from pulserec.engine.sequential import SequentialScorer
from pulserec.engine.sources import (
    SOURCES,
    Request,
    covisit_votes,
    gather,
    live_covisit_votes,
    session_votes,
)
from pulserec.state.base import StateConfig, UserState, apply_event
from pulserec.types import Event, Item


def request_for(models: ModelSet, state: UserState | None, user_id: str = "a") -> Request:
    config = Config()
    items = LiveItems(None, config)
    items.upsert([Item(f"i{j}") for j in range(models.n_items)])
    for item, times in ((1, 1), (2, 3)):  # slow trending counts 0, 1, 3, 0
        for _ in range(times):
            items.live.trending.add(item, 1.0)
    trending = items.live.trending.raw(models.n_items)
    return Request(
        models, state, user_id, items, trending, items.live, config,
        SequentialScorer(items, config),
    )  # fmt: skip


def clicked(item_idx: int, vector: np.ndarray) -> UserState:
    state = UserState("a", StateConfig())
    apply_event(
        state, StateConfig(), event_type="click", timestamp=1.0, item_idx=item_idx, item_cf=vector
    )
    return state


def test_feature_columns_are_named_and_hold_the_known_answer() -> None:
    models = tiny_models()
    state = clicked(0, models.item_unit[0])
    req = request_for(models, state)
    f = feature_matrix(req, np.arange(4))
    col = dict(zip(NAMES, f.T, strict=True))
    np.testing.assert_allclose(col["long_term"], [2.0, 1.8, 0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(col["short_term"], models.item_unit @ models.item_unit[0])
    np.testing.assert_allclose(col["covisit"], [0.0, 2.0, 0.0, 0.0])  # item 1 follows item 0
    np.testing.assert_allclose(col["trending"], np.log1p([0.0, 1.0, 3.0, 0.0]))
    for name in ("text", "penalty", "sequential", "trending_fast"):
        assert not col[name].any(), name


def test_a_user_without_state_gets_only_what_needs_no_state() -> None:
    f = feature_matrix(request_for(tiny_models(), None, user_id="stranger"), np.arange(4))
    nonzero = {name for name, c in zip(NAMES, f.T, strict=True) if c.any()}
    assert nonzero == {"trending", "appeal"}  # the counts, and the counts per day out


def test_signals_are_computed_once_per_request() -> None:
    models = tiny_models()
    req = request_for(models, clicked(0, models.item_unit[0]))
    calls = []

    def counted(r: Request) -> int:
        calls.append(r)
        return len(calls)

    assert req.signal(counted) == 1 and req.signal(counted) == 1 and len(calls) == 1
    votes = req.signal(covisit_votes)
    assert votes is not None and votes[0].tolist() == [1] and req.signal(covisit_votes) is votes
    assert request_for(models, None).signal(covisit_votes) is None


def test_gather_unions_named_sources_and_falls_back_to_trending() -> None:
    models = tiny_models()
    req = request_for(models, clicked(0, models.item_unit[0]))
    assert gather(req, ["covisit"], 10).tolist() == [1]
    both = set(gather(req, ["covisit", "factor"], 2).tolist())
    assert both == {0, 1}  # the factor model's two nearest to user a, plus item 1
    stranger = request_for(models, None, user_id="stranger")
    assert SOURCES["covisit"].candidates(stranger, 10) is None
    # nothing from the named sources: the live top list instead
    assert gather(stranger, ["covisit", "factor"], 10)[:2].tolist() == [0, 1]
    assert set(gather(stranger, ["covisit"], 10).tolist()) == {0, 1, 2, 3}


def test_every_registered_source_has_its_name() -> None:
    assert sorted(SOURCES) == sorted(EngineConfig().sources)
    assert all(source.name == name for name, source in SOURCES.items())


def test_an_unknown_source_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"sources: unknown source\(s\) \['nope'\]"):
        Engine(config=EngineConfig(sources=("ann", "nope")))


def test_a_recommend_scores_the_transformer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates and features read one computation, with no cache to hide a second."""
    eng = Engine(config=replace(CFG, sequential_cache_mb=0.0))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    eng.ingest(Event("u0", "jazz-3", "click", 6_000_000.0))
    calls = []
    real = SequentialScorer._compute

    def counted(self: SequentialScorer, *args: object) -> np.ndarray | None:
        calls.append(1)
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(SequentialScorer, "_compute", counted)
    assert len(eng.recommend("u0", 5).items) == 5
    assert len(calls) == 1


def test_a_replay_ranks_with_its_own_live_signals_not_the_serving_ones() -> None:
    """A refit's validation replay must not see the live counts, which hold its future."""
    from pulserec.engine.explain import Explainer
    from pulserec.engine.insight import Insight
    from pulserec.engine.items import live_signals
    from pulserec.engine.rank import Ranker

    config = Config(sources=("trending", "trending_fast"))
    items = LiveItems(None, config)
    items.upsert([Item(f"i{j}") for j in range(40)])
    for _ in range(5):
        items.live.add(0, 10.0)  # live: item 0, clicked after the replay's window
    replayed = live_signals(config)
    replayed.add(7, 1.0)
    ranker = Ranker(
        items, config, SequentialScorer(items, config),
        Explainer(items, Insight(items, config.state, 0), config.n_recent),
    )  # fmt: skip
    live = ranker.request(None, None, "x")
    past = ranker.request(None, None, "x", live=replayed, n_items=40)
    assert live.live.trending.top(1, 40).tolist() == [0]
    assert past.live.trending_fast.top(1, 40).tolist() == [7]
    assert 7 in ranker.candidates(past).tolist()
    row = feature_matrix(past, np.array([0]))[0]
    appeal = NAMES.index("appeal")
    assert row[appeal] == pytest.approx(np.log1p(0.5))  # item 0: never taken, the prior
    assert not np.delete(row, appeal).any()  # and nothing else yet


def test_trending_columns_read_each_scale_as_of_the_latest_event() -> None:
    """Item 1 taken at t=0, item 2 ten minutes later: the 10-minute scale halves item 1's
    count, the hour's hardly moves it, and the three-day one keeps it (known answers)."""
    models = tiny_models()
    req = request_for(models, None)  # slow counts 0, 1, 3, 0, all at t=1
    live = req.live
    live.add(1, 1.0)
    live.add(2, 601.0)
    col = dict(zip(NAMES, feature_matrix(req, np.array([1, 2])).T, strict=True))
    np.testing.assert_allclose(col["trending_now"], np.log1p([0.5, 1.0]))
    np.testing.assert_allclose(col["trending_fast"], np.log1p([2.0 ** (-1 / 6), 1.0]))
    decay = 2.0 ** (-600 / (3 * 86400))
    np.testing.assert_allclose(col["trending"], np.log1p([2 * decay, 3 * decay + 1]))


def test_live_covisitation_pairs_consecutive_items_and_decays() -> None:
    from pulserec.engine.live import LiveCovisit

    cov = LiveCovisit(half_life_s=100.0, max_neighbours=2, max_rows=3)
    cov.add([1, 2], 3, ts=0.0)  # 3 right after 1, and 2 before that
    items, votes = cov.votes([3], decay=1.0, ts=0.0)  # type: ignore[misc]
    assert dict(zip(items.tolist(), votes.tolist(), strict=True)) == {1: 1.0, 2: 0.5}
    _, later = cov.votes([3], decay=1.0, ts=100.0)  # type: ignore[misc]
    np.testing.assert_allclose(later, votes / 2)  # one half-life on
    cov.add([4], 3, ts=0.0)  # row 3 holds two neighbours at most: the weakest (2) leaves
    assert sorted(cov.rows[3]) == [1, 4]
    assert len(cov.rows) == 3 and 1 not in cov.rows  # row 1, least recently updated, left
    assert cov.votes([9], decay=1.0, ts=0.0) is None


def test_a_new_item_gets_covisitation_neighbours_within_one_event() -> None:
    from shop import CFG as SHOP_CFG

    eng = Engine(config=replace(SHOP_CFG, sequential=False, live_covisit_window=5))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    eng.upsert_items([Item("jazz-new", "New", "swing", ("jazz",))])
    eng.ingest(Event("b", "jazz-3", "click", 7_000_000.0))
    eng.ingest(Event("c", "jazz-5", "click", 7_000_000.0))
    eng.ingest(Event("a", "jazz-3", "click", 7_000_001.0))
    eng.ingest(Event("a", "jazz-new", "click", 7_000_002.0))  # first ever click on it
    request = eng.ranker.request(eng.models, eng.states.get("b"), "b")
    votes = request.signal(live_covisit_votes)
    assert votes is not None and votes[0].tolist() == [eng.catalog.idx("jazz-new")]
    assert eng.catalog.idx("jazz-new") in eng.ranker.candidates(request).tolist()
    # it ranks higher for b, whose latest item was just paired with it, than for c, who
    # took another jazz item at the same time
    assert eng.score_items("b", ["jazz-new"])[0] > eng.score_items("c", ["jazz-new"])[0]


def test_live_sessions_split_at_the_gap_and_vote_for_what_similar_sessions_took() -> None:
    from pulserec.engine.live import LiveSessions

    sessions = LiveSessions(gap_s=100.0, max_sessions=10)
    for user, items in (("u", [1, 2, 3]), ("v", [1, 2, 4]), ("w", [5, 6])):
        for t, item in enumerate(items):
            sessions.add(user, item, 1000.0 + t)
    sessions.add("u", 9, 2000.0)  # a gap: u's next session
    assert sorted(sessions.knn.sessions()) == [("u", 1000.0), ("u", 2000.0), ("v", 1000.0),
                                               ("w", 1000.0)]  # fmt: skip
    # (item, weight, time) as the user state holds them: 8 is a session of its own, 7
    # is a dislike and 1 is too long ago
    recent = [(1, 1.0, 0.0), (8, 1.0, 400.0), (7, -1.0, 550.0), (1, 1.0, 560.0), (2, 1.0, 600.0)]
    assert sessions.session_of(recent) == [1, 2]
    items, votes = sessions.votes("x", [1, 2])  # type: ignore[misc]
    assert dict(zip(items.tolist(), votes.tolist(), strict=True)) == {
        1: 1.5,
        2: 1.5,
        3: 0.75,
        4: 0.75,
    }
    assert sessions.votes("u", [9]) is None  # u's own current session is not a neighbour
    assert sessions.forget("u") == 2
    assert sessions.votes("x", [1, 2])[0].tolist() == [1, 2, 4]  # type: ignore[index]


def test_the_session_feature_follows_the_users_latest_session() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    t = 8_000_000.0
    for user in ("s1", "s2", "s3"):  # three visitors went from jazz-1 to hiking-2
        eng.ingest(Event(user, "jazz-1", "click", t))
        eng.ingest(Event(user, "hiking-2", "click", t + 10))
        t += 100
    eng.ingest(Event("newcomer", "jazz-1", "click", t))
    request = eng.ranker.request(eng.models, eng.states.get("newcomer"), "newcomer")
    col = dict(zip(NAMES, feature_matrix(request, np.array([eng.catalog.idx("hiking-2")]))[0],
                   strict=True))  # fmt: skip
    assert col["session"] == pytest.approx(np.log1p(3.0))  # three neighbours, similarity 1
    assert eng.catalog.idx("hiking-2") in eng.ranker.candidates(request).tolist()
    eng.delete_user("s1")
    request = eng.ranker.request(eng.models, eng.states.get("newcomer"), "newcomer")
    votes = request.signal(session_votes)
    assert votes is not None
    hiking = np.array([eng.catalog.idx("hiking-2")])
    assert sparse_lookup(votes, hiking)[0] == pytest.approx(2.0)  # s1's session is gone


def test_click_through_rates_count_shows_and_clicks() -> None:
    from pulserec.engine.live import LiveCTR

    ctr = LiveCTR()
    for _ in range(9):
        ctr.show(1)
    ctr.click(1)  # ten shows, one click
    np.testing.assert_allclose(ctr.rates(np.array([1, 2])), [1.4 / 20, 0.4 / 10])
    assert ctr.impressions == 9


def test_the_ctr_feature_needs_impressions_in_the_log() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    jazz = np.array([eng.catalog.idx("jazz-1"), eng.catalog.idx("jazz-2")])

    def ctr_column() -> np.ndarray:
        request = eng.ranker.request(eng.models, eng.states.get("u0"), "u0")
        return feature_matrix(request, jazz)[:, NAMES.index("live_ctr")]

    assert not ctr_column().any()  # clicks alone: every show was a click, no rate
    for t in range(5):
        eng.ingest(Event("v", "jazz-2", "impression", 9_000_000.0 + t))
    eng.ingest(Event("v", "jazz-1", "click", 9_000_010.0))
    col = ctr_column()
    assert col[0] > col[1] > 0  # jazz-1 was taken more often than it was passed over


def test_held_out_choices_are_also_made_among_the_logged_list_when_there_is_one() -> None:
    from pulserec.engine.training import EVENT_COLUMNS

    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    assert eng.models is not None
    before = pd.DataFrame(
        [(e.user_id, e.item_id, e.type, e.timestamp, None, None) for e in history()],
        columns=EVENT_COLUMNS,
    )
    t = 9_000_000.0
    after = pd.DataFrame(
        [
            ("u0", "hiking-1", "impression", t, None, None),
            ("u0", "jazz-9", "click", t, None, None),
            ("u0", "hiking-2", "impression", t, None, None),
            ("u1", "hiking-5", "click", t + 1, None, None),  # no list logged: retrieval
        ],
        columns=EVENT_COLUMNS,
    )
    data, lists = eng.fitter.heldout.collect(eng.models, before, after)
    listed = sorted(eng.catalog.idx(i) for i in ("hiking-1", "jazz-9", "hiking-2"))
    assert len(lists) == 1 and lists.features[0].shape[0] == 3
    assert lists.chosen[0] == listed.index(eng.catalog.idx("jazz-9"))
    # both ranked the catalog too, each with the segment of its user's history
    assert len(data) == 2 and data.segment == [segment_of(eng.states.get(u)) for u in ("u0", "u1")]
    assert all(f.shape[0] > 3 for f in data.features)


def test_an_item_without_text_gets_a_neutral_text_score() -> None:
    from pulserec.text import make_encoder

    eng = Engine(encoder=make_encoder("hashing", dim=64), config=replace(CFG, sequential=False))
    eng.upsert_items([*catalog(), Item("bare")])  # no title, no text: a zero vector
    eng.ingest(Event("a", "jazz-1", "click", 1.0))
    cands = np.array([eng.catalog.idx(i) for i in ("jazz-2", "hiking-1", "bare")])
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    col = feature_matrix(request, cands)[:, NAMES.index("text")]
    assert col[0] > col[1]  # jazz reads like jazz
    assert col[2] == pytest.approx((col[0] + col[1]) / 2)


def test_only_clicks_taken_from_a_logged_list_count_towards_its_rate() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    jazz1, jazz2 = eng.catalog.idx("jazz-1"), eng.catalog.idx("jazz-2")
    eng.ingest(Event("a", "jazz-1", "click", 1.0))  # from a search, say: no list
    # a list of two, its click logged before its impression
    eng.ingest_many([Event("b", "jazz-1", "click", 2.0), Event("b", "jazz-2", "impression", 2.0)])
    ctr = eng.items.live.ctr
    assert (ctr.clicks[jazz1], ctr.shows[jazz1]) == (1.0, 1.0)
    assert (ctr.clicks[jazz2], ctr.shows[jazz2]) == (0.0, 1.0)


def test_clicks_taken_from_a_logged_list_are_found_by_user_and_time() -> None:
    from pulserec.engine.training import _listed_times

    frame = pd.DataFrame(
        [
            ("u", "a", "click", 1.0, None, None),  # no list
            ("u", "b", "impression", 2.0, None, None),
            ("u", "c", "click", 2.0, None, None),  # taken from the list at 2.0
            ("v", "c", "impression", 3.0, None, None),  # a list without a click
        ],
        columns=["user_id", "item_id", "type", "timestamp", "value", "text"],
    )
    assert _listed_times(frame).tolist() == [2.0]


def test_segment_weights_are_pulled_towards_the_prior() -> None:
    from pulserec.ranking import ChoiceData, fit_weights

    # feature 0 decides every choice, feature 1 is constant: it keeps the prior's weight
    lists = [np.array([[1.0, 2.0], [0.0, 2.0], [0.0, 2.0]]) for _ in range(30)]
    data = ChoiceData(lists, [0] * 30, [j % 2 for j in range(30)])
    free, _ = fit_weights(data, np.zeros(2))
    pulled, _ = fit_weights(data, np.zeros(2), l2=10.0, prior=np.array([0.5, 7.0]))
    assert free[0] > 1.0 and free[1] == pytest.approx(0.0, abs=0.01)
    assert pulled[1] == pytest.approx(7.0, abs=0.01) and 0.5 < pulled[0] < free[0]
    half = data.subset([j % 2 == 0 for j in range(30)])
    assert half.chosen == [0] * 15 and half.segment == [0] * 15


def test_a_held_weight_keeps_its_prior_and_the_others_are_fitted_around_it() -> None:
    from pulserec.ranking import ChoiceData, fit_weights

    # feature 0 decides every choice; feature 1 marks the two items passed over
    lists = [np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]) for _ in range(30)]
    data = ChoiceData(lists, [0] * 30)
    held = np.array([False, True])
    free, _ = fit_weights(data, np.zeros(2))
    kept, _ = fit_weights(data, np.array([0.0, 3.0]), held=held)
    pulled, _ = fit_weights(data, np.zeros(2), prior=np.array([0.5, -2.0]), held=held)
    assert free[1] < -1.0  # fitted, feature 1 takes a share of the choice
    assert kept[1] == 3.0 and pulled[1] == -2.0
    # a held weight that favours the passed-over items asks more of feature 0
    assert kept[0] > free[0] and pulled[0] < kept[0]


def test_a_feature_hardly_any_chosen_item_has_keeps_its_default_weights() -> None:
    from pulserec.engine.blend import MIN_SUPPORT, fit_blend, fit_segment_weights, unsupported
    from pulserec.engine.features import (
        BLEND_NAMES,
        DEFAULT_WEIGHTS,
        VALUE_ONLY,
        terms,
        weight_slots,
    )
    from pulserec.ranking import ChoiceData, fit_weights

    cov, fresh, trend = (NAMES.index(n) for n in ("covisit", "fresh_trending", "trending"))

    def lists(n: int, fresh_chosen: int) -> ChoiceData:
        # of two items as co-visited, the first is chosen; the second is fresh in every
        # list, the chosen one in the first ``fresh_chosen`` only; trending is 0 throughout
        fs, chosen = [], []
        for j in range(n):
            f = np.zeros((4, len(NAMES)))
            f[:, cov] = [2.0, 2.0, 1.0, 0.0]
            f[1, fresh] = 1.0
            if j < fresh_chosen:
                f[0, fresh] = 1.0
            fs.append(terms(f))
            chosen.append(0)
        return ChoiceData(fs, chosen, [1] * n)

    thin = lists(300, MIN_SUPPORT - 1)
    held = unsupported(thin)
    assert [BLEND_NAMES[j] for j in np.flatnonzero(held & ~VALUE_ONLY)] == [
        "fresh_trending", "fresh_trending:sq", "fresh_trending:z"
    ]  # fmt: skip
    np.testing.assert_array_equal(unsupported(lists(300, MIN_SUPPORT)), VALUE_ONLY)
    slots = weight_slots("fresh_trending")
    # fitted, the fresh item passed over in nearly every list takes about 3 off its score
    free, _ = fit_weights(thin, DEFAULT_WEIGHTS)
    assert (free[slots] < -0.5).all()
    weights, _ = fit_blend(thin)
    np.testing.assert_array_equal(weights[slots], DEFAULT_WEIGHTS[slots])
    assert weights[cov] > 0.0 and weights[trend] == 0.0
    fitted, _ = fit_blend(lists(300, 150))
    assert fitted[slots[0]] != DEFAULT_WEIGHTS[slots[0]]
    # a segment whose chosen items hardly have it keeps everyone's weights for it
    everyone = np.full(len(BLEND_NAMES), 0.25)
    rows = fit_segment_weights(lists(120, 5), everyone, {})
    assert rows is not None
    np.testing.assert_array_equal(rows[1, slots], everyone[slots])
    assert rows[1, cov] != everyone[cov]


def test_a_value_only_feature_is_weighed_by_its_value_alone() -> None:
    from pulserec.engine.blend import fit_blend
    from pulserec.engine.features import BLEND_NAMES, VALUE_ONLY, terms
    from pulserec.ranking import ChoiceData

    assert [BLEND_NAMES[j] for j in np.flatnonzero(VALUE_ONLY)] == [
        "trending_now:sq", "trending_now:z"
    ]  # fmt: skip
    now = NAMES.index("trending_now")
    rng = np.random.default_rng(0)
    fs, chosen = [], []
    for _ in range(300):  # the chosen item has the second count of five: a curve, not a line
        f = np.zeros((5, len(NAMES)))
        f[:, now] = rng.permutation([0.0, 1.0, 2.0, 3.0, 4.0])
        fs.append(terms(f))
        chosen.append(int(np.flatnonzero(f[:, now] == 3.0)[0]))
    weights, _ = fit_blend(ChoiceData(fs, chosen, [1] * len(fs)))
    assert not weights[VALUE_ONLY].any()  # the square would have fitted the curve
    assert weights[now] > 0.0


def test_history_segments_count_positive_items() -> None:
    state = UserState("a", StateConfig())
    segments = [segment_of(None), segment_of(state)]
    for t in range(12):
        apply_event(state, StateConfig(), event_type="click", timestamp=float(t), item_idx=t)
        segments.append(segment_of(state))
    # a dislike is not a positive item: the count stays
    apply_event(state, StateConfig(), event_type="dislike", timestamp=20.0, item_idx=20)
    assert segments == [0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]
    assert history_length(state) == 10 and history_length(state, cap=50) == 12
    assert segment_of(state) == 3
    # by a count of positive items alone (a replay that keeps no states)
    assert [segment_at(n) for n in (0, 1, 2, 3, 9, 10, 500)] == [0, 1, 1, 2, 2, 3, 3]


def test_each_segment_ranks_with_its_own_weights_and_thin_ones_with_everyones() -> None:
    from pulserec.engine.blend import MIN_SEGMENT_LISTS, fit_segment_weights
    from pulserec.engine.rank import Ranker
    from pulserec.ranking import ChoiceData

    rng = np.random.default_rng(0)
    lists, chosen, segment = [], [], []
    for j in range(2 * MIN_SEGMENT_LISTS + 20):
        f = rng.normal(size=(5, len(NAMES)))
        seg = 0 if j < MIN_SEGMENT_LISTS else (1 if j < 2 * MIN_SEGMENT_LISTS else 2)
        # users without events take the hottest item, the others the co-visited one
        decider = NAMES.index("trending") if seg == 0 else NAMES.index("covisit")
        lists.append(f)
        chosen.append(int(np.argmax(f[:, decider])))
        segment.append(seg)
    everyone = np.ones(len(NAMES))
    metrics: dict[str, float] = {}
    rows = fit_segment_weights(ChoiceData(lists, chosen, segment), everyone, metrics)
    assert rows is not None and rows.shape == (4, len(NAMES))
    trend, cov = NAMES.index("trending"), NAMES.index("covisit")
    assert rows[0, trend] > rows[0, cov] and rows[1, cov] > rows[1, trend]
    # 20 choices in 3-9 and none in 10+: everyone's weights
    np.testing.assert_array_equal(rows[2], everyone)
    np.testing.assert_array_equal(rows[3], everyone)
    assert metrics["lists_3-9"] == 20.0 and metrics["lists_10+"] == 0.0

    models = tiny_models()
    models.segment_weights = rows
    assert Ranker.weights(models, None) is not models.weights
    np.testing.assert_array_equal(Ranker.weights(models, None), rows[0])
    np.testing.assert_array_equal(Ranker.weights(models, clicked(0, models.item_unit[0])), rows[1])
    models.segment_weights = None
    assert Ranker.weights(models, None) is models.weights


def test_category_trending_weighs_the_trend_by_the_users_recent_share_of_the_category() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    for t, item in enumerate(["jazz-5", "jazz-5", "hiking-5"]):
        eng.ingest(Event(f"crowd{t}", item, "click", 100.0 + t))
    for t, item in enumerate(["jazz-1", "jazz-2", "jazz-3", "hiking-1"]):
        eng.ingest(Event("a", item, "click", 200.0 + t))
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    cands = np.array([eng.catalog.idx(i) for i in ("jazz-5", "hiking-5", "jazz-6")])
    col = feature_matrix(request, cands)[:, NAMES.index("category_trending")]
    trending = eng.items.live.trending.scores(len(eng.catalog))[cands]
    # newest first: hiking-1, jazz-3, jazz-2, jazz-1, each weighed down by recency_decay
    w = request.config.recency_decay ** np.arange(4)
    jazz, hiking = w[1:].sum() / w.sum(), w[0] / w.sum()
    np.testing.assert_allclose(col, np.log1p(trending) * [jazz, hiking, jazz])
    assert col[0] > col[1] > 0 and col[2] == 0.0  # jazz-6: nobody's taking it


def test_category_popular_weighs_the_slow_counts_by_the_same_shares() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    # long ago: jazz-5 taken twice, hiking-5 once; three days' counts have forgotten them
    for t, item in enumerate(["jazz-5", "jazz-5", "hiking-5"]):
        eng.ingest(Event(f"crowd{t}", item, "click", 100.0 + t))
    later = 100.0 + 60 * 86400.0
    for t, item in enumerate(["jazz-1", "jazz-2", "hiking-1"]):
        eng.ingest(Event("a", item, "click", later + t))
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    cands = np.array([eng.catalog.idx(i) for i in ("jazz-5", "hiking-5", "jazz-6")])
    matrix = feature_matrix(request, cands)
    col = matrix[:, NAMES.index("category_popular")]
    slow = eng.items.live.popular.at(cands)
    w = request.config.recency_decay ** np.arange(3)  # newest first: hiking-1, jazz-2, jazz-1
    jazz, hiking = w[1:].sum() / w.sum(), w[0] / w.sum()
    np.testing.assert_allclose(col, np.log1p(slow) * [jazz, hiking, jazz])
    assert col[0] > col[1] > 0 and col[2] == 0.0
    # the 3-day counts of the same items have decayed by 2^-20: next to nothing
    trend = matrix[:, NAMES.index("category_trending")]
    assert trend[0] < 1e-5 * col[0]
    stranger = eng.ranker.request(None, None, "stranger")
    assert feature_matrix(stranger, cands)[:, NAMES.index("category_popular")].tolist() == [0.0] * 3


def test_the_first_time_an_item_was_taken_is_kept_per_event_and_per_batch() -> None:
    from pulserec.engine.live import FirstTaken

    one, batch = FirstTaken(), FirstTaken()
    items, ts = np.array([3, 1, 3, 0, 1]), np.array([50.0, 20.0, 10.0, 30.0, 5.0])
    for item, t in zip(items.tolist(), ts.tolist(), strict=True):
        one.add(item, t)
    batch.add_many(items, ts)  # out of time order: the earliest stays
    expected = [30.0, 5.0, np.inf, 10.0, np.inf]  # 2 never taken; 4 past the counted ones
    assert one.at(np.arange(5)).tolist() == expected == batch.at(np.arange(5)).tolist()


def test_appeal_reads_the_slow_counts_over_the_time_an_item_has_been_out() -> None:
    from pulserec.engine.features import APPEAL_PRIOR_S

    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    day = 86400.0
    # jazz-5 taken by ten users sixty days ago; jazz-6 by three users a day ago
    for u in range(10):
        eng.ingest(Event(f"old{u}", "jazz-5", "click", 100.0 + u))
    now = 100.0 + 60 * day
    for u in range(3):
        eng.ingest(Event(f"new{u}", "jazz-6", "click", now - day + u))
    eng.ingest(Event("a", "jazz-1", "click", now))
    eng.ingest(Event("a", "hiking-1", "click", now))
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    cands = np.array([eng.catalog.idx(i) for i in ("jazz-5", "jazz-6", "hiking-7")])
    matrix = feature_matrix(request, cands)
    col = matrix[:, NAMES.index("appeal")]
    # by hand: counts decayed at the slow rate, over the time out decayed at that rate
    rate = np.log(2) / eng.config.popular_half_life_s
    first = np.array([100.0, now - day, now])  # hiking-7: never taken, out for no time
    counts = [
        sum(np.exp(-rate * (now - 100.0 - u)) for u in range(10)),
        sum(np.exp(-rate * (day - u)) for u in range(3)),
        0.0,
    ]
    out = -np.expm1(-rate * (now - first)) / rate
    expected = np.log1p((np.array(counts) + 0.5) / ((out + APPEAL_PRIOR_S) / day))
    np.testing.assert_allclose(col, expected, rtol=1e-9)
    # three takes in a day read as more appeal than ten over two months; an item nobody
    # took reads as the prior, half an event a day
    assert col[1] > col[2] > col[0] > 0
    assert col[2] == pytest.approx(np.log1p(0.5))
    # and, in the user's categories, by their shares (newest first: hiking-1, jazz-1)
    w = request.config.recency_decay ** np.arange(2)
    jazz = w[1] / w.sum()
    by_category = matrix[:, NAMES.index("category_appeal")]
    np.testing.assert_allclose(by_category, col * [jazz, jazz, 1 - jazz])


def test_category_posterior_discounts_a_hot_item_as_evidence_of_its_category() -> None:
    from pulserec.engine.sources.trending import (
        CROWD_SHARE,
        SMOOTHING,
        category_posterior,
        recent_categories,
    )

    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    # long ago, each of jazz-5 and hiking-7 taken 5 times; lately jazz-5 is hot
    for t in range(5):
        eng.ingest(Event(f"old{t}", "jazz-5", "click", 100.0 + t))
        eng.ingest(Event(f"old{t}", "hiking-7", "click", 100.0 + t))
    later = 100.0 + 60 * 86400.0
    for t in range(20):
        eng.ingest(Event(f"now{t}", "jazz-5", "click", later + t))
    # the user took the niche hiking-7, then the hot jazz-5
    eng.ingest(Event("a", "hiking-7", "click", later + 100.0))
    eng.ingest(Event("a", "jazz-5", "click", later + 101.0))
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    found = request.signal(category_posterior)
    assert found is not None
    codes, post = found
    jazz, hiking = eng.items.category_codes["jazz"], eng.items.category_codes["hiking"]
    assert codes.tolist() == sorted([jazz, hiking])

    # by hand: two categories, the filter over hiking-7 then jazz-5
    live, n = eng.items.live, len(eng.catalog)
    lately = live.trending.raw(n)
    total = lately.sum()
    stay, k, odds = request.config.recency_decay, 2, (1 - CROWD_SHARE) / CROWD_SHARE

    def weight(item: str, category: str) -> float:
        idx = eng.catalog.idx(item)
        members = eng.items.category_members(eng.items.category_codes[category])
        p = (live.popular.at(np.array([idx]))[0] + SMOOTHING) / (
            live.popular.at(members).sum() + SMOOTHING * len(members)
        )
        q = (lately[idx] + SMOOTHING * total / n) / (total * (1 + SMOOTHING) + 1e-12)
        return float(1 + odds * p / q)

    belief = {"jazz": 0.5, "hiking": 0.5}
    for item, category in (("hiking-7", "hiking"), ("jazz-5", "jazz")):
        belief = {c: stay * b + (1 - stay) / k for c, b in belief.items()}
        belief[category] *= weight(item, category)
        norm = sum(belief.values())
        belief = {c: b / norm for c, b in belief.items()}
    expected = {c: stay * b + (1 - stay) / k for c, b in belief.items()}
    got = dict(zip(codes.tolist(), post.tolist(), strict=True))
    assert got[jazz] == pytest.approx(expected["jazz"]) and got[hiking] == pytest.approx(
        expected["hiking"]
    )
    # the hot jazz-5, though the latest, says less than the niche hiking-7
    assert got[hiking] > got[jazz]
    by_recency = request.signal(recent_categories)
    assert by_recency is not None
    shares = dict(zip(by_recency[0].tolist(), by_recency[1].tolist(), strict=True))
    assert shares[jazz] > shares[hiking]  # recency alone says the opposite
    assert eng.ranker.request(None, None, "stranger").signal(category_posterior) is None


def test_category_belief_weighs_the_slow_counts_by_the_category_posterior() -> None:
    from pulserec.engine.sources.trending import category_posterior

    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    for t, item in enumerate(["jazz-5", "jazz-5", "hiking-5"]):
        eng.ingest(Event(f"crowd{t}", item, "click", 100.0 + t))
    for t, item in enumerate(["jazz-1", "jazz-2", "hiking-1"]):
        eng.ingest(Event("a", item, "click", 200.0 + t))
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    cands = np.array([eng.catalog.idx(i) for i in ("jazz-5", "hiking-5", "jazz-6")])
    col = feature_matrix(request, cands)[:, NAMES.index("category_belief")]
    found = request.signal(category_posterior)
    assert found is not None
    share = sparse_lookup(found, eng.items.category[cands])
    np.testing.assert_allclose(col, np.log1p(eng.items.live.popular.at(cands)) * share)
    assert col[0] > 0 and col[1] > 0 and col[2] == 0.0  # jazz-6: nobody took it


def test_the_category_source_proposes_what_trends_in_the_users_categories() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items([*catalog(), Item("tea-1", "Tea", "oolong", ("tea",))])
    crowd = ["jazz-5"] * 3 + ["jazz-6"] * 2 + ["hiking-5"] * 4 + ["hiking-6"] * 3 + ["tea-1"] * 9
    for t, item in enumerate(crowd):
        eng.ingest(Event(f"crowd{t}", item, "click", 100.0 + t))
    for t, item in enumerate(["jazz-1", "jazz-2", "jazz-3", "hiking-1"]):
        eng.ingest(Event("a", item, "click", 200.0 + t))
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    found = SOURCES["category"].candidates(request, 20)
    assert found is not None
    names = [eng.catalog.at(int(i)).item_id for i in found]
    # jazz is 3 of the user's 4 latest items, hiking 1: each category's trending items,
    # best first (of equal counts the latest click weighs most), none from a category the
    # user did not take (tea), none that nobody took
    assert names == ["jazz-5", "jazz-6", "jazz-3", "jazz-2", "jazz-1", "hiking-5", "hiking-6",
                     "hiking-1"]  # fmt: skip
    jazz = eng.items.category_codes["jazz"]
    members = eng.items.category_members(jazz)
    assert [eng.catalog.at(int(i)).item_id for i in members] == sorted(
        (it.item_id for it in catalog() if it.categories and it.categories[0] == "jazz"),
        key=eng.catalog.idx,
    )
    eng.upsert_items([Item("jazz-new", categories=("jazz",))])  # the grouping follows upserts
    assert eng.catalog.idx("jazz-new") in eng.items.category_members(jazz)
    request.restrict(np.zeros(len(eng.catalog), dtype=bool))  # a filter that allows nothing
    assert SOURCES["category"].candidates(request, 20) is None
    stranger = eng.ranker.request(None, None, "stranger")
    assert SOURCES["category"].candidates(stranger, 20) is None


def test_the_category_source_reads_a_categorys_top_items_from_the_catalogs_top_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pulserec.engine.sources.trending as module

    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items([Item(f"{c}-{j}", categories=(c,)) for c in ("a", "b") for j in range(10)])
    # the catalog's top six are a-0 .. a-5; b-0 and b-1 come later
    crowd = [(f"a-{j}", 9 - j) for j in range(6)] + [("b-0", 3), ("b-1", 2)]
    t = 100.0
    for item, times in crowd:
        for _ in range(times):
            t += 1.0
            eng.ingest(Event(f"crowd{t}", item, "click", t))
    eng.ingest(Event("u", "a-9", "click", t + 1.0))
    eng.ingest(Event("u", "b-5", "click", t + 2.0))
    monkeypatch.setattr(module, "HEAD", 6)
    scanned: list[int] = []
    scan = module.scanned_top

    def counted(request: Request, code: int, want: int) -> np.ndarray:
        scanned.append(code)
        return scan(request, code, want)

    monkeypatch.setattr(module, "scanned_top", counted)
    request = eng.ranker.request(None, eng.states.get("u"), "u")
    quotas = module.category_quotas(request, 20)
    assert quotas is not None
    want_a = int(quotas[1][0])
    assert 3 <= want_a <= 6  # a's share of the user's two items, inside the top six
    found = SOURCES["category"].candidates(request, 20)
    assert found is not None
    names = [eng.catalog.at(int(i)).item_id for i in found]
    # a's best from the top list; b has none there: a pass over its items, which finds
    # the three that anyone took
    assert names == [f"a-{j}" for j in range(want_a)] + ["b-0", "b-1", "b-5"]
    assert scanned == [eng.items.category_codes["b"]]
    # and the same as a pass over every category
    reference = [scan(request, int(c), int(w)) for c, w in zip(*quotas, strict=True)]
    assert found.tolist() == np.concatenate(reference).tolist()


def test_an_item_with_only_categories_has_no_text_to_embed() -> None:
    from pulserec.engine.items import item_text

    assert item_text(Item("281", categories=("281",))) == ""
    assert item_text(Item("a", "Tea", None, ("drinks",))) == "Tea. drinks"


def test_latest_items_find_neighbours_whatever_the_gaps() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    day = 86_400.0
    for user in ("r1", "r2"):  # reviewers a day apart: every session holds one item
        for d, item in enumerate(["jazz-1", "jazz-4", "hiking-7"]):
            eng.ingest(Event(user, item, "click", 10 * day + d * day))
    eng.ingest(Event("me", "jazz-1", "click", 20 * day))
    eng.ingest(Event("me", "jazz-4", "click", 22 * day))
    request = eng.ranker.request(None, eng.states.get("me"), "me")
    assert request.signal(session_votes) is not None  # a one-item session: itself only
    hiking = np.array([eng.catalog.idx("hiking-7")])
    assert sparse_lookup(request.signal(session_votes), hiking)[0] == 0.0  # type: ignore[arg-type]
    col = feature_matrix(request, hiking)[:, NAMES.index("latest_knn")]
    assert col[0] == pytest.approx(np.log1p(1.5))  # two reviewers, similarity (0.5 + 1) / 2 each
    assert eng.catalog.idx("hiking-7") in eng.ranker.candidates(request).tolist()
    eng.delete_user("r1")
    assert eng.items.live.sessions.latest.session_items("r1") == []


def test_an_item_without_text_is_never_explained_by_text() -> None:
    from pulserec.text import make_encoder

    eng = Engine(encoder=make_encoder("hashing", dim=64), config=replace(CFG, sequential=False))
    eng.upsert_items([*catalog(), Item("bare")])
    eng.ingest(Event("a", "jazz-1", "click", 1.0))
    picked = np.array([eng.catalog.idx("bare"), eng.catalog.idx("jazz-2")])
    contrib = np.zeros((2, len(NAMES)))
    contrib[:, NAMES.index("text")] = 1.0  # text would explain both
    reasons = eng.ranker.explainer.reasons(None, eng.states.get("a"), picked, contrib)
    assert reasons[0] == "popular now" and reasons[1].startswith("new, close to your interest in")


def test_a_fresh_item_gets_a_folded_factor_vector_from_its_first_event() -> None:
    from pulserec.engine.foldin import ItemFoldIn

    models = tiny_models()
    models.popularity = np.array([1.0, 1.0, 1.0, 0.0])  # item 3: never taken in training
    fold = ItemFoldIn(alpha=2.0, regularization=0.05)
    assert not fold.add(models, 0, "a")  # item 0 has a fitted vector
    assert not fold.add(models, 3, "nobody")  # a user the models do not know
    assert fold.add(models, 3, "a")
    u = models.long_term("a").astype(float)  # type: ignore[union-attr]
    gram = models.user_factors.T.astype(float) @ models.user_factors + 0.05 * np.eye(models.dim)
    expected = np.linalg.solve(gram + 2.0 * np.outer(u, u), 3.0 * u)
    mask, vectors = fold.vectors(models, np.array([0, 3, 9]))
    assert mask.tolist() == [False, True, False]
    np.testing.assert_allclose(vectors[0], expected)
    # the long-term feature of the fresh item reads its folded vector
    request = request_for(models, clicked(0, models.item_unit[0]))
    request.live.foldin = fold
    col = feature_matrix(request, np.array([3]))[:, NAMES.index("long_term")]
    assert col[0] == pytest.approx(float(expected @ u))
    refit = tiny_models()
    refit.popularity = models.popularity
    assert fold.add(refit, 3, "a")  # a refit: what was folded against the old models is gone
    assert not fold.vectors(models, np.array([3]))[0].any()
    np.testing.assert_allclose(fold.vectors(refit, np.array([3]))[1][0], expected)


def test_the_text_map_predicts_factor_vectors_from_text() -> None:
    from pulserec.engine.foldin import fit_text_map

    rng = np.random.default_rng(0)
    true_map = rng.normal(size=(16, 4))
    text = rng.normal(size=(400, 16))
    factors = text @ true_map + 0.01 * rng.normal(size=(400, 4))
    fitted = fit_text_map(text, factors)
    assert fitted is not None and fitted.shape == (16, 4)
    np.testing.assert_allclose(fitted, true_map, atol=0.05)
    assert fit_text_map(text[:20], factors[:20]) is None  # too few items to fit on
    # text unrelated to the factors predicts worse than nothing: no map
    assert fit_text_map(rng.normal(size=(400, 16)), factors) is None


def test_a_fresh_item_with_text_starts_from_its_text_prior() -> None:
    from pulserec.engine.foldin import ItemFoldIn

    models = tiny_models()
    models.popularity = np.array([1.0, 1.0, 1.0, 0.0])  # item 3: never taken in training
    models.text_map = np.eye(2)  # text vectors read as factor vectors
    text = np.array([[1, 0], [1, 0], [0, 1], [0.2, 0.8], [0, 0]], dtype=np.float32)
    has = np.array([True, True, True, True, False])
    fold = ItemFoldIn(alpha=2.0, regularization=0.05)
    # before any event: item 3 (fresh, with text) has its prior; 0 is fitted, 4 has no text
    mask, vectors = fold.vectors(models, np.array([0, 3, 4]), (text, has))
    assert mask.tolist() == [False, True, False]
    np.testing.assert_allclose(vectors[0], [0.2, 0.8], rtol=1e-6)
    # one event moves it from the prior towards the user
    assert fold.add(models, 3, "a")
    u = models.long_term("a").astype(float)  # type: ignore[union-attr]
    gram = models.user_factors.T.astype(float) @ models.user_factors + 0.05 * np.eye(2)
    prior = np.array([0.2, 0.8])
    expected = np.linalg.solve(gram + 2.0 * np.outer(u, u), 3.0 * u + gram @ prior)
    mask, vectors = fold.vectors(models, np.array([3]), (text, has))
    np.testing.assert_allclose(vectors[0], expected)
    assert vectors[0][0] > prior[0]  # user "a" likes the first axis


def test_the_summary_sentence_keeps_short_and_long_term_apart_in_the_users_language() -> None:
    from pulserec.engine.insight import (
        CategoryWeight,
        Keyword,
        LongTerm,
        ShortTerm,
        TopicShare,
        language_of,
        summarize,
    )

    short = ShortTerm(
        [Keyword("gongfu teaware", 0.9), Keyword("Tea", 0.5)],
        [CategoryWeight("tea", 2.0)],
        [TopicShare(3, "oolong, pu'er, roast", 0.7), TopicShare(1, "jazz, trio, piano", 0.3)],
    )
    long = LongTerm([Keyword("science fiction", 0.4)], [TopicShare(1, "jazz, trio, piano", 0.6)])
    assert summarize(short, long, "en") == (
        "Lately: tea, oolong, jazz, gongfu teaware. Over time: jazz, science fiction."
    )
    assert summarize(short, long, "zh") == (
        "最近：tea、oolong、jazz、gongfu teaware。长期：jazz、science fiction。"
    )
    assert summarize(ShortTerm([], [], []), LongTerm([], []), "en") == ""  # nothing to claim
    assert language_of(["龙井绿茶，清香", "tea"]) == "zh"
    assert language_of(["Longjing green tea", "茶"]) == "en"


def test_reasons_name_the_hour_the_category_and_speak_the_users_language() -> None:
    eng = Engine(config=replace(CFG, sequential=False))
    tea = [Item("茶-1", "龙井绿茶", "", ("茶",)), Item("茶-2", "铁观音", "", ("茶",))]
    eng.upsert_items([*catalog(), *tea])
    eng.ingest(Event("zh", "茶-1", "click", 1.0))
    eng.ingest(Event("en", "jazz-1", "click", 1.0))
    contrib = np.zeros((1, len(NAMES)))
    for user, parts, item, expected in [
        ("en", {"trending_fast": 1.0}, "jazz-2", "popular this hour"),
        ("en", {"trending_now": 1.0}, "jazz-2", "popular right now"),
        ("zh", {"trending_now": 1.0}, "茶-2", "此刻热门"),
        ("en", {"category_trending": 1.0}, "jazz-2", "popular in jazz now"),
        ("zh", {"category_trending": 1.0}, "茶-2", "茶类最近热门"),
        ("en", {"category_popular": 1.0}, "jazz-2", "a favourite in jazz"),
        ("en", {"category_belief": 1.0}, "jazz-2", "a favourite in jazz"),
        ("zh", {"category_popular": 1.0}, "茶-2", "茶类很多人喜欢"),
        ("zh", {"trending": 1.0}, "茶-2", "最近热门"),
        ("en", {"popular": 1.0}, "jazz-2", "a favourite of many"),
        ("zh", {"popular": 1.0}, "茶-2", "很多人喜欢"),
        ("en", {"appeal": 1.0}, "jazz-2", "taken by many since it came out"),
        ("zh", {"appeal": 1.0}, "茶-2", "上架以来很多人选"),
        ("en", {"category_appeal": 1.0}, "jazz-2", "a favourite in jazz"),
        ("en", {"recency": 1.0}, "jazz-2", "just out"),
        ("en", {"category_recency": 1.0}, "jazz-2", "just out in jazz"),
        ("zh", {"category_recency": 1.0}, "茶-2", "茶类新上架"),
        # the trending scales explain together: the hour's +1.0 less the minutes' 0.9
        # adds 0.1, less than the category's 0.3
        ("en", {"trending_fast": 1.0, "trending_now": -0.9, "category_trending": 0.3},
         "jazz-2", "popular in jazz now"),
        ("en", {"trending_fast": 0.5, "trending_now": 0.4, "category_trending": 0.6},
         "jazz-2", "popular this hour"),
    ]:  # fmt: skip
        contrib[:] = 0.0
        for feature, value in parts.items():
            contrib[0, NAMES.index(feature)] = value
        picked = np.array([eng.catalog.idx(item)])
        eng.items.interactions[picked] = 1  # not new
        reasons = eng.ranker.explainer.reasons(None, eng.states.get(user), picked, contrib)
        assert reasons == [expected], (user, parts)


def test_the_blend_reads_each_feature_its_square_and_its_standing_among_the_candidates() -> None:
    from pulserec.engine.features import BLEND_NAMES, per_feature, terms, weight_slots

    f = np.zeros((3, len(NAMES)))
    cov = NAMES.index("covisit")
    f[:, cov] = [0.0, 1.0, 2.0]
    x = terms(f)
    assert x.shape == (3, len(BLEND_NAMES)) and BLEND_NAMES[len(NAMES) + cov] == "covisit:sq"
    np.testing.assert_allclose(x[:, cov], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(x[:, len(NAMES) + cov], [0.0, 1.0, 4.0])
    np.testing.assert_allclose(x[:, 2 * len(NAMES) + cov], np.array([-1.0, 0.0, 1.0]) * 1.5**0.5)
    assert not x[:, [j for j in range(len(BLEND_NAMES)) if j % len(NAMES) != cov]].any()
    assert terms(np.zeros((0, len(NAMES)))).shape == (0, len(BLEND_NAMES))
    # contributions fold back onto the feature they came from
    slots = weight_slots("covisit")
    assert slots == [cov, cov + len(NAMES), cov + 2 * len(NAMES)]
    contrib = np.zeros((1, len(BLEND_NAMES)))
    contrib[0, slots] = [1.0, 2.0, 3.0]
    assert per_feature(contrib)[0, cov] == 6.0 and per_feature(contrib).sum() == 6.0


def test_an_operators_weight_replaces_every_term_of_its_feature() -> None:
    from pulserec.engine.features import BLEND_NAMES, weight_slots
    from pulserec.engine.rank import Ranker

    fitted = np.arange(len(BLEND_NAMES), dtype=float)
    out = Ranker.override(fitted, {"trending": 0.5})
    value, square, standing = weight_slots("trending")
    assert (out[value], out[square], out[standing]) == (0.5, 0.0, 0.0)
    others = [j for j in range(len(BLEND_NAMES)) if j not in (value, square, standing)]
    np.testing.assert_array_equal(out[others], fitted[others])
    assert Ranker.override(fitted, None) is fitted


def test_a_blend_fitted_on_few_choices_reads_the_values_alone() -> None:
    from pulserec.engine.blend import MIN_TERM_LISTS, fit_blend
    from pulserec.engine.features import BLEND_NAMES, terms
    from pulserec.ranking import ChoiceData

    rng = np.random.default_rng(1)
    cov = NAMES.index("covisit")
    sq = len(NAMES) + cov

    def lists(n: int) -> ChoiceData:
        # the chosen item is the one whose covisit is farthest from zero: a square's choice
        fs = [terms(rng.normal(size=(6, len(NAMES)))) for _ in range(n)]
        return ChoiceData(fs, [int(np.argmax(f[:, sq])) for f in fs])

    few, _ = fit_blend(lists(MIN_TERM_LISTS - 1))
    assert not few[len(NAMES) :].any()  # square and standardised terms: untouched
    many, _ = fit_blend(lists(MIN_TERM_LISTS))
    assert len(many) == len(BLEND_NAMES) and many[sq] > 1.0


def test_the_same_query_of_the_same_index_is_searched_once_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A user without a short-term vector: ``ann`` and ``factor`` ask the same query."""
    models = tiny_models()
    req = request_for(models, None)
    calls = []
    real = type(models.cf_index).search

    def counted(self: object, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(models.cf_index), "search", counted)
    ann = SOURCES["ann"].candidates(req, 2)
    factor = SOURCES["factor"].candidates(req, 2)
    assert ann is not None and factor is not None
    assert ann.tolist() == factor.tolist() == [0, 1] and len(calls) == 1
    req.restrict(np.array([False, True, True, True]))  # another filter: searched afresh
    assert SOURCES["factor"].candidates(req, 2).tolist() == [1, 3]  # type: ignore[union-attr]


def _trained_shop() -> tuple[Engine, ModelSet]:
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    assert eng.models is not None
    return eng, eng.models


def _count_searches(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The queries of every index search a request makes from now on."""
    searched: list[np.ndarray] = []
    real = Request.search

    def counted(self: Request, index: object, query: np.ndarray, k: int) -> np.ndarray:
        searched.append(query)
        return real(self, index, query, k)  # type: ignore[arg-type]

    monkeypatch.setattr(Request, "search", counted)
    return searched


def test_factor_candidates_are_kept_per_user_for_the_serving_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eng, models = _trained_shop()
    factor = SOURCES["factor"]
    n = eng.config.n_candidates
    searched = _count_searches(monkeypatch)

    def ask(user: str, allowed: np.ndarray | None = None) -> list[int]:
        request = eng.ranker.request(eng.models, eng.states.get(user), user)
        request.restrict(allowed)
        found = factor.candidates(request, n)
        assert found is not None
        return found.tolist()

    first = ask("u0")
    assert len(searched) == 1 and ask("u0") == first and len(searched) == 1  # kept
    assert len(eng.factor_cache) == 1
    allowed = np.ones(len(eng.catalog), dtype=bool)
    allowed[first[0]] = False
    assert first[0] not in ask("u0", allowed) and len(searched) == 2  # a filter: afresh
    eng.ingest(Event("u0", "jazz-3", "click", 6_000_000.0))
    assert ask("u0") == first and len(searched) == 2  # an event moves no factor vector
    eng.forget_user("u2")
    assert ask("u0") == first  # kept across another user's forgetting (new models) ...
    assert len(searched) == 3  # ... afresh: forgetting serves a copy of the models
    eng.factor_cache.forget("u0")
    assert ask("u0") == first and len(searched) == 4
    eng.models = models  # a swap drops every list
    assert len(eng.factor_cache) == 0
    # a refit's replay ranks with other models: it neither reads nor fills the cache
    other = replace(models)
    request = eng.ranker.request(other, None, "u0")
    assert factor.candidates(request, n) is not None and len(eng.factor_cache) == 0
    small = Engine(config=replace(CFG, sequential=False, factor_cache_users=1))
    small.upsert_items(catalog())
    small.swap(models)
    for user in ("u0", "u1", "u0"):
        req = small.ranker.request(small.models, None, user)
        factor.candidates(req, n)
    assert small.factor_cache.cached_users == ["u0"]  # the least recently read left


def test_a_swap_fills_the_factor_lists_of_users_active_or_read_lately(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eng, models = _trained_shop()
    factor, n = SOURCES["factor"], eng.config.n_candidates
    eng.ingest(Event("u3", "jazz-3", "click", 6_000_000.0))  # u3 active lately
    for user in ("u0", "u1"):  # u0 and u1 read lately
        factor.candidates(eng.ranker.request(eng.models, None, user), n)
    own = {u: eng.factor_cache.get(models, u, n) for u in ("u0", "u1")}
    searched = _count_searches(monkeypatch)
    again = replace(models)
    eng.swap(again)
    # the lately active user and the readers kept their lists, the most recent last
    assert eng.factor_cache.cached_users == ["u3", "u0", "u1"]
    for user in ("u3", "u0", "u1"):
        kept = eng.factor_cache.get(again, user, n)
        found = factor.candidates(eng.ranker.request(again, None, user), n)
        assert kept is not None and found is not None and found.tolist() == kept.tolist()
        if user in own:  # the same vectors: the same list as its own search gave
            assert kept.tolist() == own[user].tolist()  # type: ignore[union-attr]
    assert searched == []  # no request searched for itself
    assert factor.candidates(eng.ranker.request(again, None, "u2"), n) is not None
    assert len(searched) == 1  # a user not active lately searches
    # a bounded cache keeps the latest; a user the models lack is skipped
    eng.factor_cache.max_users = 2
    assert eng.factor_cache.fill(again, ["u0", "nobody", "u1", "u2"], n) == 0  # all kept
    eng.factor_cache.serve(again)
    assert eng.factor_cache.fill(again, ["u0", "u1", "nobody", "u2"], n) == 2
    assert eng.factor_cache.cached_users == ["u1", "u2"]
    # models no longer serving are not filled
    eng.factor_cache.serve(models)
    assert eng.factor_cache.fill(again, ["u0"], n) == 0 and len(eng.factor_cache) == 0


def test_the_newest_source_proposes_the_latest_published_items_of_the_users_categories() -> None:
    day = 86400.0
    now = 100 * day
    eng = Engine(config=replace(CFG, sequential=False))
    eng.upsert_items([
        *catalog(),
        Item("jazz-old", categories=("jazz",), created_at=now - 30 * day),
        Item("jazz-week", categories=("jazz",), created_at=now - 7 * day),
        Item("jazz-today", categories=("jazz",), created_at=now - day / 2),
        Item("jazz-tomorrow", categories=("jazz",), created_at=now + day),  # not out yet
        Item("hiking-new", categories=("hiking",), created_at=now - 2 * day),
        Item("tea-new", categories=("tea",), created_at=now - day / 4),  # not the user's
    ])  # fmt: skip
    eng.ingest(Event("a", "jazz-1", "click", now - 10.0))
    eng.ingest(Event("a", "jazz-2", "click", now))  # the engine's clock: the latest event
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    found = SOURCES["newest"].candidates(request, 20)
    assert found is not None
    names = [eng.catalog.at(int(i)).item_id for i in found]
    # newest first; the catalog items without a publication time are not proposed
    assert names == ["jazz-today", "jazz-week", "jazz-old"]
    # an item published since is proposed at once (the sorted lists follow upserts)
    eng.upsert_items([Item("jazz-now", categories=("jazz",), created_at=now - 60.0)])
    request = eng.ranker.request(None, eng.states.get("a"), "a")
    found = SOURCES["newest"].candidates(request, 20)
    assert found is not None
    assert eng.catalog.at(int(found[0])).item_id == "jazz-now"
    allowed = np.zeros(len(eng.catalog), dtype=bool)  # a filter: only jazz-week
    allowed[eng.catalog.idx("jazz-week")] = True
    request.restrict(allowed)
    found = SOURCES["newest"].candidates(request, 20)
    assert found is not None and found.tolist() == [eng.catalog.idx("jazz-week")]
    request.restrict(None)
    stranger = eng.ranker.request(None, None, "stranger")
    assert SOURCES["newest"].candidates(stranger, 20) is None
    named = ("jazz-today", "jazz-week", "jazz-tomorrow", "hiking-new", "jazz-3")
    cands = np.array([eng.catalog.idx(i) for i in named])
    matrix = feature_matrix(request, cands)
    col = matrix[:, NAMES.index("recency")]
    # 1 / (1 + days since publication); 0 before it and where the time is unknown
    np.testing.assert_allclose(col, [1 / 1.5, 1 / 8, 0.0, 1 / 3, 0.0])
    # in the user's categories by their shares: all of them jazz
    np.testing.assert_allclose(matrix[:, NAMES.index("category_recency")], col * [1, 1, 1, 0, 1])
    plain = Engine(config=replace(CFG, sequential=False))  # no publication times: no column
    plain.upsert_items(catalog())
    plain.ingest(Event("a", "jazz-1", "click", now))
    bare = plain.ranker.request(None, plain.states.get("a"), "a")
    assert SOURCES["newest"].candidates(bare, 20) is None
    assert not feature_matrix(bare, np.arange(5))[:, NAMES.index("recency")].any()
