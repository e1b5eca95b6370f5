"""Sentiment of what users write: a logistic regression on text embeddings.

The classifier is deliberately light: the language model (the encoder) does the reading, and a
linear layer over its embedding says how positive a text is. It is written in numpy and fitted
with L-BFGS (scipy), with class weights for the heavy imbalance of real reviews (far more
5-star than 1-star ones). Saved as ``.npz`` + JSON manifest, no pickle.

A trained default ships inside the package (``pulserec/text/data/sentiment-use-m3``), fitted by
``benchmarks/train_sentiment.py`` on Amazon All_Beauty reviews (4-5 stars positive, 1-2 stars
negative, 3 stars left out) with the multilingual ``use-m3`` encoder, so it also reads Chinese.

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
>>> model = SentimentModel(encoder="hashing", C=10.0).fit_vectors(x, [1, 1, 0, 0])
>>> model.predict_proba_vectors(np.array([[1.0, 0.0], [0.0, 1.0]])).round(2).tolist()
[0.9, 0.1]
"""

from __future__ import annotations

import importlib.resources
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final, Self

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

from pulserec.manifest import read_manifest, require_file, write_manifest
from pulserec.text.base import TextEncoder
from pulserec.text.encoders import DEFAULT_ENCODER, make_encoder

SENTIMENT_FORMAT: Final[str] = "pulserec-sentiment"
SENTIMENT_FORMAT_VERSION: Final[int] = 1
DEFAULT_SENTIMENT_DIR: Final[str] = "sentiment-use-m3"
"""Folder of the shipped model under ``pulserec/text/data``."""


