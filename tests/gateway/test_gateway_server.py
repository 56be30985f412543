"""Running the gateway: shutdown drains the log, ingest delay, keys, faults, the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import openai
import pytest

from helicone_wrap._http import http
from helicone_wrap.cli import main
from helicone_wrap.gateway import FaultPlan, GatewayServer
from helicone_wrap.gateway.faults import Fault, FaultInjector
from helicone_wrap.gateway.server import _warn_if_exposed
from helicone_wrap.gateway.store import MIGRATIONS

from .conftest import chat, new_id

MESSAGES: Any = [{"role": "user", "content": "hello"}]


def _rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


async def _burst(url: str, calls: int) -> list[str]:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as sdk:

        async def one() -> str:
            raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            return str(raw.headers["helicone-id"])

        return await asyncio.gather(*[one() for _ in range(calls)])


def test_stop_drains_every_log_row(tmp_path: Path) -> None:
    """Rows still queued when stop() is called are all written before it returns."""
    db = tmp_path / "gateway.db"
    gateway = GatewayServer(db=str(db)).start()
    ids = asyncio.run(_burst(gateway.url, 200))
    gateway.stop()
    assert len(set(ids)) == 200 and _rows(db) == 200


def test_database_is_wal_and_versioned(tmp_path: Path) -> None:
    """The log is SQLite in WAL mode at the newest schema version, and reopening keeps the data."""
    db = tmp_path / "gateway.db"
    with (
        GatewayServer(db=str(db)) as gateway,
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="k") as sdk,
    ):
        request_id = chat(sdk)
        assert gateway.store.schema_version == len(MIGRATIONS)
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    with GatewayServer(db=str(db)) as again:
        assert again.store.get_request(request_id) is not None


def test_memory_database_is_a_temporary_file() -> None:
    """db=':memory:' works across threads and its file is gone after stop."""
    gateway = GatewayServer().start()
    path = gateway.store.path
    assert os.path.exists(path)
    gateway.stop()
    assert not os.path.exists(path)


def test_ingest_delay_hides_new_requests() -> None:
    """With --ingest-delay, REST sees nothing of a request until the delay has passed."""
    with GatewayServer(ingest_delay=0.6) as gateway, http.Client(base_url=gateway.url, timeout=10) as api:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k") as sdk:
            request_id = chat(sdk)
        assert gateway.store.wait_for(request_id) is not None  # logged, but not yet visible
        assert api.get(f"/v1/request/{request_id}").json() == {"data": None, "error": None}
        put = api.put(f"/v1/request/{request_id}/property", json={"key": "k", "value": "v"})
        assert (put.status_code, put.json()["error"]) == (500, "Request not found")
        feedback = api.post(f"/v1/request/{request_id}/feedback", json={"rating": True})
        assert (feedback.status_code, feedback.json()["error"]) == (500, "Request not found")
        assert api.post("/v1/request/count/query", json={"filter": "all"}).json()["data"] == 0
        time.sleep(0.7)
        assert (
            api.put(f"/v1/request/{request_id}/property", json={"key": "k", "value": "v"}).status_code == 201
        )
        assert api.get(f"/v1/request/{request_id}").json()["data"]["properties"] == {"k": "v"}


def test_require_key() -> None:
    """--require-key: REST needs Authorization: Bearer KEY, the proxy Helicone-Auth: Bearer KEY."""
    denied = {"trace": "isAuthenticated.error"}
    with (
        GatewayServer(require_key="sk-secret") as gateway,
        http.Client(base_url=gateway.url, timeout=10) as api,
    ):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Helicone-Auth": "Bearer sk-secret"}):
            response = api.post("/v1/request/count/query", json={"filter": "all"}, headers=headers)
            assert response.status_code == 401 and response.json()["trace"] == denied["trace"]
            assert isinstance(response.json()["error"], str)
        ok = api.post(
            "/v1/request/count/query", json={"filter": "all"}, headers={"Authorization": "Bearer sk-secret"}
        )
        assert ok.status_code == 201
        body = {"model": "gpt-4o-mini", "messages": MESSAGES}
        refused = api.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-secret"})
        assert refused.status_code == 401 and refused.json()["trace"] == denied["trace"]
        assert refused.headers["helicone-id"]
        allowed = api.post("/v1/chat/completions", json=body, headers={"Helicone-Auth": "Bearer sk-secret"})
        assert allowed.status_code == 200


def test_binding_beyond_loopback_without_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    """Binding a non-loopback address without a key logs a warning; loopback does not."""
    with caplog.at_level(logging.WARNING, logger="helicone_wrap.gateway"):
        _warn_if_exposed("127.0.0.1", None)
        _warn_if_exposed("::1", None)
        _warn_if_exposed("0.0.0.0", "key")
        assert not caplog.records
        _warn_if_exposed("0.0.0.0", None)
    assert "without --require-key" in caplog.records[0].getMessage()


def _put(api: Any, request_id: str, key: str = "k") -> Any:
    return api.put(f"/v1/request/{request_id}/property", json={"key": key, "value": "v"})


def test_fault_not_found_first_then_success() -> None:
    """not_found_first=N answers 'Request not found' N times per (id, key), then succeeds."""
    with (
        GatewayServer(faults=FaultPlan(not_found_first=2)) as gateway,
        http.Client(base_url=gateway.url) as api,
    ):
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key="k") as sdk:
            request_id = chat(sdk)
        gateway.store.wait_for(request_id)
        answers = [_put(api, request_id).status_code for _ in range(3)]
        assert answers == [500, 500, 201]
        assert [_put(api, request_id, "other").status_code for _ in range(3)] == [500, 500, 201]
        stats = gateway.stats()
        assert stats["property_writes"] == 2 and stats["rest_writes"] == 2
        assert stats["faults"]["not_found"] == 4


def test_fault_rate_limit_error_and_runtime_change() -> None:
    """rate_limit_rate answers Helicone's 429 with Retry-After; error_rate a generic 500; faults change at runtime."""
    with GatewayServer(faults=FaultPlan(rate_limit_rate=1.0, retry_after=2)) as gateway:
        with http.Client(base_url=gateway.url) as api:
            limited = _put(api, new_id())
            assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
            assert limited.json() == {"error": "Too many requests, please try again later."}
            gateway.faults = FaultPlan(error_rate=1.0)
            failed = api.post(f"/v1/request/{new_id()}/score", json={"scores": {"a": 1}})
            assert failed.status_code == 500 and failed.json()["error"] not in (None, "Request not found")
            gateway.faults = FaultPlan()
            assert _put(api, new_id()).json() == {"data": None, "error": "Request not found"}


