"""Token usage read back from an answer: a JSON body or the usage-bearing SSE event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import offline

__all__ = ["usage_from_body"]


def _usage_of(obj: Mapping[str, Any]) -> offline.Usage | None:
    usage = obj.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return offline.Usage(prompt, completion)


def usage_from_body(body: bytes) -> tuple[str | None, offline.Usage | None]:
    """(model, usage) from a JSON answer or from the last usage-bearing SSE event.

    Usage: ``model, usage = usage_from_body(b'{"model": "m", "usage": {...}}')``
    """
    text = body.strip()
    if text[:1] == b"{":
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None, None
        if not isinstance(obj, dict):
            return None, None
        model = obj.get("model")
        return (model if isinstance(model, str) else None), _usage_of(obj)
    for event in reversed(body.split(b"\n\n")):
        if b'"usage"' not in event:
            continue
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            try:
                obj = json.loads(line[5:])
            except (ValueError, RecursionError):
                continue
            if not isinstance(obj, dict):
                continue
            if isinstance(obj.get("response"), dict):  # Responses API: response.completed
                obj = obj["response"]
            usage = _usage_of(obj)
            if usage is not None:
                model = obj.get("model")
                return (model if isinstance(model, str) else None), usage
    return None, None
