"""API keys and their scopes.

A key grants one or more scopes: ``ingest`` (write events and items), ``read``
(recommendations, items, search, interests) and ``admin`` (train, status, metrics,
forgetting users). Keys come from ``PULSEREC_API_KEYS`` (``"key1:ingest+read+admin,key2:read"``)
and/or a file with one ``key:scope+scope`` per line. Only SHA-256 digests of the keys are
kept in memory.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

Scope = Literal["ingest", "read", "admin"]
"""What a key may do."""

SCOPES: Final[frozenset[str]] = frozenset(get_args(Scope))
"""Every scope."""

MIN_KEY_LEN: Final[int] = 8
"""Shorter keys are refused: they are guessable."""

LOOPBACK_NAMES: Final[frozenset[str]] = frozenset({"localhost", "ip6-localhost"})


class KeyConfigError(ValueError):
    """The configured keys are malformed; the message says where and how."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: a key (by a short fingerprint, never the key) and its scopes."""

    fingerprint: str
    scopes: frozenset[str]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_keys(spec: str, source: str = "PULSEREC_API_KEYS") -> dict[str, frozenset[str]]:
    """Parse ``"key1:ingest+read,key2:read"`` (commas or line breaks between entries).

    Raises
    ------
    KeyConfigError
        For an entry without scopes, an unknown scope, a short key or a key given twice.

    Examples
    --------
    >>> sorted(parse_keys("secret-one:read+ingest")["secret-one"])
    ['ingest', 'read']
    >>> parse_keys("secret-two:write")
    Traceback (most recent call last):
    ...
    pulserec.service.keys.KeyConfigError: PULSEREC_API_KEYS, entry 1: unknown scope 'write'; \
expected some of admin, ingest, read
    """
    keys: dict[str, frozenset[str]] = {}
    entries = [e.strip() for line in spec.splitlines() for e in line.split(",")]
    for n, entry in enumerate((e for e in entries if e and not e.startswith("#")), start=1):
        where = f"{source}, entry {n}"
        key, sep, scope_list = entry.rpartition(":")
        if not sep or not key:
            raise KeyConfigError(f"{where}: expected 'key:scope+scope', got no ':' separator")
        if len(key) < MIN_KEY_LEN or not key.isprintable() or key != key.strip():
            raise KeyConfigError(
                f"{where}: a key must be at least {MIN_KEY_LEN} printable characters "
                "without outer whitespace"
            )
        scopes = {s.strip() for s in scope_list.split("+") if s.strip()}
        unknown = sorted(scopes - SCOPES)
        if unknown or not scopes:
            shown = repr(unknown[0]) if unknown else "(none)"
            raise KeyConfigError(
                f"{where}: unknown scope {shown}; expected some of {', '.join(sorted(SCOPES))}"
            )
        if key in keys:
            raise KeyConfigError(f"{where}: the key is given twice")
        keys[key] = frozenset(scopes)
    return keys


class Keyring:
    """The keys a server accepts.

    Examples
    --------
    >>> ring = Keyring({"secret-key": frozenset({"read"})})
    >>> ring.lookup("secret-key").scopes == {"read"}, ring.lookup("other-key")
    (True, None)
    """

    def __init__(self, keys: dict[str, frozenset[str]]) -> None:
        self._by_digest = {_digest(k): Principal(_digest(k).hex()[:8], s) for k, s in keys.items()}

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, key: str) -> Principal | None:
        """The principal of a presented key, or None for an unknown one."""
        # Comparing digests, not keys, keeps lookup time independent of how much of a
        # guessed key is right.
        return self._by_digest.get(_digest(key))

    @classmethod
    def from_sources(cls, spec: str, path: Path | None) -> Keyring:
        """Keys from the settings string and, when given, a keys file (both are merged)."""
        keys = parse_keys(spec)
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise KeyConfigError(f"api_keys_file: cannot read {path}: {exc}") from exc
            for key, scopes in parse_keys(text, source=str(path)).items():
                if key in keys:
                    raise KeyConfigError(f"{path}: a key is also given in PULSEREC_API_KEYS")
                keys[key] = scopes
        return cls(keys)


def generate_dev_key() -> str:
    """A fresh random key for a local development server."""
    return "dev-" + secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``.

    Examples
    --------
    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.0.0.2")]
    [True, True, True, False, False]
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def scopes_text(scopes: Iterable[str]) -> str:
    """``"admin+ingest+read"``: the form the settings use."""
    return "+".join(sorted(scopes))
