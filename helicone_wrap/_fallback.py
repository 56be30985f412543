"""Proxy mode with a safety net: ``wrap(client, fallback="direct")``.

When the gateway cannot be reached at all, the attempt goes straight to the provider (the
client's own ``base_url``, without any Helicone header or key) and is logged the way async mode
logs it (:mod:`helicone_wrap._asynclog`): one record through the delivery worker and outbox, to
the log host of the same Helicone, so the call succeeds and nothing is lost.

"Never delivered" is decided by the exception class alone (:data:`NEVER_DELIVERED`). httpx and
httpx2 raise ``ConnectError`` for a refused connection, a DNS failure and any TLS failure (the
handshake is part of connecting; ``ssl.SSLError`` is mapped to ``ConnectError``), and
``ConnectTimeout`` when connecting takes too long. Every other failure (a read or write timeout,
a connection closed after the request went out, a pool timeout, a proxy error) may come after
the gateway forwarded the call, or says nothing about the gateway, so it is raised as before:
falling back then could bill the call twice.

A circuit breaker per gateway origin keeps an outage from adding a connect attempt to every
call: after a connect failure, calls go direct for :data:`COOLDOWN` seconds; then one call probes
the gateway again (the others keep going direct until it answers). The first fallback of an
outage is logged once (WARNING, logger ``helicone_wrap``), and the gateway answering again once
(INFO). Fallbacks are counted in ``delivery_stats().fallbacks``.

The hook sits on the send seam (``_send_request`` on openai >= 2, the httpx client's ``send`` on
openai 1), inside openai's retry loop, so openai never sees the connect error it replaces.

Usage: ``client = helicone_wrap.wrap(OpenAI(), fallback="direct")``
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import openai

from . import _guard
from ._config import Target, origin_of, register_target
from ._exceptions import HeliconeConfigError
from ._guard import logger
from ._http import http

__all__ = ["COOLDOWN", "NEVER_DELIVERED", "Breaker", "Fallback", "build", "check_fallback", "install"]

FALLBACKS = (None, "direct")
#: Request extension: the :class:`Fallback` of a proxied attempt (set by the build hook).
EXT = "helicone_wrap.fallback"
#: Request extension on a direct attempt: its Helicone request id (it carries no Helicone header).
ID_EXT = "helicone_wrap.fallback_id"
#: A direct attempt's async-mode record (its own key, so an async-mode hook on the same httpx client ignores it).
CALL_EXT = "helicone_wrap.fallback_call"
#: Seconds calls go direct after a connect failure before the gateway is probed again.
COOLDOWN = 10.0

#: The failures that prove the request never left the process: the only ones that fall back.
NEVER_DELIVERED: tuple[type[BaseException], ...] = (http.ConnectError, http.ConnectTimeout)

_HELICONE = b"helicone-"
#: Helicone headers not copied into the record: the key (the log POST has its own) and routing.
_ROUTING = frozenset({b"helicone-auth", b"helicone-target-url", b"helicone-openai-api-base"})


def check_fallback(fallback: object, mode: str) -> str | None:
    """Validate ``wrap(fallback=...)``. Usage: ``check_fallback("direct", "proxy")``"""
    if fallback not in FALLBACKS:
        raise HeliconeConfigError(
            f"fallback must be None or 'direct' (when the gateway cannot be reached, send the call straight to "
            f"the provider and log it asynchronously), got {fallback!r}."
        )
    if fallback is not None and mode != "proxy":
        raise HeliconeConfigError(
            "fallback='direct' is for proxy mode: in async mode calls already go straight to the provider. "
            "Drop fallback=, or use mode='proxy'."
        )
    return None if fallback is None else str(fallback)


def never_delivered(exc: BaseException) -> bool:
    """True when ``exc`` proves the request was never sent. Usage: ``never_delivered(http.ConnectError("x"))``"""
    return isinstance(exc, NEVER_DELIVERED)


class Breaker:
    """The circuit breaker of one gateway origin: closed (try the gateway) or open until a time."""

    __slots__ = ("direct", "lock", "open_until", "origin", "outage")

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.open_until = 0.0
        self.outage = False
        self.direct = 0
        self.lock = threading.Lock()

    def try_gateway(self) -> bool:
        """Whether this attempt goes to the gateway; while open, one caller per cooldown probes it."""
        until = self.open_until
        if not until:
            return True
        now = time.monotonic()
        if now < until:
            return False
        with self.lock:
            if self.open_until != until:  # another caller took this probe
                return False
            self.open_until = now + COOLDOWN
        return True

    def tripped(self, exc: BaseException) -> None:
        """The gateway could not be reached: open for :data:`COOLDOWN` s; warn on an outage's first."""
        with self.lock:
            self.open_until = time.monotonic() + COOLDOWN
            first, self.outage = not self.outage, True
        if first:
            logger.warning(
                "helicone_wrap: the Helicone gateway %s cannot be reached (%s: %s); calls go straight to the "
                "provider and are logged asynchronously until it answers again (probed every %g s)",
                self.origin, type(exc).__name__, exc, COOLDOWN,
            )  # fmt: skip

    def answered(self) -> None:
        """The gateway answered: close the breaker (an attribute read on the common path)."""
        if self.open_until or self.outage:
            with self.lock:
                self.open_until = 0.0
                was, self.outage = self.outage, False
                direct, self.direct = self.direct, 0
            if was:
                logger.info("helicone_wrap: the Helicone gateway %s answers again (%d calls went direct)",
                            self.origin, direct)


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(origin: str) -> Breaker:
    """The process's breaker for one gateway origin (shared by every client routed there)."""
    breaker = _breakers.get(origin)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(origin, Breaker(origin))
    return breaker


