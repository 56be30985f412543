"""HeliconeAPI and AsyncHeliconeAPI against a loopback server: every behaviour on both twins."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

from helicone_wrap._api import AsyncHeliconeAPI, HeliconeAPI
from helicone_wrap._api.filters import F
from helicone_wrap._exceptions import (
    HeliconeAPIError,
    HeliconeAuthError,
    HeliconeConfigError,
    HeliconeConnectionError,
    HeliconeRateLimitError,
    HeliconeRequestNotFound,
    HeliconeValidationError,
)

from .faultserver import FaultServer, Recorded, Response, closed_port, not_found, rate_limited, reply

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
RID = "3f0c2a9e-1b2c-4d5e-8f90-123456789abc"


class Twin:
    """Drives HeliconeAPI or AsyncHeliconeAPI through one interface."""

    def __init__(self, api: HeliconeAPI | AsyncHeliconeAPI) -> None:
        self.api: Any = api

    async def call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def close(self) -> None:
        await self.call(self.api.aclose if isinstance(self.api, AsyncHeliconeAPI) else self.api.close)


@pytest.fixture
def server() -> Any:
    with FaultServer() as srv:
        yield srv


@pytest.fixture(params=["sync", "async"])
async def twin(request: pytest.FixtureRequest, server: FaultServer) -> AsyncIterator[Twin]:
    cls = AsyncHeliconeAPI if request.param == "async" else HeliconeAPI
    t = Twin(cls(api_key=KEY, base_url=server.url))
    yield t
    await t.close()


def data(payload: Any, status: int = 200) -> Response:
    return reply(status, {"data": payload, "error": None})


async def test_add_property_puts_one_lowercased_key(twin: Twin, server: FaultServer) -> None:
    """requests.add_property is PUT /v1/request/{id}/property {"key","value"} with Bearer auth, no context headers."""
    assert await twin.call(twin.api.requests.add_property, RID, "Outcome", "resolved") is None
    (seen,) = server.seen()
    assert (seen.method, seen.path, seen.body) == ("PUT", f"/v1/request/{RID}/property", {"key": "outcome", "value": "resolved"})
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert not [h for h in seen.headers if h.startswith("helicone-")]


async def test_feedback_and_score(twin: Twin, server: FaultServer) -> None:
    """requests.feedback and requests.score post Helicone's bodies."""
    await twin.call(twin.api.requests.feedback, RID, False)
    await twin.call(twin.api.requests.score, RID, {"accuracy": 87, "grounded": True})
    assert [(r.path, r.body) for r in server.seen()] == [
        (f"/v1/request/{RID}/feedback", {"rating": False}),
        (f"/v1/request/{RID}/score", {"scores": {"accuracy": 87, "grounded": True}}),
    ]


async def test_get_returns_a_typed_row_or_none(twin: Twin, server: FaultServer) -> None:
    """requests.get parses a RequestRow; Helicone's empty data for unknown ids is None."""
    server.when(data({"request_id": RID, "model": "m", "delay_ms": 12}), times=1)
    row = await twin.call(twin.api.requests.get, RID, include_body=True)
    assert (row.request_id, row.model, row.delay_ms) == (RID, "m", 12)
    assert server.seen()[0].path == f"/v1/request/{RID}?includeBody=true"
    assert await twin.call(twin.api.requests.get, RID) is None


async def test_query_sends_the_compiled_filter(twin: Twin, server: FaultServer) -> None:
    """requests.query posts {filter, offset, limit, sort} to query-clickhouse and returns typed rows."""
    server.when(data([{"request_id": RID, "model": "gpt-4o-mini"}, {"request_id": "x"}]))
    rows = await twin.call(twin.api.requests.query, filter=(F.latency >= 100) & (F.model.contains("gpt")), limit=2, sort="-cost")
    assert [r.request_id for r in rows] == [RID, "x"]
    seen = server.seen()[0]
    assert seen.path == "/v1/request/query-clickhouse"
    assert seen.body == {
        "filter": {
            "left": {"request_response_rmt": {"latency": {"gte": 100}}},
            "operator": "and",
            "right": {"request_response_rmt": {"model": {"contains": "gpt"}}},
        },
        "offset": 0,
        "limit": 2,
        "sort": {"cost": "desc"},
    }


async def test_count(twin: Twin, server: FaultServer) -> None:
    """requests.count returns Helicone's number."""
    server.when(data(42))
    assert await twin.call(twin.api.requests.count, F.status == 500) == 42
    assert server.seen()[0].body == {"filter": {"request_response_rmt": {"status": {"equals": 500}}}}


async def test_sessions_query_and_count(twin: Twin, server: FaultServer) -> None:
    """sessions.query returns typed rows; sessions.count returns the aggregates."""
    server.when(data([{"session_id": "s1", "session_name": "Plan", "total_requests": 3}]), path_contains="/session/query")
    server.when(data({"count": 1, "total_cost": 0.5}), path_contains="/session/count")
    (row,) = await twin.call(twin.api.sessions.query, name="Plan", limit=10)
    assert (row.session_id, row.session_name, row.total_requests) == ("s1", "Plan", 3)
    count = await twin.call(twin.api.sessions.count, search="Pl")
    assert (count.count, count.total_cost) == (1, 0.5)
    query, counted = server.seen()
    assert query.body["nameEquals"] == "Plan" and query.body["limit"] == 10
    assert set(query.body["timeFilter"]) == {"startTimeUnixMs", "endTimeUnixMs"}
    assert counted.path == "/v1/session/count" and counted.body["search"] == "Pl"


