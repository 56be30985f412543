"""A small HTTP/1.1 keep-alive client for the delivery worker's tiny requests (stdlib sockets only).

Why not httpcore, which httpx uses: the worker sends one small request per operation (an async-mode
log record, an ``enrich()`` property, a score), and httpcore's connection pool, h11's state machine
and header validation cost several times the socket work itself. Measured on this project's
loopback benchmark server, CPU per POST of a log record: httpcore2's pool 340 µs, ``http.client``
214 µs, a single ``sendall`` plus a buffered read 42 µs. In async mode that cost is most of what
the mode adds to a call, so the worker sends through this module.

What it does, and only that:

- one request at a time per connection; the request body is sent with ``Content-Length`` in the
  same ``sendall`` as the head; an answer that a server sent before it stopped reading the body
  (and closed) is still read and returned;
- answers with ``Content-Length``, ``Transfer-Encoding: chunked`` or a body closed by the server;
  1xx answers are skipped; no body for 204, 304 and ``HEAD``;
- keep-alive unless the server says ``Connection: close`` (or is HTTP/1.0 without keep-alive); an
  idle connection that the server closed, or that has been idle longer than :data:`KEEPALIVE_EXPIRY`,
  is dropped before reuse, and a reused one that fails before the first byte of an answer is
  retried once on a fresh connection (the server never answered, so nothing was processed twice
  that a new attempt would not also risk);
- TLS with the context httpx itself builds by default (``create_ssl_context()``: the same trust
  store and ``SSL_CERT_FILE`` handling), SNI and hostname checks.

Not here: proxies and any other scheme (``RestTransport`` sends those through httpx), HTTP/2,
redirects, compression negotiation (no ``Accept-Encoding`` is sent; a compressed answer is still
decoded by the caller). Failures raise the installed httpx's own exception classes
(``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``, ...), so callers
catch one family whichever path sent the request.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
import zlib
from typing import Any, NamedTuple

from .._http import http

#: Seconds an idle connection is kept for reuse (httpx's default keep-alive expiry).
KEEPALIVE_EXPIRY = 5.0
#: A connection idle for less than this is reused without first polling it for a close: in a
#: burst that poll is one system call per request, and a close it would have caught is handled
#: anyway (the request is sent again on a new connection when no byte of an answer came back).
_FRESH = 1.0
_MAX_LINE = 65536
_MAX_HEADERS = 128
_NO_BODY_STATUS = frozenset({204, 304})
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_POLL = hasattr(select, "poll")


class Origin(NamedTuple):
    """Where to connect: ``scheme`` (``http``/``https``), host name or address, port."""

    scheme: str
    host: str
    port: int


class Reply(NamedTuple):
    """One answer: status, raw body (not decompressed) and its raw header lines."""

    status: int
    body: bytes
    lines: list[bytes]

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The headers as ``(name, value)`` pairs, in the order they came."""
        return _pairs(self.lines)


class _NoAnswer(Exception):
    """The connection closed or reset before a single byte of an answer arrived."""


