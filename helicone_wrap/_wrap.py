"""``wrap``/``unwrap``: route one openai client instance through Helicone, reversibly.

Two methods that every call shape passes through, in openai 1.x, 2.x and 3.x alike, are
overridden on the *instance* (never on the class, so other clients are untouched):

- ``_build_request``: per attempt, appends the static, context and auth headers plus a fresh
  uuid4 ``Helicone-Request-Id`` to the built request (headers the user set win). It runs before
  openai's ``_prepare_request``, so anything that signs or inspects the request sees them. The
  key goes only to the gateway's origin, and never passes through openai's DEBUG log of options;
- ``_process_response``: reads the id (``helicone-id`` header, else the one we sent) and
  installs a post-parser that attaches it to whatever gets parsed, now or later.

``copy()``/``with_options()`` are wrapped too (with ``wrapt``), so derived clients stay wrapped.
A copy is routed from the URL openai itself computed for it (data residency, a provider's
region, a new ``base_url``); only a copy that merely inherited the parent's gateway URL shares
the parent's route. ``request`` is wrapped to name the gateway on openai's connection errors
(see ``_unreachable``), and the HTTP client drops Helicone headers on cross-origin redirects
(see ``_redirects``). ``base_url`` (and an Azure client's ``_azure_endpoint``) are the only
other attributes changed (for openai's module-level client, possibly the ``openai.base_url``
setting it reads), and ``unwrap`` puts them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import openai
import wrapt

from . import _guard, _headers, _unreachable
from ._config import Target, is_cloud_host, register_target, resolve
from ._context import _CURRENT
from ._exceptions import HeliconeConfigError
from ._features import FeatureBlock
from ._redirects import _origin, guard_redirects
from ._results import AttachId, attach, sent_id
from ._routing import Route, gateway_root, plan_route, unroutable_reason

ClientT = TypeVar("ClientT", bound="openai.OpenAI | openai.AsyncOpenAI")

STATE_ATTR = "_helicone_wrap_state"
_HOOKS = ("_build_request", "_process_response", "_send_request", "request", "copy", "with_options")
#: openai 3 resets these when ``base_url`` is assigned; wrap/unwrap keep the client's own values.
_URL_FLAGS = ("_base_url_was_default", "_data_residency")


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


def _check_features(features: tuple[object, ...]) -> tuple[FeatureBlock, ...]:
    """``wrap(client, ...)``'s positional arguments: feature blocks, one of each kind."""
    checked: list[FeatureBlock] = []
    for block in features:
        if not isinstance(block, FeatureBlock):
            raise HeliconeConfigError(
                f"wrap(client, ...) takes feature blocks such as cache() or retries() after the client, "
                f"got {type(block).__name__}: {block!r}. Pass properties=/user_id= as keywords, and use "
                "session()/properties() as 'with' blocks around the calls."
            )
        if any(other.kind == block.kind for other in checked):
            raise HeliconeConfigError(f"wrap() got two {block.kind}() blocks; pass one {block.kind}() per client.")
        checked.append(block)
    return tuple(checked)


# ---------------------------------------------------------------------------------------------
# Per-call helpers shared by the sync and async hooks (pure apart from reading the context).

_HELICONE_LOWER = _headers.HELICONE_LOWER
_CACHE_CONTROL_LOWER = _headers.CACHE_CONTROL_LOWER
_LOWER_NAME = _headers.LOWER_NAME


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


