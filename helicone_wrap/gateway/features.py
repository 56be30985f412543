"""Helicone's gateway feature headers, parsed as Helicone's worker parses them (pure).

* :func:`request_error`: the header problems Helicone answers with a 500 before anything
  is proxied or logged: an invalid ``Helicone-Prompt-Mode``, ``Helicone-Cache-Ignore-Keys``
  that is not JSON (``JSON.parse("[" + value + "]")``), malformed ``Helicone-Fallbacks``
  (``HH``/``RW`` throw, ``index.ts handleError`` answers) and a bucket size over 20
  (``cacheSettings.ts``, even with the cache off);
* :func:`cache_settings` and :func:`cache_key` (``cacheSettings.ts``, ``cacheFunctions.ts``);
* :func:`parse_policy` (``rate-limit/policyParser.ts``) and :func:`segment_key`
  (``segmentExtractor.ts``);
* :func:`retry_settings` (``HH.getRetryHeaders``) and :func:`retry_delays` (``async-retry``,
  which Helicone's ``callProviderWithRetry`` uses with ``randomize`` on).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .asgi import json_bytes
from .headers import js_parse_int

__all__ = [
    "CacheSettings",
    "Policy",
    "RetrySettings",
    "cache_key",
    "cache_settings",
    "format_quota",
    "parse_policy",
    "request_error",
    "retry_delays",
    "retry_settings",
    "segment_key",
]

MAX_BUCKET_SIZE = 20
DEFAULT_CACHE_AGE = 60 * 60 * 24 * 7
MAX_CACHE_AGE = 60 * 60 * 24 * 365
_PROMPT_MODES = ("production", "testing", "deactivated")
_SUPPORT = "Please reach out on our discord or email us at help@helicone.ai, we'd love to help!"


# ----------------------------------------------------------------- errors


def _handle_error(error: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """``worker/src/index.ts handleError``: what a throw while parsing the request becomes."""
    body = {
        "helicone-message": "Helicone ran into an error servicing your request: " + error,
        "support": _SUPPORT,
        "helicone-error": "{}",  # JSON.stringify(new Error(...))
    }
    headers = [(b"content-type", b"application/json;charset=UTF-8"), (b"helicone-error", b"true")]
    return 500, json_bytes(body), headers


def _js_json_error(text: str) -> str | None:
    """V8's message when ``JSON.parse(text)`` fails, or None when it parses."""
    try:
        json.loads(text)
    except ValueError as exc:
        position = getattr(exc, "pos", 0)
        if position >= len(text.rstrip()):
            return "SyntaxError: Unexpected end of JSON input"
        shown = text if len(text) <= 32 else text[: max(0, position - 10)][-10:] + "..."
        token = text[position]
        return f"SyntaxError: Unexpected token '{token}', \"{shown}\" is not valid JSON"
    return None


def _fallbacks_error(value: str) -> str | None:
    """``HH.getFallBacks``: why a ``Helicone-Fallbacks`` value throws, or None."""
    problem = _js_json_error(value)
    if problem is not None:
        return problem
    parsed = json.loads(value)
    if not isinstance(parsed, list):
        return "Error: helicone-fallbacks must be an array"
    for fallback in parsed:
        if not isinstance(fallback, Mapping) or not all(
            fallback.get(k) for k in ("target-url", "headers", "onCodes")
        ):
            return "Error: helicone-fallbacks must have target-url, headers, and onCodes"
        if not isinstance(fallback["target-url"], str):
            return "Error: helicone-fallbacks target-url must be a string"
    return None


