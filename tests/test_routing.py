"""Routing rules (pure table) and wrap()'s configuration handling, on the wire where it matters."""

from __future__ import annotations

import openai
import pytest

from helicone_wrap import HeliconeConfigError, unwrap, wrap
from helicone_wrap._routing import plan_route

from .conftest import Driver
from .echo_server import EchoServer

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"


@pytest.mark.parametrize(
    ("original", "azure", "gateway", "base", "headers"),
    [
        pytest.param("https://api.openai.com/v1", False, None, "https://oai.helicone.ai/v1/", {}, id="openai"),
        pytest.param("https://x.openai.azure.com/openai/deployments/dep/", True, None,
                     "https://oai.helicone.ai/openai/deployments/dep/",
                     {"Helicone-OpenAI-Api-Base": "https://x.openai.azure.com"}, id="azure"),
        pytest.param("https://api.groq.com/openai/v1", False, None, "https://gateway.helicone.ai/openai/v1/",
                     {"Helicone-Target-Url": "https://api.groq.com"}, id="other-provider"),
        pytest.param("https://api.openai.com/v1", False, "http://127.0.0.1:8787", "http://127.0.0.1:8787/v1/", {},
                     id="local-gateway-root"),
        pytest.param("https://api.openai.com/v1", False, "https://oai.helicone.ai/v1", "https://oai.helicone.ai/v1/",
                     {}, id="gateway-with-path"),
        pytest.param("https://api.openai.com/v1", False, "http://h:8585/v1/gateway/oai",
                     "http://h:8585/v1/gateway/oai/v1/", {}, id="self-hosted-jawn"),
        pytest.param("https://oai.helicone.ai/v1", False, None, "https://oai.helicone.ai/v1/", {},
                     id="already-on-helicone"),
    ],
)
def test_route_table(original: str, azure: bool, gateway: str | None, base: str, headers: dict[str, str]) -> None:
    """Each client kind is routed to the documented gateway with the documented headers."""
    route = plan_route(original, azure=azure, gateway=gateway)
    assert (route.base_url, route.headers) == (base, headers)


def test_cloud_gateway_without_key_is_a_config_error() -> None:
    """wrap() without a Helicone key for a cloud gateway raises HeliconeConfigError saying how to fix it."""
    with pytest.raises(HeliconeConfigError, match="HELICONE_API_KEY") as info:
        wrap(openai.OpenAI())
    assert "helicone-wrap gateway" in str(info.value)


def test_environment_configures_key_and_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """HELICONE_API_KEY and HELICONE_BASE_URL are read when no argument is given; arguments win."""
    monkeypatch.setenv("HELICONE_API_KEY", KEY)
    assert str(wrap(openai.OpenAI()).base_url) == "https://oai.helicone.ai/v1/"
    monkeypatch.setenv("HELICONE_BASE_URL", "http://127.0.0.1:9999")
    assert str(wrap(openai.OpenAI()).base_url) == "http://127.0.0.1:9999/v1/"
    assert str(wrap(openai.OpenAI(), base_url="http://127.0.0.1:1234").base_url) == "http://127.0.0.1:1234/v1/"


def test_eu_key_selects_eu_rest_api() -> None:
    """A key containing -eu- sends REST operations to eu.api.helicone.ai."""
    client = wrap(openai.OpenAI(), api_key="sk-helicone-eu-aaaaaaa-bbbbbbb-ccccccc-ddddddd")
    assert vars(client)["_helicone_wrap_state"].target.api_url == "https://eu.api.helicone.ai"


@pytest.mark.parametrize("bad", ["not a url", "ftp://x", "127.0.0.1:8787"])
def test_bad_base_url_is_a_config_error(bad: str) -> None:
    """A base_url that is not an absolute http(s) URL is rejected with an example."""
    with pytest.raises(HeliconeConfigError, match="absolute http"):
        wrap(openai.OpenAI(), api_key=KEY, base_url=bad)


def test_non_openai_objects_are_rejected() -> None:
    """wrap() says which clients it takes."""
    with pytest.raises(HeliconeConfigError, match="AzureOpenAI"):
        wrap(object())  # type: ignore[type-var]


async def test_azure_keeps_deployment_path_and_sends_api_base(driver: Driver, echo: EchoServer) -> None:
    """An Azure client keeps its deployment path and sends Helicone-OpenAI-Api-Base."""
    azure = driver.client("https://myres.openai.azure.com", azure=True, azure_deployment="dep")
    azure_endpoint_before = azure._azure_endpoint
    client = wrap(azure, api_key=KEY, base_url=echo.url)
    assert str(client.base_url) == f"{echo.url}/openai/deployments/dep/"
    result = await driver.call(client.chat.completions.create, model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    seen = echo.by_id(result.helicone_id)
    assert seen.path.startswith("/openai/deployments/dep/chat/completions")
    assert seen.headers["helicone-openai-api-base"] == "https://myres.openai.azure.com"
    assert seen.headers["api-key"] == "sk-test-openai"
    assert seen.headers["helicone-auth"] == f"Bearer {KEY}"
    # Calls that are not per deployment go to the Azure endpoint in openai: through the gateway too.
    page = await driver.call(client.models.list)
    seen = echo.by_id(page.helicone_id)
    assert seen.path.startswith("/openai/models")
    assert seen.headers["helicone-openai-api-base"] == "https://myres.openai.azure.com"
    assert seen.headers["helicone-auth"] == f"Bearer {KEY}"
    unwrap(client)
    assert str(client._azure_endpoint) == str(azure_endpoint_before)  # type: ignore[union-attr]


async def test_other_provider_gets_target_url(driver: Driver, echo: EchoServer) -> None:
    """A client for another provider keeps its path and sends Helicone-Target-Url with the origin."""
    client = wrap(driver.client("https://api.groq.com/openai/v1"), api_key=KEY, base_url=echo.url)
    result = await driver.call(client.chat.completions.create, model="llama", messages=[{"role": "user", "content": "x"}])
    seen = echo.by_id(result.helicone_id)
    assert seen.path == "/openai/v1/chat/completions"
    assert seen.headers["helicone-target-url"] == "https://api.groq.com"


async def test_with_options_base_url_is_rerouted_through_the_gateway(driver: Driver, echo: EchoServer) -> None:
    """with_options(base_url=provider) keeps the copy on the gateway, targeting the new provider."""
    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url)
    other = client.with_options(base_url="https://api.together.xyz/v1")
    result = await driver.call(other.chat.completions.create, model="m", messages=[{"role": "user", "content": "x"}])
    seen = echo.by_id(result.helicone_id)
    assert seen.headers["helicone-target-url"] == "https://api.together.xyz"
    assert seen.headers["helicone-auth"] == f"Bearer {KEY}"


async def test_client_level_properties_and_headers(driver: Driver, echo: EchoServer) -> None:
    """wrap(properties=, user_id=, headers=) go on every call; context blocks win over them."""
    from helicone_wrap import properties

    client = wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url,
                  properties={"App": "demo", "tier": "free"}, user_id="svc",
                  headers={"Helicone-Cache-Enabled": "true"})
    with properties(tier="pro"):
        result = await driver.call(client.chat.completions.create, model="m", messages=[{"role": "user", "content": "x"}])
    headers = echo.by_id(result.helicone_id).headers
    assert headers["helicone-property-app"] == "demo"
    assert headers["helicone-property-tier"] == "pro"
    assert headers["helicone-user-id"] == "svc"
    assert headers["helicone-cache-enabled"] == "true"
    with pytest.raises(HeliconeConfigError, match="Helicone-\\*"):
        wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url, headers={"X-Other": "1"})
