"""The loop end to end on a small synthetic shop with two topics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from shop import CFG, N_PER_TOPIC, catalog, history

from pulserec.engine import Engine
from pulserec.storage import open_storage
from pulserec.text import make_encoder
from pulserec.types import Event, Item


@pytest.fixture
def engine() -> Engine:
    eng = Engine(encoder=make_encoder("hashing"), config=CFG)
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    return eng


def topics(rec: object) -> list[str]:
    return [s.item_id.split("-")[0] for s in rec.items]  # type: ignore[attr-defined]


def test_three_clicks_of_one_topic_move_the_next_recommendations(engine: Engine) -> None:
    t = 2_000_000.0
    before = topics(engine.recommend("newbie", 10))
    for j in (3, 4, 5):
        engine.ingest(Event("newbie", f"hiking-{j}", "click", t + j))
    after = engine.recommend("newbie", 10)
    assert topics(after).count("hiking") >= 8 > before.count("hiking")
    assert all(s.reason for s in after.items)
    assert not {"hiking-3", "hiking-4", "hiking-5"} & {s.item_id for s in after.items}
    # and the other way: a jazz run turns the same user around at once
    for j in range(6, 12):
        engine.ingest(Event("newbie", f"jazz-{j}", "purchase", t + 100 + j))
    assert topics(engine.recommend("newbie", 5)).count("jazz") >= 4


def test_reads_never_create_state(engine: Engine) -> None:
    n = len(engine.states)
    rec = engine.recommend("ghost", 5)
    assert len(rec.items) == 5 and len(engine.states) == n
    assert engine.interests("ghost") is None and len(engine.states) == n


def test_filters_exclusions_and_deleted_items(engine: Engine) -> None:
    rec = engine.recommend("u0", 10, category="hiking", exclude=["hiking-1"])
    assert topics(rec) == ["hiking"] * 10 and "hiking-1" not in [s.item_id for s in rec.items]
    top = engine.recommend("u0", 1).items[0].item_id
    assert engine.delete_item(top)
    assert top not in [s.item_id for s in engine.recommend("u0", 20).items]


def test_diversity_brings_in_the_other_topic(engine: Engine) -> None:
    plain = topics(engine.recommend("u0", 10, diversity=0.0))
    varied = topics(engine.recommend("u0", 10, diversity=0.8))
    assert len(set(varied)) == 2 and varied.count("jazz") < plain.count("jazz")
    with pytest.raises(ValueError, match="diversity"):
        engine.recommend("u0", 10, diversity=2.0)


def test_search_query_moves_interest_by_text(engine: Engine) -> None:
    engine.ingest(Event("seeker", None, "search", 3_000_000.0, text="mountain trail boots"))
    rec = engine.recommend("seeker", 5)
    assert topics(rec).count("hiking") >= 4
    assert any("search" in s.reason for s in rec.items)


def test_new_item_is_recommendable_at_once_by_its_text(engine: Engine) -> None:
    for j in range(3):
        engine.ingest(Event("fan", f"jazz-{j}", "click", 4_000_000.0 + j))
    engine.upsert_items([Item("jazz-new", "Fresh swing", "saxophone trumpet swing", ("jazz",))])
    rec = engine.recommend("fan", 30)
    new = [s for s in rec.items if s.item_id == "jazz-new"]
    assert new and new[0].reason == "new, close to your interest in jazz"


def test_event_for_unknown_item_counts_once_the_item_arrives(engine: Engine) -> None:
    engine.ingest(Event("early", "later-item", "click", 5_000_000.0))
    assert engine.storage.counts()["events"] == len(history()) + 1
    assert engine.interests("early").recent_items == []  # type: ignore[union-attr]
    engine.upsert_items([Item("later-item", "Later", "swing", ("jazz",))])
    assert engine.interests("early").recent_items == ["later-item"]  # type: ignore[union-attr]


def test_restart_restores_the_same_recommendations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/p.db"
    cfg = CFG
    first = Engine(open_storage(url), make_encoder("hashing"), cfg, artifacts_dir=tmp_path / "a")
    first.upsert_items(catalog())
    first.bootstrap(history())
    first.train()
    first.ingest(Event("u1", "jazz-7", "click", 9_000_000.0, event_id="e-1"))
    expected = first.recommend("u1", 10)
    first.storage.close()

    second = Engine(open_storage(url), make_encoder("hashing"), cfg, artifacts_dir=tmp_path / "a")
    second.load_from_storage()
    assert second.load_latest_models() is not None
    restored = second.recommend("u1", 10).items
    # the same list and reasons; the scores equal up to rounding (the start counts the
    # log's trending in batches, the first process one event at a time)
    assert [(s.item_id, s.reason) for s in restored] == [
        (s.item_id, s.reason) for s in expected.items
    ]
    assert [s.score for s in restored] == pytest.approx([s.score for s in expected.items])
    assert second.ingest(Event("u1", "jazz-7", "click", 9_000_000.0, event_id="e-1")) is False


def test_validation_fit_learns_weights(engine: Engine) -> None:
    models = engine.models
    assert models is not None and models.metrics.get("lists", 0) > 0
    assert models.metrics["nll_after"] < models.metrics["nll_before"]


def test_transformer_reads_the_users_latest_items(engine: Engine) -> None:
    # every history walks one topic's items in order: after hiking-3, 4, 5 comes hiking-6
    models = engine.models
    assert models is not None and models.sequential is not None
    for j in (3, 4, 5):
        engine.ingest(Event("walker", f"hiking-{j}", "click", 6_000_000.0 + j))
    state = engine.states.get("walker")
    assert state is not None
    user = engine.sequential.scores(models, state)
    assert user is not None
    everything = np.arange(len(engine.catalog))
    scores = user.at(everything)
    assert abs(scores.mean()) < 1e-4 and abs(scores.std() - 1.0) < 1e-4  # standardised
    unseen = np.argsort(-scores)
    unseen = unseen[~np.isin(unseen, state.seen_items())]
    assert engine.catalog.at(int(unseen[0])).item_id == "hiking-6"
    # the source's top items come from the index, ordered as the scores without the
    # repeat bias (the items of the sequence are left out later, as seen ones)
    unbiased = scores - np.isin(everything, user.sequence) * user.item_vectors.bias / user.std
    assert user.top(5).tolist() == np.argsort(-unbiased)[:5].tolist()
    # a scored subset reads the same values as the whole catalog
    assert np.allclose(user.at(everything[::3]), scores[::3], atol=1e-6)
    # kept between requests until the user's next event; forgotten with the user
    assert engine.sequential.scores(models, state).state is user.state  # type: ignore[union-attr]
    engine.ingest(Event("walker", "hiking-6", "click", 6_000_010.0))
    state = engine.states.get("walker")
    assert state is not None
    moved = engine.sequential.scores(models, state)
    assert moved is not None and moved.state is not user.state
    assert moved.at(everything).argmax() != scores.argmax()
    engine.delete_user("walker")
    assert "walker" not in engine.sequential.cached_users
    # the byte budget holds one user's state here: the older one leaves
    one = user.state.nbytes + user.sequence.nbytes
    engine.config.sequential_cache_mb = 1.5 * one / 2**20
    for name in ("u0", "u1"):
        st = engine.states.get(name)
        assert st is not None and engine.sequential.scores(models, st) is not None
    assert engine.sequential.cached_users == ["u1"]
    for j in (3, 4, 5):
        engine.ingest(Event("walker", f"hiking-{j}", "click", 6_000_020.0 + j))
    state = engine.states.get("walker")
    assert state is not None
    # an item that arrives after training is scored by its text alone: a hiking text ranks
    # above every jazz item for this user, a jazz text below every hiking one
    engine.upsert_items([
        Item("hiking-new", "New trail", "trail boots mountain", ("hiking",)),
        Item("jazz-new", "New swing", "saxophone trumpet swing", ("jazz",)),
    ])  # fmt: skip
    user = engine.sequential.scores(models, state)
    assert user is not None
    scores = user.at(np.arange(len(engine.catalog)))
    assert abs(scores.mean()) < 1e-4 and abs(scores.std() - 1.0) < 1e-4  # the new ones count
    jazz = [engine.catalog.idx(f"jazz-{j}") for j in range(N_PER_TOPIC)]
    hiking = [engine.catalog.idx(f"hiking-{j}") for j in range(N_PER_TOPIC)]
    assert scores[engine.catalog.idx("hiking-new")] > scores[jazz].max()
    assert scores[engine.catalog.idx("jazz-new")] < scores[hiking].min()
    # and found by the source: the new hiking item is among this user's top items
    assert engine.catalog.idx("hiking-new") in user.top(len(hiking) + 1).tolist()


def test_engine_without_the_transformer_still_ranks() -> None:
    eng = Engine(encoder=make_encoder("hashing"), config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    models = eng.train()
    assert models.sequential is None and models.seq_items is None
    eng.ingest(Event("u0", "jazz-3", "click", 6_000_000.0))
    assert topics(eng.recommend("u0", 5)).count("jazz") == 5


def test_similar_items_stay_in_topic(engine: Engine) -> None:
    sims = engine.similar("jazz-3", 5)
    assert len(sims) == 5 and all(s.item_id.startswith("jazz") for s in sims)
    assert "jazz-3" not in [s.item_id for s in sims]


def test_search_finds_by_text_and_rejects_empty(engine: Engine) -> None:
    hits = engine.search("saxophone swing", 5)
    assert [h.item_id.split("-")[0] for h in hits] == ["jazz"] * 5
    personal = engine.search("saxophone swing", 5, user_id="u0")
    assert len(personal) == 5
    with pytest.raises(ValueError, match="q: the query must not be empty"):
        engine.search("  ")


def test_interests_in_words_topics_and_timeline(engine: Engine) -> None:
    for j in range(4):
        engine.ingest(Event("reader", f"hiking-{j}", "click", 6_000_000.0 + j))
    engine.ingest(Event("reader", None, "search", 6_000_010.0, text="mountain boots"))
    found = engine.interests("reader")
    assert found is not None
    words = " ".join(k.keyword for k in found.short_term.keywords)
    assert any(w in words for w in ("trail", "boots", "mountain", "hiking"))
    assert found.short_term.categories[0].category == "hiking"
    assert found.queries == ["mountain boots"]
    assert len(found.timeline) == 4 and found.timeline[-1].topics
    assert found.short_term.topics and found.long_term.topics
    # one sentence: categories, topics and keyphrases; a topic is named only if it is
    # among the user's top topics of that term
    assert found.language == "en" and found.summary.startswith("Lately: hiking")
    lately, _, over_time = found.summary.partition(" Over time: ")
    allowed_short = {t.label.split(",")[0] for t in found.short_term.topics}
    allowed_short |= {c.category for c in found.short_term.categories}
    allowed_short |= {k.keyword for k in found.short_term.keywords}
    named = lately.removeprefix("Lately: ").rstrip(".").split(", ")
    assert named and set(named) <= allowed_short
    allowed_long = {t.label.split(",")[0] for t in found.long_term.topics}
    allowed_long |= {k.keyword for k in found.long_term.keywords}
    assert set(over_time.rstrip(".").split(", ")) <= allowed_long


def test_spam_comments_are_logged_but_move_nothing() -> None:
    from pulserec.text import SpamFilter

    eng = Engine(encoder=make_encoder("hashing"), spam_filter=SpamFilter())
    eng.upsert_items(catalog())
    spam = Event("s", "jazz-1", "comment", 1.0, text="BUY NOW http://spam.example !!!!!!!!")
    assert eng.ingest(spam)
    assert [e.spam for e in eng.storage.events(user_id="s")] == [True]
    assert eng.interests("s").recent_items == []  # type: ignore[union-attr]


def test_comment_sentiment_pushes_away_or_pulls_in() -> None:
    class Fixed:
        def predict_proba(self, texts: list[str]) -> np.ndarray:
            return np.array([0.05 if "awful" in t else 0.95 for t in texts])

    eng = Engine(encoder=make_encoder("hashing"), sentiment=Fixed())
    eng.upsert_items(catalog())
    eng.ingest(Event("c", "jazz-1", "comment", 1.0, text="awful record"))
    eng.ingest(Event("c", "hiking-1", "comment", 2.0, text="lovely trail"))
    state = eng.states.get("c")
    assert state is not None and eng.catalog.idx("jazz-1") in state.negatives
    assert eng.interests("c").recent_items == ["hiking-1"]  # type: ignore[union-attr]


def test_background_refit_keeps_ingest_and_recommend_working(engine: Engine) -> None:
    old = engine.models
    assert engine.trainer.start()
    assert not engine.trainer.start()  # one refit at a time
    served = 0
    t = 7_000_000.0
    while engine.trainer.training or served < 3:
        engine.ingest(Event("busy", f"jazz-{served % N_PER_TOPIC}", "click", t + served))
        assert len(engine.recommend("busy", 5).items) == 5
        served += 1
    engine.trainer.join()
    assert engine.models is not old and engine.trainer.last_error is None
    # events that arrived during the refit are in the state of the new models
    state = engine.states.get("busy")
    assert state is not None and state.n_events == served


def test_restart_with_a_reordered_catalog_keeps_models_aligned(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/p.db"
    cfg = CFG
    first = Engine(open_storage(url), make_encoder("hashing"), cfg, artifacts_dir=tmp_path / "a")
    first.upsert_items(catalog())
    first.bootstrap([*history(), Event("x", "only-in-events", "click", 9.9e6)])
    first.train()
    expected = first.similar("jazz-4", 5)
    first.ingest(Event("u1", "jazz-7", "click", 9_000_000.0))
    expected_recs = first.recommend("u1", 10)
    first.storage.close()
    # a fresh process whose catalog numbers the items in another order
    second = Engine(open_storage(url), make_encoder("hashing"), cfg, artifacts_dir=tmp_path / "a")
    second.upsert_items(list(reversed(catalog())))
    second.load_from_storage()
    assert second.catalog.idx("jazz-4") != first.catalog.idx("jazz-4")
    assert second.load_latest_models() is not None
    assert [s.item_id for s in second.similar("jazz-4", 5)] == [s.item_id for s in expected]
    # every model, the transformer too, reads the same items under their new numbers
    got = second.recommend("u1", 10)
    assert [s.item_id for s in got.items] == [s.item_id for s in expected_recs.items]
    np.testing.assert_allclose([s.score for s in got.items],
                               [s.score for s in expected_recs.items], rtol=1e-5)  # fmt: skip


def test_deleted_item_comes_back_when_upserted_again(engine: Engine) -> None:
    assert engine.delete_item("jazz-2") and engine.is_deleted("jazz-2")
    engine.upsert_items([Item("jazz-2", "Jazz 2", "saxophone trumpet swing 2", ("jazz",))])
    assert not engine.is_deleted("jazz-2") and engine.is_deleted("never-seen")


def test_swap_never_serves_the_previous_models_covisitation() -> None:
    """Scores cached for one models object must not survive into the next one.

    The new models here differ only in their co-visitation (emptied), and are built so
    that they land on the freed address of the old ones, as a refit's may: a cache keyed
    by ``id(models)`` would serve the old votes.
    """
    import gc
    from dataclasses import fields

    import scipy.sparse as sp

    from pulserec.engine import ModelSet

    eng = Engine(encoder=make_encoder("hashing"), config=replace(CFG, sequential=False))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    eng.ingest(Event("u0", "jazz-3", "click", 6_000_000.0))
    old = eng.models
    assert old is not None
    with_covisit = eng.score_items("u0", ["jazz-4"])[0]
    values = {f.name: getattr(old, f.name) for f in fields(ModelSet)}
    values["covisit"] = sp.csr_matrix((old.n_items, old.n_items), dtype=np.float32)
    fresh = ModelSet(**values)  # the same models without co-visitation, at a new address
    eng.swap(fresh)
    expected = eng.score_items("u0", ["jazz-4"])[0]
    assert expected < with_covisit  # co-visitation did count for this item

    eng.swap(old)
    eng.score_items("u0", ["jazz-4"])  # cache the old models' votes once more
    old_id = id(old)
    eng.models = None
    del old, fresh
    gc.collect()
    kept = []
    for _ in range(10_000):  # CPython hands a freed block out again before long
        reused = ModelSet(**values)
        if id(reused) == old_id:
            break
        kept.append(reused)
    eng.swap(reused)
    assert eng.score_items("u0", ["jazz-4"])[0] == pytest.approx(expected)


def test_models_assigned_directly_keep_the_transformers_cache(engine: Engine) -> None:
    """Serving models set by assignment (no swap) are cached per user like swapped ones."""
    models = engine.models
    engine.models = models
    engine.ingest(Event("reader", "hiking-3", "click", 6_000_000.0))
    state = engine.states.get("reader")
    assert state is not None
    first = engine.sequential.scores(models, state)
    assert first is not None and engine.sequential.cached_users == ["reader"]
    again = engine.sequential.scores(models, state)
    assert again is not None and again.state is first.state


def test_the_final_transformer_starts_from_the_validation_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refit fits the transformer twice (validation window, then all): with
    ``sequential_warm_start`` the second starts from the first's weights."""
    from pulserec.models.sequential import SequentialTransformer

    started: list[tuple[SequentialTransformer, SequentialTransformer | None]] = []
    real = SequentialTransformer.warm_start

    def record(self: SequentialTransformer, previous: SequentialTransformer | None) -> object:
        started.append((self, previous))
        return real(self, previous)

    monkeypatch.setattr(SequentialTransformer, "warm_start", record)
    eng = Engine(encoder=make_encoder("hashing"), config=CFG)
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    eng.train()
    assert started == []  # opt-in
    eng.config.sequential_warm_start = True
    models = eng.train()
    assert len(started) == 1
    final, previous = started[0]
    assert final is models.sequential and previous is not None and previous is not final
    assert previous.n_items_ <= final.n_items_


