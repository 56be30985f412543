"""Prompt text and reply text of the offline model: what was said, what it answers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .common import count_tokens

__all__ = ["include_usage", "max_tokens", "reply_text", "split_words", "stable_id", "text_of"]


def text_of(content: object) -> str:
    """Text of a message ``content``: a string, or a list of parts with ``text``.

    Usage: ``text_of([{"type": "text", "text": "hi"}]) == "hi"``
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text_of(part) for part in content)
    if isinstance(content, Mapping):
        text = content.get("text")
        if isinstance(text, str):
            return text
        return text_of(content.get("content"))
    return ""


def reply_text(prompt: str, limit: int | None) -> tuple[str, bool]:
    """The deterministic reply to ``prompt``; True when cut by a token ``limit``.

    Usage: ``text, cut = reply_text("hello", limit=None)``
    """
    snippet = " ".join(prompt.split())
    if len(snippet) > 80:
        snippet = snippet[:77] + "..."
    text = f"This is the helicone-wrap offline model. You said: {snippet or '(nothing)'}"
    if limit is not None and limit >= 0 and count_tokens(text) > limit:
        return text[: max(limit, 1) * 4].rstrip(), True
    return text, False


def max_tokens(body: Mapping[str, Any], *names: str) -> int | None:
    """The first integer token limit among ``names`` in ``body``, else None.

    Usage: ``max_tokens(body, "max_completion_tokens", "max_tokens")``
    """
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def split_words(text: str) -> list[str]:
    """Stream pieces: each word with its leading space, so they join back to ``text``.

    Usage: ``split_words("a b") == ["a", " b"]``
    """
    pieces = re.findall(r"\s*\S+", text)
    return pieces or [text]


def stable_id(prefix: str, seed: str) -> str:
    """An object id derived from ``seed``: the same seed always gives the same id.

    Usage: ``stable_id("chatcmpl-", request_id)``
    """
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:24]


def include_usage(body: Mapping[str, Any]) -> bool:
    """Whether a streamed answer ends with a usage chunk (``stream_options.include_usage``).

    Usage: ``include_usage({"stream_options": {"include_usage": True}}) is True``
    """
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True
