"""Typed blocks for Helicone's gateway features: cache, retries, rate limits, omit, prompts, ...

Each block is validated and encoded when it is created, so a mistake raises
:class:`HeliconeValidationError` before anything is sent, and a call inside pays only for
appending the block's pre-encoded headers. A block works in the four forms of ``properties()``
(``with``, ``async with``, decorator on functions, coroutines and generators); blocks of
different kinds combine, and an inner block of the same kind replaces the outer one entirely
(``cache(False)`` or ``retries(False)`` switch an outer one off). Given to ``wrap(client, ...)``
they apply to every call of that client, and context blocks of the same kind win over them.

Helicone's defaults are not sent: ``cache()`` alone is ``Helicone-Cache-Enabled: true``. Two
Helicone traps are handled: ignore keys go out JSON-quoted (the unquoted form makes Helicone
answer 500), and retries are switched off by omitting ``Helicone-Retry-Enabled`` (Helicone treats
``false`` as on); ``Helicone-LLM-Security-Advanced`` is likewise sent only when it is on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import timedelta
from types import MappingProxyType
from typing import Literal

from .. import _headers
from .._block import _Block
from .._context import HeliconeContext, _snapshot
from .._exceptions import HeliconeValidationError
from .values import (
    check_count,
    check_flag,
    check_millis,
    check_number,
    check_seconds,
    check_text,
    switched_off,
)

__all__ = ["cache", "llm_security", "moderation", "omit", "posthog", "prompt", "rate_limit", "retries"]

Duration = int | timedelta

_DAY = 86_400
_MAX_CACHE_AGE = 365 * _DAY
_SEVEN_DAYS = timedelta(days=7)
_MIN_WINDOW, _MAX_WINDOW = 60, 31_536_000
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")  # what Helicone's policy regex accepts after s=


def _lowers(*names: str) -> frozenset[bytes]:
    return frozenset(name.lower().encode("ascii") for name in names)


class _Feature(_Block["_Feature"]):
    """One feature's headers, encoded once; entering the block puts them in the context."""

    #: The context key: an inner block of the same kind replaces the outer one.
    kind: str = ""
    #: Every header this kind may send, lowercased: a block masks them all, even when it sends fewer.
    owned: frozenset[bytes] = frozenset()

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self.headers = MappingProxyType(headers)

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        features = MappingProxyType({**parent.features, self.kind: self})
        return _snapshot(parent.session_id, parent.session_name, parent.session_path, parent.properties,
                         parent.user_id, features)

    def _value(self, ctx: HeliconeContext) -> _Feature:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.headers)!r})"


_CACHE_MODES = {"read_write": "Helicone-Cache-Enabled", "read": "Helicone-Cache-Read", "save": "Helicone-Cache-Save"}


class cache(_Feature):
    """Helicone's response cache for every call inside; ``cache(False)`` switches an outer one off.

    - ``max_age``: how long an answer stays cached (int seconds or ``timedelta``; Helicone's
      default 7 days, at most 365 days), sent as ``Cache-Control: max-age=N``;
    - ``bucket_size``: keep up to N different answers (1-20) and serve one at random;
    - ``seed``: a namespace, so different seeds never share answers;
    - ``ignore_keys``: request-body keys left out of the cache key (sent JSON-quoted);
    - ``mode``: ``"read_write"`` (default), ``"read"`` (never save) or ``"save"`` (never read).

    Helicone's cache key hashes the seed, the URL, the body (without ``ignore_keys``), every
    ``Helicone-Cache-*`` header and the ``Helicone-Auth`` and ``Authorization`` keys. So ``mode``,
    ``bucket_size``, ``seed`` and ``ignore_keys`` each give a separate cache (``max_age`` does not:
    ``Cache-Control`` is not in the key), and ``mode="read"`` never hits what ``mode="save"`` or
    the default mode saved: against Helicone as it is, a read-only call always misses. Save and
    read with the same settings. A hit is answered before the rate limiter: it is not counted.

    Usage::

        with cache(max_age=timedelta(hours=1), ignore_keys=["user"]):
            client.chat.completions.create(...)   # helicone_meta(result).cache == "HIT" the 2nd time
    """

    kind = "cache"
    owned = _lowers("Cache-Control", *_CACHE_MODES.values(), "Helicone-Cache-Bucket-Max-Size",
                    "Helicone-Cache-Seed", "Helicone-Cache-Ignore-Keys")

    def __init__(
        self,
        enabled: bool = True,
        /,
        *,
        max_age: Duration = _SEVEN_DAYS,
        bucket_size: int = 1,
        seed: str | None = None,
        ignore_keys: Iterable[str] = (),
        mode: Literal["read_write", "read", "save"] = "read_write",
    ) -> None:
        given: dict[str, tuple[object, object]] = {
            "max_age": (max_age, _SEVEN_DAYS), "bucket_size": (bucket_size, 1), "seed": (seed, None),
            "ignore_keys": (ignore_keys, ()), "mode": (mode, "read_write")}
        headers: dict[str, str] = {}
        if not switched_off(enabled, "cache", given):
            headers = _cache_headers(max_age, bucket_size, seed, ignore_keys, mode)
        super().__init__(headers)