def _with_headers(request: Any, state: _State, probe: bytes | None = None) -> None:
    """Add this call's Helicone headers to the built request; headers set by the user win.

    Runs once per attempt, so every retry gets its own request id. The headers are appended
    pre-encoded: going through ``options.headers`` instead makes openai and httpx re-validate
    each of them several times per call, which costs more than everything else we do.
    ``probe`` is the client's own (see ``_State.probe``), passed only when it is not the usual.
    """
    ctx = _CURRENT.get()
    static = state.wire_static
    if state.static_names and ctx.wire_names and not state.static_names.isdisjoint(ctx.wire_names):
        # A context block sets a property, user id or feature the client was wrapped with: it wins.
        static = tuple(h for h in static if h[1] not in ctx.wire_names)
    gateway = state.gateway_key
    try:  # httpx's parsed URL, a named tuple (scheme, userinfo, host, port, ...): no property calls
        ref = request.url._uri_reference
        to_gateway = ref[2] == gateway[1] and ref[3] == gateway[2] and ref[0] == gateway[0]
    except AttributeError:  # pragma: no cover - a future httpx
        to_gateway = _url_key(request.url) == gateway
    auth = state.wire_auth if to_gateway else ()
    request_id = _headers.take_request_header()
    headers = request.headers
    items = getattr(headers, "_list", None)
    if type(items) is not list:  # pragma: no cover - a future httpx without the internal list
        for name, _lower, value in (*static, *ctx.wire, *auth, request_id):
            if name.decode() not in headers:
                headers[name.decode()] = value.decode()
        return
    # httpx works out the headers' text encoding on first use by decoding every header. Ours
    # are ASCII and cannot change the outcome, so let it look at the user's headers only.
    if headers._encoding is None:  # (usually worked out already, when httpx built the request)
        headers.encoding  # noqa: B018
    # Usually no Helicone header is set by hand: one C-level pass over the names says so.
    # (A ``Cache-Control`` of ours probes for a hyphen; a hit is then told apart by two more tests.)
    names = b"\n".join(map(_LOWER_NAME, items))
    probe = probe or ctx.probe
    if probe not in names or (
        probe is not _HELICONE_LOWER and _HELICONE_LOWER not in names and _CACHE_CONTROL_LOWER not in names
    ):
        items.extend(static)
        items.extend(ctx.wire)
        items.extend(auth)
        items.append(request_id)
        return
    explicit = set(map(_LOWER_NAME, items))
    items.extend(h for h in (*static, *ctx.wire, *auth, request_id) if h[1] not in explicit)


def _with_post_parser(kwargs: dict[str, Any], state: _State) -> bool:
    """Install the post-parser that puts this response's id on what gets parsed from it.

    Returns True when the call hands back the response object itself (``with_raw_response``,
    ``with_streaming_response``): openai marks those calls with a header in ``options.headers``,
    and the hook then attaches the id to that object too. Our errors are logged, never raised.
    """
    try:
        response = kwargs["response"]
        headers = response.headers  # kept on the result, for helicone_meta() to read if asked
        # The gateway's id wins: Helicone replaces a request id that is not a uuid.
        request_id = _headers.find_header(headers, _headers.RESPONSE_ID_LOWER) or sent_id(response.request)
        if state.fallback is not None:  # sent straight to the provider: its record's id (whatever it answered)
            request_id = response.request.extensions.get(_FALLBACK_ID_EXT) or request_id
        if not request_id:
            return False
        options = kwargs["options"]
        # A plain dict write: pydantic's __setattr__ on the options costs more than this whole hook.
        fields = options.__dict__
        fields["post_parser"] = AttachId(fields.get("post_parser"), request_id, state.target, headers)
        extra = options.headers  # openai's raw-response wrappers always pass a dict here
        return type(extra) is dict and _RAW_RESPONSE_HEADER in extra
    except Exception as exc:
        _guard.internal_error("process-response", exc)
        return False


def _attach_raw(result: Any, kwargs: dict[str, Any]) -> None:
    """The response object itself came back: it gets the id the post-parser carries."""
    try:
        # (Probe the instance dict: hasattr() on a pydantic model takes its slow __getattr__ miss path.)
        if "http_response" in getattr(result, "__dict__", ()):
            post_parser = kwargs["options"].__dict__.get("post_parser")
            if isinstance(post_parser, AttachId):
                attach(result, post_parser.id, post_parser.target, post_parser.headers)
    except Exception as exc:
        _guard.internal_error("process-response", exc)


_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"  # openai's RAW_RESPONSE_HEADER, in every major


# ---------------------------------------------------------------------------------------------
# The per-call hooks: plain closures stored on the instance, over the instance's own bound
# methods. (wrapt's generic dispatch cost more per call than the hooks' own work; the public
# copy()/with_options() keep wrapt's transparent wrappers.) ``_build_request`` is a sync method
# on both clients, so one hook serves both; ``_process_response`` has sync and async twins.


def _build_hook(client: Any, state: _State) -> Any:
    build = client._build_request
    fallback = state.fallback
    probe = state.probe
    if probe is not _HELICONE_LOWER:  # the client's own headers carry Cache-Control

        def _build_request(*args: Any, **kwargs: Any) -> Any:
            request = build(*args, **kwargs)
            try:
                _with_headers(request, state, probe)
            except Exception as exc:
                _guard.internal_error("build-request", exc)
            return request

    else:

        def _build_request(*args: Any, **kwargs: Any) -> Any:
            request = build(*args, **kwargs)
            try:
                _with_headers(request, state)
            except Exception as exc:
                _guard.internal_error("build-request", exc)
            return request

    def _build_marked(*args: Any, **kwargs: Any) -> Any:  # fallback="direct": the send hook's mark
        request = _build_request(*args, **kwargs)
        request.extensions[_FALLBACK_EXT] = fallback
        return request

    return _build_request if fallback is None else _build_marked


