"""Soak: 50,000 enrich/feedback/score ops from 16 threads and 64 asyncio tasks under injected faults.

What: every worker (16 threads sharing one wrapped ``OpenAI``, 64 asyncio tasks sharing one
wrapped ``AsyncOpenAI``) runs in its own ``session(...)``, makes 25 calls through the local
gateway and, after each call, sends on that result one ``feedback``, 12 ``enrich`` (one key
each) and 12 ``score`` ops: 625 ops per worker, 50,000 in all. The gateway's REST endpoints
misbehave on purpose (``FaultPlan``: 500s, 429s with Retry-After, "Request not found" lag,
hangs). Delivery must still get every op through, to the right request, in bounded time.

Check (server side, in the gateway's SQLite file after it stopped and drained):

- delivered: each op's key/score is on its request with the value the worker sent;
- cross-talk: a request whose ``Helicone-Session-Id`` is not its worker's session, or that
  carries a key or score of another worker, or a request of a session logged under another
  worker's id; must be 0.

Prints ``delivered N/N, cross-talk 0``. Bounded: the whole run stops after ``--budget-s``
(default 170 s) and reports what had arrived by then.

Usage: ``python benchmarks/bench_soak.py [--budget-s 170]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from _common import MESSAGES, MODEL, emit, gateway_available, start_gateway, start_server

THREADS, TASKS, CALLS, ENRICH, SCORES = 16, 64, 25, 12, 12
_KEY = re.compile(r"^([ta]\d+)_[es]\d+_\d+$")  # the keys and score names the workers send
FAULTS = {"error_rate": 0.04, "rate_limit_rate": 0.02, "retry_after": 0.5, "not_found_first": 1,
          "hang_rate": 0.0002, "seed": 7}


@dataclass
class Worker:
    name: str
    session_id: str = ""
    #: request id -> {"enrich": {key: value}, "scores": {name: value}, "feedback": bool}
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    ops: int = 0
    errors: list[str] = field(default_factory=list)


def _ops_on(worker: Worker, result: Any, k: int) -> None:
    rid = result.helicone_id
    entry = worker.sent.setdefault(rid, {"enrich": {}, "scores": {}, "feedback": None})
    result.feedback(k % 2 == 0)
    entry["feedback"] = k % 2 == 0
    for j in range(ENRICH):
        key, value = f"{worker.name}_e{k}_{j}", f"{worker.name}:{k}:{j}"
        result.enrich({key: value})
        entry["enrich"][key] = value
    for j in range(SCORES):
        name = f"{worker.name}_s{k}_{j}"
        result.score(**{name: k * 100 + j})
        entry["scores"][name] = k * 100 + j
    worker.ops += 1 + ENRICH + SCORES


def run_thread(client: Any, worker: Worker, deadline: float) -> None:
    from helicone_wrap import session

    try:
        with session(f"soak-{worker.name}") as s:
            worker.session_id = s.id
            for k in range(CALLS):
                if time.monotonic() > deadline:
                    break
                _ops_on(worker, client.chat.completions.create(model=MODEL, messages=MESSAGES), k)
    except Exception as exc:  # recorded, shown in the result
        worker.errors.append(f"{type(exc).__name__}: {exc}")


async def run_task(client: Any, worker: Worker, deadline: float) -> None:
    from helicone_wrap import session

    try:
        async with session(f"soak-{worker.name}") as s:
            worker.session_id = s.id
            for k in range(CALLS):
                if time.monotonic() > deadline:
                    break
                _ops_on(worker, await client.chat.completions.create(model=MODEL, messages=MESSAGES), k)
    except Exception as exc:
        worker.errors.append(f"{type(exc).__name__}: {exc}")


def verify(db: str, workers: list[Worker]) -> dict[str, Any]:
    """Compare what the workers sent with what the gateway stored."""
    con = sqlite3.connect(db)
    rows = {rid: (json.loads(props), json.loads(scores)) for rid, props, scores in
            con.execute("SELECT request_id, properties, scores FROM requests")}
    con.close()
    expected = delivered = 0
    cross: list[str] = []
    owner_of_session = {w.session_id: w.name for w in workers}
    for w in workers:
        for rid, entry in w.sent.items():
            expected += 1 + len(entry["enrich"]) + len(entry["scores"])
            if rid not in rows:
                continue
            props, scores = rows[rid]
            if props.get("Helicone-Session-Id") != w.session_id:
                cross.append(f"{rid}: session {props.get('Helicone-Session-Id')} != {w.name}'s")
            delivered += sum(props.get(k) == v for k, v in entry["enrich"].items())
            delivered += sum(scores.get(k) == v for k, v in entry["scores"].items())
            delivered += "helicone-score-feedback" in scores
            for key in (*props, *scores):
                match = _KEY.match(key)
                if match and match.group(1) != w.name:
                    cross.append(f"{rid}: carries {key} (worker {w.name})")
    sent_ids = {rid: w.name for w in workers for rid in w.sent}
    for rid, (props, _) in rows.items():
        owner = owner_of_session.get(props.get("Helicone-Session-Id", ""))
        if owner is not None and sent_ids.get(rid, owner) != owner:
            cross.append(f"{rid}: logged in {owner}'s session but returned to {sent_ids[rid]}")
    return {"expected_ops": expected, "delivered_ops": delivered, "cross_talk": len(cross),
            "cross_talk_examples": cross[:5], "rows": len(rows)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget-s", type=float, default=170.0)
    args = parser.parse_args(argv)
    missing = gateway_available()
    if missing:
        emit({"bench": "soak", "status": "not run", "reason": missing})
        return

    import openai

    from helicone_wrap import _delivery, wrap

    started = time.monotonic()
    deadline = started + args.budget_s
    tmp = tempfile.TemporaryDirectory(prefix="helicone-bench-")
    db = os.path.join(tmp.name, "gateway.sqlite3")
    # A hung REST call holds a sender until request_timeout: keep that short for the soak.
    _delivery.configure(outbox=os.path.join(tmp.name, "outbox.sqlite3"), request_timeout=2.0)
    workers = [Worker(f"t{i}") for i in range(THREADS)] + [Worker(f"a{i}") for i in range(TASKS)]
    with start_server() as upstream:
        gateway = start_gateway(upstream.url + "/v1", db=db, faults=FAULTS)
        try:
            kw: dict[str, Any] = {"base_url": gateway.url, "api_url": gateway.url, "api_key": "sk-helicone-bench"}
            sync = wrap(openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-bench", max_retries=2), **kw)
            aio = wrap(openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="sk-bench", max_retries=2), **kw)
            threads = [threading.Thread(target=run_thread, args=(sync, w, deadline)) for w in workers[:THREADS]]
            for t in threads:
                t.start()

            async def tasks() -> None:
                await asyncio.gather(*(run_task(aio, w, deadline) for w in workers[THREADS:]))

            asyncio.run(tasks())
            for t in threads:
                t.join(max(1.0, deadline - time.monotonic()))
            calls_done = time.monotonic() - started
            drained = False
            while not drained and time.monotonic() < deadline:
                drained = _delivery.flush(max(1.0, min(10.0, deadline - time.monotonic())))
            delivery_stats = str(_delivery.stats())
            gw_stats = gateway.stats()
        finally:
            gateway.stop()
    result = verify(db, workers)
    _delivery.configure(outbox=None, exit_timeout=0.0)  # leave nothing behind at exit
    tmp.cleanup()
    elapsed = time.monotonic() - started
    summary_line = (f"delivered {result['delivered_ops']}/{result['expected_ops']}, "
                    f"cross-talk {result['cross_talk']}")
    print(summary_line, file=sys.stderr)
    emit({
        "bench": "soak", "status": "ok", "workers": f"{THREADS} threads + {TASKS} asyncio tasks",
        "ops_sent": sum(w.ops for w in workers), **result, "summary": summary_line,
        "drained": drained, "wall_s": round(elapsed, 1), "calls_phase_s": round(calls_done, 1),
        "faults": FAULTS, "fault_counts": gw_stats.get("faults"), "delivery_stats": delivery_stats,
        "worker_errors": [e for w in workers for e in w.errors][:5],
    })


if __name__ == "__main__":
    main()
