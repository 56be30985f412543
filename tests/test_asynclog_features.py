"""Async logging mode x feature blocks: what only the proxy can do is refused before anything is
sent, and omit() drops the bodies before the record leaves the process. A real loopback provider
(the echo server) and a real Helicone (our gateway) on both sides, sync and async clients."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import helicone_wrap
from helicone_wrap import _delivery, cache, omit, rate_limit, retries, session
from helicone_wrap._exceptions import HeliconeConfigError
from helicone_wrap.gateway import GatewayServer
from helicone_wrap.gateway.asynclog import AsyncLogEndpoint

from .conftest import Driver
from .echo_server import EchoServer

KEY = "sk-helicone-local"
MESSAGES = [{"role": "user", "content": "hello"}]

PROXY_ONLY: dict[str, Callable[[], Any]] = {
    "cache": cache,
    "cache-read": lambda: cache(mode="read"),
    "cache-save": lambda: cache(mode="save", max_age=60),
    "retries": retries,
    "rate_limit": lambda: rate_limit(2, window=60),
}


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


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Every record the gateway's /oai/v1/log endpoint received, as it arrived, by request id."""
    seen: dict[str, dict[str, Any]] = {}
    original = AsyncLogEndpoint.row

    def spy(self: AsyncLogEndpoint, record: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> Any:
        sent = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
        seen[sent["helicone-request-id"]] = json.loads(json.dumps(record))
        return original(self, record, headers)

    monkeypatch.setattr(AsyncLogEndpoint, "row", spy)
    return seen


def async_client(driver: Driver, echo: EchoServer, helicone: GatewayServer, *blocks: Any) -> Any:
    return helicone_wrap.wrap(driver.client(echo.url + "/v1"), *blocks, mode="async", base_url=helicone.url,
                              api_key=KEY)


def logged_count(helicone: GatewayServer) -> int:
    return helicone.store.count_requests()


@pytest.mark.parametrize("name", list(PROXY_ONLY))
async def test_proxy_only_blocks_are_refused_at_wrap(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, name: str
) -> None:
    block = PROXY_ONLY[name]()
    with pytest.raises(HeliconeConfigError, match=rf"^{block.kind}\(\) needs Helicone's proxy: in async mode"):
        async_client(driver, echo, helicone, block)


@pytest.mark.parametrize("name", list(PROXY_ONLY))
async def test_proxy_only_context_blocks_raise_before_anything_is_sent(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, name: str
) -> None:
    """Inside ``with``/``async with``/a decorated function, a call (plain or streamed) raises
    HeliconeConfigError naming the block; the provider gets no request and Helicone no record."""
    client = async_client(driver, echo, helicone)
    sent, logged = len(echo.seen), logged_count(helicone)
    block = PROXY_ONLY[name]()
    pattern = rf"^{block.kind}\(\) needs Helicone's proxy"
    with block, pytest.raises(HeliconeConfigError, match=pattern):
        await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    if driver.is_async:
        async with PROXY_ONLY[name](), session("s"):
            with pytest.raises(HeliconeConfigError, match=pattern):
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)

        @PROXY_ONLY[name]()
        async def decorated() -> Any:
            return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        with pytest.raises(HeliconeConfigError, match=pattern):
            await decorated()
    else:
        with PROXY_ONLY[name](), session("s"), pytest.raises(HeliconeConfigError, match=pattern):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)

        @PROXY_ONLY[name]()
        def decorated() -> Any:
            return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        with pytest.raises(HeliconeConfigError, match=pattern):
            decorated()
    assert helicone_wrap.flush(10)
    assert len(echo.seen) == sent and logged_count(helicone) == logged


async def test_proxy_only_extra_headers_raise_before_anything_is_sent(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone)
    sent = len(echo.seen)
    for name in ("Helicone-Cache-Enabled", "helicone-retry-enabled", "Helicone-RateLimit-Policy"):
        with pytest.raises(HeliconeConfigError, match=f"the {name} header needs Helicone's proxy"):
            await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES,
                              extra_headers={name: "true"})
    assert len(echo.seen) == sent


async def test_blocks_switched_off_or_not_proxy_only_are_fine_in_async_mode(
    driver: Driver, echo: EchoServer, helicone: GatewayServer
) -> None:
    client = async_client(driver, echo, helicone, cache(False), retries(False), omit())
    with cache(), cache(False):  # the inner one switches the outer one off
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "Hello there"
    seen = echo.seen[-1]
    assert seen.path == "/v1/chat/completions" and not any(k.startswith("helicone") for k in seen.headers)


