"""The SQLite outbox: where it lives, atomic claims across processes, leases and dead owners."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helicone_wrap._delivery.outbox import Outbox, OutboxRow, default_outbox_path, owner_alive, owner_tag


def rows(n: int, prefix: str = "op") -> list[OutboxRow]:
    return [OutboxRow(f"{prefix}-{i}", "feedback", f"rid-{i}", '{"rating": true}', "http://x", time.time()) for i in range(n)]


def test_default_path_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default outbox is $XDG_DATA_HOME/helicone_wrap/outbox.sqlite3, else ~/.local/share/... (Linux)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_outbox_path() == tmp_path / "helicone_wrap" / "outbox.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if sys.platform.startswith("linux"):
        assert default_outbox_path() == tmp_path / "home" / ".local" / "share" / "helicone_wrap" / "outbox.sqlite3"


def test_rows_round_trip_in_order(tmp_path: Path) -> None:
    """Rows come back oldest first with their fields intact; adding a row twice keeps one."""
    box = Outbox(tmp_path / "o.sqlite3", "t1")
    box.add(rows(3))
    box.add(rows(1))
    assert [r.op_id for r in box.rows()] == ["op-0", "op-1", "op-2"]
    assert box.rows()[0].body() == {"rating": True}
    box.delete(["op-1"])
    assert [r.op_id for r in box.rows()] == ["op-0", "op-2"]
    box.close()


def test_claims_are_exclusive_while_the_owner_lives(tmp_path: Path) -> None:
    """A claimed row is not handed to another live process until released or its lease expires."""
    path = tmp_path / "o.sqlite3"
    a, b = Outbox(path, "a"), Outbox(path, "b")
    a.add(rows(10))
    now = time.time()
    first = a.claim(6, now=now, lease=60, alive=lambda owner: True)
    second = b.claim(100, now=now, lease=60, alive=lambda owner: True)
    assert {r.op_id for r in first}.isdisjoint(r.op_id for r in second)
    assert len(first) + len(second) == 10
    assert b.claim(100, now=now, lease=60, alive=lambda owner: True) == []
    assert len(b.claim(100, now=now + 61, lease=60, alive=lambda owner: True)) == 6  # a's lease expired
    b.release()
    assert len(a.claim(100, now=now + 62, lease=60, alive=lambda owner: True)) == 10
    a.close()
    b.close()


def test_rows_of_a_dead_owner_are_claimable_at_once(tmp_path: Path) -> None:
    """Rows held by a process that no longer exists are replayed without waiting for the lease."""
    path = tmp_path / "o.sqlite3"
    dead, live = Outbox(path, "dead"), Outbox(path, "live")
    dead.add(rows(3), claimed=True, lease_until=time.time() + 3600)
    assert len(live.claim(10, now=time.time(), lease=60, alive=lambda owner: owner != dead.owner)) == 3
    dead.close()
    live.close()


def test_owner_alive_checks_the_process() -> None:
    """A finished process on this host is dead; this process's current tag is alive."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    tag = owner_tag("x").split("|")
    assert owner_alive(f"{tag[0]}|{proc.pid}|x") is False
    box_tag = Outbox("/nonexistent/never-opened.sqlite3", "me").owner
    assert owner_alive(box_tag) is True
    assert owner_alive(f"another-host|{proc.pid}|x") is True  # can't tell: trust the lease


CLAIMER = textwrap.dedent(
    """
    import sys, time
    from helicone_wrap._delivery.outbox import Outbox
    box = Outbox(sys.argv[1], sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    got = []
    while True:
        batch = box.claim(7, now=time.time(), lease=600)
        if not batch:
            break
        got += [r.op_id for r in batch]
        box.delete([r.op_id for r in batch])  # "delivered", as the worker does
        time.sleep(0.002)  # SQLite's busy handler is not fair: leave the other process a turn
    print(" ".join(got))
    """
)


def test_two_processes_never_claim_the_same_row(tmp_path: Path) -> None:
    """Two processes draining one outbox concurrently each get their own rows, never the same one."""
    path = tmp_path / "shared.sqlite3"
    Outbox(path, "seed").add(rows(1000))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(path), name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for name in ("p1", "p2")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] and outputs[1]  # both took part
    assert set(outputs[0]).isdisjoint(outputs[1])
    assert sorted(outputs[0] + outputs[1]) == sorted(f"op-{i}" for i in range(1000))
