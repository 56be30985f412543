"""A gateway that cannot be reached: openai's own APIConnectionError, naming the gateway URL."""

from __future__ import annotations

import sys

import openai
import pytest

from helicone_wrap import wrap

from .conftest import Driver
from .faultserver import closed_port

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
MESSAGES = [{"role": "user", "content": "hi"}]


def _text(exc: BaseException) -> str:
    return "\n".join([str(exc), *getattr(exc, "__notes__", ())])


async def test_unreachable_gateway_is_named_on_openais_error(driver: Driver) -> None:
    """Same exception type as unwrapped, after openai's retries; its note (or message on 3.10) names the gateway."""
    gateway = f"http://127.0.0.1:{closed_port()}"
    client = wrap(driver.client("https://api.openai.com/v1", max_retries=1), api_key=KEY, base_url=gateway)
    plain = driver.client(gateway + "/v1")
    with pytest.raises(openai.APIConnectionError) as ours:
        await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    with pytest.raises(openai.APIConnectionError) as theirs:
        await driver.call(plain.chat.completions.create, model="m", messages=MESSAGES)
    assert type(ours.value) is type(theirs.value) is openai.APIConnectionError
    assert f"{gateway}/v1/chat/completions" in _text(ours.value)
    assert "helicone_wrap" not in _text(theirs.value)
    assert KEY not in _text(ours.value)
    if sys.version_info >= (3, 11):
        assert str(ours.value) == str(theirs.value)  # openai's message itself is untouched
    assert isinstance(ours.value.__cause__, Exception)  # openai's chaining is kept


async def test_no_note_when_the_failed_host_is_not_the_gateway(driver: Driver) -> None:
    """A client re-pointed by hand away from the gateway fails as plain openai does, with no gateway line."""
    client = wrap(driver.client("https://api.openai.com/v1"), api_key=KEY, base_url="http://127.0.0.1:8787")
    client.base_url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(openai.APIConnectionError) as info:
        await driver.call(client.models.list)
    assert "helicone_wrap" not in _text(info.value)


async def test_no_note_for_clients_that_are_not_wrapped_even_with_helicone_headers(driver: Driver) -> None:
    """The note is for wrapped clients: a plain client sending a Helicone-Request-Id of its own to the same
    gateway, and a client after unwrap(), fail exactly as plain openai does."""
    from helicone_wrap import unwrap

    gateway = f"http://127.0.0.1:{closed_port()}"
    wrap(driver.client("https://api.openai.com/v1", max_retries=0), api_key=KEY, base_url=gateway)
    plain = driver.client(gateway + "/v1", max_retries=0)
    headers = {"Helicone-Request-Id": "00000000-0000-4000-8000-000000000001"}
    with pytest.raises(openai.APIConnectionError) as info:
        await driver.call(plain.chat.completions.create, model="m", messages=MESSAGES, extra_headers=headers)
    assert "helicone_wrap" not in _text(info.value)
    undone = unwrap(wrap(driver.client("https://api.openai.com/v1", max_retries=0), api_key=KEY, base_url=gateway))
    undone.base_url = gateway + "/v1"
    with pytest.raises(openai.APIConnectionError) as info:
        await driver.call(undone.chat.completions.create, model="m", messages=MESSAGES)
    assert "helicone_wrap" not in _text(info.value)


async def test_a_timeout_from_the_gateway_is_named_too(driver: Driver) -> None:
    """openai's APITimeoutError (a subclass) gets the line too, saying the gateway did not answer in time."""
    from .faultserver import FaultServer, hang

    with FaultServer() as server:
        server.when(respond=hang())
        client = wrap(driver.client("https://api.openai.com/v1", max_retries=1, timeout=0.3), api_key=KEY,
                      base_url=server.url)
        with pytest.raises(openai.APITimeoutError) as info:
            await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    assert type(info.value) is openai.APITimeoutError
    assert f"{server.url}/v1/chat/completions did not answer in time" in _text(info.value)
    assert _text(info.value).count("helicone_wrap") == 1
