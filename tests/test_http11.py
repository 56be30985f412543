"""The delivery worker's HTTP/1.1 client against real loopback servers that send scripted bytes.

What users rely on: every answer framing a server may use is read whole (and a short one is an
error, never a silent short body), keep-alive connections are reused and a dropped one costs
neither the request nor a duplicate, failures raise the installed httpx's exception classes,
header injection is refused before anything is sent, and one client is safe to share between
the sender threads. TLS: test_http11_tls.py.
"""

from __future__ import annotations

import os
import resource
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from helicone_wrap._delivery import http11
from helicone_wrap._delivery.http11 import Http11Client, Origin, Reply, encode_head
from helicone_wrap._delivery.transport import RestTransport
from helicone_wrap._http import http

from .faultserver import closed_port
from .rawserver import CLOSE, HALF_CLOSE, HANG, RESET, Action, RawRequest, RawServer, answer, echo

JSON = {"Content-Type": "application/json"}


def make_client(*, timeout: float = 3.0, keep: int = 4, ssl_context: ssl.SSLContext | None = None) -> Http11Client:
    return Http11Client(timeout=timeout, connect_timeout=2.0, keep=keep, ssl_context=ssl_context)


def send(
    client: Http11Client,
    port: int,
    target: str = "/v1/x",
    *,
    method: str = "POST",
    body: bytes = b"{}",
    host: str = "127.0.0.1",
    scheme: str = "http",
) -> Reply:
    head = encode_head(method, target, f"{host}:{port}", JSON, len(body))
    return client.request(Origin(scheme, host, port), head, body, method)


@pytest.fixture
def client() -> Iterator[Http11Client]:
    sender = make_client()
    yield sender
    sender.close()


# --- framing: every way a server may delimit an answer ---------------------------------------


def test_request_bytes_and_content_length_answer(client: Http11Client) -> None:
    """The request is exactly head + body; a Content-Length answer comes back with its headers."""
    with RawServer(lambda req: [answer(201, b"created", (("X-Trace", "t1"),))]) as server:
        reply = send(client, server.port, "/v1/request/abc/feedback", body=b'{"rating":true}')
    assert (reply.status, reply.body) == (201, b"created")
    assert ("X-Trace", "t1") in reply.headers
    assert server.requests[0].raw == (
        f"POST /v1/request/abc/feedback HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        'Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{"rating":true}'
    ).encode()


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b'7 ; quoted="a;b"\r\n, world\r\n'
    b"A\r\n 012345678\r\n"
    b"0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
)


