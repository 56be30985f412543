"""Async logging mode against raw openai, in one process: CPU per call, per chunk, TTFT, RSS.

The provider and the log host are the loopback server of ``_server.py`` in its own process (it
answers ``/oai/v1/log`` with 200). Two CPU figures per call: the caller's thread alone
(``time.thread_time()`` around the calls) and the whole process (``time.process_time()``, so the
delivery worker's threads, record building and sending, are charged to async mode; each segment
ends with ``helicone_wrap.flush()`` inside that window). Segments alternate raw/async in rounds.

Also: bytes held per pending record (tracemalloc, records parked behind a log host that is down),
and the latency a ``fallback="direct"`` call adds while its gateway is down and the circuit is
open (wall clock per call against the raw client on the same provider).

Usage: ``python benchmarks/bench_asynclog.py --calls 300 --rounds 30 --chunks 200``
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import statistics
import sys
import time
import tracemalloc
from typing import Any

import openai

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit, start_server

import helicone_wrap
from helicone_wrap import _delivery, _fallback

MESSAGES = [{"role": "user", "content": "hi"}]


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _segment(client: Any, calls: int, stream: bool) -> tuple[float, list[float], float]:
    """Process CPU (flush included), the TTFTs, and the caller thread's CPU of ``calls`` calls."""
    ttfts: list[float] = []
    start = time.process_time()
    thread_start = time.thread_time()
    for _ in range(calls):
        if stream:
            t0 = time.perf_counter()
            first = True
            for _chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
                if first:
                    ttfts.append(time.perf_counter() - t0)
                    first = False
        else:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    caller = time.thread_time() - thread_start
    helicone_wrap.flush(60)
    return time.process_time() - start, ttfts, caller


def _iqr(values: list[float]) -> list[float]:
    """The quartiles of the per-round ratios: how far one round may be off the median."""
    if len(values) < 4:
        return [round(min(values), 4), round(max(values), 4)]
    q1, _, q3 = statistics.quantiles(values, n=4)
    return [round(q1, 4), round(q3, 4)]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _bytes_per_pending_record(provider: str, records: int) -> dict[str, Any]:
    """Traced bytes held per queued record while the log host is down (each attempted once, then parked)."""
    _delivery._tune(backoff_base=3600.0, backoff_cap=3600.0)
    dead = f"http://127.0.0.1:{_closed_port()}"
    client = helicone_wrap.wrap(openai.OpenAI(base_url=provider + "/v1", api_key="sk-x", max_retries=0),
                                mode="async", base_url=dead, api_key="sk-helicone-bench")
    for _ in range(20):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    time.sleep(0.5)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    pending_before = helicone_wrap.delivery_stats().pending
    for _ in range(records):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    time.sleep(1.0)  # each record's one attempt fails; then it waits for its (hour-long) backoff
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    parked = helicone_wrap.delivery_stats().pending - pending_before
    _delivery._reset_for_tests()
    helicone_wrap.configure(outbox=None)
    return {"records": parked, "bytes_per_record": round(held / max(1, parked))}


