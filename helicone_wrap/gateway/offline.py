"""A deterministic offline model that answers the OpenAI API without a network.

It answers chat completions, completions, embeddings, responses and models, with and
without streaming, in shapes that the real ``openai`` SDK types parse. The same request
always gets the same text and token counts, so tests can assert on them.

Token counts are estimates (about four characters a token), plausible rather than exact.
A request whose ``model`` is ``error-<status>`` (``error-400``, ``error-401``, ``error-404``,
``error-429``, ``error-500``, ...) gets that status with an OpenAI-shaped error body, which
lets tests exercise error paths end to end.

When a request asks for structured output (``response_format`` / ``text.format`` of type
``json_schema``), the reply is a minimal JSON instance of the schema, so
``client.chat.completions.parse(response_format=SomeModel)`` works offline.
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
import random
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MODELS",
    "OfflineError",
    "Usage",
    "chat_completion",
    "chat_completion_chunks",
    "completion",
    "completion_chunks",
    "cost_usd",
    "count_tokens",
    "embeddings",
    "error_for_model",
    "minimal_instance",
    "model_object",
    "model_list",
    "response",
    "response_events",
    "sse_events",
    "sse_lines",
]

JSON = dict[str, Any]

#: Models the offline ``GET /v1/models`` lists.
MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
)

#: USD per million (prompt, completion) tokens; longest matching prefix wins.
_PRICES: tuple[tuple[str, float, float], ...] = (
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5", 1.25, 10.00),
    ("o4-mini", 1.10, 4.40),
    ("gpt-3.5-turbo-instruct", 1.50, 2.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("text-embedding-ada-002", 0.10, 0.0),
)

_EMBEDDING_DIMENSIONS: dict[str, int] = {"text-embedding-3-large": 3072}
_DEFAULT_EMBEDDING_DIMENSIONS = 1536
_MODEL_CREATED = 1_700_000_000
_ERROR_MODEL = re.compile(r"^error-([1-5][0-9]{2})$")


@dataclass(frozen=True)
class Usage:
    """Token usage of one answer.

    Usage: ``Usage(prompt_tokens=3, completion_tokens=5).total_tokens == 8``
    """

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class OfflineError(Exception):
    """An OpenAI-shaped error answer: ``status``, ``body`` and extra ``headers``.

    Usage: ``raise OfflineError(400, "you must provide a model parameter", param="model")``
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "error": {
                "message": message,
                "type": type or _error_type(status),
                "param": param,
                "code": code,
            }
        }
        self.headers: dict[str, str] = {"retry-after": "0"} if status == 429 else {}


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    if status == 401:
        return "authentication_error"
    return "invalid_request_error"


def error_for_model(model: object) -> OfflineError | None:
    """The error a test model name asks for (``"error-429"`` -> 429), else None.

    Usage: ``error_for_model("error-500").status == 500``
    """
    if not isinstance(model, str):
        return None
    match = _ERROR_MODEL.match(model)
    if match is None:
        return None
    status = int(match.group(1))
    codes = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    return OfflineError(
        status,
        f"Offline model: simulated HTTP {status} error requested by model {model!r}.",
        code=codes.get(status),
    )


def cost_usd(model: str | None, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost in USD from a small fixed price table; 0.0 for unknown models.

    Usage: ``cost_usd("gpt-4o-mini", 1_000_000, 0) == 0.15``
    """
    if not model:
        return 0.0
    best: tuple[str, float, float] | None = None
    for entry in _PRICES:
        if model.startswith(entry[0]) and (best is None or len(entry[0]) > len(best[0])):
            best = entry
    if best is None:
        return 0.0
    return (prompt_tokens * best[1] + completion_tokens * best[2]) / 1_000_000


# --------------------------------------------------------------------------- text


def count_tokens(text: str) -> int:
    """A rough token count: about four characters a token, at least one for any text.

    Usage: ``count_tokens("hello world") == 3``
    """
    return (len(text) + 3) // 4 if text else 0


def _text_of(content: object) -> str:
    """Text of a message ``content``: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(part) for part in content)
    if isinstance(content, Mapping):
        text = content.get("text")
        if isinstance(text, str):
            return text
        return _text_of(content.get("content"))
    return ""