@pytest.mark.parametrize("pieces", [1, 7], ids=["one-write", "trickled"])
def test_chunked_answer_with_extensions_and_trailers(client: Http11Client, pieces: int) -> None:
    """Chunk extensions are ignored, trailers consumed: the connection then serves the next answer."""
    step = -(-len(CHUNKED) // pieces)
    parts: list[Action] = []
    for start in range(0, len(CHUNKED), step):
        parts += [CHUNKED[start : start + step], 0.002]

    def script(req: RawRequest) -> list[Action]:
        return parts if req.number == 0 else echo(req)

    with RawServer(script) as server:
        first = send(client, server.port)
        second = send(client, server.port, "/second")
    assert first.body == b"hello, world 012345678"
    assert second.body == b"/second"
    assert server.connections == 1


def test_close_delimited_answer(client: Http11Client) -> None:
    """No Content-Length, no chunking: the body is everything until the server closes."""
    body = b"x" * 100_000 + b"end"
    with RawServer(lambda req: [answer(200, body, length=False), CLOSE]) as server:
        first = send(client, server.port)
        second = send(client, server.port)
    assert first.body == body and second.body == body
    assert server.connections == 2


@pytest.mark.parametrize(
    ("method", "status"), [("HEAD", 200), ("POST", 204), ("GET", 304)], ids=["HEAD", "204", "304"]
)
def test_answers_without_body(client: Http11Client, method: str, status: int) -> None:
    """HEAD, 204 and 304 have no body even with a Content-Length: the next answer is read intact."""

    def script(req: RawRequest) -> list[Action]:
        if req.number == 0:
            return [answer(status, headers=(("Content-Length", "10"),), length=False)]
        return echo(req)

    with RawServer(script) as server:
        first = send(client, server.port, method=method, body=b"")
        second = send(client, server.port, "/after")
    assert (first.status, first.body) == (status, b"")
    assert (second.status, second.body) == (200, b"/after")
    assert server.connections == 1


def test_interim_1xx_answers_are_skipped(client: Http11Client) -> None:
    """100 Continue and 103 Early Hints come before the real answer, which is what is returned."""
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"

    def script(req: RawRequest) -> list[Action]:
        return [interim, 0.002, answer(201, b"final", (("X-Final", "1"),))] if req.number == 0 else echo(req)

    with RawServer(script) as server:
        reply = send(client, server.port)
        again = send(client, server.port, "/again")
    assert (reply.status, reply.body) == (201, b"final")
    assert ("X-Final", "1") in reply.headers and all(name != "Link" for name, _ in reply.headers)
    assert again.body == b"/again" and server.connections == 1


# --- connection reuse ---------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(client: Http11Client) -> None:
    """Fifty requests in a row: one connection, each answer the one for its request."""
    with RawServer(echo) as server:
        bodies = [send(client, server.port, f"/r/{i}").body for i in range(50)]
    assert bodies == [f"/r/{i}".encode() for i in range(50)]
    assert server.connections == 1


@pytest.mark.parametrize(
    ("version", "connection", "reused"),
    [
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Keep-Alive, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", True),
        ("HTTP/1.0", "Keep-Alive", True),
    ],
)
def test_connection_header_and_http10(client: Http11Client, version: str, connection: str | None, reused: bool) -> None:
    """``Connection: close`` and HTTP/1.0 (without keep-alive) answers: the next request opens a new
    connection, although this server would keep the old one open."""
    extra = (("Connection", connection),) if connection else ()
    with RawServer(lambda req: [answer(200, req.target.encode(), extra, version=version)]) as server:
        bodies = [send(client, server.port, f"/{i}").body for i in range(3)]
    assert bodies == [b"/0", b"/1", b"/2"]
    assert server.connections == (1 if reused else 3)


def test_an_idle_connection_past_the_expiry_is_not_reused(client: Http11Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection idle longer than KEEPALIVE_EXPIRY is closed, not reused, although the server
    keeps it open (servers drop idle ones on their own schedule; a stale one risks a failed send)."""
    monkeypatch.setattr(http11.client, "KEEPALIVE_EXPIRY", 0.1)
    with RawServer(echo) as server:
        send(client, server.port, "/0")
        send(client, server.port, "/1")
        time.sleep(0.2)
        send(client, server.port, "/2")
    assert server.connections == 2


@pytest.fixture
def many_open_files() -> Iterator[None]:
    """Over 1024 descriptors open, so new sockets get numbers that ``select()`` refuses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    fillers: list[int] = []
    try:
        while not fillers or fillers[-1] < 1100:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_keep_alive_with_descriptors_above_1024(client: Http11Client, many_open_files: None) -> None:
    """In a process with many open files, a connection idle for over a second is still checked and
    reused (``select()`` raises for a descriptor over 1023; that used to drop every such connection)."""
    with RawServer(echo) as server:
        send(client, server.port, "/0")
        time.sleep(1.1)
        assert send(client, server.port, "/1").body == b"/1"
    assert server.connections == 1


def once_each(server: RawServer, count: int) -> None:
    """The server received ``/0`` ... ``/<count-1>``, each exactly once, in order."""
    targets = [req.target for req in server.requests]
    assert targets == [f"/{i}" for i in range(count)], "every request reached the server exactly once"


@pytest.mark.parametrize("drop", [CLOSE, RESET])
def test_server_closes_right_after_the_answer(client: Http11Client, drop: str) -> None:
    """A server that drops each keep-alive connection just after answering (without saying
    ``Connection: close``): every request still succeeds, and reaches the server exactly once."""
    with RawServer(lambda req: [answer(200, req.target.encode()), 0.001, drop]) as server:
        bodies = [send(client, server.port, f"/{i}").body for i in range(6)]
    assert bodies == [f"/{i}".encode() for i in range(6)]
    once_each(server, 6)
    assert server.connections == 6


@pytest.mark.parametrize("drop", [CLOSE, RESET])
def test_server_closes_an_idle_connection_after_a_pause(client: Http11Client, drop: str) -> None:
    """The server closes the idle connection; the client sends its next one 1.2 s later (past the
    no-poll window): success, exactly once, on a new connection."""
    with RawServer(lambda req: [answer(200, req.target.encode()), 0.1, drop]) as server:
        first = send(client, server.port, "/0")
        time.sleep(1.2)
        second = send(client, server.port, "/1")
    assert (first.body, second.body) == (b"/0", b"/1")
    once_each(server, 2)
    assert server.connections == 2


def test_an_idle_connection_the_server_finished_is_not_sent_on() -> None:
    """The server sent FIN on the idle connection (it will not answer there) but would still read
    what arrives: after the pause the client sees the FIN and sends on a new connection, so the
    request is read by the server once, not once on the dead connection and again on the retry."""
    sender = make_client()

    def script(req: RawRequest) -> list[Action]:
        return [CLOSE] if req.number > 0 else [answer(200, req.target.encode()), 0.1, HALF_CLOSE]

    with RawServer(script) as server:
        send(sender, server.port, "/0")
        time.sleep(1.2)
        assert send(sender, server.port, "/1").body == b"/1"
    sender.close()
    once_each(server, 2)


@pytest.mark.parametrize("drop", [CLOSE, RESET])
def test_no_answer_on_a_fresh_connection_raises(client: Http11Client, drop: str) -> None:
    """A new connection that the server drops after reading the request: RemoteProtocolError, and
    the request is not sent again."""
    with RawServer(lambda req: [drop]) as server:
        with pytest.raises(http.RemoteProtocolError):
            send(client, server.port)
    assert len(server.requests) == 1 and server.connections == 1


def test_reused_connection_dropped_unanswered_is_retried_once(client: Http11Client) -> None:
    """A reused connection that gets no byte of an answer is retried once on a new one (the module's
    documented trade-off: the server sees that request twice); no answer twice is an error."""

    def script(req: RawRequest) -> list[Action]:
        return [CLOSE] if req.target == "/drop" or (req.number == 1 and req.target == "/flaky") else echo(req)

    with RawServer(script) as server:
        send(client, server.port, "/warm")
        assert send(client, server.port, "/flaky").body == b"/flaky"
        with pytest.raises(http.RemoteProtocolError):
            send(client, server.port, "/drop")
    assert [req.target for req in server.requests] == ["/warm", "/flaky", "/flaky", "/drop", "/drop"]


# --- broken answers and failures ----------------------------------------------------------------

_HEAD_100 = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
_HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("partial", "drop"),
    [
        (_HEAD_100 + b"only ten b", CLOSE),
        (_HEAD_100 + b"only ten b", RESET),
        (_HEAD_CHUNKED + b"a\r\nonly", CLOSE),
        (_HEAD_CHUNKED + b"4\r\nfour\r\n", CLOSE),
        (_HEAD_CHUNKED + b"4\r\nfour\r\n", RESET),
        (b"HTTP/1.1 200 OK\r\n\r\nclose-delimited", RESET),
        (b"HTTP/1.1 200 OK\r\nContent-Len", CLOSE),
    ],
    ids=["length-fin", "length-rst", "chunk-fin", "chunks-fin", "chunks-rst", "close-delimited-rst", "headers-fin"],
)
def test_a_cut_answer_is_an_error_never_a_short_body(client: Http11Client, partial: bytes, drop: str) -> None:
    """The server stops mid-answer: RemoteProtocolError or ReadError; the client then still works."""

    def script(req: RawRequest) -> list[Action]:
        return [partial, 0.02, drop] if req.target == "/cut" else echo(req)

    with RawServer(script) as server:
        with pytest.raises((http.RemoteProtocolError, http.ReadError)):
            send(client, server.port, "/cut")
        assert send(client, server.port, "/next").body == b"/next"
    assert [req.target for req in server.requests] == ["/cut", "/next"]


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "reused"])
def test_an_early_answer_to_an_unread_large_body_is_returned(client: Http11Client, warm: bool) -> None:
    """A server that answers 413 after the head and closes without reading a 5 MB body (the kernel
    resets the connection while the body is still being sent): the 413 is returned, as httpx does,
    not "Server disconnected without sending a response", and the body is not sent again."""
    too_large = answer(413, b"too large", (("Connection", "close"),))

    def script(req: RawRequest) -> list[Action]:
        return [too_large, 0.05, CLOSE] if req.target == "/big" else echo(req)

    with RawServer(script, read_body=False) as server:
        if warm:
            send(client, server.port, "/warm", body=b"")
        reply = send(client, server.port, "/big", body=b"x" * 5_000_000)
        assert send(client, server.port, "/next", body=b"").body == b"/next"
    assert (reply.status, reply.body) == (413, b"too large")
    assert [req.target for req in server.requests] == ["/warm", "/big", "/next"][0 if warm else 1 :]


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "reused"])
@pytest.mark.parametrize("stall", [[HANG], [_HEAD_100 + b"some", HANG]], ids=["no-answer", "mid-body"])
def test_a_silent_server_raises_read_timeout_in_time(stall: list[Action], warm: bool) -> None:
    """A server that stops sending raises ReadTimeout after the read timeout, not later, and the
    request is not sent again (a reused connection that times out is not retried)."""
    sender = make_client(timeout=0.3)
    with RawServer(lambda req: stall if req.target == "/slow" else echo(req)) as server:
        if warm:
            send(sender, server.port, "/warm")
        start = time.monotonic()
        with pytest.raises(http.ReadTimeout):
            send(sender, server.port, "/slow")
        elapsed = time.monotonic() - start
    sender.close()
    assert 0.25 <= elapsed < 1.5
    assert [req.target for req in server.requests] == ["/warm", "/slow"][0 if warm else 1 :]


