"""The real server: ``pulserec serve`` in a subprocess, real HTTP on loopback, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_data import ADMIN_KEY, API_KEYS, catalog

from redisproc import free_port
from serverproc import ServerProcess

pytestmark = pytest.mark.integration

HEADERS = {"X-API-Key": ADMIN_KEY}


class Server(ServerProcess):
    """``pulserec serve`` on a free loopback port, over ``data_dir``."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        env = {"PULSEREC_API_KEYS": API_KEYS, "PULSEREC_ENCODER": "hashing"}
        super().__init__(["--data-dir", str(data_dir), "--no-access-log"], log, env)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Servers a test starts; any still running at the end are stopped."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def items_payload() -> dict[str, Any]:
    return {"items": [{"item_id": i.item_id, "title": i.title, "text": i.text,
                       "categories": list(i.categories)} for i in catalog()]}  # fmt: skip


def test_serve_ingests_and_recommends_over_real_http(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path / "data", tmp_path / "server.log")
    servers.append(server)
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10.0) as http:
        assert http.put("/v1/items", json=items_payload()).json() == {"upserted": 40}
        now = time.time()
        events = [{"user_id": "ana", "item_id": f"hiking-{j}", "type": "click",
                   "timestamp": now + j} for j in range(3)]  # fmt: skip
        r = http.post("/v1/events", json={"events": events})
        assert r.json() == {"accepted": 3, "duplicates": 0, "errors": []}
        rec = http.get("/v1/users/ana/recommendations", params={"k": 5}).json()
        assert len(rec["items"]) == 5
        assert all(i["item_id"].startswith("hiking-") for i in rec["items"])
        assert (
            http.get("/v1/users/ana/recommendations")
            .headers["content-type"]
            .startswith("application/json")
        )
        assert httpx.get(f"{server.url}/v1/admin/status").status_code == 401


def test_every_acknowledged_event_survives_kill_9(tmp_path: Path, servers: list[Server]) -> None:
    data = tmp_path / "data"
    server = Server(data, tmp_path / "server.log")
    servers.append(server)
    httpx.put(f"{server.url}/v1/items", json=items_payload(), headers=HEADERS, timeout=10.0)

    acked: list[dict[str, Any]] = []
    stop = threading.Event()

    def post_one_by_one() -> None:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=5.0) as http:
            n = 0
            while not stop.is_set():
                # each user cycles over 8 items of one topic, leaving 12 unseen
                user, topic = f"d{n % 5}", ("jazz", "hiking")[n % 5 % 2]
                event = {"user_id": user, "item_id": f"{topic}-{n // 5 % 8}", "type": "click",
                         "timestamp": time.time(), "event_id": f"e{n}"}  # fmt: skip
                try:
                    r = http.post("/v1/events", json=event)
                except httpx.TransportError:
                    return  # the server is gone mid-request: this event was never acknowledged
                if r.status_code == 200 and r.json()["accepted"] == 1:
                    acked.append(event)
                n += 1

    client = threading.Thread(target=post_one_by_one)
    client.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # mid-stream: requests are in flight
    stop.set()
    assert server.proc.returncode == -signal.SIGKILL
    client.join(10)
    assert len(acked) >= 150, "the client barely got going"

    # every acknowledged event is in the log file, read directly
    with sqlite3.connect(data / "pulserec.db") as db:
        stored = {row[0] for row in db.execute("SELECT event_id FROM events")}
    assert {e["event_id"] for e in acked} <= stored

    restarted = Server(data, tmp_path / "server.log")
    servers.append(restarted)
    with httpx.Client(base_url=restarted.url, headers=HEADERS, timeout=10.0) as http:
        st = http.get("/v1/admin/status").json()
        assert len(acked) <= st["events"] <= len(acked) + 1  # at most one stored, never acked
        assert st["users"] == 5
        for u in range(5):
            mine = [e for e in acked if e["user_id"] == f"d{u}"]
            interests = http.get(f"/v1/users/d{u}/interests").json()
            assert interests["n_events"] >= len(mine)
            assert mine[-1]["item_id"] in interests["recent_items"]
            # and the state drives recommendations: the user's topic, minus what they saw
            topic = mine[-1]["item_id"].split("-")[0]
            rec = http.get(f"/v1/users/d{u}/recommendations", params={"k": 5}).json()["items"]
            assert all(i["item_id"].startswith(topic) for i in rec)
            assert not {e["item_id"] for e in mine[-10:]} & {i["item_id"] for i in rec}


def keyless_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PULSEREC_")} | {
        "PULSEREC_ENCODER": "hashing"
    }


def test_without_keys_serve_makes_a_dev_key_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulserec.cli", "serve", "--port", str(port),
         "--data-dir", str(tmp_path / "data"), "--no-access-log"],
        env=keyless_env() | {"COLUMNS": "200"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        key = None
        printed: list[str] = []
        deadline = time.monotonic() + 30
        while not any("dashboard:" in p for p in printed) and time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            assert line, "the server exited before printing a key"
            printed.append(line)
            if "X-API-Key:" in line:
                key = line.split("X-API-Key:")[1].strip()
        assert key is not None and key.startswith("dev-") and len(key) > 20
        # the links carry the key in the fragment, which browsers never send to the server
        links = [p.split(": ", 1)[1].strip() for p in printed if "page:" in p or "board:" in p]
        assert [link.split(":", 2)[2] for link in links] == [
            f"{port}/#key={key}", f"{port}/dashboard#key={key}",
        ]  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        st = httpx.get(f"{url}/v1/admin/status", headers={"X-API-Key": key}, timeout=5.0)
        assert st.status_code == 200 and st.json()["events"] == 0
        assert httpx.get(f"{url}/v1/admin/status", timeout=5.0).status_code == 401
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_without_keys_serve_refuses_to_bind_beyond_loopback(tmp_path: Path, host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pulserec.cli", "serve", "--host", host,
         "--data-dir", str(tmp_path / "data")],
        env=keyless_env() | {"COLUMNS": "200"}, capture_output=True, timeout=60,
    )  # fmt: skip
    out = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 2, out
    assert f"refusing to bind {host}" in out and "PULSEREC_API_KEYS" in out
    assert not (tmp_path / "data").exists()  # nothing was opened


def test_serve_demo_without_the_demo_package_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pulserec.cli import app

    monkeypatch.setitem(sys.modules, "pulserec.demo", None)  # import fails as if absent
    monkeypatch.setenv("PULSEREC_API_KEYS", API_KEYS)
    result = CliRunner().invoke(app, ["serve", "--demo", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "--demo needs the demo data" in result.output
