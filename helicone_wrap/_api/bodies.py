"""What a logged request asked and what it was answered, read from its stored bodies.

Pure functions over ``RequestRow.request_body`` / ``response_body`` as the REST API returns them
(parsed JSON, or the raw text of a streamed answer). They know the chat completions, completions
and Responses API shapes; anything else gives None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["answer_of", "prompt_of"]


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(part) for part in content)
    if isinstance(content, Mapping):
        for key in ("text", "content"):
            if key in content:
                return _text(content[key])
    return ""


def prompt_of(body: Any) -> str | None:
    """The prompt: chat messages as ``role: text`` lines, or the completion/Responses input.

    Usage: ``prompt_of({"messages": [{"role": "user", "content": "hi"}]}) == "user: hi"``
    """
    if not isinstance(body, Mapping):
        return None
    messages = body.get("messages")
    if isinstance(messages, list):
        return "\n".join(f"{m.get('role', '?')}: {_text(m.get('content'))}" for m in messages if isinstance(m, Mapping))
    for key in ("prompt", "input"):
        value = body.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return "\n".join(_text(item) for item in value)
    return None


def _answer_of_object(obj: Mapping[str, Any]) -> str | None:
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        choice = choices[0]
        if isinstance(choice.get("message"), Mapping):
            return _text(choice["message"].get("content"))
        if isinstance(choice.get("text"), str):
            return str(choice["text"])
    output = obj.get("output")
    if isinstance(output, list):
        return "".join(_text(item) for item in output if isinstance(item, Mapping) and item.get("type") == "message")
    return None


def _answer_of_stream(text: str) -> str | None:
    pieces: list[str] = []
    seen = False
    for line in text.splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        try:
            event = json.loads(line[5:])
        except ValueError:
            continue
        if not isinstance(event, Mapping):
            continue
        if event.get("type") == "response.output_text.delta" and isinstance(event.get("delta"), str):
            seen = True
            pieces.append(event["delta"])
        for choice in event.get("choices") or []:
            if isinstance(choice, Mapping):
                seen = True
                delta = choice.get("delta")
                pieces.append(_text(delta.get("content")) if isinstance(delta, Mapping) else _text(choice.get("text")))
    return "".join(pieces) if seen else None


def answer_of(body: Any) -> str | None:
    """The answer's text: the first choice, the Responses output, or a streamed answer reassembled.

    Usage: ``answer_of(row.response_body)``
    """
    if isinstance(body, Mapping):
        return _answer_of_object(body)
    if isinstance(body, str):
        return _answer_of_stream(body)
    return None