_FALLBACK_EXT = "helicone_wrap.fallback"  # == _fallback.EXT (not imported: proxy mode without it stays lean)
_FALLBACK_ID_EXT = "helicone_wrap.fallback_id"  # == _fallback.ID_EXT


def _sync_process_hook(client: Any, state: Any, with_post_parser: Any = None) -> Any:
    """``_process_response`` with our post-parser installed first (``with_post_parser``: async mode's)."""
    process = client._process_response
    install = with_post_parser or _with_post_parser

    def _process_response(*args: Any, **kwargs: Any) -> Any:
        raw = install(kwargs, state)
        result = process(*args, **kwargs)
        if raw:
            _attach_raw(result, kwargs)
        return result

    return _process_response


def _async_process_hook(client: Any, state: Any, with_post_parser: Any = None) -> Any:
    """The async twin of :func:`_sync_process_hook`."""
    process = client._process_response
    install = with_post_parser or _with_post_parser

    # A plain function: openai awaits what it returns, so the common case hands back openai's
    # own coroutine untouched and only raw-response calls pay for a coroutine of ours.
    def _process_response(*args: Any, **kwargs: Any) -> Any:
        if install(kwargs, state):
            return _attach_raw_when_done(process(*args, **kwargs), kwargs)
        return process(*args, **kwargs)

    return _process_response


async def _attach_raw_when_done(pending: Any, kwargs: dict[str, Any]) -> Any:
    result = await pending
    _attach_raw(result, kwargs)
    return result


def _copy_state(parent: Any, parent_url: str, new: Any, state: _State, explicit_base_url: bool) -> _State:
    """The state for ``new``, a copy openai just made of the wrapped client ``parent``.

    openai builds the copy from the parent's *current* ``base_url``: the gateway URL. When the
    copy's URL is exactly that, it inherited the route, and shares it (with the parent's upstream
    as the URL ``unwrap`` restores). When it is the URL the parent had been re-pointed to by hand,
    the copy keeps it, as its parent does. Otherwise openai computed a new URL for it (a new
    ``base_url``, data residency, a provider's region...): that is where its calls must go.
    """
    new_url = str(new.base_url)
    route_url = str(state.route.base_url)
    if not explicit_base_url and new_url == parent_url == route_url and not state.keep_base_url:
        return state
    azure_endpoint = getattr(new, "_azure_endpoint", None)
    if not explicit_base_url and new_url == parent_url:
        return replace(state, keep_base_url=True, original_base_url=new.base_url, original_azure_endpoint=azure_endpoint)
    return _build_state(new, options=_copy_options(state), original_base_url=new.base_url,
                        original_azure_endpoint=azure_endpoint)


def _copy_options(state: _State) -> dict[str, Any]:
    """The options a copy with its own route is wrapped with: the parent's, on the gateway's root.

    The gateway given to ``wrap`` may end with the parent's path (``.../v1``, an Azure
    deployment path); the copy's path replaces it rather than being appended to it. Done once:
    a copy of a copy already holds the root.
    """
    options = state.options
    if options.get(_ROOTED):
        return options
    settings = resolve(options.get("api_key"), options.get("base_url"), options.get("api_url"))
    if settings.gateway is None:
        return options
    root = gateway_root(settings.gateway, str(state.original_base_url))
    # (the REST root is pinned too: an explicit base_url would otherwise override HELICONE_API_URL)
    return {**options, "base_url": root, "api_url": settings.api_url, _ROOTED: True}


_ROOTED = "_gateway_is_root"


