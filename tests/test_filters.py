"""The filter builder compiles to Helicone's FilterNode AST: one condition per leaf, binary branches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from helicone_wrap._api.filters import F, Filter, all_of, any_of, compile_filter
from helicone_wrap._exceptions import HeliconeValidationError

RR = "request_response_rmt"
S = "sessions_request_response_rmt"


def leaf(column: str, op: str, value: Any, table: str = RR) -> dict[str, Any]:
    return {table: {column: {op: value}}}


def mapleaf(column: str, key: str, op: str, value: Any) -> dict[str, Any]:
    return {RR: {column: {key: {op: value}}}}


def node(built: Filter) -> dict[str, Any]:
    compiled = built.to_node()
    assert isinstance(compiled, dict)
    return compiled


UTC_NOON = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        pytest.param(F.latency >= 100, leaf("latency", "gte", 100), id="gte"),
        pytest.param(F.latency > 100, leaf("latency", "gt", 100), id="gt"),
        pytest.param(F.latency <= 100, leaf("latency", "lte", 100), id="lte"),
        pytest.param(F.latency < 100.5, leaf("latency", "lt", 100.5), id="lt-float"),
        pytest.param(F.status == 200, leaf("status", "equals", 200), id="equals"),
        pytest.param(F.status != 200, leaf("status", "not-equals", 200), id="not-equals"),
        pytest.param(100 <= F.latency, leaf("latency", "gte", 100), id="reflected"),
        pytest.param(F.model.contains("gpt"), leaf("model", "contains", "gpt"), id="contains"),
        pytest.param(F.model.not_contains("mini"), leaf("model", "not-contains", "mini"), id="not-contains"),
        pytest.param(F.model.like("gpt-4%"), leaf("model", "like", "gpt-4%"), id="like"),
        pytest.param(F.model.ilike("%GPT%"), leaf("model", "ilike", "%GPT%"), id="ilike"),
        pytest.param(F.user_id != "bot", leaf("user_id", "not-equals", "bot"), id="user-id"),
        pytest.param(F.user_id == None, leaf("user_id", "equals", "null"), id="is-null"),  # noqa: E711
        pytest.param(F.provider != None, leaf("provider", "not-equals", "null"), id="is-not-null"),  # noqa: E711
        pytest.param(F.cost >= 0.01, leaf("cost", "gte", 0.01), id="cost"),
        pytest.param(F.cached == True, leaf("cached", "equals", True), id="bool-column"),  # noqa: E712
        pytest.param(F.column("node_id") == "n1", leaf("node_id", "equals", "n1"), id="any-column"),
        pytest.param(F.created_at >= UTC_NOON, leaf("request_created_at", "gte", "2026-05-01T12:00:00.000Z"), id="datetime"),
        pytest.param(F.created_at < "2026-05-01", leaf("request_created_at", "lt", "2026-05-01"), id="iso-string"),
        pytest.param(
            F.created_at >= datetime(2026, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))),
            leaf("request_created_at", "gte", "2026-05-01T12:00:00.000Z"),
            id="datetime-to-utc",
        ),
        pytest.param(F.property("Environment") == "prod", mapleaf("properties", "environment", "equals", "prod"), id="property-lowercased"),
        pytest.param(F.property("Helicone-Session-Id") == "s1", mapleaf("properties", "Helicone-Session-Id", "equals", "s1"), id="property-helicone-case"),
        pytest.param(F.property("env").contains("pro"), mapleaf("properties", "env", "contains", "pro"), id="property-contains"),
        pytest.param(F.session_id == "s1", mapleaf("properties", "Helicone-Session-Id", "equals", "s1"), id="session-id"),
        pytest.param(F.session_path.like("/a%"), mapleaf("properties", "Helicone-Session-Path", "like", "/a%"), id="session-path"),
        pytest.param(F.property_key("Env"), {RR: {"property_key": {"equals": "env"}}}, id="has-key"),
        pytest.param(F.score("accuracy") >= 3, mapleaf("scores", "accuracy", "gte", 3), id="score"),
        pytest.param(F.score("grounded") == True, mapleaf("scores", "grounded-hcone-bool", "equals", 1), id="bool-score"),  # noqa: E712
        pytest.param(F.feedback == True, mapleaf("scores", "helicone-score-feedback", "equals", 1), id="feedback-up"),  # noqa: E712
        pytest.param(F.feedback == False, mapleaf("scores", "helicone-score-feedback", "equals", 0), id="feedback-down"),  # noqa: E712
        pytest.param(F.session.total_cost >= 1, leaf("session_total_cost", "gte", 1, S), id="session-cost"),
        pytest.param(F.session.name == "Plan", leaf("session_session_name", "equals", "Plan", S), id="session-name"),
        pytest.param(F.session.total_requests > 3, leaf("session_total_requests", "gt", 3, S), id="session-requests"),
    ],
)
def test_leaves(built: Filter, expected: dict[str, Any]) -> None:
    """Each comparison compiles to exactly one condition in Helicone's leaf shape."""
    assert built.to_node() == expected
    assert compile_filter(built) == expected


