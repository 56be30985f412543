"""Pipelined requests (``Http11Client.request_many``, ``RestTransport.send_many``, the delivery
worker's async-mode log records) against real loopback servers that misbehave on purpose.

What users rely on: every record reaches the server and gets its own answer, in order, exactly
once as far as the server answered it; a server that closes, resets, says ``Connection: close``
or never answers pipelined requests costs at most a timeout, never a hang or a lost record, and
such an origin is then served one request at a time. ``RawServer.overlaps`` (requests that
arrived before the previous one's answer) is the proof that a batch really was pipelined.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import helicone_wrap
from helicone_wrap._delivery.http11 import Http11Client, Origin, Reply, encode_head
from helicone_wrap._delivery.http11.client import _Conn
from helicone_wrap._delivery.transport import PIPELINE_BYTES, Answer, RestTransport
from helicone_wrap._http import http

from . import test_http11_tls
from .conftest import Driver
from .echo_server import EchoServer
from .faultserver import closed_port, isolated_delivery
from .rawserver import CLOSE, HANG, RESET, Action, RawRequest, RawServer, answer, echo
from .test_http11 import JSON, make_client
from .test_http11_tls import tls_server, trusting

Outcome = Reply | Exception
certificate = test_http11_tls.certificate  # the module-scoped fixture: a certificate for localhost


@pytest.fixture
def client() -> Iterator[Http11Client]:
    sender = make_client()
    yield sender
    sender.close()


@pytest.fixture
def impatient() -> Iterator[Http11Client]:
    """A client that gives up waiting for an answer after half a second."""
    sender = make_client(timeout=0.5)
    yield sender
    sender.close()


def batch(
    client: Http11Client, port: int, targets: list[str], *, host: str = "127.0.0.1", scheme: str = "http"
) -> list[Outcome]:
    """POST each target (body ``{}``) through ``request_many``, bounded in time."""
    items = [(encode_head("POST", target, f"{host}:{port}", JSON, 2), b"{}") for target in targets]
    started = time.monotonic()
    outcomes = client.request_many(Origin(scheme, host, port), items, "POST")
    assert time.monotonic() - started < 10, "request_many took far longer than any timeout"
    return outcomes


def bodies(outcomes: list[Outcome]) -> list[bytes]:
    """Each reply's body; fails, naming it, on any exception in place of a reply."""
    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert not errors, f"requests failed: {errors!r}"
    return [outcome.body for outcome in outcomes if isinstance(outcome, Reply)]


def targets_of(count: int, prefix: str = "/r") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def answered_once(server: RawServer, targets: list[str]) -> None:
    """The server received each target exactly once."""
    seen = sorted(req.target for req in server.requests)
    assert seen == sorted(targets)


# --- request_many: the rules of the pipeline ------------------------------------------------------


def test_batch_is_pipelined_on_one_connection_each_reply_its_own(client: Http11Client) -> None:
    """Ten requests: one connection, each answer its own request's in order, written back to back
    after the first one, which went alone on the fresh connection."""
    targets = targets_of(10)
    with RawServer(echo) as server:
        outcomes = batch(client, server.port, targets)
    assert bodies(outcomes) == [target.encode() for target in targets]
    assert server.connections == 1
    assert [req.target for req in server.requests] == targets
    assert server.overlaps > 0  # really pipelined
    first = server.requests[0]
    assert (first.target, first.number, first.pipelined) == ("/r0", 0, False)  # alone on the fresh connection
    assert server.requests[1].pipelined  # the rest came back to back


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_server_that_closes_after_every_answer_is_never_pipelined_to(client: Http11Client, version: str) -> None:
    """``Connection: close`` on every answer (or HTTP/1.0 without keep-alive): each request alone,
    on its own connection, all answered."""

    def script(req: RawRequest) -> list[Action]:
        close = (("Connection", "close"),) if version == "HTTP/1.1" else ()
        return [answer(200, req.target.encode(), close, version=version), CLOSE]

    targets = targets_of(6)
    with RawServer(script) as server:
        outcomes = batch(client, server.port, targets)
    assert bodies(outcomes) == [target.encode() for target in targets]
    assert server.overlaps == 0
    assert server.connections == len(targets)
    answered_once(server, targets)


