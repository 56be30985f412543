"""The gateway's async log endpoint: Helicone's status codes and messages for bad records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from helicone_wrap.gateway import GatewayServer

from .conftest import new_id, rest_client


def record(**changes: Any) -> dict[str, Any]:
    now = time.time()
    body: dict[str, Any] = {
        "providerRequest": {"url": "https://api.openai.com/v1/chat/completions",
                            "json": {"model": "gpt-4o-mini", "messages": []}, "meta": {}},
        "providerResponse": {"headers": {}, "status": 200, "json": {
            "model": "gpt-4o-mini", "usage": {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010}}},
        "timing": {"startTime": {"seconds": int(now), "milliseconds": 0},
                   "endTime": {"seconds": int(now), "milliseconds": 250}},
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def keyed() -> Iterator[GatewayServer]:
    with GatewayServer(require_key="sk-helicone-good") as server:
        yield server


def post(gw: GatewayServer, body: Any, **headers: str) -> Any:
    with rest_client(gw.url) as client:
        return client.post("/oai/v1/log", json=body, headers=headers)


def test_a_valid_record_is_stored_with_tokens_cost_latency_and_headers(keyed: GatewayServer) -> None:
    rid = new_id()
    answer = post(keyed, record(), **{"Helicone-Auth": "Bearer sk-helicone-good", "Helicone-Request-Id": rid,
                                      "Helicone-Property-Team": "a", "Helicone-User-Id": "u9"})
    assert (answer.status_code, answer.text, answer.headers["helicone-id"]) == (200, "ok", rid)
    row = keyed.store.wait_for(rid)
    assert row is not None
    assert row["prompt_tokens"] == 1000 and row["delay_ms"] == 250 and row["cost"] > 0
    assert row["request_properties"]["team"] == "a" and row["request_user_id"] == "u9"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"providerRequest": {}}, "One of the required fields is missing"),
        (record(providerResponse={"headers": {}, "status": "200", "json": {}}), "'status' should be a number"),
        (record(timing={"startTime": {"seconds": 10, "milliseconds": 0}, "endTime": {"seconds": 9, "milliseconds": 0}}),
         "startTime cannot be greater than endTime"),
    ],
)
def test_bad_records_get_400_with_helicones_message(keyed: GatewayServer, body: Any, message: str) -> None:
    answer = post(keyed, body, **{"Helicone-Auth": "Bearer sk-helicone-good"})
    assert answer.status_code == 400 and message in answer.json()["error"]


def test_missing_or_wrong_key_is_401(keyed: GatewayServer) -> None:
    assert (post(keyed, record()).status_code, post(keyed, record()).text) == (401, "Unauthorized")
    wrong = post(keyed, record(), **{"Helicone-Auth": "Bearer sk-helicone-bad"})
    assert wrong.status_code == 401 and "Invalid API key" in wrong.json()["error"]