def request_error(raw: Mapping[str, str]) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """Helicone's 500 for headers it cannot parse: ``(status, body, headers)``, or None.

    Checked in Helicone's order: prompt mode, ignore keys and fallbacks throw while the
    request is parsed; the bucket size is refused by the cache settings after that.

    Usage: ``request_error({"helicone-prompt-mode": "live"})[0] == 500``
    """
    mode = raw.get("helicone-prompt-mode")
    if mode and mode not in _PROMPT_MODES:
        return _handle_error("Error: Invalid prompt mode")
    keys = raw.get("helicone-cache-ignore-keys")
    if keys is not None:
        problem = _js_json_error("[" + keys + "]")
        if problem is not None:
            return _handle_error(problem)
    fallbacks = raw.get("helicone-fallbacks")
    if fallbacks:
        problem = _fallbacks_error(fallbacks)
        if problem is not None:
            return _handle_error(problem)
    size = js_parse_int(raw.get("helicone-cache-bucket-max-size", "1"))
    if size is not None and size > MAX_BUCKET_SIZE:
        body = f"Cache bucket size cannot be greater than {MAX_BUCKET_SIZE}".encode()
        return 500, body, [(b"content-type", b"text/plain;charset=UTF-8")]
    return None


# ------------------------------------------------------------------ cache


@dataclass(frozen=True)
class CacheSettings:
    """What one request asks of the cache.

    Usage: ``settings = cache_settings(info.raw); settings.read``
    """

    read: bool
    save: bool
    bucket_size: int
    max_age_s: int
    seed: str
    ignore_keys: tuple[str, ...]


def _max_age(cache_control: str) -> int:
    """``buildCacheControl``: ``s-maxage`` wins over ``max-age``; default 7 days, cap 365."""
    found = re.search(r"s-maxage=(\d+)", cache_control) or re.search(r"max-age=(\d+)", cache_control)
    if found is None:
        return DEFAULT_CACHE_AGE
    return min(int(found.group(1)), MAX_CACHE_AGE)


def cache_settings(raw: Mapping[str, str]) -> CacheSettings | None:
    """The request's cache settings, or None when it neither reads nor saves.

    Usage: ``cache_settings({"helicone-cache-enabled": "true"}).read is True``
    """
    enabled = raw.get("helicone-cache-enabled", "").lower() == "true"
    save = enabled or raw.get("helicone-cache-save", "").lower() == "true"
    read = enabled or raw.get("helicone-cache-read", "").lower() == "true"
    if not (save or read):
        return None
    size = js_parse_int(raw.get("helicone-cache-bucket-max-size", "1"))
    keys = raw.get("helicone-cache-ignore-keys")
    ignore: tuple[str, ...] = ()
    if keys is not None:
        parsed = json.loads("[" + keys + "]")  # request_error() vetted it
        ignore = tuple(k for k in parsed if isinstance(k, str))
    return CacheSettings(
        read=read,
        save=save,
        bucket_size=max(1, size if size is not None else 1),
        max_age_s=_max_age(raw.get("cache-control", "")),
        seed=raw.get("helicone-cache-seed", ""),
        ignore_keys=ignore,
    )


