"""Reading and writing HTTP/1.1 messages: request heads, and answers framed every way a server may frame them.

Answers with ``Content-Length``, ``Transfer-Encoding: chunked`` or a body closed by the server;
1xx answers are skipped; no body for 204, 304 and ``HEAD``. Lenient numbers (``-1``, ``+5``,
``0x5``) are refused rather than read to the connection's end. :func:`quick_reply` takes the
common answer (one ``recv``, ``Content-Length``, nothing unusual) without the general reader.
"""

from __future__ import annotations

import re
import socket
import zlib
from typing import Any, NamedTuple

from ..._http import http

_MAX_LINE = 65536
_MAX_HEADERS = 128
_NO_BODY_STATUS = frozenset({204, 304})
_HEX_DIGITS = b"0123456789abcdefABCDEF"


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


#: The headers that decide how an answer is framed (in a lower-cased head).
_FRAMING = re.compile(rb"\r\n(content-length|connection|transfer-encoding|content-encoding):([^\r\n]*)")


def simple_reply(data: bytes, pos: int = 0) -> tuple[Reply, int] | None:
    """The common answer starting at ``data[pos]``, and where it ends: HTTP/1.1, 2xx to 4xx,
    ``Content-Length``, no ``Connection``, ``Transfer-Encoding`` or ``Content-Encoding`` header,
    head and whole body present. Anything else: None (the general :func:`read_reply` reads it).
    """
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        return None
    head = data[pos:end].lower()
    # bytes.find, not ``in``: ``in`` on bytes first tries the needle as an int and formats a
    # TypeError before it searches, about ten times the cost of the search itself
    if head[:9] != b"http/1.1 " or not b"200" <= head[9:12] < b"500" or head[12:13] not in (b" ", b"\r", b""):
        return None
    framing = _FRAMING.findall(head)  # one C call: the only one of these must be Content-Length
    if len(framing) != 1 or framing[0][0] != b"content-length":
        return None
    length = framing[0][1].strip()
    if not length.isdigit():
        return None
    size = end + 4 + int(length)
    if len(data) < size:
        return None
    first = pos + head.find(b"\r\n") + 2
    return Reply(int(head[9:12]), data[end + 4 : size], data[first:end].split(b"\r\n")), size


def _receive(sock: socket.socket) -> bytes:
    """The next bytes of an answer; :class:`_NoAnswer` when the server reset or closed instead."""
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise _NoAnswer(str(exc)) from exc
    if not data:
        raise _NoAnswer("the server closed the connection without answering")
    return data


def quick_reply(reader: _Reader) -> Reply | None:
    """The common answer (:func:`simple_reply`) read in one ``recv``, when it is exactly what came.
    Anything else (None) stays in the reader's buffer for :func:`read_reply`. Keep-alive when it returns.
    """
    data = _receive(reader.sock)
    found = simple_reply(data)
    if found is None or found[1] != len(data):
        reader.buf += data
        return None
    return found[0]


def next_replies(reader: _Reader, method: str, want: int) -> tuple[list[Reply], bool]:
    """The next answers on a connection that may hold several (pipelined), at least one, at most
    ``want``: every common one (:func:`simple_reply`) already whole in the buffer, taken together,
    else one after a ``recv``; anything unusual goes through :func:`read_reply`. Also whether the
    connection may be reused after the last of them.
    """
    if not reader.buf:
        reader.buf += _receive(reader.sock)
    if method != "HEAD":
        data = bytes(reader.buf)
        replies: list[Reply] = []
        pos = 0
        while len(replies) < want:
            found = simple_reply(data, pos)
            if found is None:
                break
            replies.append(found[0])
            pos = found[1]
        if replies:
            del reader.buf[:pos]
            return replies, True
    reply, keep_alive = read_reply(reader, method)
    return [reply], keep_alive


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
