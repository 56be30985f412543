"""Where async mode's CPU goes, thread by thread: the caller, each sender, the kernel, the wake-ups.

``bench_asynclog.py`` gives two totals (the caller's thread, the whole process). This harness
splits the whole-process figure with each thread's own CPU clock
(``time.pthread_getcpuclockid``), and adds the process's kernel time and context switches
(``getrusage``), for three clients in interleaved segments of one process:

- ``raw``: plain openai;
- ``async``: ``wrap(client, mode="async")``, each segment flushed inside its window;
- ``capture-only``: the same hooks and capture, with every finished record dropped at submission
  instead of handed to the delivery worker (a diagnostic: it shows what the caller's thread costs
  when no sender runs beside it; records are lost, so this is not a mode anyone can use).

Each round runs raw, one wrapped segment, raw again; a wrapped segment's added cost is taken
against the mean of the two raw ones beside it. Figures are medians over rounds, in µs per call.
Linux only (thread CPU clocks).

Usage: ``python benchmarks/threads_asynclog.py --calls 300 --rounds 10``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import start_server

import helicone_wrap
from helicone_wrap._asynclog import capture

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def _thread_clocks() -> dict[str, float]:
    """CPU seconds of every live thread, by name (senders share a name prefix, each its own)."""
    clocks: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clocks[thread.name] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, AttributeError):
            continue
    return clocks


@contextmanager
def _capture_only() -> Iterator[None]:
    """Drop each finished record at submission (the diagnostic client), then restore delivery."""
    names = vars(capture)  # the module's globals: what capture.Call.finish calls submit_* on
    delivery = names["_delivery"]

    class _Drop:
        @staticmethod
        def submit_log_later(_call: Any) -> None:
            return None

        @staticmethod
        def submit_log(*_args: Any) -> None:
            return None

    names["_delivery"] = _Drop
    try:
        yield
    finally:
        names["_delivery"] = delivery


def _segment(client: Any, calls: int) -> dict[str, float]:
    """µs per call: process total, kernel, and each thread; context switches per call."""
    usage0, clocks0 = resource.getrusage(resource.RUSAGE_SELF), _thread_clocks()
    for _ in range(calls):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    helicone_wrap.flush(60)
    usage1, clocks1 = resource.getrusage(resource.RUSAGE_SELF), _thread_clocks()
    figures = {
        "process": (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) / calls * 1e6,
        "kernel": (usage1.ru_stime - usage0.ru_stime) / calls * 1e6,
        "switches": (usage1.ru_nvcsw + usage1.ru_nivcsw - usage0.ru_nvcsw - usage0.ru_nivcsw) / calls,
    }
    for name, seconds in clocks1.items():
        figures["thread " + name] = (seconds - clocks0.get(name, 0.0)) / calls * 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    helicone_wrap.configure(outbox=None)
    with start_server(200) as server:

        def make() -> openai.OpenAI:
            return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-bench", max_retries=0)

        raw = make()
        wrapped = helicone_wrap.wrap(make(), mode="async", base_url=server.url, api_key="sk-helicone-bench")
        for client in (raw, wrapped):  # warm-up: imports, connections, the worker's threads
            _segment(client, 100)
        added: dict[str, dict[str, list[float]]] = {"async": {}, "capture-only": {}}
        raw_process: list[float] = []
        for _ in range(args.rounds):
            for variant, per in added.items():
                before = _segment(raw, args.calls)
                if variant == "async":
                    mid = _segment(wrapped, args.calls)
                else:
                    with _capture_only():
                        mid = _segment(wrapped, args.calls)
                after = _segment(raw, args.calls)
                raw_process.append((before["process"] + after["process"]) / 2)
                for key, value in mid.items():
                    base = (before.get(key, 0.0) + after.get(key, 0.0)) / 2
                    per.setdefault(key, []).append(value - base)
    raw_call = statistics.median(raw_process)
    print(
        f"raw openai: {raw_call:.1f} µs of process CPU per call ({args.rounds} rounds of {args.calls} calls)"
    )
    for variant, per in added.items():
        medians = {key: statistics.median(values) for key, values in per.items()}
        print(f"{variant}: added per call")
        for key, value in sorted(medians.items()):
            unit = "" if key == "switches" else " µs"
            if key == "switches" or abs(value) >= 0.05:
                print(f"  {key:<32} {value:+8.2f}{unit}")


if __name__ == "__main__":
    main()
