"""The embedding cache under input that valid text never holds, and its file modes."""

from __future__ import annotations

import hashlib

from pulserec.text.cache import text_key


def test_text_key_is_the_sha256_of_kind_nul_text() -> None:
    assert text_key("jazz ✓", "query") == hashlib.sha256("query\x00jazz ✓".encode()).digest()


def test_text_key_of_an_unpaired_surrogate_is_stable_and_distinct() -> None:
    # JSON decoding lets "\ud800" through; the key must not raise on it
    key = text_key("nice \ud800", "passage")
    assert key == hashlib.sha256(b"passage\x00nice \xed\xa0\x80").digest()
    assert key != text_key("nice \ufffd", "passage")
