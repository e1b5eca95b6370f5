"""DELETE /v1/users/{id} through real HTTP: afterwards no read path and no byte on disk
can tell the user existed, before and after a restart.

The user is one of the built-in demo's, part of the trained models, with a comment whose
text appears nowhere else.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from service_data import ADMIN_KEY, API_KEYS

from serverproc import ServerProcess

pytestmark = pytest.mark.integration

HEADERS = {"X-API-Key": ADMIN_KEY}
WHO = "demo-user-042"
COMMENT = "qzx-unique-comment-7731 about this lovely tea"
ENV = {
    "PULSEREC_API_KEYS": API_KEYS,
    "PULSEREC_ENCODER": "hashing",
    "PULSEREC_ENGINE__SEQUENTIAL": "false",
}


def listing(server: ServerProcess, user_id: str) -> list[tuple[str, float, str]]:
    r = httpx.get(
        f"{server.url}/v1/users/{user_id}/recommendations", params={"k": 10}, headers=HEADERS
    )
    assert r.status_code == 200, r.text
    return [(i["item_id"], round(i["score"], 6), i["reason"]) for i in r.json()["items"]]


def holding(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_deleted_user_leaves_no_trace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(["--demo", "--data-dir", str(data)], tmp_path / "a.log", ENV, 120)
    try:
        models = httpx.get(f"{server.url}/v1/admin/status", headers=HEADERS).json()
        assert models["model_version"] != "untrained"
        comment = {
            "user_id": WHO, "item_id": "en-tea-001", "type": "comment", "text": COMMENT,
            "timestamp": time.time(),
        }  # fmt: skip
        r = httpx.post(f"{server.url}/v1/events", json=comment, headers=HEADERS)
        assert r.status_code == 200 and r.json()["accepted"] == 1
        assert listing(server, WHO) != listing(server, "never-seen-user")
        assert holding(data, WHO.encode()) and holding(data, COMMENT.encode())

        r = httpx.delete(f"{server.url}/v1/users/{WHO}", headers=HEADERS)
        assert r.status_code == 200 and r.json()["deleted_events"] > 30, r.text
        got = httpx.get(f"{server.url}/v1/users/{WHO}/interests", headers=HEADERS)
        assert got.status_code == 404
        # database, its WAL, the served-list log, every artifact; checked before the next
        # request for this id, which is logged anew like any user's
        assert holding(data, WHO.encode()) == []
        assert holding(data, COMMENT.encode()) == []
        assert listing(server, WHO) == listing(server, "never-seen-user")
    finally:
        server.stop()

    assert holding(data, COMMENT.encode()) == []
    again = ServerProcess(["--data-dir", str(data)], tmp_path / "b.log", ENV, 120)
    try:
        assert listing(again, WHO) == listing(again, "never-seen-user")
        assert holding(data, COMMENT.encode()) == []
    finally:
        again.stop()