def _key_body(body: bytes, ignore_keys: tuple[str, ...]) -> str:
    """``tryGetBodyAndRemoveKeys``: the JSON body without the ignored keys, else the text."""
    text = body.decode("utf-8", "replace")
    if not ignore_keys:
        return text
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if isinstance(obj, dict):
        for key in ignore_keys:
            obj.pop(key, None)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def cache_key(settings: CacheSettings, url: str, body: bytes, raw: Mapping[str, str], index: int) -> str:
    """``kvKeyFromRequest``: hash(seed + url + body + key headers + bucket index).

    The key headers are every ``helicone-cache*`` header, ``helicone-auth`` and
    ``authorization``, sorted by name as a Fetch ``Headers`` iterates them; property and
    session headers are not part of the key. Index 0 adds nothing.

    Usage: ``cache_key(settings, "offline:/v1/chat/completions", body, info.raw, 0)``
    """
    headers = sorted(
        (name, value)
        for name, value in raw.items()
        if name.startswith("helicone-cache") or name in ("helicone-auth", "authorization")
    )
    text = (
        settings.seed
        + url
        + _key_body(body, settings.ignore_keys)
        + json.dumps([list(h) for h in headers], ensure_ascii=False, separators=(",", ":"))
        + (str(index) if index >= 1 else "")
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# ------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class Policy:
    """A parsed ``Helicone-RateLimit-Policy``; ``segment`` is ``None`` (global), ``"user"``
    or a lowercased property name.

    Usage: ``parse_policy("10;w=60;s=user").segment == "user"``
    """

    quota: float
    window_s: int
    unit: str
    segment: str | None

    @property
    def normalized(self) -> str:
        """``buildPolicyString``: what ``Helicone-RateLimit-Policy`` answers."""
        text = f"{format_quota(self.quota)};w={self.window_s}"
        if self.unit != "request":
            text += f";u={self.unit}"
        if self.segment is not None:
            text += f";s={self.segment}"
        return text


_POLICY = re.compile(r"^(\d+(?:\.\d+)?);w=(\d+)(?:;u=(request|cents))?(?:;s=([\w-]+))?$", re.IGNORECASE)


def format_quota(value: float) -> str:
    """A number as JavaScript prints it: ``10`` not ``10.0``.

    Usage: ``format_quota(0.5) == "0.5"``
    """
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_policy(value: str | None) -> Policy | None:
    """``parseRateLimitPolicy``; None when absent or invalid (Helicone fails open).

    Usage: ``parse_policy("100;W=3600;U=CENTS").unit == "cents"``
    """
    if not value or not value.strip():
        return None
    match = _POLICY.match(value.strip())
    if match is None:
        return None
    quota = float(match.group(1))
    window = int(match.group(2))
    if quota <= 0 or not 60 <= window <= 31_536_000:
        return None
    unit = (match.group(3) or "request").lower()
    segment = match.group(4).lower() if match.group(4) else None
    return Policy(quota, window, unit, segment)


def _sanitize_segment(value: str) -> str:
    value = re.sub(r"[\x00-\x1f\x7f]", "", value.replace(":", "_"))
    return value.strip()[:256]


def segment_key(policy: Policy, user_id: str, properties: Mapping[str, str]) -> str | None:
    """The bucket key of ``policy`` for this request, or None when its segment is missing.

    Usage: ``segment_key(parse_policy("5;w=60;s=user"), "alice", {})``
    """
    if policy.segment is None:
        return f"global::{policy.unit}"
    if policy.segment == "user":
        return f"user:{_sanitize_segment(user_id)}:{policy.unit}" if user_id else None
    lowered = {k.lower(): v for k, v in properties.items()}
    value = lowered.get(policy.segment)
    if not value:
        return None
    return f"prop:{policy.segment}:{_sanitize_segment(value)}:{policy.unit}"


# ----------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetrySettings:
    """``HH.getRetryHeaders``; times in milliseconds.

    Usage: ``retry_settings({"helicone-retry-enabled": "false"}).retries == 5``
    """

    retries: int
    factor: float
    min_timeout_ms: int
    max_timeout_ms: int


def _js_parse_float(text: str) -> float | None:
    match = re.match(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text)
    return float(match.group(0)) if match else None


def retry_settings(raw: Mapping[str, str]) -> RetrySettings | None:
    """Retry settings when ``Helicone-Retry-Enabled`` is present (any value), else None.

    Helicone never reads the flag's value, so ``false`` retries too.

    Usage: ``retry_settings({}) is None``
    """
    if "helicone-retry-enabled" not in raw:
        return None
    retries = js_parse_int(raw.get("helicone-retry-num", "5"))
    factor = _js_parse_float(raw.get("helicone-retry-factor", "2"))
    low = js_parse_int(raw.get("helicone-retry-min-timeout", "1000"))
    high = js_parse_int(raw.get("helicone-retry-max-timeout", "10000"))
    return RetrySettings(
        retries=max(0, retries if retries is not None else 0),
        factor=factor if factor is not None else 2.0,
        min_timeout_ms=max(0, low if low is not None else 1000),
        max_timeout_ms=max(0, high if high is not None else 10000),
    )


def retry_delays(settings: RetrySettings, rng: Any = random) -> list[float]:
    """The waits (seconds) before each retry: ``min(rand(1, 2) * min * factor**n, max)``.

    Usage: ``len(retry_delays(RetrySettings(3, 2, 10, 100))) == 3``
    """
    delays = []
    for attempt in range(settings.retries):
        ms = (1 + rng.random()) * settings.min_timeout_ms * settings.factor**attempt
        delays.append(min(round(ms), settings.max_timeout_ms) / 1000)
    return delays
