"""The REST subset: Helicone's paths, bodies, envelopes and status codes (HELICONE.md §4)."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from helicone_wrap.gateway import GatewayServer

from .conftest import chat, new_id

OK = {"data": None, "error": None}
NOT_FOUND = {"data": None, "error": "Request not found"}


@pytest.fixture(scope="module")
def known(gw: GatewayServer) -> str:
    """A request logged through the proxy, visible to the REST API."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local") as sdk:
        request_id = chat(sdk)
    assert gw.store.wait_for(request_id) is not None
    return request_id


def _validation(field: str) -> Any:
    def check(body: Any) -> None:
        assert body["message"] == "Validation Failed" and field in body["details"], body

    return check


def _error_startswith(prefix: str) -> Any:
    def check(body: Any) -> None:
        assert body["data"] is None and body["error"].startswith(prefix), body

    return check


def _error_contains(text: str) -> Any:
    def check(body: Any) -> None:
        assert body["data"] is None and text in body["error"], body

    return check


def _data(check_data: Any) -> Any:
    def check(body: Any) -> None:
        assert body["error"] is None and check_data(body["data"]), body

    return check


UNKNOWN = "11111111-2222-4333-8444-555555555555"
TIME = {"startTimeUnixMs": 0, "endTimeUnixMs": 4_102_444_800_000}


def sessions_body(**fields: Any) -> dict[str, Any]:
    """A complete session query body (every field Helicone requires), with ``fields`` on top."""
    return {"search": "", "timeFilter": TIME, "timezoneDifference": 0, "filter": "all", **fields}

