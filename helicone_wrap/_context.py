"""Context state: the ``ContextVar`` that holds the active :class:`HeliconeContext` snapshot.

One ``ContextVar`` holds an immutable snapshot (session, properties, user, feature blocks, and
the Helicone-* headers they encode to, computed once per block). The blocks that set it are in
:mod:`._block` (the machinery), :mod:`._session` (``session``, ``trace``), :mod:`._tags`
(``properties``, ``user``) and :mod:`._features`. asyncio tasks copy the context when they are
created, so they never see each other's blocks; threads start empty, which
:func:`run_in_context` and :class:`ContextThreadPoolExecutor` fix.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from . import _headers

P = ParamSpec("P")
R = TypeVar("R")

_EMPTY_PROPS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class HeliconeContext:
    """An immutable snapshot of the active Helicone context; see :func:`current`.

    Usage: ``ctx = helicone_wrap.current(); ctx.session_id, ctx.session_path, ctx.properties``
    """

    session_id: str | None = None
    session_name: str | None = None
    session_path: str | None = None
    properties: Mapping[str, str] = field(default_factory=lambda: _EMPTY_PROPS)
    user_id: str | None = None
    #: The encoded Helicone-* headers for this snapshot, computed once when the block starts.
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY_PROPS, repr=False, compare=False)
    #: The same headers as ``(name, lowercased name, value)`` bytes, ready for the wire.
    wire: tuple[tuple[bytes, bytes, bytes], ...] = field(default=(), repr=False, compare=False)
    #: The lowercased names this snapshot claims: those in ``wire``, plus every header of an
    #: active feature block's kind (so ``cache(False)`` masks a client's ``wrap(client, cache())``).
    wire_names: frozenset[bytes] = field(default=frozenset(), repr=False, compare=False)
    #: The active feature blocks (``cache()``, ``retries()``, ...) by kind; inner blocks replace outer ones.
    features: Mapping[str, Any] = field(default_factory=lambda: _EMPTY_PROPS)
    #: What a call looks for among the request's own header names before appending ``wire``.
    probe: bytes = field(default=_headers.HELICONE_LOWER, repr=False, compare=False)


def _snapshot(
    session_id: str | None,
    session_name: str | None,
    session_path: str | None,
    properties: Mapping[str, str],
    user_id: str | None,
    features: Mapping[str, Any],
) -> HeliconeContext:
    headers = _headers.context_headers(session_id, session_name, session_path, properties, user_id)
    names: set[bytes] = set()
    for block in features.values():  # each block's headers were encoded when it was created
        headers.update(block.headers)
        names.update(block.owned)
    wire = _headers.wire_form(headers)
    sent = {lower for _name, lower, _value in wire}
    return HeliconeContext(
        session_id, session_name, session_path, properties, user_id, MappingProxyType(headers),
        wire, frozenset(names | sent), features, _headers.probe_for(sent),
    )


EMPTY = HeliconeContext()
_CURRENT: contextvars.ContextVar[HeliconeContext] = contextvars.ContextVar("helicone_wrap", default=EMPTY)


def current() -> HeliconeContext:
    """The active context: session id/name/path, properties and user id.

    Usage: ``with session("Chat"): print(current().session_id)``
    """
    return _CURRENT.get()


def _reset(token: contextvars.Token[HeliconeContext]) -> None:
    try:
        _CURRENT.reset(token)
    except ValueError:
        # The token belongs to another Context (e.g. a generator resumed from another task):
        # restore the value it saved instead of raising into user code.
        old = token.old_value
        _CURRENT.set(EMPTY if old is contextvars.Token.MISSING else old)



def run_in_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Capture the current context now; the returned callable runs ``fn`` inside it, in any thread.

    Usage: ``threading.Thread(target=run_in_context(work)).start()``
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # A Context can be entered by one thread at a time, so each run gets its own copy.
        return captured.copy().run(fn, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the context of the code that submitted them.

    Plain executors (and ``loop.run_in_executor``) start tasks in an empty context, so Helicone
    sessions and properties would be lost; ``asyncio.to_thread`` already propagates context.

    Usage::

        with session("batch"), ContextThreadPoolExecutor(4) as pool:
            list(pool.map(summarise, documents))
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        ctx = contextvars.copy_context()
        return super().submit(functools.partial(ctx.run, fn, *args, **kwargs))
