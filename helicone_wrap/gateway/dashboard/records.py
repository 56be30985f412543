"""The rows the dashboard shows, built from the gateway's SQLite ``requests`` table.

Rows are read as :class:`sqlite3.Row`, so a column a later schema adds or drops (such as
``cache_reference_id``) never breaks a page: :func:`_get` answers None for a missing one.

Usage: ``RequestItem.from_row(row).session_id``
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SESSION_ID_SQL",
    "SESSION_KEYS",
    "SESSION_NAME_SQL",
    "Bucket",
    "Overview",
    "RequestFilter",
    "RequestItem",
    "SessionItem",
    "custom_properties",
    "json_map",
]

SESSION_ID_SQL = """json_extract(r.properties, '$."Helicone-Session-Id"')"""
SESSION_NAME_SQL = """json_extract(r.properties, '$."Helicone-Session-Name"')"""

#: Properties the gateway fills from Helicone's reserved headers rather than from the user's own.
SESSION_KEYS = ("Helicone-Session-Id", "Helicone-Session-Path", "Helicone-Session-Name", "Helicone-Prompt-Id")


def custom_properties(properties: dict[str, str]) -> dict[str, str]:
    """The user's own properties: every key but the reserved ``Helicone-*`` ones.

    Usage: ``custom_properties({"env": "prod", "Helicone-Session-Id": "s"}) == {"env": "prod"}``
    """
    return {k: v for k, v in properties.items() if not k.startswith("Helicone-")}


def _get(row: sqlite3.Row, name: str) -> Any:
    return row[name] if name in row.keys() else None


def json_map(text: object) -> dict[str, Any]:
    """A JSON object column as a dict ({} when absent or not an object).

    Usage: ``json_map('{"a": "b"}') == {"a": "b"}``
    """
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class RequestItem:
    """One logged request as the dashboard shows it (bodies only when asked for).

    Usage: ``item.session_id, item.latency_ms, item.properties``
    """

    request_id: str
    created_at: int
    model: str
    status: int
    latency_ms: float
    ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float
    user_id: str | None
    path: str
    all_properties: dict[str, str]
    scores: dict[str, int]
    cache_reference_id: str | None
    has_cache_column: bool
    request_body: str | None = None
    response_body: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RequestItem:
        """Build from a ``SELECT * FROM requests`` row."""
        keys = row.keys()
        properties = {str(k): str(v) for k, v in json_map(row["properties"]).items()}
        scores = {str(k): v for k, v in json_map(_get(row, "scores")).items() if isinstance(v, int)}
        return cls(
            request_id=row["request_id"],
            created_at=int(row["created_at"]),
            model=row["model"] or row["request_model"] or "",
            status=int(row["status"]),
            latency_ms=float(row["latency_ms"] or 0),
            ttft_ms=None if row["ttft_ms"] is None else float(row["ttft_ms"]),
            prompt_tokens=int(row["prompt_tokens"] or 0),
            completion_tokens=int(row["completion_tokens"] or 0),
            total_tokens=int(row["total_tokens"] or 0),
            cost=float(row["cost"] or 0),
            user_id=row["user_id"],
            path=row["path"],
            all_properties=properties,
            scores=scores,
            cache_reference_id=_get(row, "cache_reference_id"),
            has_cache_column="cache_reference_id" in keys,
            request_body=_get(row, "request_body"),
            response_body=_get(row, "response_body"),
        )

    @property
    def properties(self) -> dict[str, str]:
        """The user's own properties (no ``Helicone-*`` keys)."""
        return custom_properties(self.all_properties)

    @property
    def session_id(self) -> str | None:
        """``Helicone-Session-Id``, if the call was part of a session."""
        return self.all_properties.get("Helicone-Session-Id")

    @property
    def session_name(self) -> str:
        """``Helicone-Session-Name`` (empty when unnamed)."""
        return self.all_properties.get("Helicone-Session-Name", "")

    @property
    def session_path(self) -> str:
        """``Helicone-Session-Path`` as sent (empty when absent)."""
        return self.all_properties.get("Helicone-Session-Path", "")

    @property
    def ended_at(self) -> float:
        """Epoch milliseconds when the answer was complete (start + latency)."""
        return self.created_at + self.latency_ms


@dataclass(frozen=True)
class RequestFilter:
    """The /requests filters: exact model, status (``200`` or a class like ``4xx``), user,
    session id, and a property key with an optional exact value.

    Usage: ``RequestFilter(status="5xx", prop="env", value="prod").where()``
    """

    model: str = ""
    status: str = ""
    user: str = ""
    session: str = ""
    prop: str = ""
    value: str = ""

    def problem(self) -> str | None:
        """Why the filter cannot run (a bad status), or None."""
        status = self.status.strip().lower()
        if not status:
            return None
        if len(status) == 3 and (status.isdigit() or (status[0] in "12345" and status[1:] == "xx")):
            return None
        return f"status {self.status!r} is not a status code: use e.g. 200, 429 or a class such as 4xx"

    def where(self) -> tuple[str, list[Any]]:
        """An SQL condition on ``requests AS r`` and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if self.model:
            parts.append("COALESCE(r.model, r.request_model) = ?")
            params.append(self.model)
        status = self.status.strip().lower()
        if status and self.problem() is None:
            if status.isdigit():
                parts.append("r.status = ?")
                params.append(int(status))
            else:
                low = int(status[0]) * 100
                parts.append("r.status BETWEEN ? AND ?")
                params += [low, low + 99]
        if self.user:
            parts.append("r.user_id = ?")
            params.append(self.user)
        if self.session:
            parts.append(f"{SESSION_ID_SQL} = ?")
            params.append(self.session)
        if self.prop:
            if self.value:
                parts.append("EXISTS (SELECT 1 FROM json_each(r.properties) WHERE key = ? AND value = ?)")
                params += [self.prop, self.value]
            else:
                parts.append("EXISTS (SELECT 1 FROM json_each(r.properties) WHERE key = ?)")
                params.append(self.prop)
        return (" AND ".join(parts) or "1"), params

    def params(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for links that keep them)."""
        raw = {
            "model": self.model,
            "status": self.status,
            "user": self.user,
            "session": self.session,
            "property": self.prop,
            "value": self.value,
        }
        return {k: v for k, v in raw.items() if v}


@dataclass(frozen=True)
class SessionItem:
    """One session in the /sessions list.

    Usage: ``item.name, item.requests, item.total_cost, item.duration_ms``
    """

    session_id: str
    name: str
    requests: int
    total_cost: float
    started_at: int
    ended_at: float
    last_activity: int
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        """From the first request's start to the last answer's end."""
        return max(0.0, self.ended_at - self.started_at)


@dataclass(frozen=True)
class Bucket:
    """One time slot of the overview charts.

    Usage: ``bucket.requests, bucket.cost, bucket.p50, bucket.p95``
    """

    start: int
    requests: int = 0
    errors: int = 0
    cost: float = 0.0
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class Overview:
    """Totals and per-bucket series for the overview page.

    Usage: ``overview.requests, [b.p95 for b in overview.buckets]``
    """

    buckets: list[Bucket]
    bucket_ms: int
    requests: int
    errors: int
    cost: float
    tokens: int
    sessions: int
    users: int
    p50: float | None
    p95: float | None


