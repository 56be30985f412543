"""The typed feature blocks end to end: a wrapped openai client (sync and async) talks to the real
local gateway on loopback, which honours cache(), rate_limit(), retries() and omit() as Helicone
does; helicone_meta() reads what the gateway answered and the REST API reads the rows back."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openai
import pytest

from helicone_wrap import (
    AsyncHeliconeAPI,
    F,
    HeliconeAPI,
    HeliconeMeta,
    RateLimitMeta,
    cache,
    helicone_meta,
    omit,
    properties,
    rate_limit,
    retries,
    user,
    wrap,
)
from helicone_wrap.gateway import GatewayServer
from tests.conftest import Driver
from tests.faultserver import FaultServer, reply
from tests.test_wrap import SHAPES

KEY = "sk-helicone-local"
RATE_LIMITED = "Helicone user was rate limit via Helicone-RateLimit-Policy header"


def through(driver: Driver, gw: GatewayServer, *blocks: Any) -> Any:
    """A wrapped client whose calls go through the gateway ``gw``."""
    return wrap(driver.client("https://api.openai.com/v1"), *blocks, base_url=gw.url, api_key=KEY)


def fresh(text: str = "q") -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{text} {uuid.uuid4().hex}"}]


async def chat(driver: Driver, client: Any, messages: Any, **kwargs: Any) -> Any:
    return await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=messages, **kwargs)


def meta(result: Any) -> HeliconeMeta:
    found = helicone_meta(result)
    assert found is not None, f"no helicone_meta on {type(result).__name__}"
    return found


async def read_row(driver: Driver, gw: GatewayServer, request_id: str) -> Any:
    """The request's row through the REST API (sync or async client, like the driver)."""
    assert gw.store.wait_for(request_id, 5) is not None
    if driver.is_async:
        async with AsyncHeliconeAPI(api_key=KEY, base_url=gw.url) as aapi:
            return await aapi.requests.get(request_id, include_body=True)
    with HeliconeAPI(api_key=KEY, base_url=gw.url) as api:
        return api.requests.get(request_id, include_body=True)


async def cached_ids(driver: Driver, gw: GatewayServer, *ids: str) -> set[str]:
    """Which of ``ids`` the REST ``cached`` filter returns."""
    wanted = F.cached == True  # noqa: E712  (a filter, not a comparison)
    if driver.is_async:
        async with AsyncHeliconeAPI(api_key=KEY, base_url=gw.url) as aapi:
            rows = await aapi.requests.query(filter=wanted, limit=1000)
    else:
        with HeliconeAPI(api_key=KEY, base_url=gw.url) as api:
            rows = api.requests.query(filter=wanted, limit=1000)
    return {row.request_id for row in rows} & set(ids)


# ------------------------------------------------------------------------------------- cache