def test_fault_hang_never_answers_and_stop_still_returns() -> None:
    """hang=True leaves writes unanswered; stop() releases them and returns promptly."""
    gateway = GatewayServer(faults=FaultPlan(hang=True)).start()
    with http.Client(base_url=gateway.url, timeout=0.3) as api, pytest.raises(http.ReadTimeout):
        api.post(f"/v1/request/{new_id()}/feedback", json={"rating": True})
    started = time.monotonic()
    gateway.stop()
    assert time.monotonic() - started < 5


def test_fault_decisions_are_reproducible() -> None:
    """The same plan and seed give the same faults, whatever else happens in between."""
    plan = FaultPlan(error_rate=0.3, rate_limit_rate=0.2, hang_rate=0.1, seed=42)
    first, second = FaultInjector(plan), FaultInjector(plan)
    second.decide("score", "noise", "x")
    ids = [f"id-{i}" for i in range(200)]
    a = [first.decide("property", i, "k") for i in ids]
    b = [second.decide("property", i, "k") for i in ids]
    assert a == b and {Fault.ERROR, Fault.RATE_LIMIT, Fault.HANG, Fault.NONE} <= set(a)
    assert FaultInjector(FaultPlan(error_rate=0.3, seed=7)).decide("property", "id-0", "k") in set(Fault)


@pytest.mark.parametrize(
    "kwargs", [{"error_rate": 1.5}, {"error_rate": 0.6, "rate_limit_rate": 0.6}, {"not_found_first": -1}]
)
def test_fault_plan_validates(kwargs: dict[str, Any]) -> None:
    """Impossible fault plans are refused when built."""
    with pytest.raises(ValueError, match="FaultPlan"):
        FaultPlan(**kwargs)


