"""A request's shapes: the :class:`LogRow` written in and the HeliconeRequest dict read out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REQUEST_FIELDS", "LogRow", "heliconerequest", "iso_ms", "now_ms"]

#: The ``requests`` columns (alias ``r``) that :func:`heliconerequest` reads, in order.
REQUEST_FIELDS = (
    "r.request_id, r.created_at, r.response_created_at, r.path, r.status, r.request_model, r.model, "
    "r.provider, r.target_url, r.latency_ms, r.ttft_ms, r.prompt_tokens, r.completion_tokens, "
    "r.total_tokens, r.cost, r.user_id, r.properties, r.scores, r.cache_reference_id"
)


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch.

    Usage: ``created_at = now_ms()``
    """
    return time.time_ns() // 1_000_000


def iso_ms(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z`` for epoch milliseconds (None stays None).

    Usage: ``iso_ms(0) == "1970-01-01T00:00:00.000Z"``
    """
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass
class LogRow:
    """One proxied call, as the proxy hands it to the write-behind queue.

    Usage: ``store.log(LogRow(request_id=rid, created_at=now_ms(), path="/v1/chat/completions", ...))``
    """

    request_id: str
    created_at: int
    path: str
    method: str = "POST"
    status: int = 200
    response_created_at: int | None = None
    request_model: str | None = None
    model: str | None = None
    provider: str = "OPENAI"
    target_url: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    user_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    response_body: str | None = None
    #: A cache hit's original request id (Helicone's ``cache_reference_id``).
    cache_reference_id: str | None = None
    logged_at: int = 0


def heliconerequest(row: tuple[Any, ...], include_body: bool) -> dict[str, Any]:
    """A ``requests`` row read with :data:`REQUEST_FIELDS` (and the bodies) as a HeliconeRequest dict.

    Usage: ``heliconerequest(cursor.fetchone(), include_body=False)``
    """
    properties = json.loads(row[16])
    scores = json.loads(row[17])
    request_body: Any = None
    response_body: Any = None
    if include_body:
        request_body = _maybe_json(row[19])
        response_body = _maybe_json(row[20])
    return {
        "request_id": row[0],
        "request_created_at": iso_ms(row[1]),
        "request_path": row[3],
        "request_user_id": row[15],
        "request_model": row[5],
        "response_model": row[6],
        "model": row[6] or row[5],
        "provider": row[7],
        "target_url": row[8],
        "response_status": row[4],
        "response_created_at": iso_ms(row[2]),
        "delay_ms": row[9],
        "time_to_first_token": row[10],
        "prompt_tokens": row[11],
        "completion_tokens": row[12],
        "total_tokens": row[13],
        "cost": row[14],
        "properties": properties,
        "request_properties": dict(properties),
        "scores": scores,
        "cache_reference_id": row[18],
        "request_body": request_body,
        "response_body": response_body,
    }


def _maybe_json(text: str | None) -> Any:
    """A stored body: parsed JSON when it is JSON, else the text (e.g. an SSE stream)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
