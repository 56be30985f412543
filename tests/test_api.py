"""Pure parts of the REST client: request builders, envelope parsing, error mapping and typed rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from helicone_wrap import _api
from helicone_wrap._api.filters import F
from helicone_wrap._api.rows import RequestRow, SessionCount, SessionRow, parse_time
from helicone_wrap._exceptions import (
    HeliconeAPIError,
    HeliconeAuthError,
    HeliconeRateLimitError,
    HeliconeRequestNotFound,
    HeliconeValidationError,
)

RID = "3f0c2a9e-1b2c-4d5e-8f90-123456789abc"
NOW = datetime(2026, 5, 31, 12, 0, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("built", "method", "path", "body", "params"),
    [
        pytest.param(_api.build_add_property(RID, "Outcome", "ok"), "PUT", f"/v1/request/{RID}/property", {"key": "outcome", "value": "ok"}, None, id="property"),
        pytest.param(_api.build_feedback(RID, True), "POST", f"/v1/request/{RID}/feedback", {"rating": True}, None, id="feedback"),
        pytest.param(_api.build_score(RID, {"a": 1, "b": False}), "POST", f"/v1/request/{RID}/score", {"scores": {"a": 1, "b": False}}, None, id="score"),
        pytest.param(_api.build_get(RID), "GET", f"/v1/request/{RID}", None, {"includeBody": "false"}, id="get"),
        pytest.param(_api.build_get(RID, include_body=True), "GET", f"/v1/request/{RID}", None, {"includeBody": "true"}, id="get-body"),
        pytest.param(
            _api.build_query(), "POST", "/v1/request/query-clickhouse",
            {"filter": "all", "offset": 0, "limit": 100, "sort": {"created_at": "desc"}}, None, id="query-defaults",
        ),
        pytest.param(
            _api.build_query(F.status == 200, limit=1000, offset=20, sort="-latency"), "POST", "/v1/request/query-clickhouse",
            {"filter": {"request_response_rmt": {"status": {"equals": 200}}}, "offset": 20, "limit": 1000, "sort": {"latency": "desc"}},
            None, id="query",
        ),
        pytest.param(_api.build_count(F.model == "m"), "POST", "/v1/request/count/query", {"filter": {"request_response_rmt": {"model": {"equals": "m"}}}}, None, id="count"),
    ],
)
def test_request_builders(built: _api.ApiRequest, method: str, path: str, body: Any, params: Any) -> None:
    """Each builder produces Helicone's method, path and body exactly."""
    assert (built.method, built.path, built.body, built.params) == (method, path, body, params)


def test_session_query_body_matches_the_documented_shape() -> None:
    """The session query sends search, timeFilter, timezoneDifference, filter, offset and limit (nameEquals only when given)."""
    request = _api.build_session_query(now=NOW, timezone_difference=-120)
    assert (request.method, request.path) == ("POST", "/v1/session/query")
    assert request.body == {
        "search": "",
        "timeFilter": {"startTimeUnixMs": NOW_MS - 30 * DAY_MS, "endTimeUnixMs": NOW_MS},
        "timezoneDifference": -120,
        "filter": "all",
        "offset": 0,
        "limit": 50,
    }
    named = _api.build_session_query("plan", NOW - timedelta(days=1), NOW, "Course Plan", F.session.total_cost >= 1, 10, 5, 0, now=NOW)
    assert named.body["nameEquals"] == "Course Plan"
    assert named.body["timeFilter"] == {"startTimeUnixMs": NOW_MS - DAY_MS, "endTimeUnixMs": NOW_MS}
    assert named.body["filter"] == {"sessions_request_response_rmt": {"session_total_cost": {"gte": 1}}}
    assert (named.body["search"], named.body["limit"], named.body["offset"]) == ("plan", 10, 5)


def test_session_count_body_has_no_paging() -> None:
    """The count endpoint takes the same body without offset and limit."""
    body = _api.build_session_count(now=NOW, timezone_difference=0).body
    assert set(body) == {"search", "timeFilter", "timezoneDifference", "filter"}


