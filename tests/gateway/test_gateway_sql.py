"""The FilterNode compiler (pure) run against a real SQLite store: semantics per HELICONE.md §5."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from helicone_wrap.gateway import LogRow, Store
from helicone_wrap.gateway.sql import (
    FilterError,
    compile_filter,
    compile_sort,
    filter_list_to_tree,
    like_to_regex,
    parse_timestamp_ms,
)

R1, R2, R3 = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))
JAN = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    """Three logged requests with different models, latencies, users, properties and scores."""
    db = Store(":memory:")
    db.log(
        LogRow(
            request_id=R1,
            created_at=JAN,
            path="/v1/chat/completions",
            model="gpt-4o-mini",
            latency_ms=100,
            user_id="alice",
            cost=0.001,
            prompt_tokens=10,
            completion_tokens=5,
            total_tokens=15,
            properties={"environment": "prod", "Helicone-Session-Id": "s1"},
        )
    )
    db.log(
        LogRow(
            request_id=R2,
            created_at=JAN + DAY,
            path="/v1/chat/completions",
            model="gpt-4o",
            latency_ms=300,
            status=500,
            properties={"environment": "dev", "App": "X"},
            response_body="Hello World",
        )
    )
    db.log(
        LogRow(
            request_id=R3,
            created_at=JAN + 2 * DAY,
            path="/v1/responses",
            model="GPT-4O-MINI",
            latency_ms=200,
            user_id="Bob",
        )
    )
    assert db.flush(5)
    assert asyncio.run(db.add_scores(R1, {"accuracy": 90, "helicone-score-feedback": 1}))
    yield db
    db.close()


def matching(store: Store, node: Any) -> set[str]:
    """Ids of the requests a filter selects."""
    rows = store.query_requests(compile_filter(node), compile_sort(None), 1000, 0, visible_only=False)
    return {row["request_id"] for row in rows}


def rmt(column: str, operator: str, value: Any) -> dict[str, Any]:
    """A one-condition request_response_rmt leaf."""
    return {"request_response_rmt": {column: {operator: value}}}


SEMANTICS = [
    ("'all' is true", "all", {R1, R2, R3}),
    ("{} is true", {}, {R1, R2, R3}),
    ("equals is exact and case-sensitive", rmt("model", "equals", "gpt-4o-mini"), {R1}),
    ("ilike ignores case", rmt("model", "ilike", "gpt-4o-mini"), {R1, R3}),
    ("like is case-sensitive", rmt("model", "like", "gpt-4o%"), {R1, R2}),
    ("like matches upper case only when asked", rmt("model", "like", "GPT%"), {R3}),
    ("like '_' matches one character", rmt("model", "like", "gpt-4_"), {R2}),
    ("contains is a case-insensitive substring", rmt("model", "contains", "4O"), {R1, R2, R3}),
    ("not-contains negates contains", rmt("model", "not-contains", "mini"), {R2}),
    ("gte on a number column", rmt("latency", "gte", 200), {R2, R3}),
    ("lt on a number column", rmt("latency", "lt", 200), {R1}),
    (
        "only the first operator counts",
        {"request_response_rmt": {"latency": {"gte": 200, "lte": 200}}},
        {R2, R3},
    ),
    (
        "only the first column counts",
        {"request_response_rmt": {"latency": {"gte": 250}, "status": {"equals": 200}}},
        {R2},
    ),
    ("status equals", rmt("status", "equals", 500), {R2}),
    ("cost compares in USD", rmt("cost", "gt", 0.0005), {R1}),
    ("equals 'null' is IS NULL", rmt("user_id", "equals", "null"), {R2}),
    ("not-equals 'null' is IS NOT NULL", rmt("user_id", "not-equals", "null"), {R1, R3}),
    ("equals '__empty__' tests emptiness", rmt("user_id", "equals", "__empty__"), {R2}),
    ("a missing text reads as '' for not-equals", rmt("user_id", "not-equals", "alice"), {R2, R3}),
    ("columns without data read as ''", rmt("country_code", "equals", ""), {R1, R2, R3}),
    ("property filter", {"request_response_rmt": {"properties": {"environment": {"equals": "prod"}}}}, {R1}),
    (
        "property keys are case-sensitive",
        {"request_response_rmt": {"properties": {"Environment": {"equals": "prod"}}}},
        set(),
    ),
    (
        "a missing property reads as ''",
        {"request_response_rmt": {"properties": {"environment": {"not-equals": "prod"}}}},
        {R2, R3},
    ),
    ("property ilike", {"request_response_rmt": {"properties": {"environment": {"ilike": "D%"}}}}, {R2}),
    ("property_key is has-key", {"request_response_rmt": {"property_key": {"equals": "App"}}}, {R2}),
    ("scores need the key", {"request_response_rmt": {"scores": {"accuracy": {"gte": 50}}}}, {R1}),
    ("feedback score equals 1", rmt("helicone-score-feedback", "equals", 1), {R1}),
    ("feedback score equals true", rmt("helicone-score-feedback", "equals", True), {R1}),
    ("no feedback reads as 0", rmt("helicone-score-feedback", "equals", 0), {R2, R3}),
    ("ISO timestamps compare", rmt("request_created_at", "gt", "2026-01-01T12:00:00Z"), {R2, R3}),
    ("response body contains", rmt("response_body", "contains", "world"), {R2}),
    ("cached is false without a cache reference", rmt("cached", "equals", False), {R1, R2, R3}),
    (
        "or branch",
        {"left": rmt("model", "equals", "gpt-4o"), "operator": "or", "right": rmt("latency", "lt", 150)},
        {R1, R2},
    ),
    (
        "nested and branch",
        {
            "left": rmt("latency", "gte", 100),
            "operator": "and",
            "right": {
                "left": rmt("user_id", "equals", "Bob"),
                "operator": "or",
                "right": rmt("status", "equals", 500),
            },
        },
        {R2, R3},
    ),
    ("filter_list_to_tree of nothing is all", filter_list_to_tree([], "and"), {R1, R2, R3}),
    (
        "filter_list_to_tree ANDs a list",
        filter_list_to_tree(
            [rmt("latency", "gte", 100), rmt("latency", "lte", 200), rmt("status", "equals", 200)], "and"
        ),
        {R1, R3},
    ),
]


@pytest.mark.parametrize(("case", "node", "expected"), SEMANTICS, ids=[c[0] for c in SEMANTICS])
def test_filter_semantics(store: Store, case: str, node: Any, expected: set[str]) -> None:
    """Each FilterNode selects exactly the rows Helicone's compiler would."""
    assert matching(store, node) == expected


