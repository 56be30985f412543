"""The OpenAI proxy with the offline model, driven by the real openai SDK (sync and async)."""

from __future__ import annotations

import array
import base64
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from helicone_wrap.gateway import GatewayServer

from .conftest import new_id

MESSAGES: Any = [{"role": "user", "content": "hello"}]


class Person(BaseModel):
    name: str
    age: int
    tags: list[str]


def _logged(gw: GatewayServer, request_id: str) -> dict[str, Any]:
    row = gw.store.wait_for(request_id)
    assert row is not None
    return row


def test_chat_json(client: openai.OpenAI, gw: GatewayServer) -> None:
    """A chat completion parses as ChatCompletion and is logged with usage and cost."""
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content and completion.usage is not None
    row = _logged(gw, raw.headers["helicone-id"])
    assert row["total_tokens"] == completion.usage.total_tokens and row["cost"] > 0
    assert row["request_path"] == "/v1/chat/completions" and row["response_status"] == 200


async def test_chat_json_async(aclient: openai.AsyncOpenAI) -> None:
    """The async SDK gets the same deterministic answer."""
    completion = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "You said: hello" in (completion.choices[0].message.content or "")


def test_chat_stream_with_usage(client: openai.OpenAI, gw: GatewayServer) -> None:
    """A chat stream yields chunks then a usage chunk; the log keeps usage and time to first token."""
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        request_id = response.headers["helicone-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "You said: hello" in text
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    row = _logged(gw, request_id)
    assert row["total_tokens"] == chunks[-1].usage.total_tokens
    assert row["time_to_first_token"] is not None and row["time_to_first_token"] <= row["delay_ms"]
    assert isinstance(row["properties"], dict)


async def test_chat_stream_async(aclient: openai.AsyncOpenAI) -> None:
    """Async streaming works and ends without a usage chunk unless asked."""
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in chunks)


def test_completions(client: openai.OpenAI) -> None:
    """Legacy completions answer as JSON and as a stream."""
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi").choices[0].text
    stream = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="hi", stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "You said: hi" in "".join(c.choices[0].text for c in chunks if c.choices)
    assert chunks[-1].usage is not None


async def test_completions_async(aclient: openai.AsyncOpenAI) -> None:
    """Async legacy completions answer."""
    completion = await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(client: openai.OpenAI, encoding: Any) -> None:
    """Embeddings decode in both encodings and honour dimensions."""
    result = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=8, encoding_format=encoding
    )
    raw: list[Any] = [item.embedding for item in result.data]  # a str when base64 was asked for
    vectors = [array.array("f", base64.b64decode(e)) if isinstance(e, str) else e for e in raw]
    assert [len(vector) for vector in vectors] == [8, 8]
    assert result.usage.prompt_tokens == 2


async def test_embeddings_async(aclient: openai.AsyncOpenAI) -> None:
    """The SDK's default (base64) embeddings round-trip through the async client."""
    result = await aclient.embeddings.create(model="text-embedding-3-small", input="a")
    assert len(result.data[0].embedding) == 1536


def test_responses(client: openai.OpenAI, gw: GatewayServer) -> None:
    """The Responses API answers as a Response, logged with its usage."""
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="hi there")
    response = raw.parse()
    assert "You said: hi there" in response.output_text
    assert response.usage is not None
    assert _logged(gw, raw.headers["helicone-id"])["total_tokens"] == response.usage.total_tokens


def test_responses_stream(client: openai.OpenAI, gw: GatewayServer) -> None:
    """Responses SSE: created ... output_text.delta ... completed, with usage captured in the log."""
    with client.responses.with_streaming_response.create(
        model="gpt-4o-mini", input="stream please", stream=True
    ) as raw:
        request_id = raw.headers["helicone-id"]
        events = list(raw.parse())
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    final = events[-1].response  # type: ignore[union-attr]
    assert final.usage is not None
    assert _logged(gw, request_id)["total_tokens"] == final.usage.total_tokens


async def test_responses_stream_helper_async(aclient: openai.AsyncOpenAI) -> None:
    """The SDK's responses.stream() helper assembles the final response."""
    async with aclient.responses.stream(model="gpt-4o-mini", input="hi") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert "You said: hi" in final.output_text


def test_models(client: openai.OpenAI) -> None:
    """GET /v1/models lists models and GET /v1/models/{id} retrieves one or answers 404."""
    assert "gpt-4o-mini" in [model.id for model in client.models.list()]
    assert client.models.retrieve("gpt-4o").owned_by == "openai"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


async def test_models_async(aclient: openai.AsyncOpenAI) -> None:
    """Async model listing works."""
    page = await aclient.models.list()
    assert page.data


