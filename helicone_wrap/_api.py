"""The Helicone REST API, typed: ``HeliconeAPI`` and ``AsyncHeliconeAPI`` side by side.

Everything that needs no I/O is a plain function shared by both twins (and by the background
delivery worker): argument checks, request builders returning an :class:`ApiRequest`
(method, path, body), and :func:`parse_response`, which unwraps Helicone's
``{"data": ..., "error": ...}`` envelope or raises the matching error::

    HeliconeAPIError(status, message)   any error answer
    HeliconeRequestNotFound             500 "Request not found" (ingestion lag)
    HeliconeAuthError                   401 / 403
    HeliconeRateLimitError              429 (retry_after from Retry-After / RateLimit-Reset)
    HeliconeConnectionError             no answer: refused, reset, timed out

Our REST calls are built here from scratch: they carry ``Authorization: Bearer <key>`` and
nothing from the session/properties context, and never pass through a wrapped OpenAI client.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from . import _headers
from ._config import Target, is_cloud_host
from ._exceptions import (
    HeliconeAPIError,
    HeliconeAuthError,
    HeliconeConfigError,
    HeliconeConnectionError,
    HeliconeRateLimitError,
    HeliconeRequestNotFound,
    HeliconeValidationError,
)
from ._filters import F, FilterLike, compile_filter
from ._http import http
from ._rows import RequestRow, SessionCount, SessionRow
from ._sessiontree import SessionTree, build_tree
from ._version import __version__

__all__ = ["ApiRequest", "AsyncHeliconeAPI", "HeliconeAPI", "parse_response"]

USER_AGENT = f"helicone-wrap/{__version__}"
NOT_FOUND_TEXT = "Request not found"
MAX_LIMIT = 1000
TREE_CAP = 10_000
INT64 = 2**63

KIND_PROPERTY = "property"
KIND_FEEDBACK = "feedback"
KIND_SCORE = "score"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SORT_KEYS = frozenset(
    "created_at latency time_to_first_token total_tokens completion_tokens prompt_tokens user_id "
    "body_model is_cached request_prompt response_text cost random".split()
)


@dataclass(frozen=True)
class ApiRequest:
    """One REST call, before any I/O: method, path (under the API root), JSON body, query params."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] | None = None


# -- argument checks (raise HeliconeValidationError before anything is sent or queued) ------------


def check_request_id(request_id: object) -> str:
    """A Helicone request id is a UUID; anything else cannot name a logged request."""
    if not isinstance(request_id, str) or not _UUID.fullmatch(request_id):
        raise HeliconeValidationError(
            f"request id must be a Helicone request id (a UUID such as '3f0c2a9e-...'), got {request_id!r}. "
            "Take it from result.helicone_id or helicone_wrap.request_id(result)."
        )
    return request_id


def check_rating(rating: object) -> bool:
    """Feedback is ``True`` or ``False``; Helicone cannot store or clear anything else."""
    if not isinstance(rating, bool):
        raise HeliconeValidationError(
            f"feedback rating must be True or False, got {rating!r}. Helicone has no way to clear a rating "
            "(null is rejected, Helicone/helicone#1578); to change one, send the other boolean."
        )
    return rating


def check_property(key: object, value: object) -> tuple[str, str]:
    """``(key, value)`` as Helicone should store them (see :func:`helicone_wrap.enrich`).

    Keys must be HTTP tokens and are lowercased (unless they start with ``Helicone-``) so they land
    on the same key as header-set properties; ``int``/``float``/``bool`` values go through ``str()``.
    """
    canonical = _headers.property_key(key)
    text = _headers.property_value(value, canonical)
    if "\x00" in text:
        raise HeliconeValidationError(
            f"property {canonical!r} contains a NUL character at index {text.index(chr(0))}; remove it."
        )
    return canonical, text


