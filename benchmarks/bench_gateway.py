"""Gateway: added latency (p50/p99) at concurrency 1, throughput at concurrency 32, log rows lost.

What, for ``POST /v1/chat/completions`` (non-streaming, Helicone session/property/request-id
headers on every request):

- added latency: the same requests sent straight to the upstream and through the local
  gateway (``helicone_wrap.gateway.GatewayServer``, logging to SQLite), alternating one by
  one on one keep-alive connection each; p50/p99 of each, their difference, and the ratio of
  medians per block of consecutive pairs (median and spread over blocks). Targets: added
  p50 <= 1 ms, p99 <= 5 ms. Bounded by ``--latency-budget-s``;
- a Nagle probe: ``GET /healthz`` on a blocking socket, plain vs with ``TCP_QUICKACK`` set by
  the client; a large gap means replies wait for the client's delayed ACK (server socket
  without ``TCP_NODELAY``);
- throughput: 32 keep-alive connections for ``--seconds``, through the gateway and, for a
  side-by-side reference, straight to the upstream. Target >= 1,000 req/s with logging on;
- log rows lost: every request carries a unique ``Helicone-Request-Id``; after the run the
  gateway's store is flushed and its ``logged`` counter must have grown by exactly the number of
  200 answers (and the ids are checked in the SQLite file after the gateway stops). Target 0.

How: upstream = ``_server.py`` and the gateway = ``_gateway.py``, each in its own process; the
load generator is a minimal asyncio HTTP/1.1 client in this process (pre-built requests), so
three processes share the 2 cores: the figures are what this machine gives with the load
generator on it, not the gateway's ceiling.

Usage: ``python benchmarks/bench_gateway.py [--requests 2000 --seconds 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from urllib.parse import urlsplit

from _common import emit, gateway_available, start_gateway, start_server, summary

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}).encode()


def _request(host: str, request_id: str) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\nAuthorization: Bearer sk-bench\r\n"
        f"Helicone-Auth: Bearer sk-helicone-bench\r\nHelicone-Request-Id: {request_id}\r\n"
        f"Helicone-Session-Id: 00000000-0000-4000-8000-0000000000aa\r\nHelicone-Session-Path: /bench\r\n"
        f"Helicone-Property-Environment: bench\r\n\r\n"
    ).encode() + BODY


class Conn:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the whole answer."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.netloc = parts.netloc
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def call(self, request_id: str) -> int:
        assert self.reader is not None and self.writer is not None
        self.writer.write(_request(self.netloc, request_id))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(q * len(data)))]


async def latency(direct_url: str, gateway_url: str, n: int, budget_s: float) -> dict[str, object]:
    direct, via = await Conn(direct_url).open(), await Conn(gateway_url).open()
    for _ in range(200):  # warm-up
        await direct.call(str(uuid.uuid4()))
        await via.call(str(uuid.uuid4()))
    lat: dict[str, list[float]] = {"direct": [], "gateway": []}
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + budget_s
    for i in range(n):
        if time.monotonic() > deadline:
            break
        pair = [("direct", direct), ("gateway", via)]
        for name, conn in pair if i % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter()
            status = await conn.call(str(uuid.uuid4()))
            lat[name].append((time.perf_counter() - t0) * 1e3)
            statuses[f"{name}:{status}"] = statuses.get(f"{name}:{status}", 0) + 1
    direct.close()
    via.close()
    # Pair up consecutive requests for a per-pair ratio spread (blocks of 100 pairs).
    done = len(lat["direct"])
    block = max(10, min(100, done // 10))
    blocks = [
        statistics.median(lat["gateway"][i : i + block]) / statistics.median(lat["direct"][i : i + block])
        for i in range(0, done - block + 1, block)
    ]
    return {
        "requests_each": done, "requests_planned": n, "pairs_per_block": block,
        "direct_p50_ms": _pct(lat["direct"], 0.50), "direct_p99_ms": _pct(lat["direct"], 0.99),
        "gateway_p50_ms": _pct(lat["gateway"], 0.50), "gateway_p99_ms": _pct(lat["gateway"], 0.99),
        "added_p50_ms": _pct(lat["gateway"], 0.50) - _pct(lat["direct"], 0.50),
        "added_p99_ms": _pct(lat["gateway"], 0.99) - _pct(lat["direct"], 0.99),
        "ratio_p50_by_block": summary(blocks), "statuses": statuses,
    }


async def throughput(url: str, concurrency: int, seconds: float, ids: list[str] | None) -> dict[str, object]:
    """``ids`` collects the request id of every 200 answer, the warm-up second's included."""
    conns = [await Conn(url).open() for _ in range(concurrency)]
    ok = 0
    other: dict[int, int] = {}
    stop_at = 0.0

    async def worker(conn: Conn) -> None:
        nonlocal ok
        while time.perf_counter() < stop_at:
            rid = str(uuid.uuid4())
            status = await conn.call(rid)
            if status == 200:
                ok += 1
                if ids is not None:
                    ids.append(rid)
            else:
                other[status] = other.get(status, 0) + 1

    stop_at = time.perf_counter() + 1.0  # warm-up second, not in req/s
    await asyncio.gather(*(worker(c) for c in conns))
    ok, other = 0, {}
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return {"ok": ok, "non_200": other, "seconds": elapsed, "req_per_s": ok / elapsed}


