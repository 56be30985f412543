"""``POST /v1/responses`` (the Responses API) answered offline, whole or as events."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .common import JSON, OfflineError, Usage, count_tokens, require_model
from .schema import structured_text
from .text import max_tokens, reply_text, split_words, stable_id, text_of

__all__ = ["response", "response_events"]


def _responses_prompt(body: Mapping[str, Any]) -> tuple[str, int]:
    raw = body.get("input")
    instructions = body.get("instructions")
    tokens = count_tokens(instructions) if isinstance(instructions, str) else 0
    if isinstance(raw, str):
        return raw, tokens + count_tokens(raw) + 4
    if isinstance(raw, list):
        last_user = ""
        for item in raw:
            text = text_of(item.get("content") if isinstance(item, Mapping) else item)
            tokens += 4 + count_tokens(text)
            if not isinstance(item, Mapping) or item.get("role", "user") == "user":
                last_user = text
        return last_user, tokens
    raise OfflineError(400, "'input' must be a string or an array", param="input")


def _response_parts(body: Mapping[str, Any], request_id: str) -> tuple[JSON, str, Usage, bool]:
    model = require_model(body)
    prompt, prompt_tokens = _responses_prompt(body)
    text_options = body.get("text")
    fmt = text_options.get("format") if isinstance(text_options, Mapping) else None
    structured = structured_text(fmt)
    if structured is not None:
        text, cut = structured, False
    else:
        text, cut = reply_text(prompt, max_tokens(body, "max_output_tokens"))
    usage = Usage(prompt_tokens, count_tokens(text))
    shell: JSON = {
        "id": stable_id("resp_", request_id),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions") if isinstance(body.get("instructions"), str) else None,
        "max_output_tokens": max_tokens(body, "max_output_tokens"),
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
        "id": stable_id("msg_", request_id),
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
    item_id = stable_id("msg_", request_id)
    events: list[tuple[str, JSON]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    emit("response.created", response=shell)
    emit("response.in_progress", response=shell)
    emit("response.output_item.added", output_index=0, item=_response_message(request_id, "", "in_progress"))
    empty_part: JSON = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    emit("response.content_part.added", item_id=item_id, output_index=0, content_index=0, part=empty_part)
    for piece in split_words(text):
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
