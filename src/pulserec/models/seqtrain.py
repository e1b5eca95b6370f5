"""Training of :class:`~pulserec.models.sequential.SequentialTransformer`'s network.

The epoch loop, with early stopping on held-out events: each step's loss (the full or the
sampled softmax with the repeat bias, through :func:`~pulserec.models.seqnet.softmax_loss`),
the optimiser, the held-out ranking and the time per phase; and the last-position states
that scoring shares. The arrays it reads (sequences, training windows, batches and each
step's candidates) are prepared with numpy in :mod:`pulserec.models.seqdata`.

Early stopping
--------------
:meth:`~pulserec.models.base.Recommender.fit` receives no validation data, so the model makes
its own: :func:`~pulserec.models.seqdata.hold_out_last` removes each user's latest training
event (users with at least three events). The network is trained on the rest and, after each
epoch, ranks the held-out items (full ranking, the user's other items masked); the weights of
the epoch with the best NDCG@10 are kept, training stops after ``patience`` epochs without
improvement. Nothing is refitted afterwards: the held-out events cost about one training
target per user, and the scoring sequences stored for each user do include the latest event.
Because the kept weights never saw the held-out events, a combiner fitted on them
(:class:`~pulserec.models.hybrid.Hybrid`) can reuse this model's scores on them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from pulserec.models.seqdata import _batches, _full_step, _sampled_step, _Step

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
        ``inputs, targets, prefix`` from
        :func:`~pulserec.models.seqdata.training_windows`.
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
        None: full softmax. Otherwise the sampled softmax of
        :func:`~pulserec.models.seqdata._sampled_step` with this many uniform negatives per
        step besides the step's own targets.
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
