"""Per-operation progress in the outbox: schema migration, the window counted from the stored first
attempt, failed rows kept with their last error, and pending operations that keep no traceback."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helicone_wrap import _delivery
from helicone_wrap._config import Target
from helicone_wrap._delivery.outbox import Outbox, OutboxRow
from helicone_wrap._delivery.settings import Settings
from helicone_wrap._exceptions import HeliconeConnectionError, HeliconeRequestNotFound
from helicone_wrap._operations import feedback_request

from .faultserver import FaultServer, closed_port, isolated_delivery, not_found

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
V1 = """CREATE TABLE outbox (op_id TEXT PRIMARY KEY, kind TEXT NOT NULL, request_id TEXT NOT NULL,
payload TEXT NOT NULL, api_url TEXT NOT NULL, created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
owner TEXT, lease_until REAL NOT NULL DEFAULT 0, origin TEXT, seq INTEGER); PRAGMA user_version=1;"""


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


def test_default_window_is_seven_days_with_hour_long_backoff() -> None:
    assert Settings().lag_window >= 7 * 86400 and 3600 <= Settings().backoff_cap <= 6 * 3600


def test_a_version_1_outbox_is_migrated_and_replayed(tmp_path: Path) -> None:
    box, rid = tmp_path / "v1.sqlite3", str(uuid.uuid4())
    conn = sqlite3.connect(box)
    conn.executescript(V1)
    conn.execute("INSERT INTO outbox (op_id, kind, request_id, payload, api_url, created_at) VALUES "
                 "('a','feedback',?,'{\"rating\": true}','http://x',1.0)", (rid,))
    conn.commit()
    conn.close()
    (row,) = Outbox(box, "t").rows()
    assert (row.request_id, row.attempts, row.first_try, row.due_at, row.failed_at) == (rid, 0, 0.0, 0.0, None)


def test_window_counts_from_the_stored_first_attempt(tmp_path: Path) -> None:
    """A row first tried 8 days ago gets one more attempt and is then marked failed with its last
    error; a row first tried a day ago goes back, due later, with its attempt counted."""
    box = tmp_path / "box.sqlite3"
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    now = time.time()
    with FaultServer() as server:
        server.when(not_found())
        Outbox(box, "other").add([
            OutboxRow("o", "feedback", old, '{"rating": true}', server.url, now - 9 * 86400, 30, "x", 1, now - 8 * 86400),
            OutboxRow("r", "feedback", recent, '{"rating": true}', server.url, now - 86400, 12, "x", 2, now - 86400),
        ])  # fmt: skip
        _delivery.configure(outbox=box)
        assert _delivery.flush(10)
        assert len(server.seen()) == 2
    rows = {r.request_id: r for r in Outbox(box, "inspect").rows()}
    assert rows[old].failed_at is not None and rows[old].attempts == 31
    assert (rows[old].error_type, rows[old].error_status, rows[old].error_message) == (
        "HeliconeRequestNotFound", 500, "Request not found")
    assert rows[recent].failed_at is None and rows[recent].attempts == 13 and rows[recent].due_at > time.time()


@pytest.mark.parametrize("mode", ["wait", "await"])
def test_giving_up_marks_the_row_failed_and_the_handle_carries_the_error(tmp_path: Path, mode: str) -> None:
    box = tmp_path / "box.sqlite3"
    _delivery.configure(outbox=box, lag_window=0.3)
    _delivery._tune(backoff_base=0.02, backoff_cap=0.05)
    with FaultServer() as server:
        server.when(not_found())
        handle = feedback_request(str(uuid.uuid4()), True, target=Target(server.url, KEY))
        if mode == "wait":
            assert handle.wait(10)
        else:
            assert asyncio.run(asyncio.wait_for(_await(handle), 10)) is handle
    assert isinstance(handle.error, HeliconeRequestNotFound)
    assert _delivery.flush(5)
    (row,) = Outbox(box, "inspect").rows()
    assert row.failed_at is not None and row.error_status == 500 and row.attempts >= 2


async def _await(handle: _delivery.Delivery) -> _delivery.Delivery:
    return await handle


@pytest.mark.parametrize("mode", ["wait", "await"])
def test_a_failed_connection_keeps_no_traceback(mode: str) -> None:
    """The pending op keeps (type, message, status); the handle's error names the cause without frames."""
    _delivery.configure(outbox=None, max_retries=1)
    _delivery._tune(backoff_base=0.01, backoff_cap=0.02)
    handle = feedback_request(str(uuid.uuid4()), True, target=Target(f"http://127.0.0.1:{closed_port()}", KEY))
    if mode == "wait":
        assert handle.wait(10)
    else:
        asyncio.run(asyncio.wait_for(_await(handle), 10))
    error = handle.error
    assert isinstance(error, HeliconeConnectionError) and "ConnectError" in str(error)
    assert error.__cause__ is None and error.__context__ is None and error.__traceback__ is None
