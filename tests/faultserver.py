"""A loopback, Helicone-REST-shaped test server that records requests and injects faults.

It speaks HTTP/1.1 with keep-alive (stdlib ``ThreadingHTTPServer``) and records every request
server-side: method, path (with query), lowercased headers and the JSON body. Unscripted
requests get Helicone's success shapes: ``201 {"data": null, "error": null}`` for the property,
feedback and score endpoints, ``200 {"data": [], "error": null}`` for queries.

Faults are scripted with rules; the first matching rule that has uses left answers::

    server.when(path_contains="/property", times=3, respond=not_found())   # lag, then success
    server.when(respond=rate_limited(retry_after="1"), times=1)
    server.when(respond=hang())                                             # accept, never answer
    server.when(respond=reply(200, {"data": [...], "error": None}), method="POST", path_contains="query")

Connection refused is tested by pointing a client at :func:`closed_port`.

Run it standalone: ``python -m tests.faultserver --port 8799``; measure delivery against it
(server in a child process): ``python -m tests.faultserver --drive 10000``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OK_BODY: dict[str, Any] = {"data": None, "error": None}


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    client_port: int = 0

    @property
    def request_id(self) -> str | None:
        """The ``{id}`` of ``/v1/request/{id}/...`` paths, else None."""
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) >= 4 and parts[1] == "v1" and parts[2] == "request":
            return parts[3]
        return None


@dataclass(frozen=True)
class Response:
    """A scripted answer. ``kind`` is ``reply`` (send it), ``hang`` or ``close`` (drop the socket)."""

    status: int = 201
    body: Any = field(default_factory=lambda: dict(OK_BODY))
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "reply"


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    """Answer ``status`` with a JSON ``body`` (or raw text when ``body`` is a str)."""
    return Response(status, dict(OK_BODY) if body is None else body, headers or {})


def not_found() -> Response:
    """Helicone's answer while ingestion lags: ``500 {"data": null, "error": "Request not found"}``."""
    return reply(500, {"data": None, "error": "Request not found"})


def rate_limited(retry_after: str | None = None, reset: str | None = None) -> Response:
    """``429`` with optional ``Retry-After`` / ``RateLimit-Reset`` headers."""
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if reset is not None:
        headers["RateLimit-Reset"] = reset
    return reply(429, {"error": "Too many requests, please try again later."}, headers)


def hang() -> Response:
    """Accept the request and never answer (until the server stops)."""
    return Response(kind="hang")


def close() -> Response:
    """Read the request, then close the connection without answering."""
    return Response(kind="close")


@dataclass
class Rule:
    respond: Response | Callable[[Recorded], Response]
    method: str | None = None
    path_contains: str | None = None
    times: int | None = None  # None: forever

    def matches(self, seen: Recorded) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and self.method != seen.method:
            return False
        return self.path_contains is None or self.path_contains in seen.path


class FaultServer:
    """The server; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, record: bool = True) -> None:
        self.requests: list[Recorded] = []
        self.rules: list[Rule] = []
        self.record = record
        self.count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        self._httpd = Server((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def when(
        self,
        respond: Response | Callable[[Recorded], Response],
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int | None = None,
    ) -> FaultServer:
        """Add a rule (see the module docstring); rules are tried in the order added."""
        with self._lock:
            self.rules.append(Rule(respond, method, path_contains, times))
        return self

    def clear_rules(self) -> None:
        """Forget every rule: from now on everything succeeds."""
        with self._lock:
            self.rules.clear()

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def seen(self, *, path_contains: str | None = None, method: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally filtered."""
        with self._lock:
            found = list(self.requests)
        return [
            r
            for r in found
            if (path_contains is None or path_contains in r.path) and (method is None or r.method == method)
        ]

    def client_ports(self) -> set[int]:
        """The client ports requests came from: one per connection, so keep-alive shows."""
        with self._lock:
            return {r.client_port for r in self.requests}

    def wait_for(self, count: int, timeout: float = 10.0, *, path_contains: str | None = None) -> list[Recorded]:
        """Block until ``count`` matching requests were recorded (or ``timeout``); return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.seen(path_contains=path_contains)
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.01)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in h.headers.items()}
        seen = Recorded(h.command, h.path, headers, body, time.time(), h.client_address[1])
        respond: Response | Callable[[Recorded], Response] | None = None
        with self._lock:
            self.count += 1
            if self.record:
                self.requests.append(seen)
            for rule in self.rules:
                if rule.matches(seen):
                    if rule.times is not None:
                        rule.times -= 1
                    respond = rule.respond
                    break
        if respond is None:
            response = default_response(seen)
        elif isinstance(respond, Response):
            response = respond
        else:
            response = respond(seen)
        if response.kind == "hang":
            self._stopping.wait()
            h.close_connection = True
            return
        if response.kind == "close":
            h.close_connection = True
            return
        payload = response.body if isinstance(response.body, (bytes, str)) else json.dumps(response.body)
        data = payload.encode() if isinstance(payload, str) else payload
        h.send_response(response.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)


def default_response(seen: Recorded) -> Response:
    """Helicone's success shapes for an unscripted request."""
    if seen.method == "GET":
        return reply(200, {"data": None, "error": None})
    if seen.path.endswith("/count/query"):
        return reply(200, {"data": 0, "error": None})
    if "query" in seen.path:
        return reply(200, {"data": [], "error": None})
    return reply(201)


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def isolated_delivery(tmp_path: Path, monkeypatch: Any) -> Iterator[None]:
    """Fixture body: a fresh delivery worker whose default outbox lives under ``tmp_path``."""
    from helicone_wrap import _delivery

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    _delivery._reset_for_tests()
    yield
    _delivery._reset_for_tests()


def drive(ops: int, rounds: int = 3) -> None:
    """Measure helicone_wrap's delivery against this server in a child process (own GIL).

    Prints the enqueue cost on the caller's thread and delivered ops/s (median of ``rounds``).
    """
    import statistics
    import subprocess
    import sys
    import tempfile
    import uuid

    from helicone_wrap import _delivery
    from helicone_wrap._config import Target
    from helicone_wrap._operations import feedback_request

    port = closed_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faultserver", "--port", str(port), "--no-record"],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()
        with tempfile.TemporaryDirectory() as tmp:
            _delivery.configure(outbox=Path(tmp) / "outbox.sqlite3")
            target = Target(f"http://127.0.0.1:{port}", "sk-helicone-bench")
            enqueue, rates = [], []
            for _ in range(rounds + 1):  # the first round warms up (threads, connections)
                ids = [str(uuid.uuid4()) for _ in range(ops)]
                start = time.perf_counter()
                cpu = time.thread_time()
                for rid in ids:
                    feedback_request(rid, True, target=target)
                enqueue.append((time.thread_time() - cpu) / ops * 1e6)
                assert _delivery.flush(120), "flush timed out"
                rates.append(ops / (time.perf_counter() - start))
            print(f"enqueue (caller thread CPU): {statistics.median(enqueue[1:]):.1f} µs/op")
            print(f"delivered: {statistics.median(rates[1:]):,.0f} ops/s (median of {rounds} x {ops:,} feedback ops)")
            print(_delivery.stats())
    finally:
        child.kill()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--no-record", action="store_true", help="count requests without keeping them")
    parser.add_argument("--drive", type=int, metavar="OPS", help="benchmark helicone_wrap delivery against it")
    args = parser.parse_args()
    if args.drive:
        drive(args.drive)
        return
    server = FaultServer(args.host, args.port, record=not args.no_record)
    print(server.url, flush=True)
    server._httpd.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