def test_and_or_make_binary_branches() -> None:
    """& and | build {"left","operator","right"} branches; a range is two leaves."""
    built = ((F.latency >= 100) & (F.latency < 500)) | (F.status == 500)
    assert built.to_node() == {
        "left": {"left": leaf("latency", "gte", 100), "operator": "and", "right": leaf("latency", "lt", 500)},
        "operator": "or",
        "right": leaf("status", "equals", 500),
    }


def test_raw_dicts_combine_and_pass_through() -> None:
    """Raw FilterNode dicts pass through unchanged and combine with built filters."""
    raw = {"request_response_rmt": {"country_code": {"equals": "DE"}}}
    assert compile_filter(raw) is raw
    assert ((F.status == 200) & raw).to_node() == {"left": leaf("status", "equals", 200), "operator": "and", "right": raw}
    assert node(raw | (F.status == 200))["left"] == raw


@pytest.mark.parametrize(("value", "expected"), [(None, "all"), ("all", "all")])
def test_none_and_all(value: Any, expected: str) -> None:
    """None and "all" compile to "all"."""
    assert compile_filter(value) == expected


def test_all_of_and_any_of_nest_to_the_right() -> None:
    """all_of/any_of right-nest like Helicone's filterListToTree; none at all is "all"."""
    a, b, c = F.status == 200, F.model == "m", F.latency < 5
    assert all_of(a, b, c).to_node() == {
        "left": a.to_node(), "operator": "and", "right": {"left": b.to_node(), "operator": "and", "right": c.to_node()}
    }
    assert any_of(a).to_node() == a.to_node()
    assert all_of().to_node() == "all"


def test_non_ascii_text_matches_both_stored_forms() -> None:
    """A value helicone_wrap would header-encode matches raw (enrich) or encoded (header) storage."""
    assert (F.property("team") == "Café").to_node() == {
        "left": mapleaf("properties", "team", "equals", "Café"),
        "operator": "or",
        "right": mapleaf("properties", "team", "equals", "utf-8''Caf%C3%A9"),
    }
    assert node(F.user_id != "José")["operator"] == "and"
    assert (F.model == "Café").to_node() == leaf("model", "equals", "Café")  # not header-borne


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(lambda: F.latency >= "100", "number", id="number-vs-str"),
        pytest.param(lambda: F.status == True, "number", id="number-vs-bool"),  # noqa: E712
        pytest.param(lambda: F.model == 3, "str", id="text-vs-int"),
        pytest.param(lambda: F.model >= "a", "text column", id="text-no-gte"),
        pytest.param(lambda: F.latency.contains("1"), "number column", id="number-no-contains"),
        pytest.param(lambda: F.created_at == UTC_NOON, "time column", id="time-no-equals"),
        pytest.param(lambda: F.created_at >= 5, "datetime", id="time-vs-int"),
        pytest.param(lambda: F.cached == 1, "True or False", id="bool-vs-int"),
        pytest.param(lambda: F.feedback >= True, "feedback column", id="feedback-no-gte"),
        pytest.param(lambda: F.property("bad key") == "x", "header token", id="bad-property-key"),
        pytest.param(lambda: F.score("") >= 1, "non-empty", id="empty-score"),
        pytest.param(lambda: (F.status == 200) & 3, "cannot combine", id="combine-int"),  # type: ignore[operator]
        pytest.param(lambda: compile_filter(3), "FilterNode", id="compile-int"),  # type: ignore[arg-type]
    ],
)
def test_mistakes_are_rejected(make: Any, match: str) -> None:
    """Type and operator mistakes raise HeliconeValidationError with a hint."""
    with pytest.raises(HeliconeValidationError, match=match):
        make()


def test_python_and_or_chains_are_refused() -> None:
    """`and`, `or`, `not` and chained comparisons would silently drop a condition, so they raise."""
    with pytest.raises(HeliconeValidationError, match="&"):
        _ = (F.status == 200) and (F.latency < 5)
    with pytest.raises(HeliconeValidationError, match="ranges"):
        _ = 100 <= F.latency < 500


def test_unknown_columns_raise_attribute_error() -> None:
    """A typo in a column name lists the known columns."""
    with pytest.raises(AttributeError, match="latency"):
        _ = F.latancy
    with pytest.raises(AttributeError, match="total_cost"):
        _ = F.session.totl_cost


def test_filters_compare_by_value() -> None:
    """Two filters that compile to the same node are equal and hash alike."""
    assert (F.status == 200) == (F.status == 200)
    assert hash(F.status == 200) == hash(F.status == 200)
    assert repr(F.status == 200).startswith("<Filter")