def _reply_text(prompt: str, limit: int | None) -> tuple[str, bool]:
    """The deterministic reply to ``prompt``; True when cut by a token ``limit``."""
    snippet = " ".join(prompt.split())
    if len(snippet) > 80:
        snippet = snippet[:77] + "..."
    text = f"This is the helicone-wrap offline model. You said: {snippet or '(nothing)'}"
    if limit is not None and limit >= 0 and count_tokens(text) > limit:
        return text[: max(limit, 1) * 4].rstrip(), True
    return text, False


def _max_tokens(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _split_words(text: str) -> list[str]:
    """Stream pieces: each word with its leading space, so they join back to ``text``."""
    pieces = re.findall(r"\s*\S+", text)
    return pieces or [text]


def _stable_id(prefix: str, seed: str) -> str:
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OfflineError(400, "you must provide a model parameter", param="model")
    error = error_for_model(model)
    if error is not None:
        raise error
    return model


# ------------------------------------------------------------------ json schemas


def minimal_instance(schema: object, root: object = None, depth: int = 0) -> object:
    """A minimal value that validates against a JSON schema.

    Strings become ``"…"`` (or a valid value for a known ``format``), numbers 0,
    booleans false, arrays empty (or ``minItems`` minimal items) and objects get every
    property, recursively; ``$ref``, ``anyOf``/``oneOf``/``allOf``, ``enum`` and ``const``
    are followed. Meant for the offline model's structured outputs, not as a validator.

    Usage: ``minimal_instance({"type": "object", "properties": {"n": {"type": "integer"}}}) == {"n": 0}``
    """
    if root is None:
        root = schema
    if depth > 40 or not isinstance(schema, Mapping):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return minimal_instance(_resolve_ref(root, ref), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        variants = schema.get(key)
        if isinstance(variants, list) and variants:
            non_null = [v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")]
            return minimal_instance((non_null or variants)[0], root, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            resolved = (
                _resolve_ref(root, part["$ref"]) if isinstance(part, Mapping) and "$ref" in part else part
            )
            if isinstance(resolved, Mapping):
                merged.update(resolved)
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {str(name): minimal_instance(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = schema.get("minItems")
        if isinstance(count, int) and count > 0:
            return [minimal_instance(schema.get("items"), root, depth + 1) for _ in range(count)]
        return []
    if kind == "string":
        return _minimal_string(schema)
    if kind in ("integer", "number"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = 0
        if isinstance(minimum, (int, float)) and not isinstance(minimum, bool) and minimum > 0:
            value = int(minimum) + 1
        return value
    if kind == "boolean":
        return False
    return None


def _resolve_ref(root: object, ref: str) -> object:
    if not ref.startswith("#"):
        return {}
    node: object = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        if not isinstance(node, Mapping):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
    return node


_FORMAT_EXAMPLES: dict[str, str] = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "P1D",
}


def _minimal_string(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_EXAMPLES:
        return _FORMAT_EXAMPLES[fmt]
    value = "…"
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and min_length > len(value):
        value = value * min_length
    return value


def _structured_text(fmt: object) -> str | None:
    """JSON text for a ``json_schema``/``json_object`` format spec, else None."""
    if not isinstance(fmt, Mapping):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return json.dumps({"reply": "This is the helicone-wrap offline model."})
    if kind != "json_schema":
        return None
    # chat: {"type": "json_schema", "json_schema": {"schema": ...}}; responses: {"schema": ...}
    holder = fmt.get("json_schema", fmt)
    schema = holder.get("schema") if isinstance(holder, Mapping) else None
    return json.dumps(minimal_instance(schema if schema is not None else {"type": "object"}))


# ------------------------------------------------------------ chat completions


def _chat_prompt(body: Mapping[str, Any]) -> tuple[str, int]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OfflineError(400, "'messages' must be a non-empty array", param="messages")
    last_user = ""
    tokens = 3
    for message in messages:
        if not isinstance(message, Mapping):
            raise OfflineError(400, "each message must be an object", param="messages")
        text = _text_of(message.get("content"))
        tokens += 4 + count_tokens(text)
        if message.get("role") == "user":
            last_user = text
    return last_user, tokens


def _chat_answer(body: Mapping[str, Any]) -> tuple[str, str, Usage, str]:
    model = _require_model(body)
    prompt, prompt_tokens = _chat_prompt(body)
    structured = _structured_text(body.get("response_format"))
    if structured is not None:
        text, cut = structured, False
    else:
        text, cut = _reply_text(prompt, _max_tokens(body, "max_completion_tokens", "max_tokens"))
    usage = Usage(prompt_tokens, count_tokens(text))
    return model, text, usage, "length" if cut else "stop"


def _chat_usage(usage: Usage) -> JSON:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(body: Mapping[str, Any], request_id: str) -> tuple[JSON, Usage]:
    """A ``chat.completion`` object answering ``body``, and its usage.

    Usage: ``obj, usage = chat_completion({"model": "gpt-4o-mini", "messages": [...]}, rid)``
    """
    model, text, usage, finish = _chat_answer(body)
    obj: JSON = {
        "id": _stable_id("chatcmpl-", request_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": _chat_usage(usage),
        "service_tier": "default",
        "system_fingerprint": "fp_offline",
    }
    return obj, usage


def chat_completion_chunks(body: Mapping[str, Any], request_id: str) -> tuple[list[JSON], Usage]:
    """The ``chat.completion.chunk`` objects of a streamed answer, and its usage.

    A final chunk with ``choices: []`` and ``usage`` is included when
    ``stream_options.include_usage`` is true, as OpenAI does.

    Usage: ``chunks, usage = chat_completion_chunks(body, rid)``
    """
    model, text, usage, finish = _chat_answer(body)
    include_usage = _include_usage(body)
    base: JSON = {
        "id": _stable_id("chatcmpl-", request_id),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_offline",
    }

    def chunk(delta: JSON, finish_reason: str | None) -> JSON:
        out = dict(base)
        out["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if include_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    chunks.extend(chunk({"content": piece}, None) for piece in _split_words(text))
    chunks.append(chunk({}, finish))
    if include_usage:
        last = dict(base)
        last["choices"] = []
        last["usage"] = _chat_usage(usage)
        chunks.append(last)
    return chunks, usage


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


# ------------------------------------------------------------------ completions


def _completion_answer(body: Mapping[str, Any]) -> tuple[str, str, Usage, str]:
    model = _require_model(body)
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt_text = " ".join(p if isinstance(p, str) else " ".join(map(str, p)) for p in prompt)
    elif isinstance(prompt, str):
        prompt_text = prompt
    else:
        raise OfflineError(400, "'prompt' must be a string or an array", param="prompt")
    text, cut = _reply_text(prompt_text, _max_tokens(body, "max_tokens"))
    return model, text, Usage(count_tokens(prompt_text), count_tokens(text)), "length" if cut else "stop"


def _completion_usage(usage: Usage) -> JSON:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion(body: Mapping[str, Any], request_id: str) -> tuple[JSON, Usage]:
    """A legacy ``text_completion`` object answering ``body``, and its usage.

    Usage: ``obj, usage = completion({"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}, rid)``
    """
    model, text, usage, finish = _completion_answer(body)
    obj: JSON = {
        "id": _stable_id("cmpl-", request_id),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
        "usage": _completion_usage(usage),
        "system_fingerprint": "fp_offline",
    }
    return obj, usage


def completion_chunks(body: Mapping[str, Any], request_id: str) -> tuple[list[JSON], Usage]:
    """The ``text_completion`` chunks of a streamed completion, and its usage.

    Usage: ``chunks, usage = completion_chunks({"model": "m", "prompt": "hi", "stream": True}, rid)``
    """
    model, text, usage, finish = _completion_answer(body)
    base: JSON = {
        "id": _stable_id("cmpl-", request_id),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_offline",
    }
    chunks: list[JSON] = []
    pieces = _split_words(text)
    for i, piece in enumerate(pieces):
        out = dict(base)
        last = i == len(pieces) - 1
        out["choices"] = [
            {"text": piece, "index": 0, "logprobs": None, "finish_reason": finish if last else None}
        ]
        chunks.append(out)
    if _include_usage(body):
        tail = dict(base)
        tail["choices"] = []
        tail["usage"] = _completion_usage(usage)
        chunks.append(tail)
    return chunks, usage


# ------------------------------------------------------------------- embeddings


def _embedding_vector(text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    values = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def embeddings(body: Mapping[str, Any]) -> tuple[JSON, Usage]:
    """A ``list`` of embeddings for ``body["input"]``, honouring ``encoding_format``.

    Vectors are unit-length and seeded by the input text, so equal inputs embed equally.
    ``encoding_format="base64"`` (what the openai SDK sends by default) yields
    little-endian float32 bytes, as OpenAI does.

    Usage: ``obj, usage = embeddings({"model": "text-embedding-3-small", "input": "hi"})``
    """
    model = _require_model(body)
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [" ".join(map(str, raw))]
    elif isinstance(raw, list) and raw:
        inputs = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    else:
        raise OfflineError(400, "'input' must be a string or a non-empty array", param="input")
    dimensions = body.get("dimensions")
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 4096:
        dimensions = _EMBEDDING_DIMENSIONS.get(model, _DEFAULT_EMBEDDING_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data: list[JSON] = []
    for index, text in enumerate(inputs):
        vector = _embedding_vector(text, dimensions)
        encoded: object = (
            base64.b64encode(array.array("f", vector).tobytes()).decode("ascii") if as_base64 else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    prompt_tokens = sum(count_tokens(t) for t in inputs)
    usage = Usage(prompt_tokens, 0)
    obj: JSON = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return obj, usage


# -------------------------------------------------------------------- responses


def _responses_prompt(body: Mapping[str, Any]) -> tuple[str, int]:
    raw = body.get("input")
    instructions = body.get("instructions")
    tokens = count_tokens(instructions) if isinstance(instructions, str) else 0
    if isinstance(raw, str):
        return raw, tokens + count_tokens(raw) + 4
    if isinstance(raw, list):
        last_user = ""
        for item in raw:
            text = _text_of(item.get("content") if isinstance(item, Mapping) else item)
            tokens += 4 + count_tokens(text)
            if not isinstance(item, Mapping) or item.get("role", "user") == "user":
                last_user = text
        return last_user, tokens
    raise OfflineError(400, "'input' must be a string or an array", param="input")


def _response_parts(body: Mapping[str, Any], request_id: str) -> tuple[JSON, str, Usage, bool]:
    model = _require_model(body)
    prompt, prompt_tokens = _responses_prompt(body)
    text_options = body.get("text")
    fmt = text_options.get("format") if isinstance(text_options, Mapping) else None
    structured = _structured_text(fmt)
    if structured is not None:
        text, cut = structured, False
    else:
        text, cut = _reply_text(prompt, _max_tokens(body, "max_output_tokens"))
    usage = Usage(prompt_tokens, count_tokens(text))
    shell: JSON = {
        "id": _stable_id("resp_", request_id),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions") if isinstance(body.get("instructions"), str) else None,
        "max_output_tokens": _max_tokens(body, "max_output_tokens"),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": dict(fmt) if isinstance(fmt, Mapping) else {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": body.get("user") if isinstance(body.get("user"), str) else None,
    }
    return shell, text, usage, cut


def _response_message(request_id: str, text: str, status: str) -> JSON:
    return {
        "id": _stable_id("msg_", request_id),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": (
            [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
            if status == "completed"
            else []
        ),
    }


def _response_usage(usage: Usage) -> JSON:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _finished(shell: JSON, request_id: str, text: str, usage: Usage, cut: bool) -> JSON:
    done = dict(shell)
    done["status"] = "incomplete" if cut else "completed"
    if cut:
        done["incomplete_details"] = {"reason": "max_output_tokens"}
    done["output"] = [_response_message(request_id, text, "completed")]
    done["usage"] = _response_usage(usage)
    return done


def response(body: Mapping[str, Any], request_id: str) -> tuple[JSON, Usage]:
    """A Responses API ``response`` object answering ``body``, and its usage.

    Usage: ``obj, usage = response({"model": "gpt-4o-mini", "input": "hi"}, rid)``
    """
    shell, text, usage, cut = _response_parts(body, request_id)
    return _finished(shell, request_id, text, usage, cut), usage


def response_events(body: Mapping[str, Any], request_id: str) -> tuple[list[tuple[str, JSON]], Usage]:
    """The (event name, data) pairs of a streamed Responses API answer, and its usage.

    The sequence is the one OpenAI sends for a text answer: ``response.created``,
    ``response.in_progress``, ``response.output_item.added``,
    ``response.content_part.added``, ``response.output_text.delta``...,
    ``response.output_text.done``, ``response.content_part.done``,
    ``response.output_item.done`` and ``response.completed`` (with usage).

    Usage: ``events, usage = response_events({"model": "m", "input": "hi", "stream": True}, rid)``
    """
    shell, text, usage, cut = _response_parts(body, request_id)
    item_id = _stable_id("msg_", request_id)
    events: list[tuple[str, JSON]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    emit("response.created", response=shell)
    emit("response.in_progress", response=shell)
    emit("response.output_item.added", output_index=0, item=_response_message(request_id, "", "in_progress"))
    empty_part: JSON = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    emit("response.content_part.added", item_id=item_id, output_index=0, content_index=0, part=empty_part)
    for piece in _split_words(text):
        emit(
            "response.output_text.delta",
            item_id=item_id,
            output_index=0,
            content_index=0,
            delta=piece,
            logprobs=[],
        )
    emit(
        "response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=text, logprobs=[]
    )
    full_part: JSON = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    emit("response.content_part.done", item_id=item_id, output_index=0, content_index=0, part=full_part)
    emit("response.output_item.done", output_index=0, item=_response_message(request_id, text, "completed"))
    final = _finished(shell, request_id, text, usage, cut)
    emit("response.incomplete" if cut else "response.completed", response=final)
    return events, usage


# ----------------------------------------------------------------------- models


def model_object(model_id: str) -> JSON:
    """One ``model`` object; raises a 404 :class:`OfflineError` for unknown ids.

    Usage: ``model_object("gpt-4o-mini")["owned_by"] == "openai"``
    """
    error = error_for_model(model_id)
    if error is not None:
        raise error
    if model_id not in MODELS:
        raise OfflineError(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
    return {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": "openai"}


def model_list() -> JSON:
    """The ``list`` object of ``GET /v1/models``.

    Usage: ``[m["id"] for m in model_list()["data"]]``
    """
    return {"object": "list", "data": [model_object(m) for m in MODELS]}


def sse_lines(chunks: list[JSON]) -> Iterator[bytes]:
    """Encode chat/completion chunks as ``data:`` SSE events ending with ``[DONE]``.

    Usage: ``b"".join(sse_lines(chunks))``
    """
    for chunk in chunks:
        yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def sse_events(events: list[tuple[str, JSON]]) -> Iterator[bytes]:
    """Encode Responses API events as named SSE events (``event:`` + ``data:``).

    Usage: ``b"".join(sse_events(events))``
    """
    for name, data in events:
        yield (
            b"event: "
            + name.encode()
            + b"\ndata: "
            + json.dumps(data, separators=(",", ":")).encode()
            + b"\n\n"
        )