def test_a_full_accept_queue_raises_connect_timeout() -> None:
    """A listener that accepts nothing (its queue full, so SYNs are dropped): ConnectTimeout."""
    sender = Http11Client(timeout=2.0, connect_timeout=0.3, keep=1)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # fill the queue: until one connect times out
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            start = time.monotonic()
            with pytest.raises(http.ConnectTimeout):
                send(sender, port)
            assert time.monotonic() - start < 1.5
        finally:
            for filler in fillers:
                filler.close()


def test_a_refused_port_raises_connect_error(client: Http11Client) -> None:
    with pytest.raises(http.ConnectError):
        send(client, closed_port())


@pytest.mark.parametrize(
    "length", [b"-1", b"1_0", b"+5", b"5, 6"], ids=["negative", "underscore", "plus", "conflicting"]
)
def test_a_malformed_content_length_is_a_protocol_error(client: Http11Client, length: bytes) -> None:
    """A Content-Length that is not one decimal number raises at once (not a hang to the timeout)."""
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n0123456789"
    with RawServer(lambda req: [bad]) as server:
        start = time.monotonic()
        with pytest.raises(http.RemoteProtocolError):
            send(client, server.port)
    assert time.monotonic() - start < 1.0



def test_a_repeated_equal_content_length_is_accepted(client: Http11Client) -> None:
    """Two Content-Length headers (or a list) with one value: the body is read with that length."""
    twice = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\nhello"
    with RawServer(lambda req: [twice] if req.number == 0 else echo(req)) as server:
        assert send(client, server.port).body == b"hello"
        assert send(client, server.port, "/next").body == b"/next"


