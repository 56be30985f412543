"""A loopback server that answers HTTP requests with exactly the bytes a test scripts.

Each accepted connection gets a thread that reads one request at a time (head plus a
``Content-Length`` body), records it, and plays the script's actions for it::

    def script(req: RawRequest) -> list[Action]:
        return [answer(200, b"hi"), CLOSE]          # answer, then close the connection

    with RawServer(script) as server:
        ...  # server.port, server.requests, server.connections

An action is ``bytes`` (sent as is), a ``float`` (pause that many seconds), or one of
:data:`CLOSE` (FIN), :data:`RESET` (RST: ``SO_LINGER`` 0), :data:`HALF_CLOSE` (FIN, but keep
reading requests) and :data:`HANG` (never answer, until the server stops). Give ``tls=`` a server-side :class:`ssl.SSLContext` to speak TLS, and
``read_body=False`` to play the script after the request head alone (a server that answers
early, e.g. 413, without reading the body: its script should end with CLOSE or RESET).

The server also notes requests that arrived while a request on the same connection was still
unanswered (:attr:`RawServer.overlaps`): a client that shares a connection between threads, or
one that pipelines. :attr:`RawRequest.pipelined` tells a script that more bytes were already
waiting behind the request when it was read (a pipelining client wrote the next one before this
one's answer), so a script can play a server that mishandles pipelining.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from typing import NamedTuple

CLOSE = "close"
HALF_CLOSE = "half-close"
RESET = "reset"
HANG = "hang"
Action = bytes | float | str


class RawRequest(NamedTuple):
    """One request as received: ``conn`` counts connections from 0, ``number`` requests on it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    raw: bytes
    conn: int
    number: int
    pipelined: bool = False


def answer(
    status: int = 200,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    *,
    version: str = "HTTP/1.1",
    length: bool = True,
) -> bytes:
    """The bytes of a whole answer; ``Content-Length`` is added unless ``length=False``."""
    lines = [f"{version} {status} Reason\r\n"] + [f"{name}: {value}\r\n" for name, value in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}\r\n")
    return "".join(lines).encode("latin-1") + b"\r\n" + body


def echo(req: RawRequest) -> list[Action]:
    """A script: answer every request with its own target, so a mixed-up answer shows."""
    return [answer(200, req.target.encode())]


class RawServer:
    """The server; use it as a context manager."""

    def __init__(
        self,
        script: Callable[[RawRequest], list[Action]],
        *,
        tls: ssl.SSLContext | None = None,
        read_body: bool = True,
    ) -> None:
        self.script = script
        self.read_body = read_body
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.overlaps = 0
        self.tls_failures: list[BaseException] = []
        self._tls = tls
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            socks = [self._listener, *self._socks]
        for sock in socks:  # shutdown() wakes up a thread blocked in accept() or recv(); close() does not
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in list(self._threads):
            thread.join(2)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, index: int) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_side=True)
            except (OSError, ValueError) as exc:
                self.tls_failures.append(exc)
                sock.close()
                return
            with self._lock:
                self._socks.append(sock)
        try:
            self._requests(sock, index)
        except Exception:  # the connection is gone (a reset, or the server stopping)
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _requests(self, sock: socket.socket, index: int) -> None:
        buffer = b""
        number = 0
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            size = int(headers.get("content-length", "0")) if self.read_body else 0
            while len(buffer) < size:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            body, buffer = buffer[:size], buffer[size:]
            method, target, _ = request_line.split(" ", 2)
            pipelined = bool(buffer) or _readable(sock)
            request = RawRequest(method, target, headers, body, head + b"\r\n\r\n" + body, index, number, pipelined)
            number += 1
            with self._lock:
                self.requests.append(request)
            if self._play(sock, self.script(request), buffer):
                return

    def _play(self, sock: socket.socket, actions: list[Action], buffer: bytes) -> bool:
        """Run the actions; True when the connection is gone."""
        for action in actions:
            if isinstance(action, bytes):
                if buffer or _readable(sock):  # another request came before this one's answer
                    with self._lock:
                        self.overlaps += 1
                sock.sendall(action)
            elif isinstance(action, float):
                self._stop.wait(action)
            elif action == HANG:
                self._stop.wait()
                return True
            elif action == RESET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                return True
            elif action == HALF_CLOSE:
                sock.shutdown(socket.SHUT_WR)
            elif action == CLOSE:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
                return True
        return False


def _readable(sock: socket.socket) -> bool:
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()  # not select(): it refuses descriptors over 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
