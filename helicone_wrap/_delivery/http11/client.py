"""The connection pool and one-request-at-a-time exchange of :class:`Http11Client`.

Keep-alive unless the server says ``Connection: close`` (or is HTTP/1.0 without keep-alive); an
idle connection that the server closed, or that has been idle longer than :data:`KEEPALIVE_EXPIRY`,
is dropped before reuse, and a reused one that fails before the first byte of an answer is
retried once on a fresh connection. Several requests at once: :mod:`.pipeline`.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence

from ..._http import http
from . import pipeline
from .framing import Origin, Reply, _NoAnswer, _Reader, quick_reply, read_reply

#: Seconds an idle connection is kept for reuse (httpx's default keep-alive expiry).
KEEPALIVE_EXPIRY = 5.0
#: A connection idle for less than this is reused without first polling it for a close: in a
#: burst that poll is one system call per request, and a close it would have caught is handled
#: anyway (the request is sent again on a new connection when no byte of an answer came back).
_FRESH = 1.0
_POLL = hasattr(select, "poll")


class _Conn:
    __slots__ = ("file", "idle_since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = _Reader(sock)
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Idle for less than the expiry and not readable (readable while idle: closed by the server)."""
        idle = now - self.idle_since
        if idle > KEEPALIVE_EXPIRY:
            return False
        if idle < _FRESH:
            return True
        try:
            return not _readable(self.sock)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        for closeable in (self.file, self.sock):
            try:
                closeable.close()
            except OSError:  # pragma: no cover - already broken
                pass


def _readable(sock: socket.socket) -> bool:
    """Data or a close waits on ``sock``; poll() where there is one: select() refuses a descriptor
    numbered over 1023 (any process with many open files), which would drop every idle connection."""
    if _POLL:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)  # pragma: no cover - Windows
    return bool(readable)


class Http11Client:
    """Keep-alive HTTP/1.1 connections to a few origins, shared by the delivery sender threads.

    Usage: ``Http11Client(timeout=10.0, connect_timeout=5.0, keep=8).request(origin, head, body, "POST")``
    """

    def __init__(
        self, *, timeout: float, connect_timeout: float, keep: int, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._keep = keep
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Conn]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._serial: set[Origin] = set()  # origins that mishandled a pipeline: one request at a time

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = http.create_ssl_context()
        return self._ssl_context

    def _connect(self, origin: Origin) -> _Conn:
        try:
            sock = socket.create_connection((origin.host, origin.port), timeout=self._connect_timeout)
        except TimeoutError as exc:
            raise http.ConnectTimeout(f"connect to {origin.host}:{origin.port} timed out") from exc
        except OSError as exc:
            raise http.ConnectError(str(exc) or type(exc).__name__) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=origin.host)
            sock.settimeout(self._timeout)
        except TimeoutError as exc:
            sock.close()
            raise http.ConnectTimeout(f"TLS handshake with {origin.host}:{origin.port} timed out") from exc
        except OSError as exc:  # ssl.SSLError is an OSError
            sock.close()
            raise http.ConnectError(str(exc) or type(exc).__name__) from exc
        return _Conn(sock)

    def _take(self, origin: Origin) -> _Conn | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(origin)
            while idle:
                conn = idle.pop()
                if conn.usable(now):
                    return conn
                conn.close()
        return None

    def _give_back(self, origin: Origin, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < self._keep:
                idle.append(conn)
                return
        conn.close()

    def request(self, origin: Origin, head: bytes, body: bytes, method: str) -> Reply:
        """Send ``head + body`` and read the answer; raises httpx's ``TransportError`` family on none."""
        conn = self._take(origin)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(origin)
            try:
                reply, keep_alive = self._exchange(conn, head, body, method)
            except _NoAnswer as exc:
                conn.close()
                if reused:  # a keep-alive connection the server dropped just now: once more, on a new one
                    conn, reused = None, False
                    continue
                if isinstance(exc.__cause__, _NoAnswer):  # the request could not even be sent
                    raise http.WriteError(f"the server closed the connection while the request was sent ({exc})") from None
                raise http.RemoteProtocolError(f"Server disconnected without sending a response ({exc})") from None
            except BaseException:
                conn.close()
                raise
            if keep_alive:
                self._give_back(origin, conn)
            else:
                conn.close()
            return reply

    def _exchange(self, conn: _Conn, head: bytes, body: bytes, method: str) -> tuple[Reply, bool]:
        write_error: OSError | None = None
        try:
            conn.sock.sendall(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                conn.sock.sendall(body)
        except TimeoutError as exc:
            raise http.WriteTimeout("sending the request timed out") from exc
        except OSError as exc:
            # A server may answer (413, 400 "Payload too large") and close before reading the whole
            # body: the send then fails, but the answer is there to read (httpcore does the same).
            write_error = exc
        try:
            reader = conn.file
            quick = quick_reply(reader) if not reader.buf and method != "HEAD" else None
            if quick is not None:
                reply, keep_alive = quick, True
            else:
                reply, keep_alive = read_reply(reader, method)
        except TimeoutError as exc:
            raise http.ReadTimeout("no answer within the read timeout") from exc
        except _NoAnswer as exc:
            if write_error is None:
                raise
            # The send failed (a reset, a TLS EOF, ...) and nothing came back: no answer either way.
            raise _NoAnswer(f"{type(write_error).__name__}: {write_error}") from exc
        except http.TransportError:
            raise
        except OSError as exc:
            raise http.ReadError(str(exc) or type(exc).__name__) from exc
        return reply, keep_alive and write_error is None

    def request_many(self, origin: Origin, items: Sequence[tuple[bytes, bytes]], method: str) -> list[Reply | Exception]:
        """Send several ``(head, body)`` requests, pipelined on one connection where the origin allows
        it (:mod:`.pipeline`); each one's answer or transport error, in order.

        Usage: ``client.request_many(origin, [(head, body), (head2, body2)], "POST")``
        """
        return pipeline.request_many(self, origin, items, method)

    def close(self) -> None:
        """Close every idle connection; later ones are closed when they come back."""
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()
