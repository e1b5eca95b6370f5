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

Early stopping on the user's latest events, held out by the model itself, is described in
:mod:`pulserec.models.seqtrain`, which trains the network.

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

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.seqtrain import (
    _MAX_VALID_USERS,
    _SCORE_CHUNK,
    _last_states,
    _torch_threads,
    hold_out_last,
    pad_last,
    train_epochs,
    training_windows,
    user_sequences,
)

if TYPE_CHECKING:
    import torch

    from pulserec.models.seqnet import SequenceNet

__all__ = [
    "SequentialTransformer",
    "hold_out_last",
    "pad_last",
    "training_windows",
    "user_sequences",
]


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
        Most training windows per step with the full softmax (fewer when the logits would
        exceed a memory budget); with the sampled one a step holds as many positions as
        ``batch_size`` full windows, in as many windows as that takes.
    n_epochs : int
        Most passes over the training windows.
    patience : int or None
        Stop after this many epochs without a better held-out NDCG@10 and keep the best
        epoch's weights; ``None`` trains all ``n_epochs`` on all events without a hold-out.
    random_state : int or None
        Seed of initialisation, dropout and batch order; ``None`` is not reproducible.
    n_threads : int or None
        Torch threads while fitting (restored afterwards); ``None`` keeps torch's setting.
        One by default: a step is many small operations, and where another process holds a
        core each of them waits for the descheduled thread (on a shared 2-core machine at
        load 2-4, three epochs on ml-latest-small took 16 s on one thread and 157-250 s on
        two). Raise it on a machine of your own.
    device : str
        Torch device for fitting and scoring.
    sampled_above : int or None
        Catalogs with more items than this train with a sampled softmax (the step's own
        targets and ``negatives`` uniform items, logQ-corrected), smaller ones with the full
        softmax; None: always full. Full softmax costs O(items) per position.
    negatives : int
        Uniform negatives per training step of the sampled softmax.

    Attributes
    ----------
    valid_ndcg_ : ndarray
        Held-out NDCG@10 after each epoch run (empty without a hold-out).
    fit_epochs_ : int
        Epochs run. ``best_epoch_`` (1-based) is the one whose weights were kept.
    fit_phases_ : dict of str to float
        Seconds the last fit spent per phase: ``data`` (hold-out and training windows),
        then those of :func:`~pulserec.models.seqtrain.train_epochs`. Not saved.

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
    fit_phases_: dict[str, float]

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
        n_threads: int | None = 1,
        device: str = "cpu",
        sampled_above: int | None = 5000,
        negatives: int = 1024,
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
        self.sampled_above = sampled_above
        self.negatives = negatives

    # -- fitting ---------------------------------------------------------------------------
    _warm_start_from: SequentialTransformer | None = None

    def warm_start(self, previous: SequentialTransformer | None) -> SequentialTransformer:
        """Start the next :meth:`fit` from ``previous``'s weights instead of at random.

        ``previous`` must have the same architecture (width, layers, heads, length, text
        width); its item ``j`` must be this fit's item ``j`` (an engine refit's item space
        only grows), items past its space start fresh. Early stopping still picks the
        epoch: a warm start reaches its best in fewer. Returns ``self``.
        """
        self._warm_start_from = previous
        return self

    def _negatives(self) -> int | None:
        """Uniform negatives of the sampled softmax for this catalog; None: full softmax."""
        if self.sampled_above is None or self.n_items_ <= self.sampled_above:
            return None
        return self.negatives

    def _check_params(self) -> None:
        for field in ("max_len", "n_factors", "n_layers", "n_heads", "batch_size", "n_epochs",
                      "negatives"):  # fmt: skip
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
        started = time.perf_counter()
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

        phases = {"data": time.perf_counter() - started}
        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[]), _torch_threads(self.n_threads):
            if self.random_state is None:
                torch.seed()
            else:
                torch.manual_seed(self.random_state)
            net = self._build_net(text.shape[1]).to(device)
            warm = self._warm_start_from
            if warm is not None:
                _copy_weights(warm, net)
            valid_seqs = pad_last([inner_seqs[u] for u in valid_users], self.max_len)
            history = train_epochs(
                net,
                text,
                id_mask,
                (inputs, targets, prefix),
                (valid_seqs, inner.matrix[valid_users], valid_items),
                rng,
                device,
                learning_rate=self.learning_rate,
                weight_decay=self.weight_decay,
                batch_size=self.batch_size,
                n_epochs=self.n_epochs,
                patience=self.patience,
                id_dropout=self.id_dropout,
                name=self.name,
                negatives=self._negatives(),
                phases=phases,
            )
        self._warm_start_from = None  # not kept: it would hold the previous model alive
        self.weights_ = flatten_state(net)
        self.item_text_ = text
        self.id_mask_ = id_mask
        self.valid_ndcg_ = np.asarray(history, dtype=np.float64)
        self.fit_phases_ = phases
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
        self._numpy_states: Any = None  # the one-sequence forward pass in numpy, likewise
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

    def _fast_parts(self) -> tuple[Any, Any]:
        """The float32 network and item table of serving mode, built on first use."""
        import copy

        import torch

        if self._fast is None:
            # one float32 table, shared by the network's input lookup and the output product
            self._table32 = np.ascontiguousarray(self._table.cpu().numpy(), dtype=np.float32)
            self._fast = (copy.deepcopy(self._net).float(), torch.from_numpy(self._table32))
        return self._fast

    def _forward_fast(
        self, sequences: np.ndarray, seen: Sequence[np.ndarray], extra: torch.Tensor | None
    ) -> np.ndarray:
        """:meth:`_forward` in float32 (see ``fast``)."""
        state32 = self._states_fast(sequences)
        assert self._table32 is not None
        out = state32 @ self._table32.T
        bias = np.float32(self.repeat_bias_)
        for row, items_seen in enumerate(seen):
            out[row, np.unique(items_seen)] += bias
        if extra is not None:
            extra32 = extra.detach().cpu().numpy().astype(np.float32)
            out = np.concatenate([out, state32 @ extra32.T], axis=1)
        return out

    def _states_fast(self, sequences: np.ndarray) -> np.ndarray:
        import torch

        net, table = self._fast_parts()
        with torch.no_grad():
            state = _last_states(net, table, sequences)
        return state.cpu().numpy().astype(np.float32)  # type: ignore[no-any-return]

    # -- serving by parts: a user's state once, then any items' scores -------------------
    def serving_table(self) -> np.ndarray:
        """The float32 item vectors ``(n_items, d)``: an item's score after a sequence is
        the sequence's state (:meth:`sequence_states`) times its vector, plus
        :attr:`repeat_bias_` for items of the sequence."""
        self._check_fitted()
        self._fast_parts()
        assert self._table32 is not None
        return self._table32

    def sequence_states(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """The float32 hidden state ``(n, d)`` after each item sequence (oldest first;
        indices outside the model's item space are skipped), in serving mode."""
        from pulserec.models.seqserve import SequenceStates

        self._check_fitted()
        if self._numpy_states is None:
            net, _ = self._fast_parts()
            assert self._table32 is not None
            self._numpy_states = SequenceStates(net, self._table32)
        out = np.empty((len(sequences), self.n_factors), dtype=np.float32)
        for row, seq in enumerate(sequences):
            arr = np.asarray(list(seq), dtype=np.int64)
            out[row] = self._numpy_states.state(arr[(arr >= 0) & (arr < self.n_items_)])
        return out

    def text_item_vectors(self, text: np.ndarray) -> np.ndarray | None:
        """Float32 item vectors ``(m, d)`` of items outside the model's item space from
        their raw text embeddings (the text part alone); None without a text part."""
        self._check_fitted()
        vectors = self._text_vectors(text)
        if vectors is None:
            return None
        return vectors.detach().cpu().numpy().astype(np.float32)  # type: ignore[no-any-return]

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


def _copy_weights(previous: SequentialTransformer, net: SequenceNet) -> None:
    """``previous``'s weights into ``net``, item rows by index; a mismatch is an error."""
    import torch

    target = net.state_dict()
    moved = {}
    # the previous model's scoring network holds its weights (in float64: exact for them)
    for key, value in previous._net.state_dict().items():
        into = target.get(key)
        here = None if into is None else tuple(into.shape)
        grows = key == "item_id.weight" and into is not None and into.shape[1:] == value.shape[1:]
        if into is None or (here != tuple(value.shape) and not grows):
            raise ValueError(
                f"warm start: {key} has shape {tuple(value.shape)} in the previous model, "
                f"{here} here"
            )
        if grows:
            rows = min(len(value), len(into))
            value = torch.cat([value[:rows], into[rows:]])
        moved[key] = value.to(into)
    net.load_state_dict(moved)


def _positive(rows: sp.csr_matrix) -> sp.csr_matrix:
    """The positive entries of ``rows``, as ones."""
    out = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    out.data = (out.data > 0).astype(np.float32)
    out.eliminate_zeros()
    return out