ERRORS = [
    ("bad branch operator", {"left": "all", "operator": "xor", "right": "all"}, "filter.operator"),
    ("branch without right", {"left": "all", "operator": "and"}, "filter"),
    ("unknown column", rmt("nope", "equals", 1), "filter.request_response_rmt.nope"),
    (
        "string for a number column",
        rmt("latency", "equals", "abc"),
        "filter.request_response_rmt.latency.equals",
    ),
    ("number for a text column", rmt("model", "gte", 5), "filter.request_response_rmt.model.gte"),
    ("like on a number column", rmt("latency", "like", "1%"), "filter.request_response_rmt.latency.like"),
    ("unknown operator", rmt("latency", "between", 1), "filter.request_response_rmt.latency.between"),
    (
        "internal operator",
        rmt("latency", "gin-contains", 1),
        "filter.request_response_rmt.latency.gin-contains",
    ),
    (
        "bad timestamp",
        rmt("request_created_at", "gt", "yesterday"),
        "filter.request_response_rmt.request_created_at.gt",
    ),
    ("top-level properties table", {"properties": {"a": {"equals": "b"}}}, "filter.properties"),
    (
        "session table on a request endpoint",
        {"sessions_request_response_rmt": {"total_cost": {"gt": 1}}},
        "filter.sessions_request_response_rmt",
    ),
    ("empty table object", {"request_response_rmt": {}}, "filter.request_response_rmt"),
    (
        "empty operator object",
        {"request_response_rmt": {"latency": {}}},
        "filter.request_response_rmt.latency",
    ),
    ("a number is no node", 5, "filter"),
    ("a list is no node", [rmt("latency", "gt", 1)], "filter"),
    (
        "property_key with another operator",
        {"request_response_rmt": {"property_key": {"like": "a"}}},
        "filter.request_response_rmt.property_key.like",
    ),
    (
        "errors name nested nodes",
        {
            "left": "all",
            "operator": "or",
            "right": {"left": rmt("latency", "equals", "x"), "operator": "and", "right": "all"},
        },
        "filter.right.left.request_response_rmt.latency.equals",
    ),
]


@pytest.mark.parametrize(("case", "node", "path"), ERRORS, ids=[c[0] for c in ERRORS])
def test_filter_errors_name_the_node(case: str, node: Any, path: str) -> None:
    """A bad node raises FilterError whose path points at it."""
    with pytest.raises(FilterError) as caught:
        compile_filter(node)
    assert caught.value.path == path
    assert str(caught.value).startswith(path + ": ")


def test_deep_nesting_is_refused() -> None:
    """A filter nested deeper than the limit is an error, not a RecursionError."""
    node: Any = "all"
    for _ in range(200):
        node = {"left": node, "operator": "and", "right": "all"}
    with pytest.raises(FilterError, match="nested more than"):
        compile_filter(node)


