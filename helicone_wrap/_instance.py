"""What ``wrap`` changes on a client instance, how ``unwrap`` puts it back, and copies.

``wrap`` stores the per-call seams (:mod:`helicone_wrap._seams`) in the instance's ``__dict__``
and points its ``base_url`` (and an Azure client's ``_azure_endpoint``) at the gateway; for
openai's module-level client, possibly the ``openai.base_url`` setting it reads. ``request`` is
wrapped to name the gateway on openai's connection errors (see ``_unreachable``), and the HTTP
client drops Helicone headers on cross-origin redirects (see ``_redirects``).

``copy()``/``with_options()`` are wrapped too (with ``wrapt``), so derived clients stay wrapped.
A copy is routed from the URL openai itself computed for it (data residency, a provider's
region, a new ``base_url``); only a copy that merely inherited the parent's gateway URL shares
the parent's route.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import openai
import wrapt

from . import _guard, _unreachable
from ._config import resolve
from ._exceptions import HeliconeConfigError
from ._redirects import guard_redirects
from ._routing import gateway_root
from ._seams import _async_process_hook, _build_hook, _sync_process_hook
from ._state import _build_state, _State

STATE_ATTR = "_helicone_wrap_state"
_HOOKS = ("_build_request", "_process_response", "_send_request", "request", "copy", "with_options")
#: openai 3 resets these when ``base_url`` is assigned; wrap/unwrap keep the client's own values.
_URL_FLAGS = ("_base_url_was_default", "_data_residency")


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


def _uninstall(client: Any) -> None:
    """Take ``wrap``'s hooks off ``client`` and put back the URL it had; nothing when not wrapped."""
    state = client.__dict__.pop(STATE_ATTR, None)
    if state is None:
        return
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
