"""The arrays :class:`~pulserec.models.sequential.SequentialTransformer` trains and scores on.

Everything here is numpy and scipy, prepared before any torch work: users' item sequences in
time order and their padded tails, the held-out events of early stopping
(:func:`hold_out_last`), next-item training windows, batches of windows sized to a memory
budget, and each step's arrays: the candidates of the full or the sampled softmax (in-batch
and uniform negatives with their logQ correction) and the repeat bias's sparse entries
(:func:`seen_pairs`). The epoch loop that consumes them, and the loss, are in
:mod:`pulserec.models.seqtrain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions


def hold_out_last(
    train: Interactions, min_events: int = 3, rng: np.random.Generator | None = None
) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Split off each user's latest event, for users with at least ``min_events`` events;
    with ``rng``, one of each such user's events drawn at random instead.

    Ties in time keep the interactions' own order (the later row is the latest).

    Returns
    -------
    inner : Interactions
        The remaining events, same id maps and item vectors, binary matrix rebuilt.
    user_idx, item_idx : ndarray of int64
        The held-out events, one per qualifying user, by ascending user.
    """
    users = np.asarray(train.user_idx, dtype=np.int64)
    n = len(users)
    # sorted by user, each user's held-out event last: the latest, or a random draw
    within = (np.asarray(train.timestamp),) if rng is None else (rng.random(n),)
    order = np.lexsort((np.arange(n), *within, users))
    sorted_users = users[order]
    last = np.r_[sorted_users[1:] != sorted_users[:-1], True] if n else np.zeros(0, dtype=bool)
    counts = np.bincount(users, minlength=train.n_users)
    held = order[last & (counts[sorted_users] >= min_events)]
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    u, i = users[keep], np.asarray(train.item_idx, dtype=np.int64)[keep]
    matrix = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=train.matrix.shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    inner = Interactions(
        matrix,
        train.users,
        train.items,
        u,
        i,
        np.asarray(train.timestamp)[keep],
        train.item_vectors,
    )
    return inner, users[held], np.asarray(train.item_idx, dtype=np.int64)[held]


def user_sequences(
    user_idx: np.ndarray, item_idx: np.ndarray, timestamp: np.ndarray, n_users: int
) -> list[np.ndarray]:
    """Each user's items in time order (ties: array order), one array per user index."""
    users = np.asarray(user_idx, dtype=np.int64)
    order = np.lexsort((np.arange(len(users)), np.asarray(timestamp), users))
    items = np.asarray(item_idx, dtype=np.int64)[order]
    bounds = np.searchsorted(users[order], np.arange(n_users + 1))
    return [items[bounds[u] : bounds[u + 1]] for u in range(n_users)]


def pad_last(sequences: Sequence[np.ndarray], max_len: int) -> np.ndarray:
    """The last ``max_len`` items of each sequence, oldest first, right-padded with -1."""
    out = np.full((len(sequences), max_len), -1, dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-max_len:] if max_len > 0 else seq[:0]
        out[row, : len(tail)] = tail
    return out


