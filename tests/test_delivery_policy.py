"""The retry policy as a table: (status, body, headers, attempt, elapsed) -> done / retry after d / fail."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from helicone_wrap._delivery import Decision, retry_decision

NOT_FOUND = {"data": None, "error": "Request not found"}
NOW = 1_800_000_000.0


def decide(status: int | None, body: Any = None, headers: dict[str, str] | None = None, attempt: int = 1,
           elapsed: float = 0.0, **kwargs: Any) -> Decision:
    kwargs.setdefault("rand", lambda: 1.0)  # the top of the full-jitter range, so delays are exact
    return retry_decision(status, body, headers or {}, attempt, elapsed, now=NOW, **kwargs)


@pytest.mark.parametrize(
    ("status", "body", "action", "reason"),
    [
        pytest.param(201, {"data": None, "error": None}, "done", "delivered", id="201"),
        pytest.param(200, None, "done", "delivered", id="200-empty"),
        pytest.param(201, {"data": None, "error": {}}, "done", "delivered", id="201-empty-error-object"),
        pytest.param(200, {"data": None, "error": "boom"}, "fail", "error-envelope", id="200-error-envelope"),
        pytest.param(200, NOT_FOUND, "retry", "not-found", id="200-not-found-envelope"),
        pytest.param(500, NOT_FOUND, "retry", "not-found", id="500-not-found"),
        pytest.param(500, "Request not found", "retry", "not-found", id="500-not-found-text"),
        pytest.param(500, {"message": "internal"}, "retry", "server-error", id="500"),
        pytest.param(502, "Bad Gateway", "retry", "server-error", id="502"),
        pytest.param(503, None, "retry", "server-error", id="503"),
        pytest.param(408, "Request timed out", "retry", "server-error", id="408"),
        pytest.param(429, {"error": "Too many requests"}, "retry", "rate-limited", id="429"),
        pytest.param(None, None, "retry", "no-answer", id="no-answer"),
        pytest.param(400, {"error": "bad"}, "fail", "client-error", id="400"),
        pytest.param(401, {"error": "Unauthorized"}, "fail", "client-error", id="401"),
        pytest.param(403, {"error": "Forbidden"}, "fail", "client-error", id="403"),
        pytest.param(404, "Not Found", "fail", "client-error", id="404"),
        pytest.param(422, {"message": "Validation Failed"}, "fail", "client-error", id="422"),
    ],
)
def test_outcome_by_answer(status: int | None, body: Any, action: str, reason: str) -> None:
    """Each kind of answer maps to done, retry or fail, and says why."""
    decision = decide(status, body)
    assert (decision.action, decision.reason) == (action, reason)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (8, 32.0), (14, 2048.0), (15, 3600.0), (60, 3600.0)],
)
def test_backoff_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    """The backoff ceiling is base * 2**(attempt-1), capped (0.25 s base, one hour cap by default)."""
    assert decide(503, attempt=attempt).delay == expected


def test_backoff_uses_full_jitter() -> None:
    """The actual delay is uniform between 0 and the ceiling (full jitter)."""
    assert decide(503, attempt=3, rand=lambda: 0.5).delay == 0.5
    assert decide(503, attempt=3, rand=lambda: 0.0).delay == 0.0


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="retry-after-seconds"),
        pytest.param({"retry-after": "1.5"}, 1.5, id="lowercase-header"),
        pytest.param({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 12, timezone.utc), usegmt=True)}, 12.0, id="http-date"),
        pytest.param({"RateLimit-Reset": "20"}, 20.0, id="ratelimit-reset"),
        pytest.param({"Retry-After": "soon"}, 0.25, id="unparseable-falls-back-to-backoff"),
        pytest.param({}, 0.25, id="no-header-backoff"),
    ],
)
def test_rate_limit_honours_retry_after(headers: dict[str, str], delay: float) -> None:
    """429 waits as long as Retry-After (seconds or HTTP date) or RateLimit-Reset says."""
    decision = decide(429, {"error": "Too many requests"}, headers)
    assert decision.action == "retry" and decision.delay == pytest.approx(delay)


def test_retry_after_longer_than_the_window_gives_up() -> None:
    """A Retry-After beyond the lag window ends the operation rather than retrying early."""
    assert decide(429, None, {"Retry-After": "120"}, lag_window=60).action == "fail"


@pytest.mark.parametrize("status", [500, 503, 429, None])
def test_window_bounds_all_retries(status: int | None) -> None:
    """Past the lag window nothing is retried any more; the reason says it gave up."""
    body = NOT_FOUND if status == 500 else None
    decision = decide(status, body, elapsed=7 * 86400.0 + 1)
    assert decision.action == "fail" and decision.reason.startswith("gave-up:")


def test_last_retry_lands_at_the_window_end() -> None:
    """A backoff longer than what is left of the window is shortened to end exactly at it."""
    assert decide(503, attempt=10, elapsed=7 * 86400.0 - 5).delay == 5.0


def test_default_window_covers_a_multi_day_outage() -> None:
    """Helicone's ingestion has lagged for days: "Request not found" is still retried after 6 days."""
    assert decide(500, NOT_FOUND, attempt=40, elapsed=6 * 86400.0).action == "retry"


def test_max_retries_caps_attempts() -> None:
    """max_retries limits attempts even inside the window."""
    assert decide(503, attempt=3, max_retries=3).action == "retry"
    assert decide(503, attempt=4, max_retries=3).action == "fail"
    assert decide(503, attempt=1, max_retries=0).action == "fail"
