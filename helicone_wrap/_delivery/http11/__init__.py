"""A small HTTP/1.1 keep-alive client for the delivery worker's tiny requests (stdlib sockets only).

Usage: ``Http11Client(timeout=10.0, connect_timeout=5.0, keep=8).request(origin, head, body, "POST")``

Why not httpcore, which httpx uses: the worker sends one small request per operation (an async-mode
log record, an ``enrich()`` property, a score), and httpcore's connection pool, h11's state machine
and header validation cost several times the socket work itself. Measured on this project's
loopback benchmark server, CPU per POST of a log record: httpcore2's pool 340 µs, ``http.client``
214 µs, a single ``sendall`` plus a buffered read 42 µs. In async mode that cost is most of what
the mode adds to a call, so the worker sends through this module.

What it does, and only that:

- one request at a time per connection (:mod:`.client`), or several written back to back and
  answered in order (:mod:`.pipeline`, for writes that are idempotent by their id); the request
  body is sent with ``Content-Length`` in the same ``sendall`` as the head; an answer that a
  server sent before it stopped reading the body (and closed) is still read and returned;
- answers with ``Content-Length``, ``Transfer-Encoding: chunked`` or a body closed by the server;
  1xx answers are skipped; no body for 204, 304 and ``HEAD`` (:mod:`.framing`);
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

from .client import KEEPALIVE_EXPIRY, Http11Client
from .framing import Origin, Reply, decoded_body, encode_head, header_lines, read_reply

__all__ = ["KEEPALIVE_EXPIRY", "Http11Client", "Origin", "Reply", "decoded_body", "encode_head", "header_lines", "read_reply"]
