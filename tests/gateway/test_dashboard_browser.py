"""The dashboard in a real browser: Debian's Chromium, headless, driven by playwright.

Calls are made through wrapped sync and async clients (the chapters concurrently, with
asyncio.gather); the test then looks at the pages as a person does: the session's steps in
the tree, one waterfall bar per request, concurrent bars side by side, the hostile property
shown as text with no alert, and a page that updates by itself when a call arrives.
Screenshots of each page are saved under the test's tmp dir and their paths printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer

from .dashboard_seed import CHAPTERS, EVIL, SESSION_NAME, Seeded, seeded_gateway

__all__ = ["seeded_gateway"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh headless Chromium profile (never a downloaded browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard's browser tests need Debian's chromium "
            "(apt-get install -y chromium; scripts/test installs it)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not installed ({exc}): it is in tox.ini's test deps (pip install playwright)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _shot(page: Any, directory: Path, name: str, shots: list[Path]) -> None:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    shots.append(path)


def _box(page: Any, request_id: str) -> tuple[float, float]:
    box = page.locator(f'.waterfall .bar[data-request-id="{request_id}"]').bounding_box()
    assert box is not None and box["width"] > 0
    return float(box["x"]), float(box["x"] + box["width"])


def test_dashboard_as_a_person_sees_it(
    seeded_gateway: tuple[GatewayServer, Seeded], browser: Any, tmp_path: Path
) -> None:
    gw, data = seeded_gateway
    shots: list[Path] = []
    dialogs: list[str] = []
    page = browser.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # Overview: totals, three charts, the latest requests with the property as text.
    page.goto(gw.url + "/")
    tiles = dict(zip(page.locator(".tile span").all_inner_texts(), page.locator(".tile b").all_inner_texts(), strict=True))
    assert tiles["requests"] == "7" and tiles["sessions"] == "1"
    assert page.locator("svg.chart").count() == 3
    assert page.locator("svg.chart").first.bounding_box()["height"] > 50
    assert EVIL in page.locator("table.requests .chip .v").all_inner_texts()
    _shot(page, tmp_path, "overview", shots)

    # Sessions: the list, then click into the session by its name.
    page.goto(gw.url + "/sessions")
    assert page.get_by_role("link", name=SESSION_NAME).is_visible()
    _shot(page, tmp_path, "sessions", shots)
    page.get_by_role("link", name=SESSION_NAME).click()
    page.wait_for_url(f"**/sessions/{data.session_id}")

    # Session: the steps in the tree, one bar per request, concurrent chapters overlapping.
    assert page.locator("h1").inner_text() == f"Session {SESSION_NAME}"
    segments = page.locator(".tree .node .seg").all_inner_texts()
    assert segments[:3] == ["/", "outline", "chapters"] and segments[6:] == ["summary"]
    assert sorted(segments[3:6]) == ["1", "2", "3"]  # concurrent: in the order they started
    assert page.locator(".waterfall .bar").count() == CHAPTERS + 2
    chapters = [_box(page, rid) for rid in data.chapter_ids]
    assert max(left for left, _ in chapters) < min(right for _, right in chapters), chapters
    outline = _box(page, data.outline_id)
    summary = _box(page, data.summary_id)
    assert outline[1] <= min(left for left, _ in chapters) + 2, "the outline ran before the chapters"
    assert max(right for _, right in chapters) <= summary[0] + 2, "the summary ran after them"
    _shot(page, tmp_path, "session", shots)

    # Click a bar: the request, its reassembled streamed answer and the property as text.
    page.locator(f'.waterfall .bar[data-request-id="{data.chapter_ids[0]}"]').click()
    page.wait_for_url(f"**/requests/{data.chapter_ids[0]}")
    assert "You said: Write chapter 1" in page.locator("pre.answer").inner_text()
    assert page.locator(".chip .v").all_inner_texts() == ["test", EVIL]  # environment, evil
    _shot(page, tmp_path, "request-chapter", shots)

    page.goto(gw.url + f"/requests/{data.summary_id}")
    assert page.locator("dd.feedback").inner_text() == "positive"
    assert page.locator("table.scores").inner_text().split() == ["on_topic", "true", "quality", "8"]
    _shot(page, tmp_path, "request-summary", shots)

    # Requests: filter by the property through the form, then a call arrives and the page
    # shows it without being reloaded (the filter still applies).
    page.goto(gw.url + "/requests")
    _shot(page, tmp_path, "requests", shots)
    page.fill('input[name="property"]', "evil")
    page.fill('input[name="value"]', EVIL)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/requests?*property=evil*")
    rows = page.locator("table.requests tbody tr")
    assert rows.count() == CHAPTERS + 2
    page.evaluate("window.stillTheSamePage = true")
    http.post(
        gw.url + "/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": "late"},
        headers={"Helicone-Property-Evil": EVIL},
        timeout=10,
    )
    http.post(gw.url + "/v1/embeddings", json={"model": "m", "input": "unrelated"}, timeout=10)
    started = time.monotonic()
    rows.nth(CHAPTERS + 2).wait_for(timeout=15_000)  # the page's CSP forbids eval, so no wait_for_function
    refreshed_in = time.monotonic() - started
    assert rows.count() == CHAPTERS + 3
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.input_value('input[name="property"]') == "evil"
    _shot(page, tmp_path, "requests-filtered-live", shots)

    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert dialogs == [], "a logged value ran as script"
    page.close()
    print(f"\nlive refresh showed the new call after {refreshed_in:.2f} s")
    for path in shots:
        print(f"screenshot {path} {path.stat().st_size} bytes")
        assert path.stat().st_size > 10_000
