"""The Helicone REST API without I/O: checks, request builders and answer parsing.

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

from .. import _headers
from .._exceptions import (
    HeliconeAPIError,
    HeliconeAuthError,
    HeliconeConnectionError,
    HeliconeRateLimitError,
    HeliconeRequestNotFound,
    HeliconeValidationError,
)
from .._version import __version__
from .filters import F, FilterLike, compile_filter

USER_AGENT = f"helicone-wrap/{__version__}"
NOT_FOUND_TEXT = "Request not found"
MAX_LIMIT = 1000
TREE_CAP = 10_000
INT64 = 2**63

KIND_PROPERTY = "property"
KIND_FEEDBACK = "feedback"
KIND_SCORE = "score"
#: An async-mode log record (:mod:`helicone_wrap._asynclog`), POSTed to the log host.
KIND_LOG = "log"

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
    on the same key as header-set properties; ``int``/``float``/``bool`` values go through ``str()``
    and are then encoded as a header would carry them (``Zürich`` -> ``utf-8''Z%C3%BCrich``, see
    :func:`helicone_wrap._headers.stored_value`), so one value is one stored string.
    """
    canonical = _headers.property_key(key)
    text = _headers.property_value(value, canonical)
    if "\x00" in text:
        raise HeliconeValidationError(
            f"property {canonical!r} contains a NUL character at index {text.index(chr(0))}; remove it."
        )
    return canonical, _headers.stored_value(text)


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
    if kind == KIND_LOG:
        return ApiRequest("POST", LOG_PATH, log_record_bytes(body))  # bytes: sent as they are
    raise ValueError(f"unknown operation kind {kind!r}")


#: Where an async-mode record goes, under the log host.
LOG_PATH = "/oai/v1/log"


def log_record_bytes(body: Any) -> bytes:
    """A queued async-mode record as the bytes ``POST {log host}/oai/v1/log`` sends (``build_write``'s
    ``log`` case without the :class:`ApiRequest`: the sender's per-record path)."""
    record = _RECORD[0] if _RECORD else _record_module()
    return record.log_record_bytes(body)  # type: ignore[no-any-return]


#: :mod:`helicone_wrap._asynclog.record`, once imported: a function-level import per record would
#: cost an import-system lookup on every one (importing it at module level would be a cycle).
_RECORD: list[Any] = []


def _record_module() -> Any:
    from .._asynclog import record

    _RECORD.append(record)
    return record


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
