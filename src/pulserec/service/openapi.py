"""The app's OpenAPI document with its own limits written in.

Routers are built once, at import, and serve every app; the limits are per app. So a
parameter or schema property bounded by a limit carries a marker naming the limit
(``{"x-pulserec-limit": "max_k"}``, see :func:`limit`), and :func:`install_limits`
replaces each marker with the app's bound the first time the document is built. The
bounds themselves are enforced by the handlers (through the ``LimitsDep`` dependency);
the document only describes them.

Examples
--------
>>> from pulserec.config import LimitSettings
>>> node = {"type": "integer", "minimum": 1, **limit("max_k")}
>>> apply_limits(node, LimitSettings(max_k=50))
>>> node
{'type': 'integer', 'minimum': 1, 'maximum': 50}
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI

from pulserec.config import LimitSettings
from pulserec.service.schemas import ID_PATTERN

LIMIT_KEY = "x-pulserec-limit"
"""The marker's key in a schema node."""

LimitName = Literal["id", "max_id_len", "max_text_len", "max_k", "max_batch"]
"""What a marker bounds: ``id`` is ``max_id_len`` plus the id pattern, ``max_batch`` bounds
the length of an array, the others bound a string's length or an integer's value."""


def limit(name: LimitName) -> dict[str, Any]:
    """The marker for ``json_schema_extra`` (or a schema dict) bounded by the limit ``name``."""
    return {LIMIT_KEY: name}


def apply_limits(node: Any, limits: LimitSettings) -> None:
    """Replace, in place, every marker under ``node`` with the bound of ``limits``."""
    if isinstance(node, list):
        for child in node:
            apply_limits(child, limits)
        return
    if not isinstance(node, dict):
        return
    name = node.pop(LIMIT_KEY, None)
    if name is not None:
        _bound(node, name, limits)
    for child in node.values():
        apply_limits(child, limits)


def _bound(node: dict[str, Any], name: str, limits: LimitSettings) -> None:
    for option in node.get("anyOf", ()):
        if isinstance(option, dict):
            _bound(option, name, limits)
    kind = node.get("type")
    if kind == "array":
        if name == "max_batch":
            node["maxItems"] = limits.max_batch
        elif isinstance(node.get("items"), dict):
            _bound(node["items"], name, limits)
    elif kind == "integer" and name == "max_k":
        node["maximum"] = limits.max_k
    elif kind == "string" and name in ("id", "max_id_len"):
        node["maxLength"] = limits.max_id_len
        if name == "id":
            node["pattern"] = ID_PATTERN
    elif kind == "string" and name == "max_text_len":
        node["maxLength"] = limits.max_text_len


def install_limits(app: FastAPI, limits: LimitSettings) -> None:
    """Make ``app.openapi()`` return the document with ``limits`` written in."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            apply_limits(build(), limits)  # build() stores the document in openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
