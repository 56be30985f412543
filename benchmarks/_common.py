"""Shared helpers for the benchmarks: the loopback server process, statistics, results, versions.

Every benchmark prints one JSON object per line prefixed with ``RESULT `` (see :func:`emit`);
``benchmarks/run.py`` collects them and ``benchmarks/report.py`` turns them into RESULTS.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]  # typed Any: openai wants its TypedDicts
MODEL = "gpt-4o-mini"


@dataclass
class Server:
    """The loopback server of ``_server.py`` running in a child process (its CPU is not ours)."""

    proc: subprocess.Popen[str]
    url: str

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/__stats", timeout=10) as response:
            data: dict[str, int] = json.loads(response.read())
            return data

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the server exits on EOF
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(chunks: int = 200, delay_ms: float = 0.0) -> Server:
    """Start ``_server.py`` in its own process and wait for its port."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py"), "--chunks", str(chunks), "--delay-ms", str(delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"benchmark server did not start: {line!r}")
    return Server(proc, f"http://127.0.0.1:{int(line.split()[1])}")


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and interquartile range of ``values`` (one value per round)."""
    data = sorted(values)
    if len(data) >= 4:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    else:
        q1, q3 = data[0], data[-1]
    return {"median": statistics.median(data), "min": data[0], "max": data[-1], "q1": q1, "q3": q3,
            "n": len(data)}


def emit(result: dict[str, Any]) -> None:
    """Hand one result to ``run.py`` (a ``RESULT {json}`` line on stdout)."""
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def versions(names: Sequence[str] = ()) -> dict[str, str]:
    """Installed versions of the packages that matter for the figures (absent ones omitted)."""
    wanted = ["openai", "httpx", "httpx2", "wrapt", "pydantic", "helicone-wrap", "psutil", *names]
    found: dict[str, str] = {}
    for name in wanted:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def python_info() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def cpu_ns() -> int:
    """CPU time of this whole process (all threads, user + system) in ns; the server is elsewhere."""
    return time.process_time_ns()


def has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def env_flag(name: str, default: int) -> int:
    """An integer knob from the environment (``BENCH_ROUNDS`` and friends), for quick local runs."""
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass
class Gateway:
    """``_gateway.py`` (a real ``GatewayServer``) running in a child process."""

    proc: subprocess.Popen[str]
    url: str

    def _ask(self, line: str, prefix: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        while True:
            answer = self.proc.stdout.readline()
            if not answer:
                raise RuntimeError("the gateway process exited")
            if answer.startswith(prefix):
                return answer[len(prefix):].strip()

    def stats(self) -> dict[str, Any]:
        """Store counters after a store flush (``logged``, ``rest_writes``, ...) plus ``faults``."""
        data: dict[str, Any] = json.loads(self._ask("stats", "STATS "))
        return data

    def set_faults(self, **plan: Any) -> None:
        self._ask("faults " + json.dumps(plan), "OK")

    def stop(self) -> None:
        """Stop the gateway; every log row is in its database when this returns."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_gateway(upstream: str, db: str = ":memory:", faults: dict[str, Any] | None = None) -> Gateway:
    """Start the local gateway in its own process, proxying to ``upstream`` (an OpenAI base URL)."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_gateway.py"), "--upstream", upstream, "--db", db,
         "--faults", json.dumps(faults or {})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("URL "):
        proc.kill()
        raise RuntimeError(f"gateway did not start: {line!r}")
    return Gateway(proc, line.split()[1])


def gateway_available() -> str | None:
    """None when the gateway and delivery modules can be imported, else why not."""
    for module in ("helicone_wrap._delivery", "helicone_wrap.gateway.server", "uvicorn", "starlette"):
        if not has_module(module):
            return f"{module} is not importable"
    return None
