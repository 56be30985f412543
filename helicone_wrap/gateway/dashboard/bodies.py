"""Pure helpers that turn a logged request into what the detail page shows.

Bodies are stored as the text that crossed the wire: JSON, or for streamed answers the
SSE events. :func:`reassemble` joins a stream's text deltas back into one answer (chat
and completion chunks, Responses API ``response.output_text.delta`` events);
:func:`answer_of` finds the answer text of a plain JSON reply. :func:`helicone_headers`
lists the Helicone headers that the log keeps (request id, user, session and
properties; the gateway never stores the auth header), and :func:`score_rows` shows
feedback and boolean scores the way a person reads them.

Usage: ``stream = reassemble(item.response_body); stream.text``
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .records import SESSION_KEYS

__all__ = [
    "BOOL_SUFFIX",
    "FEEDBACK_KEY",
    "Stream",
    "answer_of",
    "helicone_headers",
    "parse_json",
    "pretty",
    "reassemble",
    "score_rows",
]

#: Helicone's key suffix for boolean scores (stored as 0/1).
BOOL_SUFFIX = "-hcone-bool"
#: The score key Helicone writes ``POST /feedback`` under.
FEEDBACK_KEY = "helicone-score-feedback"


def parse_json(text: str | None) -> Any:
    """The JSON value of ``text``, or None when it is absent or not JSON.

    Usage: ``parse_json('{"a": 1}') == {"a": 1}``
    """
    if not text or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def pretty(text: str | None) -> str:
    """``text`` indented when it is JSON, else unchanged ('' for None).

    Usage: ``pretty('{"a":1}') == '{\\n  "a": 1\\n}'``
    """
    if text is None:
        return ""
    value = parse_json(text)
    if value is None:
        return text
    return json.dumps(value, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Stream:
    """A reassembled SSE answer: the joined text and how many data events carried it.

    Usage: ``Stream(text="Hello", events=3)``
    """

    text: str
    events: int


def _delta_of(event: Any) -> str:
    if not isinstance(event, dict):
        return ""
    if event.get("type") == "response.output_text.delta":
        delta = event.get("delta")
        return delta if isinstance(delta, str) else ""
    out = []
    for choice in event.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            out.append(delta["content"])
        elif isinstance(choice.get("text"), str):
            out.append(choice["text"])
    return "".join(out)


def reassemble(text: str | None) -> Stream | None:
    """Join the text deltas of an SSE body; None when ``text`` is not an event stream.

    Usage: ``reassemble('data: {"choices":[{"delta":{"content":"Hi"}}]}\\n\\ndata: [DONE]\\n\\n').text == "Hi"``
    """
    if not text or "data:" not in text or parse_json(text) is not None:
        return None
    parts: list[str] = []
    events = 0
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            continue
        events += 1
        try:
            parts.append(_delta_of(json.loads(payload)))
        except (ValueError, RecursionError):
            continue
    return Stream("".join(parts), events) if events else None


def answer_of(value: Any) -> str | None:
    """The answer text of a JSON reply (chat, completion or Responses API), or None.

    Usage: ``answer_of({"choices": [{"message": {"content": "Hi"}}]}) == "Hi"``
    """
    if not isinstance(value, dict):
        return None
    texts: list[str] = []
    for choice in value.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            texts.append(message["content"])
        elif isinstance(choice.get("text"), str):
            texts.append(choice["text"])
    for item in value.get("output") or ():
        if isinstance(item, dict):
            for part in item.get("content") or ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
    return "".join(texts) if texts else None


def helicone_headers(request_id: str, user_id: str | None, properties: dict[str, str]) -> list[tuple[str, str]]:
    """The Helicone request headers the log keeps, as (header, value) pairs.

    Usage: ``helicone_headers(rid, "alice", {"env": "prod"})[-1] == ("Helicone-Property-env", "prod")``
    """
    pairs = [("Helicone-Request-Id", request_id)]
    if user_id:
        pairs.append(("Helicone-User-Id", user_id))
    pairs += [(key, properties[key]) for key in SESSION_KEYS if key in properties]
    pairs += [
        (key if key.startswith("Helicone-") else f"Helicone-Property-{key}", value)
        for key, value in sorted(properties.items())
        if key not in SESSION_KEYS
    ]
    return pairs


def score_rows(scores: dict[str, int]) -> tuple[str | None, list[tuple[str, str]]]:
    """(feedback, scores): feedback as ``"positive"``/``"negative"`` (None if not given) and
    every other score as (name, shown value), boolean ones as ``true``/``false`` under
    their own name.

    Usage: ``score_rows({"on_topic-hcone-bool": 1}) == (None, [("on_topic", "true")])``
    """
    rating = scores.get(FEEDBACK_KEY)
    feedback = None if rating is None else ("positive" if rating else "negative")
    rows: list[tuple[str, str]] = []
    for key, value in sorted(scores.items()):
        if key == FEEDBACK_KEY:
            continue
        if key.endswith(BOOL_SUFFIX):
            rows.append((key[: -len(BOOL_SUFFIX)], "true" if value else "false"))
        else:
            rows.append((key, str(value)))
    return feedback, rows
