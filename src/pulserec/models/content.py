"""Content-based recommendation: a user is the weighted sum of the texts they engaged with.

The user profile is ``I_u = sum_i r_ui * v_i`` over the items of the user's history, where
``v_i`` is the unit-norm text embedding of item ``i`` and ``r_ui`` its weight: a recency
decay by position in the user's time-ordered training sequence,
``0.5 ** (age / half_life)`` (``age`` = number of the user's later events), summed over
repeated events. Items are scored by the cosine between the profile and their embedding.

Because scores come from item text alone, an item nobody has touched yet (cold start) scores
as well as a popular one: this is the model that recommends brand-new items.

Providing the item embeddings
-----------------------------
The :class:`~pulserec.models.base.Recommender` protocol fits on interactions only, and
model constructors take hyperparameters only. The embeddings are data, so they are handed
over between construction and ``fit``::

    model = ContentModel(half_life=20.0)
    model.set_item_vectors(vectors)          # rows aligned with train.items
    # or: model.set_item_texts(texts, encoder=CachedEncoder(make_encoder("use-m3"), cache))
    model.fit(train)

The embeddings are then part of the model's saved state (``item_vectors_``), so a loaded
model scores without any encoder. Code that builds models by name and fits them
(``make_model`` then ``fit``, as the tuning loop does) calls ``set_item_vectors`` on each new
model before ``fit``; :func:`item_texts_for` gives the texts aligned with an
:class:`~pulserec.events.interactions.Interactions` item map.

Fold-in and event weights
-------------------------
A history row passed to :meth:`~pulserec.models.base.Recommender.score` as ``user_items``
is used with its values as the weights ``r_ui``: the online state passes recency- and
event-type-weighted rows, and a negative value (a dislike, a skip) subtracts that item's
direction from the profile, scaled by ``negative_weight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.text.base import TextEncoder, l2_normalise
from pulserec.text.encoders import DEFAULT_ENCODER


def item_texts_for(items: pd.DataFrame | None, item_ids: Sequence[str]) -> list[str]:
    """The text of each item id, aligned with ``item_ids`` (e.g. ``train.items.to_list()``).

    The item frame's ``text`` is used; where it is empty, the ``title``; ids missing from the
    frame get ``""`` (which embeds to the zero vector: such items score 0 for everyone).

    Parameters
    ----------
    items : DataFrame or None
        An item frame with ``item_id`` and ``text`` (and optionally ``title``) columns.
    item_ids : sequence of str
        Raw item ids, in the order wanted.

    Examples
    --------
    >>> frame = pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "text": ["apple", ""]})
    >>> item_texts_for(frame, ["b", "zz", "a"])
    ['B', '', 'apple']
    """
    ids = [str(i) for i in item_ids]
    if items is None or len(items) == 0 or "item_id" not in items.columns:
        return [""] * len(ids)
    frame = items.drop_duplicates("item_id", keep="last")
    index = frame["item_id"].astype(str).to_numpy()

    def column(name: str) -> pd.Series:
        if name not in frame.columns:
            return pd.Series([""] * len(frame), index=index, dtype=object)
        values = frame[name].astype(object).where(frame[name].notna(), "").astype(str)
        return pd.Series(values.to_numpy(), index=index)

    text = column("text").reindex(ids).fillna("")
    title = column("title").reindex(ids).fillna("")
    empty = text.str.strip() == ""
    return text.where(~empty, title).tolist()


def recency_weights(
    user_idx: np.ndarray, item_idx: np.ndarray, shape: tuple[int, int], half_life: float | None
) -> sp.csr_matrix:
    """User x item weights ``sum over events of 0.5 ** (age / half_life)``.

    Events must be in time order (as :class:`Interactions` keeps them); ``age`` is the number
    of the same user's events after this one, so each user's latest event weighs 1.
    ``half_life=None`` gives every event weight 1.

    Examples
    --------
    >>> w = recency_weights(np.array([0, 0, 0]), np.array([2, 0, 1]), (1, 3), half_life=1.0)
    >>> w.toarray().tolist()
    [[0.5, 1.0, 0.25]]
    """
    users = np.asarray(user_idx, dtype=np.int64)
    items = np.asarray(item_idx, dtype=np.int64)
    if half_life is None:
        weight = np.ones(len(users))
    else:
        if not half_life > 0:
            raise ValueError(f"half_life: expected a positive number or None, got {half_life!r}")
        order = np.argsort(users, kind="stable")  # time order kept within each user
        sorted_users = users[order]
        counts = np.bincount(sorted_users, minlength=shape[0])
        starts = np.cumsum(counts) - counts
        position = np.arange(len(users)) - starts[sorted_users]
        age = np.empty(len(users), dtype=np.float64)
        age[order] = counts[sorted_users] - 1 - position
        weight = 0.5 ** (age / float(half_life))
    matrix = sp.csr_matrix((weight.astype(np.float32), (users, items)), shape=shape)
    matrix.sum_duplicates()
    return matrix


class ContentModel(Recommender):
    """Scores items by cosine between their text embedding and the user's profile.

    Parameters
    ----------
    encoder : str
        Registry name of the text encoder the item vectors come from; used by
        :meth:`set_item_texts` when no encoder object is passed, and recorded in the manifest.
    half_life : float or None
        Recency half-life in events: an item engaged with ``half_life`` events before the
        user's latest counts half as much. ``None`` weighs the whole history equally.
    negative_weight : float
        Multiplier of negative history values (dislikes) in fold-in rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from pulserec.events.interactions import Interactions
    >>> events = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["a", "c"],
    ...                        "timestamp": [1.0, 2.0]})
    >>> train = Interactions.from_events(events)
    >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0]])   # items a, c
    >>> model = ContentModel().set_item_vectors(vectors).fit(train)
    >>> model.score([0, 1]).round(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    name: ClassVar[str] = "content"
    param_grid: ClassVar[dict[str, list[Any]]] = {"half_life": [5.0, 20.0, None]}
    _state: ClassVar[tuple[str, ...]] = ("item_vectors_", "user_weights_")

    item_vectors_: np.ndarray
    user_weights_: sp.csr_matrix

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        half_life: float | None = 20.0,
        negative_weight: float = 1.0,
    ) -> None:
        self.encoder = encoder
        self.half_life = half_life
        self.negative_weight = negative_weight

    # -- the embedding hook ------------------------------------------------------------
    def set_item_vectors(self, vectors: np.ndarray) -> Self:
        """Give the item embeddings, one row per item index of the training interactions.

        Rows are L2-normalised (a copy); all-zero rows (items without text) stay zero.
        """
        matrix = np.array(vectors, dtype=np.float32, order="C", copy=True)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise ValueError(f"vectors: expected a non-empty (n_items, dim) array, got "
                             f"shape {matrix.shape}")
        if not np.isfinite(matrix).all():
            raise ValueError("vectors: contain NaN or infinite values")
        self.item_vectors_ = l2_normalise(matrix)
        return self

    def set_item_texts(self, texts: Sequence[str], encoder: TextEncoder | None = None) -> Self:
        """Embed the item texts (aligned with the training item indices) and keep the vectors.

        Parameters
        ----------
        texts : sequence of str
            Item texts, e.g. ``item_texts_for(items_frame, train.items.to_list())``.
        encoder : TextEncoder, optional
            The encoder to use, ideally wrapped in a
            :class:`~pulserec.text.cache.CachedEncoder`; by default the one named by
            ``self.encoder`` is built (loading its model).
        """
        if encoder is None:
            from pulserec.text.encoders import make_encoder

            encoder = make_encoder(self.encoder)
        elif encoder.name != self.encoder:
            raise ValueError(
                f"encoder: this model is configured for {self.encoder!r}, got {encoder.name!r}"
            )
        return self.set_item_vectors(encoder.encode(list(texts)))

    # -- fitting and scoring -----------------------------------------------------------
    def _fit(self, train: Interactions) -> None:
        if train.item_vectors is not None:
            self.set_item_vectors(train.item_vectors)
        if not hasattr(self, "item_vectors_"):
            raise RuntimeError(
                "content: no item embeddings; fit on interactions carrying them "
                "(train.with_item_vectors(vectors)) or call set_item_vectors(vectors) first"
            )
        if self.item_vectors_.shape[0] != self.n_items_:
            raise ValueError(
                f"content: item embeddings have {self.item_vectors_.shape[0]} rows, the "
                f"training interactions {self.n_items_} items; align them with train.items"
            )
        self.user_weights_ = recency_weights(
            train.user_idx, train.item_idx, (self.n_users_, self.n_items_), self.half_life
        )

    def _profiles(self, weights: sp.csr_matrix) -> np.ndarray:
        """Unit-norm user profiles ``sum_i r_ui v_i`` of a batch of weight rows."""
        weights = sp.csr_matrix(weights, dtype=np.float32, copy=True)
        if self.negative_weight != 1.0:
            negative = weights.data < 0
            weights.data[negative] *= np.float32(self.negative_weight)
        profiles = np.asarray(weights @ self.item_vectors_, dtype=np.float32)
        return l2_normalise(profiles)

    def _scores(self, weights: sp.csr_matrix) -> np.ndarray:
        profiles = self._profiles(weights)
        scores = profiles @ self.item_vectors_.T
        # A profile that cancels to zero (only text-less items, or likes and dislikes that
        # balance) has nothing to say: fall back to popularity like an unknown user.
        empty = ~profiles.any(axis=1)
        if empty.any():
            scores[empty] = self.item_popularity_
        return np.asarray(scores, dtype=np.float32)

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        # Known users: the recency weights of their training sequence, not the binary row.
        return self._scores(self.user_weights_[user_idx])

    def _score_fold_in(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        # A caller-passed history carries its own weights (recency, event type, negatives).
        return self._scores(user_items)

    def _after_load(self) -> None:
        self.item_vectors_ = np.ascontiguousarray(self.item_vectors_, dtype=np.float32)
        self.user_weights_ = sp.csr_matrix(self.user_weights_, dtype=np.float32)
