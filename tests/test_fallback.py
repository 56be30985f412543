"""``wrap(client, fallback="direct")``: a proxy that survives a gateway outage, and never bills twice.

Real loopback servers throughout: the echo server is the provider; the gateway is our own
(stopped and started again mid-run), or a socket that fails in one precise way (refused, TLS,
connect timeout, DNS), or a fault server that hangs or hangs up after reading the request.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import helicone_wrap
from helicone_wrap import _delivery, _fallback
from helicone_wrap._exceptions import HeliconeConfigError
from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer

from .conftest import Driver
from .echo_server import EchoServer
from .faultserver import FaultServer, close, closed_port, hang

KEY = "sk-helicone-local"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _delivery._reset_for_tests()
    _fallback.reset_for_tests()
    helicone_wrap.configure(outbox=None)
    _delivery._tune(backoff_base=0.05, backoff_cap=0.3)
    yield
    _delivery._reset_for_tests()
    _fallback.reset_for_tests()


def provider_requests(echo: EchoServer, since: int) -> list[Any]:
    return [s for s in echo.seen[since:] if s.path.startswith("/v1/")]


def assert_direct_and_clean(echo: EchoServer, since: int, count: int) -> None:
    seen = provider_requests(echo, since)
    assert len(seen) == count, [s.path for s in seen]
    for request in seen:
        leaked = {k: v for k, v in request.headers.items() if k.startswith("helicone") or KEY in v}
        assert not leaked, f"the provider saw {leaked}"
        assert request.headers["authorization"] == "Bearer sk-test-openai"


# -- which failures fall back ----------------------------------------------------------------------------

NEVER_SENT = {"ConnectError", "ConnectTimeout"}
MAYBE_SENT = {"ReadTimeout", "WriteTimeout", "PoolTimeout", "ReadError", "WriteError", "RemoteProtocolError",
              "LocalProtocolError", "ProxyError", "UnsupportedProtocol", "CloseError", "TimeoutException",
              "NetworkError", "TransportError"}


@pytest.mark.parametrize("name", sorted(NEVER_SENT | MAYBE_SENT))
def test_only_connect_failures_count_as_never_delivered(name: str) -> None:
    cls = getattr(http, name)
    assert _fallback.never_delivered(cls("boom")) is (name in NEVER_SENT)


class _Listener:
    """A loopback socket that fails connections in one way; counts the connections it accepted."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        if kind == "connect-timeout":  # a full backlog: SYNs are dropped, connecting times out
            self.sock.listen(0)
            filler = socket.socket()
            filler.connect(("127.0.0.1", self.port))
            self._held.append(filler)
        else:  # "tls": plain HTTP where TLS is expected, so the handshake fails
            self.sock.listen(16)
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        for sock in (*self._held, self.sock):
            sock.close()


