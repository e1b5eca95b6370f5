"""A learned blend of several models: the sequential transformer with EASE, ItemKNN, ALS,
co-visitation and content scores.

The blend is ``s(u, i) = sum_m w_m z_m(u, i) + w_seen * seen(u, i)``, where ``z_m`` is base
model ``m``'s score standardised per user (zero mean, unit deviation over all items) and
``seen`` marks the items already in the user's history. The weights are learned, never set by
hand:

1. :func:`~pulserec.models.sequential.hold_out_last` takes each user's latest training event
   out (users with at least three events).
2. Every base model is fitted on the remaining events and scores the held-out users.
3. The weights maximise the full-softmax log-likelihood of the held-out items over all items
   (a convex problem in ``w``, solved by L-BFGS with a small L2 penalty).
4. The bases are refitted on all training events; the weights are kept.

The sequential transformer already trains on exactly those remaining events (its own early
stopping holds out the same events and keeps weights that never saw them), so it is fitted
once, on all events, and its held-out scores are read from the truncated sequences: step 4
costs it nothing.

``w_seen`` is learned like the rest: strongly negative on data where users never repeat an
item, so the blend is usable without masking the history.

Bases that need item text (``content``) are left out, with weight 0, when the training
interactions carry no ``item_vectors``; the sequential transformer then runs on IDs alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.sequential import SequentialTransformer, hold_out_last, user_sequences

_FEATURE_BUDGET = 2**26
"""Most (held-out user x item x feature) values the weight fit holds; users are sampled."""

_NEEDS_TEXT = frozenset({"content"})
"""Base models that cannot fit without item text embeddings."""

DEFAULT_BASES = "sequential,ease,itemknn,als,covisit,content"


def standardise(scores: np.ndarray) -> np.ndarray:
    """Each row shifted to zero mean and scaled to unit deviation (constant rows to zero)."""
    x = np.asarray(scores, dtype=np.float64)
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


def fit_blend_weights(
    features: np.ndarray, targets: np.ndarray, l2: float
) -> tuple[np.ndarray, float]:
    """Weights maximising the softmax likelihood of each row's target item.

    Parameters
    ----------
    features : ndarray (n_features, n_rows, n_items)
    targets : ndarray (n_rows,) of int
        The item index each row should rank first.
    l2 : float
        Penalty ``l2 / 2 * ||w||^2`` added to the mean negative log-likelihood.

    Returns
    -------
    weights : ndarray (n_features,)
    loss : float
        The penalised mean negative log-likelihood at the optimum.
    """
    n_features, n_rows, _ = features.shape
    target_features = features[:, np.arange(n_rows), targets].T  # (n_rows, n_features)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        logits = np.tensordot(w, features, axes=1)  # (n_rows, n_items)
        top = logits.max(axis=1, keepdims=True)
        prob = np.exp(logits - top)
        norm = prob.sum(axis=1, keepdims=True)
        prob /= norm
        log_z = np.log(norm[:, 0]) + top[:, 0]
        nll = float(np.mean(log_z - target_features @ w))
        expected = np.einsum("frn,rn->rf", features, prob)
        grad = (expected - target_features).mean(axis=0)
        return nll + 0.5 * l2 * float(w @ w), grad + l2 * w

    result = scipy.optimize.minimize(objective, np.zeros(n_features), jac=True, method="L-BFGS-B")
    return np.asarray(result.x, dtype=np.float64), float(result.fun)


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
    random_state : int or None
        Seed of the held-out user sample (when the data is too large to use all users).

    Attributes
    ----------
    weights_ : ndarray
        One weight per base (in ``bases`` order), then ``w_seen``.
    used_ : ndarray of bool
        Which bases were fitted (text bases need item vectors).
    models_ : dict
        The fitted base models by name.
    """

    name: ClassVar[str] = "hybrid"
    # The blend is learned; tuning the bases is done through base_params.
    param_grid: ClassVar[dict[str, list[Any]]] = {}

    weights_: np.ndarray
    used_: np.ndarray
    models_: dict[str, Recommender]

    def __init__(
        self,
        bases: str = DEFAULT_BASES,
        base_params: dict[str, dict[str, Any]] | None = None,
        l2: float = 1e-3,
        random_state: int | None = 0,
    ) -> None:
        self.bases = bases
        self.base_params = base_params
        self.l2 = l2
        self.random_state = random_state

    # The learned arrays depend on which bases the hyperparameters name: each base's own
    # state is stored under "<base>__<attr>".
    @property  # type: ignore[misc]
    def _state(self) -> tuple[str, ...]:  # type: ignore[override]
        from pulserec.models import MODELS

        names = ["weights_", "used_"]
        for base in self._base_names():
            names += [f"{base}__{attr}" for attr in MODELS[base]._state]
        return tuple(names)

    def _base_names(self) -> list[str]:
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
    def _fit(self, train: Interactions) -> None:
        names = self._base_names()
        used = np.array(
            [not (b in _NEEDS_TEXT and train.item_vectors is None) for b in names], dtype=bool
        )
        inner, users, targets = hold_out_last(train)
        n_features = int(used.sum()) + 1
        rng = np.random.default_rng(self.random_state)
        most = max(1, _FEATURE_BUDGET // (n_features * self.n_items_))
        if len(users) > most:
            pick = np.sort(rng.choice(len(users), most, replace=False))
            users, targets = users[pick], targets[pick]

        features: list[np.ndarray] = []
        models: dict[str, Recommender] = {}
        for base, on in zip(names, used, strict=True):
            if not on:
                continue
            model = self._make_base(base)
            if isinstance(model, SequentialTransformer) and model.patience is not None:
                # Its early stopping held out these very events: fit once on everything.
                model.fit(train)
                seqs = user_sequences(inner.user_idx, inner.item_idx, inner.timestamp,
                                      self.n_users_)  # fmt: skip
                scores = model.score_sequences([seqs[u] for u in users])
            else:
                scores = model.fit(inner).score(users) if len(users) else None
                model = self._make_base(base).fit(train)
            if scores is not None:
                features.append(standardise(scores).astype(np.float32))
            models[base] = model
        if len(users):
            features.append((inner.matrix[users].toarray() != 0).astype(np.float32))
            weights, _ = fit_blend_weights(np.stack(features), targets, float(self.l2))
        else:
            # Too little data to hold anything out: an unweighted blend.
            weights = np.r_[np.ones(n_features - 1), 0.0]
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
        for base, on in zip(self._base_names(), self.used_, strict=True):
            if not on:
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
        """The learned weights by base name (fitted bases only), plus ``"seen"``."""
        names = [b for b, on in zip(self._base_names(), self.used_, strict=True) if on]
        return {**dict(zip(names, self.weights_[:-1].tolist(), strict=True)),
                "seen": float(self.weights_[-1])}  # fmt: skip

    # -- scoring ---------------------------------------------------------------------------
    def _blend(self, user_idx: np.ndarray, rows: sp.csr_matrix | None, seen: sp.csr_matrix
               ) -> np.ndarray:  # fmt: skip
        total = np.zeros((len(user_idx), self.n_items_), dtype=np.float64)
        for weight, model in zip(self.weights_[:-1], self.models_.values(), strict=True):
            total += weight * standardise(model.score(user_idx, rows))
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
