"""Small ASGI helpers shared by the proxy and the REST handlers.

They work on raw ``scope``/``receive``/``send`` so that the hot proxy path pays for no
framework object it does not need.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "MAX_BODY_BYTES",
    "BodyTooLarge",
    "Receive",
    "Scope",
    "Send",
    "header",
    "json_bytes",
    "read_body",
    "send_bytes",
    "send_json",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Helicone's REST body limit (``valhalla/jawn/src/index.ts``), applied to every route.
MAX_BODY_BYTES = 10 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is over :data:`MAX_BODY_BYTES`; answer 413.

    Usage: ``except BodyTooLarge: await send_json(send, 413, {...})``
    """


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` lowercase), or None.

    Usage: ``header(scope, b"content-type")``
    """
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole request body; raises :class:`BodyTooLarge` past ``limit`` bytes.

    A ``Content-Length`` over the limit is refused before anything is read.

    Usage: ``body = await read_body(scope, receive)``
    """
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_bytes(data: object) -> bytes:
    """Compact UTF-8 JSON.

    Usage: ``json_bytes({"data": None, "error": None}) == b'{"data":null,"error":null}'``
    """
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a complete response in one body message.

    Usage: ``await send_bytes(send, 200, b"{}")``
    """
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(
    send: Send, status: int, data: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send ``data`` as a JSON response.

    Usage: ``await send_json(send, 401, {"error": "bad key", "trace": "isAuthenticated.error"})``
    """
    await send_bytes(send, status, json_bytes(data), headers=headers)