async def test_cache_twice_is_a_hit_with_a_new_id_pointing_at_the_first(driver: Driver, gw: GatewayServer) -> None:
    client = through(driver, gw)
    asked = fresh()
    with cache():
        first = await chat(driver, client, asked)
        second = await chat(driver, client, asked)
    miss, hit = meta(first), meta(second)
    assert (miss.cache, miss.bucket_index, miss.cache_latency_ms) == ("MISS", None, None)
    assert hit.cache == "HIT" and hit.bucket_index == 0
    assert isinstance(hit.cache_latency_ms, int) and hit.cache_latency_ms >= 0
    assert hit.id == second.helicone_id != first.helicone_id
    assert second.choices[0].message.content == first.choices[0].message.content
    row = await read_row(driver, gw, hit.id)
    assert row is not None and row.cache_reference_id == first.helicone_id
    original = await read_row(driver, gw, first.helicone_id)
    assert original is not None and original.cache_reference_id is None
    assert await cached_ids(driver, gw, first.helicone_id, hit.id) == {hit.id}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_result_shape_reports_miss_then_hit(driver: Driver, gw: GatewayServer, shape: str) -> None:
    """Parsed results, streams, stream helpers, raw and streaming responses (and what their .parse()
    gives): the first call is a MISS, the repeat a HIT with bucket and latency and its own id, and a
    rate limit applied to the MISS (a hit is answered before the limiter, as Helicone does)."""
    client = through(driver, gw)
    with cache(seed=uuid.uuid4().hex), rate_limit(50, segment="user"), user("u-" + uuid.uuid4().hex):
        runs = [await SHAPES[shape](driver, client) for _ in range(2)]
    metas = []
    for result, id_source in runs:
        hid = id_source if isinstance(id_source, str) else id_source.helicone_id
        found = meta(result)
        assert found.id == hid
        if not isinstance(id_source, str):
            assert meta(id_source) == found
        metas.append(found)
    miss, hit = metas
    assert miss == HeliconeMeta(id=miss.id, cache="MISS",
                                rate_limit=RateLimitMeta(limit=50, remaining=49, reset_s=2, policy="50;w=60;s=user"))
    assert hit == HeliconeMeta(id=hit.id, cache="HIT", bucket_index=0, cache_latency_ms=hit.cache_latency_ms)
    assert isinstance(hit.cache_latency_ms, int) and hit.id != miss.id
    row = gw.store.wait_for(hit.id, 5)
    assert row is not None and row["cache_reference_id"] == miss.id


@pytest.mark.parametrize("kind", ["stream", "with_streaming_response"])
async def test_a_streamed_hit_reports_before_the_first_chunk(driver: Driver, gw: GatewayServer, kind: str) -> None:
    client = through(driver, gw)
    asked = fresh()
    seen: list[HeliconeMeta] = []
    texts: list[str] = []
    with cache():
        for _ in range(2):
            if kind == "stream":
                stream = await chat(driver, client, asked, stream=True)
                seen.append(meta(stream))  # nothing read yet
                chunks = await driver.consume(stream)
            else:
                manager = client.chat.completions.with_streaming_response.create(
                    model="gpt-4o-mini", messages=asked, stream=True)
                if driver.is_async:
                    async with manager as response:
                        seen.append(meta(response))
                        chunks = await driver.consume(await response.parse())
                else:
                    with manager as response:
                        seen.append(meta(response))
                        chunks = list(response.parse())
            texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    assert [m.cache for m in seen] == ["MISS", "HIT"] and seen[1].bucket_index == 0
    assert texts[0] and texts[1] == texts[0]


async def test_save_and_read_modes_never_share_entries(driver: Driver, gw: GatewayServer) -> None:
    """Helicone's cache key includes every Helicone-Cache-* header, so an entry saved by
    cache(mode="save") is hit by another save-mode call's key only, never by mode="read" or by the
    default mode; and mode="read" saves nothing. A save-only call reports no cache state at all."""
    client = through(driver, gw)
    asked = fresh()
    with cache(mode="save"):
        saved = await chat(driver, client, asked)
    with cache(mode="read"):
        read = await chat(driver, client, asked)
    with cache():
        both = await chat(driver, client, asked)
    assert (meta(saved).cache, meta(read).cache, meta(both).cache) == (None, "MISS", "MISS")
    with cache(mode="read"):
        assert meta(await chat(driver, client, asked)).cache == "MISS"  # read_write's entry is not for it
    other = fresh()
    with cache(mode="read"):
        assert meta(await chat(driver, client, other)).cache == "MISS"
    with cache():  # the read-only call above saved nothing: this is a miss that saves...
        assert meta(await chat(driver, client, other)).cache == "MISS"
        assert meta(await chat(driver, client, other)).cache == "HIT"  # ...and this reads it


