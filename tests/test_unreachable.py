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
