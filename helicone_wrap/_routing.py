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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

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
    gateway = gateway.rstrip("/")
    path = "/" + path.strip("/")
    if path == "/":
        return gateway + "/"
    if urlsplit(gateway).path.rstrip("/").endswith(path):
        return gateway + "/"
    return gateway + path + "/"


def plan_route(original_base: str, *, azure: bool, gateway: str | None) -> Route:
    """The route for a client whose ``base_url`` is ``original_base``.

    ``gateway`` is the explicit/env gateway root or ``None`` for Helicone cloud defaults.
    Usage: ``plan_route("https://api.openai.com/v1", azure=False, gateway=None).base_url``
    """
    parts = urlsplit(original_base)
    host = (parts.hostname or "").lower()
    path = parts.path
    if gateway is not None and origin_of(original_base) == origin_of(gateway):
        return Route(original_base.rstrip("/") + "/")  # already pointed at this gateway
    if gateway is None and is_cloud_host(original_base):
        return Route(original_base.rstrip("/") + "/")  # already routed through Helicone by hand
    if azure:
        root = gateway or OPENAI_GATEWAY
        return Route(
            _join(root, path), {"Helicone-OpenAI-Api-Base": origin_of(original_base)}, azure_endpoint=root.rstrip("/")
        )
    if host in OPENAI_HOSTS:
        return Route(_join(gateway or OPENAI_GATEWAY, path))
    return Route(_join(gateway or GENERIC_GATEWAY, path), {"Helicone-Target-Url": origin_of(original_base)})
