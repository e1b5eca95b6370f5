"""Training of :class:`~pulserec.models.sequential.SequentialTransformer`'s network.

Next-item sequences and training windows, batches sized to a memory budget, the full-softmax
loss with the repeat bias, and the epoch loop with early stopping on held-out events.

Early stopping
--------------
:meth:`~pulserec.models.base.Recommender.fit` receives no validation data, so the model makes
its own: :func:`hold_out_last` removes each user's latest training event (users with at least
three events). The network is trained on the rest and, after each epoch, ranks the held-out
items (full ranking, the user's other items masked); the weights of the epoch with the best
NDCG@10 are kept, training stops after ``patience`` epochs without improvement. Nothing is
refitted afterwards: the held-out events cost about one training target per user, and the
scoring sequences stored for each user do include the latest event. Because the kept weights
never saw the held-out events, a combiner fitted on them (:class:`~pulserec.models.hybrid.Hybrid`)
can reuse this model's scores on them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions

if TYPE_CHECKING:
    import torch

    from pulserec.models.seqnet import SequenceNet

logger = logging.getLogger(__name__)

_LOGIT_BUDGET = 2**25
"""Most logits (tokens x items) one full-softmax batch materialises: bounds memory per step."""

_REPEAT_BIAS_LR = 0.05
"""Learning rate of the single repeat-bias logit offset."""

_MAX_VALID_USERS = 5000
"""Early stopping ranks at most this many held-out users (a seeded sample) per epoch."""

_SCORE_CHUNK = 256
"""Sequences per forward pass when scoring."""


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


@contextlib.contextmanager
def _torch_threads(n_threads: int | None) -> Iterator[None]:
    """Limit torch's intra-op threads for the duration, then restore the caller's setting."""
    import torch

    before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_epochs(
    net: SequenceNet,
    text: np.ndarray,
    id_mask: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray, sp.csr_matrix],
    valid: tuple[np.ndarray, sp.csr_matrix, np.ndarray],
    rng: np.random.Generator,
    device: torch.device,
    *,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    n_epochs: int,
    patience: int | None,
    id_dropout: float,
    name: str,
    negatives: int | None = None,
    phases: dict[str, float] | None = None,
) -> list[float]:
    """Train ``net`` in place, keeping the weights of the best held-out epoch.

    Parameters
    ----------
    net : SequenceNet
        The network, already on ``device``; the caller seeds torch.
    text : ndarray (n_items, text_dim) of float32
        Unit-normalised item text embeddings (``text_dim`` may be 0).
    id_mask : ndarray (n_items,) of bool
        Items that keep an ID part.
    windows : tuple
        ``inputs, targets, prefix`` from :func:`training_windows`.
    valid : tuple
        ``sequences, seen, items`` of the held-out events: right-padded sequences, the
        items to mask per row, the held-out item per row. No rows: no early stopping.
    rng : numpy.random.Generator
        Batch order.
    device : torch.device
        Where the batches go.
    learning_rate, weight_decay, batch_size, n_epochs, patience, id_dropout, name
        As in :class:`~pulserec.models.sequential.SequentialTransformer` (``name`` for logs).
    negatives : int or None
        None: full softmax. Otherwise the sampled softmax of :func:`_sampled_step` with this
        many uniform negatives per step besides the step's own targets.
    phases : dict or None
        Seconds per phase are added here: ``prepare`` (batches and their numpy arrays),
        ``forward`` (item vectors and the transformer), ``head`` (the loss over the
        candidates and its gradients), ``backward`` (through the transformer),
        ``optimizer``, ``validation`` (held-out ranking and keeping the best weights).
        Wall-clock times, exact on the CPU (asynchronous devices charge work to whichever
        phase waits for it).

    Returns
    -------
    list of float
        Held-out NDCG@10 after each epoch run (empty without held-out rows).
    """
    import torch

    inputs, targets, prefix = windows
    valid_seqs, valid_seen, valid_items = valid
    n_items = len(id_mask)
    frequency = np.bincount(targets[targets >= 0], minlength=n_items) / max(
        int((targets >= 0).sum()), 1
    )
    history: list[float] = []
    text_t = torch.from_numpy(text).to(device) if text.shape[1] else None
    id_scale = torch.from_numpy(id_mask.astype(np.float32)).to(device)
    others = [p for key, p in net.named_parameters() if key != "repeat_bias"]
    optimiser = torch.optim.AdamW(
        [
            {"params": others},
            # Adam moves a parameter by about its learning rate per step, and this
            # one has to travel to about -10 where nobody repeats an item.
            {"params": [net.repeat_bias], "lr": _REPEAT_BIAS_LR, "weight_decay": 0.0},
        ],
        lr=learning_rate,
        weight_decay=weight_decay,
    )
    best_state: dict[str, torch.Tensor] | None = None
    best, since_best = -1.0, 0
    clock = _Clock(phases)
    for epoch in range(1, n_epochs + 1):
        started, total, count = time.perf_counter(), 0.0, 0
        net.train()
        if negatives is None:  # the logits' width bounds a step's positions
            steps = _batches(inputs, targets, batch_size, _LOGIT_BUDGET // n_items, rng)
        else:  # as many positions as full windows would have: short ones are not padded out
            steps = _batches(inputs, targets, len(inputs), batch_size * inputs.shape[1], rng)
        clock.lap("prepare")
        for batch in steps:
            if negatives is None:
                step = _full_step(inputs[batch], targets[batch], prefix[batch])
            else:
                step = _sampled_step(inputs[batch], targets[batch], prefix[batch],
                                     negatives, frequency, rng)  # fmt: skip
            scale = id_scale
            if id_dropout > 0:
                keep = torch.rand(n_items, device=device) >= id_dropout
                scale = id_scale * keep
            clock.lap("prepare")
            loss = _step_loss(net, scale, text_t, step, device, clock)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            clock.lap("backward")
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
            clock.lap("optimizer")
        if not len(valid_items):
            logger.info("%s epoch %d: loss %.4f, %.1fs", name, epoch,
                        total / max(count, 1), time.perf_counter() - started)  # fmt: skip
            continue
        net.eval()
        ndcg = _held_out_ndcg(net, id_scale, text_t, valid_seqs, valid_seen, valid_items, device)
        logger.info("%s epoch %d: loss %.4f, held-out NDCG@10 %.4f, %.1fs", name,
                    epoch, total / max(count, 1), ndcg,
                    time.perf_counter() - started)  # fmt: skip
        history.append(ndcg)
        # A tie keeps the later, longer-trained weights (a small hold-out saturates
        # at NDCG 1 well before every position is learned) but is no progress.
        since_best = 0 if ndcg > best else since_best + 1
        if ndcg >= best:
            best = ndcg
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        clock.lap("validation")
        if patience is not None and since_best >= patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    return history


def _last_states(net: SequenceNet, table: torch.Tensor, sequences: np.ndarray) -> torch.Tensor:
    """The hidden state after each right-padded sequence's last real item: ``(n, d)``."""
    import torch

    items = torch.from_numpy(sequences.astype(np.int64)).to(table.device)
    last = torch.from_numpy(np.maximum((sequences >= 0).sum(axis=1) - 1, 0)).to(table.device)
    return net.hidden(items, table)[torch.arange(len(sequences)), last]


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


