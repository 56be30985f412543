"""Sessions: ``session(...)`` starts one or moves along its path, ``trace(...)`` nests one step.

Both set ``Helicone-Session-Id``/``-Name``/``-Path`` on every call inside (see :mod:`._block` for
``with``/``async with``/decorator behaviour).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from . import _headers
from ._block import _Block, _decorate
from ._context import HeliconeContext, _snapshot
from ._exceptions import HeliconeValidationError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SessionInfo:
    """What ``with session(...) as s`` and ``with trace(...) as s`` give: ``s.id``, ``s.name``, ``s.path``.

    Usage: ``with session("Course Plan") as s: print(s.id, s.path)``
    """

    id: str
    name: str | None
    path: str


class session(_Block[SessionInfo]):
    """Start a session, or continue the current one at another path.

    - ``session("Course Plan")`` starts a session: a new uuid4 id (or ``id=``), the name, path ``/``.
    - Inside a session, ``session(path="outline")`` keeps the id and name and appends ``/outline``;
      an absolute ``path="/x"`` replaces the path.
    - Works as ``with``, ``async with`` and as a decorator (each call is its own session).

    Usage::

        with session("Course Plan", path="/abstract") as s:
            client.chat.completions.create(...)   # Helicone-Session-Id: s.id, -Path: /abstract
    """

    def __init__(self, name: str | None = None, *, path: str | None = None, id: str | None = None) -> None:
        super().__init__()
        self.name = None if name is None else _headers.check_text(name, "session name")
        self.id = None if id is None else _headers.check_text(id, "session id")
        if self.id == "":
            raise HeliconeValidationError("session id must not be empty; omit id= to get a new uuid4.")
        self.path = None if path is None else _headers.check_text(path, "session path")
        if self.name is not None:
            _headers.encode_value(self.name, "session name")

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        if self.name is None and self.id is None and parent.session_id is not None:
            base = parent.session_path or "/"
            path = base if self.path is None else _headers.join_path(base, self.path)
            return _snapshot(parent.session_id, parent.session_name, path, parent.properties, parent.user_id,
                             parent.features)
        session_id = self.id if self.id is not None else str(uuid.uuid4())
        path = _headers.normalize_path(self.path or "/")
        return _snapshot(session_id, self.name, path, parent.properties, parent.user_id, parent.features)

    def _value(self, ctx: HeliconeContext) -> SessionInfo:
        return SessionInfo(cast(str, ctx.session_id), ctx.session_name, ctx.session_path or "/")


class _TraceBlock(_Block[SessionInfo]):
    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.name = None if name is None else _headers.check_text(name, "trace name")
        if self.name is not None and not self.name.strip("/"):
            raise HeliconeValidationError(f"trace name {name!r} has no path segment; use e.g. 'outline'.")

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        if self.name is None:
            raise HeliconeValidationError(
                "trace() used with 'with' needs a name: with trace('outline'): ... "
                "(as a decorator it defaults to the function's name)."
            )
        if parent.session_id is None:
            path = _headers.normalize_path(self.name)
            return _snapshot(str(uuid.uuid4()), self.name, path, parent.properties, parent.user_id,
                             parent.features)
        path = _headers.normalize_path(f"{parent.session_path or '/'}/{self.name}")
        return _snapshot(parent.session_id, parent.session_name, path, parent.properties, parent.user_id,
                         parent.features)

    def _value(self, ctx: HeliconeContext) -> SessionInfo:
        return SessionInfo(cast(str, ctx.session_id), ctx.session_name, ctx.session_path or "/")

    def __call__(self, fn: F) -> F:
        if self.name is None:
            named = _TraceBlock(getattr(fn, "__name__", None) or "step")
            return _decorate(named, fn)
        return _decorate(self, fn)


@overload
def trace(name: F) -> F: ...
@overload
def trace(name: str | None = None) -> _TraceBlock: ...
def trace(name: str | F | None = None) -> _TraceBlock | F:
    """Nest one step: append a path segment inside the current session.

    The segment defaults to the decorated function's ``__name__``. Outside any session, a new
    session named after the step starts. Works as ``with``, ``async with`` and as a decorator,
    with or without parentheses.

    Usage::

        @trace                 # or @trace("outline")
        def outline(topic: str) -> str: ...
    """
    if callable(name):
        return _TraceBlock(None)(name)
    return _TraceBlock(name)
