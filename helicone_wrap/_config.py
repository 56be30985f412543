"""Where traffic goes and with which key: pure functions over arguments and the environment.

Environment variables (explicit arguments always win):

- ``HELICONE_API_KEY``: the Helicone key, sent as ``Helicone-Auth`` to the gateway and as
  ``Authorization`` to the REST API, nowhere else.
- ``HELICONE_BASE_URL``: the gateway root (self-hosted Helicone, or ``helicone-wrap gateway``).
- ``HELICONE_API_URL``: the REST API root. Defaults to the gateway's origin for a non-cloud
  gateway, else ``https://api.helicone.ai`` (``https://eu.api.helicone.ai`` for ``-eu-`` keys).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._exceptions import HeliconeConfigError

OPENAI_GATEWAY = "https://oai.helicone.ai"
GENERIC_GATEWAY = "https://gateway.helicone.ai"
US_API = "https://api.helicone.ai"
EU_API = "https://eu.api.helicone.ai"

ENV_KEY = "HELICONE_API_KEY"
ENV_BASE_URL = "HELICONE_BASE_URL"
ENV_API_URL = "HELICONE_API_URL"

_CLOUD_SUFFIXES = (".helicone.ai", ".hconeai.com")
_BAD_KEY_CHARS = re.compile(r"[\x00-\x20\x7f]")


def is_cloud_host(url: str) -> bool:
    """True when ``url`` points at a Helicone cloud host (``*.helicone.ai``, ``*.hconeai.com``)."""
    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(suffix) or host == suffix[1:] for suffix in _CLOUD_SUFFIXES)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without path, query or trailing slash."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def resolve_api_key(api_key: str | None) -> str | None:
    """The explicit key, else ``HELICONE_API_KEY``, else None. Rejects keys that would corrupt a header."""
    key = api_key if api_key is not None else os.environ.get(ENV_KEY) or None
    if key is not None and (not key or _BAD_KEY_CHARS.search(key)):
        raise HeliconeConfigError(
            "The Helicone API key contains whitespace or control characters. "
            "Copy it again from the Helicone dashboard (Settings -> API keys) without surrounding spaces."
        )
    return key


def resolve_gateway(base_url: str | None) -> str | None:
    """The explicit gateway root, else ``HELICONE_BASE_URL``, else None (choose by client type)."""
    url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL) or None
    if url is None:
        return None
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HeliconeConfigError(
            f"base_url must be an absolute http(s) URL such as 'http://127.0.0.1:8787' or "
            f"'https://oai.helicone.ai', got {str(url)!r}."
        )
    return str(url).rstrip("/")


def resolve_api_url(api_url: str | None, api_key: str | None, gateway: str | None) -> str:
    """Root of the REST API for this configuration (see the module docstring for the rules)."""
    url = api_url if api_url is not None else os.environ.get(ENV_API_URL) or None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise HeliconeConfigError(
                f"api_url must be an absolute http(s) URL such as 'https://api.helicone.ai', got {url!r}."
            )
        return url.rstrip("/")
    if gateway is not None and not is_cloud_host(gateway):
        # The local gateway and self-hosted Helicone (jawn) serve the REST API on the same origin.
        return origin_of(gateway)
    if api_key is not None and "-eu-" in api_key:
        return EU_API
    return US_API


@dataclass(frozen=True)
class Target:
    """Where REST operations (enrich, feedback, score, queries) go, and the key they carry.

    The key is never part of ``repr()``, pickles or the outbox: ``key_ref`` names it instead.
    Usage: ``Target.from_env()``
    """

    api_url: str
    api_key: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, api_key: str | None = None, api_url: str | None = None) -> Target:
        """The target that explicit arguments plus the environment describe."""
        key = resolve_api_key(api_key)
        return cls(resolve_api_url(api_url, key, resolve_gateway(None)), key)

    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <key>`` when there is a key (REST never takes Helicone-Auth)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Never pickle the key: re-resolve it by URL in the process that unpickles.
        return (target_for_url, (self.api_url,))


_targets: dict[str, Target] = {}


def register_target(target: Target) -> Target:
    """Remember the key for ``target.api_url`` so replayed/unpickled operations can find it."""
    global _last_target
    if target.api_key is not None or target.api_url not in _targets:
        _targets[target.api_url] = target
    _last_target = _targets[target.api_url]
    return target


_last_target: Target | None = None


def last_registered_target() -> Target | None:
    """The target of the most recent ``wrap()`` in this process, if any."""
    return _last_target


def target_for_url(api_url: str) -> Target:
    """The registered target for ``api_url``; else one whose key comes from ``HELICONE_API_KEY``."""
    found = _targets.get(api_url)
    if found is not None:
        return found
    return Target(api_url, resolve_api_key(None))
