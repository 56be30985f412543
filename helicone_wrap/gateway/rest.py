"""Helicone's REST API subset (HELICONE.md §4): paths, bodies, envelopes, status codes.

Success bodies are ``{"data": ..., "error": null}``. As in Helicone, domain errors
(unknown request, bad limit, float score, ...) are ``500 {"data": null, "error": msg}``
and writes answer ``201``; schema errors are tsoa's
``422 {"message": "Validation Failed", "details": {field: {"message": ...}}}``.
Two choices of ours, where Helicone would crash or is not observable:

* malformed JSON answers ``400`` and an invalid filter or sort answers ``400``, both
  with the envelope and a message naming the bad node (``filter.left...``);
* feedback for a request that is not (yet) visible answers ``500 "Request not found"``
  like property and score do. Helicone enqueues feedback without checking, but a local
  gateway that silently dropped it would hide bugs; clients already retry this answer.

Every read first waits for the write-behind queue (:meth:`Store.aflush`), so a client
reads its own writes; ``--ingest-delay`` then hides rows younger than the delay.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .asgi import MAX_BODY_BYTES, json_bytes
from .faults import Fault
from .sql import Compiled, FilterError, compile_filter, compile_sort, filter_list_to_tree
from .state import AUTH_TRACE, GatewayState

__all__ = ["RestApi", "validation_failed"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_INT64 = 2**63 - 1
_NOT_FOUND = "Request not found"
_TOO_MANY = "Too many requests, please try again later."

Handler = Callable[["RestApi", Request], Awaitable[Response]]


class _Reply(Exception):
    """Stop a handler and answer ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _json(status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json_bytes(data), status_code=status, media_type="application/json", headers=headers)


def _ok(status: int, data: object) -> Response:
    return _json(status, {"data": data, "error": None})


def _err(status: int, message: str) -> Response:
    return _json(status, {"data": None, "error": message})


def validation_failed(field: str, message: str, value: object = None) -> Response:
    """tsoa's ``422 Validation Failed`` body for one bad field (``requestBody.key`` ...).

    Usage: ``return validation_failed("requestBody.key", "'key' is required")``
    """
    detail: dict[str, Any] = {"message": message}
    if value is not None:
        detail["value"] = value
    return _json(422, {"message": "Validation Failed", "details": {field: detail}})


def _endpoint(handler: Handler) -> Callable[[RestApi, Request], Awaitable[Response]]:
    """Turn early :class:`_Reply` exits and filter errors into responses."""

    @functools.wraps(handler)
    async def wrapper(self: RestApi, request: Request) -> Response:
        try:
            problem = self.state.auth_error(request.headers.get("authorization"), "Authorization")
            if problem is not None:
                return _json(401, {"error": problem, "trace": AUTH_TRACE})
            return await handler(self, request)
        except _Reply as reply:
            return reply.response
        except FilterError as error:
            return _err(400, f"Invalid {error.path.split('.', 1)[0]}: {error}")
        except sqlite3.Error as error:
            return _err(500, f"Database error: {error}")

    return wrapper


# ----------------------------------------------------------------- validation


def _field(
    body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], label: str, required: bool
) -> Any:
    if name not in body or body[name] is None:
        if required:
            raise _Reply(validation_failed(f"requestBody.{name}", f"'{name}' is required"))
        return None
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise _Reply(validation_failed(f"requestBody.{name}", f"invalid {label} value", value))
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _int_field(body: Mapping[str, Any], name: str, default: int) -> int:
    value = _field(body, name, int, "integer", False)
    return default if value is None else int(value)


