"""``helicone-wrap outbox``: list (table and JSON), retry now, clear; errors as one line."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helicone_wrap._delivery.outbox import Outbox, OutboxRow
from helicone_wrap.cli import main

from .faultserver import FaultServer, isolated_delivery

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HELICONE_API_KEY", KEY)
    monkeypatch.setenv("COLUMNS", "80")
    yield from isolated_delivery(tmp_path, monkeypatch)


def fill(path: Path, url: str) -> tuple[str, str]:
    """One pending row (due in an hour, connection refused last time) and one failed row."""
    pending, failed = str(uuid.uuid4()), str(uuid.uuid4())
    now = time.time()
    Outbox(path, "writer").add([
        OutboxRow("p", "feedback", pending, '{"rating": true}', url, now - 60, 3, "o", 1, now - 50, now + 3600,
                  "ConnectError", "[Errno 111] Connection refused", None),
        OutboxRow("f", "score", failed, '{"scores": {"a": 1}}', url, now - 9e5, 40, "o", 2, now - 9e5, 0,
                  "HeliconeRequestNotFound", "Request not found", 500, now - 5),
    ])  # fmt: skip
    return pending, failed


def test_lists_pending_and_failed_in_80_columns_and_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "box.sqlite3"
    pending, failed = fill(box, "http://127.0.0.1:9")
    assert main(["outbox", "--path", str(box)]) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert pending[:8] in out and failed[:8] in out and "failed" in out and "Connection refused" in out
    assert "1 pending, 1 failed" in out
    assert main(["outbox", "--path", str(box), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    states = {op["request_id"]: (op["state"], op["attempts"], op["last_error"]) for op in doc["operations"]}
    assert states == {
        pending: ("pending", 3, {"type": "ConnectError", "message": "[Errno 111] Connection refused", "status": None}),
        failed: ("failed", 40, {"type": "HeliconeRequestNotFound", "message": "Request not found", "status": 500}),
    }


def test_retry_sends_everything_now_including_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "box.sqlite3"
    with FaultServer() as server:
        pending, failed = fill(box, server.url)
        assert main(["outbox", "--path", str(box), "retry", "--timeout", "10"]) == 0
        assert sorted(str(r.request_id) for r in server.seen()) == sorted([pending, failed])
    out = capsys.readouterr().out
    assert "Retried 2 operations" in out and "2 delivered, 0 still pending, 0 failed" in out
    assert Outbox(box, "inspect").rows() == []


def test_clear_all_or_only_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "box.sqlite3"
    pending, _ = fill(box, "http://127.0.0.1:9")
    assert main(["outbox", "clear", "--failed", "--path", str(box)]) == 0
    assert [r.request_id for r in Outbox(box, "inspect").rows()] == [pending]
    assert main(["outbox", "--path", str(box), "clear"]) == 0
    assert Outbox(box, "inspect").rows() == []
    assert "Deleted 1 operations" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_text("hello, this is not SQLite" * 100)
    assert main(["outbox", "--path", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "helicone-wrap outbox: cannot use the outbox at" in err and "Traceback" not in err