def star_labels(stars: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary sentiment labels from star ratings: 4-5 positive, 1-2 negative, 3 left out.

    A 3-star review mixes praise and complaint in roughly equal measure; as a training label
    it would only blur the boundary, so it is dropped rather than called either side.

    Returns
    -------
    keep : ndarray of bool
        Which ratings got a label (not 3 stars, not NaN).
    labels : ndarray of int64
        1 positive, 0 negative, for the kept ratings only.

    Examples
    --------
    >>> keep, labels = star_labels([5, 3, 1, 4, 2])
    >>> keep.tolist(), labels.tolist()
    ([True, False, True, True, True], [1, 0, 1, 0])
    """
    s = np.asarray(stars, dtype=np.float64)
    keep = (s >= 4) | (s <= 2)
    return keep, (s[keep] >= 4).astype(np.int64)


class SentimentModel:
    """Probability that a text is positive, from its embedding.

    Parameters
    ----------
    encoder : str or TextEncoder
        The encoder, or its registry name (built on first use). A loaded model must use the
        encoder it was trained with.
    C : float
        Inverse L2 strength, as in scikit-learn: the loss is
        ``C * sum(weight_i * logloss_i) + 0.5 * ||w||^2`` (the intercept is not penalised).
    class_weight : {"balanced", None}
        ``"balanced"`` weights each class by ``n / (2 * n_class)``, so the rare class counts
        as much as the common one.
    max_iter : int
        L-BFGS iterations.

    Attributes
    ----------
    coef_ : ndarray, shape (dim,), float64
    intercept_ : float
    n_iter_ : int
        L-BFGS iterations used.
    metadata_ : dict
        Free-form facts stored in the manifest (training data, held-out metrics).
    """

    def __init__(
        self,
        encoder: str | TextEncoder = DEFAULT_ENCODER,
        *,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 1000,
    ) -> None:
        self.encoder = encoder
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.metadata_: dict[str, Any] = {}

    # -- encoder ---------------------------------------------------------------------
    @property
    def encoder_name(self) -> str:
        """Registry name of the encoder."""
        return self.encoder if isinstance(self.encoder, str) else self.encoder.name

    def _encoder(self) -> TextEncoder:
        if isinstance(self.encoder, str):
            self.encoder = make_encoder(self.encoder)
        return self.encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The embeddings the model reads (its encoder's ``encode``)."""
        return self._encoder().encode(texts)

    # -- fitting ---------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> Self:
        """Embed ``texts`` and fit on ``labels`` (1 or True = positive, 0 or False = negative)."""
        return self.fit_vectors(self.encode(texts), labels)

    def fit_vectors(
        self,
        vectors: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Fit on precomputed embeddings (e.g. from a :class:`~pulserec.text.CachedEncoder`).

        Parameters
        ----------
        vectors : ndarray, shape (n, dim)
        labels : array of {0, 1} or bool, shape (n,)
        sample_weight : ndarray, shape (n,), optional
            Multiplies the class weights.
        """
        x = np.asarray(vectors, dtype=np.float64)
        y = np.asarray(labels)
        if y.dtype == bool:
            y = y.astype(np.int64)
        if x.ndim != 2 or len(y) != x.shape[0]:
            raise ValueError(
                f"vectors/labels: expected (n, dim) vectors and n labels, got {x.shape} "
                f"and {len(y)}"
            )
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"labels: expected 0/1 or bool, got values {np.unique(y)[:5]}")
        y = y.astype(np.float64)
        n_pos = float(y.sum())
        if n_pos in (0.0, float(len(y))):
            raise ValueError("labels: both classes are needed, got only one")
        weight = np.ones(len(y))
        if self.class_weight == "balanced":
            n = float(len(y))
            weight = np.where(y == 1.0, n / (2.0 * n_pos), n / (2.0 * (n - n_pos)))
        elif self.class_weight is not None:
            raise ValueError(
                f"class_weight: expected 'balanced' or None, got {self.class_weight!r}"
            )
        if sample_weight is not None:
            weight = weight * np.asarray(sample_weight, dtype=np.float64)
        c = float(self.C)
        dim = x.shape[1]

        def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = params[:dim], params[dim]
            z = x @ w + b
            # log(1 + e^z) - y z, computed without overflow for large |z|.
            loss = c * float(weight @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * float(w @ w)
            residual = c * weight * (expit(z) - y)
            grad = np.empty_like(params)
            grad[:dim] = x.T @ residual + w
            grad[dim] = residual.sum()
            return loss, grad

        # Each step is two matrix-vector products: memory-bound work that BLAS threads do not
        # speed up, and that they slow down many times over on a busy machine.
        with threadpool_limits(1, "blas"):
            result = minimize(
                loss_and_grad,
                np.zeros(dim + 1),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": self.max_iter},
            )
        self.coef_ = result.x[:dim].copy()
        self.intercept_ = float(result.x[dim])
        self.n_iter_ = int(result.nit)
        return self

    # -- predicting ------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("SentimentModel: call fit() or load() before predicting")

    def decision_function_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Log-odds of positive for precomputed embeddings."""
        self._check_fitted()
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef_.shape[0]:
            raise ValueError(
                f"vectors: expected shape (n, {self.coef_.shape[0]}), got {x.shape}; "
                f"was it embedded with {self.encoder_name!r}?"
            )
        return np.asarray(x @ self.coef_ + self.intercept_, dtype=np.float64)

    def predict_proba_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """P(positive) for precomputed embeddings, float64 ``(n,)``."""
        return np.asarray(expit(self.decision_function_vectors(vectors)))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive) of each text, float64 ``(n,)``.

        An empty text embeds to the zero vector and so gets ``sigmoid(intercept)``.
        """
        self._check_fitted()
        return self.predict_proba_vectors(self.encode(texts))

    def predict(self, texts: Sequence[str], threshold: float = 0.5) -> np.ndarray:
        """True where P(positive) is at least ``threshold``."""
        return self.predict_proba(texts) >= threshold

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``sentiment.npz`` (weights) and ``manifest.json`` into directory ``path``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(
            path / "sentiment.npz",
            coef=self.coef_.astype(np.float32),
            intercept=np.asarray([self.intercept_], dtype=np.float64),
        )
        manifest = {
            "encoder": self.encoder_name,
            "dim": int(self.coef_.shape[0]),
            "params": {"C": self.C, "class_weight": self.class_weight, "max_iter": self.max_iter},
            "labels": {"1": "positive", "0": "negative"},
            "created_at": time.time(),
            "metadata": self.metadata_,
        }
        write_manifest(
            path, manifest, format=SENTIMENT_FORMAT, format_version=SENTIMENT_FORMAT_VERSION
        )
        return path

    @classmethod
    def load(cls, path: str | Path, encoder: TextEncoder | None = None) -> SentimentModel:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The model directory.
        encoder : TextEncoder, optional
            An already built encoder to share (e.g. a cached one); it must have the name and
            dimension the model was trained with. By default the encoder is built by name on
            first use.
        """
        path = Path(path)
        manifest = read_manifest(
            path,
            format=SENTIMENT_FORMAT,
            versions=(SENTIMENT_FORMAT_VERSION,),
            required=("encoder", "dim"),
        )
        name, dim = str(manifest["encoder"]), int(manifest["dim"])
        if encoder is not None and (encoder.name != name or encoder.dim != dim):
            raise ValueError(
                f"encoder: the model was trained with {name!r} ({dim}-d), "
                f"got {encoder.name!r} ({encoder.dim}-d)"
            )
        model = cls(encoder if encoder is not None else name, **manifest.get("params", {}))
        with np.load(require_file(path, "sentiment.npz", "the weights"), allow_pickle=False) as z:
            model.coef_ = z["coef"].astype(np.float64)
            model.intercept_ = float(z["intercept"][0])
        model.n_iter_ = 0
        model.metadata_ = dict(manifest.get("metadata", {}))
        return model

    @classmethod
    def default(cls, encoder: TextEncoder | None = None) -> SentimentModel:
        """The model shipped with pulserec (``use-m3``, trained on Amazon reviews)."""
        resource = importlib.resources.files("pulserec.text") / "data" / DEFAULT_SENTIMENT_DIR
        with ExitStack() as stack:
            folder = stack.enter_context(importlib.resources.as_file(resource))
            return cls.load(folder, encoder)