def test_values_and_keys_are_bound_parameters() -> None:
    """Input strings only ever appear in the parameters, never in the SQL text."""
    node = {
        "left": {
            "request_response_rmt": {
                "properties": {"k'; DROP TABLE requests; --": {"equals": "v' OR 1=1 --"}}
            }
        },
        "operator": "and",
        "right": rmt("model", "like", "x%' --"),
    }
    compiled = compile_filter(node)
    assert "DROP" not in compiled.sql and "1=1" not in compiled.sql and "x%" not in compiled.sql
    assert compiled.params == ("k'; DROP TABLE requests; --", "v' OR 1=1 --", "x%' --")


SESSION_MODES = [
    ("request leaves are true in the HAVING pass", rmt("latency", "gt", 1), "session_having", "1"),
    (
        "session leaves are true in the WHERE pass",
        {"sessions_request_response_rmt": {"session_total_cost": {"gt": 1}}},
        "session_where",
        "1",
    ),
    (
        "session leaves compile in the HAVING pass",
        {"sessions_request_response_rmt": {"total_cost": {"gt": 1}}},
        "session_having",
        "s.total_cost > ?",
    ),
]


@pytest.mark.parametrize(("case", "node", "mode", "sql"), SESSION_MODES, ids=[c[0] for c in SESSION_MODES])
def test_session_modes(case: str, node: Any, mode: Any, sql: str) -> None:
    """Session endpoints compile one tree twice: request leaves per row, session leaves per group."""
    assert compile_filter(node, mode).sql == sql


SORTS = [
    ("default is newest first", None, "r.created_at DESC"),
    ("latency ascending", {"latency": "asc"}, "r.latency_ms ASC"),
    (
        "Helicone's precedence decides between keys",
        {"latency": "asc", "created_at": "asc"},
        "r.created_at ASC",
    ),
    ("cost", {"cost": "desc"}, "r.cost DESC"),
    ("body_model", {"body_model": "asc"}, "r.request_model ASC"),
    ("random wins over everything", {"created_at": "asc", "random": True}, "random()"),
    ("falsy values are skipped", {"created_at": None, "latency": "desc"}, "r.latency_ms DESC"),
    ("unknown keys fall back to the default", {"nope": "asc"}, "r.created_at DESC"),
]


@pytest.mark.parametrize(("case", "sort", "sql"), SORTS, ids=[c[0] for c in SORTS])
def test_sort(case: str, sort: Any, sql: str) -> None:
    """Sort objects map to whitelisted ORDER BY expressions."""
    assert compile_sort(sort).sql == sql


def test_sort_by_property_binds_the_key(store: Store) -> None:
    """Sorting by a property orders rows by its value, with the key bound as a parameter."""
    order = compile_sort({"properties": {"environment": "asc"}})
    assert order.params == ("environment",)
    rows = store.query_requests(compile_filter("all"), order, 10, 0, visible_only=False)
    assert [row["request_id"] for row in rows] == [R3, R2, R1]


@pytest.mark.parametrize(
    ("sort", "path"),
    [
        ({"latency": "up"}, "sort.latency"),
        ({"properties": {"a": "sideways"}}, "sort.properties.a"),
        ({"properties": {"bad key'": "asc"}}, "sort.properties"),
        ("newest", "sort"),
    ],
)
def test_bad_sort(sort: Any, path: str) -> None:
    """A bad direction, property key or sort shape is an error naming the sort node."""
    with pytest.raises(FilterError) as caught:
        compile_sort(sort)
    assert caught.value.path == path


LIKE = [
    ("a%", "abc", True),
    ("a%", "bac", False),
    ("a_c", "abc", True),
    ("100\\%", "100%", True),
    ("100\\%", "1000", False),
    ("a.c", "abc", False),
    ("%\n%", "x\ny", True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), LIKE)
def test_like_patterns(pattern: str, text: str, expected: bool) -> None:
    """LIKE patterns support %, _ and backslash escapes, and treat regex characters literally."""
    assert (like_to_regex(pattern, True).fullmatch(text) is not None) is expected


TIMESTAMPS = [
    ("1970-01-01T00:00:01Z", 1000),
    ("1970-01-01T00:00:01.500+00:00", 1500),
    ("1970-01-01T01:00:00+01:00", 0),
    ("1970-01-01 00:00:02", 2000),
    (2500, 2500),
    ("soon", None),
    (True, None),
    (float("nan"), None),
]


@pytest.mark.parametrize(("value", "expected"), TIMESTAMPS)
def test_parse_timestamp(value: object, expected: int | None) -> None:
    """Timestamps are ISO-8601 strings (naive = UTC) or epoch milliseconds."""
    assert parse_timestamp_ms(value) == expected
