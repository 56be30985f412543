"""One proxied call of the gateway (:class:`ProxyCall`): what is known about it as it goes, and
how its log row is completed and queued once the answer is known (:mod:`.proxy` answers it).
"""

from __future__ import annotations

import time
from typing import Any

from . import offline
from .asgi import Scope
from .headers import HeliconeRequestHeaders
from .plan import FeaturePlan
from .state import GatewayState
from .store import LogRow, now_ms
from .usage import usage_from_body

__all__ = ["ProxyCall"]


class ProxyCall:
    """Everything known about one proxied call, filled in as it goes, and how its log row ends.

    Usage: ``call = ProxyCall("chat", scope, time.perf_counter()); ...; call.finish_log(state, 200, body, None)``
    """

    __slots__ = ("body", "headers", "info", "json", "kind", "log", "method", "path", "plan", "started")

    def __init__(self, kind: str, scope: Scope, started: float) -> None:
        self.kind = kind
        self.path: str = scope["path"]
        self.method: str = scope["method"]
        self.started = started
        self.body = b""
        self.json: dict[str, Any] | None = None
        self.info: HeliconeRequestHeaders | None = None
        self.log: LogRow | None = None
        self.plan: FeaturePlan | None = None
        #: The answer's headers as relayed (kept for the cache).
        self.headers: list[tuple[bytes, bytes]] | None = None

    def elapsed_ms(self) -> float:
        """Milliseconds since the call started, to the microsecond."""
        return round((time.perf_counter() - self.started) * 1000, 3)

    def finish_log(
        self,
        state: GatewayState,
        status: int,
        body: bytes | None,
        ttft: float | None,
        *,
        usage: offline.Usage | None = None,
        model: object = None,
    ) -> None:
        """Complete the call's log row and queue it in ``state``'s store (at most once)."""
        row = self.log
        if row is None:
            return
        self.log = None
        row.status = status
        row.latency_ms = self.elapsed_ms()
        row.ttft_ms = ttft
        row.response_created_at = now_ms()
        if usage is None and body is not None:
            found_model, usage = usage_from_body(body)
            model = model or found_model
        row.model = model if isinstance(model, str) else row.request_model
        if usage is not None:
            row.prompt_tokens = usage.prompt_tokens
            row.completion_tokens = usage.completion_tokens
            row.total_tokens = usage.total_tokens
            row.cost = offline.cost_usd(row.model, usage.prompt_tokens, usage.completion_tokens)
        assert self.info is not None
        if body is not None and not self.info.omit_response:
            row.response_body = body.decode("utf-8", "replace")
        state.store.log(row)
        if self.plan is not None:
            self.plan.finished(
                state.store, state.buckets, status, self.headers, body, round(row.latency_ms), row.cost
            )
