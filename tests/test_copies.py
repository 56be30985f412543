"""Copies are routed from the URL openai computes for them; query strings survive; signing clients are refused."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from helicone_wrap import HeliconeConfigError, unwrap, wrap
from helicone_wrap._http import OPENAI_MAJOR

from .conftest import Driver
from .echo_server import EchoServer

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
MESSAGES = [{"role": "user", "content": "hi"}]
HAS_BEDROCK = hasattr(openai, "BedrockOpenAI")  # openai >= 2
OPENAI_3 = OPENAI_MAJOR >= 3  # data_residency, X.509 workload identity


async def _chat(driver: Driver, client: Any) -> Any:
    return await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)


def _realtime_url(client: Any) -> Any:
    realtime = client.realtime if hasattr(client, "realtime") else client.beta.realtime
    return realtime.connect(model="gpt-realtime")._prepare_url()


async def test_copy_that_inherits_the_route_shares_it(driver: Driver, echo: EchoServer) -> None:
    """A plain copy of a client routed to another provider keeps its upstream header; unwrap restores it."""
    client = wrap(driver.client("https://api.groq.com/openai/v1"), api_key=KEY, base_url=echo.url)
    copy = client.with_options(timeout=5)
    seen = echo.by_id((await _chat(driver, copy)).helicone_id)
    assert seen.headers["helicone-target-url"] == "https://api.groq.com"
    unwrap(copy)
    assert str(copy.base_url) == "https://api.groq.com/openai/v1/"


async def test_base_url_set_by_hand_before_copying_is_kept(driver: Driver, echo: EchoServer) -> None:
    """client.base_url = X, then copy(): the copy has X, as openai gives it (and as its parent uses it)."""
    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    client.base_url = "http://localhost:5000/custom/path/"
    copy = client.copy()
    assert str(copy.base_url) == "http://localhost:5000/custom/path/"
    unwrap(copy)
    assert str(copy.base_url) == "http://localhost:5000/custom/path/"


async def test_with_options_base_url_with_query_on_the_gateway(driver: Driver, echo: EchoServer) -> None:
    """with_options(base_url=<the gateway, with a query>) keeps the URL openai computes, query included."""
    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    plain = driver.client(echo.url + "/v2?tenant=acme")
    copy = client.with_options(base_url=echo.url + "/v2?tenant=acme")
    assert str(copy.base_url) == str(plain.base_url)
    assert copy.base_url.params == plain.base_url.params


@pytest.mark.parametrize("where", ["same-origin", "other-origin"])
async def test_query_string_in_base_url_survives(driver: Driver, echo: EchoServer, where: str) -> None:
    """?tenant=acme stays in base_url (and in the realtime URL), whether the gateway is the client's origin or not."""
    upstream = (echo.url if where == "same-origin" else "https://llm.example.com") + "/v1?tenant=acme"
    plain = driver.client(upstream)
    client = wrap(driver.client(upstream), api_key=KEY, base_url=echo.url)
    assert client.base_url.params == plain.base_url.params
    assert _realtime_url(client).params == _realtime_url(plain).params
    if where == "same-origin":
        assert str(client.base_url) == str(plain.base_url)
        assert str(_realtime_url(client)) == str(_realtime_url(plain))
    else:
        assert client.base_url.path == plain.base_url.path
        assert str(client.base_url).startswith(echo.url + "/v1")
        ours, theirs = _realtime_url(client), _realtime_url(plain)
        assert ours.path == theirs.path  # the scheme follows the gateway (ws for http)
        assert f"{ours.host}:{ours.port}" == echo.url.split("//", 1)[1]


async def test_query_reaches_the_gateway(driver: Driver, echo: EchoServer) -> None:
    """Each request carries the base_url's query exactly as openai sends it unwrapped (same-origin gateway)."""
    sent = []
    for wrapped in (False, True):
        client = driver.client(echo.url + "/v1?tenant=acme")
        if wrapped:
            wrap(client, api_key=KEY, base_url=echo.url)
        try:  # openai itself may glue the query and the path together, so the echo server may 404
            await _chat(driver, client)
        except openai.NotFoundError:
            pass
        sent.append(echo.last().path)
    assert sent[0] == sent[1] and "tenant=acme" in sent[1]


async def test_copy_to_another_url_goes_to_the_gateway_root(driver: Driver, echo: EchoServer) -> None:
    """A gateway named with the client's path (.../v1): a copy sent elsewhere gets its own path on the root."""
    client = wrap(driver.client("https://llm.example.com/v1"), api_key=KEY, base_url=echo.url + "/v1")
    copy = client.with_options(base_url="https://other.example.com/openai")
    seen = echo.by_id((await _chat(driver, copy)).helicone_id)
    assert seen.path == "/openai/chat/completions"
    assert seen.headers["helicone-target-url"] == "https://other.example.com"
    again = copy.copy(base_url="https://third.example.com/openai/v1")  # a copy of that copy: the same root
    seen = echo.by_id((await _chat(driver, again)).helicone_id)
    assert seen.path == "/openai/v1/chat/completions"


