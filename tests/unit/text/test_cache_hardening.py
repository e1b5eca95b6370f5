"""The embedding cache under input that valid text never holds, and its file modes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pulserec.text import CachedEncoder, HashingEncoder
from pulserec.text.cache import text_key


def test_text_key_is_the_sha256_of_kind_nul_text() -> None:
    assert text_key("jazz ✓", "query") == hashlib.sha256("query\x00jazz ✓".encode()).digest()


def test_text_key_of_an_unpaired_surrogate_is_stable_and_distinct() -> None:
    # JSON decoding lets "\ud800" through; the key must not raise on it
    key = text_key("nice \ud800", "passage")
    assert key == hashlib.sha256(b"passage\x00nice \xed\xa0\x80").digest()
    assert key != text_key("nice \ufffd", "passage")


def test_the_cache_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with CachedEncoder(HashingEncoder(dim=8), tmp_path / "embeddings") as cached:
            cached.encode(["a comment a user wrote"])
            names = sorted(p.name for p in cached.cache_dir.iterdir())
            modes = {p.name: p.stat().st_mode & 0o777 for p in cached.cache_dir.iterdir()}
        assert names == ["embeddings.sqlite3", "embeddings.sqlite3-shm", "embeddings.sqlite3-wal"]
        assert set(modes.values()) == {0o600}
        assert (tmp_path / "embeddings").stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old)


def test_forget_removes_the_vectors_bytes_from_the_cache_files(tmp_path: Path) -> None:
    texts = [f"an ordinary query {j}" for j in range(300)]
    secret = "a comment only zelda wrote 5e2b"
    with CachedEncoder(HashingEncoder(dim=64), tmp_path) as cached:
        cached.encode(texts[:150], kind="query")
        vector = cached.encode([secret], kind="query")[0].astype("<f4").tobytes()
        cached.encode(texts[150:], kind="query")
        files = [cached.path, cached.path.with_name(cached.path.name + "-wal")]
        marks = [text_key(secret, "query"), vector]

        def held() -> list[bool]:
            blobs = b"".join(f.read_bytes() for f in files if f.exists())
            return [mark in blobs for mark in marks]

        assert held() == [True, True]
        assert cached.forget([secret, "never cached"], kind="passage") == 0  # another kind
        assert cached.forget([secret, "never cached"], kind="query") == 1
        assert held() == [False, False]
        assert len(cached) == 300
        cached.reset_stats()
        cached.encode([secret], kind="query")
        assert cached.misses == 1  # encoded again when next asked for