@pytest.mark.parametrize(("gain", "se", "kept"), [(0.03, 0.01, True), (0.01, 0.01, False),
                                                 (-0.02, 0.01, False)])  # fmt: skip
def test_the_transformer_is_kept_only_where_it_ranks_the_held_out_window_better(
    monkeypatch: pytest.MonkeyPatch, gain: float, se: float, kept: bool
) -> None:
    """The gate replays the validation window without the transformer and keeps it only
    when its NDCG@10 there is higher by more than one standard error of the paired
    difference; the blend is then fitted on the kept engine's choices (none of them with a
    transformer score when it is left out)."""
    from pulserec.engine import training
    from pulserec.engine.features import BLEND_NAMES

    seq_cols = [j for j, name in enumerate(BLEND_NAMES) if name.startswith("sequential")]
    compared: list[tuple[bool, bool]] = []
    real_gain = training.paired_ndcg_gain

    def fake(a, b, random_state=0):  # type: ignore[no-untyped-def]
        compared.append(tuple(any(np.abs(f[:, seq_cols]).sum() > 0 for f in d.features)
                              for d in (a, b)))  # type: ignore[arg-type]  # fmt: skip
        return replace(real_gain(a, b, random_state), gain=gain, se=se)

    real = training.validation_quality
    reported: list[bool] = []

    def report(choices, previous, random_state=0, **kwargs):  # type: ignore[no-untyped-def]
        reported.append(any(np.abs(f[:, seq_cols]).sum() > 0 for f in choices.features))
        return real(choices, previous, random_state, **kwargs)

    monkeypatch.setattr(training, "paired_ndcg_gain", fake)
    monkeypatch.setattr(training, "validation_quality", report)
    eng = Engine(encoder=make_encoder("hashing"), config=replace(CFG, sequential_gate=True))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    models = eng.train()
    assert compared == [(True, False)]  # with the transformer against without
    assert (models.sequential is not None) is kept
    assert models.metrics["transformer_kept"] == float(kept)
    assert models.metrics["ndcg@10_gain_se"] == se
    assert reported[-1] is kept  # the report reads the choices the blend was fitted on
    assert eng.recommend("u3", 5).items  # served either way