def _cache_headers(max_age: Duration, bucket_size: int, seed: str | None,
                   ignore_keys: Iterable[str], mode: str) -> dict[str, str]:
    if mode not in _CACHE_MODES:
        raise HeliconeValidationError(f"cache mode must be 'read_write', 'read' or 'save', got {mode!r}.")
    headers = {_CACHE_MODES[mode]: "true"}
    age = check_seconds(max_age, "cache max_age")
    if not 0 < age <= _MAX_CACHE_AGE:
        raise HeliconeValidationError(
            f"cache max_age must be between 1 second and 365 days ({_MAX_CACHE_AGE} s), got {age} s; "
            "Helicone caps it at 365 days. To stop caching use cache(False)."
        )
    if age != 7 * _DAY:
        headers["Cache-Control"] = f"max-age={age}"
    if check_count(bucket_size, "cache bucket_size", 1, 20) != 1:
        headers["Helicone-Cache-Bucket-Max-Size"] = str(bucket_size)
    if seed is not None:
        headers["Helicone-Cache-Seed"] = check_text(seed, "cache seed")
    if isinstance(ignore_keys, (str, bytes)):
        raise HeliconeValidationError(
            f"cache ignore_keys must be a list of body keys, got the string {ignore_keys!r}; "
            f"write ignore_keys=[{ignore_keys!r}]."
        )
    if not isinstance(ignore_keys, Iterable):
        raise HeliconeValidationError(f"cache ignore_keys must be a list of body keys, got {ignore_keys!r}.")
    keys = [_headers.check_text(key, "cache ignore key") for key in ignore_keys]
    if any(not key for key in keys):
        raise HeliconeValidationError("cache ignore_keys must not contain an empty key.")
    if keys:
        headers["Helicone-Cache-Ignore-Keys"] = ",".join(json.dumps(key) for key in keys)
    return headers


class retries(_Feature):
    """Let the Helicone gateway retry the provider on 429 and 5xx; ``retries(False)`` switches it off.

    ``attempts`` is the number of retries (Helicone-Retry-Num); the wait grows by ``factor``
    from ``min_timeout`` up to ``max_timeout`` (int seconds or ``timedelta``). Helicone's
    defaults are 5, 2, 1 s and 10 s. Switching off omits the headers: Helicone retries
    whenever ``Helicone-Retry-Enabled`` is present, whatever its value.

    Usage: ``with retries(attempts=3, max_timeout=timedelta(seconds=30)): ...``
    """

    kind = "retries"
    owned = _lowers("Helicone-Retry-Enabled", "Helicone-Retry-Num", "Helicone-Retry-Factor",
                    "Helicone-Retry-Min-Timeout", "Helicone-Retry-Max-Timeout")

    def __init__(
        self,
        enabled: bool = True,
        /,
        *,
        attempts: int = 5,
        factor: float = 2,
        min_timeout: Duration = 1,
        max_timeout: Duration = 10,
    ) -> None:
        given: dict[str, tuple[object, object]] = {
            "attempts": (attempts, 5), "factor": (factor, 2), "min_timeout": (min_timeout, 1),
            "max_timeout": (max_timeout, 10)}
        headers: dict[str, str] = {}
        if not switched_off(enabled, "retries", given):
            headers["Helicone-Retry-Enabled"] = "true"
            if check_count(attempts, "retries attempts", 1) != 5:
                headers["Helicone-Retry-Num"] = str(attempts)
            if (text := check_number(factor, "retries factor")) != "2":
                headers["Helicone-Retry-Factor"] = text
            low = check_millis(min_timeout, "retries min_timeout")
            high = check_millis(max_timeout, "retries max_timeout")
            if low > high:
                raise HeliconeValidationError(
                    f"retries min_timeout ({low} ms) is above max_timeout ({high} ms); raise max_timeout."
                )
            if low != 1000:
                headers["Helicone-Retry-Min-Timeout"] = str(low)
            if high != 10_000:
                headers["Helicone-Retry-Max-Timeout"] = str(high)
        super().__init__(headers)


