"""Call overhead: client CPU per non-streaming ``chat.completions.create``, raw vs wrapped vs peers.

What: CPU time of the *client process* (``time.process_time``: every thread, user + system)
per call, for raw openai and for one other variant, sync and async. The OpenAI-shaped server
(``_server.py``) runs in its own process, so none of its CPU is counted. Wall time per call is
recorded alongside.

How: one process holds two variants, both pointed at the same loopback server. After a
warm-up, ``--rounds`` rounds each run a segment of ``--calls`` sequential calls per variant,
the order alternating every round (raw first, then the variant first, ...). The per-round ratio
variant/raw is the figure; its median and spread over rounds are reported, so noise shows.

- ``--mode core``: ``wrap(client)`` (gateway = the loopback server, a Helicone key set so the
  ``Helicone-Auth`` path runs) with every segment inside ``session(...)`` + ``properties(...)``;
  the headers-only control (the same headers as ``extra_headers``); the headers floor (the same
  headers appended pre-encoded by a one-line hook: what carrying them costs, with no wrapper
  logic at all); two lighter wrapped variants (session only, no context) that show how the
  cost scales with the number of Helicone headers a call carries; and ``wrapped-cache``, the
  ``wrapped`` context plus one feature block (``cache()``), which should cost one header more.
- ``--mode peer:NAME``: one peer (see ``_variants.py``), in its own process so that global
  patchers cannot leak into other measurements; the raw baseline is measured in the same process
  with the peer's class patches switched off (checked before every raw segment). The peer's
  exporter flush runs inside its timed window; spans emitted are counted where possible.

- ``--processes N``: the rounds are split over N fresh interpreters run one after another and
  pooled, because one process carries a bias of its own (about ±2% here) that no number of
  rounds inside it removes; each process's own median is reported too.

Usage: ``python benchmarks/bench_overhead.py --mode core [--rounds 24 --calls 200 --processes 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from _common import MESSAGES, MODEL, cpu_ns, emit, env_flag, start_server, summary, versions
from _variants import (
    PEER_MODES,
    PEER_PACKAGES,
    WRAPPED_CONTEXTS,
    Variant,
    headers_floor,
    headers_only,
    peer,
    raw,
    wrapped,
)

Sample = tuple[float, float, int]  # cpu µs/call, wall µs/call, spans emitted


def _sync_segment(v: Variant, n: int, check: Callable[[], None]) -> Sample:
    v.on()
    check()
    gc.collect()
    create, kwargs = v.sync.chat.completions.create, v.call_kwargs
    spans0 = v.spans()
    c0, w0 = cpu_ns(), time.perf_counter_ns()
    with v.block():
        for _ in range(n):
            create(model=MODEL, messages=MESSAGES, **kwargs)
    v.flush()
    c1, w1 = cpu_ns(), time.perf_counter_ns()
    spans = v.spans() - spans0
    v.off()
    return (c1 - c0) / n / 1e3, (w1 - w0) / n / 1e3, spans


async def _async_segment(v: Variant, n: int, check: Callable[[], None]) -> Sample:
    v.on()
    check()
    gc.collect()
    create, kwargs = v.aio.chat.completions.create, v.call_kwargs
    spans0 = v.spans()
    c0, w0 = cpu_ns(), time.perf_counter_ns()
    with v.block():
        for _ in range(n):
            await create(model=MODEL, messages=MESSAGES, **kwargs)
    v.flush()
    c1, w1 = cpu_ns(), time.perf_counter_ns()
    spans = v.spans() - spans0
    v.off()
    return (c1 - c0) / n / 1e3, (w1 - w0) / n / 1e3, spans


def _noop() -> None:
    return None


def _result(api: str, name: str, samples: dict[str, list[Sample]], calls: int, leaked: int,
            extra: dict[str, Any]) -> dict[str, Any]:
    raw_cpu = [s[0] for s in samples["raw"]]
    var_cpu = [s[0] for s in samples[name]]
    raw_wall = [s[1] for s in samples["raw"]]
    var_wall = [s[1] for s in samples[name]]
    return {
        "bench": "overhead", "api": api, "variant": name, "status": "ok", "calls_per_segment": calls,
        "rounds": len(raw_cpu),
        "ratio_cpu": summary([v / r for v, r in zip(var_cpu, raw_cpu, strict=True)]),
        "ratio_wall": summary([v / r for v, r in zip(var_wall, raw_wall, strict=True)]),
        "raw_cpu_us": summary(raw_cpu), "cpu_us": summary(var_cpu),
        "raw_wall_us": summary(raw_wall), "wall_us": summary(var_wall),
        "added_cpu_us": summary([v - r for v, r in zip(var_cpu, raw_cpu, strict=True)]),
        "spans_per_call": statistics.median(s[2] for s in samples[name]) / calls,
        "raw_segments_with_peer_spans": leaked, **extra,
    }


def _order(variants: list[Variant], r: int) -> list[Variant]:
    """Round ``r``'s segment order: rotated every round, reversed every other round."""
    k = (r // 2) % len(variants)
    rotated = variants[k:] + variants[:k]
    return rotated if r % 2 == 0 else rotated[::-1]


def measure(base: Variant, others: list[Variant], rounds: int, calls: int, check_raw: Callable[[], None],
            extra: dict[str, Any]) -> None:
    """Interleave ``base`` (raw) and ``others`` segment by segment; emit one result per other."""
    variants = [base, *others]
    checks = {v.name: (check_raw if v is base else _noop) for v in variants}

    def spans() -> int:
        return sum(v.spans() for v in others)

    def report(api: str, samples: dict[str, list[Sample]], leaked: int) -> None:
        for other in others:
            result = _result(api, other.name, samples, calls, leaked, extra.get(other.name, {}))
            if KEEP_SAMPLES:
                result["samples"] = {"raw": samples["raw"], other.name: samples[other.name]}
            emit(result)

    for v in variants * 2:  # warm-up: imports, connection pools, caches
        _sync_segment(v, max(10, calls // 5), checks[v.name])
    samples: dict[str, list[Sample]] = {v.name: [] for v in variants}
    leaked = 0
    for r in range(rounds):
        for v in _order(variants, r):
            before = spans()
            samples[v.name].append(_sync_segment(v, calls, checks[v.name]))
            if v is base and spans() != before:
                leaked += 1
    report("sync", samples, leaked)

    async def run_async() -> None:
        for v in variants * 2:
            await _async_segment(v, max(10, calls // 5), checks[v.name])
        samples_a: dict[str, list[Sample]] = {v.name: [] for v in variants}
        leaked_a = 0
        for r in range(rounds):
            for v in _order(variants, r):
                before = spans()
                samples_a[v.name].append(await _async_segment(v, calls, checks[v.name]))
                if v is base and spans() != before:
                    leaked_a += 1
        report("async", samples_a, leaked_a)

    asyncio.run(run_async())


KEEP_SAMPLES = False  # --keep-samples: a child of --processes hands its per-round samples back


def in_processes(argv: list[str], processes: int, rounds: int, calls: int) -> None:
    """Run the measurement in ``processes`` fresh interpreters, one after another, and pool them.

    One process carries a bias of its own (hash seeds, memory layout: the same variant measured in
    two processes can differ by 2%), which rounds inside it cannot average out. Each child runs
    its share of the rounds; every round from every child is pooled and summarised as one run, and
    each child's own median is kept in ``process_medians`` so the between-process spread shows.
    """
    share = max(3, -(-rounds // processes))
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(processes):
        child = subprocess.run(
            [sys.executable, __file__, *argv, "--processes", "1", "--rounds", str(share), "--keep-samples"],
            capture_output=True, text=True, timeout=900, check=False,
        )
        for line in child.stdout.splitlines():
            if not line.startswith("RESULT "):
                continue
            result = json.loads(line[len("RESULT "):])
            samples = result.pop("samples", None)
            if samples is None:  # not a per-round result (e.g. the sink counts): pass it on
                emit(result)
                continue
            entry = merged.setdefault((result["api"], result["variant"]), {
                "first": result, "samples": {name: [] for name in samples}, "leaked": 0, "medians": []})
            for name, rows in samples.items():
                entry["samples"][name].extend(tuple(row) for row in rows)
            entry["leaked"] += result["raw_segments_with_peer_spans"]
            entry["medians"].append(round(result["ratio_cpu"]["median"], 4))
        if child.returncode != 0:
            emit({"bench": "overhead", "status": "failed", "reason": child.stderr[-800:]})
            return
    keep = ("block_us", "mode", "headers", "peer_versions", "patched_attrs")
    for (api, name), entry in merged.items():
        extra = {k: entry["first"][k] for k in keep if k in entry["first"]}
        result = _result(api, name, entry["samples"], calls, entry["leaked"], extra)
        emit({**result, "processes": processes, "process_medians": entry["medians"]})


def block_cost(v: Variant, n: int = 20_000) -> float:
    """µs to enter and leave the variant's context block once (not part of the per-call figure)."""
    c0 = cpu_ns()
    for _ in range(n):
        with v.block():
            pass
    return (cpu_ns() - c0) / n / 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="core", help="core or peer:NAME")
    parser.add_argument("--rounds", type=int, default=env_flag("BENCH_ROUNDS", 15))
    parser.add_argument("--calls", type=int, default=env_flag("BENCH_CALLS", 150))
    parser.add_argument("--processes", type=int, default=env_flag("BENCH_PROCESSES", 1),
                        help="split the rounds over this many fresh processes and pool them")
    parser.add_argument("--keep-samples", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global KEEP_SAMPLES
    KEEP_SAMPLES = args.keep_samples
    if args.processes > 1:
        in_processes(["--mode", args.mode, "--calls", str(args.calls)], args.processes, args.rounds, args.calls)
        return

    with start_server() as server:
        base = raw(server.url)
        base.sync.chat.completions  # noqa: B018  (load openai's lazy resource modules first)
        base.aio.chat.completions  # noqa: B018
        if args.mode == "core":
            ours = wrapped(server.url)
            result = ours.sync.chat.completions.create(model=MODEL, messages=MESSAGES)
            assert getattr(result, "helicone_id", None), "wrapped result has no helicone_id"
            control = headers_only(server.url)
            floor = headers_floor(server.url)
            lighter = [wrapped(server.url, name=n) for n in ("wrapped-session", "wrapped-bare", "wrapped-cache")]
            measure(base, [ours, control, floor, *lighter], args.rounds, args.calls, _noop, {
                "wrapped": {"block_us": block_cost(ours), "mode": WRAPPED_CONTEXTS["wrapped"]},
                **{v.name: {"mode": WRAPPED_CONTEXTS[v.name]} for v in lighter},
                "headers-only": {"mode": "raw openai + the wrapped call's Helicone-* headers as extra_headers",
                                 "headers": sorted(control.call_kwargs["extra_headers"])},
                "headers-floor": {"mode": "raw openai + the same headers appended pre-encoded by a one-line hook"},
            })
            return
        name = args.mode.split(":", 1)[1]
        try:
            other, patches = peer(name, server.url)
        except Exception as exc:  # import or setup failure: recorded, never fatal
            emit({"bench": "overhead", "variant": name, "status": "not installable",
                  "reason": f"{type(exc).__name__}: {exc}".strip()[:300],
                  "trace": traceback.format_exc(limit=3)[-800:]})
            return
        check = patches.assert_off if patches is not None else _noop
        extra: dict[str, Any] = {name: {
            "mode": PEER_MODES[name],
            "peer_versions": versions(PEER_PACKAGES[name]),
            "patched_attrs": sorted(f"{c.__qualname__}.{a}" for c, a, _, _ in patches.changed) if patches else [],
        }}
        measure(base, [other], args.rounds, args.calls, check, extra)
        emit({"bench": "sink", "variant": name, "counts": server.stats()})


if __name__ == "__main__":
    main()
