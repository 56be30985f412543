"""Typed rows for what the Helicone REST API returns: requests, sessions, session counts.

Helicone's JSON shapes vary between endpoints and versions (``model`` vs ``request_model``,
``properties`` vs ``request_properties``, ``cost`` vs ``costUSD``, numbers sent as strings), so
every parser here is tolerant: missing fields become ``None`` (or empty), extra fields are kept
in ``raw``, timestamps become timezone-aware ``datetime`` objects in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .._headers import decode_value

__all__ = ["RequestRow", "SessionCount", "SessionRow", "parse_time"]

SESSION_ID_KEY = "Helicone-Session-Id"
SESSION_PATH_KEY = "Helicone-Session-Path"
SESSION_NAME_KEY = "Helicone-Session-Name"
FEEDBACK_SCORE = "helicone-score-feedback"

_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?"
)


def parse_time(value: object) -> datetime | None:
    """A timezone-aware UTC ``datetime`` from Helicone's timestamp forms, else None.

    Accepts ISO-8601 (``...Z``, ``+02:00``), ClickHouse's ``2024-05-01 12:00:00.123`` (UTC) and
    Unix epochs in seconds or milliseconds. Usage: ``parse_time("2024-05-01T12:00:00Z")``
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    match = _TIME.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone not in ("Z", "z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        parsed = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros, tz
        )
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(number) if number == number and abs(number) != float("inf") else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _first(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items() if v is not None}


