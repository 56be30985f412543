"""Background delivery against a real loopback server: retries, failures, flush, handles, queue limits."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helicone_wrap import _delivery, properties, session
from helicone_wrap._config import Target
from helicone_wrap._delivery.outbox import Outbox, OutboxRow
from helicone_wrap._exceptions import (
    HeliconeAPIError,
    HeliconeAuthError,
    HeliconeConnectionError,
    HeliconeDeliveryDropped,
    HeliconeRateLimitError,
    HeliconeRequestNotFound,
)
from helicone_wrap._operations import enrich_request, feedback_request, score_request

from .faultserver import (
    FaultServer,
    close,
    closed_port,
    hang,
    isolated_delivery,
    not_found,
    rate_limited,
    reply,
)

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def target(server: FaultServer) -> Target:
    return Target(server.url, KEY)


def rid() -> str:
    return str(uuid.uuid4())


def fast(**changes: object) -> None:
    _delivery._tune(backoff_base=0.01, backoff_cap=0.05, **changes)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def test_feedback_is_delivered_with_bearer_auth(server: FaultServer, target: Target) -> None:
    """feedback() reaches POST /v1/request/{id}/feedback with {"rating": bool} and Authorization: Bearer."""
    request_id = rid()
    handle = feedback_request(request_id, False, target=target)
    assert handle.wait(10) and handle.ok
    (seen,) = server.seen()
    assert (seen.method, seen.path, seen.body) == ("POST", f"/v1/request/{request_id}/feedback", {"rating": False})
    assert seen.headers["authorization"] == f"Bearer {KEY}"


def test_enrich_sends_one_put_per_key_and_one_handle(server: FaultServer, target: Target) -> None:
    """enrich(a=..., b=...) is one PUT {"key","value"} per key; the single handle completes after all."""
    request_id = rid()
    handle = enrich_request(request_id, {"Outcome": "resolved"}, {"turns": 3, "ok": True}, target=target)
    assert handle.wait(10) and handle.ok
    bodies = sorted((r.body["key"], r.body["value"]) for r in server.seen(method="PUT"))
    assert bodies == [("ok", "True"), ("outcome", "resolved"), ("turns", "3")]
    assert {r.path for r in server.seen()} == {f"/v1/request/{request_id}/property"}


def test_score_is_delivered(server: FaultServer, target: Target) -> None:
    """score() posts {"scores": {...}} with ints and booleans as given."""
    handle = score_request(rid(), {"accuracy": 87, "grounded": True}, target=target)
    assert handle.wait(10) and handle.ok
    assert server.seen()[0].body == {"scores": {"accuracy": 87, "grounded": True}}


def test_own_calls_carry_no_context_headers(server: FaultServer, target: Target) -> None:
    """Inside session()/properties() blocks our REST calls still carry no Helicone-* headers."""
    with session("Course Plan", path="/abstract"), properties(environment="prod"):
        handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10)
    headers = server.seen()[0].headers
    assert not [name for name in headers if name.startswith("helicone-")]


def test_request_not_found_is_retried_until_ingested(server: FaultServer, target: Target) -> None:
    """500 "Request not found" (ingestion lag) is retried with backoff until the log exists."""
    fast()
    server.when(not_found(), times=3)
    handle = enrich_request(rid(), None, {"outcome": "resolved"}, target=target)
    assert handle.wait(10) and handle.ok
    assert len(server.seen()) == 4
    assert _delivery.stats().retried == 3


def test_request_not_found_gives_up_after_lag_window(server: FaultServer, target: Target) -> None:
    """When the lag window passes, the handle carries HeliconeRequestNotFound saying how long it tried."""
    fast(lag_window=0.3)
    server.when(not_found())
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10)
    assert isinstance(handle.error, HeliconeRequestNotFound)
    assert handle.error.status == 500 and "lag_window" in str(handle.error)
    assert len(server.seen()) >= 2


def test_server_errors_are_retried(server: FaultServer, target: Target) -> None:
    """503 and 408 answers are retried; the operation is delivered once the server recovers."""
    fast()
    server.when(reply(503, {"message": "busy"}), times=1).when(reply(408, "Request timed out"), times=1)
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10) and handle.ok
    assert [r.method for r in server.seen()] == ["POST", "POST", "POST"]


def test_rate_limit_with_retry_after_zero_is_retried(server: FaultServer, target: Target) -> None:
    """429 is retried (here Retry-After: 0) and then delivered."""
    server.when(rate_limited(retry_after="0"), times=2)
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10) and handle.ok
    assert len(server.seen()) == 3


def test_rate_limit_retry_after_beyond_window_is_not_hammered(server: FaultServer, target: Target) -> None:
    """A Retry-After longer than what is left of the lag window ends the operation instead of retrying early."""
    _delivery.configure(lag_window=1.0)
    server.when(rate_limited(retry_after="30"))
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10)
    assert isinstance(handle.error, HeliconeRateLimitError) and handle.error.retry_after == 30
    assert len(server.seen()) == 1


def test_refused_connection_is_retried_then_reported() -> None:
    """Connection refused is retried within the window, then HeliconeConnectionError (chained) is on the handle."""
    fast(lag_window=0.3)
    handle = feedback_request(rid(), True, target=Target(f"http://127.0.0.1:{closed_port()}", KEY))
    assert handle.wait(10)
    assert isinstance(handle.error, HeliconeConnectionError)
    # Chained to the installed httpx's (or httpx2's) own exception, whichever path sent it.
    assert "ConnectError" in str(handle.error)  # its type and message; not the exception with its frames
    assert KEY not in str(handle.error)
    assert _delivery.stats().retried >= 1


@pytest.mark.parametrize(
    ("status", "body", "error_type", "message"),
    [
        pytest.param(401, {"error": "Unauthorized", "trace": "isAuthenticated.error"}, HeliconeAuthError, "Unauthorized", id="401"),
        pytest.param(403, {"error": "Forbidden"}, HeliconeAuthError, "Forbidden", id="403"),
        pytest.param(422, {"message": "Validation Failed", "details": {"x": 1}}, HeliconeAPIError, "Validation Failed", id="422"),
        pytest.param(400, {"data": None, "error": "bad"}, HeliconeAPIError, "bad", id="400"),
        pytest.param(404, "Not Found", HeliconeAPIError, "Not Found", id="404"),
    ],
)
def test_client_errors_are_not_retried(
    server: FaultServer, target: Target, status: int, body: object, error_type: type, message: str
) -> None:
    """400/401/403/404/422 are final: one attempt, the typed error with status and server message on the handle."""
    server.when(reply(status, body))
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10)
    assert type(handle.error) is error_type and isinstance(handle.error, HeliconeAPIError)
    assert handle.error.status == status and message in handle.error.message
    assert len(server.seen()) == 1


def test_client_errors_are_logged_once_per_status_without_the_key(
    server: FaultServer, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten 401s produce one WARNING on the helicone_wrap logger, and it never contains the key."""
    server.when(reply(401, {"error": f"invalid key {KEY}"}))
    with caplog.at_level(logging.WARNING, logger="helicone_wrap"):
        handles = [feedback_request(rid(), True, target=target) for _ in range(10)]
        assert all(h.wait(10) for h in handles)
    records = [r for r in caplog.records if r.name == "helicone_wrap"]
    assert len(records) == 1 and "401" in records[0].getMessage()
    assert KEY not in caplog.text
    assert all(KEY not in str(h.error) for h in handles)