# (case, method, path, json body or raw bytes, status, expected body or checker)
CONFORMANCE: list[tuple[str, str, str, Any, int, Any]] = [
    ("property: success", "PUT", "/v1/request/{known}/property", {"key": "Env", "value": "prod"}, 201, OK),
    (
        "property: unknown id",
        "PUT",
        f"/v1/request/{UNKNOWN}/property",
        {"key": "k", "value": "v"},
        500,
        NOT_FOUND,
    ),
    (
        "property: non-uuid unknown id",
        "PUT",
        "/v1/request/req_abc123/property",
        {"key": "k", "value": "v"},
        500,
        NOT_FOUND,
    ),
    (
        "property: missing value",
        "PUT",
        "/v1/request/{known}/property",
        {"key": "k"},
        422,
        _validation("requestBody.value"),
    ),
    (
        "property: value not a string",
        "PUT",
        "/v1/request/{known}/property",
        {"key": "k", "value": 5},
        422,
        _validation("requestBody.value"),
    ),
    (
        "property: the docs' wrong shape",
        "PUT",
        "/v1/request/{known}/property",
        {"Environment": "production"},
        422,
        _validation("requestBody.key"),
    ),
    (
        "property: body is an array",
        "PUT",
        "/v1/request/{known}/property",
        [1, 2],
        422,
        _validation("requestBody"),
    ),
    (
        "property: malformed JSON",
        "PUT",
        "/v1/request/{known}/property",
        b"{nope",
        400,
        _error_startswith("Malformed JSON body"),
    ),
    ("property: empty body", "PUT", "/v1/request/{known}/property", b"", 422, _validation("requestBody")),
    ("feedback: success", "POST", "/v1/request/{known}/feedback", {"rating": True}, 201, OK),
    (
        "feedback: id not a uuid",
        "POST",
        "/v1/request/req_1/feedback",
        {"rating": True},
        500,
        {"data": None, "error": "Invalid requestId: must be a valid UUID"},
    ),
    (
        "feedback: null rating",
        "POST",
        "/v1/request/{known}/feedback",
        {"rating": None},
        500,
        {"data": None, "error": "Invalid rating format. Expected a boolean."},
    ),
    (
        "feedback: string rating",
        "POST",
        "/v1/request/{known}/feedback",
        {"rating": "yes"},
        500,
        {"data": None, "error": "Invalid rating format. Expected a boolean."},
    ),
    ("feedback: unknown uuid", "POST", f"/v1/request/{UNKNOWN}/feedback", {"rating": False}, 500, NOT_FOUND),
    (
        "score: success",
        "POST",
        "/v1/request/{known}/score",
        {"scores": {"accuracy": 90, "ok": True}},
        201,
        OK,
    ),
    (
        "score: float is refused",
        "POST",
        "/v1/request/{known}/score",
        {"scores": {"a": 0.5}},
        500,
        _error_contains("must be integers or booleans"),
    ),
    (
        "score: string value",
        "POST",
        "/v1/request/{known}/score",
        {"scores": {"a": "high"}},
        422,
        _validation("requestBody.scores.a"),
    ),
    (
        "score: missing scores",
        "POST",
        "/v1/request/{known}/score",
        {},
        422,
        _validation("requestBody.scores"),
    ),
    ("score: unknown id", "POST", f"/v1/request/{UNKNOWN}/score", {"scores": {"a": 1}}, 500, NOT_FOUND),
    (
        "get: known id",
        "GET",
        "/v1/request/{known}",
        None,
        200,
        _data(lambda d: d["request_id"] and d["response_status"] == 200),
    ),
    ("get: unknown id has null data", "GET", f"/v1/request/{UNKNOWN}", None, 200, OK),
    (
        "query: all",
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": "all"},
        201,
        _data(lambda d: isinstance(d, list) and len(d) >= 1),
    ),
    (
        "query: limit 0",
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": "all", "limit": 0},
        201,
        {"data": [], "error": None},
    ),
    (
        "query: limit over 1000",
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": "all", "limit": 1001},
        500,
        {"data": None, "error": "invalid limit"},
    ),
    (
        "query: negative limit",
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": "all", "limit": -1},
        500,
        {"data": None, "error": "invalid limit"},
    ),
    (
        "query: limit not an integer",
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": "all", "limit": "ten"},
        422,
        _validation("requestBody.limit"),
    ),
    (
        "query: missing filter",
        "POST",
        "/v1/request/query-clickhouse",
        {"limit": 5},
        422,
        _validation("requestBody.filter"),
    ),
    (
        "query: bad filter names the node",
        "POST",
        "/v1/request/query-clickhouse",
        {
            "filter": {
                "left": "all",
                "operator": "and",
                "right": {"request_response_rmt": {"latency": {"gte": "x"}}},
            }
        },
        400,
        _error_contains("filter.right.request_response_rmt.latency.gte"),
    ),
    (
        "query: bad sort direction",
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": "all", "sort": {"latency": "up"}},
        400,
        _error_contains("sort.latency"),
    ),
    (
        "count: all",
        "POST",
        "/v1/request/count/query",
        {"filter": "all"},
        201,
        _data(lambda d: isinstance(d, int) and d >= 1),
    ),
    ("count: missing filter", "POST", "/v1/request/count/query", {}, 422, _validation("requestBody.filter")),
    (
        "count: bad filter",
        "POST",
        "/v1/request/count/query",
        {"filter": {"feedback": {"rating": {"equals": True}}}},
        400,
        _error_contains("filter.feedback"),
    ),
    (
        "sessions: seed body",
        "POST",
        "/v1/session/query",
        {"search": "", "timeFilter": TIME, "timezoneDifference": 0, "filter": "all"},
        200,
        _data(lambda d: isinstance(d, list)),
    ),
    (
        "sessions: bad timezone",
        "POST",
        "/v1/session/query",
        sessions_body(timezoneDifference=5000),
        500,
        {"data": None, "error": "Invalid timezone difference"},
    ),
    (
        "sessions: bad time filter",
        "POST",
        "/v1/session/query",
        sessions_body(timeFilter={"endTimeUnixMs": 1}),
        422,
        _validation("requestBody.timeFilter.startTimeUnixMs"),
    ),
    (
        "sessions: bad filter names the caller's node",
        "POST",
        "/v1/session/query",
        sessions_body(search="x", filter={"sessions_request_response_rmt": {"nope": {"equals": 1}}}),
        400,
        _error_contains("filter.sessions_request_response_rmt.nope"),
    ),
    (
        "sessions: search is required",
        "POST",
        "/v1/session/query",
        {"timeFilter": TIME, "timezoneDifference": 0, "filter": "all"},
        422,
        _validation("requestBody.search"),
    ),
    (
        "sessions: timeFilter is required",
        "POST",
        "/v1/session/query",
        {"search": "", "timezoneDifference": 0, "filter": "all"},
        422,
        _validation("requestBody.timeFilter"),
    ),
    (
        "sessions: timezoneDifference is required",
        "POST",
        "/v1/session/query",
        {"search": "", "timeFilter": TIME, "filter": "all"},
        422,
        _validation("requestBody.timezoneDifference"),
    ),
    (
        "sessions: filter is required",
        "POST",
        "/v1/session/count",
        {"search": "", "timeFilter": TIME, "timezoneDifference": 0},
        422,
        _validation("requestBody.filter"),
    ),
    (
        "session count",
        "POST",
        "/v1/session/count",
        sessions_body(),
        200,
        _data(lambda d: set(d) == {"count", "total_cost", "avg_cost", "avg_latency", "avg_requests"}),
    ),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "status", "expected"), CONFORMANCE, ids=[c[0] for c in CONFORMANCE]
)
def test_conformance(
    api: Any, known: str, case: str, method: str, path: str, body: Any, status: int, expected: Any
) -> None:
    """Each REST call answers Helicone's status code and envelope."""
    url = path.replace("{known}", known)
    if isinstance(body, bytes):
        response = api.request(method, url, content=body, headers={"content-type": "application/json"})
    else:
        response = api.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    if callable(expected):
        expected(response.json())
    else:
        assert response.json() == expected


