"""The gateway's Helicone features through real clients: cache, retries, omit, persistence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from helicone_wrap.gateway import GatewayServer
from tests.faultserver import FaultServer, reply

CACHE = {"Helicone-Cache-Enabled": "true"}


def messages(text: str | None = None) -> Any:
    return [{"role": "user", "content": text or "q " + uuid.uuid4().hex}]


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayServer]:
    with GatewayServer() as server:
        yield server


def test_cache_hit_seen_through_sync_client(gw: GatewayServer) -> None:
    """A repeated call comes back as a HIT with a new id; both parse as the same completion."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0) as sdk:
        asked = messages()
        first = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=asked, extra_headers=CACHE
        )
        second = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=asked, extra_headers=CACHE
        )
    assert first.headers["helicone-cache"] == "MISS" and second.headers["helicone-cache"] == "HIT"
    assert second.headers["helicone-id"] != first.headers["helicone-id"]
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    row = gw.store.wait_for(second.headers["helicone-id"])
    assert row is not None and row["cache_reference_id"] == first.headers["helicone-id"]


async def test_cache_hit_seen_through_async_client(gw: GatewayServer) -> None:
    async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0) as sdk:
        asked = messages()
        first = await sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=asked, extra_headers=CACHE
        )
        second = await sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=asked, extra_headers=CACHE
        )
    assert (first.headers["helicone-cache"], second.headers["helicone-cache"]) == ("MISS", "HIT")
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content


def test_streamed_answer_cached_and_replayed_as_sse(gw: GatewayServer) -> None:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0) as sdk:
        asked = messages()
        texts, states = [], []
        for _ in range(2):
            with sdk.chat.completions.with_streaming_response.create(
                model="gpt-4o-mini", messages=asked, stream=True, extra_headers=CACHE
            ) as raw:
                states.append(raw.headers["helicone-cache"])
                assert raw.headers["content-type"].startswith("text/event-stream")
                texts.append("".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices))
    assert states == ["MISS", "HIT"]
    assert texts[0] and texts[1] == texts[0]


def test_cache_survives_a_restart_on_the_same_db(tmp_path: Path) -> None:
    """A second gateway on the same SQLite file answers the first one's entry as a HIT."""
    db = str(tmp_path / "gateway.db")
    asked = messages()
    with (
        GatewayServer(db=db) as one,
        openai.OpenAI(base_url=one.url + "/v1", api_key="k", max_retries=0) as sdk,
    ):
        miss = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=asked, extra_headers=CACHE
        )
    with (
        GatewayServer(db=db) as two,
        openai.OpenAI(base_url=two.url + "/v1", api_key="k", max_retries=0) as sdk,
    ):
        hit = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=asked, extra_headers=CACHE
        )
        row = two.store.wait_for(hit.headers["helicone-id"])
    assert miss.headers["helicone-cache"] == "MISS" and hit.headers["helicone-cache"] == "HIT"
    assert row is not None and row["cache_reference_id"] == miss.headers["helicone-id"]


def test_omitted_bodies_never_reach_the_disk(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    secret, control = "s3cr3t-" + uuid.uuid4().hex, "visible-" + uuid.uuid4().hex
    omit = {"Helicone-Omit-Request": "true", "Helicone-Omit-Response": "true"}
    with GatewayServer(db=str(db)) as server, openai.OpenAI(base_url=server.url + "/v1", api_key="k") as sdk:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=messages(secret), extra_headers=omit)
        sdk.chat.completions.create(model="gpt-4o-mini", messages=messages(control))
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("gateway.db"))
    assert control.encode() in on_disk  # bodies are stored unless omitted...
    assert secret.encode() not in on_disk  # ...and an omitted one never is


CHAT_OK = {
    "id": "c",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
RETRY = {
    "Helicone-Retry-Enabled": "false",  # Helicone retries whenever the header is present
    "Helicone-Retry-Num": "3",
    "Helicone-Retry-Min-Timeout": "5",
    "Helicone-Retry-Max-Timeout": "20",
}


@pytest.mark.parametrize("failure", [500, 503, 429])
def test_retries_upstream_on_429_and_5xx(failure: int) -> None:
    with FaultServer() as upstream, GatewayServer(upstream=upstream.url) as server:
        upstream.when(reply(failure, {"error": {"message": "busy"}}), times=2)
        upstream.when(reply(200, CHAT_OK))
        with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as sdk:
            result = sdk.chat.completions.create(
                model="gpt-4o-mini", messages=messages(), extra_headers=RETRY
            )
        assert result.choices[0].message.content == "ok"
        assert len(upstream.seen(path_contains="/chat/completions")) == 3


def test_no_retry_header_no_retry_and_exhausted_retries_relay_the_last_answer() -> None:
    with FaultServer() as upstream, GatewayServer(upstream=upstream.url) as server:
        upstream.when(reply(500, {"error": {"message": "down"}}))
        with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as sdk:
            with pytest.raises(openai.InternalServerError):
                sdk.chat.completions.create(model="gpt-4o-mini", messages=messages())
            assert len(upstream.seen()) == 1
            with pytest.raises(openai.InternalServerError):
                sdk.chat.completions.create(model="gpt-4o-mini", messages=messages(), extra_headers=RETRY)
        assert len(upstream.seen()) == 1 + 4  # one try and three retries
