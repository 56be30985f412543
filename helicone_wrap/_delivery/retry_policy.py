"""The delivery retry policy: after each attempt, deliver, retry later or fail (pure functions).

- ``500 "Request not found"``: Helicone has not ingested the log yet. Retried with exponential
  backoff and full jitter (0.25 s doubling per attempt, capped at one hour) for ``lag_window``
  seconds (default 7 days: Helicone's ingestion has lagged by days in real outages), counted from
  the operation's first attempt in any process (the outbox stores it with the attempt count).
- ``429``: retried after ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset``.
- other 5xx, 408, timeouts, refused/reset connections: retried with backoff, within the window.
- 400, 401, 403, 404, 422 and other 4xx: not retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .. import _api

__all__ = ["Decision", "retry_decision"]


class Decision(NamedTuple):
    """What to do after one attempt: ``done``, ``retry`` after ``delay`` seconds, or ``fail``.

    Usage: ``if retry_decision(429, None, headers, 1, 0.0).action == "retry": ...``
    """

    action: str
    delay: float = 0.0
    reason: str = ""


def retry_decision(
    status: int | None,
    body: Any,
    headers: Mapping[str, str],
    attempt: int,
    elapsed: float,
    *,
    lag_window: float = 7 * 86400.0,
    max_retries: int | None = None,
    base: float = 0.25,
    cap: float = 3600.0,
    rand: Callable[[], float] = random.random,
    now: float | None = None,
) -> Decision:
    """Decide after attempt number ``attempt`` (1-based), ``elapsed`` seconds after the first.

    ``status`` is None when there was no answer (refused, reset, timed out).
    Usage: ``retry_decision(500, {"error": "Request not found"}, {}, 1, 0.0)`` -> retry
    """
    if status is not None and 200 <= status < 300:
        if isinstance(body, Mapping) and body.get("error"):
            message = _api.error_message(body, status)
            if _api.NOT_FOUND_TEXT.lower() not in message.lower():
                return Decision("fail", reason="error-envelope")
            reason = "not-found"
        else:
            return Decision("done", reason="delivered")
    elif status is None:
        reason = "no-answer"
    elif status == 429:
        reason = "rate-limited"
    elif _api.NOT_FOUND_TEXT.lower() in _api.error_message(body, status).lower():
        reason = "not-found"
    elif status == 408 or status >= 500:
        reason = "server-error"
    else:
        return Decision("fail", reason="client-error")
    if max_retries is not None and attempt > max_retries:
        return Decision("fail", reason=f"gave-up:{reason}")
    remaining = lag_window - elapsed
    if remaining <= 0:
        return Decision("fail", reason=f"gave-up:{reason}")
    if reason == "rate-limited":
        wait = _api.retry_after(headers, now)
        if wait is not None:
            if wait > remaining:
                return Decision("fail", reason="gave-up:rate-limited")
            return Decision("retry", wait, reason)
    delay = rand() * min(cap, base * 2 ** max(0, attempt - 1))
    return Decision("retry", min(delay, remaining), reason)
