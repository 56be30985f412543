"""The dashboard over plain HTTP: every page answers 200, filters and pages work, and every
value from the log is escaped (a property ``<script>alert(1)</script>`` is text everywhere)."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer
from helicone_wrap.gateway.dashboard.routes import Dashboard

from .conftest import rest_client
from .dashboard_seed import CHAPTERS, EVIL, Seeded, seeded_gateway

__all__ = ["seeded_gateway"]

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def get(gw: GatewayServer, path: str, status: int = 200) -> str:
    response = http.get(gw.url + path, timeout=10)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return str(response.text)


def request_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-request-id="([^"]+)"', html)


def assert_escaped(html: str) -> None:
    """The value is shown as text, and the page has no script but the live-refresh one."""
    assert ESCAPED in html
    assert EVIL not in html
    assert "<Plan>" not in html
    assert html.count("<script") <= 1


@pytest.fixture
def site(seeded_gateway: tuple[GatewayServer, Seeded]) -> tuple[GatewayServer, Seeded]:
    return seeded_gateway


def test_every_page_answers_and_escapes_the_property(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    pages = [
        "/",
        "/requests",
        f"/requests/{data.outline_id}",
        "/sessions",
        f"/sessions/{data.session_id}",
    ]
    for path in pages:
        response = http.get(gw.url + path, timeout=10)
        assert response.status_code == 200, path
        assert "script-src 'sha256-" in response.headers["content-security-policy"]
        assert_escaped(response.text)
        assert "Course &lt;Plan&gt;" in response.text or path.startswith("/requests/"), path
    css = http.get(gw.url + "/_dashboard/static/dashboard.css", timeout=10)
    assert css.status_code == 200 and ".waterfall" in css.text


def test_api_paths_still_served_next_to_the_dashboard() -> None:
    with GatewayServer() as gw:
        assert http.get(gw.url + "/healthz", timeout=10).json() == {"status": "ok"}
        assert http.get(gw.url + "/v1/models", timeout=10).json()["object"] == "list"
        call = http.post(gw.url + "/v1/embeddings", json={"model": "m", "input": "x"}, timeout=10)
        rid = call.headers["helicone-id"]
        gw.store.flush(5)
        assert http.get(gw.url + f"/v1/request/{rid}", timeout=10).json()["data"]["request_id"] == rid
        assert http.post(gw.url + "/", timeout=10).status_code == 405  # the dashboard is read-only
        assert http.post(gw.url + "/requests", timeout=10).status_code == 405
        assert rid in get(gw, "/requests")


def test_requests_newest_first_with_every_column(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    html = get(gw, "/requests")
    ids = request_ids(html)
    assert ids == [data.failed_id, data.embedding_id, data.summary_id, *ids[3:6], data.outline_id]
    assert set(ids[3:6]) == set(data.chapter_ids)
    times = re.findall(r'<td class="time"><a href="[^"]+">([^<]+)</a>', html)
    assert len(times) == 7 and times == sorted(times, reverse=True)
    row = html[html.index(f'data-request-id="{data.outline_id}"') :].split("</tr>")[0]
    for text in ("gpt-4o-mini", "200", " ms", "$0.0000", "alice", "Course &lt;Plan&gt;", "/outline", ESCAPED):
        assert text in row, text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", row)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("model=text-embedding-3-small", ["embedding_id"]),
        ("status=400", ["failed_id"]),
        ("status=4xx", ["failed_id"]),
        ("user=alice", ["summary_id", "chapters", "outline_id"]),
        ("property=evil&value=%3Cscript%3Ealert%281%29%3C%2Fscript%3E", ["summary_id", "chapters", "outline_id"]),
        ("property=evil&value=alert", []),
        ("property=environment", ["summary_id", "chapters", "outline_id"]),
        ("property=environment&value=prod", []),
    ],
)
def test_requests_filters(site: tuple[GatewayServer, Seeded], query: str, expected: list[str]) -> None:
    gw, data = site
    want: set[str] = set()
    for name in expected:
        want.update(data.chapter_ids if name == "chapters" else [getattr(data, name)])
    assert set(request_ids(get(gw, "/requests?" + query))) == want


def test_requests_filter_by_session_and_bad_status(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    assert set(request_ids(get(gw, f"/requests?session={data.session_id}"))) == set(data.session_request_ids)
    html = get(gw, "/requests?status=teapot", status=400)
    assert "is not a status code" in html and request_ids(html) == []
    assert "is not a page number" in get(gw, "/requests?page=-2", status=400)


def test_requests_pages(tmp_path: Path) -> None:
    """55 requests: 50 on page one, 5 on page two, newest first, links keep the filter."""
    with GatewayServer() as gw, rest_client(gw.url) as api:
        for n in range(55):
            assert api.post(
                "/v1/embeddings",
                json={"model": "text-embedding-3-small", "input": str(n)},
                headers={"Helicone-User-Id": "pager", "Helicone-Property-N": str(n)},
            ).status_code == 200
        api.post("/v1/embeddings", json={"model": "m", "input": "x"})
        first = get(gw, "/requests?user=pager")
        assert len(request_ids(first)) == 50
        assert "1–50 of 55" in first and 'href="/requests?user=pager&amp;page=2"' in first
        assert first.index("n</span>=<span class=\"v\">54<") < first.index("n</span>=<span class=\"v\">5<")
        second = get(gw, "/requests?user=pager&page=2")
        assert len(request_ids(second)) == 5 and "51–55 of 55" in second
        assert 'rel="prev" href="/requests?user=pager"' in second
        assert not set(request_ids(first)) & set(request_ids(second))
        assert request_ids(get(gw, "/requests?user=pager&page=9")) == []


def test_request_detail(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    html = get(gw, f"/requests/{data.summary_id}")
    assert '<dd class="feedback">positive</dd>' in html
    assert "<tr><th>on_topic</th><td>true</td></tr>" in html
    assert "<tr><th>quality</th><td>8</td></tr>" in html
    assert "hcone-bool" not in html and "helicone-score-feedback" not in html
    assert "<th>Helicone-Property-evil</th><td><code>" + ESCAPED in html
    assert f"<th>Helicone-Session-Id</th><td><code>{data.session_id}</code>" in html
    assert "<th>Helicone-User-Id</th><td><code>alice</code>" in html
    assert "<th>Helicone-Session-Path</th><td><code>/summary</code>" in html
    assert '<dd class="cache">\nmiss</dd>' in html
    assert '<pre class="body">{\n  &#34;' in html and '\n  &#34;model&#34;: &#34;gpt-4o-mini&#34;' in html  # pretty
    assert "This is the helicone-wrap offline model." in html


def test_request_detail_reassembles_a_stream(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    html = get(gw, f"/requests/{data.outline_id}")
    answer = re.search(r'reassembled from (\d+) stream events\)</small></h2>\n<pre class="answer">([^<]*)</pre>', html)
    assert answer is not None
    assert int(answer.group(1)) > 3
    assert answer.group(2).startswith("This is the helicone-wrap offline model. You said: Write the outline")
    assert "<summary>Raw stream" in html and "data: [DONE]" in html


def test_request_detail_cache_hit_links_the_original(site: tuple[GatewayServer, Seeded]) -> None:
    """A row whose cache_reference_id names another request shows a hit and links to it."""
    gw, data = site
    with closing(sqlite3.connect(gw.store.path)) as conn:
        conn.execute(
            "UPDATE requests SET cache_reference_id = ? WHERE request_id = ?", (data.outline_id, data.embedding_id)
        )
        conn.commit()
    html = get(gw, f"/requests/{data.embedding_id}")
    assert f'hit: served from <a href="/requests/{data.outline_id}">{data.outline_id}</a>' in html
    assert get(gw, "/requests/00000000-0000-4000-8000-000000000000", status=404).count("No request") == 1


_OLD_SCHEMA = """
    CREATE TABLE requests (
        request_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, response_created_at INTEGER,
        logged_at INTEGER NOT NULL, path TEXT NOT NULL, method TEXT NOT NULL, status INTEGER NOT NULL,
        request_model TEXT, model TEXT, provider TEXT NOT NULL, target_url TEXT,
        latency_ms INTEGER NOT NULL DEFAULT 0, ttft_ms INTEGER, prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0, user_id TEXT, properties TEXT NOT NULL DEFAULT '{}',
        scores TEXT NOT NULL DEFAULT '{}', request_body TEXT, response_body TEXT
    )