def test_naive_datetimes_are_local_time() -> None:
    """Naive start/end are local time, as everywhere in Python."""
    naive = datetime(2026, 5, 1, 12, 0)
    body = _api.build_session_query(start=naive, end=naive + timedelta(hours=1), now=NOW).body
    assert body["timeFilter"]["startTimeUnixMs"] == int(naive.timestamp() * 1000)


def test_default_timezone_difference_follows_javascript() -> None:
    """timezoneDifference defaults to this machine's offset with getTimezoneOffset()'s sign."""
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    assert _api.local_timezone_difference() == -int(offset.total_seconds() // 60)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(lambda: _api.build_query(limit=1001), "limit", id="limit-too-big"),
        pytest.param(lambda: _api.build_query(limit=-1), "limit", id="limit-negative"),
        pytest.param(lambda: _api.build_query(offset=-1), "offset", id="offset-negative"),
        pytest.param(lambda: _api.build_query(sort="nope"), "cannot sort", id="bad-sort"),
        pytest.param(lambda: _api.build_session_query(limit=5000), "limit", id="session-limit"),
        pytest.param(lambda: _api.build_session_query(timezone_difference=2000), "timezone_difference", id="tz-range"),
        pytest.param(lambda: _api.build_session_query(start=NOW, end=NOW - timedelta(1)), "before", id="start-after-end"),
        pytest.param(lambda: _api.build_get("nope"), "request id", id="bad-id"),
        pytest.param(lambda: _api.build_tree_page("", 0, 10), "session_id", id="empty-session"),
    ],
)
def test_builders_validate_before_sending(make: Any, match: str) -> None:
    """Out-of-range paging, bad sort keys and bad ids raise HeliconeValidationError client-side."""
    with pytest.raises(HeliconeValidationError, match=match):
        make()


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "message"),
    [
        pytest.param(500, b'{"data":null,"error":"Request not found"}', {}, HeliconeRequestNotFound, "Request not found", id="not-found"),
        pytest.param(401, b'{"error":"Unauthorized","trace":"isAuthenticated.error"}', {}, HeliconeAuthError, "Unauthorized", id="401"),
        pytest.param(403, b'{"error":"no write"}', {}, HeliconeAuthError, "no write", id="403"),
        pytest.param(429, b'{"error":"Too many requests, please try again later."}', {"Retry-After": "3"}, HeliconeRateLimitError, "Too many", id="429"),
        pytest.param(422, b'{"message":"Validation Failed","details":{"body.key":"required"}}', {}, HeliconeAPIError, 'Validation Failed: {"body.key": "required"}', id="422"),
        pytest.param(500, b'{"message":"boom"}', {}, HeliconeAPIError, "boom", id="500-message"),
        pytest.param(408, b"Request timed out", {}, HeliconeAPIError, "Request timed out", id="408-text"),
        pytest.param(502, b"", {}, HeliconeAPIError, "HTTP 502", id="empty"),
        pytest.param(200, b'{"data":null,"error":"Invalid requestId"}', {}, HeliconeAPIError, "Invalid requestId", id="200-with-error"),
        pytest.param(500, b'{"error":{"message":"nested"}}', {}, HeliconeAPIError, "nested", id="nested-error"),
    ],
)
def test_error_answers_map_to_the_error_tree(
    status: int, body: bytes, headers: dict[str, str], error_type: type, message: str
) -> None:
    """Error answers raise the matching HeliconeAPIError subclass with status and server message."""
    with pytest.raises(HeliconeAPIError) as caught:
        _api.parse_response(status, headers, body)
    assert type(caught.value) is error_type
    assert caught.value.status == status and caught.value.message.startswith(message)
    if error_type is HeliconeRateLimitError:
        assert caught.value.retry_after == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "data"),
    [(b'{"data":[1],"error":null}', [1]), (b'{"data":null,"error":null}', None), (b"[1,2]", [1, 2]), (b"", None), (b'{"error":{}}', {"error": {}})],
)
def test_success_unwraps_the_envelope(body: bytes, data: Any) -> None:
    """A success returns the envelope's data (or the body when there is no envelope)."""
    assert _api.parse_response(201, {}, body) == data


