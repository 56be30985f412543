"""Helicone's bucket rate limiter (``BucketRateLimiterDO``), in memory.

A token bucket per (segment, unit): capacity = quota, refilled lazily at
``quota / window`` tokens a second, new buckets start full. ``request`` policies deduct
1 before the call, only when allowed; ``cents`` policies check that some budget is left
before the call and deduct the call's actual cost after it (the balance may go
negative). A changed policy on the same bucket keeps its tokens, clamped to the new
capacity. The buckets live in the gateway process (Helicone keeps them in a Durable
Object); a restart refills them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .features import Policy

__all__ = ["Decision", "TokenBuckets"]


@dataclass(frozen=True)
class Decision:
    """One check's outcome and the ``Helicone-RateLimit-*`` values it reports.

    Usage: ``if not decision.allowed: answer 429 with decision.headers()``
    """

    allowed: bool
    limit: float
    remaining: int
    reset_s: int
    policy: str

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``createSuccessResult``: Limit, Remaining, Policy, and Reset when it is > 0."""
        limit = str(int(self.limit)) if float(self.limit).is_integer() else repr(self.limit)
        out = [
            (b"helicone-ratelimit-limit", limit.encode()),
            (b"helicone-ratelimit-remaining", str(self.remaining).encode()),
            (b"helicone-ratelimit-policy", self.policy.encode()),
        ]
        if self.reset_s > 0:
            out.append((b"helicone-ratelimit-reset", str(self.reset_s).encode()))
        return out


class _Bucket:
    __slots__ = ("capacity", "refilled_at", "tokens", "window_s")

    def __init__(self, capacity: float, window_s: int, now: float) -> None:
        self.tokens = capacity
        self.capacity = capacity
        self.window_s = window_s
        self.refilled_at = now


class TokenBuckets:
    """Every bucket of one gateway, keyed by :func:`.features.segment_key`.

    Usage::

        buckets = TokenBuckets()
        decision = buckets.consume(key, policy)            # before the call
        buckets.record_cost(key, policy, cost_cents)       # after it, cents policies only
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, key: str, policy: Policy) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(policy.quota, policy.window_s, now)
            return bucket
        if bucket.capacity != policy.quota or bucket.window_s != policy.window_s:
            bucket.tokens = min(bucket.tokens, policy.quota)
            bucket.capacity, bucket.window_s, bucket.refilled_at = policy.quota, policy.window_s, now
            return bucket
        elapsed = now - bucket.refilled_at
        if elapsed > 0:
            rate = policy.quota / policy.window_s
            bucket.tokens = min(policy.quota, bucket.tokens + elapsed * rate)
            bucket.refilled_at = now
        return bucket

    def consume(self, key: str, policy: Policy) -> Decision:
        """Check (and for ``request`` policies deduct) one call before it is made."""
        bucket = self._refilled(key, policy)
        if policy.unit == "cents":
            allowed = bucket.tokens > 0
        else:
            allowed = bucket.tokens >= 1
            if allowed:
                bucket.tokens = max(0.0, bucket.tokens - 1)
        return self._decision(bucket, policy, allowed)

    def record_cost(self, key: str, policy: Policy, cents: float) -> None:
        """Deduct a finished call's cost from a ``cents`` bucket (may go negative)."""
        if policy.unit != "cents":
            return
        bucket = self._refilled(key, policy)
        bucket.tokens -= min(max(cents, 0.0), 1_000_000.0)

    @staticmethod
    def _decision(bucket: _Bucket, policy: Policy, allowed: bool) -> Decision:
        needed = policy.quota - bucket.tokens
        reset = 0 if needed <= 0 else math.ceil(needed / (policy.quota / policy.window_s))
        return Decision(allowed, policy.quota, max(0, math.floor(bucket.tokens)), reset, policy.normalized)
