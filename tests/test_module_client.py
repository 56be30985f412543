"""openai's module-level client (``openai.chat.completions.create(...)``) can be wrapped and unwrapped.

openai has no async module client, so these tests are sync only. Each one starts from a fresh
module client and puts openai's module settings back afterwards.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from helicone_wrap import is_wrapped, unwrap, wrap

from .echo_server import EchoServer

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """openai's module, with a fresh module client and default settings (restored after the test)."""
    for name, value in (("_client", None), ("base_url", None), ("api_key", "sk-test-openai"), ("api_type", "openai"),
                        ("azure_endpoint", None), ("api_version", None)):
        monkeypatch.setattr(openai, name, value)
    return openai


def test_module_client_calls_go_through_the_gateway(module: Any, echo: EchoServer) -> None:
    """wrap(openai's module client): openai.chat... reaches the gateway with the key; unwrap restores the URL."""
    client = wrap(module._load_client(), api_key=KEY, base_url=echo.url)
    assert client is module._load_client()
    result = module.chat.completions.create(model="m", messages=MESSAGES)
    seen = echo.by_id(result.helicone_id)
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["helicone-auth"] == f"Bearer {KEY}"
    unwrap(client)
    assert not is_wrapped(client)
    assert str(module._load_client().base_url) == "https://api.openai.com/v1/"
    assert module.base_url is None


def test_module_base_url_setting_is_routed_and_restored(module: Any, echo: EchoServer) -> None:
    """With openai.base_url set (which the module client reads on every call) the calls still go via the gateway."""
    module.base_url = "https://api.groq.com/openai/v1"
    before = module._load_client().base_url
    client = wrap(module._load_client(), api_key=KEY, base_url=echo.url)
    result = module.chat.completions.create(model="m", messages=MESSAGES)
    seen = echo.by_id(result.helicone_id)
    assert seen.path == "/openai/v1/chat/completions"
    assert seen.headers["helicone-target-url"] == "https://api.groq.com"
    unwrap(client)
    assert module.base_url == "https://api.groq.com/openai/v1"  # exactly the value the user set
    assert client.base_url == before


def test_azure_module_client_keeps_its_deployment_path(module: Any, echo: EchoServer) -> None:
    """openai.api_type = "azure": the module's Azure client is routed like AzureOpenAI(), and restored."""
    module.api_type = "azure"
    module.azure_endpoint = "https://res.openai.azure.com"
    module.api_version = "2024-06-01"
    client = wrap(module._load_client(), api_key=KEY, base_url=echo.url)
    result = module.chat.completions.create(model="dep", messages=MESSAGES)
    seen = echo.by_id(result.helicone_id)
    assert seen.path.startswith("/openai/deployments/dep/chat/completions")
    assert seen.headers["helicone-openai-api-base"] == "https://res.openai.azure.com"
    unwrap(client)
    assert str(client.base_url) == "https://res.openai.azure.com/openai/"
    assert str(client._azure_endpoint) == "https://res.openai.azure.com"


def test_module_client_already_on_its_gateway_is_left_as_it_is(module: Any, echo: EchoServer) -> None:
    """A gateway that is the module client's own URL changes no module setting, and still gets the key."""
    module.base_url = echo.url + "/v1/"  # (without the slash openai itself calls /v1chat/...)
    client = wrap(module._load_client(), api_key=KEY, base_url=echo.url)
    assert module.base_url == echo.url + "/v1/"
    result = module.chat.completions.create(model="m", messages=MESSAGES)
    assert echo.by_id(result.helicone_id).headers["helicone-auth"] == f"Bearer {KEY}"
    unwrap(client)
    assert module.base_url == echo.url + "/v1/"
