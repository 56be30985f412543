"""Memory of pending delivery operations: bytes per operation while the REST API is down.

What: ``--ops`` feedback operations are queued (in memory only: ``outbox=None``, ``max_queue``
above ``--ops``) against a REST API that either refuses connections (a closed loopback port) or
answers ``500 "Request not found"`` (the loopback fault server, Helicone's ingestion lag). Once
every operation has had its first attempt and waits for a retry (the backoff is tuned long, so
none is attempted twice), the RSS growth over the queued operations is divided by their count
(handles are not kept: a fire-and-forget caller's worst case). The full default queue
(``max_queue``, 50,000 by default) is projected from it, or measured when ``--ops 50000`` is given.

Usage: ``python benchmarks/bench_pending.py [--ops 20000] [--answer refused|not-found|both]``
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _common import emit, env_flag

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
FULL_QUEUE = 50_000  # Settings().max_queue, the default


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(answer: str, ops: int) -> dict[str, object]:
    """One run in this process: queue ``ops`` operations and measure the RSS they hold."""
    from helicone_wrap import _delivery
    from helicone_wrap._config import Target
    from helicone_wrap._operations import feedback_request
    from tests.faultserver import FaultServer, closed_port, not_found

    server = None
    if answer == "refused":
        url = f"http://127.0.0.1:{closed_port()}"
    else:
        server = FaultServer(record=False).start()
        server.when(not_found())
        url = server.url
    _delivery.configure(outbox=None, max_queue=ops + 10, exit_timeout=0.0)
    _delivery._tune(backoff_base=3600.0, backoff_cap=3600.0)  # one attempt each, then a long wait
    target = Target(url, "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd")
    ids = [str(uuid.uuid4()) for _ in range(ops)]
    feedback_request(str(uuid.uuid4()), True, target=target)  # warm-up: threads, pool, imports
    deadline = time.monotonic() + 120
    while _delivery.stats().retried < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    gc.collect()
    before = rss_bytes()
    for rid in ids:
        feedback_request(rid, True, target=target)
    while _delivery.stats().retried < ops + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    attempted = _delivery.stats().retried - 1
    gc.collect()
    grown = rss_bytes() - before
    if server is not None:
        server.stop()
    per_op = grown / max(1, ops)
    return {
        "bench": "pending", "variant": answer, "ops": ops, "attempted": attempted,
        "rss_growth_bytes": grown, "bytes_per_pending_op": round(per_op, 1),
        "full_queue_mib": round(per_op * FULL_QUEUE / 2**20, 1), "pending": _delivery.stats().pending,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=env_flag("BENCH_PENDING_OPS", 20_000))
    parser.add_argument("--answer", choices=("refused", "not-found", "both"), default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        emit(measure(args.answer, args.ops))
        return
    for answer in ("refused", "not-found") if args.answer == "both" else (args.answer,):
        # Each in its own process: RSS growth is only honest in a fresh heap.
        done = subprocess.run([sys.executable, __file__, "--child", "--answer", answer, "--ops", str(args.ops)],
                              capture_output=True, text=True, timeout=300, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            emit({"bench": "pending", "variant": answer, "status": "failed", "reason": done.stderr[-500:]})
        else:
            sys.stdout.write(lines[-1] + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