@pytest.mark.parametrize("where", ["wrap", "context"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_omit_drops_both_bodies_before_the_record_leaves(
    driver: Driver, echo: EchoServer, tmp_path: Path, records: dict[str, dict[str, Any]], where: str, stream: bool
) -> None:
    """omit(request=True, response=True) in async mode: the record that reaches the gateway's
    /oai/v1/log carries neither body's content (only model, stream and usage), the stored row has
    no body but model, tokens and cost, and no prompt or answer text is on disk; the caller still
    gets the whole answer and the call is still logged."""
    secret = "s3cr3t-omitted-prompt"
    asked = [{"role": "user", "content": secret}]
    db = tmp_path / "helicone.db"
    with GatewayServer(upstream=echo.url + "/v1", db=str(db)) as server:
        blocks = (omit(request=True, response=True),) if where == "wrap" else ()
        client = async_client(driver, echo, server, *blocks)
        with omit(request=True, response=True) if where == "context" else session("s"):
            usage = {"stream_options": {"include_usage": True}} if stream else {}
            result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=asked,
                                       stream=stream, **usage)
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in await driver.consume(result) if c.choices)
            else:
                text = result.choices[0].message.content
        assert text == "Hello there"
        assert helicone_wrap.flush(10)
        assert server.store.wait_for(result.helicone_id, 5) is not None
        row = server.store.get_request(result.helicone_id, include_body=True)
        assert row is not None and row["request_body"] is None and row["response_body"] is None
        assert row["response_status"] == 200
        # What a proxied call with omit() keeps, async mode keeps too: model, tokens, cost.
        assert row["model"] == "gpt-4o-mini" and row["prompt_tokens"] == 5 and row["completion_tokens"] == 2
        assert row["total_tokens"] == 7 and row["cost"] is not None and row["cost"] > 0
    record = records[result.helicone_id]
    assert record["providerRequest"]["json"] == {"model": "gpt-4o-mini", "stream": stream}
    answer = record["providerResponse"]["json"]
    assert set(answer) == {"model", "usage"} and not record["providerResponse"].get("textBody")
    wire = json.dumps(record)
    assert secret not in wire and "Hello" not in wire
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert secret.encode() not in on_disk and b"Hello there" not in on_disk


async def test_omit_request_only_keeps_the_response(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, records: dict[str, dict[str, Any]]
) -> None:
    client = async_client(driver, echo, helicone)
    with omit(request=True):
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "private question"}])
    assert helicone_wrap.flush(10)
    assert helicone.store.wait_for(result.helicone_id, 5) is not None
    row = helicone.store.get_request(result.helicone_id, include_body=True)
    assert row is not None and row["request_body"] is None and "Hello there" in json.dumps(row["response_body"])
    wire = json.dumps(records[result.helicone_id])
    assert "private question" not in wire and "Hello there" in wire


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_omitted_responses_call_keeps_model_tokens_and_cost(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, records: dict[str, dict[str, Any]], stream: bool
) -> None:
    """The Responses API in async mode under omit(): its usage (input/output tokens, inside the
    ``response.completed`` event when streamed) still reaches the row, its text does not."""
    client = async_client(driver, echo, helicone)
    with omit(request=True, response=True):
        result = await driver.call(client.responses.create, model="gpt-4o-mini", input="s3cr3t-question",
                                   stream=stream)
        if stream:
            await driver.consume(result)
    assert helicone_wrap.flush(10)
    rid = result.helicone_id
    assert helicone.store.wait_for(rid, 5) is not None
    row = helicone.store.get_request(rid, include_body=True)
    assert row is not None and row["request_body"] is None and row["response_body"] is None
    assert row["model"] == "gpt-4o-mini" and (row["prompt_tokens"], row["completion_tokens"]) == (5, 2)
    assert row["cost"] is not None and row["cost"] > 0
    wire = json.dumps(records[rid])
    assert "s3cr3t-question" not in wire and "Hello" not in wire


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_the_providers_cookies_never_reach_a_record_its_other_headers_do(
    driver: Driver, echo: EchoServer, helicone: GatewayServer, records: dict[str, dict[str, Any]], stream: bool
) -> None:
    """The provider's Set-Cookie (the caller's alone) is left out of the record; every other
    response header is in it, lower-cased, as Helicone's own logger sends them."""
    client = async_client(driver, echo, helicone)
    answer = {"Set-Cookie": "sid=c00kie-secret; HttpOnly", "X-Request-Trace": "trace-7", "OpenAI-Processing-Ms": "12"}
    result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}],
                               stream=stream, extra_headers={"x-test-respond-with": json.dumps(answer)})
    if stream:
        await driver.consume(result)
    assert helicone_wrap.flush(10)
    assert helicone.store.wait_for(result.helicone_id, 5) is not None
    sent = records[result.helicone_id]["providerResponse"]["headers"]
    assert sent["x-request-trace"] == "trace-7" and sent["openai-processing-ms"] == "12"
    assert sent["content-type"].startswith("application/json" if not stream else "text/event-stream")
    assert all(name == name.lower() for name in sent)
    assert "set-cookie" not in sent and "c00kie-secret" not in json.dumps(records[result.helicone_id])


def test_record_headers_join_repeats_and_survive_odd_bytes() -> None:
    """httpx's raw pairs: a repeated name is joined with ", " (as httpx's items() does), a name in
    any case is lower-cased, private ones are dropped, and a NUL byte in a value is kept as it is."""
    from helicone_wrap._asynclog.record import _response_headers
    from helicone_wrap._http import http

    repeated = http.Headers([(b"X-Seen", b"a"), (b"Set-Cookie", b"s=1"), (b"x-seen", b"b"), (b"Date", b"today")])
    assert _response_headers(repeated) == {"x-seen": "a, b", "date": "today"}
    odd = http.Headers([(b"X-Odd", b"a\x00b"), (b"Content-Type", b"text/plain")])
    assert _response_headers(odd) == {"x-odd": "a\x00b", "content-type": "text/plain"}
    assert _response_headers(http.Headers([])) == {}
    assert _response_headers({"X-Plain": "v", "Authorization": "Bearer k"}) == {"x-plain": "v"}
