"""Async logging mode end to end: a real loopback provider (the echo server) and a real Helicone
(our gateway, whose upstream is that same provider, so proxied and async calls get one answer)."""

from __future__ import annotations

import gc
import json
import socket
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import helicone_wrap
from helicone_wrap import _delivery
from helicone_wrap._asynclog import capture
from helicone_wrap._exceptions import HeliconeConfigError
from helicone_wrap.gateway import GatewayServer

from .conftest import Driver
from .echo_server import EchoServer

KEY = "sk-helicone-local"
MESSAGES = [{"role": "user", "content": "hello"}]
#: Fields that differ between two calls of the same request whatever the mode.
VOLATILE = {"request_id", "request_created_at", "response_created_at", "delay_ms", "time_to_first_token",
            "response_id", "request_body", "response_body", "request_path", "target_url"}


@pytest.fixture(scope="module")
def helicone(echo: EchoServer) -> Iterator[GatewayServer]:
    with GatewayServer(upstream=echo.url + "/v1") as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_delivery() -> Iterator[None]:
    _delivery._reset_for_tests()
    helicone_wrap.configure(outbox=None)
    yield
    _delivery._reset_for_tests()


def async_client(driver: Driver, echo: EchoServer, helicone: GatewayServer, **kwargs: Any) -> Any:
    return helicone_wrap.wrap(driver.client(echo.url + "/v1"), mode="async", base_url=helicone.url, api_key=KEY, **kwargs)


def proxied_client(driver: Driver, echo: EchoServer, helicone: GatewayServer, **kwargs: Any) -> Any:
    return helicone_wrap.wrap(driver.client(echo.url + "/v1"), base_url=helicone.url, api_key=KEY, **kwargs)


def stored(helicone: GatewayServer, request_id: str) -> dict[str, Any]:
    assert helicone_wrap.flush(10)
    row = helicone.store.wait_for(request_id, 5)
    assert row is not None, f"no log row for {request_id}"
    full = helicone.store.get_request(request_id, include_body=True)
    assert full is not None
    return full


def assert_no_helicone_on_the_wire(echo: EchoServer, count: int) -> None:
    for seen in echo.seen[-count:]:
        leaked = {k: v for k, v in seen.headers.items() if k.startswith("helicone") or KEY in v}
        assert not leaked, f"the provider saw {leaked}"
        assert seen.headers["authorization"] == "Bearer sk-test-openai"


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in VOLATILE}


async def test_plain_call_goes_to_the_provider_and_logs_the_same_row_as_the_proxy(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone, properties={"app": "docs"}, user_id="u1")
    proxied = proxied_client(driver, echo, helicone, properties={"app": "docs"}, user_id="u1")
    assert str(client.base_url) == echo.url + "/v1/"
    with helicone_wrap.session("Chat", id="a7b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a001", path="/turn"):
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
        assert_no_helicone_on_the_wire(echo, 1)
        reference = await driver.call(proxied.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "Hello there"
    row, proxied_row = stored(helicone, result.helicone_id), stored(helicone, reference.helicone_id)
    assert row["request_id"] == result.helicone_id
    assert row["request_properties"]["Helicone-Session-Id"] == "a7b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a001"
    assert row["request_properties"]["Helicone-Session-Path"] == "/turn"
    assert row["request_properties"]["app"] == "docs" and row["request_user_id"] == "u1"
    assert row["prompt_tokens"] > 0 and row["response_status"] == 200
    assert comparable(row) == comparable(proxied_row)
    assert row["request_body"] == proxied_row["request_body"]
    assert row["response_body"] == proxied_row["response_body"]


async def test_stream_stays_an_openai_stream_and_logs_chunks_and_ttft(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone)
    proxied = proxied_client(driver, echo, helicone)
    stream = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES, stream=True,
                               stream_options={"include_usage": True})
    assert isinstance(stream, openai.AsyncStream if driver.is_async else openai.Stream)
    chunks = await driver.consume(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    reference = await driver.call(proxied.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES,
                                  stream=True, stream_options={"include_usage": True})
    await driver.consume(reference)
    assert_no_helicone_on_the_wire(echo, 2)
    row, proxied_row = stored(helicone, stream.helicone_id), stored(helicone, reference.helicone_id)
    assert row["time_to_first_token"] is not None and row["response_status"] == 200
    assert row["response_body"] == proxied_row["response_body"]  # the SSE text, byte for byte
    assert comparable(row) == comparable(proxied_row)


async def test_raw_and_streaming_response_shapes_carry_the_id(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone)
    raw = await driver.call(client.chat.completions.with_raw_response.create, model="gpt-4o-mini", messages=MESSAGES)
    parsed = await driver.call(raw.parse)
    assert raw.helicone_id == parsed.helicone_id
    if driver.is_async:
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as response:
            text = "".join([line async for line in response.iter_lines()])
            streamed_id = response.helicone_id
    else:
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as response:
            text = "".join(response.iter_lines())
            streamed_id = response.helicone_id
    assert "Hello" in text
    assert stored(helicone, raw.helicone_id)["response_status"] == 200
    assert "Hello" in stored(helicone, streamed_id)["response_body"]
    assert_no_helicone_on_the_wire(echo, 2)


async def test_stream_closed_early_or_abandoned_is_logged_as_cut_short(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone)
    stream = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES, stream=True)
    await driver.call(stream.close)
    assert stored(helicone, stream.helicone_id)["response_status"] == -3
    dropped = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES, stream=True)
    dropped_id = dropped.helicone_id
    del dropped
    gc.collect()
    capture._drain_abandoned()
    assert stored(helicone, dropped_id)["response_status"] == -3