FULL_ROW = {
    "request_id": RID,
    "request_created_at": "2026-05-01 12:00:00.123",
    "request_path": "/v1/chat/completions",
    "request_user_id": "u1",
    "model": "gpt-4o-mini",
    "provider": "OPENAI",
    "response_status": 200,
    "delay_ms": "850",
    "time_to_first_token": 120,
    "prompt_tokens": 5,
    "completion_tokens": 2,
    "cost": 0.00012,
    "properties": {"Helicone-Session-Id": "s1", "Helicone-Session-Path": "/abstract", "Helicone-Session-Name": "Plan", "environment": "prod"},
    "scores": {"helicone-score-feedback": 1, "accuracy": "87"},
    "unknown_new_field": True,
}


def test_request_row_parses_helicone_request() -> None:
    """Request rows take Helicone's field names, coerce numbers and keep unknown fields in raw."""
    row = RequestRow.from_api(FULL_ROW)
    assert row.request_id == RID
    assert row.request_created_at == datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert (row.model, row.provider, row.response_status, row.delay_ms, row.latency_ms) == ("gpt-4o-mini", "OPENAI", 200, 850, 850)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (5, 2, 7)
    assert (row.session_id, row.session_path, row.session_name) == ("s1", "/abstract", "Plan")
    assert row.feedback is True and row.scores["accuracy"] == 87
    assert row.property("environment") == "prod"
    assert row.raw["unknown_new_field"] is True


def test_request_row_tolerates_other_shapes() -> None:
    """Alternative names (request_model, request_properties, costUSD) and missing fields are fine."""
    row = RequestRow.from_api({"request_id": RID, "request_model": "m", "request_properties": {"a": "b"}, "costUSD": "0.5"})
    assert (row.model, row.properties, row.cost) == ("m", {"a": "b"}, 0.5)
    assert row.feedback is None and row.session_path is None and row.request_created_at is None
    assert RequestRow.from_api({"request_id": RID, "scores": {"helicone-score-feedback": 0}}).feedback is False


def test_session_row_and_count() -> None:
    """Session rows and counts parse the documented fields and tolerate missing ones."""
    row = SessionRow.from_api({
        "session_id": "s1", "session_name": "utf-8''Caf%C3%A9", "created_at": "2026-05-01T10:00:00Z",
        "latest_request_created_at": "2026-05-01T10:05:00.5+02:00", "total_cost": 0.1, "total_requests": "4",
        "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "avg_latency": 5.5, "user_ids": ["u1", None],
    })
    assert row.session_name == "Café"
    assert row.latest_request_created_at == datetime(2026, 5, 1, 8, 5, 0, 500000, tzinfo=timezone.utc)
    assert (row.total_requests, row.user_ids, row.avg_latency) == (4, ("u1",), 5.5)
    assert SessionRow.from_api({"session_id": "s2"}).created_at is None
    count = SessionCount.from_api({"count": 3, "total_cost": 1.5, "avg_cost": 0.5, "avg_latency": 9, "avg_requests": 2})
    assert (count.count, count.avg_cost) == (3, 0.5)
    assert SessionCount.from_api(7).count == 7


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-01T12:00:00Z", datetime(2026, 5, 1, 12, tzinfo=timezone.utc)),
        ("2026-05-01T12:00:00.123456789Z", datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2026-05-01 12:00:00", datetime(2026, 5, 1, 12, tzinfo=timezone.utc)),
        ("2026-05-01T14:00:00+0200", datetime(2026, 5, 1, 12, tzinfo=timezone.utc)),
        ("2026-05-01", datetime(2026, 5, 1, tzinfo=timezone.utc)),
        (1_777_636_800, datetime(2026, 5, 1, 12, tzinfo=timezone.utc)),
        (1_777_636_800_000, datetime(2026, 5, 1, 12, tzinfo=timezone.utc)),
        ("yesterday", None),
        ("2026-13-01", None),
        (None, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    """Helicone's timestamp forms become aware UTC datetimes; junk becomes None."""
    assert parse_time(value) == expected