async def test_azure_copy_with_a_new_base_url_leaves_the_deployment_path(driver: Driver, echo: EchoServer) -> None:
    """An Azure client wrapped with its deployment URL as the gateway; copy(base_url=X): calls go to X's path."""
    client = driver.client(echo.url, azure=True, azure_deployment="dep")
    wrap(client, api_key=KEY, base_url=str(client.base_url))
    for method in ("copy", "with_options"):
        copy = getattr(client, method)(base_url="https://replacement.example.test/openai")
        await driver.call(copy.models.list)
        seen = echo.last()
        assert seen.path.split("?", 1)[0] == "/openai/models"
        assert seen.headers["helicone-openai-api-base"] == "https://replacement.example.test"
    await driver.call(client.models.list)  # the parent still uses its own endpoint
    assert echo.last().path.split("?", 1)[0] == "/openai/models"
    assert "helicone-openai-api-base" not in echo.last().headers


if OPENAI_3:

    async def test_copy_with_data_residency_goes_to_the_regional_host(driver: Driver, echo: EchoServer) -> None:
        """with_options(data_residency="eu") reaches eu.api.openai.com through the gateway, not api.openai.com."""
        client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
        eu = client.with_options(data_residency="eu")
        seen = echo.by_id((await _chat(driver, eu)).helicone_id)
        assert seen.headers["helicone-target-url"] == "https://eu.api.openai.com"
        assert seen.headers["helicone-auth"] == f"Bearer {KEY}"
        assert seen.path == "/v1/chat/completions"
        unwrap(eu)
        assert str(eu.base_url) == "https://eu.api.openai.com/v1/"
        # The parent is unchanged, and its own residency survives wrap()/unwrap().
        seen = echo.by_id((await _chat(driver, client)).helicone_id)
        assert "helicone-target-url" not in seen.headers

    async def test_x509_workload_identity_is_refused_off_its_origin(driver: Driver, echo: EchoServer) -> None:
        """An mTLS (X.509 workload identity) client cannot be moved to a gateway: wrap() says why."""
        cls = openai.AsyncOpenAI if driver.is_async else openai.OpenAI
        identity: Any = {"type": "x509", "identity_provider_id": "idp", "service_account_id": "sa"}
        client = cls(workload_identity=identity, max_retries=0)
        with pytest.raises(HeliconeConfigError, match="X.509"):
            wrap(client, api_key=KEY, base_url=echo.url)
        assert "helicone_wrap_state" not in repr(vars(client))
        assert str(client.base_url).startswith("https://mtls.api.openai.com")


if HAS_BEDROCK:

    def _bedrock(driver: Driver, **kwargs: Any) -> Any:
        cls = openai.AsyncBedrockOpenAI if driver.is_async else openai.BedrockOpenAI
        client = cls(api_key="bedrock-token", max_retries=0, **kwargs)
        driver.clients.append(client)
        return client

    async def test_bedrock_client_is_refused_when_the_gateway_is_elsewhere(driver: Driver, echo: EchoServer) -> None:
        """A Bedrock client authorizes every request for its AWS URL only: wrap() refuses to move it."""
        client = _bedrock(driver, aws_region="us-east-1")
        with pytest.raises(HeliconeConfigError, match="bedrock") as info:
            wrap(client, api_key=KEY, base_url=echo.url)
        assert "bedrock-mantle.us-east-1.api.aws" in str(info.value)
        assert str(client.base_url) == "https://bedrock-mantle.us-east-1.api.aws/openai/v1/"
        from openai.providers import bedrock

        cls = openai.AsyncOpenAI if driver.is_async else openai.OpenAI
        with pytest.raises(HeliconeConfigError, match="bedrock"):
            wrap(cls(provider=bedrock(region="eu-west-1", api_key="t")), api_key=KEY, base_url=echo.url)

    async def test_bedrock_copy_with_another_region_is_refused(driver: Driver) -> None:
        """Wrapped with its own URL as the gateway, a copy for another AWS region would move: refused, not rerouted."""
        client = wrap(_bedrock(driver, aws_region="us-east-1"), api_key=KEY,
                      base_url="https://bedrock-mantle.us-east-1.api.aws")
        assert str(client.base_url) == "https://bedrock-mantle.us-east-1.api.aws/openai/v1/"
        with pytest.raises(HeliconeConfigError, match="us-west-2"):
            client.with_options(aws_region="us-west-2")

    async def test_bedrock_on_its_own_gateway_is_routed(driver: Driver, echo: EchoServer) -> None:
        """When the gateway is the Bedrock client's own URL, calls and region copies work, bearer and key there."""
        client = wrap(_bedrock(driver, aws_region="us-east-1", base_url=echo.url + "/openai/v1"),
                      api_key=KEY, base_url=echo.url)
        for each in (client, client.with_options(aws_region="us-west-2")):
            seen = echo.by_id((await _chat(driver, each)).helicone_id)
            assert seen.path == "/openai/v1/chat/completions"
            assert seen.headers["authorization"] == "Bearer bedrock-token"
            assert seen.headers["helicone-auth"] == f"Bearer {KEY}"