def reset_for_tests() -> None:
    """Forget every breaker (tests and benchmarks). Usage: ``_fallback.reset_for_tests()``"""
    with _breakers_lock:
        _breakers.clear()


@dataclass(frozen=True)
class Fallback:
    """Where one wrapped client's attempts go when its gateway is down, and where they are logged."""

    breaker: Breaker
    #: ``(gateway prefix, provider prefix)`` pairs, longest first: a gateway URL mapped back.
    prefixes: tuple[tuple[str, str], ...]
    log_target: Target
    rest_target: Target

    def provider_url(self, url: str) -> str | None:
        for gateway, provider in self.prefixes:
            if url.startswith(gateway):
                return provider + url[len(gateway) :]
        return None

    def direct(self, request: Any) -> Any | None:
        """The provider-bound copy of a gateway request, with its async-mode record under ``CALL_EXT``, or None."""
        url = self.provider_url(str(request.url))
        if url is None:
            return None
        target = http.URL(url)
        from ._asynclog import LogState
        from ._asynclog.capture import Call

        kept: list[tuple[bytes, bytes]] = []
        logged: dict[str, str] = {}
        request_id = ""
        for name, value in request.headers.raw:
            lower = name.lower()
            if lower.startswith(_HELICONE):
                if lower == b"helicone-request-id":
                    request_id = value.decode("ascii")
                elif lower not in _ROUTING:
                    logged[name.decode("ascii")] = value.decode("ascii")
            elif lower == b"host":  # (a Request given its stream sets no Host itself)
                kept.append((name, target.netloc))
            elif lower != b"helicone-auth":
                kept.append((name, value))
        state = LogState(log_target=self.log_target, rest_target=self.rest_target, static=logged)
        extensions = {k: v for k, v in request.extensions.items() if k != EXT}
        extensions[ID_EXT] = request_id
        extensions[CALL_EXT] = Call(state, request_id, logged)
        return http.Request(request.method, target, headers=kept, stream=request.stream, extensions=extensions)