def test_the_paired_gain_and_its_error_by_hand() -> None:
    from pulserec.engine.blend import paired_gain

    # a ranks the chosen item first in events 0 and 1 and missed 2 and 3; b ranks it first
    # in 0, second in 1, first in 2, and missed 3: differences 0, 1 - 1/log2(3), -1, 0
    d = np.array([0.0, 1.0 - 1.0 / np.log2(3.0), -1.0, 0.0])
    gain, se = paired_gain(np.array([0, 0]), [0, 1], np.array([0, 1, 0]), [0, 1, 2], 4)
    assert gain == pytest.approx(d.mean()) and se == pytest.approx(d.std(ddof=1) / 2.0)
    # past the top 10 a rank scores 0 like a miss; the same ranking gains nothing
    assert paired_gain(np.array([10]), [0], np.array([]), [], 3) == (0.0, 0.0)
    assert paired_gain(np.array([0, 3]), [0, 1], np.array([0, 3]), [0, 1], 5) == (0.0, 0.0)


def test_the_gate_keeps_the_transformer_by_the_real_held_out_figures() -> None:
    eng = Engine(encoder=make_encoder("hashing"), config=replace(CFG, sequential_gate=True))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    m = eng.train().metrics
    with_q, without_q = m["ndcg@10_with_transformer"], m["ndcg@10_without_transformer"]
    assert 0.0 < without_q <= 1.0 and 0.0 < with_q <= 1.0 and m["ndcg@10_gain_se"] >= 0.0
    kept = with_q - without_q > m["ndcg@10_gain_se"]
    assert m["transformer_kept"] == float(kept)
    assert m["ndcg@10"] == (with_q if kept else without_q)  # the report reuses the gate's ranks
    assert eng.models is not None
    assert (eng.models.sequential is not None) is kept


def test_a_training_window_fits_the_newest_events_only() -> None:
    from pulserec.engine.training import events_frame

    # history(): 60 users one after another, 12 clicks each, a minute apart
    window = 60.0 * 12 * 30 - 1  # the last 30 users' events, to the second
    eng = Engine(config=replace(CFG, sequential=False, train_window_s=window))
    eng.upsert_items(catalog())
    eng.bootstrap(history())
    assert len(events_frame(eng.storage)) == 720
    assert len(events_frame(eng.storage, window)) == 360
    models = eng.train()
    assert sorted(models.users.to_list()) == sorted(f"u{u}" for u in range(30, 60))
    assert eng.recommend("u3", 5).items  # an older user falls back, still served