async def test_cache_settings_reach_the_gateway_as_it_reads_them(driver: Driver, gw: GatewayServer) -> None:
    """max_age only sets the lifetime (Cache-Control is not in the key), ignore_keys leaves body
    keys out of the key (sent JSON-quoted, which the gateway parses), a seed is a namespace, and
    bucket_size=2 keeps two answers before it hits."""
    client = through(driver, gw)
    asked = fresh()
    with cache(ignore_keys=["user"]):
        assert meta(await chat(driver, client, asked, user="alice")).cache == "MISS"
        assert meta(await chat(driver, client, asked, user="bob")).cache == "HIT"
    with cache(ignore_keys=["user"], max_age=timedelta(hours=1)):
        assert meta(await chat(driver, client, asked, user="carol")).cache == "HIT"
    with cache(ignore_keys=["user"], seed="tenant-b"):
        assert meta(await chat(driver, client, asked, user="alice")).cache == "MISS"
    with cache(bucket_size=2):
        states = [meta(await chat(driver, client, asked)) for _ in range(3)]
    assert [m.cache for m in states] == ["MISS", "MISS", "HIT"] and states[2].bucket_index in (0, 1)


async def test_max_age_expires_the_entry(driver: Driver, gw: GatewayServer) -> None:
    client = through(driver, gw)
    asked = fresh()
    with cache(max_age=1):
        assert meta(await chat(driver, client, asked)).cache == "MISS"
        assert meta(await chat(driver, client, asked)).cache == "HIT"
        time.sleep(1.1)
        assert meta(await chat(driver, client, asked)).cache == "MISS"


async def test_a_client_wide_cache_and_cache_false(driver: Driver, gw: GatewayServer) -> None:
    client = through(driver, gw, cache())
    asked = fresh()
    assert meta(await chat(driver, client, asked)).cache == "MISS"
    assert meta(await chat(driver, client, asked)).cache == "HIT"
    with cache(False):
        off = meta(await chat(driver, client, asked))
    assert off.cache is None and off.rate_limit is None


# -------------------------------------------------------------------------------- rate limits


@pytest.fixture
def own_gw() -> Iterator[GatewayServer]:
    """A gateway of the test's own: its global rate-limit bucket is shared by nobody else."""
    with GatewayServer() as server:
        yield server


async def test_rate_limit_two_then_openai_rate_limit_error(driver: Driver, own_gw: GatewayServer) -> None:
    client = through(driver, own_gw)
    with rate_limit(2, window=60):
        first = meta(await chat(driver, client, fresh()))
        second = meta(await chat(driver, client, fresh()))
        with pytest.raises(openai.RateLimitError) as caught:
            await chat(driver, client, fresh())
    assert first.rate_limit == RateLimitMeta(limit=2, remaining=1, reset_s=30, policy="2;w=60")
    assert second.rate_limit == RateLimitMeta(limit=2, remaining=0, reset_s=60, policy="2;w=60")
    error = caught.value
    assert error.status_code == 429 and RATE_LIMITED in error.message
    assert error.response.headers["x-helicone-error"] == "rate_limited"
    refused = meta(error)  # helicone_meta reads openai's error too
    assert refused.rate_limit == RateLimitMeta(limit=2, remaining=0, reset_s=60, policy="2;w=60")
    row = own_gw.store.wait_for(refused.id, 5)
    assert row is not None and row["response_status"] == 429
    assert row["properties"]["Helicone-Rate-Limit-Status"] == "bucket_rate_limited"


async def test_rate_limit_segments_count_apart(driver: Driver, own_gw: GatewayServer) -> None:
    """segment="user" keeps one bucket per user id, a property segment one per property value."""
    client = through(driver, own_gw)
    with rate_limit(1, segment="user"):
        with user("ann"):
            assert meta(await chat(driver, client, fresh())).rate_limit == RateLimitMeta(1, 0, 60, "1;w=60;s=user")
            with pytest.raises(openai.RateLimitError):
                await chat(driver, client, fresh())
        with user("ben"):
            assert meta(await chat(driver, client, fresh())).rate_limit is not None
    with rate_limit(1, segment="Org"), properties(org="acme"):
        assert meta(await chat(driver, client, fresh())).rate_limit == RateLimitMeta(1, 0, 60, "1;w=60;s=org")
        with pytest.raises(openai.RateLimitError):
            await chat(driver, client, fresh())