def _copy_hook(state: _State) -> Any:
    def copy(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        parent_url = str(instance.base_url)
        new = wrapped(*args, **kwargs)  # the user's errors propagate unchanged
        base_url = kwargs.get("base_url")
        explicit = base_url is not None and not isinstance(base_url, openai.NotGiven) and bool(str(base_url))
        try:
            new_state = _copy_state(instance, parent_url, new, state, explicit)
        except HeliconeConfigError:
            raise  # a copy that cannot be routed (a signing provider, mTLS) is refused, like wrap()
        except Exception as exc:
            _guard.internal_error("copy", exc)
            return new
        try:
            _install(new, new_state)
        except Exception as exc:
            _guard.internal_error("copy", exc)
        return new

    return copy


def _set_base_url(client: Any, url: Any, flags: dict[str, Any]) -> None:
    client.base_url = url
    client.__dict__.update(flags)


def _module_url_setter(client: Any) -> Any:
    """For openai's module-level client (``openai.chat...``), the ``base_url`` setter it hides.

    Its own setter (``super().base_url = url``) always raises ``AttributeError``, so the next
    setter along its class's MRO is used instead. ``None`` for any other client.
    """
    module_cls = getattr(openai, "_ModuleClient", None)
    if module_cls is None or not isinstance(client, module_cls):
        return None
    mro = type(client).__mro__
    for cls in mro[mro.index(module_cls) + 1:]:
        prop = cls.__dict__.get("base_url")
        if isinstance(prop, property) and prop.fset is not None:
            return prop.fset
    return None  # pragma: no cover - every openai major has BaseClient's setter


def _point_module_client(client: Any, setter: Any, url: str, flags: dict[str, Any]) -> None:
    """Route openai's module client: its URL is written where it reads it from, and remembered.

    The module client returns ``openai.base_url`` when that module setting is set, on every
    call; otherwise its own URL. ``unwrap`` puts back whichever was changed. Nothing is written
    when the route leaves the URL as it is (a gateway that is the client's own upstream).
    """
    if url.rstrip("/") == str(client.base_url).rstrip("/"):  # (the module setting may lack openai's slash)
        return
    if getattr(openai, "base_url", None) is not None:
        client.__dict__[_MODULE_URL_ATTR] = ("module", openai.base_url)
        openai.base_url = url
    else:
        client.__dict__[_MODULE_URL_ATTR] = ("client", client.base_url)
        setter(client, url)
    client.__dict__.update(flags)


def _unpoint_module_client(client: Any, setter: Any, flags: dict[str, Any]) -> None:
    saved = client.__dict__.pop(_MODULE_URL_ATTR, None)
    if saved is None:
        return
    where, value = saved
    if where == "module":
        openai.base_url = value
    else:
        setter(client, value)
    client.__dict__.update(flags)


_MODULE_URL_ATTR = "_helicone_wrap_module_url"


def _install(client: Any, state: _State) -> None:
    if state.log is not None:  # async mode: its own hooks, the client's base_url untouched
        from . import _asynclog

        _asynclog.install(client, state.log)
    else:
        _install_proxy(client, state)
    copy_hook = _copy_hook(state)
    wrapt.wrap_function_wrapper(client, "copy", copy_hook)
    wrapt.wrap_function_wrapper(client, "with_options", copy_hook)
    client.__dict__[STATE_ATTR] = state


def _install_proxy(client: Any, state: _State) -> None:
    is_async = isinstance(client, openai.AsyncOpenAI)
    process_hook = _async_process_hook if is_async else _sync_process_hook
    request_hook = _unreachable.async_request_hook if is_async else _unreachable.sync_request_hook
    flags = {name: client.__dict__[name] for name in _URL_FLAGS if name in client.__dict__}
    client.__dict__[_FLAGS_ATTR] = flags
    if not state.keep_base_url:
        module_setter = _module_url_setter(client)
        if module_setter is not None:
            _point_module_client(client, module_setter, state.route.base_url, flags)
        else:
            _set_base_url(client, state.route.base_url, flags)
        if state.route.azure_endpoint and getattr(client, "_azure_endpoint", None) is not None:
            from ._http import http

            client._azure_endpoint = http.URL(state.route.azure_endpoint)
    guard_redirects(client._client)
    client.__dict__["_build_request"] = _build_hook(client, state)
    client.__dict__["_process_response"] = process_hook(client, state)
    client.__dict__["request"] = request_hook(client, state.gateway_origin)
    if state.fallback is not None:
        from . import _fallback

        _fallback.install(client, state.fallback)


_FLAGS_ATTR = "_helicone_wrap_url_flags"


def wrap(
    client: ClientT,
    *features: FeatureBlock,
    api_key: str | None = None,
    base_url: str | None = None,
    api_url: str | None = None,
    properties: Mapping[str, object] | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    mode: str = "proxy",
    fallback: str | None = None,
) -> ClientT:
    """Route ``client`` through a Helicone gateway; returns the same object, same type.

    Each setting is the argument, else the environment, else the default:

    - ``api_key``: the Helicone key (else ``HELICONE_API_KEY``), sent only to the gateway and the REST API.
    - ``base_url``: gateway root for self-hosted Helicone or ``helicone-wrap gateway``
      (else ``HELICONE_BASE_URL``, else Helicone cloud chosen from the client).
    - ``api_url``: REST API root for enrich/feedback/score. Else, when ``base_url`` is given, that
      gateway's REST API (its own origin; Helicone's API for a cloud gateway), whatever
      ``HELICONE_API_URL`` says; else ``HELICONE_API_URL``; else the ``HELICONE_BASE_URL``
      gateway's origin; else Helicone cloud (README, "Configuration").
    - ``properties``/``user_id``: sent on every call of this client; context blocks win.
    - ``mode``: ``"proxy"`` (default) sends calls through the gateway; ``"async"`` sends them
      straight to the client's own ``base_url`` and logs each one to Helicone afterwards, in the
      background (``base_url`` is then the log host; cache, retries and rate limits need the proxy).
    - ``fallback``: ``"direct"`` (proxy mode) sends an attempt straight to the provider, logged as in
      async mode, when the gateway cannot be reached at all (refused, DNS, TLS, connect timeout);
      never after the request went out. ``None`` (default): such calls fail as openai's own error.
    - ``*features``: feature blocks for every call of this client, e.g. ``wrap(OpenAI(), cache(),
      retries(attempts=3))``; a context block of the same kind wins (``with cache(False):``).
    - ``headers``: any other Helicone header, e.g. ``{"Helicone-Stream-Usage": "true"}``.

    Wrapping twice is one wrap; ``copy()``/``with_options()`` clients stay wrapped; other
    clients are untouched. openai's module-level client (the one behind ``openai.chat...``,
    ``wrap(openai._load_client())``) is routed too: its URL is changed where it reads it from
    (``openai.base_url`` when that is set), and ``unwrap`` puts that back. Raises :class:`HeliconeConfigError` for a positional argument that is
    not a feature block (or two of one kind), when no key is set for a
    Helicone cloud gateway, and :class:`HeliconeValidationError` for bad properties.

    Usage: ``client = wrap(OpenAI())`` or ``client = wrap(OpenAI(), cache(), retries(attempts=3))``
    """
    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise HeliconeConfigError(
            f"wrap() takes an openai.OpenAI, AsyncOpenAI, AzureOpenAI or AsyncAzureOpenAI client, "
            f"got {type(client).__module__}.{type(client).__qualname__}."
        )
    blocks = _check_features(features)
    if STATE_ATTR in client.__dict__:
        return client
    if mode != "proxy":
        from ._asynclog import check_mode

        check_mode(mode)
    if fallback is not None:
        from ._fallback import check_fallback

        check_fallback(fallback, mode)
    options = {
        "features": blocks,
        "api_key": api_key,
        "base_url": base_url,
        "api_url": api_url,
        "properties": dict(properties) if properties else None,
        "user_id": user_id,
        "headers": dict(headers) if headers else None,
        "mode": mode,
        "fallback": fallback,
    }
    original = client.base_url
    _install(client, _build_state(client, options=options, original_base_url=original,
                                  original_azure_endpoint=getattr(client, "_azure_endpoint", None)))
    return client


def unwrap(client: ClientT) -> ClientT:
    """Undo :func:`wrap` on this client: its hooks and its original ``base_url`` are restored.

    Clients made from it by ``copy()`` stay wrapped until unwrapped themselves.
    Usage: ``unwrap(client)``
    """
    state = client.__dict__.pop(STATE_ATTR, None)
    if state is None:
        return client
    for name in _HOOKS:
        client.__dict__.pop(name, None)
    flags = client.__dict__.pop(_FLAGS_ATTR, {})
    if state.log is None and not state.keep_base_url:
        module_setter = _module_url_setter(client)
        if module_setter is not None:
            _unpoint_module_client(client, module_setter, flags)
        else:
            _set_base_url(client, state.original_base_url, flags)
        if state.route.azure_endpoint and getattr(client, "_azure_endpoint", None) is not None:
            client.__dict__["_azure_endpoint"] = state.original_azure_endpoint
    return client


def is_wrapped(client: object) -> bool:
    """True when ``client`` is currently wrapped. Usage: ``assert is_wrapped(client)``"""
    return STATE_ATTR in getattr(client, "__dict__", {})