class RestApi:
    """Starlette endpoints for the REST subset, bound to one :class:`GatewayState`.

    Usage: ``Route("/v1/request/{request_id}/property", RestApi(state).put_property, methods=["PUT"])``
    """

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    # ------------------------------------------------------------------ helpers
    async def _body(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _Reply(_err(413, "Request body exceeds the 10 MB limit"))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Reply(_err(413, "Request body exceeds the 10 MB limit"))
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise _Reply(validation_failed("requestBody", "a JSON object body is required"))
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise _Reply(_err(400, f"Malformed JSON body: {exc}")) from None
        if not isinstance(body, dict):
            raise _Reply(validation_failed("requestBody", "expected a JSON object", body))
        return body

    async def _fault(self, endpoint: str, request_id: str, key: str) -> None:
        injector = self.state.faults
        if not injector.active:
            return
        fault = injector.decide(endpoint, request_id, key)
        if fault is Fault.NONE:
            return
        if fault is Fault.NOT_FOUND:
            raise _Reply(_err(500, _NOT_FOUND))
        if fault is Fault.ERROR:
            raise _Reply(_err(500, "Internal server error (injected fault)"))
        if fault is Fault.RATE_LIMIT:
            seconds = injector.plan.retry_after
            text = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
            raise _Reply(_json(429, {"error": _TOO_MANY}, headers={"Retry-After": text}))
        release = self.state.release
        if release is not None:
            await release.wait()
        raise _Reply(_err(503, "Gateway shutting down"))

    # ------------------------------------------------------------------- writes
    @_endpoint
    async def put_property(self, request: Request) -> Response:
        """``PUT /v1/request/{id}/property`` with ``{"key", "value"}`` -> 201."""
        request_id = request.path_params["request_id"]
        body = await self._body(request)
        key = _field(body, "key", str, "string", True)
        value = _field(body, "value", str, "string", True)
        await self._fault("property", request_id, key)
        if not await self.state.store.add_property(request_id, key, value):
            return _err(500, _NOT_FOUND)
        return _ok(201, None)

    @_endpoint
    async def post_feedback(self, request: Request) -> Response:
        """``POST /v1/request/{id}/feedback`` with ``{"rating": bool}`` -> 201."""
        request_id = request.path_params["request_id"]
        body = await self._body(request)
        if not _UUID.match(request_id):
            return _err(500, "Invalid requestId: must be a valid UUID")
        rating = body.get("rating")
        if not isinstance(rating, bool):
            return _err(500, "Invalid rating format. Expected a boolean.")
        await self._fault("feedback", request_id, "feedback")
        found = await self.state.store.add_scores(
            request_id, {"helicone-score-feedback": int(rating)}, feedback=True
        )
        return _ok(201, None) if found else _err(500, _NOT_FOUND)

    @_endpoint
    async def post_score(self, request: Request) -> Response:
        """``POST /v1/request/{id}/score`` with ``{"scores": {name: int | bool}}`` -> 201."""
        request_id = request.path_params["request_id"]
        body = await self._body(request)
        raw = _field(body, "scores", dict, "object", True)
        scores: dict[str, int] = {}
        for name, value in raw.items():
            if isinstance(value, bool):
                scores[f"{name}-hcone-bool"] = int(value)
            elif isinstance(value, int):
                if abs(value) > _INT64:
                    return _err(500, f"Invalid score value for {name!r}: {value} is out of the Int64 range")
                scores[name] = value
            elif isinstance(value, float):
                return _err(
                    500, f"Invalid score value for {name!r}: {value!r}. Scores must be integers or booleans."
                )
            else:
                return validation_failed(
                    f"requestBody.scores.{name}", "invalid number or boolean value", value
                )
        await self._fault("score", request_id, ",".join(sorted(scores)))
        if not await self.state.store.add_scores(request_id, scores):
            return _err(500, _NOT_FOUND)
        return _ok(201, None)

    # -------------------------------------------------------------------- reads
    @_endpoint
    async def get_request(self, request: Request) -> Response:
        """``GET /v1/request/{id}?includeBody=true`` -> 200, data null when unknown."""
        store = self.state.store
        include_body = request.query_params.get("includeBody", "false").lower() == "true"
        await store.aflush()
        row = await run_in_threadpool(
            store.get_request, request.path_params["request_id"], include_body, True, False
        )
        return _ok(200, row)

    @_endpoint
    async def query_requests(self, request: Request) -> Response:
        """``POST /v1/request/query-clickhouse`` -> 201 with a list of HeliconeRequest."""
        body = await self._body(request)
        if "filter" not in body:
            return validation_failed("requestBody.filter", "'filter' is required")
        limit = _int_field(body, "limit", 10)
        offset = _int_field(body, "offset", 0)
        if not 0 <= limit <= 1000:
            return _err(500, "invalid limit")
        if not 0 <= offset <= _INT64:
            return _err(500, "invalid offset")
        include_inputs = body.get("includeInputs") is True
        where = compile_filter(body["filter"], "requests")
        if body.get("isCached") is True:  # only cache hits, as Helicone's isCached does
            where = Compiled(f"({where.sql}) AND r.cache_reference_id IS NOT NULL", where.params)
        order = compile_sort(body.get("sort"))
        store = self.state.store
        await store.aflush()
        rows = await run_in_threadpool(
            store.query_requests, where, order, limit, offset, include_inputs, True
        )
        return _ok(201, rows)

    @_endpoint
    async def count_requests(self, request: Request) -> Response:
        """``POST /v1/request/count/query`` with ``{filter}`` -> 201 ``{data: int}``."""
        body = await self._body(request)
        if "filter" not in body:
            return validation_failed("requestBody.filter", "'filter' is required")
        where = compile_filter(body["filter"], "requests")
        store = self.state.store
        await store.aflush()
        return _ok(201, await run_in_threadpool(store.count_requests, where, True, False))

    def _session_filters(self, body: Mapping[str, Any]) -> tuple[Any, int]:
        """The combined FilterNode of a session query body, and its timezone difference.

        ``search``, ``timeFilter``, ``timezoneDifference`` and ``filter`` are required, as in
        Helicone's ``SessionQueryParams``: a body that works here works against Helicone too.
        """
        search = _field(body, "search", str, "string", True)
        name_equals = _field(body, "nameEquals", str, "string", False)
        tz = _field(body, "timezoneDifference", (int, float), "number", True)
        if not -1440 <= tz <= 1440:
            raise _Reply(_err(500, "Invalid timezone difference"))
        nodes: list[Any] = []
        time_filter = _field(body, "timeFilter", dict, "object", True)
        for name, operator in (("startTimeUnixMs", "gt"), ("endTimeUnixMs", "lt")):
            value = time_filter.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise _Reply(
                    validation_failed(f"requestBody.timeFilter.{name}", "invalid number value", value)
                )
            nodes.append({"request_response_rmt": {"request_created_at": {operator: value}}})
        if body.get("filter") is None:
            raise _Reply(validation_failed("requestBody.filter", "'filter' is required"))
        user_filter = body["filter"]
        compile_filter(user_filter, "session_where")  # report errors with the caller's own paths
        nodes.append(user_filter)
        if name_equals:
            nodes.append(
                {"request_response_rmt": {"properties": {"Helicone-Session-Name": {"equals": name_equals}}}}
            )
        if search:
            pattern = f"%{search}%"
            nodes.append(
                filter_list_to_tree(
                    [
                        {"request_response_rmt": {"properties": {"Helicone-Session-Id": {"ilike": pattern}}}},
                        {
                            "request_response_rmt": {
                                "properties": {"Helicone-Session-Name": {"ilike": pattern}}
                            }
                        },
                    ],
                    "or",
                )
            )
        return filter_list_to_tree(nodes, "and"), int(tz)

    @_endpoint
    async def query_sessions(self, request: Request) -> Response:
        """``POST /v1/session/query`` -> 200 with session rows, newest first."""
        body = await self._body(request)
        tree, tz = self._session_filters(body)
        limit = min(max(_int_field(body, "limit", 50), 0), 1000)
        offset = min(max(_int_field(body, "offset", 0), 0), _INT64)
        where = compile_filter(tree, "session_where")
        having = compile_filter(tree, "session_having")
        store = self.state.store
        await store.aflush()
        rows = await run_in_threadpool(store.query_sessions, where, having, limit, offset, tz)
        return _ok(200, rows)

    @_endpoint
    async def count_sessions(self, request: Request) -> Response:
        """``POST /v1/session/count`` -> 200 ``{count, total_cost, avg_cost, avg_latency, avg_requests}``."""
        body = await self._body(request)
        tree, _ = self._session_filters(body)
        where = compile_filter(tree, "session_where")
        having = compile_filter(tree, "session_having")
        store = self.state.store
        await store.aflush()
        return _ok(200, await run_in_threadpool(store.count_sessions, where, having))
