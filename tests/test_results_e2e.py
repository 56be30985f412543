"""End to end on the local gateway: results of sync and async clients are enriched, rated and
scored in the background, then read back through HeliconeAPI and AsyncHeliconeAPI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helicone_wrap import (
    AsyncHeliconeAPI,
    Delivery,
    HeliconeAPI,
    HeliconeValidationError,
    enrich,
    feedback,
    flush,
    request_id,
    score,
    session,
    wrap,
)
from helicone_wrap.gateway import GatewayServer

from .conftest import Driver
from .faultserver import isolated_delivery

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


@pytest.fixture
def lagging_gateway() -> Iterator[GatewayServer]:
    """A gateway that, like Helicone, answers "Request not found" for a while after each call."""
    with GatewayServer(port=0, db=":memory:", ingest_delay=1.0) as gw:
        yield gw


async def read_back(is_async: bool, url: str, rid: str) -> Any:
    if is_async:
        async with AsyncHeliconeAPI(base_url=url) as api:
            return await api.requests.get(rid)
    with HeliconeAPI(base_url=url) as api:
        return api.requests.get(rid)


async def test_enrich_feedback_score_land_despite_ingestion_lag(driver: Driver, lagging_gateway: GatewayServer) -> None:
    """Operations sent right after the call are retried through "Request not found" and land."""
    gw = lagging_gateway
    client = wrap(driver.client(gw.url + "/v1"), base_url=gw.url)
    with session("E2E", path="/step"):
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    handles = [
        result.enrich(Outcome="resolved", turns=3),
        result.feedback(True),
        result.score(accuracy=87, grounded=True),
    ]
    assert all(isinstance(h, Delivery) and not h.done for h in handles)  # returned at once
    if driver.is_async:
        for handle in handles:
            await handle
    assert flush(timeout=15)
    assert all(h.done and h.error is None for h in handles)
    await asyncio.sleep(1.0)  # the read side sees the row once the lag is over
    row = await read_back(driver.is_async, gw.url, result.helicone_id)
    assert row.property("outcome") == "resolved" and row.property("turns") == "3"
    assert row.feedback is True
    assert row.scores["accuracy"] == 87 and row.scores["grounded-hcone-bool"] == 1
    assert row.session_path == "/step" and row.session_name == "E2E"


async def test_module_level_twins_take_results_streams_and_ids(driver: Driver) -> None:
    """enrich/feedback/score accept a result, a stream or a bare id; bad values fail before queueing."""
    with GatewayServer(port=0, db=":memory:") as gw:
        client = wrap(driver.client(gw.url + "/v1"), base_url=gw.url)
        stream = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES, stream=True)
        await driver.consume(stream)
        plain = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
        enrich(stream, {"kind": "stream"})
        feedback(request_id(plain) or "", False)
        score(plain, latency_ok=True)
        with pytest.raises(HeliconeValidationError, match="float"):
            score(plain, accuracy=0.9)
        with pytest.raises(HeliconeValidationError):
            feedback(plain, None)  # type: ignore[arg-type]
        with pytest.raises(HeliconeValidationError):
            enrich(plain, bad=[1])
        with pytest.raises(HeliconeValidationError, match="no Helicone request id"):
            enrich(object(), k="v")
        assert flush(timeout=10)
        streamed = await read_back(driver.is_async, gw.url, stream.helicone_id)
        rated = await read_back(driver.is_async, gw.url, plain.helicone_id)
        assert streamed.property("kind") == "stream"
        assert rated.feedback is False and rated.scores["latency_ok-hcone-bool"] == 1
        assert "accuracy" not in rated.scores


async def test_session_tree_reads_back_the_paths(driver: Driver) -> None:
    """sessions.query finds the session and sessions.tree groups its requests by path segment."""
    with GatewayServer(port=0, db=":memory:") as gw:
        client = wrap(driver.client(gw.url + "/v1"), base_url=gw.url)
        with session("Course Plan", path="/abstract") as s:
            await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
            with session(path="/outline"):
                await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
                with session(path="chapter-1"):
                    await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
        gw.store.flush(5)
        if driver.is_async:
            async with AsyncHeliconeAPI(base_url=gw.url) as aapi:
                rows = await aapi.sessions.query(name="Course Plan")
                tree = await aapi.sessions.tree(s.id)
        else:
            with HeliconeAPI(base_url=gw.url) as api:
                rows = api.sessions.query(name="Course Plan")
                tree = api.sessions.tree(s.id)
        assert [r.session_id for r in rows] == [s.id] and rows[0].total_requests == 3
        assert [c.name for c in tree.root.children] == ["abstract", "outline"]
        outline = tree.root.find("/outline")
        assert outline is not None and [c.name for c in outline.children] == ["chapter-1"]
        assert len(tree.requests) == 3
