"""``POST /v1/completions`` (legacy text completions) answered offline."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .common import JSON, OfflineError, Usage, count_tokens, require_model
from .text import include_usage, max_tokens, reply_text, split_words, stable_id

__all__ = ["completion", "completion_chunks"]


def _completion_answer(body: Mapping[str, Any]) -> tuple[str, str, Usage, str]:
    model = require_model(body)
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt_text = " ".join(p if isinstance(p, str) else " ".join(map(str, p)) for p in prompt)
    elif isinstance(prompt, str):
        prompt_text = prompt
    else:
        raise OfflineError(400, "'prompt' must be a string or an array", param="prompt")
    text, cut = reply_text(prompt_text, max_tokens(body, "max_tokens"))
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
        "id": stable_id("cmpl-", request_id),
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
        "id": stable_id("cmpl-", request_id),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_offline",
    }
    chunks: list[JSON] = []
    pieces = split_words(text)
    for i, piece in enumerate(pieces):
        out = dict(base)
        last = i == len(pieces) - 1
        out["choices"] = [
            {"text": piece, "index": 0, "logprobs": None, "finish_reason": finish if last else None}
        ]
        chunks.append(out)
    if include_usage(body):
        tail = dict(base)
        tail["choices"] = []
        tail["usage"] = _completion_usage(usage)
        chunks.append(tail)
    return chunks, usage
