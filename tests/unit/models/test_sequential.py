from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.sequential import (
    SequentialTransformer,
    hold_out_last,
    pad_last,
    training_windows,
    user_sequences,
)

N_CHAIN = 24
"""Items of the chain data set: item ``i`` is always followed by item ``i + 1`` (mod 24)."""

CHAIN_PARAMS = {
    "max_len": 8, "n_factors": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.0,
    "learning_rate": 1e-2, "n_epochs": 30, "patience": 5, "random_state": 0,
}  # fmt: skip


def events_frame(sequences: list[list[int]]) -> pd.DataFrame:
    """One user per sequence, items in the given order, ids ``u{n}`` / ``i{n}``."""
    users, items = [], []
    for u, seq in enumerate(sequences):
        users += [f"u{u}"] * len(seq)
        items += [f"i{i}" for i in seq]
    return pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": np.arange(len(users), dtype=float)}
    )


def interactions(sequences: list[list[int]], n_items: int) -> Interactions:
    """Dense item index ``n`` is item ``i{n}``, user index ``u`` is sequence ``u``."""
    users = IdMap(f"u{u}" for u in range(len(sequences)))
    items = IdMap(f"i{i}" for i in range(n_items))
    return Interactions.from_events(events_frame(sequences), users, items)


@pytest.fixture(scope="module")
def chain() -> tuple[Interactions, SequentialTransformer]:
    rng = np.random.default_rng(0)
    starts = rng.integers(0, N_CHAIN, size=60)
    seqs = [[(s + j) % N_CHAIN for j in range(10)] for s in starts]
    train = interactions(seqs, N_CHAIN)
    return train, SequentialTransformer(**CHAIN_PARAMS).fit(train)


def test_learns_the_next_item_of_a_chain(chain: tuple[Interactions, SequentialTransformer]) -> None:
    _, model = chain
    prefixes = [[(s + j) % N_CHAIN for j in range(length)]
                for s in range(N_CHAIN) for length in (2, 5, 8)]  # fmt: skip
    top1 = model.score_sequences(prefixes).argmax(axis=1)
    wanted = np.array([(p[-1] + 1) % N_CHAIN for p in prefixes])
    assert np.mean(top1 == wanted) >= 0.95, np.mean(top1 == wanted)
    # Early stopping ran and kept its best epoch.
    assert 1 <= model.best_epoch_ <= model.fit_epochs_ <= CHAIN_PARAMS["n_epochs"]
    assert model.valid_ndcg_.max() > 0.9
    phases = {"data", "prepare", "forward", "head", "backward", "optimizer", "validation"}
    assert set(model.fit_phases_) == phases
    assert all(seconds >= 0 for seconds in model.fit_phases_.values())


def test_sampled_softmax_learns_the_chain_too(
    chain: tuple[Interactions, SequentialTransformer],
) -> None:
    """The sampled loss (forced on this small catalog, 4 uniform negatives per step)
    learns what the full one does."""
    train, _ = chain
    model = SequentialTransformer(**CHAIN_PARAMS, sampled_above=0, negatives=4).fit(train)
    assert model._negatives() == 4
    prefixes = [[(s + j) % N_CHAIN for j in range(length)]
                for s in range(N_CHAIN) for length in (2, 5, 8)]  # fmt: skip
    top1 = model.score_sequences(prefixes).argmax(axis=1)
    wanted = np.array([(p[-1] + 1) % N_CHAIN for p in prefixes])
    assert np.mean(top1 == wanted) >= 0.95, np.mean(top1 == wanted)
    assert SequentialTransformer(sampled_above=N_CHAIN).fit(train)._negatives() is None