def check_scores(scores: Mapping[str, object]) -> dict[str, int | bool]:
    """Scores are ``{name: int | bool}``; Helicone rejects floats (and stores int64)."""
    if not isinstance(scores, Mapping):
        raise HeliconeValidationError(f"scores must be a mapping of name -> int | bool, got {scores!r}.")
    checked: dict[str, int | bool] = {}
    for name, value in scores.items():
        if not isinstance(name, str) or not name or "\x00" in name:
            raise HeliconeValidationError(f"a score name must be a non-empty str without NUL, got {name!r}.")
        if isinstance(value, float):
            raise HeliconeValidationError(
                f"score {name!r} is the float {value!r}; Helicone rejects floats. Round or scale it to an int, "
                f"e.g. {name}=round({value!r} * 100)."
            )
        if not isinstance(value, int):
            raise HeliconeValidationError(
                f"score {name!r} must be an int or a bool, got {type(value).__name__} {value!r}."
            )
        if not isinstance(value, bool) and not -INT64 <= value < INT64:
            raise HeliconeValidationError(f"score {name!r} = {value} does not fit Helicone's 64-bit integers.")
        checked[name] = value
    return checked


def _check_page(limit: object, offset: object) -> tuple[int, int]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise HeliconeValidationError(f"limit must be an int from 0 to {MAX_LIMIT} (Helicone's cap), got {limit!r}.")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise HeliconeValidationError(f"offset must be an int >= 0, got {offset!r}.")
    return limit, offset