def test_hanging_request_does_not_block_other_operations(server: FaultServer, target: Target) -> None:
    """While one request hangs, the other sender keeps delivering."""
    _delivery.configure(request_timeout=30.0)
    stuck_id, free_id = rid(), rid()
    server.when(hang(), path_contains=stuck_id)
    stuck = feedback_request(stuck_id, True, target=target)
    assert server.wait_for(1, path_contains=stuck_id)
    free = feedback_request(free_id, True, target=target)
    assert free.wait(10) and free.ok
    assert not stuck.done


def test_one_enrich_of_several_keys_uses_every_sender_at_once(
    server: FaultServer, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operations queued together are spread over the senders: a slow host gets them in parallel.

    One enrich of four keys is one submission (one wake-up); each sender that takes an operation
    while more wait wakes the next, so all four PUTs are in flight while the first still hangs.
    (The scheduler's housekeeping tick and the idle senders' own look at the queue, which would
    also reach the waiting operations in time, are stretched out of the way.)
    """
    from helicone_wrap._delivery import sender, worker

    monkeypatch.setattr(worker, "TICK", 60.0)
    monkeypatch.setattr(sender, "IDLE_WAIT", 60.0)
    _delivery.configure(request_timeout=30.0, concurrency=4)
    server.when(hang())
    handle = enrich_request(rid(), {"a": 1, "b": 2, "c": 3, "d": 4}, {}, target=target)
    assert len(server.wait_for(4, timeout=5.0)) == 4
    assert not handle.done


def test_a_backlog_of_log_records_goes_out_on_every_sender(
    server: FaultServer, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Async-mode records queued faster than one connection takes them spread over the senders.

    200 records at once (replayed after an outage, say), announced by a single wake-up: each
    sender takes a pipelined run and, while more than a run's worth waits, wakes the next, so a
    slow log host gets four connections, not one.
    """
    from helicone_wrap._asynclog import record
    from helicone_wrap._delivery import sender, worker

    monkeypatch.setattr(worker, "TICK", 60.0)
    monkeypatch.setattr(worker, "LOG_BATCH", 10**6)  # no wake-up per record past a batch's worth
    monkeypatch.setattr(sender, "IDLE_WAIT", 60.0)
    _delivery.configure(request_timeout=30.0, concurrency=4)
    server.when(hang())
    now = time.time()
    for _ in range(200):
        request_id = rid()
        body = record.pending(
            headers={"Helicone-Request-Id": request_id}, url="http://provider/v1/chat/completions",
            request_body=b"{}", status=200, response_headers={}, response_body=b"{}", start=now, end=now,
            ttft_ms=None,
        )  # fmt: skip
        _delivery.submit_log(request_id, body, target)
    assert not server.wait_for(1, timeout=0.3)  # queued, waiting for a wake-up
    _delivery.flush(0)  # the one wake-up
    # A fresh connection carries its first request alone, so each busy sender shows as one request.
    assert len(server.wait_for(4, timeout=5.0)) == 4


def test_doorbell_keeps_a_ring_nobody_was_waiting_for() -> None:
    """A ring between a sender's look at the empty queue and its wait is not lost; rings are capped."""
    from helicone_wrap._delivery.queue import _Doorbell

    bell = _Doorbell(2)
    for _ in range(5):
        bell.ring()
    started = time.monotonic()
    bell.wait(5.0)
    bell.wait(5.0)  # two kept rings: both waits return at once
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    bell.wait(0.2)  # the cap dropped the other three: this one waits its timeout
    assert time.monotonic() - started >= 0.15


def test_hanging_request_times_out_and_is_retried(server: FaultServer, target: Target) -> None:
    """A request that never gets an answer times out (request_timeout) and is sent again."""
    fast()
    _delivery.configure(request_timeout=0.3)
    server.when(hang(), times=1)
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10) and handle.ok
    assert len(server.seen()) == 2


