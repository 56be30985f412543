"""RestTransport, the delivery worker's HTTP: the pooled fast path and its httpx fallback agree."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator

import pytest

from helicone_wrap._delivery.transport import RestTransport
from helicone_wrap._http import http

from .faultserver import FaultServer, closed_port, not_found, reply

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-helicone-test"}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture(params=["direct", "httpx"])
def transport(request: pytest.FixtureRequest) -> Iterator[RestTransport]:
    """Both paths: our own HTTP/1.1 client, and httpx (what a proxied URL goes through)."""
    sender = RestTransport(timeout=5.0, connections=2)
    if request.param == "httpx":
        sender._direct = None
    yield sender
    sender.close()


def test_success_sends_method_path_headers_and_body(server: FaultServer, transport: RestTransport) -> None:
    """A 2xx comes back with its body; the server sees the method, full path, headers and body."""
    answer = transport.send("PUT", server.url, "/v1/request/abc/property", b'{"key":"k","value":"v"}', HEADERS)
    assert (answer.status, answer.content) == (201, b'{"data": null, "error": null}')
    (seen,) = server.seen()
    assert (seen.method, seen.path, seen.body) == ("PUT", "/v1/request/abc/property", {"key": "k", "value": "v"})
    assert seen.headers["authorization"] == "Bearer sk-helicone-test"
    assert seen.headers["host"] == server.url.removeprefix("http://")


def test_error_answers_carry_case_insensitive_headers(server: FaultServer, transport: RestTransport) -> None:
    """Non-2xx answers keep their headers (Retry-After is read from them) and their body."""
    server.when(reply(429, {"error": "slow down"}, {"Retry-After": "3"}))
    answer = transport.send("POST", server.url, "/v1/request/abc/feedback", b"{}", HEADERS)
    assert answer.status == 429
    assert answer.headers["retry-after"] == "3" and answer.headers["Retry-After"] == "3"
    assert b"slow down" in answer.content


ERROR_BODY = b'{"data": null, "error": "Request not found"}'


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # zlib.compress() has no wbits on Python 3.10
    return compressor.compress(data) + compressor.flush()


COMPRESSIONS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,  # RFC 1950 zlib stream, what "deflate" means
    "raw-deflate": _raw_deflate,  # what some servers send instead
}


@pytest.mark.parametrize("encoding", list(COMPRESSIONS))
def test_compressed_error_body_is_decoded(server: FaultServer, transport: RestTransport, encoding: str) -> None:
    """A compressed non-2xx body comes back decoded (the worker reads Helicone's error envelope
    from it), with every header, looked up in any case."""
    name = "deflate" if encoding == "raw-deflate" else encoding
    compressed = COMPRESSIONS[encoding](ERROR_BODY)
    server.when(reply(500, compressed, {"Content-Encoding": name, "X-Request-Id": "r-1"}))
    answer = transport.send("PUT", server.url, "/v1/request/abc/property", b"{}", HEADERS)
    assert (answer.status, answer.content) == (500, ERROR_BODY)
    assert answer.headers["content-encoding"] == answer.headers["CONTENT-ENCODING"] == name
    assert answer.headers["x-request-id"] == answer.headers["X-Request-ID"] == "r-1"
    assert answer.headers["content-length"] == str(len(compressed))


@pytest.mark.parametrize("encoding", list(COMPRESSIONS))
def test_compressed_success_body_is_decoded(server: FaultServer, transport: RestTransport, encoding: str) -> None:
    """A compressed 2xx body comes back decoded too: the worker looks for Helicone's error envelope
    (``{"error": ...}`` with a 200) in it, and a still-compressed body would pass as delivered."""
    name = "deflate" if encoding == "raw-deflate" else encoding
    server.when(reply(200, COMPRESSIONS[encoding](ERROR_BODY), {"Content-Encoding": name}))
    answer = transport.send("POST", server.url, "/v1/request/abc/feedback", b"{}", HEADERS)
    assert (answer.status, answer.content) == (200, ERROR_BODY)


def test_connections_are_reused(server: FaultServer, transport: RestTransport) -> None:
    """Keep-alive: many requests, few connections (the server counts distinct client ports)."""
    server.when(not_found(), times=5)
    for _ in range(20):
        transport.send("POST", server.url, "/v1/request/abc/feedback", b"{}", HEADERS)
    assert len(server.seen()) == 20
    assert len(server.client_ports()) == 1


def test_refused_connection_raises_httpx_connect_error(transport: RestTransport) -> None:
    """No answer raises the installed httpx's own ConnectError, never a foreign exception type."""
    with pytest.raises(http.ConnectError):
        transport.send("POST", f"http://127.0.0.1:{closed_port()}", "/v1/x", b"{}", HEADERS)
