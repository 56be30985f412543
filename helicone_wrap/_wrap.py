"""``wrap``/``unwrap``: route one openai client instance through Helicone, reversibly.

``wrap`` checks its arguments (raising before anything changes), plans the client's state once
(:mod:`helicone_wrap._state`) and installs it on the instance (:mod:`helicone_wrap._instance`);
the per-call work happens in the seams (:mod:`helicone_wrap._seams`). ``unwrap`` puts the
instance back as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import openai

from ._exceptions import HeliconeConfigError
from ._features import FeatureBlock
from ._instance import STATE_ATTR, _install, _uninstall
from ._state import _build_state

ClientT = TypeVar("ClientT", bound="openai.OpenAI | openai.AsyncOpenAI")


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
    _uninstall(client)
    return client


def is_wrapped(client: object) -> bool:
    """True when ``client`` is currently wrapped. Usage: ``assert is_wrapped(client)``"""
    return STATE_ATTR in getattr(client, "__dict__", {})