async def test_provider_errors_and_connection_failures_are_logged_and_raised_unchanged(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone)
    with pytest.raises(openai.BadRequestError) as caught:
        await driver.call(client.chat.completions.create, model="error-400", messages=MESSAGES)
    assert caught.value.status_code == 400
    assert_no_helicone_on_the_wire(echo, 1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    gone = helicone_wrap.wrap(driver.client(dead), mode="async", base_url=helicone.url, api_key=KEY)
    with pytest.raises(openai.APIConnectionError):
        await driver.call(gone.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert helicone_wrap.flush(10)
    statuses = {r["response_status"] for r in _recent(helicone, 2)}
    assert statuses == {400, -1}


def _recent(helicone: GatewayServer, count: int) -> list[dict[str, Any]]:
    import contextlib
    import sqlite3

    helicone.store.flush()
    with contextlib.closing(sqlite3.connect(helicone.store.path)) as db:
        ids = [r[0] for r in db.execute("SELECT request_id FROM requests ORDER BY logged_at DESC, rowid DESC LIMIT ?",
                                         (count,))]
    return [stored(helicone, rid) for rid in ids]


async def test_omit_drops_bodies_before_the_record_leaves_the_process(driver: Driver, echo: EchoServer) -> None:
    # The echo server stands in for Helicone's log host, so we see exactly what left the process.
    client = helicone_wrap.wrap(
        driver.client(echo.url + "/v1"), mode="async", base_url=echo.url, api_key=KEY,
        headers={"Helicone-Omit-Request": "true", "Helicone-Omit-Response": "true"},
    )
    result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    helicone_wrap.flush(10)
    posts = [s for s in echo.seen if s.path == "/oai/v1/log" and s.headers.get("helicone-request-id") == result.helicone_id]
    assert len(posts) == 1
    record = posts[0].body
    assert record["providerRequest"]["json"] == {"model": "gpt-4o-mini"}
    assert record["providerResponse"]["json"] == {
        "model": "gpt-4o-mini", "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    assert "textBody" not in record["providerResponse"]
    assert "hello" not in json.dumps(record) and "Hello there" not in json.dumps(record)
    assert "sk-test-openai" not in json.dumps(record) and "authorization" not in json.dumps(record).lower()
    assert posts[0].headers["helicone-auth"] == f"Bearer {KEY}"


async def test_enrich_feedback_score_reach_the_async_logged_row(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone)
    result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    handles = [result.enrich(outcome="ok"), result.feedback(True), result.score(accuracy=9)]
    assert helicone_wrap.flush(10)
    assert [h.error for h in handles] == [None, None, None]
    row = stored(helicone, result.helicone_id)
    assert row["request_properties"]["outcome"] == "ok"


def test_proxy_only_features_are_refused_in_async_mode(echo: EchoServer) -> None:
    with pytest.raises(HeliconeConfigError, match="proxy"):
        helicone_wrap.wrap(openai.OpenAI(base_url=echo.url, api_key="x"), mode="async", api_key=KEY,
                           headers={"Helicone-Cache-Enabled": "true"})
    with pytest.raises(HeliconeConfigError, match="mode must be"):
        helicone_wrap.wrap(openai.OpenAI(base_url=echo.url, api_key="x"), mode="asynchronous")  # type: ignore[arg-type]
    with pytest.raises(HeliconeConfigError, match="No Helicone API key"):
        helicone_wrap.wrap(openai.OpenAI(base_url=echo.url, api_key="x"), mode="async")


@pytest.mark.parametrize("request_text, response_text, status", [
    ('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"héllo \\u2603"}]}', '{"id":"x","n":[1,2]}\n', 200),
    ('{"model":"m","stream":true}', 'data: {"a":1}\n\ndata: [DONE]\n\n', 200),
    (None, "ConnectError: refused", -1),
    ('{"model":"m"}', None, 500),
    ('--multipart--', '[1, 2]', 200),
    ('{"model":"m"}', '{"cut": "sho', -3),
])
def test_the_spliced_record_is_the_parsed_record(request_text: str | None, response_text: str | None,
                                                 status: int) -> None:
    from helicone_wrap._asynclog import record

    body = {"headers": {"Helicone-Request-Id": "a7b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a001"}, "url": "http://p/v1/x",
            "request": request_text, "status": status,
            "response_headers": {"content-type": "application/json", "x-note": 'caf\u00e9 "q" \\ \x01\t', "x-empty": ""},
            "response": response_text, "start": 1700000000.25, "end": 1700000001.9996, "ttft": 12.4}
    assert json.loads(record.log_record_bytes(body)) == record.log_record(body)


async def test_a_burst_of_records_reaches_the_gateway_pipelined_every_one_stored(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records queued together go to our gateway (uvicorn) written back to back on one connection,
    and it stores every one of them with its own session and properties."""
    import contextlib
    import sqlite3

    from helicone_wrap._delivery.http11 import pipeline

    runs: list[int] = []
    exchange = pipeline._exchange_many

    def counted(conn: Any, items: Any, method: str) -> Any:
        runs.append(len(items))
        return exchange(conn, items, method)

    monkeypatch.setattr(pipeline, "_exchange_many", counted)
    client = async_client(driver, echo, helicone, properties={"burst": "yes"})
    ids = []
    with helicone_wrap.session("Burst", id="b0b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a002"):
        for _ in range(30):
            ids.append((await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)).helicone_id)
    assert helicone_wrap.flush(20)
    assert max(runs, default=0) > 1, f"nothing was pipelined: {runs}"
    stats = helicone_wrap.delivery_stats()
    assert (stats.delivered, stats.failed, stats.retried) == (30, 0, 0)
    helicone.store.flush()
    with contextlib.closing(sqlite3.connect(helicone.store.path)) as db:
        found = {r[0] for r in db.execute(
            f"SELECT request_id FROM requests WHERE request_id IN ({','.join('?' * len(ids))})", ids)}
    assert found == set(ids)
    rows = [stored(helicone, rid) for rid in ids[::7]]
    assert all(row["request_properties"]["burst"] == "yes" for row in rows)
    assert all(row["request_properties"]["Helicone-Session-Id"] == "b0b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a002" for row in rows)


async def test_records_are_built_on_a_delivery_thread_and_pending_until_sent(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain call's thread only leaves its record behind; a delivery thread builds it (decoding
    the bodies, converting headers, dropping omitted bodies) at the scheduler's next tick, or once
    a batch's worth waits. Until then it counts as pending. (A stream's record is built at its end.)"""
    import threading
    import time

    from helicone_wrap._asynclog import record
    from helicone_wrap._delivery import sender, worker

    monkeypatch.setattr(worker, "TICK", 60.0)  # no tick while the calls run
    monkeypatch.setattr(sender, "IDLE_WAIT", 60.0)
    built_on: list[int] = []
    pending = record.pending

    def spied(**fields: Any) -> dict[str, Any]:
        built_on.append(threading.get_ident())
        return pending(**fields)

    monkeypatch.setattr(record, "pending", spied)
    client = async_client(driver, echo, helicone)
    first = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert helicone_wrap.flush(10)  # the first call started the worker (its record was built at once)
    built_on.clear()
    later = [await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
             for _ in range(5)]
    assert built_on == [] and helicone_wrap.delivery_stats().pending == 5
    monkeypatch.setattr(worker, "TICK", 0.2)
    _delivery._worker._wake_scheduler()  # the tick as usual again; no flush() here
    deadline = time.monotonic() + 10
    while helicone_wrap.delivery_stats().delivered < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = helicone_wrap.delivery_stats()
    assert (stats.pending, stats.delivered, stats.failed) == (0, 6, 0)
    assert len(built_on) == 5 and threading.get_ident() not in built_on
    for result in [first, *later]:
        assert stored(helicone, result.helicone_id)["response_status"] == 200


async def test_bare_id_operations_go_to_the_rest_api_not_the_log_host(driver: Driver, echo: EchoServer) -> None:
    """``helicone_wrap.feedback(request_id, ...)`` on an id alone goes where the last ``wrap()``
    sends its REST calls. An async-mode client's log host (``base_url=``, Helicone's worker host by
    default) is not that place: it takes records, not feedback."""
    from .faultserver import FaultServer

    with FaultServer() as log_host, FaultServer() as rest:
        client = helicone_wrap.wrap(driver.client(echo.url + "/v1"), mode="async", base_url=log_host.url,
                                    api_url=rest.url, api_key=KEY)
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
        assert helicone_wrap.flush(10)
        handle = helicone_wrap.feedback(result.helicone_id, True)
        assert handle.wait(10) and handle.ok
        assert [r.path for r in rest.seen()] == [f"/v1/request/{result.helicone_id}/feedback"]
        assert [r.path for r in log_host.seen()] == ["/oai/v1/log"]