def test_retrying_operation_does_not_delay_others(server: FaultServer, target: Target) -> None:
    """An operation waiting for its next attempt sits in the delay heap; later operations go first."""
    _delivery._tune(backoff_base=30.0, backoff_cap=30.0)
    lagging = rid()
    server.when(not_found(), path_contains=lagging)
    slow = feedback_request(lagging, True, target=target)
    assert server.wait_for(1, path_contains=lagging)
    others = [feedback_request(rid(), True, target=target) for _ in range(20)]
    assert all(h.wait(10) and h.ok for h in others)
    assert not slow.done


def test_wait_times_out_without_raising(server: FaultServer, target: Target) -> None:
    """wait(timeout) returns False while the operation is still pending."""
    server.when(hang())
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(0.05) is False
    assert not handle.done and handle.error is None


async def test_await_handle_in_asyncio(server: FaultServer, target: Target) -> None:
    """`await handle` waits without blocking the loop and returns the handle."""
    handle = feedback_request(rid(), True, target=target)
    assert await handle is handle
    assert handle.ok
    assert await handle is handle  # awaiting a finished handle returns at once


async def test_await_does_not_block_the_event_loop(server: FaultServer, target: Target) -> None:
    """A pending handle awaited with a timeout lets the loop run and times out normally."""
    server.when(hang())
    handle = feedback_request(rid(), True, target=target)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.ensure_future(handle), 0.2)
    task.cancel()
    assert ticks > 1


async def test_handles_complete_on_several_loops(server: FaultServer, target: Target) -> None:
    """One handle can be awaited from another event loop running in another thread."""
    handle = feedback_request(rid(), True, target=target)

    def other_loop() -> bool:
        async def main() -> bool:
            await handle
            return handle.ok

        return asyncio.run(main())

    assert await asyncio.to_thread(other_loop)
    assert (await handle).ok


