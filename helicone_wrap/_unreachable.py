"""When the gateway cannot be reached, openai's own error says which gateway it was.

The user's call still raises openai's ``APIConnectionError`` (or its ``APITimeoutError``
subclass), the very object openai raised, after openai's own retries. It only gains one line
naming the gateway URL that failed: an exception note on Python 3.11+ (shown in tracebacks
under openai's message), appended to the message on 3.10, which has no notes. Only errors for
requests sent to the wrapped client's gateway get it.

The hook wraps the client's ``request`` method on the instance: one extra frame per call (sync)
or one extra coroutine (async); nothing else runs unless the call fails.
"""

from __future__ import annotations

import sys
from typing import Any

import openai

from ._redirects import _origin

_PREFIX = "helicone_wrap: "


def gateway_note(exc: openai.APIConnectionError) -> str:
    """The line added to ``exc``; it names the gateway URL (without its query string)."""
    url = exc.request.url
    where = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
    if isinstance(exc, openai.APITimeoutError):
        what = "did not answer in time"
    else:
        what = "could not be reached"
    return (
        f"{_PREFIX}the Helicone gateway at {where} {what}. Check that it is running and that "
        "wrap(base_url=...) or HELICONE_BASE_URL points at it."
    )


def add_gateway_note(exc: openai.APIConnectionError, gateway_origin: tuple[str, str, int | None]) -> None:
    """Add :func:`gateway_note` to ``exc`` once, when its request went to the gateway."""
    request = getattr(exc, "request", None)
    if request is None or _origin(request.url) != gateway_origin:
        return
    if any(note.startswith(_PREFIX) for note in getattr(exc, "__notes__", ())) or _PREFIX in exc.message:
        return
    note = gateway_note(exc)
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # no notes before 3.11: append to openai's message (same object, same type)
        exc.message = f"{exc.message} ({note})"
        exc.args = (exc.message, *exc.args[1:])


def sync_request_hook(client: Any, gateway_origin: tuple[str, str, int | None]) -> Any:
    request = client.request

    def _request(*args: Any, **kwargs: Any) -> Any:
        try:
            return request(*args, **kwargs)
        except openai.APIConnectionError as exc:
            add_gateway_note(exc, gateway_origin)
            raise

    return _request


def async_request_hook(client: Any, gateway_origin: tuple[str, str, int | None]) -> Any:
    request = client.request

    async def _request(*args: Any, **kwargs: Any) -> Any:
        try:
            return await request(*args, **kwargs)
        except openai.APIConnectionError as exc:
            add_gateway_note(exc, gateway_origin)
            raise

    return _request
