"""The real language-model encoders on real news text (MIND English, xMIND Chinese).

Each model is loaded once per session. Thresholds sit well below what
``benchmarks/text_encoders.py`` measures on the full data, so they catch a broken model,
tokenizer or pooling, not a small drift.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pulserec.text import CachedEncoder, TextEncoder, make_encoder

pytestmark = pytest.mark.integration

N_PAIRS = 10
MODEL_NAMES = ["use-m3", "minilm", "e5-small"]
MULTILINGUAL = ["use-m3", "e5-small"]


@pytest.fixture(scope="session")
def title_pairs(dataset_dir: Callable[[str], Path]) -> list[tuple[str, str]]:
    """The first English MIND titles that have a Chinese xMIND translation, with it."""
    zh: dict[str, str] = {}
    with (dataset_dir("xmind-cmn-small-dev") / "news.tsv").open(encoding="utf-8") as handle:
        next(handle)  # header: nid, title, abstract
        for line in handle:
            nid, title, *_ = line.rstrip("\n").split("\t")
            if title.strip():
                zh[nid] = title
    pairs: list[tuple[str, str]] = []
    with (dataset_dir("mind-small-sample") / "news.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            cols = line.split("\t")
            if cols[0] in zh:
                pairs.append((cols[3], zh[cols[0]]))
                if len(pairs) == N_PAIRS:
                    break
    assert len(pairs) == N_PAIRS, "mind-small-sample and xmind-cmn-small-dev barely overlap"
    return pairs


@pytest.fixture(scope="session")
def get_encoder() -> Callable[[str], TextEncoder]:
    """``get_encoder(name)``: each real encoder is built, and so loaded, once per session."""
    return functools.cache(make_encoder)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shape_dtype_norms_and_empty_text(
    name: str, get_encoder: Callable[[str], TextEncoder]
) -> None:
    encoder = get_encoder(name)
    vectors = encoder.encode(["A short English sentence.", "", "一个简短的中文句子。"])
    assert vectors.shape == (3, encoder.dim)
    assert vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 2]], 1.0, rtol=1e-5)
    assert norms[1] == 0.0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batch_equals_single(
    name: str, get_encoder: Callable[[str], TextEncoder], title_pairs: list[tuple[str, str]]
) -> None:
    encoder = get_encoder(name)
    texts = [en for en, _ in title_pairs[:4]] + [zh for _, zh in title_pairs[:2]]
    batched = encoder.encode(texts, batch_size=3)
    single = np.concatenate([encoder.encode([text]) for text in texts])
    # Padding within a batch may move a quantised model's output in the last digits only.
    np.testing.assert_allclose((batched * single).sum(axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize("name", MULTILINGUAL)
def test_translation_is_nearer_than_unrelated_titles(
    name: str, get_encoder: Callable[[str], TextEncoder], title_pairs: list[tuple[str, str]]
) -> None:
    encoder = get_encoder(name)
    en = encoder.encode([en for en, _ in title_pairs], kind="query")
    zh = encoder.encode([zh for _, zh in title_pairs], kind="query")
    sims = en @ zh.T
    own = np.diag(sims)
    unrelated = sims[~np.eye(N_PAIRS, dtype=bool)].reshape(N_PAIRS, N_PAIRS - 1)
    # Every translation beats the average unrelated Chinese title by a margin (E5 cosines
    # crowd into 0.7-0.9, so the margin is small in absolute terms)...
    assert np.all(own > unrelated.mean(axis=1) + 0.03), np.round(sims, 2)
    # ...and is the nearest of all ten for most titles.
    assert (sims.argmax(axis=1) == np.arange(N_PAIRS)).sum() >= N_PAIRS - 2, np.round(sims, 2)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_paraphrase_is_nearer_than_an_unrelated_sentence(
    name: str, get_encoder: Callable[[str], TextEncoder]
) -> None:
    a, b, c = get_encoder(name).encode(
        [
            "The central bank raised interest rates to fight inflation.",
            "To curb rising prices, the Fed increased borrowing costs.",
            "The quarterback threw three touchdowns in the second half.",
        ]
    )
    assert a @ b > a @ c + 0.1
    assert a @ b > b @ c + 0.1


def test_e5_query_and_passage_prefixes_differ(
    get_encoder: Callable[[str], TextEncoder],
) -> None:
    encoder = get_encoder("e5-small")
    texts = ["best hiking trails near Seattle", "华盛顿州的徒步路线", "cheap flights"]
    query = encoder.encode(texts, kind="query")
    passage = encoder.encode(texts, kind="passage")
    agreement = (query * passage).sum(axis=1)
    assert np.all(agreement < 0.9999)
    assert np.all(agreement > 0.8)


def test_cache_returns_the_real_model_vectors(
    tmp_path: Path, get_encoder: Callable[[str], TextEncoder], title_pairs: list[tuple[str, str]]
) -> None:
    encoder = get_encoder("use-m3")
    texts = [zh for _, zh in title_pairs[:5]]
    fresh = encoder.encode(texts)
    with CachedEncoder(encoder, tmp_path) as cached:
        np.testing.assert_array_equal(cached.encode(texts), fresh)
    with CachedEncoder(encoder, tmp_path) as reopened:
        np.testing.assert_array_equal(reopened.encode(texts), fresh)
        assert (reopened.hits, reopened.misses) == (5, 0)
