"""The OpenAI-compatible proxy: forward to ``--upstream`` or answer with the offline model.

One :class:`ProxyEndpoint` per route kind. For each call it reads the body, parses the
Helicone headers (:mod:`.headers`), answers, and hands a :class:`~.store.LogRow` to the
write-behind store just before the response's last byte, so the call is never slowed
down by SQLite and a client that reads the whole answer can enrich it at once.

Upstream answers are relayed unchanged (status, headers, bytes); SSE streams are relayed
chunk by chunk as they arrive. JSON answers are read whole before they are relayed (they
are not streams, and it lets the log row land first). Every answer carries
``helicone-id``, set in the response head before any body byte.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .._http import http
from . import offline
from .accesslog import NOTE_KEY
from .asgi import BodyTooLarge, Receive, Scope, Send, json_bytes, read_body, send_bytes
from .call import ProxyCall
from .features import request_error, retry_delays
from .headers import parse_helicone_headers, upstream_headers
from .plan import RATE_LIMITED_BODY, plan_call
from .state import AUTH_TRACE, GatewayState
from .store import LogRow, now_ms
from .upstream import HOP_BY_HOP, UpstreamPool, target_url

__all__ = ["KINDS", "ProxyEndpoint", "UpstreamPool", "target_url"]

#: Route kinds the proxy knows; ``passthrough`` is any other path (upstream only).
KINDS = ("chat", "completions", "embeddings", "responses", "models", "model", "passthrough")

_SSE = b"text/event-stream"
_JSON_TYPES = (b"application/json",)


class ProxyEndpoint:
    """An ASGI endpoint for one kind of OpenAI route (see :data:`KINDS`).

    Usage: ``Route("/v1/chat/completions", ProxyEndpoint(state, "chat"), methods=["POST"])``
    """

    def __init__(self, state: GatewayState, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown proxy route kind {kind!r}")
        self.state = state
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one call."""
        state = self.state
        call = ProxyCall(self.kind, scope, time.perf_counter())
        created_at = now_ms()
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        try:
            call.body = await read_body(scope, receive)
            too_large = False
        except BodyTooLarge:
            too_large = True
        if call.body[:1] == b"{":
            try:
                decoded = json.loads(call.body)
            except (ValueError, RecursionError):
                decoded = None
            call.json = decoded if isinstance(decoded, dict) else None
        info = parse_helicone_headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers],
            body_user=call.json.get("user") if call.json else None,
        )
        call.info = info
        id_header = [(b"helicone-id", info.request_id.encode())]
        if too_large:
            await _send_openai_error(send, 413, "Request body exceeds the 10 MB limit.", id_header)
            return
        problem = state.auth_error(info.auth, "Helicone-Auth")
        if problem is not None:
            await send_bytes(
                send, 401, json_bytes({"error": problem, "trace": AUTH_TRACE}), headers=id_header
            )
            return
        refused = request_error(info.raw)
        if refused is not None:  # Helicone answers 500 and logs nothing
            status, body, headers = refused
            await send_bytes(send, status, body, headers[0][1], headers[1:])
            return
        request_model = call.json.get("model") if call.json else None
        note = scope.get(NOTE_KEY)
        if note is not None:  # for the access log
            note["model"] = request_model if isinstance(request_model, str) else None
            note["session"] = info.properties.get("Helicone-Session-Id")
        deployment = scope.get("path_params", {}).get("deployment")
        call.log = LogRow(
            request_id=info.request_id.lower(),  # a ClickHouse UUID column: lower case
            created_at=created_at,
            path=call.path,
            method=call.method,
            request_model=request_model if isinstance(request_model, str) else deployment,
            provider="AZURE" if call.path.startswith("/openai/") else "OPENAI",
            user_id=info.user_id,
            properties=info.properties,
            request_body=None if info.omit_request or not call.body else call.body.decode("utf-8", "replace"),
        )
        if state.upstream is not None:
            call.log.target_url = target_url(state.upstream, call.path, scope.get("query_string", b""))
        else:
            call.log.target_url = "offline:" + call.path
        plan = call.plan = plan_call(info, call.log.target_url, call.body)
        if plan is not None:
            hit = plan.lookup(state.store)
            if hit is not None:
                call.log.cache_reference_id = hit.entry.request_id
                call.finish_log(self.state, 200, hit.entry.body, None)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": hit.headers() + id_header}
                )
                await send({"type": "http.response.body", "body": hit.entry.body, "more_body": False})
                return
            decision = plan.check_rate(state.buckets)
            id_header = id_header + plan.response_headers()
            if decision is not None and not decision.allowed:
                call.log.properties = {
                    **call.log.properties,
                    "Helicone-Rate-Limit-Status": "bucket_rate_limited",
                }
                call.finish_log(self.state, 429, RATE_LIMITED_BODY, None)
                limited = [(b"x-helicone-error", b"rate_limited"), *id_header]
                await send_bytes(send, 429, RATE_LIMITED_BODY, b"application/json;charset=UTF-8", limited)
                return
        if state.upstream is not None:
            await self._forward(call, scope, send, id_header)
        else:
            await self._answer_offline(call, scope, send, id_header)

    # ----------------------------------------------------------------- upstream
    async def _forward(
        self, call: ProxyCall, scope: Scope, send: Send, id_header: list[tuple[bytes, bytes]]
    ) -> None:
        state = self.state
        assert state.upstream is not None and call.log is not None
        url = call.log.target_url or ""
        forwarded = upstream_headers(scope["headers"])
        retry = call.plan.retry if call.plan is not None else None
        waits = retry_delays(retry) if retry is not None else []
        while True:
            request = state.client.build_request(
                call.method, url, headers=forwarded, content=call.body or None
            )
            try:
                response, close = await state.client.send(request)
            except http.HTTPError as exc:
                if waits:  # async-retry retries a thrown fetch too
                    await asyncio.sleep(waits.pop(0))
                    continue
                message = f"Upstream {urlsplit(url).netloc} could not be reached: {type(exc).__name__}: {exc}"
                call.finish_log(self.state, 502, json_bytes(_openai_error_body(502, message)), None)
                await _send_openai_error(send, 502, message, id_header)
                return
            if waits and (response.status_code == 429 or response.status_code >= 500):
                await close()  # Helicone retries 429 and 5xx, then relays the last answer
                await asyncio.sleep(waits.pop(0))
                continue
            break
        try:
            headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            call.headers = list(headers)
            headers.extend(id_header)
            content_type = response.headers.get("content-type", "").encode("latin-1").lower()
            status = response.status_code
            if content_type.startswith(_SSE) or not content_type.startswith(_JSON_TYPES):
                await self._relay_stream(call, response, status, headers, send, content_type.startswith(_SSE))
            else:
                try:  # raw bytes: relayed exactly as sent, even if upstream compressed them
                    body = b"".join([chunk async for chunk in response.aiter_raw()])
                except http.HTTPError as exc:
                    message = (
                        f"Upstream {urlsplit(url).netloc} failed mid-response: {type(exc).__name__}: {exc}"
                    )
                    call.finish_log(self.state, 502, json_bytes(_openai_error_body(502, message)), None)
                    await _send_openai_error(send, 502, message, id_header)
                    return
                call.finish_log(self.state, status, body, None)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            await close()

    async def _relay_stream(
        self,
        call: ProxyCall,
        response: Any,
        status: int,
        headers: list[tuple[bytes, bytes]],
        send: Send,
        is_sse: bool,
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        collected: list[bytes] = []
        ttft: float | None = None
        try:
            async for chunk in response.aiter_raw():
                if not chunk:
                    continue
                if ttft is None:
                    ttft = call.elapsed_ms()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                collected.append(chunk)
        except http.HTTPError:
            status = 502 if status < 400 else status
        finally:
            call.finish_log(self.state, status, b"".join(collected), ttft if is_sse else None)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    # ------------------------------------------------------------------ offline
    async def _answer_offline(
        self, call: ProxyCall, scope: Scope, send: Send, id_header: list[tuple[bytes, bytes]]
    ) -> None:
        kind = call.kind
        body = call.json
        rid = id_header[0][1].decode()
        try:
            if kind == "models":
                await self._send_json(call, send, 200, offline.model_list(), None, id_header)
                return
            if kind == "model":
                model_id = scope.get("path_params", {}).get("model", "")
                await self._send_json(call, send, 200, offline.model_object(model_id), None, id_header)
                return
            if kind == "passthrough":
                raise offline.OfflineError(
                    404,
                    f"Unknown path {call.path}: the offline model serves chat/completions, "
                    "completions, embeddings, responses and models.",
                    code="unknown_url",
                )
            if body is None:
                raise offline.OfflineError(
                    400, "We could not parse the JSON body of your request: expected a JSON object."
                )
            if call.log is not None and call.log.request_model is not None and "model" not in body:
                body = {**body, "model": call.log.request_model}  # Azure: the deployment names the model
            stream = body.get("stream") is True
            if kind == "embeddings":
                obj, usage = offline.embeddings(body)
                await self._send_json(call, send, 200, obj, usage, id_header)
            elif kind == "chat" and stream:
                chunks, usage = offline.chat_completion_chunks(body, rid)
                await self._send_sse(
                    call, send, offline.sse_lines(chunks), usage, str(body["model"]), id_header
                )
            elif kind == "chat":
                obj, usage = offline.chat_completion(body, rid)
                await self._send_json(call, send, 200, obj, usage, id_header)
            elif kind == "completions" and stream:
                chunks, usage = offline.completion_chunks(body, rid)
                await self._send_sse(
                    call, send, offline.sse_lines(chunks), usage, str(body["model"]), id_header
                )
            elif kind == "completions":
                obj, usage = offline.completion(body, rid)
                await self._send_json(call, send, 200, obj, usage, id_header)
            elif stream:
                events, usage = offline.response_events(body, rid)
                await self._send_sse(
                    call, send, offline.sse_events(events), usage, str(body["model"]), id_header
                )
            else:
                obj, usage = offline.response(body, rid)
                await self._send_json(call, send, 200, obj, usage, id_header)
        except offline.OfflineError as error:
            extra = [(k.encode(), v.encode()) for k, v in error.headers.items()]
            await self._send_json(call, send, error.status, error.body, None, id_header + extra)

    async def _send_json(
        self,
        call: ProxyCall,
        send: Send,
        status: int,
        obj: Mapping[str, Any],
        usage: offline.Usage | None,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        payload = json_bytes(obj)
        call.headers = [(b"content-type", b"application/json")]
        if usage is not None and status < 400:  # an offline answer: pace it like a model would
            wait = self.state.offline_ttft + self.state.offline_chunk_delay * usage.completion_tokens
            if wait > 0:
                await self._pause(wait)
        call.finish_log(self.state, status, payload, None, usage=usage, model=obj.get("model"))
        await send_bytes(send, status, payload, headers=headers)

    async def _send_sse(
        self,
        call: ProxyCall,
        send: Send,
        events: Iterable[bytes],
        usage: offline.Usage,
        model: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        head = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            *headers,
        ]
        call.headers = head[:2]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        delay = self.state.offline_chunk_delay
        sent: list[bytes] = []
        ttft: float | None = None
        try:
            if self.state.offline_ttft > 0:
                await self._pause(self.state.offline_ttft)
            for event in events:
                if sent and delay > 0:
                    await asyncio.sleep(delay)
                await send({"type": "http.response.body", "body": event, "more_body": True})
                if ttft is None:
                    ttft = call.elapsed_ms()
                sent.append(event)
        finally:
            call.finish_log(self.state, 200, b"".join(sent), ttft, usage=usage, model=model)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pause(self, seconds: float) -> None:
        """The offline model's "thinking" time, cut short when the gateway shuts down."""
        release = self.state.release
        if release is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(release.wait(), seconds)
        except asyncio.TimeoutError:
            pass


# ------------------------------------------------------------------- helpers


def _openai_error_body(status: int, message: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def _send_openai_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    await send_bytes(send, status, json_bytes(_openai_error_body(status, message)), headers=headers)