class rate_limit(_Feature):
    """A Helicone rate-limit policy: ``quota`` per ``window`` (60 s to 365 days).

    ``unit`` counts ``"request"``s or ``"cents"`` of cost; ``segment`` limits per ``"user"``
    (Helicone-User-Id) or per value of a property (its name), instead of globally. Sent as
    ``Helicone-RateLimit-Policy: quota;w=window;u=unit[;s=segment]``.

    Usage: ``with rate_limit(100, window=timedelta(hours=1), segment="user"): ...``
    """

    kind = "rate_limit"
    owned = _lowers("Helicone-RateLimit-Policy")

    def __init__(
        self,
        quota: float,
        *,
        window: Duration = 60,
        unit: Literal["request", "cents"] = "request",
        segment: str | None = None,
    ) -> None:
        policy = f"{check_number(quota, 'rate_limit quota')};w={_window(window)}"
        if unit not in ("request", "cents"):
            raise HeliconeValidationError(f"rate_limit unit must be 'request' or 'cents', got {unit!r}.")
        policy += f";u={unit}"
        if segment is not None:
            name = _headers.check_key(segment, "rate_limit segment")
            if not _SEGMENT.fullmatch(name):
                raise HeliconeValidationError(
                    f"rate_limit segment {segment!r} must use letters, digits, '_' and '-' only "
                    "(Helicone's policy parser rejects anything else and the limit would not apply)."
                )
            policy += f";s={name.lower()}"
        super().__init__({"Helicone-RateLimit-Policy": policy})


def _window(window: object) -> int:
    seconds = check_seconds(window, "rate_limit window")
    if not _MIN_WINDOW <= seconds <= _MAX_WINDOW:
        raise HeliconeValidationError(
            f"rate_limit window must be between {_MIN_WINDOW} and {_MAX_WINDOW} seconds (365 days), "
            f"got {seconds}; e.g. window=60 or window=timedelta(hours=1)."
        )
    return seconds


class omit(_Feature):
    """Keep the request and/or response body out of Helicone's logs (the call is still proxied).

    An inner ``omit()`` with nothing set switches an outer one off.
    Usage: ``with omit(request=True): client.chat.completions.create(...)``
    """

    kind = "omit"
    owned = _lowers("Helicone-Omit-Request", "Helicone-Omit-Response")

    def __init__(self, *, request: bool = False, response: bool = False) -> None:
        headers: dict[str, str] = {}
        if check_flag(request, "omit request"):
            headers["Helicone-Omit-Request"] = "true"
        if check_flag(response, "omit response"):
            headers["Helicone-Omit-Response"] = "true"
        super().__init__(headers)


class prompt(_Feature):
    """Tag calls with a Helicone prompt id (``Helicone-Prompt-Id``), and optionally its version.

    Usage: ``with prompt("course-outline", version=2): ...``
    """

    kind = "prompt"
    owned = _lowers("Helicone-Prompt-Id", "Helicone-Prompt-Version")

    def __init__(self, id: str, *, version: str | int | None = None) -> None:
        headers = {"Helicone-Prompt-Id": check_text(id, "prompt id")}
        if version is not None:
            if isinstance(version, int) and not isinstance(version, bool):
                version = str(version)
            headers["Helicone-Prompt-Version"] = check_text(version, "prompt version")
        super().__init__(headers)


class moderation(_Feature):
    """OpenAI moderation of the last user message before the call (Helicone-Moderations-Enabled).

    A flagged prompt gets a 400 from Helicone. ``moderation(False)`` switches an outer one off.
    Usage: ``with moderation(): client.chat.completions.create(...)``
    """

    kind = "moderation"
    owned = _lowers("Helicone-Moderations-Enabled")

    def __init__(self, enabled: bool = True, /) -> None:
        on = check_flag(enabled, "moderation()'s switch")
        super().__init__({"Helicone-Moderations-Enabled": "true"} if on else {})


class llm_security(_Feature):
    """Helicone's prompt-threat detection; ``advanced=True`` uses Llama Guard.

    ``llm_security(False)`` switches an outer one off.
    Usage: ``with llm_security(advanced=True): ...``
    """

    kind = "llm_security"
    owned = _lowers("Helicone-LLM-Security-Enabled", "Helicone-LLM-Security-Advanced")

    def __init__(self, enabled: bool = True, /, *, advanced: bool = False) -> None:
        headers: dict[str, str] = {}
        if check_flag(enabled, "llm_security()'s switch"):
            headers["Helicone-LLM-Security-Enabled"] = "true"
            if check_flag(advanced, "llm_security advanced"):  # any value at all turns it on
                headers["Helicone-LLM-Security-Advanced"] = "true"
        elif check_flag(advanced, "llm_security advanced"):
            raise HeliconeValidationError("llm_security(False, advanced=True) contradicts itself; drop one.")
        super().__init__(headers)


class posthog(_Feature):
    """Export each call's event to PostHog with your project ``key`` (and self-hosted ``host``).

    Usage: ``with posthog("phc_...", host="https://eu.posthog.com"): ...``
    """

    kind = "posthog"
    owned = _lowers("Helicone-Posthog-Key", "Helicone-Posthog-Host")

    def __init__(self, key: str, host: str | None = None) -> None:
        headers = {"Helicone-Posthog-Key": check_text(key, "posthog key")}
        if host is not None:
            headers["Helicone-Posthog-Host"] = check_text(host, "posthog host")
        super().__init__(headers)


FeatureBlock = _Feature
