"""The web pages in a real headless browser against a real ``pulserec serve --demo``.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; both must be installed
(``apt-get install chromium``, ``pip install playwright``): the test fails without them,
it never skips. Screenshots go to pytest's temporary folder, and also to ``docs/img/``
when ``PULSEREC_SAVE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PULSEREC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
KEY = "e2e-admin-key-5d1f0b7a"
TOPIC = "tea"
OTHER = "music"
ENCODER = "use-m3"


@dataclass
class Server:
    """A running ``pulserec serve --demo``."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def assert_key_not_logged(self) -> None:
        """The access log (on) shows the pages' requests and never the key."""
        text = self.log.read_text(errors="replace")
        assert '"GET / HTTP/1.1" 200' in text or '"GET /dashboard HTTP/1.1" 200' in text
        assert KEY not in text, "the API key must never reach the server's log"

    def get(self, path: str) -> Any:
        """GET a JSON route with the admin key."""
        response = httpx.get(f"{self.url}{path}", headers={"X-API-Key": KEY}, timeout=10)
        response.raise_for_status()
        return response.json()


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo server on a free loopback port over a fresh data directory."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    log = data_dir / "server.log"
    port = free_port()
    env = os.environ | {"PULSEREC_API_KEYS": f"{KEY}:admin+ingest+read"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pulserec.cli", "serve", "--demo", "--encoder", ENCODER,
             "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited early:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server was not ready after 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(url, data_dir, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright; a missing piece fails the test."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed (pip install playwright): {exc}")
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def save_screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Screenshot the page into ``tmp_path``, and into docs/img when asked to."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("PULSEREC_SAVE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "img" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return path


def topic_share(categories: list[str]) -> float:
    """Share of listed items (space-separated categories each) in ``TOPIC``."""
    assert categories, "no recommendations on the page"
    return sum(TOPIC in c.split() for c in categories) / len(categories)


def watch_errors(page: Any, expected_404: str) -> list[str]:
    """Collect the page's uncaught errors and failed requests.

    The one expected failure is a 404 of a URL ending in ``expected_404`` (a fresh user's
    interests, or the replay result before there is one; the page then says so). The
    browser logs it to the console, so failed loads are judged by their responses.
    """
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"console: {msg.text}")

    def on_response(response: Any) -> None:
        expected = response.status == 404 and response.url.endswith(expected_404)
        if response.status >= 400 and not expected:
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    return errors


def wait_refresh(page: Any, after: int) -> int:
    """Wait until the recommendations were redrawn more than ``after`` times."""
    page.wait_for_function(
        "n => Number(document.querySelector('#recs').dataset.refresh) > n", arg=after
    )
    return int(page.locator("#recs").get_attribute("data-refresh"))


def show_category(page: Any, category: str) -> None:
    """Browse one category and wait until only its items are on the page."""
    page.select_option("#category", category)
    page.wait_for_function(
        """topic => {
            const cards = [...document.querySelectorAll('#items .card')];
            return cards.length >= 4
                && cards.every(c => c.dataset.categories.split(' ').includes(topic));
        }""",
        arg=category,
    )


def rec_categories(page: Any) -> list[str]:
    """The categories of each recommended item, as the page shows them."""
    found: list[str] = page.eval_on_selector_all(
        "#recs li.rec", "els => els.map(e => e.dataset.categories)"
    )
    return found