def nagle_probe(url: str, n: int = 30) -> dict[str, float]:
    """Median ms of ``GET /healthz`` on one blocking connection, plain vs with TCP_QUICKACK.

    A large gap means the server's replies wait for the client's delayed ACK (~40 ms on Linux):
    the server socket lacks TCP_NODELAY and writes one reply in more than one send.
    """
    import socket

    parts = urlsplit(url)
    out: dict[str, float] = {}
    for quick in (False, True):
        sock = socket.create_connection((parts.hostname, parts.port or 80))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
        times: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            sock.sendall(request)
            data = b""
            while True:
                if quick and hasattr(socket, "TCP_QUICKACK"):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                data += sock.recv(65536)
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    if len(body) >= length:
                        break
            times.append((time.perf_counter() - t0) * 1e3)
        sock.close()
        out["quickack_ms" if quick else "plain_ms"] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-budget-s", type=float, default=30.0,
                        help="the latency phase stops after this, with the pairs it has")
    args = parser.parse_args(argv)
    missing = gateway_available()
    if missing:
        emit({"bench": "gateway", "status": "not run", "reason": missing})
        return
    tmp = tempfile.TemporaryDirectory(prefix="helicone-bench-")
    db = os.path.join(tmp.name, "gateway.sqlite3")
    with start_server() as upstream:
        gateway = start_gateway(upstream.url + "/v1", db=db)
        try:
            probe = nagle_probe(gateway.url)
            lat = asyncio.run(latency(upstream.url, gateway.url, args.requests, args.latency_budget_s))
            direct_tp = asyncio.run(throughput(upstream.url, args.concurrency, args.seconds, None))
            before = gateway.stats()["logged"]
            ids: list[str] = []
            gw_tp = asyncio.run(throughput(gateway.url, args.concurrency, args.seconds, ids))
            logged = gateway.stats()["logged"] - before
        finally:
            gateway.stop()
    # After stop() every row is in the file: check the ids one by one.
    con = sqlite3.connect(db)
    con.execute("CREATE TEMP TABLE sent (id TEXT PRIMARY KEY)")
    con.executemany("INSERT OR IGNORE INTO sent VALUES (?)", [(i,) for i in ids])
    missing_rows = con.execute(
        "SELECT COUNT(*) FROM sent WHERE id NOT IN (SELECT request_id FROM requests)").fetchone()[0]
    con.close()
    tmp.cleanup()
    emit({
        "bench": "gateway", "status": "ok", "latency": lat, "nagle_probe": probe, "concurrency": args.concurrency,
        "direct_throughput": direct_tp, "gateway_throughput": gw_tp,
        "throughput_ratio": gw_tp["req_per_s"] / direct_tp["req_per_s"],  # type: ignore[operator]
        "answered_200": len(ids), "logged_delta": logged,
        "rows_lost_by_counter": len(ids) - logged,
        "rows_lost_by_id": missing_rows,
        "note": "answered_200 and the id check include the warm-up second (not in req/s)",
    })


if __name__ == "__main__":
    main()
