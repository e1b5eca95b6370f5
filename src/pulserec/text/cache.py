"""An on-disk embedding cache that makes re-encoding a catalog incremental.

Vectors are stored in one SQLite database (WAL mode) under the cache directory, one row per
(encoder name, dim, sha256 of kind and text), the vector as raw little-endian float32 bytes.
SQLite was chosen over ``.npy`` shards plus an index because each batch of new vectors is
committed in one transaction: a crash mid-write loses at most that batch and never leaves an
index pointing at a half-written shard, and concurrent writers (threads here, or other
processes) are serialised by SQLite itself. No pickle is involved.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import numpy as np
from tqdm import tqdm

from pulserec.storage.files import private_dir, private_file
from pulserec.text.base import (
    DEFAULT_BATCH_SIZE,
    FloatMatrix,
    Kind,
    TextEncoder,
    check_encode_args,
)

CACHE_FILE: Final[str] = "embeddings.sqlite3"
"""Name of the database file inside the cache directory."""

_SCHEMA: Final[str] = """
CREATE TABLE IF NOT EXISTS embeddings (
    encoder TEXT NOT NULL,
    dim INTEGER NOT NULL,
    key BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (encoder, dim, key)
) WITHOUT ROWID
"""
# SQLite builds before 3.32 allow at most 999 bound parameters per statement.
_LOOKUP_CHUNK: Final[int] = 900


def text_key(text: str, kind: Kind) -> bytes:
    """The cache key of one text: sha256 of ``kind``, a NUL separator and the UTF-8 text.

    The separator keeps ``("query", "x")`` and ``("queryx", "")``-style pairs apart. A
    text with an unpaired surrogate (which JSON decoding can let through) still gets a key:
    ``surrogatepass`` encodes it, and leaves the key of every valid text unchanged.
    """
    return hashlib.sha256(f"{kind}\x00{text}".encode("utf-8", "surrogatepass")).digest()


class CachedEncoder(TextEncoder):
    """Wraps a :class:`~pulserec.text.base.TextEncoder` with a persistent embedding cache.

    Only texts not seen before (for this encoder name, ``dim`` and ``kind``) are sent to the
    wrapped encoder; the rest are read from disk, so re-indexing a catalog after a few items
    changed costs a few encodes. The cache takes the wrapped encoder's ``name`` and ``dim``.

    Parameters
    ----------
    encoder : TextEncoder
        The encoder that computes vectors on a miss.
    cache_dir : str or path-like
        Directory of the cache database; created on first use. Several encoders may share
        one directory.
    chunk_size : int
        Missing texts are encoded and committed this many at a time, so a crash during a
        long job keeps everything committed before it.

    Attributes
    ----------
    hits : int
        Texts served from the cache since construction (or :meth:`reset_stats`).
    misses : int
        Texts that were not in the cache when asked for, and so were encoded. A text
        repeated within one call counts once per occurrence but is encoded once.

    Examples
    --------
    >>> import tempfile
    >>> from pulserec.text import HashingEncoder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with CachedEncoder(HashingEncoder(dim=16), tmp) as cached:
    ...         _ = cached.encode(["a red shoe", "a blue hat"])
    ...         _ = cached.encode(["a red shoe", "a green scarf"])
    ...         (cached.hits, cached.misses)
    (1, 3)
    """

    def __init__(
        self, encoder: TextEncoder, cache_dir: str | os.PathLike[str], *, chunk_size: int = 1024
    ) -> None:
        self.encoder = encoder
        self.cache_dir = Path(cache_dir)
        self.chunk_size = chunk_size
        self.name = encoder.name
        self.dim = encoder.dim
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        """The cache database file."""
        return self.cache_dir / CACHE_FILE

    def _connection(self) -> sqlite3.Connection:
        """The open database, opened on first use (caller holds the lock)."""
        if self._conn is None:
            # embeddings of users' comments and queries: private, like the event log
            private_dir(self.cache_dir)
            private_file(self.path)
            # One connection shared by this object's threads, always used under self._lock;
            # autocommit mode so that `with conn:` blocks are the only transactions.
            conn = sqlite3.connect(
                self.path, timeout=30.0, check_same_thread=False, isolation_level=None
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL survives a process crash; only an OS crash can drop the last
                # commits, and the database stays consistent either way.
                conn.execute("PRAGMA synchronous=NORMAL")
                # forgotten vectors are overwritten, not only unlinked (see forget)
                conn.execute("PRAGMA secure_delete=ON")
                conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def encode(
        self,
        texts: Sequence[str],
        *,
        kind: Kind = "passage",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = False,
    ) -> FloatMatrix:
        """Embed ``texts``, reading known ones from the cache and storing new ones.

        Same contract as :meth:`pulserec.text.base.TextEncoder.encode`; ``progress`` shows
        a bar over the texts that have to be encoded.
        """
        if (
            isinstance(self.chunk_size, bool)
            or not isinstance(self.chunk_size, int)
            or (self.chunk_size < 1)
        ):
            raise ValueError(f"chunk_size: expected a positive integer, got {self.chunk_size!r}")
        items = check_encode_args(texts, kind, batch_size)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        keys = [text_key(text, kind) for text in items]
        found = self._lookup(sorted(set(keys)))

        missing: dict[bytes, list[int]] = {}
        for row, key in enumerate(keys):
            vector = found.get(key)
            if vector is None:
                missing.setdefault(key, []).append(row)
            else:
                out[row] = vector
        n_missed = sum(len(rows) for rows in missing.values())
        with self._lock:
            self.hits += len(items) - n_missed
            self.misses += n_missed

        todo = list(missing.items())
        with tqdm(
            total=len(todo), disable=not progress, unit="text", desc=f"encode {self.name}"
        ) as bar:
            for start in range(0, len(todo), self.chunk_size):
                chunk = todo[start : start + self.chunk_size]
                vectors = self.encoder.encode(
                    [items[rows[0]] for _, rows in chunk], kind=kind, batch_size=batch_size
                )
                self._store([key for key, _ in chunk], vectors)
                for (_, rows), vector in zip(chunk, vectors, strict=True):
                    out[rows] = vector
                bar.update(len(chunk))
        return out

    def _lookup(self, keys: list[bytes]) -> dict[bytes, FloatMatrix]:
        """Cached vectors of ``keys`` (absent keys are left out)."""
        found: dict[bytes, FloatMatrix] = {}
        n_bytes = self.dim * 4
        with self._lock:
            conn = self._connection()
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT key, vector FROM embeddings "
                    f"WHERE encoder = ? AND dim = ? AND key IN ({marks})",
                    (self.name, self.dim, *chunk),
                ).fetchall()
                for key, blob in rows:
                    # A row of the wrong length can only come from outside tampering; treat
                    # it as a miss so it is recomputed and overwritten.
                    if len(blob) == n_bytes:
                        found[key] = np.frombuffer(blob, dtype="<f4")
        return found

    def _store(self, keys: list[bytes], vectors: FloatMatrix) -> None:
        """Write one chunk of new vectors in a single transaction."""
        data = np.ascontiguousarray(vectors, dtype="<f4")
        rows = [(self.name, self.dim, key, data[i].tobytes()) for i, key in enumerate(keys)]
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (encoder, dim, key, vector) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def forget(self, texts: Sequence[str], *, kind: Kind = "passage") -> int:
        """Delete the cached vectors of ``texts`` (a user's comments and queries, when the
        user is forgotten); their bytes leave the cache's database and its WAL.

        Returns how many vectors were deleted (for this encoder's name and ``dim``). A text
        another user also wrote is simply encoded again when next asked for.
        """
        keys = sorted({text_key(text, kind) for text in texts})
        if not keys:
            return 0
        deleted = 0
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(keys), _LOOKUP_CHUNK):
                    chunk = keys[start : start + _LOOKUP_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    deleted += conn.execute(
                        "DELETE FROM embeddings WHERE encoder = ? AND dim = ? "
                        f"AND key IN ({marks})",
                        (self.name, self.dim, *chunk),
                    ).rowcount
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if deleted:
                # the WAL's older frames still hold the rows: empty it into the database
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    def __len__(self) -> int:
        """Number of vectors cached for this encoder's name and ``dim``."""
        with self._lock:
            (count,) = (
                self._connection()
                .execute(
                    "SELECT COUNT(*) FROM embeddings WHERE encoder = ? AND dim = ?",
                    (self.name, self.dim),
                )
                .fetchone()
            )
        return int(count)

    def reset_stats(self) -> None:
        """Set :attr:`hits` and :attr:`misses` back to zero."""
        with self._lock:
            self.hits = 0
            self.misses = 0

    def close(self) -> None:
        """Close the database; a later ``encode`` reopens it."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, cache_dir={str(self.cache_dir)!r})"