def test_server_lifecycle_errors() -> None:
    """The store needs start(), and a server starts only once."""
    gateway = GatewayServer()
    with pytest.raises(RuntimeError, match="start"):
        gateway.store  # noqa: B018
    gateway.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            gateway.start()
        assert gateway.url.startswith("http://127.0.0.1:") and gateway.port > 0
    finally:
        gateway.stop()


def test_cli_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """helicone-wrap with no subcommand shows help and exits 2."""
    assert main([]) == 2
    assert "gateway" in capsys.readouterr().err


def test_cli_gateway_help(capsys: pytest.CaptureFixture[str]) -> None:
    """helicone-wrap gateway --help lists every option of the issue."""
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--db", "--upstream", "--require-key", "--ingest-delay"):
        assert option in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_gateway_drains_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """`helicone-wrap gateway` serves until SIGTERM/Ctrl-C and writes every log row before exiting."""
    db = tmp_path / "cli.db"
    port = _free_port()
    command = [sys.executable, "-m", "helicone_wrap.cli", "gateway", "--port", str(port), "--db", str(db)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # start-up only: slow on a loaded machine
        while True:
            try:
                if http.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except http.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the gateway did not come up"
            time.sleep(0.05)
        asyncio.run(_burst(url, 50))
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert _rows(db) == 50
    assert process.returncode == 0
    assert b"helicone-wrap gateway" in stderr


def test_store_reads_see_calls_just_made() -> None:
    """gw.store reads wait for the write-behind queue, so a finished call is counted at once."""
    with GatewayServer() as gateway, openai.OpenAI(base_url=gateway.url + "/v1", api_key="k") as sdk:
        before = gateway.store.count_requests()
        request_id = chat(sdk)
        assert gateway.store.count_requests() == before + 1
        assert gateway.store.get_request(request_id) is not None


def test_responses_are_not_held_back_by_delayed_acks(api: Any) -> None:
    """Small responses arrive in well under the ~40 ms a missing TCP_NODELAY would cost."""
    timings = []
    for _ in range(21):
        started = time.perf_counter()
        assert api.get("/healthz").status_code == 200
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[10] < 0.03


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer gateway (higher user_version) is not touched."""
    db = tmp_path / "future.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="schema version 99 is newer"):
        GatewayServer(db=str(db)).start()


def test_port_in_use_fails_cleanly(gw: GatewayServer) -> None:
    """Starting on a port that is taken raises OSError and leaks nothing."""
    with pytest.raises(OSError):
        GatewayServer(port=gw.port).start()


def test_version_1_log_migrates_to_float_milliseconds(tmp_path: Path) -> None:
    """A log written with whole-millisecond columns keeps its rows and stores sub-millisecond values after."""
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db)) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO requests (request_id, created_at, logged_at, path, method, status, provider, "
                     "latency_ms, ttft_ms) VALUES ('old', 1, 1, '/v1/chat/completions', 'POST', 200, 'OPENAI', 12, 3)")
        conn.commit()
    with GatewayServer(db=str(db), offline_ttft=0.0123) as gw:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-x") as sdk:
            stream = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                                 stream=True)
            for _ in stream:
                pass
        gw.store.flush(5)
        old = gw.store.get_request("old")
        assert old is not None and old["delay_ms"] == 12 and old["time_to_first_token"] == 3
    with closing(sqlite3.connect(db)) as conn:
        types = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(requests)")}
        ttft = conn.execute("SELECT ttft_ms FROM requests WHERE request_id != 'old'").fetchone()[0]
    assert types["latency_ms"] == "REAL" and types["ttft_ms"] == "REAL"
    # 12.3 ms of "thinking", less up to 1 ms: uvicorn runs on uvloop when it is installed, and libuv's
    # timers count whole milliseconds of a clock read once per loop turn, so they may fire that early.
    assert isinstance(ttft, float) and ttft >= 11.3 and ttft != int(ttft)
