"""Fixtures for the gateway tests: a real GatewayServer on loopback, REST and OpenAI clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayServer]:
    """One offline gateway shared by a test module; tests isolate data with fresh ids."""
    with GatewayServer() as server:
        yield server


def rest_client(url: str) -> Any:
    """A plain HTTP client on ``url``."""
    return http.Client(base_url=url, timeout=10.0)


@pytest.fixture
def api(gw: GatewayServer) -> Iterator[Any]:
    """A plain HTTP client on the gateway's REST root."""
    with rest_client(gw.url) as client:
        yield client


@pytest.fixture
def client(gw: GatewayServer) -> Iterator[openai.OpenAI]:
    """The real sync openai SDK pointed at the gateway."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def aclient(gw: GatewayServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """The real async openai SDK pointed at the gateway."""
    async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0) as sdk:
        yield sdk


def new_id() -> str:
    """A fresh uuid4 string."""
    return str(uuid.uuid4())


def chat(sdk: openai.OpenAI, **headers: str) -> str:
    """Make one offline chat call with extra headers; the request id the gateway logged."""
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello"}],
        extra_headers=headers,
    )
    request_id = raw.headers["helicone-id"]
    assert isinstance(request_id, str)
    return request_id
