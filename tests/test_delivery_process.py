"""Whole-process behaviour: a bounded exit, nothing lost across exit or kill -9, and fork safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helicone_wrap._delivery.outbox import Outbox

from .faultserver import FaultServer, hang

pytestmark = pytest.mark.slow

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
ROOT = Path(__file__).resolve().parent.parent

# Queues N feedback operations to URL, prints "queued", then exits normally (atexit runs).
PRODUCER = textwrap.dedent(
    """
    import sys, uuid
    from helicone_wrap import _delivery
    from helicone_wrap._config import Target
    from helicone_wrap._operations import feedback_request
    url, outbox, count, exit_timeout, durable = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1"
    _delivery.configure(outbox=None if outbox == "-" else outbox, exit_timeout=exit_timeout, request_timeout=30.0, durable=durable)
    target = Target(url, sys.argv[6])
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for rid in ids:
        feedback_request(rid, True, target=target)
    print(" ".join(ids), flush=True)
    print("queued", flush=True)
    if len(sys.argv) > 7:
        sys.stdin.read()  # wait here to be killed
    """
)

# A later process: replays what the outbox holds and reports whether flush() finished.
CONSUMER = textwrap.dedent(
    """
    import sys
    from helicone_wrap import _delivery
    _delivery.configure(outbox=sys.argv[1])
    ok = _delivery.flush(30)
    print(ok, _delivery.stats().replayed, flush=True)
    """
)


def spawn(code: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "HELICONE_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdin=stdin,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def replay(outbox: Path) -> tuple[bool, int]:
    proc = spawn(CONSUMER, str(outbox))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    ok, replayed = out.split()
    return ok == "True", int(replayed)


def test_exit_is_bounded_when_the_server_never_answers(server: FaultServer, tmp_path: Path) -> None:
    """With a server that accepts but never answers, the process exits soon after exit_timeout, saving its work.

    The bound allows for interpreter teardown on a loaded machine; a hang would run into the 30 s.
    """
    server.when(hang())
    outbox = tmp_path / "outbox.sqlite3"
    proc = spawn(PRODUCER, server.url, str(outbox), "50", "1.0", "0", KEY)
    assert proc.stdout is not None
    ids = proc.stdout.readline().split()
    assert proc.stdout.readline().strip() == "queued"
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    assert elapsed <= 1.0 + 3.0, f"exit took {elapsed:.2f} s"
    saved = Outbox(outbox, "inspect").rows()
    assert sorted(r.request_id for r in saved) == sorted(ids)

    server.clear_rules()
    before = len(server.seen())
    ok, replayed = replay(outbox)
    assert ok and replayed == 50
    assert sorted(str(r.request_id) for r in server.seen()[before:]) == sorted(ids)
    assert Outbox(outbox, "inspect").rows() == []


def test_nothing_is_lost_after_kill_9(server: FaultServer, tmp_path: Path) -> None:
    """durable=True: 1,000 pending operations survive kill -9 and are each delivered after a restart."""
    server.when(hang())
    outbox = tmp_path / "outbox.sqlite3"
    proc = spawn(PRODUCER, server.url, str(outbox), "1000", "5.0", "1", KEY, "wait", stdin=subprocess.PIPE)
    assert proc.stdout is not None
    ids = proc.stdout.readline().split()
    assert proc.stdout.readline().strip() == "queued"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(ids) == 1000

    server.clear_rules()
    before = len(server.seen())
    ok, replayed = replay(outbox)
    assert ok and replayed == 1000
    delivered = {r.request_id for r in server.seen()[before:]}
    assert delivered == set(ids)
    assert {r.body["rating"] for r in server.seen()[before:]} == {True}
    assert Outbox(outbox, "inspect").rows() == []


def test_exit_without_outbox_warns_about_what_is_lost(server: FaultServer) -> None:
    """With outbox=None, undelivered work at exit is reported on the helicone_wrap logger."""
    server.when(hang())
    proc = spawn(PRODUCER, server.url, "-", "5", "0.3", "0", KEY)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "5 enrich/feedback/score operations were not delivered before exit" in err
    assert KEY not in err


FORKER = textwrap.dedent(
    """
    import os, sys, uuid
    from helicone_wrap import _delivery
    from helicone_wrap._config import Target
    from helicone_wrap._operations import feedback_request
    _delivery.configure(outbox=None, exit_timeout=0.2, request_timeout=30.0)
    target = Target(sys.argv[1], sys.argv[2])
    parent_id, child_id = sys.argv[3], sys.argv[4]
    pending = feedback_request(parent_id, True, target=target)   # hangs on the server
    pid = os.fork()
    if pid == 0:
        stats_at_start = _delivery.stats()
        handle = feedback_request(child_id, True, target=target)
        ok = handle.wait(10) and handle.ok and _delivery.flush(10)
        print("child", ok, stats_at_start.queued, _delivery.stats().delivered, flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent", pending.done, flush=True)
    """
)


def test_worker_survives_fork(server: FaultServer) -> None:
    """A forked child starts with an empty queue and its own worker; the parent's pending work stays the parent's."""
    import uuid

    parent_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())
    server.when(hang(), path_contains=parent_id)
    proc = spawn(FORKER, server.url, KEY, parent_id, child_id)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "child True 0 1" in out and "parent False" in out
    assert [r.request_id for r in server.seen(path_contains=child_id)] == [child_id]
    assert len(server.seen(path_contains=parent_id)) == 1  # sent by the parent only, never replayed by the child
