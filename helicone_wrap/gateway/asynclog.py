"""Helicone's async log endpoints: ``POST /oai/v1/log`` (and ``/custom/v1/log``).

A record is what Helicone's manual logger sends (``providerRequest`` url/json/meta,
``providerResponse`` headers/status/json or textBody, ``timing``). It is stored as the same
:class:`~.store.LogRow` a proxied call produces: tokens and cost from the response body, latency
from the timing, time to first token, sessions, properties and user from the ``Helicone-*``
headers (those of ``providerRequest.meta``, overridden by the log POST's own, as Helicone merges
them), so both kinds of call sit side by side in the REST API, ``sessions`` and the demo.

Status codes follow ``worker/src/lib/managers/AsyncLogManager.ts``: ``400 Payload too large``
over 10 MB, ``401 Unauthorized`` without a key, ``400 {"error"}`` for a record that fails
Helicone's checks (``validateAsyncLogModel``, same messages), ``401 {"error"}`` for a wrong key,
``200 ok`` with ``helicone-id`` once stored.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from . import offline
from .asgi import BodyTooLarge, Receive, Scope, Send, json_bytes, read_body, send_bytes
from .headers import parse_helicone_headers
from .state import GatewayState
from .store import LogRow
from .usage import usage_from_body

__all__ = ["AsyncLogEndpoint", "validate_record"]

_TEXT = b"text/plain; charset=utf-8"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clock_ms(clock: Any) -> int:
    return int(clock["seconds"] * 1000 + clock["milliseconds"])


def validate_record(record: object) -> str | None:
    """Why Helicone would refuse ``record`` (its own messages), or None when it passes.

    Usage: ``validate_record({"providerRequest": {}}) is not None``
    """
    if not isinstance(record, dict):
        return "The body must be a JSON object with providerRequest, providerResponse and timing"
    request, response, timing = (record.get(k) for k in ("providerRequest", "providerResponse", "timing"))
    if not request or not response or not timing:
        return "One of the required fields is missing, providerRequest, providerResponse, or timing"
    if not isinstance(request, dict) or not isinstance(response, dict) or not isinstance(timing, dict):
        return "providerRequest, providerResponse and timing must be objects"
    if not isinstance(request.get("url"), str):
        return "Invalid providerRequest: 'url' should be a string"
    if not isinstance(request.get("meta"), dict):
        return "Invalid providerRequest: 'meta' should be an object"
    if "json" not in request:
        return "Invalid providerRequest: 'json' is undefined"
    if "json" not in response:
        return "Invalid providerResponse: 'json' is undefined"
    if not _is_number(response.get("status")):
        return "Invalid providerResponse: 'status' should be a number"
    if not isinstance(response.get("headers"), dict):
        return "Invalid providerResponse: 'headers' should be an object"
    for name in ("startTime", "endTime"):
        clock = timing.get(name)
        for part in ("seconds", "milliseconds"):
            if not isinstance(clock, dict) or not _is_number(clock.get(part)):
                return f"Invalid timing: '{name}.{part}' should be a number"
    start, end = _clock_ms(timing["startTime"]), _clock_ms(timing["endTime"])
    if start > end:
        return "startTime cannot be greater than endTime"
    if start < 0 or end < 0:
        return "startTime and endTime cannot be negative"
    return None


def _auth(headers: list[tuple[bytes, bytes]]) -> str | None:
    found: dict[bytes, str] = {}
    for key, value in headers:
        if key in (b"helicone-auth", b"authorization"):
            found.setdefault(key, value.decode("latin-1").strip())
    return found.get(b"helicone-auth") or found.get(b"authorization")


class AsyncLogEndpoint:
    """The ASGI endpoint that stores async log records.

    Usage: ``Route("/oai/v1/log", AsyncLogEndpoint(state, "OPENAI"), methods=["POST"])``
    """

    def __init__(self, state: GatewayState, provider: str = "OPENAI") -> None:
        self.state = state
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Validate, store and acknowledge one record."""
        try:
            raw = await read_body(scope, receive)
        except BodyTooLarge:
            await send_bytes(send, 400, b"Payload too large", _TEXT)
            return
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            await send_bytes(send, 400, json_bytes({"error": f"The body is not valid JSON: {exc}"}))
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        auth = _auth(headers)
        if not auth:
            await send_bytes(send, 401, b"Unauthorized", _TEXT)
            return
        problem = validate_record(record)
        if problem is not None:
            await send_bytes(send, 400, json_bytes({"error": problem}))
            return
        problem = self.state.auth_error(auth, "Helicone-Auth")
        if problem is not None:
            await send_bytes(send, 401, json_bytes({"error": problem}))
            return
        row = self.row(record, headers)
        self.state.store.log(row)
        await send_bytes(send, 200, b"ok", _TEXT, headers=[(b"helicone-id", row.request_id.encode())])

    def row(self, record: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> LogRow:
        """The stored row for a valid record: the fields a proxied call of it would store."""
        request, response, timing = record["providerRequest"], record["providerResponse"], record["timing"]
        merged: dict[str, str] = {str(k).lower(): str(v) for k, v in request["meta"].items()}
        for key, value in headers:  # the POST's own headers win over meta, as in Helicone
            merged[key.decode("latin-1")] = value.decode("latin-1")
        request_json = request["json"]
        body_user = request_json.get("user") if isinstance(request_json, dict) else None
        info = parse_helicone_headers(list(merged.items()), body_user=body_user)
        url = request["url"]
        path = urlsplit(url).path or url
        start, end = _clock_ms(timing["startTime"]), _clock_ms(timing["endTime"])
        text = response.get("textBody")
        body = text.encode("utf-8") if isinstance(text, str) and text else json_bytes(response["json"])
        model, usage = usage_from_body(body)
        request_model = request_json.get("model") if isinstance(request_json, dict) else None
        ttft = timing.get("timeToFirstToken")
        is_stream = isinstance(request_json, dict) and request_json.get("stream") is True
        row = LogRow(
            request_id=info.request_id,
            created_at=start,
            path=path,
            method="POST",
            status=int(response["status"]),
            response_created_at=end,
            request_model=request_model if isinstance(request_model, str) else None,
            provider="AZURE" if path.startswith("/openai/") else self.provider,
            target_url=url,
            latency_ms=end - start,
            ttft_ms=int(ttft) if _is_number(ttft) and is_stream else None,
            user_id=info.user_id,
            properties=info.properties,
            request_body=None if info.omit_request else json.dumps(request_json, ensure_ascii=False),
            response_body=None if info.omit_response else body.decode("utf-8", "replace"),
        )
        row.model = model or row.request_model
        if usage is not None:
            row.prompt_tokens = usage.prompt_tokens
            row.completion_tokens = usage.completion_tokens
            row.total_tokens = usage.total_tokens
            row.cost = offline.cost_usd(row.model, usage.prompt_tokens, usage.completion_tokens)
        return row