def test_a_warm_start_begins_at_the_previous_weights(
    chain: tuple[Interactions, SequentialTransformer],
) -> None:
    """With a zero learning rate the warm-started fit keeps the previous weights; items
    beyond the previous item space start fresh; another architecture is refused."""
    _, previous = chain
    seqs = [[(s + j) % N_CHAIN for j in range(10)] for s in range(0, N_CHAIN, 3)]
    seqs.append([N_CHAIN, N_CHAIN + 1, 0])  # two items the previous model never had
    grown = interactions(seqs, N_CHAIN + 2)
    params = {**CHAIN_PARAMS, "learning_rate": 0.0, "n_epochs": 1, "patience": None}
    warm = SequentialTransformer(**params).warm_start(previous).fit(grown)

    def weights(model: SequentialTransformer) -> dict[str, np.ndarray]:
        from pulserec.models.seqnet import unflatten_state

        net = model._build_net(model.item_text_.shape[1])
        unflatten_state(net, model.weights_)
        # the repeat bias has a learning rate of its own: it moves even here
        return {k: v.numpy() for k, v in net.state_dict().items() if k != "repeat_bias"}

    now, before = weights(warm), weights(previous)
    assert np.array_equal(now["item_id.weight"][:N_CHAIN], before["item_id.weight"])
    assert not np.allclose(now["item_id.weight"][N_CHAIN:], 0.0)  # fresh rows, initialised
    assert all(np.array_equal(now[k], before[k]) for k in before if k != "item_id.weight")
    assert warm._warm_start_from is None  # the previous model is not kept alive
    cold = weights(SequentialTransformer(**params).fit(grown))
    assert not np.array_equal(cold["item_id.weight"][:N_CHAIN], before["item_id.weight"])
    wider = SequentialTransformer(**{**params, "n_factors": 16})
    with pytest.raises(ValueError, match=r"warm start: item_id\.weight"):
        wider.warm_start(previous).fit(grown)


def test_repeat_bias_is_learned_negative_when_nobody_repeats(
    chain: tuple[Interactions, SequentialTransformer],
) -> None:
    _, model = chain
    assert model.repeat_bias_ < 0


def test_score_sequences_equals_score_of_the_training_sequence(
    chain: tuple[Interactions, SequentialTransformer],
) -> None:
    train, model = chain
    seqs = user_sequences(train.user_idx, train.item_idx, train.timestamp, train.n_users)
    users = np.array([0, 3, 17])
    np.testing.assert_array_equal(
        model.score_sequences([seqs[u].tolist() for u in users]), model.score(users)
    )


def test_score_sequences_reads_only_the_last_max_len_known_items(
    chain: tuple[Interactions, SequentialTransformer],
) -> None:
    _, model = chain
    tail = list(range(3, 11))  # max_len = 8 items
    long = [20, 21, 22, 23, 0, 1, 2, *tail]
    # The repeat bias marks every item given, so compare the last hidden state's ranking of
    # items outside both sequences.
    a, b = model.score_sequences([long, [-5, 99, *tail]])
    rest = sorted(set(range(N_CHAIN)) - set(long))
    np.testing.assert_array_equal(a[rest], b[rest])
    np.testing.assert_array_equal(model.score_sequences([[]])[0], model.item_popularity_)


def test_fold_in_reads_a_row_in_ascending_value_order(
    chain: tuple[Interactions, SequentialTransformer],
) -> None:
    _, model = chain
    # Recency weights: item 7 newest, then 6, 5; item 2 carries a dislike (ignored).
    row = sp.csr_matrix(
        (np.array([0.25, 0.5, 1.0, -1.0], dtype=np.float32), ([0, 0, 0, 0], [5, 6, 7, 2])),
        shape=(1, N_CHAIN),
    )
    np.testing.assert_array_equal(model.score([-1], row), model.score_sequences([[5, 6, 7]]))
    assert model.recommend([-1], 1, user_items=row)[0][0, 0] == 8


def test_save_load_gives_identical_scores(
    chain: tuple[Interactions, SequentialTransformer], tmp_path: Path
) -> None:
    train, model = chain
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert isinstance(loaded, SequentialTransformer)
    users = np.arange(train.n_users)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    np.testing.assert_array_equal(
        loaded.score_sequences([[1, 2, 3], [9]]), model.score_sequences([[1, 2, 3], [9]])
    )
    np.testing.assert_array_equal(loaded.valid_ndcg_, model.valid_ndcg_)