def test_live_page_follows_three_clicks(server: Server, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors = watch_errors(page, "/interests")
    page.goto(f"{server.url}/#key={KEY}")
    assert "key=" not in page.url, "the key must leave the address bar"
    assert page.evaluate("localStorage.getItem('pulserec.apiKey')") == KEY

    page.click("#new-user")
    user = page.input_value("#user-id")
    assert user.startswith("web-")
    refreshes = wait_refresh(page, 0)
    assert "No events yet" in page.inner_text("#profile")

    # a first click elsewhere, so the list leans away from the topic
    page.wait_for_selector(f"#category option[value='{TOPIC}']", state="attached")
    show_category(page, OTHER)
    page.locator("#items .card").first.locator("[data-action=click]").click()
    refreshes = wait_refresh(page, refreshes)
    before = topic_share(rec_categories(page))

    # browse the topic's category and click three of its items
    show_category(page, TOPIC)
    cards = page.locator("#items .card")
    clicked = [cards.nth(i).get_attribute("data-item-id") for i in range(3)]
    for i in range(3):
        cards.nth(i).locator("[data-action=click]").click()
        refreshes = wait_refresh(page, refreshes)

    after = topic_share(rec_categories(page))
    assert after > before, (before, after)
    assert after >= 0.5, rec_categories(page)
    reasons = page.locator("#recs .reason").all_inner_texts()
    assert all(r.strip() for r in reasons)

    # the profile: the topic is among the short-term keywords, categories and topics
    assert TOPIC in page.locator("#profile .kw").all_inner_texts()
    assert TOPIC in page.locator("#profile .cats .chip").all_inner_texts()
    topic_labels = page.locator("#profile .bar-label").all_inner_texts()
    assert any(TOPIC in label for label in topic_labels), topic_labels
    assert page.inner_text("#n-events") == "4 events"
    assert page.locator("#timeline svg g.step").count() == 4

    # the page's actions were real events
    interests = server.get(f"/v1/users/{user}/interests")
    assert interests["n_events"] == 4
    assert interests["recent_items"][:3] == clicked[::-1]

    # a comment, then the diversity slider: both redraw the list
    card = cards.nth(3)
    card.locator("[data-action=comment]").click()
    card.locator(".comment input").fill("Lovely tea, I brew it every morning")
    card.locator(".comment button").click()
    refreshes = wait_refresh(page, refreshes)
    assert page.locator("#timeline svg g.step").count() == 5
    page.fill("#diversity", "0.8")
    page.dispatch_event("#diversity", "change")
    refreshes = wait_refresh(page, refreshes)
    varied = topic_share(rec_categories(page))
    assert varied < after, (after, varied)
    page.fill("#diversity", "0")
    page.dispatch_event("#diversity", "change")
    wait_refresh(page, refreshes)
    save_screenshot(page, "live-page.png", tmp_path)

    # a Chinese search finds the topic's items and is stored as the user's search
    page.fill("#search-q", "绿茶")
    page.click("#search-form button[type=submit]")
    page.wait_for_function(
        "q => document.querySelector('#page-info').textContent.includes(q)", arg="绿茶"
    )
    found = page.eval_on_selector_all("#items .card", "els => els.map(e => e.dataset.categories)")
    assert found and sum(TOPIC in c.split() for c in found) >= len(found) // 2, found
    assert "绿茶" in server.get(f"/v1/users/{user}/interests")["queries"]
    assert errors == []
    page.close()
    server.assert_key_not_logged()


def test_dashboard_shows_the_server(server: Server, browser: Any, tmp_path: Path) -> None:
    # an event now, so one user is active
    httpx.post(
        f"{server.url}/v1/events",
        headers={"X-API-Key": KEY},
        json={"user_id": "dash-user", "item_id": "en-tea-001", "type": "click",
              "timestamp": time.time()},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors = watch_errors(page, "/v1/admin/replay")
    page.goto(f"{server.url}/dashboard#key={KEY}")
    assert "key=" not in page.url, "the key must leave the address bar"
    page.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1")
    status = server.get("/v1/admin/status")
    assert page.inner_text("#items") == f"{status['items']:,}"
    assert int(page.inner_text("#active")) >= 1
    assert page.locator("#no-replay").is_visible()
    # the demo history is weeks old: what trends now is what the live page clicked
    trending = page.locator("#trending li.rec .rec-meta").all_inner_texts()
    assert len(trending) >= 3 and sum(TOPIC in t.split() for t in trending) >= 3, trending
    assert status["model_version"] in page.inner_text("#model")

    # a replay result appears on the next poll: the ml-100k figures of docs/realtime.md
    replay = {
        "dataset": "ml-100k", "protocol": "replay", "k": 10,
        "results": [
            {"name": "realtime-on", "seconds": 0.0, "metrics": {
                "hit@10": 0.2229, "ndcg@10": 0.1168, "mrr@10": 0.0848, "events": 20001}},
            {"name": "realtime-off", "seconds": 0.0, "metrics": {
                "hit@10": 0.0734, "ndcg@10": 0.0369, "mrr@10": 0.0259, "events": 20001}},
            {"name": "popularity", "seconds": 0.0, "metrics": {
                "hit@10": 0.0735, "ndcg@10": 0.0343, "mrr@10": 0.0227, "events": 20001}},
        ],
    }  # fmt: skip
    (server.data_dir / "replay.json").write_text(json.dumps(replay))
    page.wait_for_selector("#replay table")
    assert "3.0×" in page.inner_text("#replay .lift")
    assert "realtime-off" in page.inner_text("#replay table")

    # retrain from the button: a new model version gets served
    # the button is disabled while a refit runs: the first start's background refit (the
    # transformer) may still be running on a busy machine
    page.wait_for_function(
        "() => document.querySelector('#training').textContent === 'idle'", timeout=300_000
    )
    old_version = server.get("/v1/admin/status")["model_version"]
    page.click("#train")
    page.wait_for_function(
        "v => !document.querySelector('#model').textContent.includes(v)"
        " && document.querySelector('#training').textContent === 'idle'",
        arg=old_version,
        timeout=300_000,  # a refit with the transformer: minutes on a busy 2-core machine
    )
    assert server.get("/v1/admin/status")["model_version"] != old_version
    assert int(page.inner_text("#active")) >= 1, "activity is read from the log: refits keep it"
    page.wait_for_function("() => document.querySelector('#rate').textContent !== '–'")
    # in operator terms: validation Recall@10 / NDCG@10 of the serving version against the
    # previous one, the event rate, the catalog's growth; the blend internals on one line
    last = server.get("/v1/admin/status")["last_training"]
    page.wait_for_function(
        "v => document.querySelector('#quality-note').textContent.includes(v)",
        arg=last["previous_version"],
    )
    for key in ("recall@10", "ndcg@10"):
        cells = page.locator(f"#quality tr[data-metric='{key}'] td").all_inner_texts()
        assert cells[0] == f"{last['metrics'][key]:.4f}", cells
        assert cells[1] == f"{last['metrics'][f'previous_{key}']:.4f}", cells
    assert "since the last fit" in page.inner_text("#growth")
    assert "events in the last 15 min" in page.inner_text("#recent-events")
    assert "nll_before" in page.inner_text("#fit-details")
    save_screenshot(page, "dashboard.png", tmp_path)
    assert errors == []
    page.close()
    server.assert_key_not_logged()


def test_live_page_filter_box_and_promoted_slots(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors = watch_errors(page, "/interests")
    page.goto(f"{server.url}/#key={KEY}")
    page.click("#new-user")
    refreshes = wait_refresh(page, 0)

    def shown() -> list[dict[str, Any]]:
        ids = page.eval_on_selector_all("#recs li.rec", "els => els.map(e => e.dataset.itemId)")
        return [server.get(f"/v1/items/{item_id}") for item_id in ids]

    # the demo's shop placement: stocked products, two of ten slots sponsored
    page.wait_for_selector("#placement option[value='shop']", state="attached")
    page.select_option("#placement", "shop")
    refreshes = wait_refresh(page, refreshes)
    items = shown()
    assert len(items) == 10
    assert all(it["attributes"]["kind"] == "product" for it in items)
    assert all(it["attributes"]["stock"] > 0 for it in items)
    assert page.locator("#recs li.rec.promoted").count() == 2

    # a filter typed in the box narrows the list; a bad one says where it went wrong
    page.fill("#rec-filter", "item.price <")
    page.click("#filter-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#filter-error').textContent")
    assert "position 12" in page.inner_text("#filter-error")
    page.fill("#rec-filter", "item.price < 100 and item.brand != 'Bluebird'")
    page.click("#filter-form button[type=submit]")
    refreshes = wait_refresh(page, refreshes)
    items = shown()
    assert items and all(it["attributes"]["price"] < 100 for it in items)
    assert page.inner_text("#filter-error") == ""
    save_screenshot(page, "live-filter.png", tmp_path)
    # the one failed request was the bad filter's 422, shown on the page
    assert [e for e in errors if not e.startswith("422 ")] == []
    assert len(errors) == 1 and "filter=" in errors[0]
    page.close()