def sort_spec(sort: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    """``"-created_at"`` -> ``{"created_at": "desc"}``; a mapping passes through; None is newest first."""
    if sort is None:
        return {"created_at": "desc"}
    if isinstance(sort, Mapping):
        return sort
    if isinstance(sort, str):
        key = sort.lstrip("+-")
        if key not in _SORT_KEYS:
            raise HeliconeValidationError(
                f"cannot sort by {sort!r}; use one of {', '.join(sorted(_SORT_KEYS))} "
                "(prefix '-' for descending), or pass Helicone's sort dict."
            )
        return {key: "desc" if sort.startswith("-") else "asc"}
    raise HeliconeValidationError(f"sort must be a str such as '-created_at' or a dict, got {sort!r}.")


# -- request builders ------------------------------------------------------------------------------


def build_write(kind: str, request_id: str, body: Any) -> ApiRequest:
    """The REST call for a write operation: ``property`` (PUT), ``feedback`` or ``score`` (POST)."""
    if kind == KIND_PROPERTY:
        return ApiRequest("PUT", f"/v1/request/{request_id}/property", body)
    if kind in (KIND_FEEDBACK, KIND_SCORE):
        return ApiRequest("POST", f"/v1/request/{request_id}/{kind}", body)
    raise ValueError(f"unknown operation kind {kind!r}")


def build_add_property(request_id: str, key: str, value: object) -> ApiRequest:
    """``PUT /v1/request/{id}/property {"key", "value"}``: one property per call."""
    key, text = check_property(key, value)
    return build_write(KIND_PROPERTY, check_request_id(request_id), {"key": key, "value": text})


def build_feedback(request_id: str, rating: bool) -> ApiRequest:
    """``POST /v1/request/{id}/feedback {"rating": bool}``."""
    return build_write(KIND_FEEDBACK, check_request_id(request_id), {"rating": check_rating(rating)})


def build_score(request_id: str, scores: Mapping[str, object]) -> ApiRequest:
    """``POST /v1/request/{id}/score {"scores": {name: int | bool}}``."""
    return build_write(KIND_SCORE, check_request_id(request_id), {"scores": check_scores(scores)})


def build_get(request_id: str, include_body: bool = False) -> ApiRequest:
    """``GET /v1/request/{id}?includeBody=...`` (without bodies Helicone caches the answer ~24 h)."""
    params = {"includeBody": "true" if include_body else "false"}
    return ApiRequest("GET", f"/v1/request/{check_request_id(request_id)}", None, params)


def build_query(
    filter: FilterLike = None, limit: int = 100, offset: int = 0, sort: Mapping[str, Any] | str | None = None
) -> ApiRequest:
    """``POST /v1/request/query-clickhouse {filter, offset, limit, sort}``."""
    limit, offset = _check_page(limit, offset)
    body = {"filter": compile_filter(filter), "offset": offset, "limit": limit, "sort": sort_spec(sort)}
    return ApiRequest("POST", "/v1/request/query-clickhouse", body)


def build_count(filter: FilterLike = None) -> ApiRequest:
    """``POST /v1/request/count/query {filter}``."""
    return ApiRequest("POST", "/v1/request/count/query", {"filter": compile_filter(filter)})


def local_timezone_difference(at: datetime | None = None) -> int:
    """Minutes to add to local time to get UTC, as JavaScript's ``getTimezoneOffset()`` (UTC+2 -> -120)."""
    offset = (at or datetime.now()).astimezone().utcoffset() or timedelta(0)
    return -int(offset.total_seconds() // 60)


def _unix_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)  # naive datetimes are local time, as everywhere in Python


def session_body(
    search: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    name: str | None = None,
    filter: FilterLike = None,
    timezone_difference: int | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The body shared by ``/v1/session/query`` and ``/v1/session/count`` (default window: last 30 days)."""
    if not isinstance(search, str):
        raise HeliconeValidationError(f"search must be a str, got {search!r}.")
    now = now or datetime.now(timezone.utc)
    end = end or now
    start = start or end - timedelta(days=30)
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise HeliconeValidationError("start and end must be datetime objects (naive ones are local time).")
    if _unix_ms(start) >= _unix_ms(end):
        raise HeliconeValidationError(f"start ({start.isoformat()}) must be before end ({end.isoformat()}).")
    tz = local_timezone_difference(now) if timezone_difference is None else timezone_difference
    if isinstance(tz, bool) or not isinstance(tz, int) or not -1440 <= tz <= 1440:
        raise HeliconeValidationError(f"timezone_difference must be minutes from -1440 to 1440, got {tz!r}.")
    body: dict[str, Any] = {
        "search": search,
        "timeFilter": {"startTimeUnixMs": _unix_ms(start), "endTimeUnixMs": _unix_ms(end)},
        "timezoneDifference": tz,
        "filter": compile_filter(filter),
    }
    if name is not None:
        if not isinstance(name, str):
            raise HeliconeValidationError(f"name must be a str, got {name!r}.")
        body["nameEquals"] = name
    return body


def build_session_query(
    search: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    name: str | None = None,
    filter: FilterLike = None,
    limit: int = 50,
    offset: int = 0,
    timezone_difference: int | None = None,
    *,
    now: datetime | None = None,
) -> ApiRequest:
    """``POST /v1/session/query`` with exactly the body Helicone documents."""
    limit, offset = _check_page(limit, offset)
    body = session_body(search, start, end, name, filter, timezone_difference, now=now)
    body.update(offset=offset, limit=limit)
    return ApiRequest("POST", "/v1/session/query", body)


def build_session_count(
    search: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    name: str | None = None,
    filter: FilterLike = None,
    timezone_difference: int | None = None,
    *,
    now: datetime | None = None,
) -> ApiRequest:
    """``POST /v1/session/count`` (same body as the query, without paging)."""
    return ApiRequest("POST", "/v1/session/count", session_body(search, start, end, name, filter, timezone_difference, now=now))


def build_tree_page(session_id: str, offset: int, limit: int) -> ApiRequest:
    """One page of a session's requests, oldest first, for :func:`build_tree`."""
    if not isinstance(session_id, str) or not session_id:
        raise HeliconeValidationError(f"session_id must be a non-empty str, got {session_id!r}.")
    return build_query(F.session_id == session_id, limit=limit, offset=offset, sort={"created_at": "asc"})


# -- response parsing ------------------------------------------------------------------------------


def decode_body(content: bytes) -> Any:
    """JSON when the body is JSON, else its text ("" for an empty body)."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def error_message(body: Any, status: int) -> str:
    """The server's error text from ``{"error": ...}``, ``{"message": ...}`` or a plain-text body."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, str) and error:
            return error
        if isinstance(error, Mapping) and error:
            inner = error.get("message") or error.get("code")
            return str(inner) if inner else json.dumps(error, default=str)[:500]
        message = body.get("message") or body.get("helicone-message")
        if message:
            details = body.get("details")
            return f"{message}: {json.dumps(details, default=str)[:500]}" if details else str(message)
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return f"HTTP {status}"


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset`` (seconds)."""
    for name in ("retry-after", "ratelimit-reset", "x-ratelimit-reset"):
        value = _header(headers, name)
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, found in headers.items():
            if key.lower() == name:
                return found
    return value


def api_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> HeliconeAPIError:
    """The error for an error answer: the class follows the status and Helicone's message."""
    message = error_message(body, status)
    if status in (401, 403):
        return HeliconeAuthError(message, status=status, body=body)
    if status == 429:
        return HeliconeRateLimitError(message, status=status, body=body, retry_after=retry_after(headers or {}))
    if NOT_FOUND_TEXT.lower() in message.lower():
        return HeliconeRequestNotFound(message, status=status, body=body)
    return HeliconeAPIError(message, status=status, body=body)


def parse_response(status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The ``data`` of a successful answer; raises :class:`HeliconeAPIError` (or a subclass) otherwise."""
    body = decode_body(content)
    if status >= 400:
        raise api_error(status, body, headers)
    if isinstance(body, Mapping):
        if body.get("error"):
            raise api_error(status, body, headers)
        if "data" in body:
            return body["data"]
    return body


def connection_error(exc: BaseException, url: str) -> HeliconeConnectionError:
    """The error for a call that got no answer (the key is never part of the message)."""
    return HeliconeConnectionError(f"no answer from the Helicone REST API at {url}: {type(exc).__name__}: {exc}")


def _rows(data: Any) -> list[RequestRow]:
    return [RequestRow.from_api(item) for item in (data or []) if isinstance(item, Mapping)]


def _row(data: Any) -> RequestRow | None:
    return RequestRow.from_api(data) if isinstance(data, Mapping) and data else None


def _sessions(data: Any) -> list[SessionRow]:
    return [SessionRow.from_api(item) for item in (data or []) if isinstance(item, Mapping)]


def _count(data: Any) -> int:
    if isinstance(data, Mapping):
        data = data.get("count")
    try:
        return int(data)
    except (TypeError, ValueError):
        return 0


def _check_cap(max_requests: int) -> int:
    if isinstance(max_requests, bool) or not isinstance(max_requests, int) or max_requests < 1:
        raise HeliconeValidationError(f"max_requests must be a positive int, got {max_requests!r}.")
    return max_requests


# -- the clients ---------------------------------------------------------------------------------


class _Base:
    def __init__(self, api_key: str | None, base_url: str | None, timeout: float) -> None:
        target = Target.from_env(api_key, base_url)
        if target.api_key is None and is_cloud_host(target.api_url):
            raise HeliconeConfigError(
                f"the Helicone REST API at {target.api_url} needs a key: pass api_key=... or set HELICONE_API_KEY."
            )
        self.base_url = target.api_url
        self.timeout = timeout
        self._headers = {**target.auth_headers(), "User-Agent": USER_AGENT, "Accept": "application/json"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class HeliconeAPI(_Base):
    """The Helicone REST API, synchronously: ``requests`` and ``sessions``.

    The key comes from ``api_key`` or ``HELICONE_API_KEY``; ``base_url`` (the REST root) from the
    argument, ``HELICONE_API_URL``, the origin of a non-cloud ``HELICONE_BASE_URL`` gateway, else
    ``https://api.helicone.ai`` (``https://eu.api.helicone.ai`` for ``-eu-`` keys).

    Usage::

        with HeliconeAPI() as api:
            slow = api.requests.query(filter=F.latency >= 1000, limit=20)
            print(api.sessions.tree(session_id).render())
    """

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 30.0, http_client: Any = None
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self._owns_client = http_client is None
        self._client: Any = http_client if http_client is not None else http.Client(timeout=timeout)
        self.requests = Requests(self)
        self.sessions = Sessions(self)

    def send(self, request: ApiRequest) -> Any:
        """Send one :class:`ApiRequest`; return the envelope's ``data`` or raise."""
        url = self.base_url + request.path
        try:
            response = self._client.request(
                request.method, url, json=request.body, params=request.params, headers=self._headers, timeout=self.timeout
            )
        except http.TransportError as exc:
            raise connection_error(exc, self.base_url) from exc
        return parse_response(response.status_code, response.headers, response.content)

    def close(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` you passed in)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HeliconeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHeliconeAPI(_Base):
    """The Helicone REST API for asyncio: the same calls as :class:`HeliconeAPI`, awaited.

    Usage::

        async with AsyncHeliconeAPI() as api:
            rows = await api.requests.query(filter=F.property("environment") == "prod")
    """

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 30.0, http_client: Any = None
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self._owns_client = http_client is None
        self._client: Any = http_client if http_client is not None else http.AsyncClient(timeout=timeout)
        self.requests = AsyncRequests(self)
        self.sessions = AsyncSessions(self)

    async def send(self, request: ApiRequest) -> Any:
        """Send one :class:`ApiRequest`; return the envelope's ``data`` or raise."""
        url = self.base_url + request.path
        try:
            response = await self._client.request(
                request.method, url, json=request.body, params=request.params, headers=self._headers, timeout=self.timeout
            )
        except http.TransportError as exc:
            raise connection_error(exc, self.base_url) from exc
        return parse_response(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` you passed in)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncHeliconeAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Requests:
    """``api.requests``: write to and read logged requests. Usage: ``api.requests.get(request_id)``"""

    def __init__(self, api: HeliconeAPI) -> None:
        self._api = api

    def add_property(self, request_id: str, key: str, value: object) -> None:
        """Set one property now (``PUT``); the key is lowercased as in ``enrich()``. Raises on failure."""
        self._api.send(build_add_property(request_id, key, value))

    def feedback(self, request_id: str, rating: bool) -> None:
        """Rate a request now (``True``/``False``). Raises on failure."""
        self._api.send(build_feedback(request_id, rating))

    def score(self, request_id: str, scores: Mapping[str, object]) -> None:
        """Attach ``{name: int | bool}`` scores now. Raises on failure."""
        self._api.send(build_score(request_id, scores))

    def get(self, request_id: str, include_body: bool = False) -> RequestRow | None:
        """One request, or None when Helicone has no such request (yet).

        Without ``include_body`` Helicone may answer from a ~24 h cache, so properties added since
        can be missing; ``include_body=True`` (or :meth:`query`) reads fresh data.
        """
        return _row(self._api.send(build_get(request_id, include_body)))

    def query(
        self, filter: FilterLike = None, limit: int = 100, offset: int = 0, sort: Mapping[str, Any] | str | None = None
    ) -> list[RequestRow]:
        """Requests matching ``filter`` (newest first unless ``sort`` says otherwise), at most 1000 per call."""
        return _rows(self._api.send(build_query(filter, limit, offset, sort)))

    def count(self, filter: FilterLike = None) -> int:
        """How many requests match ``filter``."""
        return _count(self._api.send(build_count(filter)))


class AsyncRequests:
    """``api.requests`` of :class:`AsyncHeliconeAPI`. Usage: ``await api.requests.get(request_id)``"""

    def __init__(self, api: AsyncHeliconeAPI) -> None:
        self._api = api

    async def add_property(self, request_id: str, key: str, value: object) -> None:
        """Set one property now (``PUT``); the key is lowercased as in ``enrich()``. Raises on failure."""
        await self._api.send(build_add_property(request_id, key, value))

    async def feedback(self, request_id: str, rating: bool) -> None:
        """Rate a request now (``True``/``False``). Raises on failure."""
        await self._api.send(build_feedback(request_id, rating))

    async def score(self, request_id: str, scores: Mapping[str, object]) -> None:
        """Attach ``{name: int | bool}`` scores now. Raises on failure."""
        await self._api.send(build_score(request_id, scores))

    async def get(self, request_id: str, include_body: bool = False) -> RequestRow | None:
        """One request, or None when Helicone has no such request (yet).

        Without ``include_body`` Helicone may answer from a ~24 h cache, so properties added since
        can be missing; ``include_body=True`` (or :meth:`query`) reads fresh data.
        """
        return _row(await self._api.send(build_get(request_id, include_body)))

    async def query(
        self, filter: FilterLike = None, limit: int = 100, offset: int = 0, sort: Mapping[str, Any] | str | None = None
    ) -> list[RequestRow]:
        """Requests matching ``filter`` (newest first unless ``sort`` says otherwise), at most 1000 per call."""
        return _rows(await self._api.send(build_query(filter, limit, offset, sort)))

    async def count(self, filter: FilterLike = None) -> int:
        """How many requests match ``filter``."""
        return _count(await self._api.send(build_count(filter)))


class Sessions:
    """``api.sessions``: list, count and draw sessions. Usage: ``api.sessions.query(name="Course Plan")``"""

    def __init__(self, api: HeliconeAPI) -> None:
        self._api = api

    def query(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        limit: int = 50,
        offset: int = 0,
        timezone_difference: int | None = None,
    ) -> list[SessionRow]:
        """Sessions in ``[start, end]`` (default: the last 30 days), newest first.

        ``search`` matches the id or name (case-insensitive substring), ``name`` the exact name.
        Naive datetimes are local time; ``timezone_difference`` defaults to this machine's offset.
        """
        request = build_session_query(search, start, end, name, filter, limit, offset, timezone_difference)
        return _sessions(self._api.send(request))

    def count(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        timezone_difference: int | None = None,
    ) -> SessionCount:
        """Count and cost/latency averages of the sessions :meth:`query` would list."""
        request = build_session_count(search, start, end, name, filter, timezone_difference)
        return SessionCount.from_api(self._api.send(request))

    def tree(self, session_id: str, *, max_requests: int = TREE_CAP) -> SessionTree:
        """The session's requests as a path tree, built client-side as Helicone's UI does.

        Fetches up to ``max_requests`` requests (pages of 1000); ``tree.truncated`` says if more exist.
        """
        cap = _check_cap(max_requests)
        rows: list[RequestRow] = []
        while len(rows) < cap:
            limit = min(MAX_LIMIT, cap - len(rows))
            page = _rows(self._api.send(build_tree_page(session_id, len(rows), limit)))
            rows.extend(page)
            if len(page) < limit:
                return build_tree(rows, session_id)
        return build_tree(rows, session_id, truncated=True)


class AsyncSessions:
    """``api.sessions`` of :class:`AsyncHeliconeAPI`. Usage: ``await api.sessions.tree(session_id)``"""

    def __init__(self, api: AsyncHeliconeAPI) -> None:
        self._api = api

    async def query(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        limit: int = 50,
        offset: int = 0,
        timezone_difference: int | None = None,
    ) -> list[SessionRow]:
        """Sessions in ``[start, end]`` (default: the last 30 days), newest first (see :meth:`Sessions.query`)."""
        request = build_session_query(search, start, end, name, filter, limit, offset, timezone_difference)
        return _sessions(await self._api.send(request))

    async def count(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        timezone_difference: int | None = None,
    ) -> SessionCount:
        """Count and cost/latency averages of the sessions :meth:`query` would list."""
        request = build_session_count(search, start, end, name, filter, timezone_difference)
        return SessionCount.from_api(await self._api.send(request))

    async def tree(self, session_id: str, *, max_requests: int = TREE_CAP) -> SessionTree:
        """The session's requests as a path tree (see :meth:`Sessions.tree`)."""
        cap = _check_cap(max_requests)
        rows: list[RequestRow] = []
        while len(rows) < cap:
            limit = min(MAX_LIMIT, cap - len(rows))
            page = _rows(await self._api.send(build_tree_page(session_id, len(rows), limit)))
            rows.extend(page)
            if len(page) < limit:
                return build_tree(rows, session_id)
        return build_tree(rows, session_id, truncated=True)
