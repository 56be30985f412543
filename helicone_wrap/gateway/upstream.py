"""The gateway's way to the upstream: target URLs, relayed headers and pooled connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._http import http

__all__ = ["HOP_BY_HOP", "UpstreamPool", "target_url"]

#: Response headers not relayed from upstream: connection-level ones, ones uvicorn sets, and an
#: upstream helicone-id (the caller gets ours).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"date",
        b"server",
        b"helicone-id",
    }
)


def target_url(upstream: str, path: str, query: bytes) -> str:
    """The upstream URL for a request path: ``upstream`` + path (+ query).

    When ``upstream`` already ends with ``/v1`` and the path starts with ``/v1/``, the
    duplicate ``/v1`` is dropped, so both ``https://api.openai.com`` and
    ``https://api.openai.com/v1`` work.

    Usage: ``target_url("https://api.openai.com/v1", "/v1/models", b"") == "https://api.openai.com/v1/models"``
    """
    base = upstream.rstrip("/")
    if base.endswith("/v1") and (path == "/v1" or path.startswith("/v1/")):
        path = path[3:]
    url = base + path
    if query:
        url += "?" + query.decode("latin-1")
    return url


class UpstreamPool:
    """Keep-alive connections to the upstream, sharded to keep each pool small.

    It uses the HTTP library's transport directly: a proxy must not keep cookies or
    follow redirects for its callers, and skipping the client layer saves CPU on every
    call. httpcore scans (and probes the socket of) every idle connection of a pool on
    each request, so 16 pools of 2 connections cost far less than one pool of 32; calls
    go to the shard with the fewest in-flight calls.

    Usage: ``pool = UpstreamPool(); response, close = await pool.send(request); await close()``
    """

    #: Per-phase timeouts in seconds (``read`` bounds the gap between two streamed chunks).
    TIMEOUTS: dict[str, float] = {"connect": 10.0, "read": 600.0, "write": 600.0, "pool": 600.0}

    def __init__(self, shards: int = 16, connections_per_shard: int = 32) -> None:
        limits = http.Limits(
            max_connections=connections_per_shard, max_keepalive_connections=connections_per_shard
        )
        self._transports: list[Any] = [http.AsyncHTTPTransport(limits=limits) for _ in range(shards)]
        self._in_flight = [0] * shards
        self._urls: dict[str, Any] = {}

    def build_request(
        self, method: str, url: str, headers: list[tuple[bytes, bytes]], content: bytes | None
    ) -> Any:
        """An upstream request carrying exactly the given headers (no client defaults)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = http.URL(url)
            if len(self._urls) < 1024:  # the same few paths repeat; skip re-parsing them
                self._urls[url] = parsed
        request = http.Request(method, parsed, headers=headers, content=content)
        request.extensions["timeout"] = self.TIMEOUTS
        return request

    async def send(self, request: Any) -> tuple[Any, Callable[[], Awaitable[None]]]:
        """Send ``request``; the streaming response and a coroutine function that closes it."""
        in_flight = self._in_flight
        shard = in_flight.index(min(in_flight))
        in_flight[shard] += 1
        try:
            response = await self._transports[shard].handle_async_request(request)
        except BaseException:
            in_flight[shard] -= 1
            raise

        async def close() -> None:
            try:
                await response.aclose()
            finally:
                in_flight[shard] -= 1

        return response, close

    async def aclose(self) -> None:
        """Close every connection."""
        for transport in self._transports:
            await transport.aclose()
