"""The state one running gateway shares between its proxy and its REST handlers."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, field
from typing import Any

from .faults import FaultInjector
from .headers import bearer_token
from .ratelimit import TokenBuckets
from .store import Store

__all__ = ["AUTH_TRACE", "GatewayState"]

#: The ``trace`` field of Helicone's 401 body.
AUTH_TRACE = "isAuthenticated.error"


@dataclass
class GatewayState:
    """Configuration and live resources of one gateway app.

    ``client`` (the shared upstream HTTP client) and ``release`` (set at shutdown so that
    hanging fault-injected requests let go) are created by the app's lifespan.

    Usage: ``state = GatewayState(store=Store(":memory:"), upstream="https://api.openai.com")``
    """

    store: Store
    upstream: str | None = None
    require_key: str | None = None
    faults: FaultInjector = field(default_factory=FaultInjector)
    #: Seconds the offline model waits between streamed events, about one token each; a whole
    #: answer waits this long per completion token (0: as fast as possible).
    offline_chunk_delay: float = 0.0
    #: The ``Helicone-RateLimit-Policy`` buckets (in memory, as Helicone's Durable Objects).
    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    #: Seconds the offline model "thinks" before its first token (0: answers at once).
    offline_ttft: float = 0.0
    client: Any = None
    release: asyncio.Event | None = None

    def auth_error(self, authorization: str | None, header_name: str) -> str | None:
        """Why ``authorization`` (a ``Bearer <key>`` value) is refused, or None if it passes.

        Always None when the gateway runs without ``require_key``.

        Usage: ``state.auth_error(request.headers.get("authorization"), "Authorization")``
        """
        if self.require_key is None:
            return None
        if authorization is None:
            problem = f"Missing {header_name} header (expected 'Bearer <key>')"
        elif (token := bearer_token(authorization)) is None:
            problem = f"Invalid {header_name} header (expected 'Bearer <key>')"
        elif not hmac.compare_digest(token.encode(), self.require_key.encode()):
            problem = "Invalid API key"
        else:
            return None
        return (
            f"{problem}: the Helicone key ({header_name}) was rejected by the gateway, which was started "
            "with --require-key. Pass that key as wrap(api_key=...) / HeliconeAPI(api_key=...) or "
            "HELICONE_API_KEY; it is not the OpenAI key."
        )
