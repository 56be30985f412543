"""The wrapper's behaviour suite: every call shape, sync and async, against a real loopback server."""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any

import openai
import pydantic
import pytest

import helicone_wrap
from helicone_wrap import properties, request_id, session, unwrap, user, wrap

from .conftest import Driver, InternalErrors
from .echo_server import EchoServer

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
MESSAGES = [{"role": "user", "content": "hi"}]
CONTEXT_HEADERS = ("helicone-session", "helicone-property", "helicone-user", "helicone-auth")


class Plan(pydantic.BaseModel):
    title: str


def wrapped(driver: Driver, echo: EchoServer, **kwargs: Any) -> Any:
    return wrap(driver.client(echo.url + "/v1"), api_key=KEY, base_url=echo.url, **kwargs)


async def _chat(d: Driver, c: Any) -> tuple[Any, Any]:
    r = await d.call(c.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    return r, r


async def _chat_stream(d: Driver, c: Any) -> tuple[Any, Any]:
    s = await d.call(c.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert isinstance(s, (openai.Stream, openai.AsyncStream))
    hid = s.helicone_id  # available before the first chunk is read
    chunks = await d.consume(s)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    return s, hid


async def _chat_stream_helper(d: Driver, c: Any) -> tuple[Any, Any]:
    completions = c.chat.completions if hasattr(c.chat.completions, "stream") else c.beta.chat.completions
    manager = completions.stream(model="gpt-4o-mini", messages=MESSAGES)
    if d.is_async:
        async with manager as s:
            final = await s.get_final_completion()
    else:
        with manager as s:
            final = s.get_final_completion()
    assert final.choices[0].message.content
    return s, request_id(s)


async def _completion(d: Driver, c: Any) -> tuple[Any, Any]:
    r = await d.call(c.completions.create, model="gpt-3.5-turbo-instruct", prompt="hi")
    assert r.choices[0].text
    return r, r


async def _embedding(d: Driver, c: Any) -> tuple[Any, Any]:
    r = await d.call(c.embeddings.create, model="text-embedding-3-small", input="hi")
    assert r.data[0].embedding and all(isinstance(x, float) for x in r.data[0].embedding)
    return r, r


async def _responses(d: Driver, c: Any) -> tuple[Any, Any]:
    r = await d.call(c.responses.create, model="gpt-4o-mini", input="hi")
    assert r.output_text
    return r, r


async def _responses_stream(d: Driver, c: Any) -> tuple[Any, Any]:
    s = await d.call(c.responses.create, model="gpt-4o-mini", input="hi", stream=True)
    hid = s.helicone_id
    events = await d.consume(s)
    assert events[-1].type == "response.completed"
    return s, hid


async def _parse(d: Driver, c: Any) -> tuple[Any, Any]:
    completions = c.chat.completions if hasattr(c.chat.completions, "parse") else c.beta.chat.completions
    r = await d.call(completions.parse, model="gpt-4o-mini", messages=MESSAGES, response_format=Plan)
    assert isinstance(r.choices[0].message.parsed, Plan)
    return r, r


async def _raw(d: Driver, c: Any) -> tuple[Any, Any]:
    raw = await d.call(c.chat.completions.with_raw_response.create, model="gpt-4o-mini", messages=MESSAGES)
    parsed = raw.parse()
    assert parsed.helicone_id == raw.helicone_id
    return parsed, raw


async def _streaming_response(d: Driver, c: Any) -> tuple[Any, Any]:
    manager = c.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES)
    if d.is_async:
        async with manager as response:
            parsed = await response.parse()
    else:
        with manager as response:
            parsed = response.parse()
    assert parsed.helicone_id == response.helicone_id
    return parsed, response


async def _models(d: Driver, c: Any) -> tuple[Any, Any]:
    page = await d.call(c.models.list)
    assert "gpt-4o-mini" in [m.id for m in page.data]
    return page, page


SHAPES = {
    "chat": _chat,
    "chat-stream": _chat_stream,
    "chat-stream-helper": _chat_stream_helper,
    "completions": _completion,
    "embeddings": _embedding,
    "responses": _responses,
    "responses-stream": _responses_stream,
    "parse": _parse,
    "with_raw_response": _raw,
    "with_streaming_response": _streaming_response,
    "models-list": _models,
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_call_shape_carries_headers_and_id(driver: Driver, backend: Any, shape: str) -> None:
    """Each call shape sends the session/property/user/auth headers and exposes the Helicone id."""
    echo = backend
    client = wrapped(driver, echo)
    with session("Course Plan", path="/abstract") as s, properties(Environment="prod"), user("u-1"):
        result, id_source = await SHAPES[shape](driver, client)
    hid = id_source if isinstance(id_source, str) else id_source.helicone_id
    assert request_id(result) == hid
    seen = echo.by_id(hid)
    assert seen.headers["helicone-session-id"] == s.id
    assert seen.headers["helicone-session-path"] == "/abstract"
    assert seen.headers["helicone-session-name"] == "Course Plan"
    assert seen.headers["helicone-property-environment"] == "prod"
    assert seen.headers["helicone-user-id"] == "u-1"
    if echo.records_auth:
        assert seen.headers["helicone-auth"] == f"Bearer {KEY}"
    assert seen.headers["helicone-request-id"] == hid


async def test_request_id_is_a_fresh_uuid4_per_call(driver: Driver, backend: Any) -> None:
    """Each call pre-assigns its own uuid4 Helicone-Request-Id, echoed back as helicone-id."""
    echo = backend
    client = wrapped(driver, echo)
    first = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    second = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    assert first.helicone_id != second.helicone_id
    for result in (first, second):
        sent = echo.by_id(result.helicone_id).headers["helicone-request-id"]
        assert sent == result.helicone_id and sent[14] == "4"


async def test_response_header_wins_when_helicone_replaces_the_id(driver: Driver, echo: EchoServer) -> None:
    """When the gateway answers with another helicone-id, that id is the result's id."""
    client = wrapped(driver, echo)
    result = await driver.call(
        client.chat.completions.create, model="m", messages=MESSAGES, extra_headers={"x-test-replace-id": "1"}
    )
    seen = echo.by_id(result.helicone_id)
    assert seen.headers["helicone-request-id"] != result.helicone_id


async def test_explicit_extra_headers_win_over_context(driver: Driver, backend: Any) -> None:
    """Per-call extra_headers override context headers, whatever their case, with no duplicates."""
    echo = backend
    client = wrapped(driver, echo)
    with session("S"), properties(env="ctx"):
        result = await driver.call(
            client.chat.completions.create, model="m", messages=MESSAGES,
            extra_headers={"helicone-property-env": "call", "Helicone-Request-Id": "0d7c5b8e-2f3a-4c1d-9e8f-7a6b5c4d3e2f"},
        )
    seen = echo.by_id(result.helicone_id)
    assert seen.headers["helicone-property-env"] == "call"
    assert result.helicone_id == "0d7c5b8e-2f3a-4c1d-9e8f-7a6b5c4d3e2f"


async def test_client_default_headers_win_over_context(driver: Driver, backend: Any) -> None:
    """A Helicone header in the client's default_headers beats the context's, sent once."""
    client = wrapped(driver, backend).with_options(default_headers={"Helicone-Session-Name": "fixed"})
    with session("S"):
        result = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    seen = backend.by_id(result.helicone_id)
    assert seen.headers["helicone-session-name"] == "fixed"
    assert "," not in seen.headers["helicone-session-id"]


async def test_result_types_are_unchanged(driver: Driver, backend: Any) -> None:
    """isinstance, model_dump(_json), repr, equality, pickling and deepcopy match an unwrapped call."""
    echo = backend
    plain = driver.client(echo.url + "/v1")
    client = wrapped(driver, echo)
    raw = await driver.call(plain.chat.completions.create, model="m", messages=MESSAGES)
    ours = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    assert type(ours) is type(raw)
    # The gateway's offline model mints a fresh completion id per request; align that one field.
    raw = raw.model_copy(update={"id": ours.id, "created": ours.created})
    assert ours.model_dump() == raw.model_dump()
    assert ours.model_dump_json() == raw.model_dump_json()
    assert repr(ours) == repr(raw)
    assert ours == raw
    clone = pickle.loads(pickle.dumps(ours))
    assert clone == ours and clone.helicone_id == ours.helicone_id
    deep = copy.deepcopy(ours)
    assert deep == ours and deep.helicone_id == ours.helicone_id
    assert not hasattr(raw, "helicone_id")


async def test_wrap_is_idempotent_and_unwrap_restores_exactly(driver: Driver, backend: Any) -> None:
    """Wrapping twice is one wrap; unwrap restores every attribute and stops the headers."""
    echo = backend
    client = driver.client(echo.url + "/v1")
    await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)  # fills cached properties
    before = dict(vars(client))
    assert wrap(client, api_key=KEY, base_url=echo.url) is client
    assert wrap(client, api_key=KEY, base_url=echo.url) is client
    with session("S"):
        await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    assert echo.last().headers["helicone-session-name"] == "S"
    assert unwrap(client) is client
    assert vars(client).keys() == before.keys()
    assert all(vars(client)[k] is before[k] or vars(client)[k] == before[k] for k in before)
    with session("S"):
        result = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    assert not any(k.startswith(CONTEXT_HEADERS) for k in echo.last().headers)
    assert not hasattr(result, "helicone_id")


async def test_copies_stay_wrapped_and_other_clients_untouched(driver: Driver, backend: Any) -> None:
    """copy()/with_options() clients stay wrapped; a separate client sends no Helicone header."""
    echo = backend
    client = wrapped(driver, echo)
    other = driver.client(echo.url + "/v1")
    with session("S"):
        for derived in (client.copy(timeout=5), client.with_options(max_retries=1), client.with_options(timeout=3).copy()):
            result = await driver.call(derived.chat.completions.create, model="m", messages=MESSAGES)
            assert echo.by_id(result.helicone_id).headers["helicone-session-name"] == "S"
        await driver.call(other.chat.completions.create, model="m", messages=MESSAGES)
    assert not any(k.startswith(CONTEXT_HEADERS) for k in echo.last().headers)
    # No openai class was patched: a fresh class attribute lookup gives openai's own function.
    for cls in (openai.OpenAI, openai.AsyncOpenAI):
        for name in ("_prepare_options", "_build_request", "_process_response", "copy"):
            function = getattr(cls, name)
            assert function.__module__.startswith("openai.") and not hasattr(function, "__wrapped__")


async def test_upstream_errors_reach_the_user_unchanged(driver: Driver, backend: Any) -> None:
    """400/401/404/429/500 raise the same openai exception types as an unwrapped client."""
    echo = backend
    expected = {400: openai.BadRequestError, 401: openai.AuthenticationError, 404: openai.NotFoundError,
                429: openai.RateLimitError, 500: openai.InternalServerError}
    client = wrapped(driver, echo)
    plain = driver.client(echo.url + "/v1")
    for status, error_type in expected.items():
        seen = []
        for c in (client, plain):
            with pytest.raises(error_type) as info:
                await driver.call(c.chat.completions.create, model=f"error-{status}", messages=MESSAGES)
            assert type(info.value) is error_type and info.value.status_code == status
            assert "simulated" in info.value.message
            seen.append((info.value.message, info.value.body))
        assert seen[0] == seen[1]


async def test_user_exception_inside_session_propagates_and_restores(driver: Driver, echo: EchoServer) -> None:
    """A user's exception inside a block propagates unchanged and the context is restored."""
    with pytest.raises(KeyError), session("S"):
        raise KeyError("mine")
    assert helicone_wrap.current().session_id is None


async def test_internal_fault_is_logged_once_and_call_succeeds(
    driver: Driver, backend: Any, internal_errors: InternalErrors, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug inside our hooks is swallowed (logged once per kind) and the user's call still works."""
    echo = backend
    internal_errors.expected = True
    from helicone_wrap import _seams

    def broken() -> tuple[bytes, bytes, bytes]:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(_seams, "_TAKE_POOLED", broken)  # where a call takes its request id
    client = wrapped(driver, echo)
    with caplog.at_level(logging.WARNING, logger="helicone_wrap"):
        for _ in range(3):
            result = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
            assert result.choices[0].message.content
    assert [kind for kind, _ in internal_errors] == ["build-request"] * 3
    assert len([r for r in caplog.records if "injected fault" in r.getMessage()]) == 1


async def test_key_only_goes_to_the_gateway(driver: Driver, echo: EchoServer) -> None:
    """If the client is pointed elsewhere behind our back, the Helicone key is not sent there."""
    other = EchoServer().start()
    try:
        client = wrapped(driver, echo)
        client.base_url = other.url + "/v1"
        await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
        assert "helicone-auth" not in other.last().headers
    finally:
        other.stop()


async def test_key_never_in_logs_or_reprs(
    driver: Driver, backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """openai's and httpx's DEBUG logs, reprs and errors never contain the Helicone key."""
    echo = backend
    client = wrapped(driver, echo)
    with caplog.at_level(logging.DEBUG):
        await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
        with pytest.raises(openai.APIStatusError) as info:
            await driver.call(client.chat.completions.create, model="error-401", messages=MESSAGES)
    text = caplog.text + repr(client) + repr(vars(client)) + str(info.value) + repr(info.value)
    assert "Request options" in caplog.text or "Sending HTTP Request" in caplog.text  # DEBUG was really on
    assert KEY not in text


async def test_non_ascii_values_are_encoded_and_the_call_succeeds(driver: Driver, backend: Any) -> None:
    """Non-ASCII property/session values go out percent-encoded (utf-8'') instead of crashing httpx."""
    echo = backend
    client = wrapped(driver, echo)
    with session("Café ☕", path="/résumé"), properties(city="Zürich"):
        result = await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    headers = echo.by_id(result.helicone_id).headers
    assert headers["helicone-property-city"] == "utf-8''Z%C3%BCrich"
    assert helicone_wrap.decode_value(headers["helicone-session-name"]) == "Café ☕"
    assert helicone_wrap.decode_value(headers["helicone-session-path"]) == "/résumé"


@pytest.mark.parametrize("bad", ["a\r\nX-Evil: 1", "line\nbreak", "nul\x00", "tab\there", "del\x7f"])
async def test_control_characters_are_rejected_before_sending(driver: Driver, echo: EchoServer, bad: str) -> None:
    """CR/LF/other control characters in any value raise HeliconeValidationError; nothing is sent."""
    client = wrapped(driver, echo)
    count = len(echo.seen)
    for block in (lambda: properties(k=bad), lambda: session(bad), lambda: session("ok", path=bad),
                  lambda: user(bad), lambda: session(id=bad)):
        with pytest.raises(helicone_wrap.HeliconeValidationError):
            with block():
                await driver.call(client.chat.completions.create, model="m", messages=MESSAGES)
    assert len(echo.seen) == count


@pytest.mark.parametrize("bad_key", ["has space", "colon:", "", "ümlaut", "a/b", "x\r\n"])
def test_property_keys_must_be_tokens(bad_key: str) -> None:
    """A property key that is not an RFC 7230 token is rejected with a clear message."""
    with pytest.raises(helicone_wrap.HeliconeValidationError, match="header token"):
        properties({bad_key: "v"})


@pytest.mark.parametrize("note", ["plain", "café"])
async def test_header_encoding_is_what_httpx_works_out(driver: Driver, echo: EchoServer, note: str) -> None:
    """A wrapped request's header text encoding is the one httpx finds for the user's own headers.

    httpx reads header values as ASCII, else UTF-8: a UTF-8 value set on the HTTP client (as
    bytes) still reads back as sent, next to our headers, whichever way we work out the encoding.
    """
    seen: list[tuple[str, str | None, bool]] = []

    def record(request: Any) -> None:
        seen.append((request.headers.encoding, request.headers.get("x-note"), "helicone-request-id" in request.headers))

    async def arecord(request: Any) -> None:
        record(request)

    cls = openai.DefaultAsyncHttpxClient if driver.is_async else openai.DefaultHttpxClient
    http_client = cls(headers={"X-Note": note.encode()}, event_hooks={"request": [arecord if driver.is_async else record]})
    client = wrap(driver.client(echo.url + "/v1", http_client=http_client), api_key=KEY, base_url=echo.url)
    await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    assert seen == [("ascii" if note.isascii() else "utf-8", note, True)]
    assert echo.last().headers["helicone-request-id"]