def test_flush_returns_true_when_everything_is_done(server: FaultServer, target: Target) -> None:
    """flush() waits for every operation queued before it, delivered or finally failed."""
    server.when(reply(422, {"message": "Validation Failed"}), path_contains="/score")
    handles = [feedback_request(rid(), True, target=target) for _ in range(50)]
    handles.append(score_request(rid(), {"a": 1}, target=target))
    assert _delivery.flush(10) is True
    assert all(h.done for h in handles)
    assert _delivery.stats().delivered == 50 and _delivery.stats().failed == 1


def test_flush_with_nothing_queued_is_immediate() -> None:
    """flush() with no work returns True and starts nothing."""
    assert _delivery.flush(0) is True
    assert _delivery._worker.started is False


def test_flush_never_hangs(server: FaultServer, target: Target) -> None:
    """flush(timeout) returns False when the server never answers."""
    server.when(hang())
    feedback_request(rid(), True, target=target)
    assert _delivery.flush(0.2) is False


def test_stats_count_what_happened(server: FaultServer, target: Target) -> None:
    """stats() counts queued, delivered, failed and retried operations."""
    fast()
    server.when(not_found(), times=1).when(reply(401, {"error": "no"}), path_contains="/score")
    feedback_request(rid(), True, target=target)
    score_request(rid(), {"a": 1}, target=target)
    assert _delivery.flush(10)
    assert _delivery.stats() == _delivery.DeliveryStats(queued=2, delivered=1, failed=1, retried=1)


def test_queue_full_without_outbox_drops_oldest_and_warns_once(
    server: FaultServer, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """With no outbox, a full queue drops the oldest waiting operations, counts them and warns once."""
    _delivery.configure(outbox=None, max_queue=10, request_timeout=30.0)
    server.when(hang())
    with caplog.at_level(logging.WARNING, logger="helicone_wrap"):
        handles = [feedback_request(rid(), True, target=target) for _ in range(15)]
    dropped = [i for i, h in enumerate(handles) if h.done]
    assert len(dropped) == 5 and max(dropped) < 9  # the oldest ones (a couple may be in flight)
    assert all(isinstance(handles[i].error, HeliconeDeliveryDropped) for i in dropped)
    message = str(handles[dropped[0]].error)
    assert "max_queue=10" in message and "configure(max_queue=...)" in message and "configure(outbox=...)" in message
    assert _delivery.stats().dropped == 5
    assert len([r for r in caplog.records if "queue is full" in r.getMessage()]) == 1


def test_queue_full_with_outbox_spills_and_delivers_later(server: FaultServer, target: Target, tmp_path: Path) -> None:
    """With an outbox, a full queue spills new operations to it; they are delivered once there is room."""
    box = tmp_path / "spill.sqlite3"
    _delivery.configure(outbox=box, max_queue=10, request_timeout=0.3)
    fast()
    server.when(hang())
    ids = [rid() for _ in range(15)]
    handles = [feedback_request(i, True, target=target) for i in ids]
    assert eventually(lambda: _delivery.stats().spilled == 5)
    assert _delivery.stats().dropped == 0
    server.clear_rules()
    assert _delivery.flush(20)
    assert all(h.wait(5) and h.ok for h in handles)
    assert {r.request_id for r in server.seen()} == set(ids)
    assert Outbox(box, "inspect").rows() == []


def test_durable_writes_every_operation_before_returning(server: FaultServer, target: Target, tmp_path: Path) -> None:
    """durable=True: the operation is in the outbox when the call returns, and removed once delivered."""
    box = tmp_path / "durable.sqlite3"
    _delivery.configure(outbox=box, durable=True)
    server.when(hang(), times=1)
    _delivery.configure(request_timeout=0.3)
    fast()
    request_id = rid()
    handle = feedback_request(request_id, True, target=target)
    rows = Outbox(box, "inspect").rows()
    assert [(r.kind, r.request_id, r.body()) for r in rows] == [("feedback", request_id, {"rating": True})]
    assert handle.wait(10) and handle.ok
    assert _delivery.flush(10)
    assert Outbox(box, "inspect").rows() == []


def test_outbox_never_stores_the_key(server: FaultServer, target: Target, tmp_path: Path) -> None:
    """Rows hold the REST URL but never the API key, in the database or its WAL."""
    box = tmp_path / "nokey.sqlite3"
    _delivery.configure(outbox=box, durable=True)
    server.when(hang())
    enrich_request(rid(), None, {"k": "v"}, target=target)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("nokey")]
    assert files and all(KEY.encode() not in p.read_bytes() for p in files)
    assert Outbox(box, "inspect").rows()[0].api_url == server.url


