"""The Helicone key never follows a redirect to another origin (real redirecting loopback servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helicone_wrap import properties, unwrap, wrap

from .conftest import Driver
from .echo_server import EchoServer

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def elsewhere() -> Iterator[EchoServer]:
    """A second server on another port: another origin than the gateway."""
    server = EchoServer().start()
    yield server
    server.stop()


def _helicone(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("helicone-")}


@pytest.mark.parametrize("status", [302, 307, 308])
async def test_cross_origin_redirect_gets_no_helicone_header(
    driver: Driver, echo: EchoServer, elsewhere: EchoServer, status: int
) -> None:
    """A gateway that redirects to another origin: the call completes there, without any Helicone header."""
    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    with properties(team="a"):
        result = await driver.call(
            client.chat.completions.create, model="m", messages=MESSAGES,
            extra_headers={"x-test-redirect": f"{status} {elsewhere.url}"},
        )
    assert result.choices[0].message.content == "Hello there"
    first = echo.last()
    assert first.headers["helicone-auth"] == f"Bearer {KEY}"  # the gateway itself got the key
    landed = elsewhere.last()
    assert landed.path == "/hop/1/v1/chat/completions"
    assert _helicone(landed.headers) == {}
    assert KEY not in repr(landed.headers)
    assert "authorization" not in landed.headers  # httpx's own rule, unchanged


async def test_redirect_chain_never_brings_the_key_back(driver: Driver, echo: EchoServer, elsewhere: EchoServer) -> None:
    """gateway -> other origin -> gateway: the other origin never sees the key, nor does the key come back."""
    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    await driver.call(
        client.chat.completions.create, model="m", messages=MESSAGES,
        extra_headers={"x-test-redirect": f"307 {elsewhere.url} {echo.url}"},
    )
    assert all(_helicone(seen.headers) == {} for seen in elsewhere.seen)
    assert echo.last().path == "/hop/2/v1/chat/completions"
    assert "helicone-auth" not in echo.last().headers


async def test_same_origin_redirect_keeps_the_headers(driver: Driver, echo: EchoServer) -> None:
    """A redirect within the gateway's origin is followed as openai follows it, headers and key kept."""
    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    with properties(team="a"):
        result = await driver.call(
            client.chat.completions.create, model="m", messages=MESSAGES,
            extra_headers={"x-test-redirect": f"307 {echo.url}"},
        )
    landed = echo.by_id(result.helicone_id)
    assert landed.path == "/hop/1/v1/chat/completions"
    assert landed.headers["helicone-auth"] == f"Bearer {KEY}"
    assert landed.headers["helicone-property-team"] == "a"
    assert landed.headers["authorization"] == "Bearer sk-test-openai"
    assert landed.body["model"] == "m"  # 307 keeps the method and body


async def test_key_set_by_hand_is_dropped_too_and_guard_outlives_unwrap(
    driver: Driver, echo: EchoServer, elsewhere: EchoServer
) -> None:
    """A Helicone-Auth put in default_headers by hand is not re-sent cross-origin either, even after unwrap."""
    client = wrap(driver.client(echo.url + "/v1", default_headers={"Helicone-Auth": f"Bearer {KEY}"}),
                  base_url=echo.url)
    unwrap(client)
    await driver.call(
        client.chat.completions.create, model="m", messages=MESSAGES,
        extra_headers={"x-test-redirect": f"308 {elsewhere.url}"},
    )
    assert echo.last().headers["helicone-auth"] == f"Bearer {KEY}"
    assert "helicone-auth" not in elsewhere.last().headers


async def test_copies_with_their_own_http_client_are_guarded(
    driver: Driver, echo: EchoServer, elsewhere: EchoServer
) -> None:
    """with_options(http_client=...) gives the copy a new HTTP client: it is guarded as well."""
    from helicone_wrap._http import http

    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    own = (http.AsyncClient if driver.is_async else http.Client)(follow_redirects=True)
    copy = client.with_options(http_client=own)
    driver.clients.append(copy)
    await driver.call(
        copy.chat.completions.create, model="m", messages=MESSAGES,
        extra_headers={"x-test-redirect": f"307 {elsewhere.url}"},
    )
    assert echo.last().headers["helicone-auth"] == f"Bearer {KEY}"
    assert _helicone(elsewhere.last().headers) == {}
