"""Instructions per call, raw vs headers-floor vs wrapped: a load-proof measure of the overhead.

Why: on a shared, loaded machine CPU time per call drifts by several percent between rounds,
more than the differences that matter here (a few µs on a ~1 ms call). The number of machine
instructions the client executes per call does not depend on the load, so this harness counts
them with valgrind's callgrind instead of timing anything.

What: non-streaming ``chat.completions.create`` calls against the loopback server of
``_server.py`` (its own process, run natively: only the client process is instrumented), for

- ``raw``: plain openai;
- ``headers-floor``: raw openai with the wrapped call's Helicone headers appended pre-encoded
  by a one-line hook (what carrying them costs, no wrapper logic; ``_variants.headers_floor``);
- ``wrapped``: ``wrap(client)`` with every call inside ``session(...)`` + ``properties(...)``;
- ``wrapped-cache``: the same plus one feature block, ``cache()`` (one header more).

How: one process runs every variant, segments of ``--small`` and ``--large`` calls per variant,
the variants interleaved and the whole sequence run ``--repeats`` times after a warm-up. Each
segment is bracketed by ``os.getppid()``, and callgrind runs with ``--dump-before=getppid``, so
every segment's instruction count lands in a dump of its own. A variant's cost per call is the
slope ``(I(large) - I(small)) / (large - small)``, which cancels whatever a segment costs once
(the ``with`` block, ``gc.collect()``, the marker). ``PYTHONHASHSEED`` is fixed so string hashing
does not vary between runs; what remains (random request ids, the kernel's socket timing as
seen by a poll) moves the figures by a few hundred instructions per call, shown as the spread
over repeats.

Usage::

    python benchmarks/profile_instructions.py [--small 100 --large 400 --repeats 1] [--aio]

(run it with the interpreter of the openai major to measure, e.g. ``.tox/openai2/bin/python``;
it re-runs itself under ``valgrind --tool=callgrind`` and prints one table, plus a ``RESULT``
JSON line for ``run.py``). ``--aio`` measures the ``AsyncOpenAI`` client instead. ``--asynclog``
compares raw openai with ``wrap(client, mode="async")`` (flushed inside each segment, the worker's
tick stretched by :data:`TICK_SCALE`); ``--stream`` makes every call a stream read to its end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import MESSAGES, MODEL, emit, start_server, versions
from _variants import Variant, headers_floor, raw, wrapped

VARIANTS = ("raw", "headers-floor", "wrapped", "wrapped-cache")
#: ``--asynclog``: raw openai against ``wrap(client, mode="async")`` inside session + properties;
#: each segment ends with ``helicone_wrap.flush()``, so the delivery threads' record building and
#: log POSTs are counted with the calls that caused them.
ASYNCLOG_VARIANTS = ("raw", "async-mode")
#: Callgrind runs the client about 50 times slower than natively, so the delivery worker's
#: time-driven wake-ups (its scheduler tick, 0.2 s while work is pending) would fire about 50
#: times as often per call as they do outside valgrind, and be counted as per-call cost. With
#: ``--asynclog`` the tick is stretched by this factor, so it fires as often per call as natively.
TICK_SCALE = 50.0
#: The libc function whose every call makes callgrind dump its counters: the segment marker.
MARKER = "getppid"


def _variant(name: str, base_url: str) -> Variant:
    if name == "raw":
        return raw(base_url)
    if name == "headers-floor":
        return headers_floor(base_url)
    if name == "async-mode":
        import helicone_wrap

        def flush() -> None:
            helicone_wrap.flush(60)

        variant = wrapped(base_url, name="wrapped", mode="async")
        variant.name, variant.flush = name, flush
        return variant
    return wrapped(base_url, name=name)


def _drain(stream: Any) -> None:
    for _chunk in stream:
        pass


async def _adrain(stream: Any) -> None:
    async for _chunk in stream:
        pass


def _segment(v: Variant, n: int, aio: bool, loop: asyncio.AbstractEventLoop, stream: bool = False) -> None:
    """Run ``n`` calls (then ``v.flush()``) between two markers (the marker ends the previous dump)."""
    gc.collect()
    extra = {"stream": True} if stream else {}
    if aio:
        create = v.aio.chat.completions.create

        async def calls() -> None:
            with v.block():
                for _ in range(n):
                    answer = await create(model=MODEL, messages=MESSAGES, **extra)
                    if stream:
                        await _adrain(answer)

        coroutine = calls()
        os.getppid()
        loop.run_until_complete(coroutine)
    else:
        create = v.sync.chat.completions.create
        os.getppid()
        with v.block():
            for _ in range(n):
                answer = create(model=MODEL, messages=MESSAGES, **extra)
                if stream:
                    _drain(answer)
    v.flush()
    os.getppid()


def worker(args: argparse.Namespace) -> None:
    """Runs under callgrind: prints the segment plan (one label per dump) as JSON on stdout."""
    plan: list[tuple[str, int] | None] = []  # None: a dump between segments, not measured
    loop = asyncio.new_event_loop()
    names = ASYNCLOG_VARIANTS if args.asynclog else VARIANTS
    if args.asynclog:
        import helicone_wrap
        from helicone_wrap._delivery import worker as delivery_worker

        helicone_wrap.configure(outbox=None)
        delivery_worker.TICK *= TICK_SCALE
    with start_server(args.chunks) as server:
        variants = [_variant(name, server.url) for name in names]
        for v in variants:  # warm-up: imports, pydantic schemas, connection pools, id pool
            _segment(v, args.warmup, args.aio, loop, args.stream)
            plan += [None, None]
        for _ in range(args.repeats):
            for n in (args.small, args.large):
                for v in variants:
                    _segment(v, n, args.aio, loop, args.stream)
                    plan += [None, (v.name, n)]  # the dump at the second marker holds the calls
        for v in variants:
            v.sync.close()
            loop.run_until_complete(v.aio.close())
    loop.close()
    # plan[i] describes dump number i + 1 (dump i + 1 ends at the (i + 1)-th marker call).
    sys.stdout.write("PLAN " + json.dumps(plan) + "\n")


_TOTALS = re.compile(r"^(?:totals|summary):\s*(\d+)", re.M)


def _dump_total(path: Path) -> int:
    found = _TOTALS.search(path.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no totals line in {path}")
    return int(found.group(1))


def driver(args: argparse.Namespace) -> dict[str, Any]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        out = Path(tmp) / "cg.out"
        cmd = [valgrind, "--tool=callgrind", f"--dump-before={MARKER}", f"--callgrind-out-file={out}",
               "--dump-instr=no", "--compress-strings=no", "--compress-pos=no",
               sys.executable, __file__, "--worker", "--small", str(args.small), "--large", str(args.large),
               "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--chunks", str(args.chunks)]
        cmd += [flag for flag, on in (("--aio", args.aio), ("--asynclog", args.asynclog), ("--stream", args.stream)) if on]
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        plan_line = next((line for line in proc.stdout.splitlines() if line.startswith("PLAN ")), None)
        if proc.returncode != 0 or plan_line is None:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"the callgrind run failed (exit {proc.returncode})")
        plan = json.loads(plan_line[5:])
        counts: dict[tuple[str, int], list[int]] = {}
        for index, label in enumerate(plan, start=1):
            if label is not None:
                counts.setdefault((label[0], label[1]), []).append(_dump_total(Path(f"{out}.{index}")))
    per_call: dict[str, dict[str, float]] = {}
    for name in ASYNCLOG_VARIANTS if args.asynclog else VARIANTS:
        small, large = counts[(name, args.small)], counts[(name, args.large)]
        slopes = [(big - little) / (args.large - args.small) for little, big in zip(small, large, strict=True)]
        per_call[name] = {"median": statistics.median(slopes), "min": min(slopes), "max": max(slopes)}
    return {"figure": "instructions per call (callgrind)", "client": "async" if args.aio else "sync",
            "mode": "asynclog" if args.asynclog else "proxy", "stream_chunks": args.chunks if args.stream else None,
            "small": args.small, "large": args.large, "repeats": args.repeats,
            "versions": versions(["openai", "httpx", "httpx2", "h11"]), "per_call": per_call}


def report(result: dict[str, Any]) -> None:
    per_call = result["per_call"]
    raw_ir = per_call["raw"]["median"]
    floor_ir = per_call["headers-floor"]["median"] if "headers-floor" in per_call else None
    stream = f", streams of {result['stream_chunks']} chunks" if result.get("stream_chunks") else ""
    print(f"{result['client']} client, {result['mode']} mode{stream}, {result['versions']}, slope over "
          f"{result['small']} -> {result['large']} calls, {result['repeats']} repeat(s)")
    print(f"{'variant':<15}{'Ir/call':>12}{'vs raw':>10}{'vs floor':>10}   spread")
    for name, figures in per_call.items():
        ir = figures["median"]
        vs_floor = f"{ir / floor_ir:>10.4f}" if floor_ir else f"{'':>10}"
        print(f"{name:<15}{ir:>12,.0f}{ir / raw_ir:>10.4f}{vs_floor}   {figures['min']:,.0f}–{figures['max']:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--aio", action="store_true", help="measure AsyncOpenAI instead of OpenAI")
    parser.add_argument("--asynclog", action="store_true", help="raw openai vs wrap(client, mode='async')")
    parser.add_argument("--stream", action="store_true", help="streamed calls (each stream read to its end)")
    parser.add_argument("--chunks", type=int, default=200, help="chunks per streamed answer")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    result = driver(args)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