def test_connection_close_mid_pipeline_resends_the_rest_on_a_new_connection(client: Http11Client) -> None:
    """The 3rd answer of the first connection says ``Connection: close``: the requests written after
    it (unread by the server) go again on a new connection; each reaches the server once."""

    def script(req: RawRequest) -> list[Action]:
        if req.conn == 0 and req.number == 2:
            return [answer(200, req.target.encode(), (("Connection", "close"),)), CLOSE]
        return echo(req)

    targets = targets_of(10)
    with RawServer(script) as server:
        outcomes = batch(client, server.port, targets)
        assert bodies(outcomes) == [target.encode() for target in targets]
        answered_once(server, targets)
        assert server.connections == 2
        assert [req.target for req in server.requests if req.conn == 0] == ["/r0", "/r1", "/r2"]
        before = server.overlaps
        again = batch(client, server.port, targets_of(5, "/again"))  # an honest close: still pipelined
        assert bodies(again) == [target.encode() for target in targets_of(5, "/again")]
        assert server.overlaps > before


def test_a_server_that_closes_every_third_answer_stays_pipelined(client: Http11Client) -> None:
    """Servers cap requests per connection (nginx's keepalive_requests): an announced close, however
    often, is no reason to stop pipelining, and every request is still answered once."""

    def script(req: RawRequest) -> list[Action]:
        if req.number == 2:
            return [answer(200, req.target.encode(), (("Connection", "close"),)), CLOSE]
        return echo(req)

    targets = targets_of(20)
    with RawServer(script) as server:
        outcomes = batch(client, server.port, targets)
        assert bodies(outcomes) == [target.encode() for target in targets]
        answered_once(server, targets)
        before = server.overlaps
        again = batch(client, server.port, targets_of(6, "/again"))
        assert bodies(again) == [target.encode() for target in targets_of(6, "/again")]
        assert server.overlaps > before  # still pipelined after seven closes


@pytest.mark.parametrize("drop", [RESET, CLOSE], ids=["reset", "close"])
def test_a_server_that_drops_a_pipeline_gets_the_rest_again_one_at_a_time(client: Http11Client, drop: str) -> None:
    """After answering two pipelined requests the server drops the connection without saying so:
    the rest are sent again and answered, and the origin is then served one request at a time."""

    def script(req: RawRequest) -> list[Action]:
        if req.conn == 0 and req.number == 2:
            return [answer(200, req.target.encode()), drop]
        return echo(req)

    targets = targets_of(10)
    with RawServer(script) as server:
        outcomes = batch(client, server.port, targets)
        assert bodies(outcomes) == [target.encode() for target in targets]
        answered_once(server, targets)
        before = server.overlaps
        assert before > 0  # the first connection was pipelined to
        again = batch(client, server.port, targets_of(6, "/again"))
        assert bodies(again) == [target.encode() for target in targets_of(6, "/again")]
        assert server.overlaps == before  # one at a time from then on
        assert not any(req.pipelined for req in server.requests if req.conn > 0)


@pytest.mark.parametrize("hang_from", [1, 2], ids=["first-pipelined", "after-one-answer"])
def test_a_server_that_never_answers_pipelined_requests_costs_one_timeout(impatient: Http11Client, hang_from: int) -> None:
    """The first connection never answers from its ``hang_from``-th request on: those get the
    installed httpx's ``ReadTimeout`` after one timeout (no hang), the origin goes one at a time,
    and the next batch is all answered without pipelining."""

    def script(req: RawRequest) -> list[Action]:
        if req.conn == 0 and req.number >= hang_from:
            return [HANG]
        return echo(req)

    sender = impatient
    targets = targets_of(8)
    with RawServer(script) as server:
        started = time.monotonic()
        outcomes = batch(sender, server.port, targets)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"{elapsed:.1f}s: more than one read timeout"
        answered = [outcome.body for outcome in outcomes[:hang_from] if isinstance(outcome, Reply)]
        assert answered == [target.encode() for target in targets[:hang_from]]
        assert all(type(outcome) is http.ReadTimeout for outcome in outcomes[hang_from:]), outcomes
        before = server.overlaps
        again = batch(sender, server.port, targets_of(6, "/again"))
        assert bodies(again) == [target.encode() for target in targets_of(6, "/again")]
        assert server.overlaps == before
        assert not any(req.pipelined for req in server.requests if req.conn > 0)


