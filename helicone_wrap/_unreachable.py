"""When the gateway cannot be reached, openai's own error says which gateway it was.

The user's call still raises openai's ``APIConnectionError`` (or its ``APITimeoutError``
subclass), the very object openai raised, after openai's own retries. It only gains one line
naming the gateway URL that failed: an exception note on Python 3.11+ (shown in tracebacks
under openai's message), appended to the message on 3.10, which has no notes. Only errors for
requests that a wrapped client sent to its gateway get it.

Nothing of this runs on a call that succeeds. openai's request loop has no per-client seam
that runs only on failure, so the seam is where openai makes the error:
``APIConnectionError.__init__`` (which ``APITimeoutError`` goes through too) is wrapped once, the
first time a client is wrapped. The wrapper runs openai's own ``__init__`` first and then looks
at the failed request. It adds the line only when (1) that request carries a
``Helicone-Request-Id`` appended by our hook (the item's name is ``_headers.REQUEST_ID_WIRE``
itself, an object nothing else puts there: a header set by hand is a different object) and
(2) the request went to a gateway origin some wrapped client routes to. So an unwrapped client,
a wrapped client re-pointed by hand to some other host, and errors openai users build
themselves are all left as they are.
"""

from __future__ import annotations

import sys
from typing import Any

import openai

from . import _guard, _headers
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


#: Every gateway origin a wrapped client routes to (a handful per process, never per call).
_GATEWAYS: set[tuple[str, str, int | None]] = set()
_MARK = "_helicone_wrap_notes"


def _ours(request: Any) -> bool:
    """True when ``request`` carries the request-id header item our build hook appended."""
    items = getattr(getattr(request, "headers", None), "_list", None)
    if type(items) is not list:  # pragma: no cover - a future httpx: look for the header by name
        return request is not None and _headers.REQUEST_ID in request.headers
    wire = _headers.REQUEST_ID_WIRE
    return any(item[0] is wire for item in reversed(items))


def note_if_gateway(exc: openai.APIConnectionError) -> None:
    """Add the gateway line to ``exc`` when its request is one of ours, sent to a gateway."""
    request = getattr(exc, "request", None)
    if request is None or not _ours(request):
        return
    origin = _origin(request.url)
    if origin in _GATEWAYS:
        add_gateway_note(exc, origin)


def watch(gateway_origin: tuple[str, str, int | None]) -> None:
    """Name ``gateway_origin`` on connection errors of wrapped clients from now on. Idempotent.

    Usage: ``watch(("http", "127.0.0.1", 8787))``
    """
    _GATEWAYS.add(gateway_origin)
    cls = openai.APIConnectionError
    if getattr(vars(cls).get("__init__"), _MARK, False):
        return
    original = cls.__init__

    def __init__(self: openai.APIConnectionError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)  # openai's errors (a bad argument) propagate unchanged
        try:
            note_if_gateway(self)
        except Exception as exc:
            _guard.internal_error("connection-error", exc)

    setattr(__init__, _MARK, True)
    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[method-assign]
