"""``POST /v1/chat/completions`` answered offline, whole or as chunks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .common import JSON, OfflineError, Usage, count_tokens, require_model
from .schema import structured_text
from .text import include_usage, max_tokens, reply_text, split_words, stable_id, text_of

__all__ = ["chat_completion", "chat_completion_chunks"]


def _chat_prompt(body: Mapping[str, Any]) -> tuple[str, int]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OfflineError(400, "'messages' must be a non-empty array", param="messages")
    last_user = ""
    tokens = 3
    for message in messages:
        if not isinstance(message, Mapping):
            raise OfflineError(400, "each message must be an object", param="messages")
        text = text_of(message.get("content"))
        tokens += 4 + count_tokens(text)
        if message.get("role") == "user":
            last_user = text
    return last_user, tokens


def _chat_answer(body: Mapping[str, Any]) -> tuple[str, str, Usage, str]:
    model = require_model(body)
    prompt, prompt_tokens = _chat_prompt(body)
    structured = structured_text(body.get("response_format"))
    if structured is not None:
        text, cut = structured, False
    else:
        text, cut = reply_text(prompt, max_tokens(body, "max_completion_tokens", "max_tokens"))
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
        "id": stable_id("chatcmpl-", request_id),
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
    with_usage = include_usage(body)
    base: JSON = {
        "id": stable_id("chatcmpl-", request_id),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_offline",
    }

    def chunk(delta: JSON, finish_reason: str | None) -> JSON:
        out = dict(base)
        out["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if with_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    chunks.extend(chunk({"content": piece}, None) for piece in split_words(text))
    chunks.append(chunk({}, finish))
    if with_usage:
        last = dict(base)
        last["choices"] = []
        last["usage"] = _chat_usage(usage)
        chunks.append(last)
    return chunks, usage