class _Reader:
    """A socket's incoming bytes behind a buffer: the file interface :func:`read_reply` reads.

    Compared with ``socket.makefile("rb")``, :meth:`head` takes a whole status line and header
    block out of the buffer at once (usually one ``recv``) instead of one ``readline`` per header.
    """

    __slots__ = ("buf", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    def head(self) -> bytes:
        """Everything up to and including the blank line that ends a head (b"" if the peer closed first)."""
        buf, start = self.buf, 0
        while True:
            crlf, lf = buf.find(b"\r\n\r\n", start), buf.find(b"\n\n", start)
            if crlf >= 0 and (lf < 0 or crlf < lf):
                return self._take(crlf + 4)
            if lf >= 0:
                return self._take(lf + 2)
            if len(buf) > _MAX_LINE * 4:
                raise http.RemoteProtocolError("an answer's headers are longer than 256 KiB")
            start = max(0, len(buf) - 3)
            if not self._more():
                if buf:
                    raise http.RemoteProtocolError("the server closed the connection inside the answer's headers")
                return b""

    def readline(self, limit: int = -1) -> bytes:
        buf, start = self.buf, 0
        while True:
            end = buf.find(b"\n", start)
            if end >= 0:
                return self._take(end + 1)
            if 0 <= limit <= len(buf):
                return self._take(limit)
            start = len(buf)
            if not self._more():
                return self._take(len(buf))

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            while self._more():
                pass
            return self._take(len(self.buf))
        while len(self.buf) < size and self._more():
            pass
        return self._take(size)

    def close(self) -> None:
        self.buf.clear()


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


def _readline(file: Any) -> bytes:
    line: bytes = file.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http.RemoteProtocolError("an answer line is longer than 64 KiB")
    return line


def _status(line: bytes) -> tuple[bytes, int]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise http.RemoteProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return parts[0], int(parts[1])


def _read_head(file: _Reader) -> tuple[bytes, int, list[bytes]]:
    """The version, status and raw header lines of one answer; :class:`_NoAnswer` if nothing came."""
    try:
        block = file.head()
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise _NoAnswer(str(exc)) from exc
    if not block:
        raise _NoAnswer("the server closed the connection without answering")
    status_line, *lines = block.split(b"\n")[:-2]  # the block ends with the blank line
    if len(lines) > _MAX_HEADERS or any(b":" not in line for line in lines):
        raise http.RemoteProtocolError(f"malformed answer headers: {block[:120]!r}")
    return (*_status(status_line), lines)


def _pairs(lines: list[bytes]) -> list[tuple[str, str]]:
    pairs = []
    for line in lines:
        name, _, value = line.partition(b":")
        pairs.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
    return pairs


def _field(block: bytes, name: bytes) -> bytes | None:
    """A header's value (repeats joined with ``,``) from the lower-cased ``\\n``-led header block."""
    values = []
    start = block.find(name)
    while start >= 0:
        end = block.find(b"\n", start + len(name))
        values.append(block[start + len(name) : end].strip())
        start = block.find(name, end)
    return b",".join(values) if values else None


def _content_length(value: bytes) -> int:
    """One decimal number (repeats must agree); ``int()`` alone would take "-1", "+5" or "1_0"."""
    size = value
    if b"," in value:
        sizes = {part.strip() for part in value.split(b",")}
        size = sizes.pop() if len(sizes) == 1 else b""
    if not size.isdigit():  # bytes.isdigit() is ASCII digits only
        raise http.RemoteProtocolError(f"malformed Content-Length: {value[:40]!r}")
    return int(size)


def _read_exactly(file: Any, size: int) -> bytes:
    data: bytes = file.read(size)
    if len(data) != size:
        raise http.RemoteProtocolError(f"the server closed the connection {size - len(data)} bytes before the body's end")
    return data


def _read_chunked(file: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = _readline(file).split(b";", 1)[0].strip()
        # Hex digits only: int(..., 16) alone would take "-1" (read to the end), "0x5", "+5" or "1_0".
        if not size_line or size_line.translate(None, _HEX_DIGITS) or len(size_line) > 16:
            raise http.RemoteProtocolError(f"malformed chunk size: {size_line[:40]!r}")
        size = int(size_line, 16)
        if size == 0:
            while _readline(file) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        parts.append(_read_exactly(file, size))
        if _readline(file) not in (b"\r\n", b"\n"):
            raise http.RemoteProtocolError("a chunk does not end with CRLF")


def read_reply(file: _Reader, method: str) -> tuple[Reply, bool]:
    """Read one whole answer from a buffered reader; also whether the connection may be reused.

    Only ``Content-Length``, ``Transfer-Encoding`` and ``Connection`` are looked up on the way; the
    other headers stay raw lines until someone reads :attr:`Reply.headers`' pairs (non-2xx answers).
    Usage: ``reply, keep_alive = read_reply(_Reader(sock), "POST")``
    """
    version, status, lines = _read_head(file)
    while 100 <= status < 200 and status != 101:  # 100 Continue, 103 Early Hints: the answer follows
        version, status, lines = _read_head(file)
    block = b"\n" + b"\n".join(lines).lower() + b"\n"
    connection = _field(block, b"\nconnection:") or b""
    tokens = {token.strip() for token in connection.split(b",")}
    keep_alive = (b"keep-alive" in tokens) if version == b"HTTP/1.0" else (b"close" not in tokens)
    length = _field(block, b"\ncontent-length:")
    if method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
        body = b""
    elif b"chunked" in (_field(block, b"\ntransfer-encoding:") or b""):
        body = _read_chunked(file)
    elif length is not None:
        body = _read_exactly(file, _content_length(length))
    else:  # delimited by the server closing the connection
        body = file.read()
        keep_alive = False
    encoding = _field(block, b"\ncontent-encoding:")
    if encoding and body:
        body = decoded_body(body, encoding.decode("latin-1"))
    return Reply(status, body, lines), keep_alive


def decoded_body(content: bytes, encoding: str) -> bytes:
    """``content`` decompressed per its ``Content-Encoding`` (gzip, deflate); other codings, and a
    body that does not decompress (cut short, corrupt), as they are.

    Usage: ``decoded_body(gzip.compress(b"{}"), "gzip")``
    """
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(content, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(content)
            except zlib.error:
                return zlib.decompress(content, -zlib.MAX_WBITS)
    except zlib.error:  # cut or corrupt: the raw bytes still say more than nothing
        return content
    return content


def _quick_reply(reader: _Reader) -> Reply | None:
    """The common answer, read in one ``recv``: HTTP/1.1, 2xx to 4xx, ``Content-Length``, no
    ``Connection``, ``Transfer-Encoding`` or ``Content-Encoding`` header, head and whole body in the first read. Anything
    else (None) stays in the reader's buffer for :func:`read_reply`. Keep-alive when it returns.
    """
    try:
        data = reader.sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise _NoAnswer(str(exc)) from exc
    if not data:
        raise _NoAnswer("the server closed the connection without answering")
    end = data.find(b"\r\n\r\n")
    head = data[:end].lower()
    at = head.find(b"\r\ncontent-length:")
    if end < 0 or at < 0 or not head.startswith(b"http/1.1 ") or b"\r\nconnection:" in head \
            or b"\r\ntransfer-encoding:" in head or b"\r\ncontent-encoding:" in head or not b"200" <= head[9:12] < b"500" or head[12:13] not in b" \r":
        reader.buf += data
        return None
    stop = head.find(b"\r\n", at + 17)
    length = head[at + 17 : stop if stop >= 0 else len(head)].strip()
    body = data[end + 4 :]
    if not length.isdigit() or len(body) != int(length):
        reader.buf += data
        return None
    return Reply(int(head[9:12]), body, data[head.find(b"\r\n") + 2 : end].split(b"\r\n"))


def header_lines(headers: Any) -> str:
    """``Name: value\\r\\n`` for each header, checked: CR, LF or NUL in a name or value is refused.

    Usage: ``header_lines({"Content-Type": "application/json"})``
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers) or "\0" in lines:
        raise http.LocalProtocolError("a header name or value contains CR, LF or NUL")
    return lines


def encode_head(method: str, target: str, host: str, headers: Any, length: int, lines: str = "") -> bytes:
    """The request head, with ``Host``, ``lines`` (from :func:`header_lines`), ``headers`` and ``Content-Length``.

    Header injection and non-ASCII headers are refused (``LocalProtocolError``).
    Usage: ``encode_head("POST", "/oai/v1/log", "127.0.0.1:8787", {"Content-Type": "application/json"}, 2)``
    """
    own = header_lines(headers) if headers else ""
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{lines}{own}Content-Length: {length}\r\n\r\n"
    try:
        return head.encode("ascii")
    except UnicodeEncodeError as exc:
        raise http.LocalProtocolError(f"a header is not ASCII: {exc}") from None


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
            quick = _quick_reply(reader) if not reader.buf and method != "HEAD" else None
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

    def close(self) -> None:
        """Close every idle connection; later ones are closed when they come back."""
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()
