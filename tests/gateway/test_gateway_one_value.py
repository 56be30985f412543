"""One key, one value: ``properties(city="Zürich")`` (a header) and ``enrich(city="Zürich")`` /
``add_property`` (``PUT .../property``) store the same string, and ``F.property("city") == "Zürich"``
finds every request, end to end against our gateway, which stores values as sent like Helicone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from helicone_wrap import AsyncHeliconeAPI, F, HeliconeAPI, enrich, properties, request_id, wrap
from helicone_wrap.gateway import GatewayServer

from ..faultserver import isolated_delivery

CITY = "Zürich"
STORED = "utf-8''Z%C3%BCrich"  # what the header carries and Helicone keeps (it does no decoding)
ASK: Any = [{"role": "user", "content": "x"}]


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


def check_stored_and_found(gw: GatewayServer, run: str, ids: list[str], rows: list[Any], counted: int,
                           contained: list[Any], raw_node: list[Any]) -> None:
    stored = {rid: gw.store.get_request(rid)["properties"].get("city") for rid in ids}  # type: ignore[index]
    assert stored == dict.fromkeys(ids, STORED), "one value must be one stored string, whichever path set it"
    assert sorted(r.request_id for r in rows) == sorted(ids)
    assert {r.property("city") for r in rows} == {CITY}  # read back decoded
    assert counted == len(ids)
    assert sorted(r.request_id for r in contained) == sorted(ids)
    assert sorted(r.request_id for r in raw_node) == sorted(ids)


def filters(run: str) -> tuple[Any, Any, Any]:
    mine = F.property("run") == run
    exact = mine & (F.property("city") == CITY)
    contains = mine & F.property("city").contains("Zür")
    # What a store without decoding must match: the encoded form alone, as a raw FilterNode.
    raw = {"left": mine.to_node(), "operator": "and",
           "right": {"request_response_rmt": {"properties": {"city": {"equals": STORED}}}}}
    return exact, contains, raw


def test_header_and_rest_properties_are_one_value_sync(gw: GatewayServer) -> None:
    run = str(uuid.uuid4())
    client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), base_url=gw.url)
    with properties(run=run):
        with properties(city=CITY):
            by_header = request_id(client.chat.completions.create(model="gpt-4o-mini", messages=ASK))
        later = client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        direct = request_id(client.chat.completions.create(model="gpt-4o-mini", messages=ASK))
    assert enrich(later, city=CITY).wait(10) and enrich(later, city=CITY).error is None
    ids = [str(by_header), str(request_id(later)), str(direct)]
    exact, contains, raw = filters(run)
    with HeliconeAPI(base_url=gw.url) as api:
        api.requests.add_property(str(direct), "city", CITY)
        gw.store.flush(5)
        check_stored_and_found(gw, run, ids, api.requests.query(filter=exact), api.requests.count(exact),
                               api.requests.query(filter=contains), api.requests.query(filter=raw))
    client.close()


def test_header_and_rest_properties_are_one_value_async(gw: GatewayServer) -> None:
    run = str(uuid.uuid4())

    async def main() -> tuple[list[str], list[Any], int, list[Any], list[Any]]:
        client = wrap(openai.AsyncOpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), base_url=gw.url)
        with properties(run=run):
            with properties(city=CITY):
                by_header = request_id(await client.chat.completions.create(model="gpt-4o-mini", messages=ASK))
            later = await client.chat.completions.create(model="gpt-4o-mini", messages=ASK)
            direct = request_id(await client.chat.completions.create(model="gpt-4o-mini", messages=ASK))
        delivered = await enrich(later, city=CITY)
        assert delivered.ok, delivered.error
        await client.close()
        ids = [str(by_header), str(request_id(later)), str(direct)]
        exact, contains, raw = filters(run)
        async with AsyncHeliconeAPI(base_url=gw.url) as api:
            await api.requests.add_property(str(direct), "city", CITY)
            gw.store.flush(5)
            return (ids, await api.requests.query(filter=exact), await api.requests.count(exact),
                    await api.requests.query(filter=contains), await api.requests.query(filter=raw))

    ids, rows, counted, contained, raw_node = asyncio.run(main())
    check_stored_and_found(gw, run, ids, rows, counted, contained, raw_node)
