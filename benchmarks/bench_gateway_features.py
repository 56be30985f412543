"""Gateway features: a cache hit vs the miss path, a hit vs a direct call, a rate-limit check's cost.

What, for ``POST /v1/chat/completions`` (non-streaming), side by side in one run, requests
interleaved one by one on keep-alive connections (p50 over ``--requests`` each):

- ``miss``: through the gateway with ``Helicone-Cache-Enabled: true`` and a fresh body every
  time (a cache miss, forwarded, answered, saved), to an upstream that waits ``--delay-ms``
  (default 20 ms, standing in for an LLM provider; real ones take 100s of ms) before answering;
- ``hit``: the same gateway, the same cached body every time;
- ``direct``: straight to an upstream that does not wait (a loopback call's floor);
- ``plain`` / ``rate_limited``: through a second gateway to the no-wait upstream, without and
  with ``Helicone-RateLimit-Policy: 1000000;w=3600`` (a check that always passes).

Targets (issue 12 §4): ``miss_p50 / hit_p50 >= 20``; ``hit_p50 - direct_p50 <= 1 ms``;
``rate_limited_p50 - plain_p50 <= 0.2 ms``.

How: the two upstreams (``_server.py --delay-ms``) and the two gateways (``_gateway.py``) run
in their own processes; the load generator is a minimal asyncio client in this one, so five
processes share the machine's cores.

Usage: ``python benchmarks/bench_gateway_features.py [--requests 600 --delay-ms 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from _common import emit, gateway_available, start_gateway, start_server


def _request(netloc: str, body: bytes, extra: str) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nAuthorization: Bearer sk-bench\r\n"
        f"Helicone-Auth: Bearer sk-helicone-bench\r\n{extra}\r\n"
    ).encode() + body


def _body(text: str) -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}).encode()


class Conn:
    """One keep-alive connection: send raw bytes, read one content-length answer."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.netloc = parts.hostname or "127.0.0.1", parts.port or 80, parts.netloc
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def call(self, body: bytes, extra: str = "") -> dict[str, str]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(_request(self.netloc, body, extra))
        head = await self.reader.readuntil(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        await self.reader.readexactly(int(headers["content-length"]))
        return headers

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def measure(urls: dict[str, str], n: int, budget_s: float) -> dict[str, Any]:
    conns = {name: await Conn(url).open() for name, url in urls.items()}
    cached = _body("the cached question")
    cache = "Helicone-Cache-Enabled: true\r\n"
    policy = "Helicone-RateLimit-Policy: 1000000;w=3600\r\n"

    def plan(name: str) -> tuple[bytes, str]:
        if name == "miss":
            return _body("fresh " + uuid.uuid4().hex), cache
        if name == "hit":
            return cached, cache
        if name == "rate_limited":
            return cached, policy
        return cached, ""

    seen: dict[str, dict[str, int]] = {name: {} for name in conns}
    for name, conn in conns.items():  # warm up; the first "hit" call fills the cache
        for _ in range(20):
            await conn.call(*plan(name))
    lat: dict[str, list[float]] = {name: [] for name in conns}
    deadline = time.monotonic() + budget_s
    order = list(conns)
    for i in range(n):
        if time.monotonic() > deadline:
            break
        for name in order[i % len(order) :] + order[: i % len(order)]:
            body, extra = plan(name)
            t0 = time.perf_counter()
            headers = await conns[name].call(body, extra)
            lat[name].append((time.perf_counter() - t0) * 1e3)
            tag = headers.get("helicone-cache") or ("rl" if "helicone-ratelimit-limit" in headers else "-")
            seen[name][tag] = seen[name].get(tag, 0) + 1
    for conn in conns.values():
        conn.close()
    p50 = {name: statistics.median(values) for name, values in lat.items()}
    return {
        "requests_each": len(lat["hit"]),
        **{f"{name}_p50_ms": value for name, value in p50.items()},
        "miss_over_hit": p50["miss"] / p50["hit"],
        "hit_added_over_direct_ms": p50["hit"] - p50["direct"],
        "rate_limit_added_ms": p50["rate_limited"] - p50["plain"],
        "answers_seen": seen,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--budget-s", type=float, default=90.0)
    args = parser.parse_args(argv)
    missing = gateway_available()
    if missing is not None:
        emit({"bench": "gateway_features", "status": "not run", "reason": missing})
        return
    slow, fast = start_server(delay_ms=args.delay_ms), start_server()
    gw_slow, gw_fast = start_gateway(slow.url + "/v1"), start_gateway(fast.url + "/v1")
    try:
        urls = {"miss": gw_slow.url, "hit": gw_slow.url, "direct": fast.url, "plain": gw_fast.url,
                "rate_limited": gw_fast.url}
        result = asyncio.run(measure(urls, args.requests, args.budget_s))
    finally:
        for child in (gw_slow, gw_fast, slow, fast):
            child.stop()
    result.update({"bench": "gateway_features", "status": "ok", "upstream_delay_ms": args.delay_ms,
                   "targets": {"miss_over_hit": ">= 20", "hit_added_over_direct_ms": "<= 1",
                               "rate_limit_added_ms": "<= 0.2"}})
    emit(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
