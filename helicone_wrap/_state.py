"""The state of one wrapped client: everything its calls need, planned once by ``wrap()``.

The route (which gateway URL the client is pointed at), the pre-encoded static and auth headers,
the gateway's parsed origin, and, in async mode or with ``fallback="direct"``, their own state.
A copy with a URL of its own gets a state planned the same way (:mod:`helicone_wrap._instance`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import openai

from . import _headers
from ._config import Target, is_cloud_host, register_target, resolve
from ._exceptions import HeliconeConfigError
from ._features import FeatureBlock
from ._redirects import _origin
from ._routing import Route, plan_route, unroutable_reason


@dataclass(frozen=True)
class _State:
    """Everything one wrapped client needs per call; built once by ``wrap()``."""

    route: Route
    original_base_url: Any
    #: An Azure client's own ``_azure_endpoint`` (``None`` otherwise), put back by ``unwrap``.
    original_azure_endpoint: Any
    #: Set when the client's ``base_url`` is left as it is (a copy of a client re-pointed by hand).
    keep_base_url: bool
    target: Target
    wire_static: tuple[_headers.WireHeader, ...]
    static_names: frozenset[bytes]
    wire_auth: tuple[_headers.WireHeader, ...] = field(repr=False)
    #: ``(scheme, host, port)`` of the gateway as httpx parsed it (see :func:`_url_key`).
    gateway_key: tuple[str, str, int | None]
    #: ``(scheme, host, port)`` with the default port filled in, as ``_redirects._origin`` gives it.
    gateway_origin: tuple[str, str, int | None]
    options: dict[str, Any] = field(repr=False)
    #: Async logging mode (``wrap(mode="async")``): the log state; ``None`` in proxy mode.
    log: Any = None
    #: ``Helicone-`` normally; a hyphen when the client's own feature headers carry ``Cache-Control``.
    probe: bytes = _headers.HELICONE_LOWER
    #: ``wrap(fallback="direct")``: the :class:`~helicone_wrap._fallback.Fallback`; ``None`` otherwise.
    fallback: Any = None

    def __repr__(self) -> str:  # the key never shows
        return f"<helicone_wrap state base_url={self.route.base_url!r} api_url={self.target.api_url!r}>"


def _static_headers(
    route: Route,
    properties: Mapping[str, object] | None,
    user_id: str | None,
    headers: Mapping[str, str] | None,
    features: tuple[FeatureBlock, ...] = (),
) -> dict[str, str]:
    static = dict(route.headers)
    for block in features:
        static.update(block.headers)
    for key, value in _headers.normalize_properties(properties, {}).items():
        static[_headers.PROPERTY_PREFIX + key] = _headers.encode_value(value, f"property {key!r}")
    if user_id is not None:
        static[_headers.USER_ID] = _headers.encode_value(user_id, "user id")
    for name, value in (headers or {}).items():
        _headers.check_key(name, "header name")
        if not name.lower().startswith("helicone-") or name.lower() == "helicone-auth":
            raise HeliconeConfigError(
                f"headers= takes Helicone-* feature headers such as 'Helicone-Cache-Enabled', got {name!r}; "
                "pass the key as api_key= and other headers to the openai client itself."
            )
        static[name] = _headers.encode_value(value, f"header {name!r}")
    return static


def _build_state(client: Any, *, options: dict[str, Any], original_base_url: Any,
                 original_azure_endpoint: Any = None) -> _State:
    """Everything the client's calls need, planned from the URL openai computed for it."""
    settings = resolve(options.get("api_key"), options.get("base_url"), options.get("api_url"))
    api_key, gateway = settings.api_key, settings.gateway
    if options.get("mode") == "async":
        return _build_async_state(client, str(client.base_url), options, original_base_url, api_key, gateway,
                                  settings.api_url)
    azure = isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI))
    route = plan_route(str(client.base_url), azure=azure, gateway=gateway)
    reason = unroutable_reason(client, route)
    if reason is not None:
        raise HeliconeConfigError(reason)
    if api_key is None and is_cloud_host(route.base_url):
        raise HeliconeConfigError(
            "No Helicone API key for the Helicone cloud gateway "
            f"({route.origin}). Pass wrap(client, api_key='sk-helicone-...') or set HELICONE_API_KEY. "
            "To run offline instead, start `helicone-wrap gateway` and pass "
            "base_url='http://127.0.0.1:8787' (or set HELICONE_BASE_URL)."
        )
    target = register_target(Target(settings.api_url, api_key))
    from ._http import http

    static = _static_headers(route, options.get("properties"), options.get("user_id"), options.get("headers"),
                             options.get("features") or ())
    wire_static = _headers.wire_form(static)
    static_names = frozenset(lower for _name, lower, _value in wire_static)
    gateway_url = http.URL(route.base_url)
    fallback = None
    if options.get("fallback"):  # -- fallback="direct" (helicone_wrap._fallback) --
        from . import _fallback

        fallback = _fallback.build(
            route=route, original_base_url=original_base_url, api_key=api_key, gateway=gateway, target=target,
            original_azure_endpoint=getattr(client, "_azure_endpoint", None),
        )
    return _State(
        route=route,
        original_base_url=original_base_url,
        original_azure_endpoint=original_azure_endpoint,
        keep_base_url=False,
        target=target,
        wire_static=wire_static,
        static_names=static_names,
        wire_auth=_headers.wire_form({_headers.AUTH: f"Bearer {api_key}"}) if api_key else (),
        gateway_key=_url_key(gateway_url),
        gateway_origin=_origin(gateway_url),
        options=options,
        probe=_headers.probe_for(static_names),
        fallback=fallback,
    )


def _build_async_state(
    client: Any, route_from: str, options: dict[str, Any], original_base_url: Any, api_key: str | None,
    gateway: str | None, api_url: str,
) -> _State:
    """Async mode (:mod:`helicone_wrap._asynclog`): the client keeps its base_url; no header is sent."""
    from . import _asynclog

    _asynclog.check_features(options.get("features") or ())  # names the block: "cache() needs the proxy"
    target = register_target(Target(api_url, api_key))
    static = _static_headers(Route(route_from), options.get("properties"), options.get("user_id"), options.get("headers"),
                             options.get("features") or ())
    log = _asynclog.build_log_state(api_key=api_key, gateway=gateway, rest_target=target, static=static)
    return _State(
        route=Route(route_from), original_base_url=original_base_url,
        original_azure_endpoint=getattr(client, "_azure_endpoint", None), target=target, wire_static=(),
        static_names=frozenset(), wire_auth=(), keep_base_url=False, gateway_key=("", "", None),
        gateway_origin=("", "", None), options=options, log=log,
    )  # fmt: skip


def _url_key(url: Any) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of an httpx URL, read from its parsed form without the properties.

    The host stays as parsed (lowercase, IDNA-encoded), so two keys are equal exactly when the
    ``scheme``, ``host`` and ``port`` properties are. Falls back to the properties for a URL
    without httpx's ``_uri_reference``.
    """
    ref = getattr(url, "_uri_reference", None)
    if ref is None:  # pragma: no cover - a future httpx
        return (url.scheme, url.host, url.port)
    return (ref.scheme, ref.host, ref.port)