def test_different_seed_gives_a_different_model() -> None:
    train = interactions([[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1]], 4)
    params = {"max_len": 4, "n_factors": 8, "n_epochs": 2, "patience": None}
    a = SequentialTransformer(**params, random_state=1).fit(train).score([0])
    b = SequentialTransformer(**params, random_state=1).fit(train).score([0])
    c = SequentialTransformer(**params, random_state=2).fit(train).score([0])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cold_item_is_scored_from_its_text() -> None:
    # Two tastes: items 0-5 (text direction x), items 6-11 (direction y). Users stay within
    # one taste. Items 12 (text x) and 13 (text y) have no interactions at all.
    rng = np.random.default_rng(1)
    seqs = []
    for u in range(40):
        base = 0 if u % 2 == 0 else 6
        seqs.append((base + rng.permutation(6)).tolist())
    n_items = 14
    taste = np.array([0] * 6 + [1] * 6 + [0, 1])
    vectors = np.eye(2, dtype=np.float32)[taste] + 0.05 * rng.standard_normal((n_items, 2))
    train = interactions(seqs, n_items).with_item_vectors(vectors.astype(np.float32))
    params = {
        "max_len": 6, "n_factors": 16, "n_layers": 1, "dropout": 0.0,
        "learning_rate": 1e-2, "n_epochs": 20, "patience": 5,
    }  # fmt: skip
    model = SequentialTransformer(**params).fit(train)
    assert not model.id_mask_[12] and not model.id_mask_[13]
    scores = model.score_sequences([[0, 1, 2], [6, 7, 8]])
    assert scores[0, 12] > scores[0, 13]
    assert scores[1, 13] > scores[1, 12]
    # The cold item of the user's taste ranks among that taste's items, above the other taste.
    assert scores[0, 12] > scores[0, 6:12].max()
    assert scores[1, 13] > scores[1, :6].max()
    # Without text a cold item has no vector at all: both score exactly the same.
    blind = SequentialTransformer(**params, use_text=False).fit(train)
    no_text = blind.score_sequences([[0, 1, 2]])
    assert no_text[0, 12] == no_text[0, 13]

    # Items that arrive after training are scored from their text alone, exactly as the
    # model's own items without interactions (12 and 13) with the same text.
    later = model.score_sequences([[0, 1, 2], [6, 7, 8]], extra_item_text=vectors[[12, 13]])
    assert later.shape == (2, n_items + 2)
    np.testing.assert_allclose(later[:, n_items:], scores[:, [12, 13]], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(later[:, :n_items], scores)
    # The serving mode (float32 item-table product) agrees with the exact one.
    seqs = [[0, 1, 2], [6, 7, 8, 7], []]
    np.testing.assert_allclose(
        model.score_sequences(seqs, extra_item_text=vectors[[12, 13]], fast=True),
        model.score_sequences(seqs, extra_item_text=vectors[[12, 13]]),
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip
    # Without a text part a new item has nothing to be scored by: it ranks last.
    blind_later = blind.score_sequences([[0, 1, 2]], extra_item_text=vectors[[12]])
    assert blind_later[0, -1] == no_text[0].min()
    with pytest.raises(ValueError, match="extra_item_text"):
        model.score_sequences([[0]], extra_item_text=np.ones((1, 3), np.float32))


def test_hold_out_last_takes_each_long_enough_users_latest_event() -> None:
    events = pd.DataFrame({
        "user_id": ["a", "b", "a", "a", "b", "c", "c", "c", "a"],
        "item_id": ["x", "y", "y", "z", "x", "x", "y", "z", "w"],
        "timestamp": [1.0, 1.0, 2.0, 3.0, 2.0, 5.0, 5.0, 5.0, 4.0],
    })  # fmt: skip
    train = Interactions.from_events(events)
    inner, users, items = hold_out_last(train)
    user_ids, item_ids = train.users.to_list(), train.items.to_list()
    held = {(user_ids[u], item_ids[i]) for u, i in zip(users, items, strict=True)}
    # b has two events only; c's three share a timestamp: the last row counts as latest.
    assert held == {("a", "w"), ("c", "z")}
    assert len(inner.user_idx) == len(train.user_idx) - 2
    assert inner.matrix.sum() == train.matrix.sum() - 2


def test_hold_out_last_with_a_generator_draws_one_event_of_each_long_enough_user() -> None:
    events = pd.DataFrame({
        "user_id": ["a"] * 4 + ["b"] * 2 + ["c"] * 3,
        "item_id": ["w", "x", "y", "z", "x", "y", "x", "y", "z"],
        "timestamp": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 1.0, 2.0, 3.0],
    })  # fmt: skip
    train = Interactions.from_events(events)
    user_ids, item_ids = train.users.to_list(), train.items.to_list()
    drawn: dict[str, set[str]] = {"a": set(), "c": set()}
    for seed in range(40):
        inner, users, items = hold_out_last(train, rng=np.random.default_rng(seed))
        held = {user_ids[u]: item_ids[i] for u, i in zip(users, items, strict=True)}
        assert set(held) == {"a", "c"}  # b has two events only
        assert inner.matrix.sum() == train.matrix.sum() - 2
        for user, item in held.items():
            drawn[user].add(item)
            row = inner.matrix[train.users.idx(user)].toarray()[0]
            assert row[train.items.idx(item)] == 0  # out of what the fit sees
    # any event, not only the latest, is drawn
    assert drawn == {"a": {"w", "x", "y", "z"}, "c": {"x", "y", "z"}}


def test_training_windows_cover_each_target_once() -> None:
    inputs, targets, prefix = training_windows([np.arange(7), np.array([9]), np.array([4, 5])],
                                               max_len=3, n_items=10)  # fmt: skip
    assert inputs.tolist() == [[3, 4, 5], [0, 1, 2], [4, -1, -1]]
    assert targets.tolist() == [[4, 5, 6], [1, 2, 3], [5, -1, -1]]
    assert prefix.toarray()[0].nonzero()[0].tolist() == [0, 1, 2]
    assert prefix.nnz == 3
    assert pad_last([np.arange(5)], 3).tolist() == [[2, 3, 4]]


def test_seen_pairs_mark_each_positions_history_once() -> None:
    """Known answer against the dense mask: the window so far plus what came before it."""
    from pulserec.models.seqdata import seen_pairs

    rng = np.random.default_rng(3)
    n_items = 12
    seqs = [rng.integers(0, n_items, size) for size in (9, 1, 5, 14, 2)]
    inputs, _, prefix = training_windows(seqs, max_len=4, n_items=n_items)
    pos, item = seen_pairs(inputs, prefix)
    dense = []
    for row in range(len(inputs)):
        before = set(prefix[row].indices.tolist())
        for j in range(int((inputs[row] >= 0).sum())):
            dense.append(before | set(inputs[row, : j + 1].tolist()))
    expected = sorted((p, i) for p, items in enumerate(dense) for i in items)
    assert sorted(zip(pos.tolist(), item.tolist(), strict=True)) == expected
    assert len(expected) > len(dense)  # repeats happen in this data: the check has teeth
    assert np.all(np.diff(pos) >= 0)  # by position: a chunk of positions is one slice


@pytest.mark.parametrize("with_offset", [False, True])
def test_softmax_loss_equals_cross_entropy_over_all_logits(with_offset: bool) -> None:
    """The chunked loss and its gradients against torch's cross-entropy on the whole logits,
    with the repeat bias at sparse entries and chunks of a few rows (the last one partial)."""
    import torch
    import torch.nn.functional as F

    from pulserec.models.seqnet import dense_softmax_loss, softmax_loss

    gen = torch.Generator().manual_seed(0)
    n, m, d = 23, 17, 8
    hidden = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    vectors = torch.randn(m, d, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
    offset = torch.randn(m, generator=gen, dtype=torch.float64) if with_offset else None
    target = torch.randint(0, m, (n,), generator=gen)
    entries = np.unique(np.random.default_rng(1).integers(0, n * m, 60))
    pos, col = torch.from_numpy(entries // m), torch.from_numpy(entries % m)

    loss = softmax_loss(hidden, vectors, bias, offset, target, pos, col, chunk=5 * m)
    grads = torch.autograd.grad(3.0 * loss, (hidden, vectors, bias))
    logits = hidden @ vectors.T + (0.0 if offset is None else offset)
    logits = logits.index_put((pos, col), bias.expand(len(pos)), accumulate=True)
    want = F.cross_entropy(logits, target)
    wanted = torch.autograd.grad(3.0 * want, (hidden, vectors, bias))
    torch.testing.assert_close(loss, want)
    for got, expected in zip(grads, wanted, strict=True):
        torch.testing.assert_close(got, expected)
    # the plain path other devices take
    dense = dense_softmax_loss(hidden, vectors, bias, offset, target, pos, col)
    torch.testing.assert_close(dense, want)
    dense_grads = torch.autograd.grad(3.0 * dense, (hidden, vectors, bias))
    for got, expected in zip(dense_grads, wanted, strict=True):
        torch.testing.assert_close(got, expected)


def test_fast_dropout_keeps_the_expectation_and_is_seeded() -> None:
    import torch

    from pulserec.models.seqnet import FastDropout

    x = torch.ones(400, 500)
    drop = FastDropout(0.2)
    torch.manual_seed(0)
    first = drop(x)
    assert abs(float((first == 0).float().mean()) - 0.2) < 0.01
    assert abs(float(first.mean()) - 1.0) < 0.01  # kept elements are scaled up
    torch.manual_seed(0)
    assert torch.equal(FastDropout(0.2)(x), first)  # the same torch seed, the same mask
    assert not torch.equal(drop(x), first)  # the next step draws a new one
    assert drop.eval()(x) is x
    assert FastDropout(0.0).train()(x) is x


def test_rejects_impossible_settings() -> None:
    train = interactions([[0, 1, 2]], 3)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        SequentialTransformer(n_factors=10, n_heads=3).fit(train)
    with pytest.raises(ValueError, match="patience"):
        SequentialTransformer(patience=0).fit(train)


def test_serving_states_equal_the_torch_network() -> None:
    """The numpy one-sequence forward pass (serving) gives the torch network's hidden state
    for every length, empty and longer than ``max_len`` included, with several heads and
    layers and the repeat bias and text part in play."""
    rng = np.random.default_rng(3)
    n_items = 30
    seqs = [rng.integers(0, n_items, rng.integers(3, 15)).tolist() for _ in range(40)]
    vectors = rng.standard_normal((n_items, 5)).astype(np.float32)
    train = interactions(seqs, n_items).with_item_vectors(vectors)
    model = SequentialTransformer(
        max_len=7, n_factors=16, n_layers=2, n_heads=4, dropout=0.1, n_epochs=2,
        patience=None, random_state=0,
    ).fit(train)  # fmt: skip
    probes = [[], [4], [4, 9], list(range(7)), list(range(12)), [29, 0, 29, 0, 5]]
    got = model.sequence_states(probes)
    # the float32 torch network on the same sequences, padded to max_len as in training
    want = model._states_fast(pad_last([np.array(p) for p in probes], model.max_len))
    assert got.shape == (len(probes), 16) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # the states give the float64 network's next-item scores (an empty sequence scores
    # by popularity there, so it is left out)
    table = model.serving_table()
    scores = got[1:] @ table.T
    for row, seq in enumerate(probes[1:]):
        scores[row, np.unique(np.array(seq, dtype=np.int64))] += model.repeat_bias_
    np.testing.assert_allclose(scores, model.score_sequences(probes[1:]), rtol=1e-4, atol=1e-4)