def build(
    *, route: Any, original_base_url: Any, original_azure_endpoint: Any, api_key: str | None,
    gateway: str | None, target: Target,
) -> Fallback:
    """The fallback of one proxy-mode client; raises when its ``base_url`` is the gateway itself."""
    from ._asynclog import record

    original = str(original_base_url).rstrip("/") + "/"
    if origin_of(original) == route.origin:
        raise HeliconeConfigError(
            f"fallback='direct' needs the provider's own base_url on the client, but it already points at the "
            f"gateway {route.origin}. Create the client with the provider's base_url (e.g. "
            "https://api.openai.com/v1) and let wrap() route it."
        )
    prefixes = [(str(route.base_url), original)]
    if route.azure_endpoint and original_azure_endpoint is not None:
        prefixes.append((route.azure_endpoint.rstrip("/") + "/", str(original_azure_endpoint).rstrip("/") + "/"))
    prefixes.sort(key=lambda pair: len(pair[0]), reverse=True)
    host = record.log_host(gateway)
    log_target = register_target(Target(host, api_key), default=False) if host != target.api_url else target
    return Fallback(breaker_for(route.origin), tuple(prefixes), log_target, target)


def _count() -> None:
    from . import _delivery

    _delivery.count_fallback()


def sync_send_hook(send: Any) -> Any:
    """Wrap a sync ``send(request, *, stream, ...)``; requests without a :class:`Fallback` pass untouched.

    A direct attempt goes through async mode's send hook (keyed on ``CALL_EXT``), which records it for the log.
    """
    from ._asynclog.capture import sync_send_hook as recording

    recorded = recording(send, CALL_EXT)

    def _send(request: Any, *args: Any, **kwargs: Any) -> Any:
        fallback = request.extensions.get(EXT)
        if fallback is None:
            return send(request, *args, **kwargs)
        breaker = fallback.breaker
        if breaker.try_gateway():
            try:
                response = send(request, *args, **kwargs)
            except NEVER_DELIVERED as exc:
                planned = _plan(fallback, request)
                if planned is None:
                    raise
                breaker.tripped(exc)
            else:
                breaker.answered()
                return response
        else:
            planned = _plan(fallback, request)
            if planned is None:
                return send(request, *args, **kwargs)
        return recorded(planned, *args, **kwargs)

    return _send


def async_send_hook(send: Any) -> Any:
    """The async twin of :func:`sync_send_hook`."""
    from ._asynclog.capture import async_send_hook as recording

    recorded = recording(send, CALL_EXT)

    async def _send(request: Any, *args: Any, **kwargs: Any) -> Any:
        fallback = request.extensions.get(EXT)
        if fallback is None:
            return await send(request, *args, **kwargs)
        breaker = fallback.breaker
        if breaker.try_gateway():
            try:
                response = await send(request, *args, **kwargs)
            except NEVER_DELIVERED as exc:
                planned = _plan(fallback, request)
                if planned is None:
                    raise
                breaker.tripped(exc)
            else:
                breaker.answered()
                return response
        else:
            planned = _plan(fallback, request)
            if planned is None:
                return await send(request, *args, **kwargs)
        return await recorded(planned, *args, **kwargs)

    return _send


def _plan(fallback: Fallback, request: Any) -> Any | None:
    """The direct attempt for ``request`` (counted), or None when it cannot be mapped (then no fallback)."""
    try:
        planned = fallback.direct(request)
    except Exception as exc:
        _guard.internal_error("fallback", exc)
        return None
    if planned is not None:
        fallback.breaker.direct += 1
        _count()
    return planned


_HTTPX_HOOKED = "_helicone_wrap_fallback_hooked"


def install(client: Any, fallback: Fallback) -> None:
    """Put the fallback send hook on ``client`` (the build hook marks its requests with ``fallback``)."""
    hook = async_send_hook if isinstance(client, openai.AsyncOpenAI) else sync_send_hook
    if callable(getattr(client, "_send_request", None)):
        client.__dict__["_send_request"] = hook(client._send_request)
    else:  # openai 1.x sends through the httpx client; the hook ignores unmarked requests
        http_client = client._client
        if not http_client.__dict__.get(_HTTPX_HOOKED):
            http_client.__dict__["send"] = hook(http_client.send)
            http_client.__dict__[_HTTPX_HOOKED] = True
    from ._asynclog.capture import start_reaper

    start_reaper()


def request_id(request: Any) -> str | None:
    """The Helicone id of a direct (fallen back) attempt, else None. Usage: ``request_id(response.request)``"""
    value = request.extensions.get(ID_EXT)
    return value if isinstance(value, str) and value else None