def test_a_host_that_never_answers_costs_one_timeout_per_batch_not_per_request(impatient: Http11Client) -> None:
    """Accepted, never answered: every request gets ``ReadTimeout`` after one timeout (they go
    back to the retry policy), instead of a sender held for a timeout per request in the batch."""
    with RawServer(lambda req: [HANG]) as server:
        started = time.monotonic()
        outcomes = batch(impatient, server.port, targets_of(8))
        elapsed = time.monotonic() - started
    assert all(type(outcome) is http.ReadTimeout for outcome in outcomes), outcomes
    assert elapsed < 1.5, f"{elapsed:.1f}s for 8 requests with a 0.5 s timeout"
    assert server.connections == 1


def test_connection_refused_fails_every_request_after_one_dial(
    client: Http11Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens: each request gets ``ConnectError`` at once, from a single connection attempt."""
    dials: list[Origin] = []
    connect = client._connect

    def counting(origin: Origin) -> _Conn:
        dials.append(origin)
        return connect(origin)

    monkeypatch.setattr(client, "_connect", counting)
    started = time.monotonic()
    outcomes = batch(client, closed_port(), targets_of(12))
    assert time.monotonic() - started < 1.0
    assert len(outcomes) == 12
    assert all(isinstance(outcome, http.ConnectError) for outcome in outcomes), outcomes
    assert len(dials) == 1


def test_a_request_dropped_twice_when_pipelined_is_answered_one_at_a_time(client: Http11Client) -> None:
    """A server that drops the connection, unanswered, whenever requests arrive pipelined: the
    client ends up sending one at a time, and every request is answered, once, without error."""
    answered: list[str] = []

    def script(req: RawRequest) -> list[Action]:
        if req.pipelined:
            return [CLOSE]
        answered.append(req.target)
        return echo(req)

    targets = targets_of(10)
    with RawServer(script) as server:
        outcomes = batch(client, server.port, targets)
        assert bodies(outcomes) == [target.encode() for target in targets]
        assert sorted(answered) == sorted(targets)
        assert server.connections <= 3  # two dropped pipelines, then one at a time on one connection
        drops = len(server.requests) - len(answered)
        again = batch(client, server.port, targets_of(6, "/again"))
        assert bodies(again) == [target.encode() for target in targets_of(6, "/again")]
        assert len(server.requests) - len(answered) == drops  # no pipelining any more: no new drop


# --- TLS -------------------------------------------------------------------------------------------


def test_batch_over_tls_is_pipelined(certificate: tuple[Path, Path]) -> None:
    """Over TLS too: one connection, answers in order, really pipelined."""
    sender = make_client(ssl_context=trusting(certificate))
    server, names = tls_server(certificate)
    targets = targets_of(12)
    with server:
        outcomes = batch(sender, server.port, targets, host="localhost", scheme="https")
    sender.close()
    assert bodies(outcomes) == [target.encode() for target in targets]
    assert server.connections == 1 and names == ["localhost"]
    assert server.overlaps > 0


# --- RestTransport.send_many ------------------------------------------------------------------------


def _body_id(req: RawRequest) -> list[Action]:
    """Answer with the request's ``X-Id`` header and its body's length: a mixed-up answer shows."""
    return [answer(200, f"{req.headers['x-id']}:{len(req.body)}".encode())]


def test_send_many_splits_large_bodies_into_runs_and_answers_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies adding up to more than PIPELINE_BYTES go in several pipelined runs, none over the
    limit (unless one body alone is), and every answer is its own request's."""
    transport = RestTransport(timeout=3.0, connections=2)
    assert transport._direct is not None
    runs: list[int] = []
    original = transport._direct.request_many

    def counting(origin: Origin, items: Any, method: str) -> list[Outcome]:
        runs.append(sum(len(head) + len(body) for head, body in items))
        return original(origin, items, method)

    monkeypatch.setattr(transport._direct, "request_many", counting)
    sizes = [40_000] * 12 + [300_000, 10]  # 480 KB of small ones, then one larger than a run
    requests = [(b"x" * size, JSON, {"X-Id": str(i)}) for i, size in enumerate(sizes)]
    with RawServer(_body_id) as server:
        answers = transport.send_many("POST", f"http://127.0.0.1:{server.port}", "/oai/v1/log", requests)
        transport.close()
    assert [a.content if isinstance(a, Answer) else a for a in answers] == [
        f"{i}:{size}".encode() for i, size in enumerate(sizes)
    ]
    assert len(runs) >= 3 and sum(runs) > 2 * PIPELINE_BYTES
    assert all(size <= PIPELINE_BYTES + 1024 for size in runs if size < 300_000)
    assert server.overlaps > 0
    assert len(server.requests) == len(sizes)


def test_send_many_a_request_that_cannot_be_sent_fails_alone() -> None:
    """A request whose header would inject a line is refused (``LocalProtocolError``) before
    anything is sent; the others in the batch are still sent and answered."""
    transport = RestTransport(timeout=3.0, connections=2)
    requests = [(b"{}", JSON, {"X-Id": str(i)}) for i in range(5)]
    requests[2] = (b"{}", JSON, {"X-Id": "2\r\nX-Injected: yes"})
    with RawServer(_body_id) as server:
        answers = transport.send_many("POST", f"http://127.0.0.1:{server.port}", "/oai/v1/log", requests)
        transport.close()
    assert type(answers[2]) is http.LocalProtocolError
    assert [a.content for i, a in enumerate(answers) if i != 2 and isinstance(a, Answer)] == [
        b"0:2", b"1:2", b"3:2", b"4:2"
    ]
    assert [req.headers["x-id"] for req in server.requests] == ["0", "1", "3", "4"]
    assert not any("x-injected" in req.headers for req in server.requests)


def test_send_many_through_a_proxy_goes_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``HTTP_PROXY`` set, the requests go through httpx to the proxy, one at a time, each answered."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with RawServer(echo) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        transport = RestTransport(timeout=3.0, connections=2)
        origin = f"http://127.0.0.1:{closed_port()}"  # only the proxy is reachable
        requests = [(b"{}", JSON, {"X-Id": str(i)}) for i in range(5)]
        answers = transport.send_many("POST", origin, "/oai/v1/log", requests)
        transport.close()
    assert [a.content if isinstance(a, Answer) else a for a in answers] == [f"{origin}/oai/v1/log".encode()] * 5
    assert [req.headers["x-id"] for req in proxy.requests] == [str(i) for i in range(5)]
    assert proxy.overlaps == 0


# --- the delivery worker: a burst of async-mode records ------------------------------------------------


@pytest.fixture
def _delivery_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


class LogHost:
    """A log host that holds each connection's first record until :attr:`gate` opens (so the
    others queue up behind it, as in a burst), then answers like Helicone; ``refuse=True``: every
    tenth new record is refused once with a 503 (to be retried: each answer must reach its own
    record); ``drop=True``: the first time requests arrive pipelined, the connection closes without
    a word after answering the first of them (and :attr:`dropped` turns True).
    """

    def __init__(self, *, refuse: bool = False, drop: bool = False) -> None:
        self.gate = threading.Event()
        self.ok: list[str] = []  # request ids answered 200, in order
        self.refused: list[str] = []  # request ids answered 503
        self.dropped = False
        self._refuse, self._drop = refuse, drop
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def script(self, req: RawRequest) -> list[Action]:
        if req.number == 0:
            self.gate.wait(10)
        request_id = req.headers.get("helicone-request-id", "")
        ok = answer(200, b'{"data":null,"error":null}', (("Content-Type", "application/json"),))
        with self._lock:
            new = request_id not in self._seen
            self._seen.add(request_id)
            if self._refuse and new and len(self._seen) % 10 == 3:
                self.refused.append(request_id)
                return [answer(503, b'{"error":"busy"}', (("Content-Type", "application/json"),))]
            self.ok.append(request_id)
            if self._drop and req.pipelined and not self.dropped:
                self.dropped = True
                return [ok, CLOSE]
        return [ok]


async def burst(driver: Driver, echo: EchoServer, log_host: RawServer, gate: threading.Event, calls: int) -> list[str]:
    """``calls`` async-mode calls while the log host holds its first records, then flush()."""
    client = helicone_wrap.wrap(
        driver.client(echo.url + "/v1"), mode="async", base_url=f"http://127.0.0.1:{log_host.port}",
        api_key="sk-helicone-local",
    )  # fmt: skip
    ids = []
    for _ in range(calls):
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "hello"}])  # fmt: skip
        ids.append(result.helicone_id)
    gate.set()
    assert helicone_wrap.flush(10)
    assert len(set(ids)) == calls
    assert {req.target for req in log_host.requests} == {"/oai/v1/log"}
    return ids


