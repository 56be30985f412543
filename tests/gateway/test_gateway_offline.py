"""The deterministic offline model (pure): answers, schemas, errors and prices."""

from __future__ import annotations

import array
import base64
import json
from typing import Any

import pytest
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from helicone_wrap.gateway import offline

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}

SCHEMAS: list[tuple[str, dict[str, Any], Any]] = [
    ("string", {"type": "string"}, "…"),
    ("integer", {"type": "integer"}, 0),
    ("number with positive minimum", {"type": "number", "minimum": 3}, 4),
    ("boolean", {"type": "boolean"}, False),
    ("array", {"type": "array", "items": {"type": "string"}}, []),
    ("array with minItems", {"type": "array", "items": {"type": "integer"}, "minItems": 2}, [0, 0]),
    ("enum takes the first", {"enum": ["b", "a"]}, "b"),
    ("const", {"const": 7}, 7),
    ("nullable picks the non-null type", {"type": ["null", "string"]}, "…"),
    ("anyOf skips null", {"anyOf": [{"type": "null"}, {"type": "integer"}]}, 0),
    ("date-time format", {"type": "string", "format": "date-time"}, "1970-01-01T00:00:00Z"),
    (
        "nested object with $ref",
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/P"}, "ok": {"type": "boolean"}},
            "$defs": {"P": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        },
        {"p": {"n": 0}, "ok": False},
    ),
]


@pytest.mark.parametrize(("case", "schema", "expected"), SCHEMAS, ids=[c[0] for c in SCHEMAS])
def test_minimal_instance(case: str, schema: dict[str, Any], expected: Any) -> None:
    """Structured outputs get the smallest value that fits the JSON schema."""
    assert offline.minimal_instance(schema) == expected


def test_answers_are_deterministic() -> None:
    """The same request gets the same text, id and usage."""
    first, usage1 = offline.chat_completion(CHAT, "rid")
    second, usage2 = offline.chat_completion(CHAT, "rid")
    assert first["choices"] == second["choices"] and first["id"] == second["id"] and usage1 == usage2


def test_stream_joins_to_the_json_answer() -> None:
    """Streamed deltas concatenate to the non-streamed text, with usage last when asked."""
    whole, usage = offline.chat_completion(CHAT, "rid")
    chunks, stream_usage = offline.chat_completion_chunks(
        {**CHAT, "stream_options": {"include_usage": True}}, "rid"
    )
    parsed = [ChatCompletionChunk.model_validate(c) for c in chunks]
    text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert text == whole["choices"][0]["message"]["content"]
    assert parsed[-1].choices == [] and parsed[-1].usage is not None
    assert parsed[-1].usage.total_tokens == usage.total_tokens == stream_usage.total_tokens


def test_max_tokens_cuts_with_finish_reason_length() -> None:
    """A small max_tokens shortens the answer and says finish_reason 'length'."""
    obj, usage = offline.chat_completion({**CHAT, "max_tokens": 2}, "rid")
    assert obj["choices"][0]["finish_reason"] == "length" and usage.completion_tokens <= 2


def test_shapes_parse_with_openai_types() -> None:
    """Every answer validates against the openai SDK's own types."""
    ChatCompletion.model_validate(offline.chat_completion(CHAT, "r")[0])
    Completion.model_validate(offline.completion({"model": "m", "prompt": "hi"}, "r")[0])
    CreateEmbeddingResponse.model_validate(offline.embeddings({"model": "m", "input": ["a"]})[0])
    Response.model_validate(offline.response({"model": "m", "input": "hi"}, "r")[0])
    events, _ = offline.response_events({"model": "m", "input": "hi"}, "r")
    adapter = TypeAdapter(ResponseStreamEvent)
    for _, data in events:
        adapter.validate_python(data)
    assert [name for name, _ in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1][0] == "response.completed" and events[-1][1]["response"]["usage"]["total_tokens"] > 0


def test_base64_embeddings_decode_to_unit_vectors() -> None:
    """encoding_format=base64 carries float32 bytes; equal inputs embed equally."""
    obj, _ = offline.embeddings(
        {"model": "text-embedding-3-small", "input": ["a", "a"], "encoding_format": "base64"}
    )
    vectors = [array.array("f", base64.b64decode(item["embedding"])) for item in obj["data"]]
    assert len(vectors[0]) == 1536 and list(vectors[0]) == list(vectors[1])
    assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-3


def test_json_schema_response_format() -> None:
    """response_format json_schema yields JSON that fits the schema."""
    body = {
        **CHAT,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
            },
        },
    }
    obj, _ = offline.chat_completion(body, "rid")
    assert json.loads(obj["choices"][0]["message"]["content"]) == {"a": 0}


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("error-400", 400, None),
        ("error-401", 401, "invalid_api_key"),
        ("error-404", 404, "model_not_found"),
        ("error-429", 429, "rate_limit_exceeded"),
        ("error-500", 500, None),
    ],
)
def test_error_models(model: str, status: int, code: str | None) -> None:
    """A model named error-<status> asks for that status with an OpenAI-shaped body."""
    with pytest.raises(offline.OfflineError) as caught:
        offline.chat_completion({**CHAT, "model": model}, "rid")
    error = caught.value
    assert error.status == status
    assert (
        set(error.body["error"]) == {"message", "type", "param", "code"}
        and error.body["error"]["code"] == code
    )
    assert error.headers == ({"retry-after": "0"} if status == 429 else {})


def test_missing_model_is_a_400() -> None:
    """A request without a model is refused like OpenAI does."""
    with pytest.raises(offline.OfflineError) as caught:
        offline.chat_completion({"messages": [{"role": "user", "content": "x"}]}, "rid")
    assert caught.value.status == 400 and caught.value.body["error"]["param"] == "model"


@pytest.mark.parametrize(
    ("model", "prompt", "completion", "expected"),
    [
        ("gpt-4o-mini", 1_000_000, 0, 0.15),
        ("gpt-4o-mini-2024-07-18", 0, 1_000_000, 0.60),
        ("gpt-4o", 1_000_000, 0, 2.5),
        ("unknown-model", 1000, 1000, 0.0),
        (None, 1, 1, 0.0),
    ],
)
def test_cost(model: str | None, prompt: int, completion: int, expected: float) -> None:
    """Cost uses the longest matching price prefix, and 0 for unknown models."""
    assert offline.cost_usd(model, prompt, completion) == pytest.approx(expected)
