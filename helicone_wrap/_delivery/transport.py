"""Keep-alive HTTP for background delivery: our own small HTTP/1.1 client, httpx for proxies.

The delivery worker sends thousands of tiny requests to one or two hosts. ``httpx.Client``, and
even httpcore's pool under it, spend several times more CPU per request than the socket work
itself, so :class:`RestTransport` sends pre-encoded requests through :mod:`.http11` (stdlib
sockets and ``ssl``, httpx's default TLS context). An URL that an environment proxy applies to,
or with a scheme other than http/https, goes through an ``httpx.Client`` (which mounts proxies).

Transport failures are raised as the installed httpx's own exception classes, so callers catch
one family whichever path sent the request.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from .._http import http
from .http11 import Http11Client, Origin, Reply, decoded_body, encode_head, header_lines

_EMPTY: Mapping[str, str] = {}
_NOT_SENT = Exception("not sent")  # a placeholder in send_many's results, replaced before it returns
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
#: Bytes of request bodies written back to back in one pipelined run (the answers are small;
#: well under what socket buffers hold, so writing all before reading cannot stall).
PIPELINE_BYTES = 256 * 1024
#: One request of :meth:`RestTransport.send_many`: body, shared headers, per-request headers.
Request = tuple[bytes, Mapping[str, str], "Mapping[str, str] | None"]


class Answer(NamedTuple):
    """What came back: status, body (decoded if the server compressed it) and headers.

    ``headers`` is only filled for answers that are not 2xx: nothing reads them on success.
    """

    status: int
    content: bytes
    headers: Mapping[str, str]


class _Route(NamedTuple):
    origin: Origin
    host: str  # the Host header: the URL's own host[:port]
    prefix: str  # the API URL's own path, without a trailing slash


def uses_proxy(url: str) -> bool:
    """True when an environment proxy (``HTTP(S)_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``) applies."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    bypass: Callable[..., bool] = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - untyped stdlib helper
    return not bypass(parts.hostname or "", proxies)


def _decoded(content: bytes, headers: Any) -> bytes:
    return decoded_body(content, headers.get("content-encoding", ""))


def _answer(reply: Reply) -> Answer:
    if 200 <= reply.status < 300:
        return Answer(reply.status, reply.body, _EMPTY)
    return Answer(reply.status, reply.body, http.Headers(reply.headers))  # decompressed by http11 already


