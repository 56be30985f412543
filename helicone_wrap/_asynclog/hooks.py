"""The async-mode hooks on one wrapped client: mark each attempt, time it, attach its id.

In async mode the client keeps its own ``base_url`` and nothing is added to its requests:

- ``_build_request``: the built request gets a :class:`~.capture.Call` in its ``extensions``
  (a fresh uuid4, the context snapshot), never a header;
- the send seam (``_send_request`` on openai >= 2; on openai 1 the httpx client's ``send``, which
  ignores requests without a ``Call``, so clients sharing that httpx client are unaffected)
  records the attempt (:mod:`.capture`);
- ``_process_response`` installs the same id post-parser as proxy mode, so ``.helicone_id``,
  ``.enrich()``, ``.feedback()`` and ``.score()`` are on every result at once.

Features that only the proxy can provide (cache, retries, rate limits) raise
:class:`HeliconeConfigError` instead of silently doing nothing: :func:`require_proxy` is the
hook; feature blocks (given to ``wrap()`` or entered as context blocks, :func:`check_features`),
``wrap(headers=...)``, context headers and per-call ``extra_headers`` are checked here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import openai

from .. import _guard, _headers
from .._config import Target
from .._context import _CURRENT, HeliconeContext
from .._exceptions import HeliconeConfigError
from .._results import AttachId
from .._seams import _RAW_RESPONSE_HEADER
from . import capture

#: Helicone features that act inside the proxy; in async mode nothing would apply them.
PROXY_ONLY_PREFIXES = ("helicone-cache", "helicone-retry", "helicone-ratelimit", "helicone-rate-limit", "helicone-fallback")


@dataclass(frozen=True)
class LogState:
    """What an async-mode client needs per call; built once by ``wrap(mode="async")``."""

    #: Where records go (the log host) and with which Helicone key.
    log_target: Target
    #: Where enrich/feedback/score go (the REST API), as in proxy mode.
    rest_target: Target
    #: The client's static Helicone-* headers (properties, user id, ``headers=``), for each record.
    static: Mapping[str, str] = field(default_factory=dict)


def require_proxy(feature: str, mode: str) -> None:
    """Raise :class:`HeliconeConfigError` when ``feature`` needs the proxy and ``mode`` is async.

    Feature blocks call this at entry. Usage: ``require_proxy("cache", "async")``
    """
    if mode == "async":
        raise HeliconeConfigError(
            f"{feature} needs Helicone's proxy: in async mode calls go straight to the provider, so Helicone "
            f"never sees them in time to apply {feature}. Use wrap(client) (proxy mode) for this client, "
            "or drop the feature."
        )


def check_headers(names: Iterable[str]) -> None:
    """Raise when any header name is a proxy-only feature header (async mode)."""
    for name in names:
        lower = name.lower()
        if lower.startswith(PROXY_ONLY_PREFIXES):
            require_proxy(f"the {name} header", "async")


def check_features(blocks: Iterable[Any]) -> None:
    """Raise when a feature block that only the proxy applies is on (``cache()``, ``retries()``, ...).

    A block switched off (``cache(False)``) sends nothing and passes. The error names the block,
    as the user wrote it. Usage: ``check_features(ctx.features.values())``
    """
    for block in blocks:
        if block.headers and any(name.lower().startswith(PROXY_ONLY_PREFIXES) for name in block.headers):
            require_proxy(f"{block.kind}()", "async")


def _check_context(ctx: HeliconeContext) -> None:
    if ctx.wire:  # feature blocks are part of the wire headers: nothing to check without them
        check_features(ctx.features.values())
        check_headers(name.decode("ascii") for _raw, name, _value in ctx.wire)


def _check_call_headers(options: Any) -> None:
    """Per-call ``extra_headers`` asking for a proxy-only feature (async mode)."""
    headers = getattr(options, "headers", None)
    if type(headers) is dict and headers:
        check_headers(headers)


def _build_hook(client: Any, state: LogState) -> Any:
    build = client._build_request
    take_id = _headers.take_request_id
    current = _CURRENT.get

    # The context last found valid (contexts never change) and its records' headers, as one tuple
    # so that threads sharing the client never pair one context with another's headers.
    last: list[tuple[HeliconeContext | None, Mapping[str, str]]] = [(None, {})]

    def _build_request(*args: Any, **kwargs: Any) -> Any:
        ctx = current()
        checked = last[0]
        if ctx is not checked[0]:
            _check_context(ctx)  # the user's misconfiguration: raised before anything is sent
            checked = last[0] = (ctx, {**state.static, **ctx.headers})
        _check_call_headers(args[0] if args else kwargs.get("options"))
        request = build(*args, **kwargs)
        try:
            request.extensions[capture.EXT] = capture.Call(state, take_id().decode("ascii"), checked[1])
        except Exception as exc:
            _guard.internal_error("build-request", exc)
        return request

    return _build_request


def _with_post_parser(kwargs: dict[str, Any], state: LogState) -> bool:
    """Install the id post-parser for this response; True when the raw response comes back."""
    try:
        call = kwargs["response"].request.extensions.get(capture.EXT)
        if call is None:
            return False
        options = kwargs["options"]
        fields = options.__dict__
        fields["post_parser"] = AttachId(fields.get("post_parser"), call.id, state.rest_target)
        extra = options.headers
        return type(extra) is dict and _RAW_RESPONSE_HEADER in extra
    except Exception as exc:
        _guard.internal_error("process-response", exc)
        return False


def _sync_process_hook(client: Any, state: LogState) -> Any:
    from .._seams import _sync_process_hook as proxy_hook

    return proxy_hook(client, state, _with_post_parser)


def _async_process_hook(client: Any, state: LogState) -> Any:
    from .._seams import _async_process_hook as proxy_hook

    return proxy_hook(client, state, _with_post_parser)


_HTTPX_HOOKED = "_helicone_wrap_send_hooked"


def install(client: Any, state: LogState) -> None:
    """Put the async-mode hooks on ``client``'s instance (its ``base_url`` stays as it is)."""
    is_async = isinstance(client, openai.AsyncOpenAI)
    client.__dict__["_build_request"] = _build_hook(client, state)
    process_hook = _async_process_hook if is_async else _sync_process_hook
    client.__dict__["_process_response"] = process_hook(client, state)
    send_hook = capture.async_send_hook if is_async else capture.sync_send_hook
    if callable(getattr(client, "_send_request", None)):
        client.__dict__["_send_request"] = send_hook(client._send_request)
    else:  # openai 1.x sends through the httpx client directly; the hook ignores unmarked requests
        http_client = client._client
        if not http_client.__dict__.get(_HTTPX_HOOKED):
            http_client.__dict__["send"] = send_hook(http_client.send)
            http_client.__dict__[_HTTPX_HOOKED] = True
    capture.start_reaper()


#: Instance attributes :func:`install` sets, removed again by ``unwrap``.
HOOKS = ("_build_request", "_process_response", "_send_request")
