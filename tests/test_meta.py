"""helicone_meta(): what Helicone's response headers said, on every result shape, sync and async,
against the real loopback echo server answering with the headers each test chooses."""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import Any

import openai
import pytest

from helicone_wrap import HeliconeMeta, RateLimitMeta, helicone_meta, wrap

from .conftest import Driver
from .echo_server import EchoServer
from .test_wrap import KEY, MESSAGES, SHAPES

HIT = {
    "Helicone-Cache": "HIT", "Helicone-Cache-Bucket-Idx": "2", "Helicone-Cache-Latency": "3",
    "Helicone-RateLimit-Limit": "10", "Helicone-RateLimit-Remaining": "7",
    "Helicone-RateLimit-Policy": "10;w=60;u=request", "Helicone-RateLimit-Reset": "42",
    "Helicone-Status": "success", "helicone-fallback-index": "1",
}


def answering(driver: Driver, echo: EchoServer, headers: dict[str, str], *, wrapped: bool = True) -> Any:
    """A client whose calls the echo server answers with ``headers`` added."""
    client = driver.client(echo.url + "/v1", default_headers={"x-test-respond-with": json.dumps(headers)})
    return wrap(client, api_key=KEY, base_url=echo.url) if wrapped else client


def expected_hit(request_id: str) -> HeliconeMeta:
    return HeliconeMeta(id=request_id, cache="HIT", bucket_index=2, cache_latency_ms=3,
                        rate_limit=RateLimitMeta(limit=10, remaining=7, reset_s=42, policy="10;w=60;u=request"),
                        status="success", fallback_index=1)


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_result_shape_reads_every_field(driver: Driver, echo: EchoServer, shape: str) -> None:
    """Parsed results, streams, stream helpers, raw and streaming responses (and what .parse() gives)
    all report the id, the cache hit with bucket and latency, the rate limit, status and fallback."""
    client = answering(driver, echo, HIT)
    result, id_source = await SHAPES[shape](driver, client)
    hid = id_source if isinstance(id_source, str) else id_source.helicone_id
    assert helicone_meta(result) == expected_hit(hid)
    if not isinstance(id_source, str):
        assert helicone_meta(id_source) == expected_hit(hid)
    assert echo.by_id(hid)  # the id is the one the server answered with


async def test_a_stream_reports_before_its_first_chunk(driver: Driver, echo: EchoServer) -> None:
    """A stream's meta is there as soon as the response headers are, before any chunk is read."""
    client = answering(driver, echo, {"Helicone-Cache": "MISS", "Helicone-Status": "success"})
    stream = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES, stream=True)
    meta = helicone_meta(stream)
    assert meta == HeliconeMeta(id=stream.helicone_id, cache="MISS", status="success")
    assert await driver.consume(stream)


async def test_a_miss_and_no_headers(driver: Driver, echo: EchoServer) -> None:
    """MISS has no bucket or latency; with no Helicone headers every field but the id is None."""
    miss = await driver.call(answering(driver, echo, {"helicone-cache": "MISS", "Helicone-Cache-Bucket-Idx": "0"})
                             .chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert helicone_meta(miss) == HeliconeMeta(id=miss.helicone_id, cache="MISS")
    plain = await driver.call(answering(driver, echo, {}).chat.completions.create, model="gpt-4o-mini",
                              messages=MESSAGES)
    meta = helicone_meta(plain)
    assert meta is not None and meta.id == plain.helicone_id
    assert (meta.cache, meta.bucket_index, meta.cache_latency_ms, meta.rate_limit, meta.status,
            meta.fallback_index) == (None, None, None, None, None, None)


async def test_rate_limit_in_cents_and_without_reset(driver: Driver, echo: EchoServer) -> None:
    """Cents limits can be fractional; Helicone leaves Reset out when it is 0."""
    headers = {"Helicone-RateLimit-Limit": "2.5", "Helicone-RateLimit-Remaining": "0.75",
               "Helicone-RateLimit-Policy": "2.5;w=3600;u=cents;s=user"}
    result = await driver.call(answering(driver, echo, headers).chat.completions.create, model="gpt-4o-mini",
                               messages=MESSAGES)
    meta = helicone_meta(result)
    assert meta is not None
    assert meta.rate_limit == RateLimitMeta(limit=2.5, remaining=0.75, reset_s=None,
                                            policy="2.5;w=3600;u=cents;s=user")
    assert meta.cache is None


async def test_malformed_headers_read_none(driver: Driver, echo: EchoServer) -> None:
    """A value Helicone would never send reads None instead of raising."""
    headers = {"Helicone-Cache": "MAYBE", "Helicone-RateLimit-Limit": "ten", "Helicone-RateLimit-Remaining": "inf",
               "helicone-fallback-index": "first", "Helicone-Status": ""}
    result = await driver.call(answering(driver, echo, headers).chat.completions.create, model="gpt-4o-mini",
                               messages=MESSAGES)
    meta = helicone_meta(result)
    assert meta == HeliconeMeta(id=result.helicone_id, rate_limit=RateLimitMeta(None, None, None, None))


async def test_unwrapped_results_give_none(driver: Driver, echo: EchoServer) -> None:
    """A parsed result of an unwrapped client, a plain object or a string carries no meta."""
    result = await driver.call(answering(driver, echo, HIT, wrapped=False).chat.completions.create,
                               model="gpt-4o-mini", messages=MESSAGES)
    assert helicone_meta(result) is None
    assert helicone_meta(object()) is None and helicone_meta("3f0c") is None and helicone_meta(None) is None


async def test_meta_is_frozen_typed_and_survives_pickling_as_the_id(driver: Driver, echo: EchoServer) -> None:
    """The meta object is immutable and slotted; a pickled result still knows its id."""
    result = await driver.call(answering(driver, echo, HIT).chat.completions.create, model="gpt-4o-mini",
                               messages=MESSAGES)
    meta = helicone_meta(result)
    assert meta is not None and meta.rate_limit is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.cache = "MISS"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.rate_limit.remaining = 0  # type: ignore[misc]
    assert not hasattr(meta, "__dict__")
    assert isinstance(meta.bucket_index, int) and isinstance(meta.rate_limit.limit, int)
    copy = pickle.loads(pickle.dumps(result))
    assert helicone_meta(copy) == HeliconeMeta(id=result.helicone_id)
    assert isinstance(result, openai.types.chat.ChatCompletion) and "helicone" not in result.model_dump_json()