class RestTransport:
    """Send small requests over keep-alive connections, at little more CPU than the socket work.

    Usage: ``RestTransport(timeout=10.0, connections=8).send("PUT", api_url, path, body, headers)``
    """

    def __init__(self, *, timeout: float, connections: int) -> None:
        connect = min(5.0, timeout)
        self._timeout, self._connect_timeout, self._connections = timeout, connect, connections
        self._client: Any = None  # an httpx Client, made on the first proxied request (it loads a TLS context)
        self._client_lock = threading.Lock()
        self._direct: Http11Client | None = Http11Client(timeout=timeout, connect_timeout=connect, keep=connections)
        self._routes: dict[str, _Route | None] = {}
        self._targets: dict[tuple[str, str], str] = {}
        self._lines: dict[int, tuple[Mapping[str, str], str]] = {}

    def _route(self, api_url: str) -> _Route | None:
        route = self._routes.get(api_url, ...)
        if route is ...:
            route = None
            parts = urlsplit(api_url)
            if self._direct is not None and parts.scheme in ("http", "https") and parts.hostname \
                    and not uses_proxy(api_url):
                port = parts.port or (443 if parts.scheme == "https" else 80)
                host = parts.netloc.rpartition("@")[2]
                route = _Route(Origin(parts.scheme, parts.hostname, port), host, parts.path.rstrip("/"))
            self._routes[api_url] = route
        return route

    def send(
        self,
        method: str,
        api_url: str,
        path: str,
        content: bytes,
        headers: Mapping[str, str],
        extra: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request to ``api_url + path``; raises httpx's ``TransportError`` family on no answer.

        ``headers`` are encoded once per mapping and reused: pass the same few, unchanging
        mappings again and again, and what changes per request in ``extra``.
        Usage: ``transport.send("POST", "https://api.worker.helicone.ai", "/oai/v1/log", body, headers)``
        """
        route = self._route(api_url)
        if route is None or self._direct is None:
            return self._send_via_httpx(method, api_url + path, content, {**headers, **(extra or {})})
        reply = self._direct.request(route.origin, self._head(route, method, path, content, headers, extra), content, method)
        return _answer(reply)

    def send_many(self, method: str, api_url: str, path: str, requests: Sequence[Request]) -> list[Answer | Exception]:
        """Several requests to one ``api_url + path``, pipelined (:mod:`.http11.pipeline`) in runs of
        at most :data:`PIPELINE_BYTES`; each one's :class:`Answer` or transport error, in order.

        Only for requests that may be sent twice (idempotent by their id): an unanswered one is
        sent again. Usage: ``transport.send_many("POST", host, "/oai/v1/log", [(body, headers, extra), ...])``
        """
        route = self._route(api_url)
        if route is None or self._direct is None:
            out: list[Answer | Exception] = []
            for content, headers, extra in requests:
                try:
                    out.append(self._send_via_httpx(method, api_url + path, content, {**headers, **(extra or {})}))
                except http.TransportError as exc:
                    out.append(exc)
            return out
        head = self._head
        results: list[Answer | Exception]
        try:  # the common case: every head encodes
            items = [(head(route, method, path, content, headers, extra), content) for content, headers, extra in requests]
        except http.TransportError:  # a header that cannot be sent: that request alone fails, below
            items = []
            sent, results = [], []  # what is sent, and where each one's outcome goes in results
            for content, headers, extra in requests:
                try:
                    items.append((head(route, method, path, content, headers, extra), content))
                    sent.append(len(results))
                    results.append(_NOT_SENT)
                except http.TransportError as exc:
                    results.append(exc)
        else:
            if sum(map(len, chain.from_iterable(items))) <= PIPELINE_BYTES:  # one pipelined write
                replies = self._direct.request_many(route.origin, items, method)
                return [reply if isinstance(reply, Exception) else _answer(reply) for reply in replies]
            sent, results = list(range(len(items))), [_NOT_SENT] * len(items)
        start = 0
        while start < len(items):
            stop, size = start, 0
            while stop < len(items) and (stop == start or size + len(items[stop][1]) <= PIPELINE_BYTES):
                size += len(items[stop][0]) + len(items[stop][1])
                stop += 1
            replies = self._direct.request_many(route.origin, items[start:stop], method)
            for at, reply in zip(sent[start:stop], replies, strict=True):
                results[at] = reply if isinstance(reply, Exception) else _answer(reply)
            start = stop
        return results

    def _head(
        self, route: _Route, method: str, path: str, content: bytes, headers: Mapping[str, str],
        extra: Mapping[str, str] | None,
    ) -> bytes:
        target = self._targets.get((route.prefix, path))
        if target is None:
            if len(self._targets) > 256:
                self._targets.clear()
            target = self._targets[(route.prefix, path)] = route.prefix + quote(path, safe=_SAFE_PATH)
        known = self._lines.get(id(headers))
        if known is None or known[0] is not headers:
            if len(self._lines) > 64:
                self._lines.clear()
            known = self._lines[id(headers)] = (headers, header_lines(headers))  # holds it: the id stays its own
        if extra and not headers.keys().isdisjoint(extra):  # a per-request value replaces a shared one
            return encode_head(method, target, route.host, {**headers, **extra}, len(content))
        return encode_head(method, target, route.host, extra, len(content), known[1])

    def _httpx_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                limits = http.Limits(max_connections=self._connections, max_keepalive_connections=self._connections)
                timeout = http.Timeout(self._timeout, connect=self._connect_timeout)
                self._client = http.Client(timeout=timeout, limits=limits, follow_redirects=False)
            return self._client

    def _send_via_httpx(self, method: str, url: str, content: bytes, headers: Mapping[str, str]) -> Answer:
        response = self._httpx_client().request(method, url, content=content, headers=headers)
        return Answer(response.status_code, response.content, response.headers)

    def close(self) -> None:
        """Close the pooled connections."""
        for closeable in (self._client, self._direct):
            if closeable is None:
                continue
            try:
                closeable.close()
            except Exception:  # pragma: no cover - a sender may still be inside it
                pass
