"""Drive a real ``pulserec serve --demo`` with simulated shoppers under an experiment, then
screenshot the dashboard's online panel.

    python benchmarks/online_dashboard.py --work-dir /tmp/pulserec-online-dash \
        --seconds 300 --screenshot docs/img/dashboard-online.png

Each simulated shopper likes one category of the demo catalog. Every few hundred
milliseconds one shopper asks for recommendations (``placement=home``); they click the
best-placed item of their category with a chance falling with its position (0.6 at the
top, times 0.85 per place below), sending the list's ``recommendation_id``; a click is
followed by a purchase one time in five. The experiment compares real-time interest
capture on and off. Three steps in ten a shopper instead views an item of their category
on their own (no list led to it). With real-time capture on, what a shopper does turns
their next lists to their category, so CTR should come out higher. Everything goes
through HTTP.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "online-dash-key-3c9e"
HEADERS = {"X-API-Key": KEY}
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {"PULSEREC_API_KEYS": f"{KEY}:ingest+read+admin"}
    cmd = [sys.executable, "-m", "pulserec.cli", "serve", "--demo", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(work), "--encoder", "hashing",
           "--no-access-log", "--set", "engine.sequential=false"]  # fmt: skip
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit("the server did not start")


def shop(url: str, seconds: float, users: int, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as c:
        items: list[dict[str, Any]] = []
        while True:
            page = c.get(f"/v1/items?limit=100&offset={len(items)}").json()
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                break
        categories = sorted({cat for it in items for cat in it["categories"]})
        likes = {f"shopper-{i}": rng.choice(categories) for i in range(users)}
        r = c.post("/v1/admin/experiments", json={
            "name": "realtime", "horizon_users": users // 3, "variants": [
                {"name": "realtime-on", "share": 0.5},
                {"name": "realtime-off", "share": 0.5, "overrides": {"realtime": False}},
            ]})  # fmt: skip
        if r.status_code not in (201, 409):
            raise SystemExit(r.text)
        category_of = {it["item_id"]: set(it["categories"]) for it in items}
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            user = rng.choice(list(likes))
            if rng.random() < 0.3:  # browsing on their own: a view no list led to
                pick = rng.choice([i for i, cats in category_of.items() if likes[user] in cats])
                c.post("/v1/events", json={"user_id": user, "item_id": pick, "type": "view",
                                           "timestamp": time.time()})  # fmt: skip
                continue
            rec = c.get(f"/v1/users/{user}/recommendations?k=8&placement=home").json()
            for it in rec["items"]:
                if likes[user] in category_of.get(it["item_id"], set()):
                    if rng.random() < 0.6 * 0.85 ** (it["position"] - 1):
                        for kind in ("click", "purchase") if rng.random() < 0.2 else ("click",):
                            c.post("/v1/events", json={
                                "user_id": user, "item_id": it["item_id"], "type": kind,
                                "timestamp": time.time(),
                                "recommendation_id": rec["recommendation_id"],
                                "position": it["position"]})  # fmt: skip
                    break
            n += 1
            time.sleep(0.05)
        print(f"{n} lists served in {seconds:.0f} s")
        report = c.get("/v1/admin/experiments/realtime").json()
        for v in report["variants"]:
            print(f"  {v['name']:<14} users {v['users']:>4}  CTR {v['ctr']:.4f}")
        for cmp in report["comparisons"]:
            print(f"  {cmp['variant']} - {cmp['control']}: {cmp['diff']:+.4f} "
                  f"[{cmp['ci_low']:+.4f}, {cmp['ci_high']:+.4f}] p = {cmp['p_value']:.2g}")


def screenshot(url: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/dashboard#key={KEY}")
        page.wait_for_selector("#experiment tr:nth-child(2)", timeout=60_000)
        page.wait_for_selector("#ctr-time svg", timeout=60_000)
        time.sleep(1.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    print(f"screenshot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pulserec-online-dash"))
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--users", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    proc, url = start(args.work_dir)
    try:
        deadline = time.monotonic() + 600
        while httpx.get(f"{url}/v1/admin/status", headers=HEADERS).json()["training"]:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        shop(url, args.seconds, args.users, args.seed)
        if args.screenshot is not None:
            screenshot(url, args.screenshot)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

