"""Run openai's own test suite with every client wrapped, and fail on any test that wrapping breaks.

For the openai installed in this interpreter (``openai.__version__``) it:

1. fetches that exact version's sdist with pip (``pip download --no-binary :all:``) into a cache
   directory and unpacks it (the sdist ships ``tests/``);
2. runs the suite, minus ``tests/api_resources`` (they need a mock API server), with every client
   wrapped at construction (plugin ``suite_wrap``);
3. re-runs the tests that did not pass wrapped, unwrapped (``--full``: the whole suite unwrapped),
   so the criterion "no test that passes unwrapped fails wrapped" is checked at the cost of a few
   tests; and once more wrapped, so a test that fails wrapped only under load (a subprocess
   timeout, say) is reported as flaky instead of failing the run (one that still fails and is not
   excluded gets a last try alone, without xdist);
4. prints one summary line and the new failures; exits 1 when a test passes unwrapped but fails
   wrapped and is not listed in ``exclusions.py``.

Usage: ``python openai_suite/run.py [--cache DIR] [-n WORKERS] [--full] [-- PYTEST_ARGS...]``
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

import openai

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from exclusions import EXCLUDED  # noqa: E402

PASSING = {"passed", "xfailed"}
FAILING = {"failed", "error"}


def fetch_sdist(version: str, cache: Path) -> Path:
    """The unpacked sdist of ``openai==version`` under ``cache`` (downloaded once)."""
    root = cache / f"openai-{version}"
    if (root / "tests").is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(
            # --no-build-isolation: pip still prepares the sdist's metadata; the env has its build
            # backend (hatchling), which saves setting up an isolated build env for it.
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "--no-build-isolation", f"openai=={version}", "-d", tmp],
            check=True,
        )
        (archive,) = Path(tmp).glob("openai-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        unpacked = Path(tmp) / f"openai-{version}"
        if not (unpacked / "tests").is_dir():
            raise SystemExit(f"the sdist of openai {version} has no tests/ directory")
        if root.exists():
            shutil.rmtree(root)
        unpacked.rename(root)
    return root


def run_pytest(
    sdist: Path, out: Path, name: str, *, wrapped: bool, workers: int, targets: list[str], extra: list[str]
) -> tuple[dict[str, str], float]:
    """Run pytest in the sdist; return ``{node id: outcome}`` and the wall time in seconds."""
    results, junit, log = out / f"{name}.json", out / f"{name}.xml", out / f"{name}.log"
    results.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELICONE_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["HW_SUITE_RESULTS"] = str(results)
    env["XDG_DATA_HOME"] = str(out / "xdg-data")  # any outbox stays in here
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "--tb=short", "-q", "-p", "no:cacheprovider",
           "-p", "suite_record", f"--junitxml={junit}", "--ignore=tests/api_resources"]
    if wrapped:
        cmd += ["-p", "suite_wrap"]
    if workers > 1:
        cmd += ["-n", str(workers)]
    cmd += extra + (targets or ["tests"])
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as fh:
        code = subprocess.run(cmd, cwd=sdist, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    elapsed = time.monotonic() - started
    if not results.exists():
        raise SystemExit(f"pytest ({name}) exited {code} without results; see {log}")
    tail = log.read_text(encoding="utf-8").strip().splitlines()[-1:]
    print(f"  {name}: {elapsed:.0f} s, pytest exit {code}: {tail[0] if tail else ''}", flush=True)
    return json.loads(results.read_text(encoding="utf-8")), elapsed


def matches(node: str, pattern: str) -> bool:
    """``node`` is ``pattern``, or a parametrization of it when it ends with ``[*]``, or fnmatches it.

    (``[*]`` is spelled out because fnmatch reads it as a class matching a literal ``*``.)
    """
    if pattern.endswith("[*]"):
        return node.startswith(pattern[:-2]) and node.endswith("]")
    return node == pattern or fnmatch.fnmatchcase(node, pattern)


def excluded_reason(node: str, table: dict[str, str]) -> str | None:
    """The reason ``node`` may fail wrapped, or None when it may not."""
    for pattern, reason in table.items():
        if matches(node, pattern):
            return reason
    return None


def counts(outcomes: dict[str, str]) -> str:
    """``"812 passed, 3 failed"`` style tally."""
    tally = Counter(outcomes.values())
    return ", ".join(f"{n} {k}" for k, n in sorted(tally.items(), key=lambda kv: -kv[1])) or "nothing"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".tox") / "openai-suite",
                        help="where sdists are unpacked and results written (default .tox/openai-suite)")
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (1: no xdist)")
    parser.add_argument("--full", action="store_true", help="run the whole suite unwrapped too")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments or test paths, after --")
    args = parser.parse_args(argv)

    version = openai.__version__
    major = int(version.split(".", 1)[0])
    table = EXCLUDED.get(major, {})
    cache = args.cache.resolve()
    out = cache / "runs" / f"openai-{version}"
    out.mkdir(parents=True, exist_ok=True)
    targets = [a for a in args.pytest_args if a.startswith("tests")]
    extra = [a for a in args.pytest_args if not a.startswith("tests")]
    started = time.monotonic()
    sdist = fetch_sdist(version, cache)
    t_fetch = time.monotonic() - started
    print(f"openai {version} suite from {sdist} ({t_fetch:.0f} s to fetch)", flush=True)
    wrapped, t_wrapped = run_pytest(sdist, out, "wrapped", wrapped=True, workers=args.workers, targets=targets,
                                    extra=extra)
    bad = sorted(n for n, o in wrapped.items() if o in FAILING)
    few = min(args.workers, len(bad))
    if args.full:
        unwrapped, t_unwrapped = run_pytest(sdist, out, "unwrapped", wrapped=False, workers=args.workers,
                                            targets=targets, extra=extra)
    elif bad:
        unwrapped, t_unwrapped = run_pytest(sdist, out, "unwrapped", wrapped=False, workers=few, targets=bad,
                                            extra=extra)
    else:
        unwrapped, t_unwrapped = {}, 0.0
    new = [n for n in bad if unwrapped.get(n) in PASSING or n not in unwrapped]
    if new:
        retried, t_retry = run_pytest(sdist, out, "wrapped-retry", wrapped=True, workers=min(args.workers, len(new)),
                                      targets=new, extra=extra)
    else:
        retried, t_retry = {}, 0.0
    # Still failing and not excluded: once more, alone (no xdist), for a test that times out under load.
    again = [n for n in new if retried.get(n) not in PASSING and excluded_reason(n, table) is None]
    if again:
        serial, t_serial = run_pytest(sdist, out, "wrapped-serial", wrapped=True, workers=1, targets=again,
                                      extra=extra)
        retried.update((n, o) for n, o in serial.items() if o in PASSING)
        t_retry += t_serial
    flaky = sorted(n for n in new if retried.get(n) in PASSING)
    new = [n for n in new if n not in flaky]
    allowed = {n: r for n in new if (r := excluded_reason(n, table)) is not None}
    regressions = [n for n in new if n not in allowed]
    stale = sorted(p for p in table if not any(matches(n, p) for n in new))
    if args.full:
        lost = sorted(n for n, o in unwrapped.items() if o in PASSING and n not in wrapped)
        regressions += lost

    summary = {
        "openai": version, "wrapped": dict(Counter(wrapped.values())),
        "unwrapped": dict(Counter(unwrapped.values())), "unwrapped_scope": "full" if args.full else "rerun",
        "seconds": {"fetch": round(t_fetch, 1), "wrapped": round(t_wrapped, 1),
                    "unwrapped": round(t_unwrapped, 1), "wrapped_retry": round(t_retry, 1)},
        "new_failures": regressions, "flaky": flaky, "excluded": allowed, "stale_exclusions": stale,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for node in regressions:
        print(f"  NEW FAILURE (passes unwrapped, fails wrapped): {node}")
    for node in flaky:
        print(f"  flaky (failed wrapped, passed unwrapped and on a wrapped retry): {node}")
    for node, reason in allowed.items():
        print(f"  excluded: {node}: {reason}")
    for pattern in stale:
        print(f"  stale exclusion (no longer fails wrapped, remove it): {pattern}")
    scope = "full" if args.full else f"re-run of {len(bad)}"
    print(f"openai {version} suite, wrapped: {counts(wrapped)}; unwrapped ({scope}): {counts(unwrapped)}; "
          f"new failures: {len(regressions)}, flaky: {len(flaky)}, excluded: {len(allowed)}; "
          f"seconds: fetch {t_fetch:.0f}, wrapped {t_wrapped:.0f}, unwrapped {t_unwrapped:.0f}, "
          f"retry {t_retry:.0f}; details in {out}")
    return 1 if regressions or stale else 0


if __name__ == "__main__":
    sys.exit(main())
