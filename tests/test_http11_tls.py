"""The delivery worker's HTTP/1.1 client over TLS, against a loopback server with a certificate
made for the test: verified against the context's trust store (``SSL_CERT_FILE`` included), SNI
sent, the host name checked, keep-alive kept, and a dropped connection still costs no request.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helicone_wrap._delivery.transport import RestTransport
from helicone_wrap._http import http

from .rawserver import CLOSE, RESET, Action, RawRequest, RawServer, answer, echo
from .test_http11 import JSON, make_client, once_each, send


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` only (no IP address in it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls_server(
    certificate: tuple[Path, Path], script: Callable[[RawRequest], list[Action]] = echo
) -> tuple[RawServer, list[str | None]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    names: list[str | None] = []

    def note_name(sock: ssl.SSLObject, name: str, ctx: ssl.SSLContext) -> None:
        names.append(name)  # None when the client sent no SNI

    context.sni_callback = note_name
    return RawServer(script, tls=context), names


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_tls_with_a_trusted_certificate_keeps_alive(certificate: tuple[Path, Path]) -> None:
    """With a context that trusts the certificate: answers over one TLS connection, SNI sent."""
    sender = make_client(ssl_context=trusting(certificate))
    server, names = tls_server(certificate)
    with server:
        bodies = [send(sender, server.port, f"/{i}", host="localhost", scheme="https").body for i in range(10)]
    sender.close()
    assert bodies == [f"/{i}".encode() for i in range(10)]
    assert server.connections == 1 and names == ["localhost"]


@pytest.mark.parametrize("drop", [CLOSE, RESET])
def test_tls_server_closing_after_each_answer(certificate: tuple[Path, Path], drop: str) -> None:
    """A TLS server that drops each connection after answering: every request still succeeds once."""
    sender = make_client(ssl_context=trusting(certificate))
    server, _ = tls_server(certificate, lambda req: [answer(200, req.target.encode()), 0.001, drop])
    with server:
        bodies = [send(sender, server.port, f"/{i}", host="localhost", scheme="https").body for i in range(4)]
    sender.close()
    assert bodies == [f"/{i}".encode() for i in range(4)]
    once_each(server, 4)


def test_tls_untrusted_certificate_raises_connect_error(certificate: tuple[Path, Path]) -> None:
    """The default context (httpx's trust store) rejects a self-signed certificate; nothing is sent."""
    sender = make_client()
    server, _ = tls_server(certificate)
    with server:
        with pytest.raises(http.ConnectError):
            send(sender, server.port, host="localhost", scheme="https")
    sender.close()
    assert server.requests == []


def test_tls_hostname_mismatch_raises_connect_error(certificate: tuple[Path, Path]) -> None:
    """A trusted certificate for ``localhost`` reached as ``127.0.0.1``: the name check fails."""
    sender = make_client(ssl_context=trusting(certificate))
    server, _ = tls_server(certificate)
    with server:
        with pytest.raises(http.ConnectError):
            send(sender, server.port, host="127.0.0.1", scheme="https")
    sender.close()
    assert server.requests == []


@pytest.mark.parametrize("path", ["direct", "httpx"])
def test_ssl_cert_file_is_honoured(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """``SSL_CERT_FILE`` (a company CA) is trusted by RestTransport on both its paths."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    sender = RestTransport(timeout=3.0, connections=2)
    if path == "httpx":
        sender._direct = None
    server, _ = tls_server(certificate)
    with server:
        answer_ = sender.send("POST", f"https://localhost:{server.port}", "/v1/x", b"{}", JSON)
    sender.close()
    assert (answer_.status, answer_.content) == (200, b"/v1/x")