async def test_session_tree_paginates_and_builds_the_tree(twin: Twin, server: FaultServer) -> None:
    """sessions.tree pages through query-clickhouse with the session-id filter, oldest first, and builds the tree."""
    def page(seen: Recorded) -> Response:
        offset, limit = seen.body["offset"], seen.body["limit"]
        rows = [
            {"request_id": f"r{i}", "request_created_at": f"2026-05-01T12:00:{i:02d}Z",
             "properties": {"Helicone-Session-Id": "s1", "Helicone-Session-Path": "/a" if i % 2 else "/b/c"}}
            for i in range(offset, min(offset + limit, 5))
        ]
        return data(rows)

    server.when(page)
    tree = await twin.call(twin.api.sessions.tree, "s1", max_requests=4)
    assert tree.truncated and len(tree.requests) == 4
    bodies = [r.body for r in server.seen()]
    assert [(b["offset"], b["limit"]) for b in bodies] == [(0, 4)]
    assert bodies[0]["filter"] == {"request_response_rmt": {"properties": {"Helicone-Session-Id": {"equals": "s1"}}}}
    assert bodies[0]["sort"] == {"created_at": "asc"}
    full = await twin.call(twin.api.sessions.tree, "s1")
    assert not full.truncated and [n.path for n in full.root.walk()] == ["/", "/b", "/b/c", "/a"]


@pytest.mark.parametrize(
    ("response", "error_type", "status"),
    [
        pytest.param(not_found(), HeliconeRequestNotFound, 500, id="not-found"),
        pytest.param(reply(401, {"error": "Unauthorized"}), HeliconeAuthError, 401, id="401"),
        pytest.param(rate_limited(retry_after="9"), HeliconeRateLimitError, 429, id="429"),
        pytest.param(reply(422, {"message": "Validation Failed", "details": {}}), HeliconeAPIError, 422, id="422"),
        pytest.param(reply(201, {"data": None, "error": "Invalid requestId: must be a valid UUID"}), HeliconeAPIError, 201, id="envelope-error"),
    ],
)
async def test_errors_raise_the_typed_tree(twin: Twin, server: FaultServer, response: Response, error_type: type, status: int) -> None:
    """Error answers raise the matching subclass carrying status and server message."""
    server.when(response)
    with pytest.raises(HeliconeAPIError) as caught:
        await twin.call(twin.api.requests.feedback, RID, True)
    assert type(caught.value) is error_type and caught.value.status == status
    if isinstance(caught.value, HeliconeRateLimitError):
        assert caught.value.retry_after == 9


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_no_answer_is_a_connection_error(is_async: bool) -> None:
    """A refused connection raises HeliconeConnectionError chained to the transport error, without the key."""
    cls = AsyncHeliconeAPI if is_async else HeliconeAPI
    t = Twin(cls(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(HeliconeConnectionError) as caught:
        await t.call(t.api.requests.count)
    await t.close()
    assert caught.value.__cause__ is not None and KEY not in str(caught.value)


async def test_validation_happens_before_sending(twin: Twin, server: FaultServer) -> None:
    """Bad arguments raise HeliconeValidationError and nothing reaches the server."""
    with pytest.raises(HeliconeValidationError):
        await twin.call(twin.api.requests.query, limit=5000)
    with pytest.raises(HeliconeValidationError):
        await twin.call(twin.api.requests.feedback, RID, None)
    with pytest.raises(HeliconeValidationError):
        await twin.call(twin.api.sessions.tree, "s1", max_requests=0)
    assert server.seen() == []


@pytest.mark.parametrize("cls", [HeliconeAPI, AsyncHeliconeAPI])
def test_cloud_api_needs_a_key(cls: type) -> None:
    """Pointing at api.helicone.ai without any key is a HeliconeConfigError that says how to fix it."""
    with pytest.raises(HeliconeConfigError, match="HELICONE_API_KEY"):
        cls()


@pytest.mark.parametrize("cls", [HeliconeAPI, AsyncHeliconeAPI])
def test_base_url_defaults_follow_the_environment(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """EU keys pick eu.api.helicone.ai; HELICONE_API_URL wins; the key never shows in repr."""
    api = cls(api_key="sk-helicone-eu-aaaaaaa-bbbbbbb-ccccccc-ddddddd")
    assert api.base_url == "https://eu.api.helicone.ai" and "sk-helicone" not in repr(api)
    monkeypatch.setenv("HELICONE_API_URL", "http://127.0.0.1:8787/")
    assert cls(api_key=KEY).base_url == "http://127.0.0.1:8787"


def test_sync_context_manager_closes(server: FaultServer) -> None:
    """`with HeliconeAPI() as api` closes its connections on exit."""
    with HeliconeAPI(api_key=KEY, base_url=server.url) as api:
        api.requests.count()
    assert api._client.is_closed


async def test_async_context_manager_closes(server: FaultServer) -> None:
    """`async with AsyncHeliconeAPI() as api` closes its connections on exit."""
    async with AsyncHeliconeAPI(api_key=KEY, base_url=server.url) as api:
        await api.requests.count()
    assert api._client.is_closed