@pytest.mark.parametrize(
    ("size", "data"),
    [(b"-1", b"hello"), (b"0x5", b"hello"), (b"+5", b"hello"), (b"1_0", b"0123456789"), (b"", b"")],
    ids=["negative", "0x", "plus", "underscore", "empty"],
)
def test_a_malformed_chunk_size_is_a_protocol_error(client: Http11Client, size: bytes, data: bytes) -> None:
    """A chunk size that is not hex digits raises at once (not a hang to the timeout, not a guess)."""
    bad = _HEAD_CHUNKED + size + b"\r\n" + data + b"\r\n0\r\n\r\n"
    with RawServer(lambda req: [bad]) as server:
        start = time.monotonic()
        with pytest.raises(http.RemoteProtocolError):
            send(client, server.port)
    assert time.monotonic() - start < 1.0


# --- header injection -------------------------------------------------------------------------------

INJECTIONS = [
    ("X-Note", "a\r\nX-Injected: 1"),
    ("X-Note", "a\nb"),
    ("X-Note", "a\rb"),
    ("X-Note", "a\0b"),
    ("X-Note", "café"),
    ("X-Note", "日本"),
    ("X-Note\r\nX-Injected", "1"),
    ("X-Nöte", "1"),
]


@pytest.mark.parametrize(("name", "value"), INJECTIONS)
def test_header_injection_is_refused_before_sending(name: str, value: str) -> None:
    """CR, LF, NUL or non-ASCII in a header: LocalProtocolError, and no connection is even opened."""
    sender = RestTransport(timeout=2.0, connections=2)
    with RawServer(echo) as server:
        with pytest.raises(http.LocalProtocolError):
            sender.send("POST", f"http://127.0.0.1:{server.port}", "/v1/x", b"{}", {**JSON, name: value})
        assert sender.send("POST", f"http://127.0.0.1:{server.port}", "/v1/ok", b"{}", JSON).status == 200
    sender.close()
    assert [req.target for req in server.requests] == ["/v1/ok"]


# --- threads -------------------------------------------------------------------------------------------


def test_one_client_shared_by_eight_threads() -> None:
    """8 threads x 50 requests through one client: each gets its own answer, no connection is used
    by two threads at once, and no more connections are opened than threads."""
    sender = make_client(keep=8)
    results: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = [send(sender, server.port, f"/t{index}/{i}").body for i in range(50)]
        except BaseException as exc:  # noqa: B036 - reported below
            errors.append(exc)

    with RawServer(lambda req: [0.0002, answer(200, req.target.encode())]) as server:
        threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
    sender.close()
    assert errors == []
    assert results == {index: [f"/t{index}/{i}".encode() for i in range(50)] for index in range(8)}
    assert len(server.requests) == 400 and server.overlaps == 0
    assert server.connections <= 8
