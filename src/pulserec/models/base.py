"""The protocol every recommendation model follows.

A model is fitted on an :class:`~pulserec.events.interactions.Interactions`
matrix and scores every item for a batch of users. Users are addressed by
dense ``user_idx``; an index outside the training range (or ``-1``) is an
unknown user and gets the popularity fallback, unless the caller passes that
user's history in ``user_items`` (fold-in without a refit).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from pulserec.events.interactions import Interactions
from pulserec.manifest import ArtifactError as ArtifactError  # re-exported: models raise it
from pulserec.manifest import read_manifest, require_file, write_manifest

MANIFEST_FORMAT = "pulserec-model"
MANIFEST_VERSION = 1


def fingerprint_matrix(matrix: sp.csr_matrix) -> str:
    """A short content hash of a CSR matrix: marks artifacts fitted on other data."""
    h = hashlib.sha256()
    h.update(np.asarray(matrix.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(matrix.indptr, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(matrix.indices, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries of each row, best first."""
    n_items = scores.shape[1]
    k = min(k, n_items)
    if k <= 0:
        empty = np.empty((scores.shape[0], 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    if k < n_items:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_items), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return ids, np.take_along_axis(part_scores, order, axis=1).astype(np.float32)


class Recommender(ABC):
    """Base class of all models.

    Subclasses implement :meth:`_fit` and :meth:`_score`, list their
    hyperparameters in ``__init__`` keyword arguments (stored as given), the
    names of their learned arrays in ``_state`` (dense arrays or scipy sparse
    matrices, saved as CSR parts), and a small ``param_grid`` the validation
    search tries. Models with learned per-user state also override
    :meth:`_score_fold_in`.
    """

    name: ClassVar[str]
    param_grid: ClassVar[dict[str, list[Any]]] = {}
    _state: ClassVar[tuple[str, ...]] = ()

    n_users_: int
    n_items_: int
    user_items_: sp.csr_matrix
    item_popularity_: np.ndarray
    fingerprint_: str

    # -- hyperparameters -------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as passed to the constructor."""
        import inspect

        # *args/**kwargs are not hyperparameters: a model without its own __init__
        # inherits object's ``(self, /, *args, **kwargs)`` and has none.
        sig = inspect.signature(type(self).__init__)
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return {
            name: getattr(self, name)
            for name, p in sig.parameters.items()
            if name != "self" and p.kind not in variadic
        }

    def set_params(self, **params: Any) -> Self:
        known = self.get_params()
        for key, value in params.items():
            if key not in known:
                raise ValueError(
                    f"{self.name}: unknown hyperparameter {key!r}; known: {sorted(known)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting and scoring ---------------------------------------------------------
    def fit(self, train: Interactions) -> Self:
        """Fit on the training interactions; returns ``self``."""
        matrix = sp.csr_matrix(train.matrix, dtype=np.float32)
        self.n_users_, self.n_items_ = matrix.shape
        self.user_items_ = matrix
        self.item_popularity_ = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
        self.fingerprint_ = fingerprint_matrix(matrix)
        self._fit(train)
        return self

    @abstractmethod
    def _fit(self, train: Interactions) -> None:
        """Learn the model's arrays from ``train`` (``self.user_items_`` is set)."""

    @abstractmethod
    def _score(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Scores of all items, shape ``(len(user_idx), n_items_)``.

        ``user_idx`` holds known indices only and ``user_items`` their training
        rows, except when :meth:`_score_fold_in` delegates here (its default).
        """

    def _score_fold_in(self, user_idx: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Scores from histories the caller passed; ``user_idx`` may hold ``-1``.

        Models whose scores come from the history row alone need not override
        this. Models with learned per-user state (factor models) override it to
        derive that state from ``user_items`` instead of the stored rows, since
        the caller passes a history exactly when it differs from training.
        """
        return self._score(user_idx, user_items)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise RuntimeError(f"{self.name}: call fit() or load() before scoring")

    def score(
        self, user_idx: np.ndarray | list[int], user_items: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Scores of every item for each user, float32 ``(n_users, n_items)``.

        Users with no history to go on (unknown, or with an empty row) get the
        item popularity.

        Parameters
        ----------
        user_idx : array of int
            Dense user indices; ``-1`` or out-of-range means an unknown user.
        user_items : csr_matrix, optional
            One history row per user to score from instead of the training
            rows (fold-in of new or changed users without a refit).
        """
        self._check_fitted()
        users = np.asarray(user_idx, dtype=np.int64).ravel()
        out = np.empty((len(users), self.n_items_), dtype=np.float32)
        if user_items is not None:
            if user_items.shape != (len(users), self.n_items_):
                raise ValueError(
                    f"user_items: expected shape {(len(users), self.n_items_)}, "
                    f"got {user_items.shape}"
                )
            rows = sp.csr_matrix(user_items, dtype=np.float32)
            has = np.diff(rows.indptr) > 0
            if has.any():
                out[has] = self._score_fold_in(users[has], rows[has])
        else:
            has = (users >= 0) & (users < self.n_users_)
            ku = users[has]
            # A known index with an empty training row (a user seen only in a
            # later split) has nothing to personalise from either.
            has[has] = np.diff(self.user_items_.indptr)[ku] > 0
            if has.any():
                ku = users[has]
                out[has] = self._score(ku, self.user_items_[ku])
        if not has.all():
            out[~has] = self.item_popularity_
        return out

    def recommend(
        self,
        user_idx: np.ndarray | list[int],
        k: int = 10,
        *,
        exclude: sp.csr_matrix | None = None,
        filter_seen: bool = True,
        user_items: sp.csr_matrix | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items per user: ``(item_idx, scores)``, both ``(n_users, k)``.

        Parameters
        ----------
        exclude : csr_matrix, optional
            One row per user; items with a stored entry are never returned.
        filter_seen : bool
            Also exclude each user's own history (training row or ``user_items``).
        allow : array of int, optional
            Only these item indices may be returned.

        Where fewer than ``k`` items remain, the tail has score ``-inf``.
        """
        users = np.asarray(user_idx, dtype=np.int64).ravel()
        scores = self.score(users, user_items)
        if filter_seen:
            if user_items is not None:
                _mask(scores, user_items)
            else:
                known = np.flatnonzero((users >= 0) & (users < self.n_users_))
                if len(known):
                    sub = scores[known]
                    _mask(sub, self.user_items_[users[known]])
                    scores[known] = sub
        if exclude is not None:
            if exclude.shape[0] != len(users):
                raise ValueError(f"exclude: expected {len(users)} rows, got {exclude.shape[0]}")
            _mask(scores, exclude)
        if allow is not None:
            keep = np.zeros(self.n_items_, dtype=bool)
            keep[np.asarray(allow, dtype=np.int64)] = True
            scores[:, ~keep] = -np.inf
        return top_k(scores, k)

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.npz`` and ``manifest.json`` into directory ``path``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"item_popularity": self.item_popularity_}
        _put_csr(arrays, "user_items", self.user_items_)
        for attr in self._state:
            value = getattr(self, attr)
            if sp.issparse(value):
                _put_csr(arrays, f"state.{attr}", value)
            else:
                arrays[f"state.{attr}"] = np.asarray(value)
        np.savez(path / "model.npz", **arrays)  # type: ignore[arg-type]
        params = self.get_params()
        manifest = {
            "model": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": params,
            "config_hash": hashlib.sha256(
                json.dumps(params, sort_keys=True, default=str).encode()
            ).hexdigest()[:16],
            "data_fingerprint": self.fingerprint_,
            "n_users": self.n_users_,
            "n_items": self.n_items_,
            "created_at": time.time(),
        }
        write_manifest(path, manifest, format=MANIFEST_FORMAT, format_version=MANIFEST_VERSION)
        return path

    @staticmethod
    def load(path: str | Path) -> Recommender:
        """Load a model saved by :meth:`save`; no pickle is involved."""
        path = Path(path)
        manifest = read_manifest(
            path,
            format=MANIFEST_FORMAT,
            versions=(MANIFEST_VERSION,),
            required=("class", "params", "data_fingerprint"),
        )
        manifest_path = path / "manifest.json"
        module_name, _, cls_name = str(manifest["class"]).rpartition(".")
        if not module_name.startswith("pulserec."):
            raise ArtifactError(f"{manifest_path}: field 'class' must be a pulserec model")
        cls = getattr(importlib.import_module(module_name), cls_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Recommender)):
            raise ArtifactError(
                f"{manifest_path}: field 'class' {manifest['class']!r} is not a model"
            )
        model = cls(**manifest["params"])
        npz_path = require_file(path, "model.npz", "the model arrays")
        with np.load(npz_path, allow_pickle=False) as z:
            names = set(z.files)
            model.user_items_ = _get_csr(z, "user_items")
            model.item_popularity_ = z["item_popularity"]
            for attr in model._state:
                key = f"state.{attr}"
                if key in names:
                    setattr(model, attr, z[key])
                elif f"{key}.indptr" in names:
                    setattr(model, attr, _get_csr(z, key))
                else:
                    raise ArtifactError(f"{npz_path}: array {attr!r} of {cls_name} is missing")
        model.n_users_, model.n_items_ = model.user_items_.shape
        model.fingerprint_ = str(manifest["data_fingerprint"])
        model._after_load()
        return model

    def _after_load(self) -> None:
        """Hook for models that derive caches from their saved arrays."""


def _put_csr(arrays: dict[str, np.ndarray], prefix: str, matrix: Any) -> None:
    """Store a sparse matrix as its CSR parts under ``prefix.*`` (npz holds no objects)."""
    csr = sp.csr_matrix(matrix)
    arrays[f"{prefix}.data"] = csr.data
    arrays[f"{prefix}.indices"] = csr.indices
    arrays[f"{prefix}.indptr"] = csr.indptr
    arrays[f"{prefix}.shape"] = np.asarray(csr.shape, dtype=np.int64)


def _get_csr(z: Any, prefix: str) -> sp.csr_matrix:
    """The CSR matrix :func:`_put_csr` stored under ``prefix``."""
    shape = tuple(int(x) for x in z[f"{prefix}.shape"])
    return sp.csr_matrix(
        (z[f"{prefix}.data"], z[f"{prefix}.indices"], z[f"{prefix}.indptr"]), shape=shape
    )


def _mask(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """Set ``scores[r, c] = -inf`` for every stored entry of ``rows``."""
    rows = sp.csr_matrix(rows)
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = -np.inf
