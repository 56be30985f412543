"""Async logging mode: calls go straight to the provider, one log record per call goes to Helicone.

``wrap(client, mode="async")`` leaves the client's ``base_url`` and headers alone (no Helicone
header or key ever reaches the provider). Each attempt is timed and recorded where openai sends
it (:mod:`.capture`); its record (:mod:`.record`, the body Helicone's manual logger sends) is
queued on the background delivery worker and POSTed to ``{log host}/oai/v1/log`` with the call's
``Helicone-*`` headers, so a Helicone outage never slows down or breaks a call.

Usage: ``client = helicone_wrap.wrap(OpenAI(), mode="async")``
"""

from __future__ import annotations

from collections.abc import Mapping

from .._config import Target, register_target
from .._exceptions import HeliconeConfigError
from . import record
from .hooks import HOOKS, LogState, check_features, check_headers, install, require_proxy

__all__ = ["HOOKS", "LogState", "build_log_state", "check_features", "check_headers", "install", "require_proxy"]

MODES = ("proxy", "async")


def check_mode(mode: object) -> str:
    """Validate ``wrap(mode=...)``. Usage: ``check_mode("async")``"""
    if mode not in MODES:
        raise HeliconeConfigError(
            f"mode must be 'proxy' (calls go through Helicone's gateway) or 'async' (calls go straight to the "
            f"provider and are logged afterwards), got {mode!r}."
        )
    return str(mode)


def build_log_state(
    *, api_key: str | None, gateway: str | None, rest_target: Target, static: Mapping[str, str]
) -> LogState:
    """The per-client async-mode state; raises when records could not be authenticated.

    Usage: ``build_log_state(api_key=key, gateway=None, rest_target=target, static={})``
    """
    host = record.log_host(gateway)
    if api_key is None and host == record.DEFAULT_LOG_HOST:
        raise HeliconeConfigError(
            f"No Helicone API key for async logging to Helicone cloud ({host}). Pass "
            "wrap(client, mode='async', api_key='sk-helicone-...') or set HELICONE_API_KEY; to log locally, "
            "start `helicone-wrap gateway` and pass base_url='http://127.0.0.1:8787'."
        )
    check_headers(static)
    # Known for replaying its records, but not where bare-id feedback goes: that stays the REST API.
    log_target = register_target(Target(host, api_key), default=False) if host != rest_target.api_url else rest_target
    return LogState(log_target=log_target, rest_target=rest_target, static=dict(static))
