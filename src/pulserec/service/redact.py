"""Keeps API keys out of the server's logs.

The API takes its key only in the ``X-API-Key`` header, which no log records. But a key
can still reach a request line: a link with ``?key=...``, a client that sends the key as
a query parameter, a key pasted into a path. uvicorn's access log writes the request line
as it came, so :class:`KeyRedactingFilter`, installed on uvicorn's loggers for the app's
lifetime, rewrites each record first: the value of any query parameter named like a key
(``key``, ``api_key``, ``token``, ...) and any path or query part that *is* one of the
app's keys become ``[redacted]``.

Examples
--------
>>> from pulserec.service.keys import Keyring
>>> ring = Keyring({"secret-key-1": frozenset({"read"})})
>>> redact("/v1/items?limit=5&key=whatever", ring)
'/v1/items?limit=5&key=[redacted]'
>>> redact("/v1/users/secret-key-1/interests", ring)
'/v1/users/[redacted]/interests'
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import unquote

from pulserec.service.keys import Keyring

REDACTED: Final[str] = "[redacted]"

LOGGERS: Final[tuple[str, ...]] = ("uvicorn.access", "uvicorn.error")
"""The loggers that may write a request line."""

_SECRET_PARAM = re.compile(
    r"(?i)(?<![\w-])((?:x-)?api[-_]?key|key|(?:access[-_])?token|secret|password)=([^&#\s\"]*)"
)
_PART = re.compile(r"[^/?&=#;\s\"]+")


def redact(text: str, keyring: Keyring | None = None) -> str:
    """``text`` with secret query values, and every part that is one of ``keyring``'s
    keys, replaced by ``[redacted]``."""
    if "=" in text:
        text = _SECRET_PARAM.sub(_redact_value, text)
    if keyring is not None and len(keyring):
        text = _PART.sub(lambda m: REDACTED if _is_key(m.group(), keyring) else m.group(), text)
    return text


def _redact_value(match: re.Match[str]) -> str:
    return f"{match.group(1)}={REDACTED}" if match.group(2) else match.group()


def _is_key(part: str, keyring: Keyring) -> bool:
    # keys are at least 8 characters: shorter parts (most of a path) cost no hash
    return len(part) >= 8 and (
        keyring.lookup(part) is not None or keyring.lookup(unquote(part)) is not None
    )


class KeyRedactingFilter(logging.Filter):
    """A logging filter that redacts keys in a record's message and its string arguments.

    Parameters
    ----------
    keyring : Keyring, optional
        The app's keys: any part of a logged request line equal to one is redacted too.
    """

    def __init__(self, keyring: Keyring | None = None) -> None:
        super().__init__()
        self.keyring = keyring

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, self.keyring)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(a, self.keyring) if isinstance(a, str) else a for a in record.args
            )
        return True


def install(keyring: Keyring | None) -> KeyRedactingFilter:
    """Add a filter for ``keyring`` to uvicorn's loggers; :func:`uninstall` removes it."""
    found = KeyRedactingFilter(keyring)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(found)
    return found


def uninstall(found: KeyRedactingFilter) -> None:
    """Remove a filter :func:`install` added."""
    for name in LOGGERS:
        logging.getLogger(name).removeFilter(found)
