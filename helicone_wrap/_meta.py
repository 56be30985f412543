"""``helicone_meta(result)``: what the Helicone gateway said about one call, read from its headers.

Nothing is parsed on the call path: a wrapped call keeps a reference to the response's headers
object next to the id it attaches (see ``_results.AttachId``), and streams and raw responses
carry their response anyway. :func:`helicone_meta` parses those headers when it is asked, into
a frozen :class:`HeliconeMeta`. A header Helicone did not send, or sent malformed, reads ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from . import _headers
from ._results import ID_ATTR, id_from_response

__all__ = ["HeliconeMeta", "RateLimitMeta", "helicone_meta"]


@dataclass(frozen=True, slots=True)
class RateLimitMeta:
    """The state of the call's ``rate_limit()`` policy, from ``Helicone-RateLimit-*``.

    ``limit`` and ``remaining`` count requests or cents (ints when whole), ``reset_s`` is the
    seconds until the window frees up (Helicone sends it only when above 0), ``policy`` the
    policy as Helicone normalised it.

    Usage: ``if helicone_meta(result).rate_limit.remaining < 5: slow_down()``
    """

    limit: float | None
    remaining: float | None
    reset_s: float | None
    policy: str | None


@dataclass(frozen=True, slots=True)
class HeliconeMeta:
    """What the Helicone gateway reported about one call; see :func:`helicone_meta`.

    - ``id``: the Helicone request id (a cache hit gets a new one);
    - ``cache``: ``"HIT"``, ``"MISS"`` (cache read on, no answer stored) or ``None`` (cache off);
      on a hit, ``bucket_index`` and ``cache_latency_ms`` too;
    - ``rate_limit``: a :class:`RateLimitMeta` when a rate-limit policy applied, else ``None``;
    - ``status``: ``Helicone-Status`` (``"success"``, or ``"failed"`` when a threat was blocked);
    - ``fallback_index``: which of the gateway's fallbacks answered, where it reports one.

    Usage: ``meta = helicone_meta(completion); meta.cache == "HIT"; meta.rate_limit.remaining``
    """

    id: str
    cache: Literal["HIT", "MISS"] | None = None
    bucket_index: int | None = None
    cache_latency_ms: float | None = None
    rate_limit: RateLimitMeta | None = None
    status: str | None = None
    fallback_index: int | None = None


def helicone_meta(result: object) -> HeliconeMeta | None:
    """What Helicone said about the call that produced ``result``, or ``None`` if it carries no id.

    Works on every result shape of a wrapped client: parsed results, streams (as soon as the
    response headers have arrived, before any chunk is read), ``with_raw_response`` responses
    and what their ``.parse()`` returns, ``with_streaming_response`` responses and stream helpers,
    and openai's ``APIStatusError`` (a 429 from ``rate_limit()`` tells its ``rate_limit``).
    A result of an unwrapped client gives ``None``. A result that was pickled keeps its id only.

    Usage::

        with cache():
            completion = client.chat.completions.create(...)
        meta = helicone_meta(completion)
        if meta is not None and meta.cache == "HIT": print("served from cache", meta.cache_latency_ms)
    """
    found = _locate(result, 0)
    if found is None:
        return None
    request_id, headers = found
    if headers is None:
        return HeliconeMeta(request_id)
    return _parse(request_id, headers)


def _locate(result: object, depth: int) -> tuple[str, Any] | None:
    """``(id, response headers or None)``, found the way :func:`request_id` finds the id."""
    data = getattr(result, "__dict__", None)
    if data is None or depth > 4:
        return None
    if ID_ATTR in data:
        handle = getattr(data.get("enrich"), "__self__", None)
        headers = getattr(handle, "headers", None)
        if headers is None:
            inner = _locate_inner(result, data, depth)
            headers = inner[1] if inner is not None else None
        return str(data[ID_ATTR]), headers
    return _locate_inner(result, data, depth)


def _locate_inner(result: object, data: dict[str, Any], depth: int) -> tuple[str, Any] | None:
    for name in ("http_response", "response", "_raw_stream"):
        inner = getattr(result, name, None)
        if inner is None or inner is result:
            continue
        if hasattr(inner, "headers") and hasattr(inner, "request"):
            request_id = id_from_response(inner)
            return (request_id, inner.headers) if request_id else None
        found = _locate(inner, depth + 1)
        if found is not None:
            return found
    return None


def _parse(request_id: str, headers: Any) -> HeliconeMeta:
    def get(name: bytes) -> str | None:
        value = _headers.find_header(headers, name)
        return value.strip() if value is not None else None

    verdict = (get(b"helicone-cache") or "").upper()
    cache: Literal["HIT", "MISS"] | None = "HIT" if verdict == "HIT" else "MISS" if verdict == "MISS" else None
    hit = cache == "HIT"
    policy = get(b"helicone-ratelimit-policy")
    limit = get(b"helicone-ratelimit-limit")
    remaining = get(b"helicone-ratelimit-remaining")
    rate_limit = None
    if policy is not None or limit is not None or remaining is not None:  # a policy applied
        reset = _number(get(b"helicone-ratelimit-reset"))
        rate_limit = RateLimitMeta(_number(limit), _number(remaining), reset, policy or None)
    return HeliconeMeta(
        id=request_id,
        cache=cache,
        bucket_index=_integer(get(b"helicone-cache-bucket-idx")) if hit else None,
        cache_latency_ms=_number(get(b"helicone-cache-latency")) if hit else None,
        rate_limit=rate_limit,
        status=get(b"helicone-status") or None,
        fallback_index=_integer(get(b"helicone-fallback-index")),
    )


def _integer(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _number(text: str | None) -> float | None:
    """A header number: an ``int`` when it is whole (``"10"``), else a float; malformed gives None."""
    whole = _integer(text)
    if whole is not None or text is None:
        return whole
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None
