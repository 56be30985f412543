"""Redirects never carry Helicone headers to another origin.

openai's HTTP clients follow redirects (``follow_redirects=True`` by default), and httpx/httpx2
strip only ``Authorization`` when a redirect leaves the origin: a gateway answering ``307`` to
another host would get ``Helicone-Auth`` (the Helicone key) re-sent there, with the user's
properties and ids. So a wrapped client's HTTP client builds its redirect requests without any
``Helicone-*`` header whenever the target's origin (scheme, host, port) differs from the
request's; same-origin redirects keep them, as openai would. Because each hop starts from the
previous hop's headers, once a chain has left the gateway's origin the headers never come back.

This runs only when a response is a redirect (httpx calls ``_redirect_headers`` then, including
for ``response.next_request`` when redirects are not followed): no work on the normal path.
The guard is installed on the HTTP client instance, so a client shared with unwrapped openai
clients protects them too, and it stays after ``unwrap`` (it only ever removes Helicone headers).
"""

from __future__ import annotations

from typing import Any

_HELICONE_PREFIX = "helicone-"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_MARK = "_helicone_redirect_guard"


def _origin(url: Any) -> tuple[str, str, int | None]:
    scheme = str(url.scheme).lower()
    return scheme, str(url.host).lower(), url.port or _DEFAULT_PORTS.get(scheme)


def strip_cross_origin(headers: Any, source: Any, target: Any) -> None:
    """Remove every ``Helicone-*`` header from ``headers`` when ``target`` leaves ``source``'s origin."""
    if _origin(source) == _origin(target):
        return
    for name in [name for name in headers if name.lower().startswith(_HELICONE_PREFIX)]:
        del headers[name]


def guard_redirects(http_client: Any) -> None:
    """Make ``http_client`` (an httpx/httpx2 ``Client`` or ``AsyncClient``) drop Helicone headers on
    cross-origin redirects. Idempotent. Usage: ``guard_redirects(client._client)``"""
    if getattr(vars(http_client).get("_redirect_headers"), _MARK, False):
        return
    original = http_client._redirect_headers  # the bound method: a subclass's override is kept

    def _redirect_headers(request: Any, url: Any, method: str) -> Any:
        headers = original(request, url, method)
        strip_cross_origin(headers, request.url, url)
        return headers

    setattr(_redirect_headers, _MARK, True)
    http_client.__dict__["_redirect_headers"] = _redirect_headers
