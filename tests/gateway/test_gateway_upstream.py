"""Forwarding to an upstream: gateway A proxies to gateway B (offline, paced streams)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer
from helicone_wrap.gateway.proxy import target_url

from .conftest import new_id

MESSAGES: Any = [{"role": "user", "content": "hello"}]
CHUNK_DELAY = 0.05


@pytest.fixture(scope="module")
def upstream() -> Iterator[GatewayServer]:
    """Gateway B: the offline model, streaming one event every CHUNK_DELAY seconds."""
    with GatewayServer(offline_chunk_delay=CHUNK_DELAY) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(upstream: GatewayServer) -> Iterator[GatewayServer]:
    """Gateway A: forwards to B."""
    with GatewayServer(upstream=upstream.url) as server:
        yield server


@pytest.fixture
def sdk(proxy: GatewayServer) -> Iterator[openai.OpenAI]:
    """The openai SDK pointed at gateway A."""
    with openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-upstream", max_retries=0) as client:
        yield client


def _only_row(server: GatewayServer) -> dict[str, Any]:
    server.store.flush(5)
    rows = server.store.query_requests(*_all(), limit=1, offset=0, include_body=True, visible_only=False)
    return rows[0]


def _all() -> tuple[Any, Any]:
    from helicone_wrap.gateway.sql import compile_filter, compile_sort

    return compile_filter("all"), compile_sort(None)


def test_json_is_forwarded_and_helicone_headers_stripped(
    sdk: openai.OpenAI, proxy: GatewayServer, upstream: GatewayServer
) -> None:
    """A's answer is B's; B saw no Helicone header (no properties, its own request id)."""
    sent_id = new_id()
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={
            "Helicone-Request-Id": sent_id,
            "Helicone-Property-Team": "red",
            "Helicone-Session-Id": "sess",
            "Helicone-Auth": "Bearer sk-helicone-xxx",
        },
    )
    assert raw.headers["helicone-id"] == sent_id
    assert "You said: hello" in (raw.parse().choices[0].message.content or "")
    row_a = proxy.store.wait_for(sent_id)
    assert row_a is not None
    assert row_a["properties"] == {"team": "red", "Helicone-Session-Id": "sess"}
    assert row_a["target_url"] == upstream.url + "/v1/chat/completions"
    assert row_a["total_tokens"] > 0 and row_a["model"] == "gpt-4o-mini"
    row_b = _only_row(upstream)
    assert row_b["request_id"] != sent_id and row_b["properties"] == {}
    assert row_b["request_body"] == json.loads(json.dumps({"messages": MESSAGES, "model": "gpt-4o-mini"}))


def test_stream_is_relayed_chunk_by_chunk(proxy: GatewayServer) -> None:
    """SSE events reach the client as B sends them, not all at the end."""
    body = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    arrivals: list[float] = []
    started = time.perf_counter()
    with (
        http.Client(timeout=10) as client,
        client.stream("POST", proxy.url + "/v1/chat/completions", json=body) as response,
    ):
        request_id = response.headers["helicone-id"]
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.perf_counter() - started)
    events = len(arrivals)
    assert events >= 10
    spread = arrivals[-1] - arrivals[0]
    assert spread >= CHUNK_DELAY * (events - 1) * 0.8  # paced as B sent them...
    assert arrivals[0] < arrivals[-1] / 2  # ...and the first arrived long before the last
    row = proxy.store.wait_for(request_id)
    assert row is not None and row["total_tokens"] > 0
    assert row["time_to_first_token"] is not None and row["time_to_first_token"] < row["delay_ms"] / 2


def test_responses_stream_usage_is_captured(sdk: openai.OpenAI, proxy: GatewayServer) -> None:
    """Usage of a forwarded Responses stream comes from its response.completed event."""
    with sdk.responses.with_streaming_response.create(model="gpt-4o-mini", input="hi", stream=True) as raw:
        request_id = raw.headers["helicone-id"]
        events = list(raw.parse())
    final = events[-1].response  # type: ignore[union-attr]
    row = proxy.store.wait_for(request_id)
    assert row is not None and final.usage is not None
    assert row["total_tokens"] == final.usage.total_tokens and row["model"] == "gpt-4o-mini"


def test_upstream_errors_pass_through(proxy: GatewayServer, upstream: GatewayServer) -> None:
    """A 4xx/5xx from upstream keeps its status, body and headers, plus A's helicone-id."""
    body = {"model": "error-429", "messages": MESSAGES}
    with http.Client(timeout=10) as client:
        direct = client.post(upstream.url + "/v1/chat/completions", json=body)
        via = client.post(proxy.url + "/v1/chat/completions", json=body)
    assert via.status_code == direct.status_code == 429
    assert via.content == direct.content and via.headers["retry-after"] == "0"
    assert via.headers["helicone-id"] != direct.headers["helicone-id"]
    row = proxy.store.wait_for(via.headers["helicone-id"])
    assert row is not None and row["response_status"] == 429


def test_models_and_other_paths_are_forwarded(sdk: openai.OpenAI, proxy: GatewayServer) -> None:
    """GET /v1/models and unknown /v1 paths go upstream too (B answers the latter 404)."""
    assert "gpt-4o-mini" in [model.id for model in sdk.models.list()]
    with http.Client(timeout=10) as client:
        response = client.get(proxy.url + "/v1/files?limit=2")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"


def test_unreachable_upstream_is_502() -> None:
    """When the upstream cannot be reached the client gets an OpenAI-shaped 502."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with GatewayServer(upstream=f"http://127.0.0.1:{port}") as gateway, http.Client(timeout=10) as client:
        response = client.post(
            gateway.url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}
        )
        assert response.status_code == 502 and response.json()["error"]["type"] == "server_error"
        row = gateway.store.wait_for(response.headers["helicone-id"])
        assert row is not None and row["response_status"] == 502


TARGETS = [
    ("https://api.openai.com", "/v1/chat/completions", b"", "https://api.openai.com/v1/chat/completions"),
    ("https://api.openai.com/v1", "/v1/chat/completions", b"", "https://api.openai.com/v1/chat/completions"),
    ("https://api.openai.com/v1/", "/v1/models", b"", "https://api.openai.com/v1/models"),
    (
        "https://x.openai.azure.com",
        "/openai/deployments/d/chat/completions",
        b"api-version=1",
        "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=1",
    ),
]


@pytest.mark.parametrize(("upstream_url", "path", "query", "expected"), TARGETS)
def test_target_url(upstream_url: str, path: str, query: bytes, expected: str) -> None:
    """The upstream URL joins base and path without doubling /v1, and keeps the query."""
    assert target_url(upstream_url, path, query) == expected


def test_helicone_auth_is_not_forwarded() -> None:
    """Helicone-Auth stays at the gateway: an upstream that requires it never sees it."""
    with GatewayServer(require_key="kb") as guarded, GatewayServer(upstream=guarded.url) as front:
        body = {"model": "gpt-4o-mini", "messages": MESSAGES}
        with http.Client(timeout=10) as client:
            direct = client.post(
                guarded.url + "/v1/chat/completions", json=body, headers={"Helicone-Auth": "Bearer kb"}
            )
            via = client.post(
                front.url + "/v1/chat/completions", json=body, headers={"Helicone-Auth": "Bearer kb"}
            )
    assert direct.status_code == 200
    assert via.status_code == 401 and via.json()["trace"] == "isAuthenticated.error"
