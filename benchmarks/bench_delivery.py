"""Delivery: enqueue cost per enrich/feedback/score on the caller's thread, delivered ops/s.

What:

- enqueue cost: CPU of the *calling thread* (``time.thread_time``) per ``result.enrich(...)``,
  ``result.feedback(...)`` or ``result.score(...)``: validation + queueing. The background
  sender threads are not on the caller's thread and are not counted; the raw openai call is
  not involved. Target <= 20 µs.
- delivered ops/s: operations queued back to back, then ``helicone_wrap._delivery.flush()``;
  ops / wall time from the first enqueue until the flush returns. Every op is an HTTP request
  to the local gateway (``GatewayServer``, own process, SQLite log), whose store counters
  confirm that each one arrived. Target >= 2,000/s. Bounded by ``--budget-s``: a round whose flush
  runs out of time counts what got through and ends the run (``flush_timeouts``).

How: the gateway proxies to the loopback OpenAI-shaped server (own process); a wrapped client
(``base_url`` and ``api_url`` = the gateway) makes 100 calls, so every op targets a logged
request. Then ``--rounds`` rounds of ``--ops`` operations (enrich/feedback/score in turn);
median and spread over rounds are reported. The delivery outbox lives in a temp directory.

Usage: ``python benchmarks/bench_delivery.py [--rounds 8 --ops 4000]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from _common import MESSAGES, MODEL, emit, env_flag, gateway_available, start_gateway, start_server, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=env_flag("BENCH_ROUNDS", 8))
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--budget-s", type=float, default=45.0,
                        help="stop after the round that crosses this; a round's flush waits at most what is left")
    args = parser.parse_args(argv)
    missing = gateway_available()
    if missing:
        emit({"bench": "delivery", "status": "not run", "reason": missing})
        return

    import openai

    from helicone_wrap import _delivery, wrap

    tmp = tempfile.TemporaryDirectory(prefix="helicone-bench-")
    _delivery.configure(outbox=os.path.join(tmp.name, "outbox.sqlite3"))
    with start_server() as upstream, start_gateway(upstream.url + "/v1") as gateway:
        client = wrap(openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-bench", max_retries=0),
                      base_url=gateway.url, api_url=gateway.url, api_key="sk-helicone-bench")
        results: list[Any] = [client.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(100)]
        # Warm-up: start the worker, open its connections.
        for r in results:
            r.enrich(warm="up")
        assert _delivery.flush(30.0), "warm-up ops were not delivered"
        before = gateway.stats()

        enqueue_us: list[float] = []
        per_kind: dict[str, list[float]] = {"enrich": [], "feedback": [], "score": []}
        throughput: list[float] = []
        timeouts = 0
        sent = 0
        deadline = time.monotonic() + args.budget_s
        for round_ in range(args.rounds):
            if time.monotonic() > deadline:
                break
            kinds = {"enrich": 0, "feedback": 0, "score": 0}
            cpu = {"enrich": 0, "feedback": 0, "score": 0}
            w0 = time.perf_counter()
            for i in range(args.ops):
                r = results[i % len(results)]
                kind = ("enrich", "feedback", "score")[i % 3]
                c0 = time.thread_time_ns()
                if kind == "enrich":
                    r.enrich(step=f"r{round_}", n=i)
                elif kind == "feedback":
                    r.feedback(i % 2 == 0)
                else:
                    r.score(quality=i % 100, ok=True)
                cpu[kind] += time.thread_time_ns() - c0
                kinds[kind] += 1
            drained = _delivery.flush(max(1.0, deadline - time.monotonic()))
            elapsed = time.perf_counter() - w0
            ops = args.ops + kinds["enrich"]  # enrich(step=, n=) is two PUTs
            sent += ops
            # Out of budget: the rate is what got through in the time spent; no further rounds.
            done = ops if drained else max(0, ops - _delivery.stats().pending)
            throughput.append(done / elapsed)
            enqueue_us.append(sum(cpu.values()) / args.ops / 1e3)
            for kind in per_kind:
                per_kind[kind].append(cpu[kind] / kinds[kind] / 1e3)
            if not drained:
                timeouts += 1
                break
        after = gateway.stats()
        arrived = after["rest_writes"] - before["rest_writes"]
        emit({
            "bench": "delivery", "status": "ok", "rounds": len(throughput), "ops_per_round": args.ops,
            "enqueue_us": summary(enqueue_us),
            "enqueue_us_by_kind": {k: summary(v) for k, v in per_kind.items()},
            "delivered_per_s": summary(throughput), "http_ops_sent": sent, "arrived_at_gateway": arrived,
            "flush_timeouts": timeouts, "budget_s": args.budget_s, "delivery_stats": str(_delivery.stats()),
            "note": "enrich(step=, n=) is 2 REST ops (one PUT per key); ops/s counts REST ops",
        })
    _delivery.configure(outbox=None, exit_timeout=0.0)  # leave nothing behind at exit
    tmp.cleanup()


if __name__ == "__main__":
    main()
