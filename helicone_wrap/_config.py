"""Where traffic goes and with which key: pure functions over arguments and the environment.

Every setting resolves in one order: **the explicit argument, then the environment, then the
default**. The same rules serve ``wrap()``, ``HeliconeAPI``/``AsyncHeliconeAPI``, the command
line (``--api-key``, ``--base-url``, ``--api-url``) and the background delivery of
enrich/feedback/score:

- the key: ``api_key=``, else ``HELICONE_API_KEY``, else none. It is sent as ``Helicone-Auth``
  to the gateway and as ``Authorization`` to the REST API, nowhere else;
- the gateway: ``base_url=``, else ``HELICONE_BASE_URL``, else Helicone cloud chosen from the
  client (see :mod:`helicone_wrap._routing`);
- the REST API (enrich, feedback, score, queries): ``api_url=``; else, when ``base_url=`` is
  given, the REST API of that gateway; else ``HELICONE_API_URL``; else the REST API of the
  ``HELICONE_BASE_URL`` gateway; else Helicone cloud.

"The REST API of a gateway" is the gateway's own origin for a non-cloud gateway (self-hosted
Helicone and ``helicone-wrap gateway`` serve both on one origin), and ``https://api.helicone.ai``
for a cloud one (``https://eu.api.helicone.ai`` for ``-eu-`` keys or an ``eu`` host label). So an
explicit ``base_url`` is never paired with a REST API that only the environment names.
:func:`resolve` also says where each value came from (``helicone-wrap doctor`` prints it).
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
ENV_NAMES = (ENV_KEY, ENV_BASE_URL, ENV_API_URL)

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


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _check_key(key: str | None) -> str | None:
    if key is not None and (not key or _BAD_KEY_CHARS.search(key)):
        raise HeliconeConfigError(
            "The Helicone API key contains whitespace or control characters. "
            "Copy it again from the Helicone dashboard (Settings -> API keys) without surrounding spaces."
        )
    return key


def _check_url(url: str, what: str, example: str) -> str:
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HeliconeConfigError(f"{what} must be an absolute http(s) URL such as {example}, got {str(url)!r}.")
    return str(url).rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """The explicit key, else ``HELICONE_API_KEY``, else None. Rejects keys that would corrupt a header."""
    return _check_key(api_key if api_key is not None else _env(ENV_KEY))


def resolve_gateway(base_url: str | None) -> str | None:
    """The explicit gateway root, else ``HELICONE_BASE_URL``, else None (choose by client type)."""
    url = base_url if base_url is not None else _env(ENV_BASE_URL)
    if url is None:
        return None
    return _check_url(url, "base_url", "'http://127.0.0.1:8787' or 'https://oai.helicone.ai'")


def cloud_api_for(api_key: str | None, gateway: str | None = None) -> str:
    """Helicone cloud's REST root: EU for ``-eu-`` keys or an ``eu`` gateway host label, else US."""
    labels = (urlsplit(gateway).hostname or "").lower().split(".") if gateway else []
    if (api_key is not None and "-eu-" in api_key) or "eu" in labels:
        return EU_API
    return US_API


def api_of_gateway(gateway: str, api_key: str | None) -> str:
    """The REST root that goes with ``gateway``: its origin, or Helicone cloud's API for a cloud host."""
    if is_cloud_host(gateway):
        return cloud_api_for(api_key, gateway)
    # The local gateway and self-hosted Helicone (jawn) serve the REST API on the same origin.
    return origin_of(gateway)


@dataclass(frozen=True)
class Resolved:
    """Key, gateway and REST root in effect, each with where it came from.

    A source is ``"argument"`` (or ``"base_url argument"`` for a REST root implied by the
    gateway argument), an environment variable's name, or ``"default"``. The key never shows in
    ``repr()``. Usage: ``resolve(base_url="http://127.0.0.1:8787").api_url_source``
    """

    api_key: str | None = field(repr=False)
    key_source: str
    gateway: str | None
    gateway_source: str
    api_url: str
    api_url_source: str


def resolve(api_key: str | None = None, base_url: str | None = None, api_url: str | None = None) -> Resolved:
    """Apply the module docstring's order to explicit arguments (None = not given) and the environment.

    Usage: ``resolve(api_key=None, base_url="http://127.0.0.1:8787").api_url == "http://127.0.0.1:8787"``
    """
    key = _check_key(api_key if api_key is not None else _env(ENV_KEY))
    key_source = "argument" if api_key is not None else ENV_KEY if key is not None else "default"
    gateway = resolve_gateway(base_url)
    gateway_source = "argument" if base_url is not None else ENV_BASE_URL if gateway is not None else "default"
    example = "'https://api.helicone.ai'"
    env_api = _env(ENV_API_URL)
    if api_url is not None:
        rest, rest_source = _check_url(api_url, "api_url", example), "argument"
    elif base_url is not None and gateway is not None:
        rest, rest_source = api_of_gateway(gateway, key), "base_url argument"
    elif env_api is not None:
        rest, rest_source = _check_url(env_api, ENV_API_URL, example), ENV_API_URL
    elif gateway is not None and not is_cloud_host(gateway):
        rest, rest_source = api_of_gateway(gateway, key), ENV_BASE_URL
    else:
        rest, rest_source = cloud_api_for(key, gateway), "default"
    return Resolved(key, key_source, gateway, gateway_source, rest, rest_source)


def mask_key(key: str | None) -> str:
    """A key as it may be shown: its prefix up to the last ``-`` and its last 4 characters.

    Usage: ``mask_key("sk-helicone-abcdefgh1234") == "sk-helicone-…1234"``
    """
    if key is None:
        return "(none)"
    if len(key) <= 8:
        return "…" * min(len(key), 3)
    head = key[: key[:-4].rfind("-") + 1]
    if len(head) > len(key) - 8:  # the prefix would give away most of the key
        head = ""
    return f"{head}…{key[-4:]}"


@dataclass(frozen=True)
class Target:
    """Where REST operations (enrich, feedback, score, queries) go, and the key they carry.

    The key is never part of ``repr()``, pickles or the outbox: ``key_ref`` names it instead.
    Usage: ``Target.from_env()``
    """

    api_url: str
    api_key: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_env(cls, api_key: str | None = None, api_url: str | None = None, base_url: str | None = None) -> Target:
        """The target that explicit arguments plus the environment describe (see :func:`resolve`)."""
        resolved = resolve(api_key, base_url, api_url)
        return cls(resolved.api_url, resolved.api_key)

    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <key>`` when there is a key (REST never takes Helicone-Auth)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Never pickle the key: re-resolve it by URL in the process that unpickles.
        return (target_for_url, (self.api_url,))


_targets: dict[str, Target] = {}


def register_target(target: Target, *, default: bool = True) -> Target:
    """Remember the key for ``target.api_url`` so replayed/unpickled operations can find it.

    ``default``: it also becomes where operations on a bare id go (:func:`last_registered_target`);
    an async-mode log host is registered without that, as it takes records only.
    """
    global _last_target
    if target.api_key is not None or target.api_url not in _targets:
        _targets[target.api_url] = target
    if default:
        _last_target = _targets[target.api_url]
    return target


_last_target: Target | None = None


def last_registered_target() -> Target | None:
    """The target of the most recent ``wrap()`` (or operation) in this process, if any."""
    return _last_target


def target_for_url(api_url: str) -> Target:
    """The registered target for ``api_url``; else one whose key comes from ``HELICONE_API_KEY``."""
    found = _targets.get(api_url)
    if found is not None:
        return found
    return Target(api_url, resolve_api_key(None))