def test_unknown_route_and_method(api: Any) -> None:
    """Unknown paths answer 404 and wrong methods 405; unknown /v1 paths are OpenAI-style 404s."""
    assert api.get("/nowhere").status_code == 404
    assert api.post("/healthz").status_code == 405
    unknown = api.delete("/v1/session/query")
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_property_key_case_is_preserved(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """PUT stores the key exactly as sent, next to the lowercased header key."""
    request_id = chat(client, **{"Helicone-Property-Environment": "header"})
    gw.store.wait_for(request_id)
    assert (
        api.put(f"/v1/request/{request_id}/property", json={"key": "Environment", "value": "put"}).status_code
        == 201
    )
    props = api.get(f"/v1/request/{request_id}").json()["data"]["properties"]
    assert props["environment"] == "header" and props["Environment"] == "put"
    rows = api.post(
        "/v1/request/query-clickhouse",
        json={"filter": {"request_response_rmt": {"properties": {"Environment": {"equals": "put"}}}}},
    ).json()["data"]
    assert [row["request_id"] for row in rows] == [request_id]


def test_feedback_and_scores_are_stored_as_helicone_does(
    api: Any, client: openai.OpenAI, gw: GatewayServer
) -> None:
    """Feedback is score helicone-score-feedback 1/0 (latest wins); booleans get -hcone-bool."""
    request_id = chat(client)
    gw.store.wait_for(request_id)
    api.post(f"/v1/request/{request_id}/feedback", json={"rating": True})
    api.post(f"/v1/request/{request_id}/feedback", json={"rating": False})
    api.post(f"/v1/request/{request_id}/score", json={"scores": {"accuracy": 7, "helpful": True}})
    scores = api.get(f"/v1/request/{request_id}").json()["data"]["scores"]
    assert scores == {"helicone-score-feedback": 0, "accuracy": 7, "helpful-hcone-bool": 1}
    negative = {"request_response_rmt": {"helicone-score-feedback": {"equals": 0}}}
    scored = {"request_response_rmt": {"scores": {"accuracy": {"equals": 7}}}}
    both = {"left": negative, "operator": "and", "right": scored}
    rows = api.post("/v1/request/query-clickhouse", json={"filter": both}).json()["data"]
    assert request_id in [row["request_id"] for row in rows]


def test_get_include_body(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """Bodies come back only with includeBody=true."""
    request_id = chat(client)
    gw.store.wait_for(request_id)
    plain = api.get(f"/v1/request/{request_id}").json()["data"]
    full = api.get(f"/v1/request/{request_id}", params={"includeBody": "true"}).json()["data"]
    assert plain["request_body"] is None and plain["response_body"] is None
    assert full["request_body"]["messages"][0]["content"] == "hello"
    assert full["response_body"]["object"] == "chat.completion"


def test_heliconerequest_fields(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """A HeliconeRequest carries the fields the client library parses."""
    request_id = chat(client, **{"Helicone-User-Id": "u1"})
    gw.store.wait_for(request_id)
    row = api.get(f"/v1/request/{request_id}").json()["data"]
    assert row["request_created_at"].endswith("Z") and row["response_created_at"].endswith("Z")
    assert row["request_path"] == "/v1/chat/completions" and row["request_user_id"] == "u1"
    assert row["model"] == "gpt-4o-mini" and row["provider"] == "OPENAI" and row["response_status"] == 200
    assert isinstance(row["delay_ms"], float) and row["delay_ms"] > 0 and row["time_to_first_token"] is None
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"] > 0
    assert row["cost"] > 0 and row["properties"] == row["request_properties"] == {}
    assert row["scores"] == {} and row["cache_reference_id"] is None


def test_query_sort_limit_offset(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """query-clickhouse filters, sorts, pages and includes inputs on request."""
    tag = new_id()
    ids = [chat(client, **{"Helicone-Property-Batch": tag}) for _ in range(3)]
    for request_id in ids:
        gw.store.wait_for(request_id)
    flt = {"request_response_rmt": {"properties": {"batch": {"equals": tag}}}}
    newest = api.post("/v1/request/query-clickhouse", json={"filter": flt}).json()["data"]
    assert [row["request_id"] for row in newest] == ids[::-1]
    oldest = api.post(
        "/v1/request/query-clickhouse",
        json={"filter": flt, "sort": {"created_at": "asc"}, "limit": 2, "offset": 1, "includeInputs": True},
    ).json()["data"]
    assert [row["request_id"] for row in oldest] == ids[1:]
    assert oldest[0]["request_body"]["model"] == "gpt-4o-mini"
    count = api.post("/v1/request/count/query", json={"filter": flt})
    assert (count.status_code, count.json()) == (201, {"data": 3, "error": None})


def _session_call(client: openai.OpenAI, session: str, name: str, user: str | None = None) -> str:
    headers = {
        "Helicone-Session-Id": session,
        "Helicone-Session-Name": name,
        "Helicone-Session-Path": "/step",
    }
    if user is not None:
        headers["Helicone-User-Id"] = user
    return chat(client, **headers)


def test_sessions_group_by_id_and_name(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """Sessions group by (id, name): one id with two names is two rows, newest first."""
    session = new_id()
    first = _session_call(client, session, "Plan", user="ann")
    _session_call(client, session, "Plan", user="bob")
    last = _session_call(client, session, "Other")
    gw.store.wait_for(last)
    rows = api.post("/v1/session/query", json=sessions_body(search=session)).json()["data"]
    assert [(r["session_id"], r["session_name"], r["total_requests"]) for r in rows] == [
        (session, "Other", 1),
        (session, "Plan", 2),
    ]
    plan = rows[1]
    assert (
        plan["user_ids"] == ["ann", "bob"]
        and plan["total_tokens"] == plan["prompt_tokens"] + plan["completion_tokens"]
    )
    assert plan["created_at"] == gw.store.get_request(first)["request_created_at"]  # type: ignore[index]
    assert set(plan) == {
        "session_id",
        "session_name",
        "created_at",
        "latest_request_created_at",
        "total_cost",
        "total_requests",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "avg_latency",
        "user_ids",
    }


def test_session_search_name_and_aggregate_filters(
    api: Any, client: openai.OpenAI, gw: GatewayServer
) -> None:
    """search is ILIKE on id or name, nameEquals is exact, session leaves filter the aggregate."""
    marker = new_id()[:8]
    big, small = f"big-{marker}", f"small-{marker}"
    for _ in range(3):
        _session_call(client, big, f"Report {marker}")
    last = _session_call(client, small, f"Chat {marker}")
    gw.store.wait_for(last)

    def ids(body: dict[str, Any]) -> list[str]:
        return [row["session_id"] for row in api.post("/v1/session/query", json=sessions_body(**body)).json()["data"]]

    assert ids({"search": marker.upper()}) == [small, big]
    assert ids({"search": marker, "nameEquals": f"Report {marker}"}) == [big]
    at_least_two = {"sessions_request_response_rmt": {"session_total_requests": {"gte": 2}}}
    assert ids({"search": marker, "filter": at_least_two}) == [big]
    assert ids(
        {"search": marker, "filter": {"sessions_request_response_rmt": {"total_requests": {"lt": 2}}}}
    ) == [small]
    assert ids({"search": marker, "limit": 1}) == [small]
    assert ids({"search": marker, "offset": 1}) == [big]
    count = api.post("/v1/session/count", json=sessions_body(search=marker)).json()["data"]
    assert count["count"] == 2 and count["avg_requests"] == 2.0
    assert count["avg_cost"] == pytest.approx(count["total_cost"] / 2)


def test_session_time_filter_is_exclusive(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """timeFilter uses gt/lt: a request exactly at a bound is outside."""
    session = new_id()
    request_id = _session_call(client, session, "T")
    row = gw.store.wait_for(request_id)
    assert row is not None
    from helicone_wrap.gateway.sql import parse_timestamp_ms

    at = parse_timestamp_ms(row["request_created_at"])
    assert at is not None

    def found(start: int, end: int) -> bool:
        body = sessions_body(search=session, timeFilter={"startTimeUnixMs": start, "endTimeUnixMs": end})
        return bool(api.post("/v1/session/query", json=body).json()["data"])

    assert found(at - 1, at + 1)
    assert not found(at, at + 1000)
    assert not found(at - 1000, at)


def test_session_timezone_difference_shifts_times(api: Any, client: openai.OpenAI, gw: GatewayServer) -> None:
    """timezoneDifference (minutes) is added to the reported times, as Helicone does."""
    session = new_id()
    gw.store.wait_for(_session_call(client, session, "TZ"))
    plain = api.post("/v1/session/query", json=sessions_body(search=session)).json()["data"][0]["created_at"]
    shifted = api.post("/v1/session/query", json=sessions_body(search=session, timezoneDifference=60)).json()[
        "data"
    ][0]
    from helicone_wrap.gateway.sql import parse_timestamp_ms

    assert parse_timestamp_ms(shifted["created_at"]) == parse_timestamp_ms(plain) + 3_600_000  # type: ignore[operator]


def test_reads_see_writes_at_once(api: Any, client: openai.OpenAI) -> None:
    """A property written and read back right away is visible (reads wait for the write-behind)."""
    request_id = chat(client)
    deadline = time.monotonic() + 5
    while api.put(f"/v1/request/{request_id}/property", json={"key": "k", "value": "v"}).status_code != 201:
        assert time.monotonic() < deadline
    assert api.get(f"/v1/request/{request_id}").json()["data"]["properties"] == {"k": "v"}