def test_parse_structured_output(client: openai.OpenAI) -> None:
    """chat.completions.parse and responses.parse get JSON that fits the Pydantic model."""
    # openai < 1.9x keeps parse() under client.beta.
    completions = client.chat.completions if hasattr(client.chat.completions, "parse") else client.beta.chat.completions
    parsed = completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Person)
    assert parsed.choices[0].message.parsed == Person(name="…", age=0, tags=[])
    response = client.responses.parse(model="gpt-4o-mini", input="x", text_format=Person)
    assert response.output_parsed == Person(name="…", age=0, tags=[])


ERRORS = [
    ("error-400", openai.BadRequestError, 400),
    ("error-401", openai.AuthenticationError, 401),
    ("error-404", openai.NotFoundError, 404),
    ("error-429", openai.RateLimitError, 429),
    ("error-500", openai.InternalServerError, 500),
]


@pytest.mark.parametrize(("model", "error", "status"), ERRORS)
def test_error_models(
    client: openai.OpenAI, gw: GatewayServer, model: str, error: type[Exception], status: int
) -> None:
    """error-<status> models raise the SDK's matching error, carry helicone-id, and are logged."""
    with pytest.raises(error) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES)
    response = caught.value.response  # type: ignore[attr-defined]
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    if status == 429:
        assert response.headers["retry-after"] == "0"
    assert _logged(gw, response.headers["helicone-id"])["response_status"] == status


async def test_error_stream_async(aclient: openai.AsyncOpenAI) -> None:
    """A streaming request for an error model fails before any event."""
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="error-429", messages=MESSAGES, stream=True)


def test_helicone_id_and_request_id(client: openai.OpenAI) -> None:
    """helicone-id echoes a valid Helicone-Request-Id and replaces an invalid one."""
    valid = new_id()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"Helicone-Request-Id": valid}
    )
    assert raw.headers["helicone-id"] == valid
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"Helicone-Request-Id": "req-not-a-uuid"}
    )
    assert raw.headers["helicone-id"] not in ("req-not-a-uuid", valid)


def test_headers_are_logged_like_helicone(client: openai.OpenAI, gw: GatewayServer) -> None:
    """Property keys are lowercased, session headers kept capitalised, and body user is the fallback."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        user="body-user",
        extra_headers={
            "Helicone-Property-AppName": "Demo",
            "Helicone-Session-Id": "s-1",
            "Helicone-Session-Path": "/root/child",
            "Helicone-Session-Name": "Plan",
        },
    )
    row = _logged(gw, raw.headers["helicone-id"])
    assert row["properties"] == {
        "appname": "Demo",
        "Helicone-Session-Id": "s-1",
        "Helicone-Session-Path": "/root/child",
        "Helicone-Session-Name": "Plan",
    }
    assert row["request_user_id"] == "body-user"


def test_omit_request_and_response(client: openai.OpenAI, gw: GatewayServer) -> None:
    """Helicone-Omit-Request/-Response keep the bodies out of the log."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={"Helicone-Omit-Request": "true", "Helicone-Omit-Response": "true"},
    )
    row = gw.store.wait_for(raw.headers["helicone-id"])
    assert row is not None
    full = gw.store.get_request(row["request_id"], include_body=True)
    assert full is not None and full["request_body"] is None and full["response_body"] is None
    assert full["total_tokens"] > 0


def test_azure_deployment_paths(gw: GatewayServer) -> None:
    """AzureOpenAI's /openai/deployments/{dep}/... paths map to the same handlers."""
    azure = openai.AzureOpenAI(azure_endpoint=gw.url, api_key="k", api_version="2024-10-21", max_retries=0)
    raw = azure.chat.completions.with_raw_response.create(model="my-deployment", messages=MESSAGES)
    assert raw.parse().choices[0].message.content
    row = _logged(gw, raw.headers["helicone-id"])
    assert (
        row["provider"] == "AZURE"
        and row["request_path"] == "/openai/deployments/my-deployment/chat/completions"
    )
    assert azure.embeddings.create(model="emb", input="x").data
    azure.close()


def test_unknown_openai_path_offline(api: Any) -> None:
    """Offline, an OpenAI path it does not serve answers an OpenAI-shaped 404 with helicone-id."""
    response = api.post("/v1/audio/speech", json={"model": "tts-1", "input": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"
    assert response.headers["helicone-id"]


def test_malformed_json_offline(api: Any) -> None:
    """A body that is not a JSON object gets an OpenAI-shaped 400."""
    response = api.post("/v1/chat/completions", content=b"{bad", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]


def test_body_over_10_mb_is_413(api: Any) -> None:
    """Bodies over 10 MB are refused with 413 on the proxy and on REST."""
    big = b"x" * (10 * 1024 * 1024 + 1)
    proxied = api.post("/v1/chat/completions", content=big, headers={"content-type": "application/json"})
    assert proxied.status_code == 413 and proxied.headers["helicone-id"]
    rest = api.put(
        f"/v1/request/{new_id()}/property", content=big, headers={"content-type": "application/json"}
    )
    assert rest.status_code == 413 and rest.json()["error"].startswith("Request body exceeds")
