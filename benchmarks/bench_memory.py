"""Memory: RSS and tracemalloc growth over 100,000 wrapped calls in 10,000 sessions, enrich on 10%.

What: a wrapped sync client calls the loopback server (own process) ``--sessions`` x 10 times,
each session its own ``session(...)`` + ``properties(...)`` block; every 10th call does
``result.enrich(step="x")`` when the delivery module (``helicone_wrap._operations`` /
``_delivery``) exists, with ``wrap(..., api_url=<loopback server>)`` so the REST calls stay local,
and ``helicone_wrap._delivery.flush()`` before the final measurement (the delivery outbox is put
in a temporary directory, so the user's own outbox is never touched). Growth is measured after a
warm-up and ``gc.collect()``, once the delivery queue has drained:

- RSS (``/proc/self/statm``, or psutil) and ``sys.getallocatedblocks()`` over all 100,000 calls,
  untraced;
- tracemalloc (1 frame) over a separate slice of ``--trace-calls`` calls (same shape: sessions of
  10, enrich on 10%) run just before: tracing makes each call ~3.5x dearer, so tracing all
  100,000 would take minutes. The slice runs in two halves: the first lets bounded caches fill
  (``re``'s and ``urllib``'s caches, the request-id pool), which would otherwise read as a
  per-call slope; the second half's growth, its per-call slope projected to the full run, and
  the top allocation sites still alive at its end are reported (the first half's growth too);
- a raw control: the same measures over ``--raw-calls`` raw openai calls in the same process
  (plain ``OpenAI`` client, no sessions), before the wrapped run. Raw openai + httpx grow RSS by
  themselves (~17 B/call measured on openai 2, with no Python objects retained), so the raw
  RSS slope is projected to the wrapped run's call count and the excess over it is reported.

A checkpoint (calls, RSS, blocks) every 10% shows the slope. ``--budget-s`` bounds the wall
time: if it runs out, the run stops early and says how many calls were made.

Usage: ``python benchmarks/bench_memory.py [--sessions 10000 --trace-calls 4000 --raw-calls 20000]``
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import tempfile
import time
import tracemalloc
from typing import Any

from _common import MESSAGES, MODEL, emit, env_flag, has_module, start_server
from _variants import raw

CALLS_PER_SESSION = 10
ENRICH_EVERY = 10  # 10% of calls


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def _flush(delivery: Any) -> str:
    if delivery is None:
        return "no delivery module"
    flush = getattr(delivery, "flush", None)
    if flush is None:
        return "helicone_wrap._delivery has no flush()"
    drained = flush(60.0)
    stats = getattr(delivery, "stats", None)
    counters = f" {stats()}" if callable(stats) else ""
    return ("flushed, queue drained" if drained is not False else "flush TIMED OUT (queue not drained)") + counters


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=env_flag("BENCH_MEMORY_SESSIONS", 10_000))
    parser.add_argument("--trace-calls", type=int, default=env_flag("BENCH_TRACE_CALLS", 4_000))
    parser.add_argument("--raw-calls", type=int, default=env_flag("BENCH_RAW_CALLS", 20_000))
    parser.add_argument("--warmup-sessions", type=int, default=200)
    parser.add_argument("--budget-s", type=float, default=env_flag("BENCH_MEMORY_BUDGET_S", 240))
    args = parser.parse_args(argv)

    import openai

    from helicone_wrap import properties, session, wrap

    enrich_on = has_module("helicone_wrap._operations") and has_module("helicone_wrap._delivery")
    delivery = importlib.import_module("helicone_wrap._delivery") if enrich_on else None
    outbox_dir = tempfile.TemporaryDirectory(prefix="helicone-bench-")
    if delivery is not None and hasattr(delivery, "configure"):
        # Keep the benchmark away from the user's own outbox (no replay of their data, no files left).
        delivery.configure(outbox=os.path.join(outbox_dir.name, "outbox.sqlite3"))
    enrich_note = ("result.enrich(step='x') on every 10th call, REST to the loopback server, flushed "
                   "before measuring" if enrich_on else
                   "NOT RUN: helicone_wrap._delivery/_operations do not exist in this build; calls only")
    deadline = time.monotonic() + args.budget_s
    started = time.monotonic()

    with start_server() as server:
        client = wrap(openai.OpenAI(base_url=server.url + "/v1", api_key="sk-bench", max_retries=0),
                      base_url=server.url, api_url=server.url, api_key="sk-helicone-bench")
        create = client.chat.completions.create
        enriched = 0

        def run_sessions(first: int, count: int) -> int:
            nonlocal enriched
            calls = 0
            for s in range(first, first + count):
                with session("mem", path=f"/s{s % 7}"), properties(environment="bench", batch=s % 100):
                    for i in range(CALLS_PER_SESSION):
                        result: Any = create(model=MODEL, messages=MESSAGES)
                        calls += 1
                        if enrich_on and i % ENRICH_EVERY == 0:
                            result.enrich(step="x")
                            enriched += 1
                if time.monotonic() > deadline:
                    break
            return calls

        # Warm-up: imports, pools, caches, the delivery worker.
        run_sessions(0, args.warmup_sessions)
        flush_state = _flush(delivery)
        gc.collect()

        # Raw control in the same process.
        base = raw(server.url).sync
        for _ in range(200):
            base.chat.completions.create(model=MODEL, messages=MESSAGES)
        gc.collect()
        raw_rss0, raw_blocks0 = rss_bytes(), sys.getallocatedblocks()
        for _ in range(args.raw_calls):
            base.chat.completions.create(model=MODEL, messages=MESSAGES)
        gc.collect()
        raw_rss = rss_bytes() - raw_rss0
        raw_growth = {"calls": args.raw_calls, "rss_bytes": raw_rss,
                      "allocated_blocks": sys.getallocatedblocks() - raw_blocks0,
                      "rss_bytes_per_call": raw_rss / max(1, args.raw_calls)}

        # tracemalloc slice (separate, before the RSS run, so tracing's own memory is not in RSS), in
        # two halves back to back: bounded caches (re's, urllib's quote cache, the request-id pool)
        # still fill during the first, so only the second half's growth is a per-call slope.
        trace_sessions = max(2, args.trace_calls // CALLS_PER_SESSION)
        first = args.warmup_sessions
        gc.collect()
        tracemalloc.start(1)
        traced0 = tracemalloc.get_traced_memory()[0]
        enriched = 0
        first_half_calls = run_sessions(first, trace_sessions // 2)
        _flush(delivery)
        gc.collect()
        traced_half = tracemalloc.get_traced_memory()[0]
        snap0 = tracemalloc.take_snapshot()
        traced_calls = run_sessions(first + trace_sessions // 2, trace_sessions - trace_sessions // 2)
        traced_enriched = enriched
        _flush(delivery)
        gc.collect()
        traced_growth = tracemalloc.get_traced_memory()[0] - traced_half
        first_half_growth = traced_half - traced0
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        top = [
            {"where": str(stat.traceback[0]), "size_diff": stat.size_diff, "count_diff": stat.count_diff}
            for stat in snap1.compare_to(snap0, "lineno")[:8]
            if stat.size_diff > 0 and "tracemalloc.py" not in str(stat.traceback[0])
        ]
        del snap0, snap1
        first += trace_sessions

        # The measured run: RSS and allocated blocks over all sessions, untraced.
        enriched = 0
        gc.collect()
        rss0, blocks0 = rss_bytes(), sys.getallocatedblocks()
        checkpoints: list[dict[str, int]] = []
        calls_done = 0
        step = max(1, args.sessions // 10)
        s = 0
        while s < args.sessions and time.monotonic() < deadline:
            n = min(step, args.sessions - s)
            calls_done += run_sessions(first + s, n)
            s += n
            checkpoints.append({"calls": calls_done, "rss_bytes": rss_bytes() - rss0,
                                "allocated_blocks": sys.getallocatedblocks() - blocks0})
        flush_state = _flush(delivery)
        gc.collect()
        rss_growth = rss_bytes() - rss0
        blocks_growth = sys.getallocatedblocks() - blocks0
        per_call = traced_growth / traced_calls if traced_calls else 0.0
        stats = server.stats()
        emit({
            "bench": "memory", "variant": "wrapped", "sessions_planned": args.sessions,
            "calls": calls_done, "calls_planned": args.sessions * CALLS_PER_SESSION,
            "stopped_early": calls_done < args.sessions * CALLS_PER_SESSION,
            "enrich": enrich_note, "enriched": enriched, "delivery": flush_state,
            "rss_growth_bytes": rss_growth, "allocated_blocks_growth": blocks_growth,
            "traced_calls": traced_calls, "traced_enriched": traced_enriched,
            "traced_first_half": {"calls": first_half_calls, "bytes": first_half_growth},
            "tracemalloc_growth_bytes": traced_growth, "tracemalloc_bytes_per_call": per_call,
            "tracemalloc_projected_bytes": per_call * calls_done,
            "tracemalloc_top": top, "checkpoints": checkpoints, "raw_control": raw_growth,
            "rss_growth_raw_projected_bytes": raw_growth["rss_bytes_per_call"] * calls_done,
            "rss_growth_excess_over_raw_bytes": rss_growth - raw_growth["rss_bytes_per_call"] * calls_done,
            "server_counts": {k: v for k, v in stats.items() if not k.startswith("other:")},
            "wall_s": round(time.monotonic() - started, 1),
        })
    if delivery is not None and hasattr(delivery, "configure"):
        delivery.configure(outbox=None, exit_timeout=0.0)  # leave nothing behind at exit
    outbox_dir.cleanup()


if __name__ == "__main__":
    main()