"""


class _OldStore:
    """A database without the cache_reference_id column, as an older schema might have it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def flush(self, timeout: float | None = None) -> bool:
        return True


def test_request_detail_without_cache_column(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(_OLD_SCHEMA)
        conn.execute(
            "INSERT INTO requests (request_id, created_at, logged_at, path, method, status, provider, properties) "
            "VALUES ('r1', 1700000000000, 1700000000000, '/v1/chat/completions', 'POST', 200, 'OPENAI', ?)",
            ('{"evil": "<script>alert(1)</script>"}',),
        )
        conn.commit()
    dashboard = Dashboard(_OldStore(db))
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/requests/r1", "headers": [], "query_string": b""}
    response = dashboard.request(Request({**scope, "path_params": {"request_id": "r1"}}))
    assert response.status_code == 200
    html = bytes(response.body).decode()
    assert "not recorded by this gateway" in html
    assert_escaped(html)
    listing = dashboard.requests(Request({**scope, "path": "/requests", "path_params": {}}))
    assert request_ids(bytes(listing.body).decode()) == ["r1"]


def test_sessions_list_and_search(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    html = get(gw, "/sessions")
    row = html[html.index(f'<tr data-session-id="{data.session_id}">') :].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert "Course &lt;Plan&gt;" in cells[0] and data.session_id in cells[1]
    assert cells[2] == str(CHAPTERS + 2)
    assert cells[3].startswith("$0.0000")
    assert re.fullmatch(r"\d+ ms|\d\.\d\d s", cells[4]) and cells[4] != "0 ms"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", cells[5])
    assert ESCAPED in cells[6]
    assert data.session_id in get(gw, "/sessions?q=course+%3Cplan")
    missing = get(gw, "/sessions?q=nothing-like-this")
    assert data.session_id not in missing and "No session name contains" in missing


def test_sessions_pages() -> None:
    with GatewayServer() as gw, rest_client(gw.url) as api:
        for n in range(52):
            api.post(
                "/v1/embeddings",
                json={"model": "m", "input": "x"},
                headers={"Helicone-Session-Id": f"s-{n:02d}", "Helicone-Session-Name": f"run {n}"},
            )
        first = get(gw, "/sessions")
        assert first.count("<tr data-session-id=") == 50 and "1–50 of 52" in first
        assert first.index('data-session-id="s-51"') < first.index('data-session-id="s-02"')  # latest first
        second = get(gw, "/sessions?page=2")
        assert re.findall(r'data-session-id="([^"]+)"', second) == ["s-01", "s-00"]
        assert re.findall(r'data-session-id="([^"]+)"', get(gw, "/sessions?q=RUN+5")) == ["s-51", "s-50", "s-05"]


def test_session_detail_tree_and_waterfall(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    html = get(gw, f"/sessions/{data.session_id}")
    paths = re.findall(r'<li class="node" style="--depth: \d+" data-path="([^"]+)">', html)
    assert paths[:3] == ["/", "/outline", "/chapters"] and paths[6:] == ["/summary"]
    assert sorted(paths[3:6]) == ["/chapters/1", "/chapters/2", "/chapters/3"]  # in the order they started
    bars = re.findall(r'<a class="bar ok" href="/requests/([^"]+)".*?style="left: ([\d.]+)%; width: ([\d.]+)%"', html)
    assert [rid for rid, _, _ in bars][0] == data.outline_id and len(bars) == CHAPTERS + 2
    spans = {rid: (float(left), float(left) + float(width)) for rid, left, width in bars}
    chapters = [spans[rid] for rid in data.chapter_ids]
    assert max(start for start, _ in chapters) < min(end for _, end in chapters), "concurrent steps overlap"
    assert spans[data.outline_id][1] <= min(start for start, _ in chapters) + 0.5, "the outline came first"
    assert get(gw, "/sessions/no-such-session", status=404).count("No session") == 1


def test_session_ids_with_slashes_and_unnamed() -> None:
    with GatewayServer() as gw:
        http.post(
            gw.url + "/v1/embeddings",
            json={"model": "m", "input": "x"},
            headers={"Helicone-Session-Id": "team/a b", "Helicone-Session-Path": "step//one/"},
            timeout=10,
        )
        listing = get(gw, "/sessions")
        assert 'href="/sessions/team%2Fa%20b">(unnamed)</a>' in listing
        html = get(gw, "/sessions/team%2Fa%20b")
        assert 'data-path="/step/one"' in html and html.count('class="bar ') == 1


def test_overview_totals_and_charts(site: tuple[GatewayServer, Seeded]) -> None:
    gw, data = site
    html = get(gw, "/")
    tiles = dict((label, value) for value, label in re.findall(r'<div class="tile"><b>([^<]*)</b><span>([^<]*)</span>', html))
    assert tiles["requests"] == "7" and tiles["errors"] == "1" and tiles["sessions"] == "1" and tiles["users"] == "1"
    assert tiles["p95 latency"].endswith(("ms", " s")) and tiles["cost"].startswith("$0.0000")
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 3
    counts = [int(n) for n in re.findall(r"<title>[^<]*: (\d+) requests</title>", charts[0])]
    assert sum(counts) == 7
    assert "p50" in charts[2] and "p95" in charts[2] and "<polyline" in charts[2]
    assert len(request_ids(html)) == 7  # the latest requests
    assert get(gw, "/?range=1h").count('<svg class="chart"') == 3
    assert "is not one of" in get(gw, "/?range=forever", status=400)


def test_live_stamp_changes_when_a_call_lands() -> None:
    with GatewayServer() as gw:
        before = http.get(gw.url + "/_dashboard/stamp", timeout=10).text
        assert http.get(gw.url + "/_dashboard/stamp", timeout=10).text == before
        http.post(gw.url + "/v1/embeddings", json={"model": "m", "input": "x"}, timeout=10)
        gw.store.flush(5)
        assert http.get(gw.url + "/_dashboard/stamp", timeout=10).text != before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_cli_gateway_prints_and_serves_the_dashboard(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "helicone_wrap.cli", "gateway", "--port", str(port), "--db", str(tmp_path / "g.db")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # start-up only: slow on a loaded machine
        while True:
            try:
                page = http.get(url + "/", timeout=1)
                break
            except http.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "the gateway did not come up"
                time.sleep(0.05)
        assert page.status_code == 200 and "Overview" in page.text
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert f"dashboard        {url}/" in stderr.decode()


async def test_streamed_responses_and_completions_are_reassembled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Responses API events (async client) and completion chunks (sync client) read as one answer."""
    import openai

    from helicone_wrap import request_id, wrap

    from ..faultserver import isolated_delivery

    delivery = isolated_delivery(tmp_path, monkeypatch)
    next(delivery)
    with GatewayServer() as gw:
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as raw_async:
            aclient = wrap(raw_async, base_url=gw.url)
            astream = await aclient.responses.create(model="gpt-4o-mini", input="tell me", stream=True)
            async for _ in astream:
                pass
            responses_id = request_id(astream)
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as raw_sync:
            client = wrap(raw_sync, base_url=gw.url)
            stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="go on", stream=True)
            for _ in stream:
                pass
            completions_id = request_id(stream)
        for rid, said in ((responses_id, "tell me"), (completions_id, "go on")):
            html = get(gw, f"/requests/{rid}")
            answer = re.search(r'stream events\)</small></h2>\n<pre class="answer">([^<]*)</pre>', html)
            assert answer is not None and answer.group(1).endswith(f"You said: {said}"), rid
    next(delivery, None)
