"""The per-call seams: what runs on every call of a wrapped client in proxy mode.

Two methods that every call shape passes through, in openai 1.x, 2.x and 3.x alike, are
overridden on the *instance* (never on the class, so other clients are untouched):

- ``_build_request``: per attempt, appends the static, context and auth headers plus a fresh
  uuid4 ``Helicone-Request-Id`` to the built request (headers the user set win). It runs before
  openai's ``_prepare_request``, so anything that signs or inspects the request sees them. The
  key goes only to the gateway's origin, and never passes through openai's DEBUG log of options;
- ``_process_response``: reads the id (``helicone-id`` header, else the one we sent) and
  installs a post-parser that attaches it to whatever gets parsed, now or later.

Async mode (:mod:`helicone_wrap._asynclog.hooks`) reuses the process-response hooks with a
post-parser of its own.
"""

from __future__ import annotations

import operator
from typing import Any

from . import _guard, _headers
from ._context import _CURRENT
from ._results import AttachId, attach, sent_id
from ._state import _State, _url_key

# ---------------------------------------------------------------------------------------------
# Per-call helpers shared by the sync and async hooks (pure apart from reading the context).

_HELICONE_LOWER = _headers.HELICONE_LOWER
_CACHE_CONTROL_LOWER = _headers.CACHE_CONTROL_LOWER
_LOWER_NAME = _headers.LOWER_NAME
_VALUE = operator.itemgetter(2)  # an httpx header-list item's value
#: ``(scheme, host, port)`` of httpx's parsed URL ``(scheme, userinfo, host, port, ...)``: see ``_url_key``.
_URL_KEY = operator.itemgetter(0, 2, 3)
_TAKE_POOLED = _headers.HEADER_POOL.pop


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
    try:  # httpx's parsed URL, a named tuple (scheme, userinfo, host, port, ...): no property calls
        to_gateway = _URL_KEY(request.url._uri_reference) == state.gateway_key
    except AttributeError:  # pragma: no cover - a future httpx
        to_gateway = _url_key(request.url) == state.gateway_key
    auth = state.wire_auth if to_gateway else ()
    try:
        request_id = _TAKE_POOLED()
    except IndexError:  # once per 256 ids: refill the pool
        request_id = _headers.take_request_header()
    headers = request.headers
    items = getattr(headers, "_list", None)
    if type(items) is not list:  # pragma: no cover - a future httpx without the internal list
        for name, _lower, value in (*static, *ctx.wire, *auth, request_id):
            if name.decode() not in headers:
                headers[name.decode()] = value.decode()
        return
    # Usually no Helicone header is set by hand: one C-level pass over the names says so.
    # (A ``Cache-Control`` of ours probes for a hyphen; a hit is then told apart by two more tests.)
    names = b"\n".join(map(_LOWER_NAME, items))
    if headers._encoding is None:  # (openai reads a request header later: httpx would work it out then)
        # httpx picks the headers' text encoding on first use by decoding each name and value
        # in Python, ASCII first. Ours are ASCII and cannot change the outcome, so it is worked
        # out before they go in, and for the usual all-ASCII case in two C-level checks instead.
        if names.isascii() and b"".join(map(_VALUE, items)).isascii():
            headers._encoding = "ascii"  # what httpx's own search finds first for these bytes
        else:
            headers.encoding  # noqa: B018
    probe = probe or ctx.probe
    # (``find``, not ``in``: ``bytes in bytes`` first tries the operand as an int and builds a TypeError.)
    if names.find(probe) < 0 or (
        probe is not _HELICONE_LOWER and names.find(_HELICONE_LOWER) < 0 and names.find(_CACHE_CONTROL_LOWER) < 0
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