def training_windows(
    sequences: Sequence[np.ndarray], max_len: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Cut sequences into next-item training windows of at most ``max_len`` positions.

    A sequence ``s`` of length ``n`` gives windows from the end backwards: inputs
    ``s[a:e-1]``, targets ``s[a+1:e]``, each target predicted once.

    Returns
    -------
    inputs, targets : ndarray (n_windows, max_len) of int64, right-padded with -1
    prefix : csr_matrix (n_windows, n_items)
        The user's items before each window, so the repeat bias sees the whole history.
    """
    inputs, targets, prefix_rows, prefix_cols = [], [], [], []
    for seq in sequences:
        end = len(seq)
        while end >= 2:
            start = max(0, end - 1 - max_len)
            row = np.full(max_len, -1, dtype=np.int64)
            row[: end - 1 - start] = seq[start : end - 1]
            inputs.append(row)
            row = np.full(max_len, -1, dtype=np.int64)
            row[: end - 1 - start] = seq[start + 1 : end]
            targets.append(row)
            prefix_cols.append(seq[:start])
            prefix_rows.append(np.full(start, len(inputs) - 1, dtype=np.int64))
            end = start + 1
    n_windows = len(inputs)
    if n_windows == 0:
        empty = np.zeros((0, max_len), dtype=np.int64)
        return empty, empty.copy(), sp.csr_matrix((0, n_items), dtype=np.float32)
    rows = np.concatenate(prefix_rows)
    cols = np.concatenate(prefix_cols)
    prefix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_windows, n_items)
    )
    prefix.sum_duplicates()
    prefix.data[:] = 1.0
    return np.stack(inputs), np.stack(targets), prefix


def _batches(
    inputs: np.ndarray,
    targets: np.ndarray,
    max_windows: int,
    max_tokens: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Window indices per step: similar lengths together (little padding), random order.

    A batch holds at most ``max_windows`` windows and ``max_tokens`` positions.
    """
    lengths = (targets >= 0).sum(axis=1)
    order = np.lexsort((rng.random(len(lengths)), lengths))
    max_tokens = max(1, max_tokens)
    batches, start = [], 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and stop - start < max_windows:
            # ascending lengths: the newest window is the widest
            if (stop - start + 1) * lengths[order[stop]] > max_tokens:
                break
            stop += 1
        batches.append(order[start:stop])
        start = stop
    return [batches[b] for b in rng.permutation(len(batches))]


def seen_pairs(inputs: np.ndarray, prefix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Every (position, item) where the item is already in the user's history, once each.

    Positions are the batch's real positions in row-major order (the rows of the loss's
    logits); an item is in the history at position ``j`` of a window when it came before
    the window (``prefix``) or among its inputs up to ``j``. Sparse: the repeat bias is added
    at these entries only, where a dense mask as wide as the logits cost several passes
    over them per step. The pairs come in ascending position, so a chunk of positions
    reads one slice of them.
    """
    lengths = (inputs >= 0).sum(axis=1)
    histories, counts = [], []
    for row in range(len(inputs)):
        before = prefix.indices[prefix.indptr[row] : prefix.indptr[row + 1]]
        window, first = np.unique(inputs[row, : lengths[row]], return_index=True)
        fresh = ~np.isin(window, before, assume_unique=True)
        order = np.argsort(first[fresh], kind="stable")
        firsts = first[fresh][order]
        # the history at position j: what came before, then the window's new items by first
        # appearance, of which those first seen at j or earlier
        histories += [before, window[fresh][order]]
        counts.append(len(before) + np.searchsorted(firsts, np.arange(lengths[row]), "right"))
    count = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
    total = int(count.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = np.concatenate(histories).astype(np.int64)
    sizes = np.array([len(h) for h in histories]).reshape(-1, 2).sum(axis=1)
    start = np.repeat(np.cumsum(sizes) - sizes, lengths)  # each position's history start
    within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(np.arange(len(count)), count), flat[np.repeat(start, count) + within]


class _Step(NamedTuple):
    """One training step's arrays, prepared with numpy before any torch work."""

    inputs: np.ndarray
    """``(B, W)`` rows of the step's item table (global items without ``rows``), -1 padding."""
    real: np.ndarray
    """``(B, W)`` positions with a target."""
    rows: np.ndarray | None
    """The items whose vectors the step builds, ascending; None: every item."""
    cand: np.ndarray | None
    """The table rows that are the candidates; None: every item."""
    offset: np.ndarray | None
    """Added to each candidate's logit (the sampled softmax's ``-log Q``), float32."""
    target: np.ndarray
    """The candidate column of each real position's target."""
    seen_pos: np.ndarray
    """Repeat-bias entries: positions (ascending) ..."""
    seen_col: np.ndarray
    """... and candidate columns."""


def _full_step(inputs: np.ndarray, targets: np.ndarray, prefix: sp.csr_matrix) -> _Step:
    """A full-softmax step: every item is a candidate."""
    width = int((targets >= 0).sum(axis=1).max())
    inputs, targets = inputs[:, :width], targets[:, :width]
    real = targets >= 0
    pos, item = seen_pairs(inputs, prefix)
    return _Step(inputs, real, None, None, None, targets[real], pos, item)


def _sampled_step(
    inputs: np.ndarray,
    targets: np.ndarray,
    prefix: sp.csr_matrix,
    negatives: int,
    frequency: np.ndarray,
    rng: np.random.Generator,
) -> _Step:
    """A sampled-softmax step: the step's targets and ``negatives`` uniform items.

    Each position's target competes with the step's other targets (in-batch negatives,
    drawn about as often as items are popular) and ``negatives`` items drawn uniformly
    (mixed negative sampling, so unpopular items are pushed down too). Every logit is
    corrected by the log of the probability that its item is among the candidates (logQ),
    so the sampled loss estimates the full softmax rather than over-penalising popular
    items. The repeat bias applies as in the full loss. Only the vectors of the items the
    step reads (inputs and candidates) are built.
    """
    width = int((targets >= 0).sum(axis=1).max())
    inputs, targets = inputs[:, :width], targets[:, :width]
    real = targets >= 0
    tgt = targets[real]
    n_items = len(frequency)
    drawn = rng.integers(0, n_items, negatives)
    cand = np.unique(np.r_[tgt, drawn])
    # P(item among the candidates): among len(tgt) targets drawn by frequency, or among
    # the uniform draws
    miss = (1.0 - frequency[cand]) ** len(tgt) * (1.0 - 1.0 / n_items) ** negatives
    offset = -np.log(np.maximum(1.0 - miss, 1e-12)).astype(np.float32)
    rows = np.unique(np.r_[inputs[inputs >= 0], cand])
    slot = np.full(n_items, -1, dtype=np.int64)  # an item's row in the step's table
    slot[rows] = np.arange(len(rows))
    column = np.full(n_items, -1, dtype=np.int64)  # an item's candidate column
    column[cand] = np.arange(len(cand))
    pos, item = seen_pairs(inputs, prefix)
    col = column[item]
    hit = col >= 0
    local = np.where(inputs >= 0, slot[np.maximum(inputs, 0)], -1)
    return _Step(local, real, rows, slot[cand], offset, column[tgt], pos[hit], col[hit])
