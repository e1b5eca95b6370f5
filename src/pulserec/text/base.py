"""The text encoder protocol: texts in, L2-normalised float32 vectors out.

Every language model in pulserec sits behind :class:`TextEncoder`, so the rest of the engine
(catalog indexing, text interests in the user state, cold-start retrieval) never depends on
which model is configured. Implementations live in :mod:`pulserec.text.encoders`; the on-disk
cache in :mod:`pulserec.text.cache` wraps any of them.

Conventions every implementation follows:

- ``encode`` returns a C-contiguous ``float32`` array of shape ``(len(texts), dim)``; zero
  texts give shape ``(0, dim)``.
- Rows are L2-normalised, so a dot product is the cosine similarity.
- A text that is empty or only whitespace maps to the **zero vector**. A model would otherwise
  embed the bare special tokens to one arbitrary point, making every text-less item look
  identical to every other; the zero vector has cosine 0 with everything, which is what
  "no information" should score.
- ``kind`` says which side of a retrieval pair a text is on. Asymmetric models (E5) prefix the
  text accordingly; symmetric models ignore it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Final, Literal, TypeAlias, get_args

import numpy as np
from numpy.typing import NDArray

Kind: TypeAlias = Literal["passage", "query"]
"""Which side of a retrieval pair a text is on: a stored document or a search query."""

KINDS: Final[tuple[str, ...]] = get_args(Kind)
"""Every accepted value of ``kind``."""

DEFAULT_BATCH_SIZE: Final[int] = 64
"""Texts per model call when the caller does not say otherwise."""

FloatMatrix: TypeAlias = NDArray[np.float32]


class TextEncoder(ABC):
    """Turns texts into L2-normalised embedding vectors.

    Attributes
    ----------
    name : str
        Registry name of the model (``"use-m3"``, ``"minilm"``...). Caches are keyed by it,
        so two encoders with the same name and ``dim`` must produce the same vectors.
    dim : int
        Length of every output vector.

    Examples
    --------
    >>> from pulserec.text import make_encoder
    >>> encoder = make_encoder("hashing")
    >>> vectors = encoder.encode(["red running shoes", ""])
    >>> vectors.shape == (2, encoder.dim), float(vectors[1] @ vectors[1])
    (True, 0.0)
    """

    name: str
    dim: int

    @abstractmethod
    def encode(
        self,
        texts: Sequence[str],
        *,
        kind: Kind = "passage",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = False,
    ) -> FloatMatrix:
        """Embed ``texts``.

        Parameters
        ----------
        texts : sequence of str
            The texts, in order. A bare ``str`` is rejected: wrap a single text in a list.
        kind : {"passage", "query"}
            ``"passage"`` for stored documents (item text, comments, reviews), ``"query"``
            for what a user types to search.
        batch_size : int
            Texts per model call; larger is faster up to memory limits.
        progress : bool
            Show a progress bar on stderr (useful for long indexing jobs).

        Returns
        -------
        numpy.ndarray
            ``float32`` array of shape ``(len(texts), dim)``; each row has unit L2 norm,
            except rows of empty or whitespace-only texts, which are all zeros.

        Raises
        ------
        TypeError
            If ``texts`` is a string or holds a non-string.
        ValueError
            If ``kind`` or ``batch_size`` is invalid.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def check_encode_args(texts: Sequence[str], kind: str, batch_size: int) -> list[str]:
    """Validate the arguments of :meth:`TextEncoder.encode` and return the texts as a list.

    Shared by implementations so that every encoder fails the same way on the same mistake.
    """
    if isinstance(texts, str | bytes):
        raise TypeError(
            "texts: expected a sequence of strings, got a single string; wrap it in a list"
        )
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}]: expected str, got {type(text).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {list(KINDS)}, got {kind!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    return items


def l2_normalise(vectors: FloatMatrix) -> FloatMatrix:
    """Scale each row of ``vectors`` to unit L2 norm in place; all-zero rows stay zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # Dividing by 1 leaves zero rows (empty texts) at zero instead of producing NaN.
    np.divide(vectors, np.where(norms > 0.0, norms, 1.0), out=vectors)
    return vectors
