"""Nothing lost across processes: short scripts with the API down, several processes sharing one
outbox, and a stuck row that must not slow down every later script."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from helicone_wrap._delivery.outbox import Outbox, OutboxRow

from .faultserver import FaultServer, closed_port, hang, not_found

pytestmark = pytest.mark.slow

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
ROOT = Path(__file__).resolve().parent.parent

# A short script: one feedback() per request id given, a little work, then a normal exit.
SCRIPT = textwrap.dedent(
    """
    import sys, time
    from helicone_wrap import _delivery
    from helicone_wrap._config import Target
    from helicone_wrap._operations import feedback_request
    url, outbox, exit_timeout, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    _delivery.configure(outbox=outbox, exit_timeout=exit_timeout)
    _delivery._tune(backoff_base=0.02, backoff_cap=0.1)
    target = Target(url, sys.argv[5])
    for rid in sys.argv[6:]:
        feedback_request(rid, True, target=target)
    time.sleep(work)
    print(time.time(), flush=True)  # the script's end: what follows is the exit hook's time
    """
)

# Replays the outbox and reports whether flush() finished.
CONSUMER = textwrap.dedent(
    """
    import sys
    from helicone_wrap import _delivery
    _delivery.configure(outbox=sys.argv[1])
    print(_delivery.flush(30), _delivery.stats().replayed, flush=True)
    """
)


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HELICONE_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(code: str, *args: str) -> tuple[str, str, float]:
    """Run a script to its end; its output, its stderr and the seconds its exit took."""
    proc = spawn(code, *args)
    out, err = proc.communicate(timeout=60)
    ended = time.time()
    assert proc.returncode == 0, err
    return out, err, ended - float(out.split()[-1])


def exit_line(count: int, outbox: Path) -> str:
    return (
        f"helicone_wrap: {count} enrich/feedback/score operation{'s were' if count != 1 else ' was'} not "
        "delivered before exit; "
        f"saved to the outbox at {outbox} (inspect: helicone-wrap outbox)."
    )


def test_ten_short_scripts_with_the_api_down_lose_nothing(tmp_path: Path) -> None:
    """Ten scripts in a row, each one feedback() with connections refused: all ten are in the outbox,
    and each script says so in exactly one stderr line (count, outbox path, inspect command)."""
    url = f"http://127.0.0.1:{closed_port()}"
    outbox = tmp_path / "outbox.sqlite3"
    ids = [str(uuid.uuid4()) for _ in range(10)]
    for rid in ids:
        _, err, _ = run(SCRIPT, url, str(outbox), "0.3", "0.3", KEY, rid)
        assert err.splitlines() == [exit_line(1, outbox)]
    rows = Outbox(outbox, "inspect").rows()
    assert sorted(r.request_id for r in rows) == sorted(ids)
    assert all(r.failed_at is None and r.attempts >= 1 and r.error_type == "ConnectError" for r in rows)


def test_two_processes_sharing_an_outbox_deliver_everything_exactly_once(tmp_path: Path) -> None:
    """Two processes at once, 500 ops each, API down; then the API comes up and two processes at once
    replay: the server sees each of the 1,000 operations exactly once and the outbox ends empty."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    outbox = tmp_path / "outbox.sqlite3"
    batches = [[str(uuid.uuid4()) for _ in range(500)] for _ in range(2)]
    producers = [spawn(SCRIPT, url, str(outbox), "1.0", "0.2", KEY, *batch) for batch in batches]
    for proc in producers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and err.splitlines() == [exit_line(500, outbox)], err
    assert len(Outbox(outbox, "inspect").rows()) == 1000

    with FaultServer(port=port) as server:
        for row in Outbox(outbox, "inspect").rows():
            assert row.due_at < time.time() + 1.0  # tuned backoff: due again within the test
        time.sleep(0.2)
        consumers = [spawn(CONSUMER, str(outbox)) for _ in range(2)]
        outs = [proc.communicate(timeout=60) for proc in consumers]
        assert all(proc.returncode == 0 for proc in consumers), outs
        assert all(out.split()[0] == "True" for out, _ in outs), outs
        seen = [r.request_id for r in server.seen()]
    assert sorted(seen) == sorted(batches[0] + batches[1])  # every one, none twice
    assert Outbox(outbox, "inspect").rows() == []


def stuck_row(outbox: Path, url: str, rid: str) -> None:
    row = OutboxRow(f"other-{rid}", "feedback", rid, '{"rating": true}', url, time.time(), origin="other", seq=1)
    Outbox(outbox, "another-process").add([row])


@pytest.mark.parametrize("answer", ["hang", "not-found"])
def test_a_stuck_row_does_not_slow_down_a_later_script(tmp_path: Path, answer: str) -> None:
    """A row another process left (its request hangs, or is not found yet) costs a later script no
    waiting at exit: the script's own feedback is delivered and it exits at once. A replayed row that
    fails again stays in the outbox with its attempt counted and a later due time."""
    with FaultServer() as server:
        stuck, mine = str(uuid.uuid4()), str(uuid.uuid4())
        server.when(hang() if answer == "hang" else not_found(), path_contains=stuck)
        outbox = tmp_path / "outbox.sqlite3"
        stuck_row(outbox, server.url, stuck)
        _, err, exit_seconds = run(SCRIPT, server.url, str(outbox), "5.0", "0.3", KEY, mine)
        assert err == ""
        assert exit_seconds < 3.0, f"the exit took {exit_seconds:.1f} s"  # the old code waited ~4.8 s
        assert [r.request_id for r in server.seen(path_contains=mine)] == [mine]
        assert len(server.seen(path_contains=stuck)) == 1
    (row,) = Outbox(outbox, "inspect").rows()
    assert row.request_id == stuck and row.failed_at is None
    if answer == "not-found":
        assert (row.attempts, row.error_status, row.error_type) == (1, 500, "HeliconeRequestNotFound")
        assert row.first_try > 0 and row.due_at > row.first_try
