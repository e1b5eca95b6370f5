"""A text-aware sequential transformer (SASRec family) trained with full-softmax cross-entropy.

The model reads a user's last ``max_len`` items in time order and scores every item as the
next one. Compared with SASRec as published:

* **Loss.** Full-softmax cross-entropy over all items at every position, instead of binary
  cross-entropy against one sampled negative. It converges in far fewer epochs and ranks much
  better under full ranking.
* **Item representation.** ``e_i = m_i * id_i + W t_i``: a learned ID embedding plus a learned
  projection of the item's text embedding ``t_i`` (``train.item_vectors``, unit-normalised).
  ``m_i`` is 0 for items without training interactions, so an item nobody has touched is
  represented by its text alone and can still be recommended (cold start). The same vectors
  are the output layer (tied weights).
* **Repeat bias.** One learned logit offset for items already in the user's history. On data
  where users never repeat an item (MovieLens ratings) it becomes strongly negative, which is
  what makes the model usable without masking the history; on data with repeat consumption it
  learns the opposite sign.
* **Positions.** Sequences are right-padded and positions count from the start of the
  (truncated) sequence, so with a causal mask no padding mask is needed.

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

Scoring orders
--------------
* Known users: their training sequence in time order (the last ``max_len`` events).
* History rows passed as ``user_items`` (fold-in) carry no order: the row's positive entries
  are ordered by value, ascending, ties by item index, so a recency-weighted row (as the online
  state builds) ends with the most recent item, and a binary row is read in index order.
* :meth:`SequentialTransformer.score_sequences`: sequences given oldest first, as the real-time
  engine keeps them.

Scoring runs in float64 and rounds to float32, so a user's scores do not depend on which other
users share the batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender

if TYPE_CHECKING:
    import torch

    from pulserec.models.seqnet import SequenceNet

logger = logging.getLogger(__name__)

_LOGIT_BUDGET = 2**25
"""Most logits (tokens x items) one training batch materialises: bounds memory per step."""

_REPEAT_BIAS_LR = 0.05
"""Learning rate of the single repeat-bias logit offset."""

_MAX_VALID_USERS = 5000
"""Early stopping ranks at most this many held-out users (a seeded sample) per epoch."""

_SCORE_CHUNK = 256
"""Sequences per forward pass when scoring."""


def hold_out_last(
    train: Interactions, min_events: int = 3
) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Split off each user's latest event, for users with at least ``min_events`` events.

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
    order = np.lexsort((np.arange(n), np.asarray(train.timestamp), users))
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


class SequentialTransformer(Recommender):
    """Next-item transformer over each user's recent items, text-aware, full-softmax trained.

    See the module documentation for the design (loss, text fusion, early stopping, orders).

    Parameters
    ----------
    max_len : int
        Most recent items read per user (and window length in training).
    n_factors : int
        Width of item vectors and hidden states.
    n_layers, n_heads : int
        Transformer blocks and attention heads per block.
    dropout : float
        Dropout on inputs, attention and feed-forward layers.
    use_text : bool
        Add the projected item text embedding to each item vector when the training
        interactions carry ``item_vectors``.
    id_dropout : float
        Share of items whose ID part is dropped in each training step (the same items in
        inputs and outputs), so the text part must stand for them alone, as it does for
        items without interactions.
    learning_rate, weight_decay : float
        AdamW settings.
    batch_size : int
        Most training windows per step (fewer when the logits would exceed a memory budget).
    n_epochs : int
        Most passes over the training windows.
    patience : int or None
        Stop after this many epochs without a better held-out NDCG@10 and keep the best
        epoch's weights; ``None`` trains all ``n_epochs`` on all events without a hold-out.
    random_state : int or None
        Seed of initialisation, dropout and batch order; ``None`` is not reproducible.
    n_threads : int or None
        Torch threads while fitting (restored afterwards); ``None`` keeps torch's setting.
    device : str
        Torch device for fitting and scoring.

    Attributes
    ----------
    valid_ndcg_ : ndarray
        Held-out NDCG@10 after each epoch run (empty without a hold-out).
    fit_epochs_ : int
        Epochs run. ``best_epoch_`` (1-based) is the one whose weights were kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from pulserec.events.interactions import Interactions
    >>> events = pd.DataFrame({"user_id": ["u"] * 4 + ["v"] * 4,
    ...                        "item_id": ["a", "b", "c", "d"] * 2,
    ...                        "timestamp": list(range(8))})
    >>> model = SequentialTransformer(n_factors=8, n_epochs=3, patience=None, max_len=4)
    >>> model.fit(Interactions.from_events(events)).score_sequences([[0, 1, 2]]).shape
    (1, 4)
    """

    name: ClassVar[str] = "sequential"
    # Each fit already chooses its epoch count on held-out data and takes minutes; the
    # defaults below were chosen by measurement (docs/sequential.md), so tuning is opt-in.
    param_grid: ClassVar[dict[str, list[Any]]] = {}
    _state: ClassVar[tuple[str, ...]] = (
        "weights_",
        "sequences_",
        "item_text_",
        "id_mask_",
        "valid_ndcg_",
    )

    weights_: np.ndarray
    sequences_: np.ndarray
    item_text_: np.ndarray
    id_mask_: np.ndarray
    valid_ndcg_: np.ndarray

    def __init__(
        self,
        max_len: int = 50,
        n_factors: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        dropout: float = 0.2,
        use_text: bool = True,
        id_dropout: float = 0.0,
        learning_rate: float = 2e-3,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        n_epochs: int = 100,
        patience: int | None = 10,
        random_state: int | None = 0,
        n_threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.max_len = max_len
        self.n_factors = n_factors
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout
        self.use_text = use_text
        self.id_dropout = id_dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device

    # -- fitting ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        for field in ("max_len", "n_factors", "n_layers", "n_heads", "batch_size", "n_epochs"):
            value = getattr(self, field)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{self.name}: {field} must be a positive integer, got {value!r}")
        if self.n_factors % self.n_heads:
            raise ValueError(
                f"{self.name}: n_factors ({self.n_factors}) must be divisible by n_heads "
                f"({self.n_heads})"
            )
        for field in ("dropout", "id_dropout"):
            value = getattr(self, field)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{self.name}: {field} must be in [0, 1), got {value!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"{self.name}: patience must be >= 1 or None, got {self.patience!r}")

    def _build_net(self, text_dim: int) -> SequenceNet:
        from pulserec.models.seqnet import SequenceNet

        return SequenceNet(
            self.n_items_,
            text_dim,
            self.n_factors,
            self.n_layers,
            self.n_heads,
            self.max_len,
            self.dropout,
        )

    def _fit(self, train: Interactions) -> None:
        import torch

        from pulserec.models.seqnet import flatten_state

        self._check_params()
        if self.use_text and train.item_vectors is not None:
            text = np.array(train.item_vectors, dtype=np.float32, copy=True)
            if not np.isfinite(text).all():
                raise ValueError(f"{self.name}: train.item_vectors contain NaN or infinity")
            norms = np.linalg.norm(text, axis=1, keepdims=True)
            # Items without text keep a zero vector rather than NaN.
            text /= np.where(norms > 0, norms, 1.0)
        else:
            text = np.zeros((self.n_items_, 0), dtype=np.float32)
        if self.patience is None:
            inner = train
            valid_users = valid_items = np.zeros(0, dtype=np.int64)
        else:
            inner, valid_users, valid_items = hold_out_last(train)
        rng = np.random.default_rng(self.random_state)
        if len(valid_users) > _MAX_VALID_USERS:
            pick = np.sort(rng.choice(len(valid_users), _MAX_VALID_USERS, replace=False))
            valid_users, valid_items = valid_users[pick], valid_items[pick]
        inner_seqs = user_sequences(inner.user_idx, inner.item_idx, inner.timestamp, self.n_users_)
        inputs, targets, prefix = training_windows(inner_seqs, self.max_len, self.n_items_)
        # Items never seen in training keep no ID part: their ID vector would only ever be
        # pushed down as a softmax negative, so it would mean "never recommend".
        id_mask = np.bincount(inner.item_idx, minlength=self.n_items_) > 0

        device = torch.device(self.device)
        history: list[float] = []
        with torch.random.fork_rng(devices=[]), _torch_threads(self.n_threads):
            if self.random_state is None:
                torch.seed()
            else:
                torch.manual_seed(self.random_state)
            net = self._build_net(text.shape[1]).to(device)
            text_t = torch.from_numpy(text).to(device) if text.shape[1] else None
            id_scale = torch.from_numpy(id_mask.astype(np.float32)).to(device)
            others = [p for name, p in net.named_parameters() if name != "repeat_bias"]
            optimiser = torch.optim.AdamW(
                [
                    {"params": others},
                    # Adam moves a parameter by about its learning rate per step, and this
                    # one has to travel to about -10 where nobody repeats an item.
                    {"params": [net.repeat_bias], "lr": _REPEAT_BIAS_LR, "weight_decay": 0.0},
                ],
                lr=self.learning_rate,
                weight_decay=self.weight_decay,
            )
            valid_seqs = pad_last([inner_seqs[u] for u in valid_users], self.max_len)
            valid_seen = inner.matrix[valid_users]
            best_state: dict[str, torch.Tensor] | None = None
            best, since_best = -1.0, 0
            for epoch in range(1, self.n_epochs + 1):
                started, total, count = time.perf_counter(), 0.0, 0
                net.train()
                for batch in _batches(inputs, targets, self.batch_size, self.n_items_, rng):
                    scale = id_scale
                    if self.id_dropout > 0:
                        keep = torch.rand(self.n_items_, device=device) >= self.id_dropout
                        scale = id_scale * keep
                    loss = _batch_loss(
                        net, scale, text_t, inputs[batch], targets[batch], prefix[batch], device
                    )
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    optimiser.step()
                    total += float(loss.detach()) * len(batch)
                    count += len(batch)
                if not len(valid_users):
                    logger.info("%s epoch %d: loss %.4f, %.1fs", self.name, epoch,
                                total / max(count, 1), time.perf_counter() - started)  # fmt: skip
                    continue
                net.eval()
                ndcg = _held_out_ndcg(
                    net, id_scale, text_t, valid_seqs, valid_seen, valid_items, device
                )
                logger.info("%s epoch %d: loss %.4f, held-out NDCG@10 %.4f, %.1fs", self.name,
                            epoch, total / max(count, 1), ndcg,
                            time.perf_counter() - started)  # fmt: skip
                history.append(ndcg)
                # A tie keeps the later, longer-trained weights (a small hold-out saturates
                # at NDCG 1 well before every position is learned) but is no progress.
                since_best = 0 if ndcg > best else since_best + 1
                if ndcg >= best:
                    best = ndcg
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                if self.patience is not None and since_best >= self.patience:
                    break
            if best_state is not None:
                net.load_state_dict(best_state)
        self.weights_ = flatten_state(net)
        self.item_text_ = text
        self.id_mask_ = id_mask
        self.valid_ndcg_ = np.asarray(history, dtype=np.float64)
        full = user_sequences(train.user_idx, train.item_idx, train.timestamp, self.n_users_)
        self.sequences_ = pad_last(full, self.max_len).astype(np.int32)
        self._prepare_scoring()

    @property
    def fit_epochs_(self) -> int:
        """Epochs run by the last fit (with a hold-out; else ``n_epochs``)."""
        return len(self.valid_ndcg_) if len(self.valid_ndcg_) else self.n_epochs

    @property
    def best_epoch_(self) -> int:
        """The 1-based epoch whose weights were kept (the last of equally good ones)."""
        if not len(self.valid_ndcg_):
            return self.n_epochs
        return len(self.valid_ndcg_) - int(np.argmax(self.valid_ndcg_[::-1]))

    @property
    def repeat_bias_(self) -> float:
        """The learned logit offset of items already in the user's history."""
        self._check_fitted()
        return float(self._net.repeat_bias.detach())

    # -- scoring ---------------------------------------------------------------------------
    def _prepare_scoring(self) -> None:
        """Build the float64 scoring network and item table from the saved arrays."""
        import torch

        from pulserec.models.seqnet import unflatten_state

        net = self._build_net(self.item_text_.shape[1])
        unflatten_state(net, self.weights_)
        net = net.to(device=torch.device(self.device), dtype=torch.float64).eval()
        net.requires_grad_(False)
        with torch.no_grad():
            text = (
                torch.from_numpy(self.item_text_).to(net.item_id.weight)
                if self.item_text_.shape[1]
                else None
            )
            id_scale = torch.from_numpy(self.id_mask_.astype(np.float64)).to(net.item_id.weight)
            self._table = net.item_table(id_scale, text)
        self._table32: np.ndarray | None = None  # built on the first fast scoring
        self._fast: tuple[Any, Any] | None = None  # float32 network and table, likewise
        self._net = net

    def _after_load(self) -> None:
        self.id_mask_ = np.asarray(self.id_mask_, dtype=bool)
        self.item_text_ = np.ascontiguousarray(self.item_text_, dtype=np.float32)
        self.sequences_ = np.asarray(self.sequences_, dtype=np.int32)
        self._prepare_scoring()

    def _forward(
        self,
        sequences: np.ndarray,
        seen: sp.csr_matrix | Sequence[np.ndarray],
        extra: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Scores ``(n, n_items)`` after right-padded ``sequences`` ``(n, max_len)``.

        ``seen`` marks, per row, the items the repeat bias applies to: a sparse matrix, or
        one array of item indices per row. ``extra`` holds item vectors ``(m, d)`` scored
        after the model's items, as columns ``n_items ...``.
        """
        import torch

        net, table = self._net, self._table
        n_extra = 0 if extra is None else int(extra.shape[0])
        out = np.empty((len(sequences), self.n_items_ + n_extra), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(sequences), _SCORE_CHUNK):
                stop = min(start + _SCORE_CHUNK, len(sequences))
                state = _last_states(net, table, sequences[start:stop])
                scores = state @ table.T
                if isinstance(seen, sp.spmatrix | sp.sparray):
                    marks = (seen[start:stop].toarray() != 0).astype(np.float64)
                else:
                    marks = np.zeros((stop - start, self.n_items_))
                    for row, items_seen in enumerate(seen[start:stop]):
                        marks[row, items_seen] = 1.0
                scores = scores + net.repeat_bias * torch.from_numpy(marks).to(table.device)
                out[start:stop, : self.n_items_] = scores.cpu().numpy()
                if extra is not None:
                    out[start:stop, self.n_items_ :] = (state @ extra.T).cpu().numpy()
        return out

    def _forward_fast(
        self, sequences: np.ndarray, seen: Sequence[np.ndarray], extra: torch.Tensor | None
    ) -> np.ndarray:
        """:meth:`_forward` in float32 (see ``fast``)."""
        import copy

        import torch

        if self._fast is None:
            # one float32 table, shared by the network's input lookup and the output product
            self._table32 = np.ascontiguousarray(self._table.cpu().numpy(), dtype=np.float32)
            self._fast = (copy.deepcopy(self._net).float(), torch.from_numpy(self._table32))
        net, table = self._fast
        with torch.no_grad():
            state = _last_states(net, table, sequences)
            extra_scores = None if extra is None else (state @ extra.to(state).T).cpu().numpy()
            state32 = state.cpu().numpy().astype(np.float32)
        out = state32 @ self._table32.T
        bias = np.float32(float(net.repeat_bias))
        for row, items_seen in enumerate(seen):
            out[row, np.unique(items_seen)] += bias
        if extra_scores is not None:
            out = np.concatenate([out, extra_scores.astype(np.float32)], axis=1)
        return out

    def _text_vectors(self, text: np.ndarray) -> torch.Tensor | None:
        """The text part of item vectors for raw text embeddings ``(m, text_dim)``.

        None when the model has no text part.
        """
        import torch

        net = self._net
        if net.text_proj is None:
            return None
        text = np.asarray(text, dtype=np.float64)
        if text.ndim != 2 or text.shape[1] != self.item_text_.shape[1]:
            raise ValueError(
                f"{self.name}: extra_item_text must have shape (m, {self.item_text_.shape[1]}), "
                f"got {text.shape}"
            )
        norms = np.linalg.norm(text, axis=1, keepdims=True)
        text = text / np.where(norms > 0, norms, 1.0)
        with torch.no_grad():
            out: torch.Tensor = net.text_proj(torch.from_numpy(text).to(net.item_id.weight))
        return out

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        sequences = self.sequences_[user_idx].astype(np.int64)
        return self._forward(sequences, sp.csr_matrix(user_items))

    def _score_fold_in(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        rows = sp.csr_matrix(user_items)
        sequences = []
        for r in range(rows.shape[0]):
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            items, values = rows.indices[lo:hi], rows.data[lo:hi]
            positive = values > 0
            items, values = items[positive], values[positive]
            # No order in a row: ascending value (recency weights end with the newest),
            # ties by item index.
            sequences.append(items[np.lexsort((items, values))].astype(np.int64))
        out = self._forward(pad_last(sequences, self.max_len), _positive(rows))
        empty = np.array([len(s) == 0 for s in sequences])
        if empty.any():
            # Only dislikes in the row: nothing to read a sequence from.
            out[empty] = self.item_popularity_
        return out

    def score_sequences(
        self,
        sequences: Sequence[Sequence[int]],
        extra_item_text: np.ndarray | None = None,
        *,
        fast: bool = False,
    ) -> np.ndarray:
        """Scores of all items after each item sequence: float32 ``(n, n_items [+ m])``.

        Parameters
        ----------
        sequences : list of list of int
            Item indices in the order the user met them, oldest first (the real-time
            engine's recent items). Only the last ``max_len`` are read; indices outside
            the model's item space (items added after training) are skipped. The repeat
            bias applies to the items of the sequence.
        extra_item_text : ndarray, optional
            Text embeddings ``(m, text_dim)`` of items outside the model's item space (items
            added after training). They are scored by their text part alone, as the model
            scores its own items without interactions, and returned as the last ``m``
            columns. A model without a text part ranks them below every known item.
        fast : bool
            Serving mode: a float32 copy of the network and the item table (the product with
            a large table is 4x faster, the attention about 1.4x; scores agree to about 1e-5)
            and repeats marked without a dense matrix. Scores then depend slightly on float
            rounding, where the default float64 path is exact to float32 output.

        Returns
        -------
        ndarray
            One row per sequence; an empty sequence gets the item popularity, like an
            unknown user in :meth:`~pulserec.models.base.Recommender.score` (0 for the
            extra items).
        """
        self._check_fitted()
        cleaned = []
        for seq in sequences:
            arr = np.asarray(list(seq), dtype=np.int64)
            cleaned.append(arr[(arr >= 0) & (arr < self.n_items_)])
        padded = pad_last(cleaned, self.max_len)
        m = 0 if extra_item_text is None else len(extra_item_text)
        extra = self._text_vectors(extra_item_text) if extra_item_text is not None and m else None
        if fast:
            out = self._forward_fast(padded, cleaned, extra)
        else:
            out = self._forward(padded, cleaned, extra)
        if m and extra is None:
            out = np.concatenate([out, np.repeat(out.min(axis=1, keepdims=True), m, axis=1)], 1)
        empty = np.array([len(s) == 0 for s in cleaned], dtype=bool)
        if empty.any():
            out[empty, : self.n_items_] = self.item_popularity_
            out[empty, self.n_items_ :] = 0.0
        return out


def _last_states(net: SequenceNet, table: torch.Tensor, sequences: np.ndarray) -> torch.Tensor:
    """The hidden state after each right-padded sequence's last real item: ``(n, d)``."""
    import torch

    items = torch.from_numpy(sequences.astype(np.int64)).to(table.device)
    last = torch.from_numpy(np.maximum((sequences >= 0).sum(axis=1) - 1, 0)).to(table.device)
    return net.hidden(items, table)[torch.arange(len(sequences)), last]


def _positive(rows: sp.csr_matrix) -> sp.csr_matrix:
    """The positive entries of ``rows``, as ones."""
    out = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    out.data = (out.data > 0).astype(np.float32)
    out.eliminate_zeros()
    return out


def _batches(
    inputs: np.ndarray, targets: np.ndarray, batch_size: int, n_items: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Window indices per step: similar lengths together (little padding), random order.

    A batch holds at most ``batch_size`` windows and ``_LOGIT_BUDGET / n_items`` positions.
    """
    lengths = (targets >= 0).sum(axis=1)
    order = np.lexsort((rng.random(len(lengths)), lengths))
    max_tokens = max(1, _LOGIT_BUDGET // max(n_items, 1))
    batches, start = [], 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and stop - start < batch_size:
            # ascending lengths: the newest window is the widest
            if (stop - start + 1) * lengths[order[stop]] > max_tokens:
                break
            stop += 1
        batches.append(order[start:stop])
        start = stop
    return [batches[b] for b in rng.permutation(len(batches))]


def _batch_loss(
    net: SequenceNet,
    id_scale: torch.Tensor,
    text: torch.Tensor | None,
    inputs: np.ndarray,
    targets: np.ndarray,
    prefix: sp.csr_matrix,
    device: torch.device,
) -> torch.Tensor:
    """Mean full-softmax cross-entropy of the next item over a batch's real positions."""
    import torch
    import torch.nn.functional as F

    width = int((targets >= 0).sum(axis=1).max())
    inp = torch.from_numpy(inputs[:, :width]).to(device)
    tgt = torch.from_numpy(targets[:, :width]).to(device)
    table = net.item_table(id_scale, text)
    real = tgt >= 0
    logits = net.hidden(inp, table)[real] @ table.T
    # Items in the history up to each position: the window so far plus what came before it.
    n_items = table.shape[0]
    steps = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    earlier = inp[:, None, :].expand(-1, width, -1)
    earlier = torch.where(steps & (earlier >= 0), earlier, n_items)
    seen = torch.zeros(inp.shape[0], width, n_items + 1, device=device)
    seen.scatter_(2, earlier, 1.0)
    seen = seen[real][:, :n_items]
    before = torch.from_numpy(prefix.toarray()).to(device)
    seen = torch.maximum(seen, before[real.nonzero()[:, 0]])
    logits = logits + net.repeat_bias * seen
    return F.cross_entropy(logits, tgt[real])


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