def test_leftovers_in_outbox_are_replayed_with_the_current_key(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows a previous process left are replayed on start; the key is looked up again for their URL."""
    box = tmp_path / "left.sqlite3"
    ids = [rid() for _ in range(3)]
    old = Outbox(box, "previous-process")
    old.add(
        [
            OutboxRow(f"old-{i}", "feedback", request_id, '{"rating": true}', server.url, time.time())
            for i, request_id in enumerate(ids)
        ]
    )
    old.close()
    monkeypatch.setenv("HELICONE_API_KEY", KEY)
    _delivery.configure(outbox=box)
    assert _delivery.flush(10)
    assert sorted(str(r.request_id) for r in server.seen()) == sorted(ids)
    assert {r.headers["authorization"] for r in server.seen()} == {f"Bearer {KEY}"}
    assert _delivery.stats().replayed == 3
    assert Outbox(box, "inspect").rows() == []


def test_env_proxy_routes_through_the_client(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured: the operation goes to the proxy in absolute form, as openai's client would."""
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request_id = rid()
    handle = feedback_request(request_id, True, target=Target("http://helicone.invalid", KEY))
    assert handle.wait(10) and handle.ok
    assert server.seen()[0].path == f"http://helicone.invalid/v1/request/{request_id}/feedback"


def test_dropped_connection_is_retried_on_a_fresh_one(server: FaultServer, target: Target) -> None:
    """A server that reads the request and hangs up (a stale keep-alive socket) costs a retry, not the op."""
    fast()
    server.when(close(), times=2)
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10) and handle.ok
    assert len(server.seen()) == 3
    assert len(server.client_ports()) >= 2  # the dropped connection was not reused


def test_request_carries_host_and_length_like_httpx(server: FaultServer, target: Target) -> None:
    """The pooled fast path sends what an httpx request would: Host (with port), Content-Length, JSON."""
    handle = score_request(rid(), {"quality": 7}, target=target)
    assert handle.wait(10) and handle.ok
    (seen,) = server.seen()
    assert seen.headers["host"] == server.url.removeprefix("http://")
    assert seen.headers["content-type"] == "application/json"
    assert int(seen.headers["content-length"]) == len(b'{"scores": {"quality": 7}}')
    assert seen.body == {"scores": {"quality": 7}}


def test_api_url_with_a_path_prefix_keeps_it(server: FaultServer) -> None:
    """A REST API mounted under a path (reverse proxy, self-hosted) gets the prefix on every call."""
    request_id = rid()
    handle = feedback_request(request_id, True, target=Target(server.url + "/helicone/api/", KEY))
    assert handle.wait(10) and handle.ok
    assert server.seen()[0].path == f"/helicone/api/v1/request/{request_id}/feedback"


def test_compressed_not_found_is_still_recognised(server: FaultServer, target: Target) -> None:
    """A gzip-encoded "Request not found" (e.g. from a compressing proxy) is decoded and classed as lag."""
    fast(lag_window=0.3)
    body = gzip.compress(json.dumps({"data": None, "error": "Request not found"}).encode())
    server.when(reply(500, body, {"Content-Encoding": "gzip"}))
    handle = feedback_request(rid(), True, target=target)
    assert handle.wait(10)
    assert isinstance(handle.error, HeliconeRequestNotFound)
    assert len(server.seen()) >= 2


def test_configure_rejects_nonsense() -> None:
    """configure() names the bad setting instead of failing later in the worker."""
    from helicone_wrap._exceptions import HeliconeConfigError

    with pytest.raises(HeliconeConfigError, match="max_queue"):
        _delivery.configure(max_queue=0)
    with pytest.raises(HeliconeConfigError, match="lag_window"):
        _delivery.configure(lag_window=-1)
    with pytest.raises(HeliconeConfigError, match="outbox"):
        _delivery.configure(outbox=3)  # type: ignore[arg-type]


def test_configure_changes_only_what_is_passed(tmp_path: Path) -> None:
    """configure(a=...) keeps the other settings as they were."""
    _delivery.configure(durable=True, outbox=tmp_path / "x.sqlite3")
    _delivery.configure(lag_window=5)
    settings = _delivery._worker.settings
    assert (settings.durable, settings.outbox, settings.lag_window) == (True, tmp_path / "x.sqlite3", 5)
