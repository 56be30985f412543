"""What Helicone's feature headers ask of one proxied call: cache, rate limit, retries.

:func:`plan_call` reads the parsed headers once; the proxy then asks the plan for a
cache hit, a rate-limit decision and the extra response headers, and hands it the
finished answer so that a 200 can be saved and a ``cents`` policy charged. Calls
without feature headers get no plan and pay for nothing more.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .features import (
    CacheSettings,
    Policy,
    RetrySettings,
    cache_key,
    cache_settings,
    parse_policy,
    retry_settings,
    segment_key,
)
from .headers import HeliconeRequestHeaders
from .ratelimit import Decision, TokenBuckets
from .store import CacheEntry, Store, now_ms

__all__ = ["CacheHit", "FeaturePlan", "plan_call"]

#: The body of Helicone's own 429 (``ResponseBuilder.buildRateLimitedResponse``).
RATE_LIMITED_BODY = (
    b'{"message":"Helicone user was rate limit via Helicone-RateLimit-Policy header. Please wait '
    b"before making more requests. See https://docs.helicone.ai/features/advanced-usage/"
    b'custom-rate-limits for more details."}'
)


@dataclass(frozen=True)
class CacheHit:
    """A served cache entry and its bucket index.

    Usage: ``hit.entry.body``
    """

    entry: CacheEntry
    bucket_index: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``getCachedResponse``: the saved headers plus HIT, bucket index and latency."""
        saved = [(k, v) for k, v in self.entry.headers if k.lower() != b"content-length"]
        return saved + [
            (b"content-length", str(len(self.entry.body)).encode()),
            (b"helicone-cache", b"HIT"),
            (b"helicone-cache-bucket-idx", str(self.bucket_index).encode()),
            (b"helicone-cache-latency", str(self.entry.latency_ms).encode()),
        ]


@dataclass
class FeaturePlan:
    """The features one call uses; built by :func:`plan_call`.

    Usage: ``plan = plan_call(info, url, body); hit = plan.lookup(store)``
    """

    url: str
    body: bytes
    info: HeliconeRequestHeaders
    cache: CacheSettings | None = None
    retry: RetrySettings | None = None
    policy: Policy | None = None
    bucket_key: str | None = None
    decision: Decision | None = None
    #: Set once the answer came from the cache: nothing more is saved.
    served_from_cache: bool = False
    _keys: list[str] = field(default_factory=list)

    def keys(self) -> list[str]:
        """The cache keys of every bucket slot (computed once)."""
        if not self._keys and self.cache is not None:
            self._keys = [
                cache_key(self.cache, self.url, self.body, self.info.raw, i)
                for i in range(self.cache.bucket_size)
            ]
        return self._keys

    def lookup(self, store: Store) -> CacheHit | None:
        """A hit when every slot of the bucket is filled (one picked at random), else None."""
        if self.cache is None or not self.cache.read:
            return None
        entries = []
        for key in self.keys():
            entry = store.cache_get(key)
            if entry is None:
                return None
            entries.append(entry)
        index = random.randrange(len(entries))
        self.served_from_cache = True
        return CacheHit(entries[index], index)

    def check_rate(self, buckets: TokenBuckets) -> Decision | None:
        """Consume from this call's bucket; None when no valid policy applies (fail open)."""
        if self.policy is None or self.bucket_key is None:
            return None
        self.decision = buckets.consume(self.bucket_key, self.policy)
        return self.decision

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers a proxied (non-hit) answer carries: rate-limit values, cache MISS."""
        out = self.decision.headers() if self.decision is not None else []
        if self.cache is not None and self.cache.read:
            out.append((b"helicone-cache", b"MISS"))
        return out

    def finished(
        self,
        store: Store,
        buckets: TokenBuckets,
        status: int,
        headers: list[tuple[bytes, bytes]] | None,
        body: bytes | None,
        latency_ms: int,
        cost_usd: float,
    ) -> None:
        """Save a 200 into the first free bucket slot; charge a ``cents`` policy."""
        if self.policy is not None and self.bucket_key is not None and self.policy.unit == "cents":
            buckets.record_cost(self.bucket_key, self.policy, cost_usd * 100)
        cache = self.cache
        if cache is None or not cache.save or self.served_from_cache or status != 200 or body is None:
            return
        if cache.max_age_s <= 0:
            return
        for key in self.keys():
            if store.cache_get(key) is None:
                expires = now_ms() + cache.max_age_s * 1000
                kept = [(k, v) for k, v in headers or [] if k.lower() != b"helicone-id"]
                store.cache_put(
                    key, CacheEntry(self.info.request_id.lower(), kept, body, latency_ms, expires)
                )
                return


_FEATURE_PREFIXES = ("helicone-cache-", "helicone-ratelimit-policy", "helicone-retry-enabled")


def plan_call(info: HeliconeRequestHeaders, url: str, body: bytes) -> FeaturePlan | None:
    """The call's :class:`FeaturePlan`, or None when it uses no gateway feature.

    ``url`` is the cache key's URL (the upstream target, or ``offline:<path>``).

    Usage: ``plan = plan_call(info, "offline:/v1/chat/completions", body)``
    """
    raw = info.raw
    if not any(name.startswith(_FEATURE_PREFIXES) for name in raw):
        return None
    plan = FeaturePlan(url, body, info, cache=cache_settings(raw), retry=retry_settings(raw))
    plan.policy = parse_policy(raw.get("helicone-ratelimit-policy"))
    if plan.policy is not None:
        plan.bucket_key = segment_key(plan.policy, info.user_id, info.properties)
    if plan.cache is None and plan.retry is None and plan.bucket_key is None:
        return None
    return plan
