"""Schemathesis fuzzes every operation of the OpenAPI spec: no input may cause a 5xx.

Cases come from each operation's Hypothesis strategy, valid ones (positive) and ones that
break the schema (negative), and are sent in-process over ASGI with an admin key.
(``schemathesis.pytest.from_fixture`` is not used: with pytest 9 it fails on a removed
``Function._nodeid`` attribute.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from service_data import ADMIN_KEY, API_KEYS, seed

from pulserec.config import LimitSettings, Settings
from pulserec.service import create_app

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 20
CORE = {
    "POST /v1/events", "GET /v1/users/{user_id}/recommendations",
    "GET /v1/users/{user_id}/interests", "DELETE /v1/users/{user_id}", "PUT /v1/items",
    "GET /v1/items", "GET /v1/items/{item_id}/similar", "GET /v1/items/{item_id}",
    "DELETE /v1/items/{item_id}", "GET /v1/search", "POST /v1/admin/train",
    "GET /v1/admin/status", "GET /healthz", "GET /metrics",
}  # fmt: skip
"""The API's operations; the spec may hold more (pages), which are fuzzed as well."""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app's schema, served in-process over ASGI on a seeded, trained data dir."""
    data: Path = tmp_path_factory.mktemp("fuzz") / "data"
    app = create_app(
        Settings(
            data_dir=data,
            encoder="hashing",
            api_keys=API_KEYS,
            # small bounds, so the generator reaches them often
            limits=LimitSettings(max_batch=20, max_id_len=64, max_text_len=500),
        ),
        on_empty=seed,
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()  # runs the app's shutdown: storage closed


def fuzz(operation: Any, mode: GenerationMode, codes: set[int], server_errors: list[str]) -> None:
    """Send generated cases of one operation; record status codes and any 5xx."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a failure reproduces
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        # the key is always valid, so every case reaches the route instead of stopping at 401
        case.headers = {**(case.headers or {}), "X-API-Key": ADMIN_KEY}
        response = case.call()
        codes.add(response.status_code)
        if response.status_code >= 500:
            server_errors.append(f"{case.method} {case.formatted_path}: {response.text}")

    call()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_causes_a_server_error(api: Any, mode: GenerationMode) -> None:
    seen: dict[str, set[int]] = {}
    server_errors: list[str] = []
    no_negative: set[str] = set()
    for result in api.get_all_operations():
        operation = result.ok()
        try:
            fuzz(operation, mode, seen.setdefault(operation.label, set()), server_errors)
        except Unsatisfiable:
            # an operation without any input (e.g. /healthz) has no input that breaks it
            assert mode is GenerationMode.NEGATIVE, operation.label
            no_negative.add(operation.label)

    assert not server_errors, "\n".join(server_errors[:10])
    assert CORE <= set(seen)  # every operation of the spec was exercised
    if mode is GenerationMode.POSITIVE:
        # valid inputs reach the handlers, not only the validators
        for label in ("POST /v1/events", "PUT /v1/items", "GET /v1/users/{user_id}/recommendations",
                      "GET /v1/search", "GET /v1/items"):  # fmt: skip
            assert any(200 <= c < 300 for c in seen[label]), (label, seen[label])
    else:
        assert "GET /healthz" in no_negative
        assert not no_negative & (CORE - {"GET /healthz"})
        assert all(codes for label, codes in seen.items() if label not in no_negative)
        assert 422 in set().union(*seen.values())
