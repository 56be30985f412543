"""Async logging mode against raw openai, in one process: CPU per call, per chunk, TTFT, RSS.

The provider and the log host are the loopback server of ``_server.py`` in its own process (it
answers ``/oai/v1/log`` with 200). CPU is ``time.process_time()`` of this process, so the delivery
worker's threads (record building and sending) are charged to async mode; each segment ends with
``helicone_wrap.flush()`` inside the timed window. Segments alternate raw/async in rounds.

Usage: ``python benchmarks/bench_asynclog.py --calls 2000 --rounds 5 --chunks 200``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import openai

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit, start_server

import helicone_wrap

MESSAGES = [{"role": "user", "content": "hi"}]


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _segment(client: Any, calls: int, stream: bool) -> tuple[float, list[float]]:
    ttfts: list[float] = []
    start = time.process_time()
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
    helicone_wrap.flush(60)
    return time.process_time() - start, ttfts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--rss-calls", type=int, default=20000)
    args = parser.parse_args()
    helicone_wrap.configure(outbox=None)
    with start_server(args.chunks) as server:
        raw = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
        wrapped = helicone_wrap.wrap(openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0),
                                     mode="async", base_url=server.url, api_key="sk-helicone-bench")
        result: dict[str, Any] = {"benchmark": "asynclog", "openai": openai.__version__, **vars(args)}
        for stream in (False, True):
            calls = args.calls if not stream else max(1, args.calls // 20)
            _segment(raw, 50, stream), _segment(wrapped, 50, stream)  # warm up
            cpu: dict[str, list[float]] = {"raw": [], "async": []}
            ttft: dict[str, list[float]] = {"raw": [], "async": []}
            for _ in range(args.rounds):
                for name, client in (("raw", raw), ("async", wrapped)):
                    spent, firsts = _segment(client, calls, stream)
                    cpu[name].append(spent / calls * 1e6)
                    ttft[name].extend(firsts)
            key = "stream" if stream else "plain"
            raw_us, async_us = statistics.median(cpu["raw"]), statistics.median(cpu["async"])
            result[f"{key}_cpu_us_per_call"] = {"raw": round(raw_us, 1), "async": round(async_us, 1),
                                                "ratio": round(async_us / raw_us, 3)}
            if stream:
                result["stream_cpu_us_per_chunk"] = {"raw": round(raw_us / args.chunks, 2),
                                                     "async": round(async_us / args.chunks, 2)}
                raw_t, async_t = statistics.median(ttft["raw"]), statistics.median(ttft["async"])
                result["ttft_ms_p50"] = {"raw": round(raw_t * 1e3, 3), "async": round(async_t * 1e3, 3),
                                         "ratio": round(async_t / raw_t, 3)}
        _segment(wrapped, 2000, False)
        before = _rss_kb()
        for _ in range(args.rss_calls // 1000):
            _segment(wrapped, 1000, False)
        result["rss_growth_kb"] = {"calls": args.rss_calls, "kb": _rss_kb() - before}
        result["delivery"] = helicone_wrap.delivery_stats()._asdict() if hasattr(
            helicone_wrap.delivery_stats(), "_asdict") else str(helicone_wrap.delivery_stats())
        emit(result)


if __name__ == "__main__":
    main()