@pytest.fixture
def gateway_failing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The base_url of a gateway that fails in the way ``request.param`` names."""
    kind = request.param
    if kind == "refused":
        yield f"http://127.0.0.1:{closed_port()}"
    elif kind == "dns":
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "helicone-gateway.test":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield "http://helicone-gateway.test:8787"
    else:
        listener = _Listener(kind)
        scheme = "https" if kind == "tls" else "http"
        yield f"{scheme}://127.0.0.1:{listener.port}"
        listener.close()


@pytest.mark.parametrize("gateway_failing", ["refused", "dns", "tls", "connect-timeout"], indirect=True)
async def test_a_gateway_that_cannot_be_reached_falls_back_to_the_provider(
    driver: Driver, echo: EchoServer, gateway_failing: str
) -> None:
    client = helicone_wrap.wrap(
        driver.client(echo.url + "/v1", timeout=http.Timeout(5.0, connect=0.5)),
        base_url=gateway_failing, api_key=KEY, fallback="direct",
    )  # fmt: skip
    since = len(echo.seen)
    result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "Hello there"
    assert_direct_and_clean(echo, since, 1)
    stats = helicone_wrap.delivery_stats()
    assert stats.fallbacks == 1 and stats.queued == 1  # the call's log record waits for the gateway
    assert result.helicone_id and result.helicone_id != echo.seen[-1].helicone_id  # ours, not the provider's


@pytest.mark.parametrize("fault", ["read-timeout", "closed-after-request"])
async def test_a_failure_after_the_request_was_sent_never_falls_back(
    driver: Driver, echo: EchoServer, fault: str
) -> None:
    with FaultServer() as gateway:
        gateway.when(respond=hang() if fault == "read-timeout" else close())
        client = helicone_wrap.wrap(
            driver.client(echo.url + "/v1", timeout=http.Timeout(0.5, connect=2.0)),
            base_url=gateway.url, api_key=KEY, fallback="direct",
        )  # fmt: skip
        since = len(echo.seen)
        error = openai.APITimeoutError if fault == "read-timeout" else openai.APIConnectionError
        with pytest.raises(error):
            await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
        assert len(gateway.seen()) == 1  # the gateway got the call...
    assert provider_requests(echo, since) == []  # ...so the provider never does
    assert helicone_wrap.delivery_stats().fallbacks == 0


def test_fallback_is_checked_at_wrap(echo: EchoServer) -> None:
    with pytest.raises(HeliconeConfigError, match="fallback must be"):
        helicone_wrap.wrap(openai.OpenAI(base_url=echo.url, api_key="x"), api_key=KEY, fallback="yes")
    with pytest.raises(HeliconeConfigError, match="proxy mode"):
        helicone_wrap.wrap(openai.OpenAI(base_url=echo.url, api_key="x"), api_key=KEY, mode="async", fallback="direct")
    gateway = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(HeliconeConfigError, match="provider's own base_url"):
        helicone_wrap.wrap(openai.OpenAI(base_url=gateway + "/v1", api_key="x"), base_url=gateway, api_key=KEY,
                           fallback="direct")


# -- the circuit breaker -----------------------------------------------------------------------------------


@pytest.fixture
def blackhole() -> Iterator[_Listener]:
    listener = _Listener("connect-timeout")
    yield listener
    listener.close()


async def test_the_breaker_goes_direct_for_a_while_then_probes_the_gateway_again(
    driver: Driver, echo: EchoServer, blackhole: _Listener, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The gateway's connections time out after 1 s: only the calls that try the gateway pay it.
    monkeypatch.setattr(_fallback, "COOLDOWN", 1.5)
    client = helicone_wrap.wrap(driver.client(echo.url + "/v1", timeout=http.Timeout(10.0, connect=1.0)),
                                base_url=f"http://127.0.0.1:{blackhole.port}", api_key=KEY, fallback="direct")
    since = len(echo.seen)

    async def timed_call() -> float:
        start = time.perf_counter()
        await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
        return time.perf_counter() - start

    with caplog.at_level(logging.INFO, logger="helicone_wrap"):
        first = await timed_call()
        then = [await timed_call() for _ in range(5)]
        assert first >= 1.0 and max(then) < 0.5, (first, then)  # one connect timeout, then straight through
        time.sleep(max(0.0, 1.6 - sum(then)))
        probe = await timed_call()
        assert probe >= 1.0, probe  # the cooldown is over: the gateway is tried first again
    assert_direct_and_clean(echo, since, 7)
    assert helicone_wrap.delivery_stats().fallbacks == 7
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot be reached" in r.getMessage()]
    assert len(warnings) == 1, "the first fallback of an outage is logged once"
    assert "ConnectTimeout" in warnings[0].getMessage() and KEY not in caplog.text


# -- an outage mid-run: every call succeeds, every call is logged -------------------------------------------


def _calls(driver: Driver, client: Any) -> list[tuple[str, Any]]:
    """Every call shape, each returning the object that carries the call's helicone_id."""

    async def chat() -> Any:
        return await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)

    async def stream() -> Any:
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES,
                                   stream=True, stream_options={"include_usage": True})
        assert isinstance(result, openai.AsyncStream if driver.is_async else openai.Stream)
        chunks = await driver.consume(result)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
        return result

    async def raw() -> Any:
        response = await driver.call(client.chat.completions.with_raw_response.create, model="gpt-4o-mini",
                                     messages=MESSAGES)
        parsed = await driver.call(response.parse)
        assert parsed.helicone_id == response.helicone_id
        return response

    async def streaming_response() -> Any:
        manager = client.responses.with_streaming_response.create(model="gpt-4o-mini", input="hi")
        if driver.is_async:
            async with manager as response:
                assert "resp" in await response.text()
                return response
        with manager as response:
            assert "resp" in response.text()
            return response

    async def responses_stream() -> Any:
        result = await driver.call(client.responses.create, model="gpt-4o-mini", input="hi", stream=True)
        events = await driver.consume(result)
        assert events[-1].type == "response.completed"
        return result

    async def embeddings() -> Any:
        return await driver.call(client.embeddings.create, model="text-embedding-3-small", input="hi")

    async def completions() -> Any:
        return await driver.call(client.completions.create, model="gpt-3.5-turbo-instruct", prompt="hi")

    return [("chat", chat), ("stream", stream), ("raw", raw), ("streaming_response", streaming_response),
            ("responses_stream", responses_stream), ("embeddings", embeddings), ("completions", completions)]


