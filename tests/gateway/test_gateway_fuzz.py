"""Fuzzing the filter language: no crash, no unhandled 500, and no input in the SQL text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helicone_wrap.gateway import GatewayServer, LogRow, Store
from helicone_wrap.gateway.sql import (
    REQUEST_COLUMNS,
    SESSION_COLUMNS,
    FilterError,
    Mode,
    compile_filter,
    compile_sort,
)

from .conftest import rest_client

SENTINEL = "zq"  # never part of the gateway's own SQL; every generated string starts with it

_INJECTIONS = st.sampled_from(
    [
        "'",
        '"',
        ";",
        "--",
        "/*",
        "*/",
        ")",
        "(",
        "%",
        "_",
        "\\",
        "\x00",
        "$.",
        " OR 1=1",
        "DROP TABLE requests",
        "ü",
    ]
)
weird = st.lists(st.one_of(st.text(max_size=4), _INJECTIONS), max_size=4).map(
    lambda parts: SENTINEL + "".join(parts)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    weird,
    st.sampled_from(["null", "__empty__", "all", "2026-01-01T00:00:00Z"]),
)
operators = st.one_of(
    st.sampled_from(
        [
            "equals",
            "not-equals",
            "like",
            "ilike",
            "contains",
            "not-contains",
            "gte",
            "gt",
            "lte",
            "lt",
            "gin-contains",
        ]
    ),
    weird,
)
op_objects = st.one_of(st.dictionaries(operators, scalars, max_size=2), scalars)
columns = st.one_of(
    st.sampled_from(
        sorted(REQUEST_COLUMNS) + sorted(SESSION_COLUMNS) + ["property_key", "helicone-score-feedback"]
    ),
    weird,
)
column_filters = st.one_of(
    st.builds(lambda column, op: {column: op}, columns, op_objects),
    st.builds(
        lambda column, key, op: {column: {key: op}},
        st.sampled_from(["properties", "scores", "search_properties"]),
        weird,
        op_objects,
    ),
    scalars,
)
tables = st.one_of(
    st.sampled_from(["request_response_rmt", "sessions_request_response_rmt", "properties", "feedback"]),
    weird,
)
leaves = st.dictionaries(tables, column_filters, max_size=2)
nodes = st.recursive(
    st.one_of(st.just("all"), st.just({}), leaves, scalars),
    lambda children: st.one_of(
        st.fixed_dictionaries(
            {
                "left": children,
                "operator": st.one_of(st.sampled_from(["and", "or", "xor"]), weird),
                "right": children,
            }
        ),
        st.lists(children, max_size=2),
    ),
    max_leaves=12,
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    """A store with a couple of rows to run compiled filters against."""
    db = Store(":memory:")
    db.log(
        LogRow(
            request_id="r1", created_at=1, path="/v1/x", properties={"zq'": "zq;", "Helicone-Session-Id": "s"}
        )
    )
    db.log(LogRow(request_id="r2", created_at=2, path="/v1/y", model="gpt-4o", user_id="zq--"))
    db.flush(5)
    yield db
    db.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=nodes)
def test_compiled_filters_are_safe_and_run(store: Store, node: Any) -> None:
    """Any JSON either compiles to SQL free of input strings that SQLite runs, or raises FilterError."""
    modes: tuple[Mode, ...] = ("requests", "session_where", "session_having")
    for mode in modes:
        try:
            compiled = compile_filter(node, mode)
        except FilterError as error:
            assert error.path.startswith("filter")
            continue
        assert SENTINEL not in compiled.sql
        if mode == "requests":
            store.count_requests(compiled)
        elif mode == "session_where":
            store.count_sessions(compiled, compile_filter("all"))
        else:
            store.count_sessions(compile_filter("all"), compiled)


@settings(max_examples=200, deadline=None)
@given(
    sort=st.one_of(
        scalars,
        st.dictionaries(
            st.one_of(st.sampled_from(["created_at", "latency", "properties", "random"]), weird),
            st.one_of(scalars, st.dictionaries(weird, scalars, max_size=1)),
            max_size=2,
        ),
    )
)
def test_compiled_sorts_are_safe(store: Store, sort: Any) -> None:
    """Any sort object compiles to whitelisted SQL that runs, or raises FilterError."""
    try:
        order = compile_sort(sort)
    except FilterError:
        return
    assert SENTINEL not in order.sql
    store.query_requests(compile_filter("all"), order, 10, 0, visible_only=False)


@pytest.fixture(scope="module")
def rest(gw: GatewayServer) -> Iterator[Any]:
    """A module-wide HTTP client on the shared gateway."""
    with rest_client(gw.url) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=nodes, limit=st.one_of(st.none(), st.integers(min_value=-5, max_value=1005), weird))
def test_rest_endpoints_never_crash(rest: Any, node: Any, limit: Any) -> None:
    """Fuzzed bodies get a success, a 4xx, or Helicone's own domain 500s, never an unhandled error."""
    domain_errors = {"invalid limit", "invalid offset", "Invalid timezone difference"}
    body: dict[str, Any] = {"filter": node}
    if limit is not None:
        body["limit"] = limit
    session_fields = {"search": "", "timeFilter": {"startTimeUnixMs": 0, "endTimeUnixMs": 4_102_444_800_000}, "timezoneDifference": 0}
    for path, ok, fields in (
        ("/v1/request/query-clickhouse", 201, {}),
        ("/v1/request/count/query", 201, {}),
        ("/v1/session/query", 200, session_fields),
    ):
        content = json.dumps({**fields, **body}, allow_nan=True)  # Python's json reads NaN/Infinity: send them too
        response = rest.post(path, content=content, headers={"content-type": "application/json"})
        assert response.status_code in (ok, 400, 422, 500), response.text
        payload = response.json()
        if response.status_code == 500:
            assert payload["error"] in domain_errors, payload
        if response.status_code == 400:
            assert payload["error"].startswith("Invalid filter: filter"), payload
        assert all(SENTINEL not in text for text in _strings(payload.get("data")))