# ------------------------------------------------------------------------------------ retries

CHAT_OK = {
    "id": "c", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
QUICK = {"min_timeout": timedelta(milliseconds=5), "max_timeout": timedelta(milliseconds=20)}


@pytest.fixture
def flaky() -> Iterator[tuple[FaultServer, GatewayServer]]:
    with FaultServer() as upstream, GatewayServer(upstream=upstream.url) as server:
        yield upstream, server


async def test_retries_against_a_flaky_upstream(driver: Driver, flaky: tuple[FaultServer, GatewayServer]) -> None:
    upstream, server = flaky
    client = through(driver, server)
    upstream.when(reply(503, {"error": {"message": "busy"}}), times=2)
    upstream.when(reply(200, CHAT_OK))
    with retries(attempts=3, **QUICK):
        result = await chat(driver, client, fresh())
    assert result.choices[0].message.content == "ok"
    assert len(upstream.seen(path_contains="/chat/completions")) == 3
    assert meta(result).id == result.helicone_id
    assert server.store.wait_for(result.helicone_id, 5) is not None


async def test_retries_off_and_exhausted(driver: Driver, flaky: tuple[FaultServer, GatewayServer]) -> None:
    """retries(False) inside a client-wide retries() sends no retry header: one try; exhausted
    retries hand openai the upstream's last answer."""
    upstream, server = flaky
    client = through(driver, server, retries(attempts=2, **QUICK))
    upstream.when(reply(500, {"error": {"message": "down"}}))
    with retries(False), pytest.raises(openai.InternalServerError):
        await chat(driver, client, fresh())
    assert len(upstream.seen()) == 1
    with pytest.raises(openai.InternalServerError, match="down"):
        await chat(driver, client, fresh())
    assert len(upstream.seen()) == 1 + 3  # one try and two retries


# --------------------------------------------------------------------------------------- omit


async def test_omit_keeps_both_bodies_off_the_disk(driver: Driver, tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    secret, control = "s3cr3t-" + uuid.uuid4().hex, "visible-" + uuid.uuid4().hex
    with GatewayServer(db=str(db)) as server:
        client = through(driver, server)
        with omit(request=True, response=True):
            hidden = await chat(driver, client, [{"role": "user", "content": secret}])
        shown = await chat(driver, client, [{"role": "user", "content": control}])
        row = await read_row(driver, server, hidden.helicone_id)
        assert row is not None and row.request_body is None and row.response_body is None
        assert row.model == "gpt-4o-mini" and row.total_tokens  # the call itself is still logged
        kept = await read_row(driver, server, shown.helicone_id)
        assert kept is not None and control in str(kept.request_body)
        assert hidden.choices[0].message.content  # the caller still gets the answer
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("gateway.db"))
    assert control.encode() in on_disk
    assert secret.encode() not in on_disk


# ------------------------------------------------------------------------------ the README


def _readme_example() -> tuple[str, str]:
    """The first python block of README's "Caching and rate limits" and the output shown after it."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Caching and rate limits"):]
    code = section[section.index("```python\n") + 10:]
    code = code[: code.index("```")]
    shown = section[section.index("```text\n") + 8:]
    return code, shown[: shown.index("```")]


def _normalized(output: str) -> list[str]:
    output = re.sub(r"id='[^']*'", "id=…", output)
    return re.sub(r"cache_latency_ms=\d+", "cache_latency_ms=N", output).strip().splitlines()


def test_the_readme_example_prints_what_the_readme_shows(
    own_gw: GatewayServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown = _readme_example()
    monkeypatch.setenv("HELICONE_BASE_URL", own_gw.url)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert _normalized(printed) == _normalized(shown)
    assert len(set(re.findall(r"id='([^']*)'", printed))) == 4  # every call its own id, the hit too