@pytest.fixture
def gateway(echo: EchoServer, tmp_path: Path) -> Iterator[GatewayServer]:
    server = GatewayServer(upstream=echo.url + "/v1", db=str(tmp_path / "gateway.sqlite3")).start()
    yield server
    server.stop()


async def test_gateway_stopped_mid_run_every_call_succeeds_and_is_logged_once_it_is_back(
    driver: Driver, echo: EchoServer, gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fallback, "COOLDOWN", 0.3)
    client = helicone_wrap.wrap(driver.client(echo.url + "/v1"), base_url=gateway.url, api_key=KEY,
                                fallback="direct", properties={"app": "docs"})
    ids: list[str] = []
    with helicone_wrap.session("Outage", id="a7b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a0f1", path="/turn"):
        for _name, call in _calls(driver, client):  # the gateway is up: proxied
            ids.append((await call()).helicone_id)
        assert helicone_wrap.delivery_stats().fallbacks == 0
        gateway.stop()
        since = len(echo.seen)
        down: list[str] = []
        for _name, call in _calls(driver, client):  # the gateway is down: every call still succeeds
            down.append((await call()).helicone_id)
        assert_direct_and_clean(echo, since, len(down))
        assert helicone_wrap.delivery_stats().fallbacks == len(down)
        assert not helicone_wrap.flush(0.5)  # the records wait for the gateway
        gateway.start()
        time.sleep(0.35)
        for _name, call in _calls(driver, client):  # the gateway is back: proxied again
            ids.append((await call()).helicone_id)
        assert helicone_wrap.delivery_stats().fallbacks == len(down)
    assert helicone_wrap.flush(20)
    stats = helicone_wrap.delivery_stats()
    assert stats.delivered == len(down) and stats.failed == 0
    everything = ids + down
    assert len(set(everything)) == len(everything)
    gateway.store.flush()
    with helicone_wrap.HeliconeAPI(api_key=KEY, base_url=gateway.url) as api:
        assert api.requests.count() == len(everything)
        for request_id in down:
            row = api.requests.get(request_id)
            assert row is not None, f"no row for the fallen-back call {request_id}"
            assert row.response_status == 200
            assert row.properties["app"] == "docs"
            assert row.properties["Helicone-Session-Id"] == "a7b3f0aa-3f1c-4c4e-9a55-3ad7f3f6a0f1"
            assert row.properties["Helicone-Session-Path"] == "/turn"


async def test_azure_and_derived_clients_fall_back_to_their_own_endpoints(driver: Driver, echo: EchoServer) -> None:
    gateway = f"http://127.0.0.1:{closed_port()}"
    azure = helicone_wrap.wrap(driver.client(echo.url, azure=True, azure_deployment="prod-4o"), base_url=gateway,
                               api_key=KEY, fallback="direct")
    since = len(echo.seen)
    result = await driver.call(azure.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    models = await driver.call(azure.models.list)
    derived = azure.with_options(timeout=30.0)
    again = await driver.call(derived.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == again.choices[0].message.content == "Hello there"
    assert [m.id for m in models.data] == ["gpt-4o-mini", "gpt-4o"]
    paths = [s.path.split("?")[0] for s in echo.seen[since:]]
    assert paths == ["/openai/deployments/prod-4o/chat/completions", "/openai/models",
                     "/openai/deployments/prod-4o/chat/completions"]
    for seen in echo.seen[since:]:
        assert not [k for k in seen.headers if k.startswith("helicone")], seen.headers
    assert helicone_wrap.delivery_stats().fallbacks == 3
    assert len({result.helicone_id, models.helicone_id, again.helicone_id}) == 3


async def test_bare_id_operations_still_go_to_the_rest_api(driver: Driver, echo: EchoServer) -> None:
    """A fallback client's log host (its gateway's root) takes records only: ``helicone_wrap.feedback``
    on a bare id goes to the REST API, as without ``fallback``."""
    with FaultServer() as gateway, FaultServer() as rest:
        helicone_wrap.wrap(driver.client(echo.url + "/v1"), base_url=gateway.url + "/v1", api_url=rest.url,
                           api_key=KEY, fallback="direct")
        request_id = "7d1c2b9e-4f5a-4e3b-9c8d-1a2b3c4d5e6f"
        handle = helicone_wrap.feedback(request_id, True)
        assert handle.wait(10) and handle.ok
        assert [r.path for r in rest.seen()] == [f"/v1/request/{request_id}/feedback"]
        assert gateway.seen() == []
