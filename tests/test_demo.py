"""`helicone-wrap demo` stays on its own gateway whatever the environment says, leaves nothing
behind, and tells the truth about delivery (exit 0 only when everything arrived)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from helicone_wrap import _delivery
from helicone_wrap._api import HeliconeAPI
from helicone_wrap._demo import run_demo
from helicone_wrap.gateway import FaultPlan, GatewayServer
from helicone_wrap.gateway.asgi import send_bytes
from helicone_wrap.gateway.asynclog import AsyncLogEndpoint

from .faultserver import FaultServer, isolated_delivery

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def recorder() -> Iterator[FaultServer]:
    """Where the exported HELICONE_* variables point: any hit is the demo leaving its gateway."""
    with FaultServer() as server:
        yield server


def test_demo_ignores_an_exported_helicone_environment(recorder: FaultServer, tmp_path: Path) -> None:
    """HELICONE_API_KEY/BASE_URL/API_URL exported: zero hits elsewhere, exit 0, and it says so."""
    xdg = tmp_path / "xdg"
    env = {**os.environ, "COLUMNS": "240", "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(xdg),
           "HELICONE_API_KEY": "sk-helicone-real-user-key-9999",
           "HELICONE_BASE_URL": recorder.url, "HELICONE_API_URL": recorder.url,
           "HELICONE_WRAP_OFFLINE_TTFT_MS": "3", "HELICONE_WRAP_OFFLINE_TOKEN_MS": "0.2"}  # no need to pace here
    done = subprocess.run(
        [sys.executable, "-m", "helicone_wrap.cli", "demo"], capture_output=True, text=True, timeout=120, env=env
    )
    assert recorder.seen() == []
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    gateway = out.split(" on ", 1)[1].split()[0]
    assert gateway.startswith("http://127.0.0.1:") and gateway != recorder.url
    assert "ignoring HELICONE_API_KEY, HELICONE_BASE_URL, HELICONE_API_URL from the environment" in out
    assert f"enrich, feedback and score delivered to {gateway}" in out
    assert "outcome=approved" in out and "quality=8" in out and "Done" in out
    assert "real-user-key" not in out + done.stderr
    assert not xdg.exists(), "the demo must not create an outbox in the user's data directory"


@pytest.fixture
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


def test_demo_says_what_failed_and_exits_1(
    _fresh_delivery: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When its gateway rejects the writes, the demo names each failed operation and its error."""

    class Failing(GatewayServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, faults=FaultPlan(error_rate=1.0), **kwargs)

    monkeypatch.setattr("helicone_wrap.gateway.GatewayServer", Failing)
    _delivery.configure(lag_window=0.3, outbox=tmp_path / "mine.sqlite3")
    buffer = io.StringIO()
    assert run_demo(Console(file=buffer, width=200)) == 1
    out = buffer.getvalue()
    for kind in ("property", "feedback", "score"):
        assert f"✗ {kind} for " in out and "failed: Helicone" in out, out
    assert "Failed" in out and "checks did not pass" in out
    assert "Done" not in out
    # The user's own delivery settings come back after the demo.
    assert _delivery._settings.outbox == tmp_path / "mine.sqlite3"


def test_demo_says_so_when_the_repeated_step_is_not_a_cache_hit(
    _fresh_delivery: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway that never serves from its cache (it answers ``Helicone-Cache: MISS``): no ✓ for
    /title, a ✗ that names the verdict, no "cached" row, exit 1."""
    monkeypatch.setattr("helicone_wrap.gateway.plan.FeaturePlan.lookup", lambda self, store: None)
    buffer = io.StringIO()
    assert run_demo(Console(file=buffer, width=200)) == 1
    out = buffer.getvalue()
    assert "✗ /title: the repeated call was not served from the cache (Helicone-Cache: MISS)" in out, out
    assert "cache HIT" not in out and "  cached  " not in out
    assert "missing: a proxied and a cached /title" in out and "Done" not in out


def test_demo_says_so_when_the_async_log_does_not_arrive(
    _fresh_delivery: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway whose /oai/v1/log refuses every record: /summary is answered (async mode goes to
    the provider directly) but its log never arrives, and the demo says so and exits 1."""

    async def refuse(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await send_bytes(send, 500, b"log store down", b"text/plain")

    monkeypatch.setattr(AsyncLogEndpoint, "__call__", refuse)
    _delivery.configure(lag_window=0.3)  # give up on the refused record quickly rather than at the 10 s flush bound
    buffer = io.StringIO()
    assert run_demo(Console(file=buffer, width=200)) == 1
    out = buffer.getvalue()
    assert "✓ /summary   async mode, no proxy" in out
    assert "✗ /summary: its async log did not arrive" in out and "logged asynchronously" not in out
    assert "read back 7 requests of 8; missing: request /summary" in out and "Done" not in out


def test_every_row_the_demo_logs_belongs_to_its_session(_fresh_delivery: None, tmp_path: Path) -> None:
    """The async-mode step (/summary) talks to its provider directly and logs through /oai/v1/log:
    the demo's log then holds exactly the 8 rows of the story, each in the Course Plan session,
    and the summary prompt is logged once (no sessionless row from the provider call)."""
    db = tmp_path / "demo.sqlite3"
    buffer = io.StringIO()
    assert run_demo(Console(file=buffer, width=200), db=str(db)) == 0, buffer.getvalue()
    sid = buffer.getvalue().split("(id ", 1)[1].split(")", 1)[0]
    with GatewayServer(port=0, db=str(db)) as gw, HeliconeAPI(api_key="k", base_url=gw.url) as api:
        rows = api.requests.query(limit=100)
        summaries = [api.requests.get(r.request_id, include_body=True) for r in rows]
    assert sorted((str(r.session_id), str(r.session_path)) for r in rows) == sorted(
        (sid, p) for p in ("/abstract", "/outline", "/outline/chapter-1", "/outline/chapter-2",
                           "/outline/chapter-3", "/title", "/title", "/summary"))
    asked = [r for r in summaries if r is not None and "Summarize" in str(r.request_body)]
    assert [(r.session_id, r.session_path, r.request_user_id) for r in asked] == [(sid, "/summary", "demo-user")]
