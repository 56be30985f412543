"""Server-sent events encoding of streamed offline answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

from .common import JSON

__all__ = ["sse_events", "sse_lines"]


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
