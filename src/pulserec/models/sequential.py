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
:mod:`pulserec.models.seqtrain`, which trains the network on the sequences, windows and
batches that :mod:`pulserec.models.seqdata` prepares. Scoring (the float64 scoring network,
fold-in, :meth:`~SequentialTransformer.score_sequences` and the float32 serving mode) is
:class:`~pulserec.models.seqscore.SequentialScoring`, a mixin of the model; this module holds
the model's hyperparameters, its fit and its loading.

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
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.seqdata import hold_out_last, pad_last, training_windows, user_sequences
from pulserec.models.seqscore import SequentialScoring
from pulserec.models.seqtrain import _MAX_VALID_USERS, _torch_threads, train_epochs

if TYPE_CHECKING:
    from pulserec.models.seqnet import SequenceNet

__all__ = [
    "SequentialTransformer",
    "hold_out_last",
    "pad_last",
    "training_windows",
    "user_sequences",
]


class SequentialTransformer(SequentialScoring, Recommender):
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

    # -- loading ---------------------------------------------------------------------------
    def _after_load(self) -> None:
        self.id_mask_ = np.asarray(self.id_mask_, dtype=bool)
        self.item_text_ = np.ascontiguousarray(self.item_text_, dtype=np.float32)
        self.sequences_ = np.asarray(self.sequences_, dtype=np.int32)
        self._prepare_scoring()


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
