"""Pure routing rules: which gateway URL a client is sent to, and which routing headers it needs.

Order: an explicit ``base_url`` (or ``HELICONE_BASE_URL``), else a default chosen from the client:

- an OpenAI client (``api.openai.com``) goes to ``https://oai.helicone.ai/v1``;
- an Azure client keeps its deployment path on ``https://oai.helicone.ai`` and sends its
  endpoint as ``Helicone-OpenAI-Api-Base``; its ``azure_endpoint`` (where openai sends the calls
  that are not per deployment) becomes the gateway root too;
- a client pointed at another provider goes to ``https://gateway.helicone.ai`` with the same
  path and ``Helicone-Target-Url`` set to the provider's origin (Helicone uses only the origin).

A gateway root is joined with the client's path (``/v1``, ``/openai/deployments/x``) unless it
already ends with it, so ``base_url="https://oai.helicone.ai/v1"`` works as well as the root.
The client's query string (``?tenant=acme``) is kept exactly as openai holds it, and so is
whether its path ends with ``/`` before that query (openai 1.x/2.x put the slash after it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from ._config import GENERIC_GATEWAY, OPENAI_GATEWAY, is_cloud_host, origin_of

OPENAI_HOSTS = frozenset({"api.openai.com"})


@dataclass(frozen=True)
class Route:
    """Where one client's calls go: the new ``base_url`` plus static routing headers."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    #: For an Azure client: the gateway root that replaces its ``azure_endpoint``. openai sends
    #: the calls that are not per deployment (``models.list()``, files, ...) there, not to ``base_url``.
    azure_endpoint: str | None = None

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the gateway; the Helicone key is only ever sent there."""
        return origin_of(self.base_url)


def _join(gateway: str, path: str) -> str:
    """The gateway's path joined with the client's, without a trailing slash."""
    root = urlsplit(gateway)
    base = f"{root.scheme}://{root.netloc}{root.path.rstrip('/')}"
    path = path.strip("/")
    if not path or root.path.rstrip("/").endswith("/" + path):
        return base
    return f"{base}/{path}"


def _on_gateway(gateway: str, parts: SplitResult) -> str:
    """The client's URL moved onto ``gateway``: its path joined, its query and slash kept."""
    slash = "/" if parts.path.endswith("/") or not parts.query else ""
    query = f"?{parts.query}" if parts.query else ""
    return _join(gateway, parts.path) + slash + query


def _as_is(url: str, parts: SplitResult) -> str:
    """``url`` unchanged but for the trailing slash openai adds itself (never inside a query)."""
    return url if parts.query or url.endswith("/") else url + "/"


def gateway_root(gateway: str, client_base: str) -> str:
    """``gateway`` without the client's own path at its end: the root a copy's path is joined to.

    ``wrap(client, base_url="https://oai.helicone.ai/v1")`` names the gateway with the client's
    path; a copy openai sends elsewhere (``with_options(base_url=".../v2")``, an Azure copy
    that left its deployment) gets its own path on the root, not after the parent's.
    Usage: ``gateway_root("https://gw.example/v1", "https://api.openai.com/v1/") == "https://gw.example"``
    """
    root = urlsplit(gateway)
    path = root.path.rstrip("/")
    own = urlsplit(client_base).path.strip("/")
    if own and path.endswith("/" + own):
        path = path[: -len(own) - 1]
    return f"{root.scheme}://{root.netloc}{path}"


def plan_route(original_base: str, *, azure: bool, gateway: str | None) -> Route:
    """The route for a client whose ``base_url`` is ``original_base``.

    ``gateway`` is the explicit/env gateway root or ``None`` for Helicone cloud defaults.
    Usage: ``plan_route("https://api.openai.com/v1", azure=False, gateway=None).base_url``
    """
    parts = urlsplit(original_base)
    host = (parts.hostname or "").lower()
    if gateway is not None and origin_of(original_base) == origin_of(gateway):
        return Route(_as_is(original_base, parts))  # already pointed at this gateway
    if gateway is None and is_cloud_host(original_base):
        return Route(_as_is(original_base, parts))  # already routed through Helicone by hand
    if azure:
        root = gateway or OPENAI_GATEWAY
        return Route(
            _on_gateway(root, parts), {"Helicone-OpenAI-Api-Base": origin_of(original_base)},
            azure_endpoint=root.rstrip("/"),
        )
    if host in OPENAI_HOSTS:
        return Route(_on_gateway(gateway or OPENAI_GATEWAY, parts))
    return Route(_on_gateway(gateway or GENERIC_GATEWAY, parts), {"Helicone-Target-Url": origin_of(original_base)})


def unroutable_reason(client: Any, route: Route) -> str | None:
    """Why ``client`` cannot be sent along ``route``, or None when it can.

    Two kinds of openai client authenticate each request for one origin and must not be moved
    off it: openai's provider runtimes (``provider=bedrock(...)``/``vertex(...)`` in openai 2.x
    and 3.x) sign or authorize every request for the provider's own URL, and X.509 workload
    identity (openai 3.x) binds calls to a TLS client certificate presented to OpenAI's mTLS
    host. Routed through a gateway their calls would fail, or carry a credential toward a host it
    was not made for. When the route leaves the client on its own origin (the gateway *is* that
    URL) nothing moves, and they are fine.
    Usage: ``unroutable_reason(client, plan_route(str(client.base_url), azure=False, gateway=None))``
    """
    here = origin_of(str(client.base_url))
    if origin_of(route.base_url) == here:
        return None
    runtime = getattr(client, "_provider_runtime", None)
    if runtime is not None:
        name = getattr(runtime, "name", "provider")
        return (
            f"This client uses openai's {name!r} provider, which signs or authorizes every request for "
            f"{here} and refuses any other origin, so it cannot be routed through the Helicone gateway "
            f"{route.origin} (nor may its credentials be sent there). Wrap a client with an API key for "
            "that provider's OpenAI-compatible endpoint instead, or pass wrap(base_url=...) the provider URL "
            "itself if that is where your gateway runs."
        )
    identity = getattr(client, "workload_identity", None)
    if isinstance(identity, Mapping) and identity.get("type") == "x509":  # openai 3's X509WorkloadIdentity
        return (
            f"This client authenticates with an X.509 workload identity: every call is bound to a TLS client "
            f"certificate presented to {here}, which a gateway in between cannot present, so it cannot be "
            f"routed through the Helicone gateway {route.origin}. Use an API key or a subject-token "
            "workload identity for the wrapped client."
        )
    return None
