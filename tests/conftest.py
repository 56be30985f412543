"""Shared fixtures: a real loopback echo server, sync/async drivers, a clean environment, and a
guard that turns swallowed internal errors into test failures (as sentry-python's suite does)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from helicone_wrap import _guard

from .echo_server import EchoServer
from .gateway_backend import GatewayBackend


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoServer]:
    server = EchoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway_backend() -> Iterator[GatewayBackend]:
    backend = GatewayBackend()
    yield backend
    backend.stop()


@pytest.fixture(params=["echo", "gateway"])
def backend(request: pytest.FixtureRequest) -> Any:
    """The behaviour suite's server: the echo server, then our own gateway."""
    return request.getfixturevalue("echo" if request.param == "echo" else "gateway_backend")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HELICONE_API_KEY", "HELICONE_BASE_URL", "HELICONE_API_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")


@pytest.fixture(autouse=True)
def fresh_target_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered targets: a key a test's ``wrap()`` registered for a
    loopback URL must not be picked up by a later test whose server got the same port."""
    from helicone_wrap import _config

    monkeypatch.setattr(_config, "_targets", {})
    monkeypatch.setattr(_config, "_last_target", None)


class InternalErrors(list[tuple[str, BaseException]]):
    expected = False


@pytest.fixture(autouse=True)
def internal_errors() -> Iterator[InternalErrors]:
    """Every swallowed internal error fails the test, unless the test says it expects them."""
    seen = InternalErrors()

    def record(kind: str, exc: BaseException) -> None:
        seen.append((kind, exc))

    _guard.hooks.append(record)
    _guard._seen.clear()
    yield seen
    _guard.hooks.remove(record)
    if not seen.expected:
        assert not seen, f"helicone_wrap swallowed internal errors: {seen!r}"


class Driver:
    """Runs one behaviour against a sync or an async client (one suite, two twins)."""

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.clients: list[Any] = []

    def __repr__(self) -> str:
        return "async" if self.is_async else "sync"

    def client(self, base_url: str, *, azure: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", "sk-test-openai")
        kwargs.setdefault("max_retries", 0)
        if azure:
            cls = openai.AsyncAzureOpenAI if self.is_async else openai.AzureOpenAI
            kwargs.update(azure_endpoint=base_url, api_version="2024-10-21")
        else:
            cls = openai.AsyncOpenAI if self.is_async else openai.OpenAI
            kwargs["base_url"] = base_url
        client = cls(**kwargs)
        self.clients.append(client)
        return client

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def consume(self, stream: Any) -> list[Any]:
        if hasattr(stream, "__aiter__"):
            return [item async for item in stream]
        return list(stream)

    async def close(self, client: Any) -> None:
        await self.call(client.close)


@pytest.fixture(params=[False, True], ids=["sync", "async"])
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    d = Driver(request.param)
    yield d
    for client in d.clients:
        await d.close(client)