def seen_pairs(
    inputs: np.ndarray, prefix: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
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


def _step_loss(
    net: SequenceNet,
    id_scale: torch.Tensor,
    text: torch.Tensor | None,
    step: _Step,
    device: torch.device,
    clock: _Clock,
) -> torch.Tensor:
    """The step's mean cross-entropy over its real positions (the head's gradients taken)."""
    import torch

    from pulserec.models.seqnet import softmax_loss

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    rows = None if step.rows is None else tensor(step.rows)
    table = net.item_table(id_scale, text, rows)
    hidden = net.hidden(tensor(step.inputs), table)[tensor(step.real)]
    vectors = table if step.cand is None else table[tensor(step.cand)]
    clock.lap("forward")
    offset = None if step.offset is None else tensor(step.offset)
    loss = softmax_loss(hidden, vectors, net.repeat_bias, offset, tensor(step.target),
                        tensor(step.seen_pos), tensor(step.seen_col))  # fmt: skip
    clock.lap("head")
    return loss


class _Clock:
    """Seconds per phase of a fit: each :meth:`lap` charges the time since the last one."""

    def __init__(self, phases: dict[str, float] | None) -> None:
        self.phases = {} if phases is None else phases
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self._last = now


def _held_out_ndcg(
    net: SequenceNet,
    id_scale: torch.Tensor,
    text: torch.Tensor | None,
    sequences: np.ndarray,
    seen: sp.csr_matrix,
    targets: np.ndarray,
    device: torch.device,
    k: int = 10,
) -> float:
    """Mean NDCG@k of the held-out next items, full ranking, the user's history masked."""
    import torch

    total = 0.0
    with torch.no_grad():
        table = net.item_table(id_scale, text)
        for start in range(0, len(sequences), _SCORE_CHUNK):
            stop = min(start + _SCORE_CHUNK, len(sequences))
            hidden = _last_states(net, table, sequences[start:stop])
            scores = hidden @ table.T
            mask = torch.from_numpy(seen[start:stop].toarray() != 0).to(device)
            scores = scores.masked_fill(mask, float("-inf"))
            tgt = torch.from_numpy(targets[start:stop]).to(device)
            target_score = scores.gather(1, tgt[:, None])
            rank = (scores > target_score).sum(dim=1)
            gain = torch.where(
                (rank < k) & torch.isfinite(target_score[:, 0]),
                1.0 / torch.log2(rank.to(torch.float64) + 2.0),
                torch.zeros((), dtype=torch.float64),
            )
            total += float(gain.sum())
    return total / max(len(sequences), 1)
