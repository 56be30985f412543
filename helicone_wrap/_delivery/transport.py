"""Keep-alive HTTP for background delivery, on the connection pool of the installed httpx/httpx2.

The delivery worker sends thousands of tiny requests to one or two hosts. ``httpx.Client`` and
even ``httpx.Request`` spend more CPU per request than the socket work itself (URL parsing and
validation, header normalisation, cookies, auth, redirects), so :class:`RestTransport` hands
pre-encoded requests straight to the connection pool inside httpx's own ``HTTPTransport``. That
pool comes from ``httpcore`` (``httpcore2`` under openai 3): the same stack, TLS set-up and
keep-alive that httpx uses, nothing we add. Two fallbacks keep it honest:

- an URL that an environment proxy applies to goes through an ``httpx.Client`` (which mounts
  proxies);
- an httpx without the internal pool goes through ``HTTPTransport.handle_request``.

Transport failures are raised as the installed httpx's own exception classes, so callers catch
one family whichever path sent the request.
"""

from __future__ import annotations

import importlib
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from .._http import http

_EMPTY: Mapping[str, str] = {}
_SAFE_PATH = "/:@!$&'()*+,;=-._~"


class Answer(NamedTuple):
    """What came back: status, body (decoded if the server compressed it) and headers.

    ``headers`` is only filled for answers that are not 2xx: nothing reads them on success.
    """

    status: int
    content: bytes
    headers: Mapping[str, str]


class _Route(NamedTuple):
    scheme: bytes
    host: bytes
    port: int | None
    prefix: bytes  # the API URL's own path, without a trailing slash
    host_header: tuple[bytes, bytes]


def uses_proxy(url: str) -> bool:
    """True when an environment proxy (``HTTP(S)_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``) applies."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    bypass: Callable[..., bool] = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - untyped stdlib helper
    return not bypass(parts.hostname or "", proxies)


def _decoded(content: bytes, headers: Any) -> bytes:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(content)
        except zlib.error:
            return zlib.decompress(content, -zlib.MAX_WBITS)
    return content


def _core_errors(core: Any) -> tuple[type[BaseException], ...]:
    names = ("TimeoutException", "NetworkError", "ProtocolError", "ProxyError", "UnsupportedProtocol")
    return tuple(getattr(core, name) for name in names if isinstance(getattr(core, name, None), type))


def _as_http_error(exc: BaseException) -> BaseException:
    """The httpx(2) exception matching a pool (httpcore) exception, e.g. ``ConnectError``."""
    for cls in type(exc).__mro__:
        mapped = getattr(http, cls.__name__, None)
        if isinstance(mapped, type) and issubclass(mapped, http.TransportError):
            return mapped(str(exc))  # type: ignore[no-any-return]
    return http.TransportError(str(exc))  # type: ignore[no-any-return]


class RestTransport:
    """Send small requests over keep-alive connections, as cheaply as httpx's stack allows.

    Usage: ``RestTransport(timeout=10.0, connections=8).send("PUT", api_url, path, body, headers)``
    """

    def __init__(self, *, timeout: float, connections: int) -> None:
        connect = min(5.0, timeout)
        limits = http.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._client = http.Client(timeout=http.Timeout(timeout, connect=connect), limits=limits, follow_redirects=False)
        self._transport = http.HTTPTransport(limits=limits)
        self._extensions = {"timeout": {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}}
        pool = getattr(self._transport, "_pool", None)
        self._pool: Any = pool if callable(getattr(pool, "handle_request", None)) else None
        self._core: Any = None
        self._errors: tuple[type[BaseException], ...] = ()
        if self._pool is not None:
            self._core = importlib.import_module(type(self._pool).__module__.split(".", 1)[0])
            self._errors = _core_errors(self._core)
            if not self._errors or not all(hasattr(self._core, n) for n in ("Request", "URL")):
                self._pool = None  # pragma: no cover - an httpcore we do not know
        self._routes: dict[str, _Route | None] = {}
        self._proxied: dict[str, bool] = {}
        self._headers: dict[tuple[bytes, tuple[tuple[str, str], ...]], list[tuple[bytes, bytes]]] = {}

    def _is_proxied(self, api_url: str) -> bool:
        proxied = self._proxied.get(api_url)
        if proxied is None:
            proxied = self._proxied[api_url] = uses_proxy(api_url)
        return proxied

    def _route(self, api_url: str) -> _Route | None:
        route = self._routes.get(api_url, ...)
        if route is ...:
            route = None
            if self._pool is not None and not self._is_proxied(api_url):
                url = http.URL(api_url)
                route = _Route(url.raw_scheme, url.raw_host, url.port, url.raw_path.split(b"?")[0].rstrip(b"/"),
                               (b"Host", url.netloc))
            self._routes[api_url] = route
        return route

    def _wire_headers(self, route: _Route, headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
        key = (route.host_header[1], tuple(headers.items()))
        wire = self._headers.get(key)
        if wire is None:
            wire = [route.host_header, *((k.encode("ascii"), v.encode("ascii")) for k, v in headers.items())]
            if len(self._headers) > 256:
                self._headers.clear()
            self._headers[key] = wire
        return wire

    def send(self, method: str, api_url: str, path: str, content: bytes, headers: Mapping[str, str]) -> Answer:
        """One request to ``api_url + path``; raises httpx's ``TransportError`` family on no answer.

        The wire form of ``headers`` is cached, so pass the same few header sets again and again.
        """
        route = self._route(api_url)
        if route is None:
            return self._send_via_httpx(method, api_url, api_url + path, content, headers)
        core = self._core
        wire = [*self._wire_headers(route, headers), (b"Content-Length", str(len(content)).encode())]
        target = route.prefix + quote(path, safe=_SAFE_PATH).encode("ascii")
        url = core.URL(scheme=route.scheme, host=route.host, port=route.port, target=target)
        request = core.Request(method.encode("ascii"), url, headers=wire, content=content, extensions=self._extensions)
        try:
            response = self._pool.handle_request(request)
            try:
                data: bytes = response.read()
            finally:
                response.close()
        except self._errors as exc:
            raise _as_http_error(exc) from exc
        status: int = response.status
        if 200 <= status < 300:
            return Answer(status, data, _EMPTY)
        answer_headers = http.Headers(response.headers)
        return Answer(status, _decoded(data, answer_headers), answer_headers)

    def _send_via_httpx(self, method: str, api_url: str, url: str, content: bytes, headers: Mapping[str, str]) -> Answer:
        if not self._is_proxied(api_url):
            request = http.Request(method, url, content=content, headers=headers, extensions=self._extensions)
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        else:
            response = self._client.request(method, url, content=content, headers=headers)
        return Answer(response.status_code, response.content, response.headers)

    def close(self) -> None:
        """Close the pooled connections."""
        for closeable in (self._client, self._transport):
            try:
                closeable.close()
            except Exception:  # pragma: no cover - a sender may still be inside it
                pass
