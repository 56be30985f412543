"""Run every benchmark for the openai installed in *this* interpreter and save the raw results.

Each benchmark runs in its own subprocess (a peer's global patches never reach another
measurement), with a timeout; a failure is recorded, never fatal. Results go to one JSON
file per openai major (``benchmarks/.raw/openai<N>.json``) that ``report.py`` turns into
``RESULTS.md``. ``scripts/bench`` calls this once per venv.

With ``--primary`` (given to the newest major only) it also runs the one-major benchmarks:
the profile, the 100k-call memory run, delivery, gateway and the soak, and asynclog's RSS run
goes from 20,000 to 100,000 async-mode calls.

Usage: ``python benchmarks/run.py --out benchmarks/.raw/openai3.json [--peer-status peers.json]
[--quick] [--primary] [--only overhead,peers]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import HERE, python_info, versions
from _variants import PEER_PACKAGES, PEERS

FULL = {
    "overhead": ["--rounds", "24", "--calls", "200", "--processes", "3"],
    "peer": ["--rounds", "7", "--calls", "100"],
    "streaming": ["--rounds", "21", "--streams", "12"],
    "profile": ["--calls", "2000"],
    "memory": ["--sessions", "10000", "--trace-calls", "4000", "--raw-calls", "20000", "--budget-s", "240"],
    "delivery": ["--rounds", "6", "--ops", "3000", "--budget-s", "45"],
    "gateway": ["--requests", "2000", "--seconds", "8", "--latency-budget-s", "30"],
    "gateway_features": ["--requests", "600"],
    "soak": ["--budget-s", "150"],
    "pending": ["--ops", "20000"],
    "asynclog": ["--calls", "300", "--rounds", "30", "--chunks", "200", "--rss-calls", "20000"],
}
#: With ``--primary`` (not ``--quick``) asynclog's RSS run covers 100,000 async-mode calls (issue 13).
ASYNCLOG_PRIMARY_RSS_CALLS = 100_000
ALL = ("overhead", "streaming", "profile", "peers", "memory", "delivery", "gateway", "gateway_features", "soak",
       "pending", "asynclog")
#: Run on one openai major only (the newest, see scripts/bench) to keep the whole run bounded:
#: the profile is a diagnostic, the 100k-call memory run takes ~3 min, and delivery/gateway/soak
#: measure the background worker and the gateway rather than the wrapped call.
PRIMARY_ONLY = ("profile", "memory", "delivery", "gateway", "gateway_features", "soak", "pending")
QUICK = {
    "overhead": ["--rounds", "5", "--calls", "60"],
    "peer": ["--rounds", "3", "--calls", "40"],
    "streaming": ["--rounds", "5", "--streams", "4"],
    "profile": ["--calls", "400"],
    "memory": ["--sessions", "1000", "--trace-calls", "1000", "--raw-calls", "2000", "--warmup-sessions", "50",
               "--budget-s", "60"],
    "delivery": ["--rounds", "3", "--ops", "1000", "--budget-s", "20"],
    "gateway": ["--requests", "500", "--seconds", "3", "--latency-budget-s", "10"],
    "gateway_features": ["--requests", "200"],
    "soak": ["--budget-s", "45"],
    "pending": ["--ops", "5000"],
    "asynclog": ["--calls", "500", "--rounds", "3", "--chunks", "50", "--rss-calls", "2000", "--pending-records", "500",
                 "--fallback-calls", "300"],
}


def run_step(name: str, argv: list[str], timeout: float) -> tuple[list[dict[str, Any]], float]:
    """Run one benchmark script; its ``RESULT`` lines, or one failure record."""
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout,
                              cwd=HERE)
    except subprocess.TimeoutExpired:
        return [{"bench": name, "status": "failed", "reason": f"timed out after {timeout:.0f} s"}], timeout
    elapsed = time.monotonic() - started
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not results:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        results.append({"bench": name, "status": "failed", "reason": " | ".join(tail)[-600:]})
    return results, elapsed


def plan(only: set[str], quick: bool, primary: bool,
         peer_status: dict[str, str]) -> tuple[list[tuple[str, list[str], float]], list[dict[str, Any]]]:
    """The steps to run (name, script argv, timeout in s), and a record for each peer that is not installable."""
    knobs = QUICK if quick else FULL
    steps: list[tuple[str, list[str], float]] = []
    if "overhead" in only:
        steps.append(("overhead", ["bench_overhead.py", "--mode", "core", *knobs["overhead"]], 240))
    if "streaming" in only:
        steps.append(("streaming", ["bench_streaming.py", *knobs["streaming"]], 240))
    if "profile" in only:
        steps.append(("profile", ["profile_overhead.py", *knobs["profile"]], 240))
    results: list[dict[str, Any]] = []
    if "peers" in only:
        for peer in PEERS:
            status = peer_status.get(peer, "ok")
            if status != "ok":
                results.append({"bench": "overhead", "variant": peer, "status": "not installable",
                                "reason": status})
                continue
            steps.append((f"peer:{peer}", ["bench_overhead.py", "--mode", f"peer:{peer}", *knobs["peer"]], 240))
    if "asynclog" in only:
        # Issue 13's RSS figure is over 100,000 async-mode calls: on the primary major only (like the
        # 100k-call memory run), the other majors keep FULL's 20,000.
        asynclog, big = list(knobs["asynclog"]), primary and not quick
        if big:
            asynclog[asynclog.index("--rss-calls") + 1] = str(ASYNCLOG_PRIMARY_RSS_CALLS)
        steps.append(("asynclog", ["bench_asynclog.py", *asynclog], 900 if big else 420))
    if "memory" in only:
        steps.append(("memory", ["bench_memory.py", *knobs["memory"]], 420))
    for name, script, timeout in (("delivery", "bench_delivery.py", 240), ("gateway", "bench_gateway.py", 180),
                                  ("gateway_features", "bench_gateway_features.py", 180),
                                  ("soak", "bench_soak.py", 240), ("pending", "bench_pending.py", 240)):
        if name in only:
            steps.append((name, [script, *knobs[name]], timeout))
    return steps, results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--peer-status", help="JSON {peer: 'ok' | reason} written by scripts/bench")
    parser.add_argument("--quick", action="store_true", help="few rounds, 10k-call memory run (smoke test)")
    parser.add_argument("--primary", action="store_true",
                        help="also run the one-major benchmarks: " + ",".join(PRIMARY_ONLY))
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(ALL))
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(ALL) - (set() if args.primary else set(PRIMARY_ONLY))
    peer_status: dict[str, str] = {}
    if args.peer_status and Path(args.peer_status).exists():
        peer_status = json.loads(Path(args.peer_status).read_text())

    import openai

    major = int(openai.__version__.split(".", 1)[0])
    steps, results = plan(only, args.quick, args.primary, peer_status)

    timings: dict[str, float] = {}
    for name, step_argv, step_timeout in steps:
        print(f"  openai {major}: {name} ...", end="", flush=True)
        found, elapsed = run_step(name, step_argv, step_timeout)
        timings[name] = round(elapsed, 1)
        failed = [r for r in found if r.get("status") == "failed"]
        print(f" {elapsed:.0f} s" + (f"  FAILED: {failed[0]['reason'][:200]}" if failed else ""), flush=True)
        results.extend(found)

    peer_names = tuple(name for peer in PEERS for name in PEER_PACKAGES[peer])
    out = {
        "openai_major": major, "python": python_info(), "versions": versions(peer_names),
        "quick": args.quick, "results": results, "timings_s": timings,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
