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
JSON line for ``run.py``). ``--aio`` measures the ``AsyncOpenAI`` client instead.
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
#: The libc function whose every call makes callgrind dump its counters: the segment marker.
MARKER = "getppid"


def _variant(name: str, base_url: str) -> Variant:
    if name == "raw":
        return raw(base_url)
    if name == "headers-floor":
        return headers_floor(base_url)
    return wrapped(base_url, name=name)


def _segment(v: Variant, n: int, aio: bool, loop: asyncio.AbstractEventLoop) -> None:
    """Run ``n`` calls between two markers (the marker ends the previous dump)."""
    gc.collect()
    if aio:
        create = v.aio.chat.completions.create

        async def calls() -> None:
            with v.block():
                for _ in range(n):
                    await create(model=MODEL, messages=MESSAGES)

        coroutine = calls()
        os.getppid()
        loop.run_until_complete(coroutine)
    else:
        create = v.sync.chat.completions.create
        os.getppid()
        with v.block():
            for _ in range(n):
                create(model=MODEL, messages=MESSAGES)
    os.getppid()


def worker(args: argparse.Namespace) -> None:
    """Runs under callgrind: prints the segment plan (one label per dump) as JSON on stdout."""
    plan: list[tuple[str, int] | None] = []  # None: a dump between segments, not measured
    loop = asyncio.new_event_loop()
    with start_server() as server:
        variants = [_variant(name, server.url) for name in VARIANTS]
        for v in variants:  # warm-up: imports, pydantic schemas, connection pools, id pool
            _segment(v, args.warmup, args.aio, loop)
            plan += [None, None]
        for _ in range(args.repeats):
            for n in (args.small, args.large):
                for v in variants:
                    _segment(v, n, args.aio, loop)
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
               "--repeats", str(args.repeats), "--warmup", str(args.warmup)] + (["--aio"] if args.aio else [])
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
    for name in VARIANTS:
        small, large = counts[(name, args.small)], counts[(name, args.large)]
        slopes = [(big - little) / (args.large - args.small) for little, big in zip(small, large, strict=True)]
        per_call[name] = {"median": statistics.median(slopes), "min": min(slopes), "max": max(slopes)}
    return {"figure": "instructions per call (callgrind)", "client": "async" if args.aio else "sync",
            "small": args.small, "large": args.large, "repeats": args.repeats,
            "versions": versions(["openai", "httpx", "httpx2", "h11"]), "per_call": per_call}


def report(result: dict[str, Any]) -> None:
    per_call = result["per_call"]
    raw_ir, floor_ir = per_call["raw"]["median"], per_call["headers-floor"]["median"]
    print(f"{result['client']} client, {result['versions']}, slope over {result['small']} -> "
          f"{result['large']} calls, {result['repeats']} repeat(s)")
    print(f"{'variant':<15}{'Ir/call':>12}{'vs raw':>10}{'vs floor':>10}   spread")
    for name in VARIANTS:
        ir = per_call[name]["median"]
        print(f"{name:<15}{ir:>12,.0f}{ir / raw_ir:>10.4f}{ir / floor_ir:>10.4f}   "
              f"{per_call[name]['min']:,.0f}–{per_call[name]['max']:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--aio", action="store_true", help="measure AsyncOpenAI instead of OpenAI")
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
