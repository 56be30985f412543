"""One line per request the gateway serves: method, path, model, status, milliseconds, session.

:class:`AccessLog` wraps the gateway's ASGI app. It puts an empty :data:`NOTE_KEY` dict in the
scope, which the proxy fills with the call's model and session id; when the response's last
byte is sent it writes one line to its ``write`` function (``print`` to stderr by default)::

    14:02:11  POST /v1/chat/completions  gpt-4o-mini  200  212.4 ms  session 5f0c9a1e

``-`` stands for a model or session the request did not carry (REST calls, for instance).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from .asgi import Receive, Scope, Send

__all__ = ["NOTE_KEY", "AccessLog", "access_line"]

#: The scope key of the dict the proxy fills with ``model`` and ``session``.
NOTE_KEY = "helicone_wrap.access"


def access_line(method: str, path: str, model: str | None, status: int, ms: float, session: str | None) -> str:
    """The log line for one request (without the time of day).

    Usage: ``access_line("POST", "/v1/chat/completions", "gpt-4o-mini", 200, 12.34, None)``
    """
    shown_session = f"session {session[:8]}" if session else "session -"
    return f"{method} {path}  {model or '-'}  {status}  {ms:.1f} ms  {shown_session}"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class AccessLog:
    """ASGI middleware writing one :func:`access_line` per HTTP request.

    Usage: ``app = AccessLog(build_app(state))`` (``write=`` to send lines elsewhere)
    """

    def __init__(self, app: Any, write: Callable[[str], None] = _stderr) -> None:
        self.app = app
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the wrapped app, then log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note: dict[str, Any] = {}
        scope[NOTE_KEY] = note
        started = time.perf_counter()
        status = 0

        async def logged_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._emit(scope, note, status, started)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            if not note.get("logged"):
                self._emit(scope, note, status or 500, started)

    def _emit(self, scope: Scope, note: dict[str, Any], status: int, started: float) -> None:
        if note.get("logged"):
            return
        note["logged"] = True
        ms = (time.perf_counter() - started) * 1000
        line = access_line(scope["method"], scope["path"], note.get("model"), status, ms, note.get("session"))
        try:
            self.write(time.strftime("%H:%M:%S  ") + line)
        except Exception:  # a closed stderr must not break serving
            pass