def _int_map(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    found: dict[str, int] = {}
    for key, raw in value.items():
        if isinstance(raw, Mapping):  # {"value": 3, "valueType": "number"} in some shapes
            raw = raw.get("value")
        number = 1 if raw is True else 0 if raw is False else _int(raw)
        if number is not None:
            found[str(key)] = number
    return found


def _decoded(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return decode_value(value)
    except (UnicodeDecodeError, ValueError):
        return value


def _lookup(mapping: Mapping[str, str], key: str) -> str | None:
    found = mapping.get(key)
    if found is not None:
        return found
    lowered = key.lower()
    for name, value in mapping.items():
        if name.lower() == lowered:
            return value
    return None


@dataclass(frozen=True)
class RequestRow:
    """One logged request, as ``query-clickhouse`` / ``GET /v1/request/{id}`` return it.

    Field names follow Helicone's ``HeliconeRequest``. ``properties`` and ``scores`` hold what
    Helicone stores (header-set values may be in helicone_wrap's ``utf-8''`` encoded form); the
    ``session_*`` helpers decode them. Usage: ``row.delay_ms``, ``row.session_path``, ``row.feedback``
    """

    request_id: str
    request_created_at: datetime | None = None
    request_path: str | None = None
    request_user_id: str | None = None
    model: str | None = None
    provider: str | None = None
    response_status: int | None = None
    delay_ms: float | None = None
    time_to_first_token: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    scores: Mapping[str, int] = field(default_factory=dict, hash=False)
    target_url: str | None = None
    country_code: str | None = None
    cache_reference_id: str | None = None
    request_body: Any = field(default=None, repr=False, compare=False, hash=False)
    response_body: Any = field(default=None, repr=False, compare=False, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RequestRow:
        """Parse one API object, tolerating missing and extra fields."""
        prompt = _int(data.get("prompt_tokens"))
        completion = _int(data.get("completion_tokens"))
        total = _int(data.get("total_tokens"))
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        return cls(
            request_id=str(_first(data, "request_id", "id") or ""),
            request_created_at=parse_time(_first(data, "request_created_at", "created_at")),
            request_path=_str(data.get("request_path")),
            request_user_id=_str(_first(data, "request_user_id", "user_id")),
            model=_str(_first(data, "model", "request_model", "response_model", "model_override")),
            provider=_str(data.get("provider")),
            response_status=_int(_first(data, "response_status", "status")),
            delay_ms=_float(_first(data, "delay_ms", "latency")),
            time_to_first_token=_float(data.get("time_to_first_token")),
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            cost=_float(_first(data, "cost", "costUSD")),
            properties=_str_map(_first(data, "properties", "request_properties")),
            scores=_int_map(data.get("scores")),
            target_url=_str(data.get("target_url")),
            country_code=_str(data.get("country_code")),
            cache_reference_id=_str(data.get("cache_reference_id")),
            request_body=data.get("request_body"),
            response_body=data.get("response_body"),
            raw=dict(data),
        )

    @property
    def latency_ms(self) -> float | None:
        """Alias of ``delay_ms``: total latency in milliseconds."""
        return self.delay_ms

    @property
    def session_id(self) -> str | None:
        """The ``Helicone-Session-Id`` property (decoded), if any."""
        return _decoded(_lookup(self.properties, SESSION_ID_KEY))

    @property
    def session_path(self) -> str | None:
        """The ``Helicone-Session-Path`` property (decoded), if any."""
        return _decoded(_lookup(self.properties, SESSION_PATH_KEY))

    @property
    def session_name(self) -> str | None:
        """The ``Helicone-Session-Name`` property (decoded), if any."""
        return _decoded(_lookup(self.properties, SESSION_NAME_KEY))

    @property
    def feedback(self) -> bool | None:
        """``True``/``False`` from the ``helicone-score-feedback`` score; ``None`` when unrated."""
        score = self.scores.get(FEEDBACK_SCORE)
        if score is not None:
            return bool(score)
        legacy = self.raw.get("feedback_rating")
        return legacy if isinstance(legacy, bool) else None

    def property(self, key: str) -> str | None:
        """One property's value, decoded from helicone_wrap's header encoding; keys match exactly."""
        return _decoded(self.properties.get(key))


@dataclass(frozen=True)
class SessionRow:
    """One session from ``POST /v1/session/query`` (Helicone groups sessions by id *and* name).

    Usage: ``for s in api.sessions.query(): print(s.session_id, s.session_name, s.total_cost)``
    """

    session_id: str
    session_name: str | None = None
    created_at: datetime | None = None
    latest_request_created_at: datetime | None = None
    total_cost: float | None = None
    total_requests: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    avg_latency: float | None = None
    user_ids: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SessionRow:
        """Parse one API object, tolerating missing and extra fields; the name is decoded."""
        users = data.get("user_ids")
        return cls(
            session_id=str(data.get("session_id") or ""),
            session_name=_decoded(_str(data.get("session_name"))),
            created_at=parse_time(data.get("created_at")),
            latest_request_created_at=parse_time(data.get("latest_request_created_at")),
            total_cost=_float(data.get("total_cost")),
            total_requests=_int(data.get("total_requests")),
            prompt_tokens=_int(data.get("prompt_tokens")),
            completion_tokens=_int(data.get("completion_tokens")),
            total_tokens=_int(data.get("total_tokens")),
            avg_latency=_float(data.get("avg_latency")),
            user_ids=tuple(str(u) for u in users if u is not None) if isinstance(users, (list, tuple)) else (),
            raw=dict(data),
        )


@dataclass(frozen=True)
class SessionCount:
    """Aggregates from ``POST /v1/session/count``.

    Usage: ``api.sessions.count().count``
    """

    count: int = 0
    total_cost: float | None = None
    avg_cost: float | None = None
    avg_latency: float | None = None
    avg_requests: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_api(cls, data: object) -> SessionCount:
        """Parse the count object (a bare number is accepted as the count)."""
        if not isinstance(data, Mapping):
            return cls(count=_int(data) or 0)
        return cls(
            count=_int(data.get("count")) or 0,
            total_cost=_float(data.get("total_cost")),
            avg_cost=_float(data.get("avg_cost")),
            avg_latency=_float(data.get("avg_latency")),
            avg_requests=_float(data.get("avg_requests")),
            raw=dict(data),
        )
