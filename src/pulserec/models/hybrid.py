"""A learned blend of several models: the sequential transformer with EASE, ItemKNN, ALS,
co-visitation and content scores.

The blend is ``s(u, i) = sum_m w_m z_m(u, i) + w_seen * seen(u, i)``, where ``z_m`` is base
model ``m``'s score standardised per user (zero mean, unit deviation over all items) and
``seen`` marks the items already in the user's history. The weights are learned, never set by
hand:

1. :func:`~pulserec.models.sequential.hold_out_last` takes each user's latest training event
   out (users with at least three events), or with ``holdout="random"`` one of their events
   drawn at random. Which of the two is the task is the validation split's to say: the
   time-ordered leave-one-out split asks for the next item, the per-user random split for
   any held-out item, and a blend chosen on next items then keeps the transformer where
   EASE and ALS rank random items far better (ml-100k random811 NDCG@10 0.121 against ALS's
   0.318). ``holdout`` is in the ``param_grid``, so the evaluator's grid search fits both
   and keeps the one that ranks the validation split better.
2. Every base model is fitted on the remaining events and scores the held-out users.
3. Forward selection (:func:`select_bases`) chooses which bases enter the blend: first the
   base that ranks the held-out items best on its own, then, one at a time, the base whose
   addition raises the blend's cross-validated NDCG@10 most, as long as the gain exceeds
   ``min_gain_se`` standard errors. The weights of the chosen bases (and ``w_seen``) maximise
   the full-softmax log-likelihood of the held-out items over all items (a convex problem in
   ``w``, solved by L-BFGS with a small L2 penalty); the other bases get weight 0.
4. The chosen bases are refitted on all training events; the weights are kept.

Why the selection: the likelihood rewards a base for placing the held-out item anywhere
above the bulk of the catalogue, NDCG@10 only for placing it in the top ten, and with a few
hundred held-out events a weight fitted to noise is not small. So a blend of every base can
rank worse than its best base (docs/results.md, "Hybrid robustness"). The forward
selection compares candidate blends on the metric that is reported, on events that their
weights were not fitted on (``n_folds``-fold cross-validation over the held-out events), and
starts from the best base alone: on the held-out events the blend is never worse than its
best base, and a base that only fits noise stays out. ``selection="all"`` blends every base
as the likelihood fit alone would.

The sequential transformer already trains on exactly those remaining events (its own early
stopping holds out the same events and keeps weights that never saw them), so it is fitted
once, on all events, and its held-out scores are read from the truncated sequences: step 4
costs it nothing. Its early stopping chose the epoch on these same events, so its held-out
NDCG@10 is slightly optimistic; that makes the selection keep it more readily and add the
others less readily, the safe side when it is the strongest base.

Whom the held-out events stand for: only users with three events or more hold one out,
so on a log where most users have one or two (globo: 68 % of the users its
leave-one-out split tests) the held-out events speak for long histories, where
co-visitation adds to the transformer, and a blend chosen on them ranked the short
histories below the transformer alone. With ``match_history`` each held-out
event is weighed (:func:`history_weights`) so that each history length (1-2, 3-4, 5-9,
10-19, 20+ events before) counts as much as among all the users the model ranks, in the
selection and in the weights' fit; users with one event count with the shortest rows.
Fewer rows then carry most of the weight, so the selection's standard errors grow and it
adds fewer bases: on a generated shop (synthetic shop-like) the weighted selection kept
EASE alone where the unweighted one's three bases ranked 9 % better. Neither wins
everywhere, so ``match_history`` is in the ``param_grid`` (off by default) and the
validation split chooses.

``w_seen`` is learned like the rest: strongly negative on data where users never repeat an
item, so the blend is usable without masking the history.

Bases that need item text (``content``) are left out, with weight 0, when the training
interactions carry no ``item_vectors``; the sequential transformer then runs on IDs alone.

This module holds the :class:`Hybrid` model, which runs the steps above. The functions of
the blend itself (:func:`standardise`, :func:`fit_blend_weights`, :func:`history_weights`,
:func:`blend_logits`, :func:`target_ndcg`, :func:`cross_validated_ndcg`,
:func:`select_bases`) live in :mod:`pulserec.models.hybridblend` and are re-exported here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.hybridblend import (
    HISTORY_BOUNDS,
    blend_logits,
    cross_validated_ndcg,
    fit_blend_weights,
    history_weights,
    select_bases,
    standardise,
    target_ndcg,
)
from pulserec.models.sequential import SequentialTransformer, hold_out_last, user_sequences

__all__ = [
    "DEFAULT_BASES",
    "HISTORY_BOUNDS",
    "Hybrid",
    "blend_logits",
    "cross_validated_ndcg",
    "fit_blend_weights",
    "history_weights",
    "select_bases",
    "standardise",
    "target_ndcg",
]

_FEATURE_BUDGET = 2**26
"""Most (held-out user x item x feature) values the weight fit holds; users are sampled."""

_NEEDS_TEXT = frozenset({"content"})
"""Base models that cannot fit without item text embeddings."""

_SELECTIONS = ("forward", "all")
"""How the bases in the blend are chosen (``Hybrid.selection``)."""

_HOLDOUTS = ("last", "random")
"""Which training event of each user the weights are fitted on (``Hybrid.holdout``)."""

DEFAULT_BASES = "sequential,ease,itemknn,als,covisit,content"


class Hybrid(Recommender):
    """Per-user standardised base-model scores blended with weights learned on held-out data.

    See the module documentation for how the weights are fitted.

    Parameters
    ----------
    bases : str
        Comma-separated registry names of the base models.
    base_params : dict, optional
        Hyperparameters per base name, e.g. ``{"ease": {"l2": 100.0}}``; others use defaults.
    l2 : float
        L2 penalty on the blend weights.
    selection : {"forward", "all"}
        ``"forward"`` keeps only the bases that :func:`select_bases` chooses on the held-out
        events; ``"all"`` blends every base.
    min_gain_se : float
        How many standard errors of cross-validated NDCG@10 a base must add to be kept.
    n_folds : int
        Folds of the held-out events for the cross-validation of the selection.
    holdout : {"last", "random"}
        The training event of each user (with three or more) that the weights are fitted
        on: the latest (next-item recommendation) or one drawn at random.
    match_history : bool
        Weigh the held-out events so that each history length (1-2, 3-4, 5-9, 10-19, 20+
        events before) counts as much as among all the users ranked
        (:func:`history_weights`), in the selection and in the weights' fit; else every
        held-out event counts the same. In the ``param_grid``: the validation split says
        which ranks better.
    random_state : int or None
        Seed of the held-out user sample (when the data is too large to use all users), of
        the random held-out events and of the cross-validation folds.

    Attributes
    ----------
    weights_ : ndarray
        One weight per base (in ``bases`` order), then ``w_seen``; 0 for a base left out.
    used_ : ndarray of bool
        Which bases were fitted (text bases need item vectors).
    models_ : dict
        The bases the blend keeps, fitted on all training events, by name.
    selection_ : list of (tuple of str, float)
        Set by :meth:`fit` only (not saved): the bases in the blend after each step of the
        forward selection and the blend's cross-validated NDCG@10 on the held-out events.
    """

    name: ClassVar[str] = "hybrid"
    # The blend is learned; tuning the bases is done through base_params. The validation
    # split says which held-out events stand for its task, and whether they stand for the
    # users ranked better weighed by history length.
    param_grid: ClassVar[dict[str, list[Any]]] = {
        "holdout": list(_HOLDOUTS),
        "match_history": [False, True],
    }

    weights_: np.ndarray
    used_: np.ndarray
    models_: dict[str, Recommender]
    selection_: list[tuple[tuple[str, ...], float]]

    def __init__(
        self,
        bases: str = DEFAULT_BASES,
        base_params: dict[str, dict[str, Any]] | None = None,
        l2: float = 1e-3,
        selection: str = "forward",
        min_gain_se: float = 1.0,
        n_folds: int = 3,
        holdout: str = "last",
        match_history: bool = False,
        random_state: int | None = 0,
    ) -> None:
        self.bases = bases
        self.base_params = base_params
        self.l2 = l2
        self.selection = selection
        self.min_gain_se = min_gain_se
        self.n_folds = n_folds
        self.holdout = holdout
        self.match_history = match_history
        self.random_state = random_state

    # The learned arrays depend on which bases the hyperparameters name: each base's own
    # state is stored under "<base>__<attr>".
    @property  # type: ignore[misc]
    def _state(self) -> tuple[str, ...]:  # type: ignore[override]
        from pulserec.models import MODELS

        names = ["weights_", "used_"]
        for base in self.base_names():
            names += [f"{base}__{attr}" for attr in MODELS[base]._state]
        return tuple(names)

    def base_names(self) -> list[str]:
        """The registry names in ``bases``, checked (with ``base_params``' keys)."""
        from pulserec.models import MODELS

        names = [b.strip() for b in str(self.bases).split(",") if b.strip()]
        if not names:
            raise ValueError(f"{self.name}: bases is empty; name at least one model")
        unknown = [b for b in names if b not in MODELS or b == self.name]
        if unknown:
            valid = sorted(set(MODELS) - {self.name})
            raise ValueError(f"{self.name}: unknown base model(s) {unknown}; valid: {valid}")
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: bases lists a model twice: {self.bases!r}")
        params = self.base_params or {}
        stray = sorted(set(params) - set(names))
        if stray:
            raise ValueError(f"{self.name}: base_params for models not in bases: {stray}")
        return names

    def _make_base(self, base: str) -> Recommender:
        from pulserec.models import make_model

        return make_model(base, **(self.base_params or {}).get(base, {}))

    # -- fitting ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.selection not in _SELECTIONS:
            valid = list(_SELECTIONS)
            raise ValueError(
                f"{self.name}: selection must be one of {valid}, got {self.selection!r}"
            )
        if self.holdout not in _HOLDOUTS:
            raise ValueError(
                f"{self.name}: holdout must be one of {list(_HOLDOUTS)}, got {self.holdout!r}"
            )
        if int(self.n_folds) < 2:
            raise ValueError(f"{self.name}: n_folds must be >= 2, got {self.n_folds!r}")
        if not float(self.min_gain_se) >= 0:
            raise ValueError(f"{self.name}: min_gain_se must be >= 0, got {self.min_gain_se!r}")

    def _fit(self, train: Interactions) -> None:
        names = self.base_names()
        self._check_params()
        used = np.array(
            [not (b in _NEEDS_TEXT and train.item_vectors is None) for b in names], dtype=bool
        )
        rng = np.random.default_rng(self.random_state)
        last = self.holdout == "last"
        inner, users, targets = hold_out_last(train, rng=None if last else rng)
        n_features = int(used.sum()) + 1
        most = max(1, _FEATURE_BUDGET // (n_features * self.n_items_))
        if len(users) > most:
            pick = np.sort(rng.choice(len(users), most, replace=False))
            users, targets = users[pick], targets[pick]

        # Step 2: every used base scores the held-out users from the remaining events.
        fitted = [b for b, on in zip(names, used, strict=True) if on]
        features: list[np.ndarray] = []
        on_all: dict[str, Recommender] = {}
        for base in fitted:
            model = self._make_base(base)
            if last and isinstance(model, SequentialTransformer) and model.patience is not None:
                # Its early stopping held out these very events: fit once on everything.
                on_all[base] = model.fit(train)
                if not len(users):
                    continue
                seqs = user_sequences(inner.user_idx, inner.item_idx, inner.timestamp,
                                      self.n_users_)  # fmt: skip
                scores = model.score_sequences([seqs[u] for u in users])
            elif len(users):
                scores = model.fit(inner).score(users)
            else:
                continue
            features.append(standardise(scores).astype(np.float32))
        features.append((inner.matrix[users].toarray() != 0).astype(np.float32))
        stacked = np.stack(features) if len(users) else np.zeros((n_features, 0, self.n_items_))
        del features

        # Step 3: the weights, on the bases the held-out events support, each held-out
        # event weighed by how common its history length is among the users ranked
        rows = None
        if self.match_history and len(users):
            counts = np.bincount(train.user_idx, minlength=self.n_users_)
            rows = history_weights(counts[users] - 1, counts[counts > 0])
        weights = np.zeros(n_features, dtype=np.float64)
        self.selection_ = []
        if len(users) == 0:
            # Too little data to hold anything out: an unweighted blend.
            weights[:-1] = 1.0
        elif self.selection == "forward" and len(users) >= 2 * int(self.n_folds):
            chosen, trace = select_bases(
                stacked, targets, float(self.l2), n_folds=int(self.n_folds),
                min_gain_se=float(self.min_gain_se), random_state=self.random_state, rows=rows,
            )  # fmt: skip
            self.selection_ = [(tuple(fitted[c] for c in chosen[: i + 1]), score)
                               for i, score in enumerate(trace)]  # fmt: skip
            cols = [*chosen, n_features - 1]
            weights[cols], _ = fit_blend_weights(stacked[cols], targets, float(self.l2), rows)
        else:
            weights, _ = fit_blend_weights(stacked, targets, float(self.l2), rows)
        del stacked

        # Step 4: the kept bases refitted on all training events.
        models: dict[str, Recommender] = {}
        for base, weight in zip(fitted, weights[:-1], strict=True):
            if weight != 0:
                models[base] = on_all.get(base) or self._make_base(base).fit(train)
        self.weights_ = weights
        self.used_ = used
        self.models_ = models
        for base in names:
            for attr in _state_of(base):
                value = getattr(models[base], attr) if base in models else np.zeros(0)
                setattr(self, f"{base}__{attr}", value)

    def _after_load(self) -> None:
        self.used_ = np.asarray(self.used_, dtype=bool)
        self.models_ = {}
        fitted = [b for b, on in zip(self.base_names(), self.used_, strict=True) if on]
        for base, weight in zip(fitted, self.weights_[:-1], strict=True):
            if weight == 0:
                continue
            model = self._make_base(base)
            model.n_users_, model.n_items_ = self.n_users_, self.n_items_
            model.user_items_ = self.user_items_
            model.item_popularity_ = self.item_popularity_
            model.fingerprint_ = self.fingerprint_
            for attr in _state_of(base):
                setattr(model, attr, getattr(self, f"{base}__{attr}"))
            model._after_load()
            self.models_[base] = model

    @property
    def blend_weights_(self) -> dict[str, float]:
        """The learned weights by base name (0 for a base left out), plus ``"seen"``.

        Bases that need item text are absent when the data carried none.
        """
        names = [b for b, on in zip(self.base_names(), self.used_, strict=True) if on]
        return {**dict(zip(names, self.weights_[:-1].tolist(), strict=True)),
                "seen": float(self.weights_[-1])}  # fmt: skip

    # -- scoring ---------------------------------------------------------------------------
    def _blend(self, user_idx: np.ndarray, rows: sp.csr_matrix | None, seen: sp.csr_matrix
               ) -> np.ndarray:  # fmt: skip
        total = np.zeros((len(user_idx), self.n_items_), dtype=np.float64)
        weight_of = self.blend_weights_
        for base, model in self.models_.items():
            total += weight_of[base] * standardise(model.score(user_idx, rows))
        total += self.weights_[-1] * (seen.toarray() != 0)
        return total.astype(np.float32)

    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self._blend(user_idx, None, sp.csr_matrix(user_items))

    def _score_fold_in(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        rows = sp.csr_matrix(user_items, dtype=np.float32)
        positive = rows.copy()
        positive.data = (positive.data > 0).astype(np.float32)
        positive.eliminate_zeros()
        return self._blend(user_idx, rows, positive)


def _state_of(base: str) -> tuple[str, ...]:
    from pulserec.models import MODELS

    return MODELS[base]._state