def _fallback_latency(provider: str, raw: Any, calls: int) -> dict[str, Any]:
    """p50/p90 wall time per call: raw openai vs a fallback client whose gateway is down (circuit open)."""
    _delivery._tune(backoff_base=3600.0, backoff_cap=3600.0)
    _fallback.COOLDOWN = 3600.0  # the circuit stays open for the whole measurement
    dead = f"http://127.0.0.1:{_closed_port()}"
    client = helicone_wrap.wrap(openai.OpenAI(base_url=provider + "/v1", api_key="sk-x", max_retries=0),
                                base_url=dead, api_key="sk-helicone-bench", fallback="direct")
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # trips the breaker
    times: dict[str, list[float]] = {"raw": [], "fallback": []}
    for _ in range(calls):
        for name, each in (("raw", raw), ("fallback", client)):
            t0 = time.perf_counter()
            each.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            times[name].append(time.perf_counter() - t0)
    out: dict[str, Any] = {"calls": calls, "fallbacks": helicone_wrap.delivery_stats().fallbacks}
    for q, label in ((50, "p50"), (90, "p90")):
        raw_q = statistics.quantiles(times["raw"], n=100)[q - 1] * 1e3
        fb_q = statistics.quantiles(times["fallback"], n=100)[q - 1] * 1e3
        out[f"{label}_ms"] = {"raw": round(raw_q, 3), "fallback": round(fb_q, 3), "added": round(fb_q - raw_q, 3)}
    _delivery._reset_for_tests()
    _fallback.reset_for_tests()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--rss-calls", type=int, default=20000)
    parser.add_argument("--pending-records", type=int, default=2000)
    parser.add_argument("--fallback-calls", type=int, default=1000)
    args = parser.parse_args()
    helicone_wrap.configure(outbox=None)
    with start_server(args.chunks) as server:
        raw = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
        wrapped = helicone_wrap.wrap(openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0),
                                     mode="async", base_url=server.url, api_key="sk-helicone-bench")
        result: dict[str, Any] = {"bench": "asynclog", "status": "ok", "openai": openai.__version__, **vars(args)}
        for stream in (False, True):
            calls = args.calls if not stream else max(1, args.calls // 20)
            _segment(raw, 50, stream), _segment(wrapped, 50, stream)  # warm up
            cpu: dict[str, list[float]] = {"raw": [], "async": []}
            caller: dict[str, list[float]] = {"raw": [], "async": []}
            ttft: dict[str, list[float]] = {"raw": [], "async": []}
            paired: dict[str, list[float]] = {"cpu": [], "caller": [], "ttft": []}
            for _ in range(args.rounds):
                # raw, async, raw: each async segment against the mean of the raw ones around it, so
                # the VM's drift (5-15 % between minutes here) cancels out of the ratio
                seen = [_segment(client, calls, stream) for client in (raw, wrapped, raw)]
                for name, (spent, firsts, on_caller) in zip(("raw", "async", "raw"), seen, strict=True):
                    cpu[name].append(spent / calls * 1e6)
                    caller[name].append(on_caller / calls * 1e6)
                    ttft[name].extend(firsts)
                paired["cpu"].append(seen[1][0] * 2 / (seen[0][0] + seen[2][0]))
                paired["caller"].append(seen[1][2] * 2 / (seen[0][2] + seen[2][2]))
                if stream:
                    firsts_raw = statistics.median(seen[0][1] + seen[2][1])
                    paired["ttft"].append(statistics.median(seen[1][1]) / firsts_raw)
            key = "stream" if stream else "plain"
            raw_us, async_us = statistics.median(cpu["raw"]), statistics.median(cpu["async"])
            result[f"{key}_cpu_us_per_call"] = {"raw": round(raw_us, 1), "async": round(async_us, 1),
                                                "ratio": round(statistics.median(paired["cpu"]), 4),
                                                "ratio_iqr": _iqr(paired["cpu"])}
            raw_c, async_c = statistics.median(caller["raw"]), statistics.median(caller["async"])
            result[f"{key}_caller_thread_cpu_us_per_call"] = {"raw": round(raw_c, 1), "async": round(async_c, 1),
                                                              "ratio": round(statistics.median(paired["caller"]), 4),
                                                              "ratio_iqr": _iqr(paired["caller"])}
            if stream:
                result["stream_cpu_us_per_chunk"] = {"raw": round(raw_us / args.chunks, 2),
                                                     "async": round(async_us / args.chunks, 2)}
                raw_t, async_t = statistics.median(ttft["raw"]), statistics.median(ttft["async"])
                result["ttft_ms_p50"] = {"raw": round(raw_t * 1e3, 3), "async": round(async_t * 1e3, 3),
                                         "ratio": round(statistics.median(paired["ttft"]), 4),
                                         "ratio_iqr": _iqr(paired["ttft"])}
        _segment(wrapped, 2000, False)
        before, started = _rss_kb(), time.monotonic()
        for _ in range(args.rss_calls // 1000):
            _segment(wrapped, 1000, False)
        result["rss_growth_kb"] = {"calls": args.rss_calls, "kb": _rss_kb() - before,
                                   "wall_s": round(time.monotonic() - started, 1)}
        result["delivery"] = str(helicone_wrap.delivery_stats())
        result["pending_record"] = _bytes_per_pending_record(server.url, args.pending_records)
        result["fallback_circuit_open"] = _fallback_latency(server.url, raw, args.fallback_calls)
        emit(result)


if __name__ == "__main__":
    main()