async def test_a_burst_of_async_mode_calls_is_pipelined_and_each_record_arrives_once(
    driver: Driver, echo: EchoServer, _delivery_env: None
) -> None:
    """100 calls in async mode: after flush() the log host accepted each call's record exactly
    once (by ``Helicone-Request-Id``), the ones it refused were sent again (and only those), and
    the burst was pipelined."""
    host = LogHost(refuse=True)
    with RawServer(host.script) as log_host:
        ids = await burst(driver, echo, log_host, host.gate, 100)
        assert sorted(host.ok) == sorted(ids)  # each record accepted exactly once
        assert len(host.refused) == 10
        received = sorted(req.headers["helicone-request-id"] for req in log_host.requests)
        assert received == sorted(ids + host.refused)  # only the refused ones went twice
        assert log_host.overlaps > 0
    stats = helicone_wrap.delivery_stats()
    assert (stats.delivered, stats.failed, stats.retried, stats.pending) == (100, 0, 10, 0)


async def test_a_log_host_that_drops_a_pipeline_loses_no_record(
    driver: Driver, echo: EchoServer, _delivery_env: None
) -> None:
    """The log host closes a pipelined connection after one answer, without saying so: the
    records written behind it are sent again at once (no retry, no failure), each accepted once."""
    host = LogHost(drop=True)
    with RawServer(host.script) as log_host:
        ids = await burst(driver, echo, log_host, host.gate, 40)
        assert sorted(host.ok) == sorted(ids)
        assert host.dropped  # it really dropped a pipeline
        assert log_host.overlaps > 0
    stats = helicone_wrap.delivery_stats()
    assert (stats.delivered, stats.failed, stats.retried, stats.pending) == (40, 0, 0, 0)


_ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n" + b'{"data":null,"error":null}',
    b"HTTP/1.1 201\r\ncontent-length:  2 \r\nX-A: 1\r\n\r\n{}",
    b"HTTP/1.1 404 Not Found\r\nCONTENT-LENGTH: 5\r\nX-Content-Length: 99\r\n\r\nnope!",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
]


@pytest.mark.parametrize("order", ["as listed", "reversed"])
def test_answers_read_together_are_the_answers_read_one_by_one(order: str) -> None:
    """A pipelined run's answers, parsed together from one buffer (the common ones without the
    general reader), are exactly what the general reader makes of each, keep-alive included."""
    from helicone_wrap._delivery.http11.framing import _Reader, next_replies, read_reply

    answers = _ANSWERS if order == "as listed" else _ANSWERS[::-1]

    def reader_for(data: bytes) -> tuple[_Reader, socket.socket]:
        ours, theirs = socket.socketpair()
        theirs.sendall(data)
        theirs.close()
        return _Reader(ours), ours

    expected: list[tuple[Reply, bool]] = []
    for data in answers:
        reader, sock = reader_for(data)
        try:
            expected.append(read_reply(reader, "POST"))
        finally:
            sock.close()
    reader, sock = reader_for(b"".join(answers))
    got: list[tuple[Reply, bool]] = []
    try:
        while len(got) < len(answers):
            replies, keep_alive = next_replies(reader, "POST", len(answers) - len(got))
            got += [(reply, True) for reply in replies[:-1]] + [(replies[-1], keep_alive)]
    finally:
        sock.close()
    assert [(r.status, r.body, r.headers, k) for r, k in got] == [(r.status, r.body, r.headers, k) for r, k in expected]
