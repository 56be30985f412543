"""Context state: ``session``, ``trace``, ``properties`` and ``user`` blocks.

One ``ContextVar`` holds an immutable :class:`HeliconeContext` snapshot. Every block derives a
new snapshot from the current one, sets it, and restores the previous one with its token in
``finally`` (exceptions included). asyncio tasks copy the context when they are created, so
they never see each other's blocks. Each block object works as ``with``, ``async with`` and as
a decorator on plain functions, coroutines, generators and async generators; as a decorator
every call is its own block, and a generator's context never leaks to its caller between
yields.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from . import _headers
from ._exceptions import HeliconeValidationError

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

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


@dataclass(frozen=True)
class SessionInfo:
    """What ``with session(...) as s`` and ``with trace(...) as s`` give: ``s.id``, ``s.name``, ``s.path``.

    Usage: ``with session("Course Plan") as s: print(s.id, s.path)``
    """

    id: str
    name: str | None
    path: str


def _reset(token: contextvars.Token[HeliconeContext]) -> None:
    try:
        _CURRENT.reset(token)
    except ValueError:
        # The token belongs to another Context (e.g. a generator resumed from another task):
        # restore the value it saved instead of raising into user code.
        old = token.old_value
        _CURRENT.set(EMPTY if old is contextvars.Token.MISSING else old)


class _Block(ABC, Generic[T]):
    """Shared machinery: derive a snapshot, set it, restore it; context manager and decorator."""

    def __init__(self) -> None:
        self._tokens: list[contextvars.Token[HeliconeContext]] = []

    @abstractmethod
    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        """The snapshot this block sets, derived from the current one."""

    @abstractmethod
    def _value(self, ctx: HeliconeContext) -> T:
        """What ``with block as value`` gives."""

    def __enter__(self) -> T:
        ctx = self._derive(_CURRENT.get())
        self._tokens.append(_CURRENT.set(ctx))
        return self._value(ctx)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _reset(self._tokens.pop())

    async def __aenter__(self) -> T:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        """Decorate ``fn``: each call (or each generator run) is its own block."""
        return _decorate(self, fn)


def _decorate(block: _Block[Any], fn: F) -> F:
    derive = block._derive
    if inspect.isasyncgenfunction(fn):
        return cast(F, functools.wraps(fn)(_async_gen_wrapper(derive, fn)))
    if inspect.isgeneratorfunction(fn):
        return cast(F, functools.wraps(fn)(_gen_wrapper(derive, fn)))
    if inspect.iscoroutinefunction(fn):

        async def run_async(*args: Any, **kwargs: Any) -> Any:
            token = _CURRENT.set(derive(_CURRENT.get()))
            try:
                return await fn(*args, **kwargs)
            finally:
                _reset(token)

        return cast(F, functools.wraps(fn)(run_async))

    def run(*args: Any, **kwargs: Any) -> Any:
        token = _CURRENT.set(derive(_CURRENT.get()))
        try:
            return fn(*args, **kwargs)
        finally:
            _reset(token)

    return cast(F, functools.wraps(fn)(run))


def _gen_wrapper(
    derive: Callable[[HeliconeContext], HeliconeContext], fn: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Generator[Any, Any, Any]]:
    def run(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        state = derive(_CURRENT.get())
        gen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            # Each step runs in the generator's own context; the caller's is restored at the yield.
            token = _CURRENT.set(state)
            try:
                if to_throw is not None:
                    item = gen.throw(to_throw)
                else:
                    item = gen.send(to_send)
            except StopIteration as stop:
                return stop.value
            finally:
                state = _CURRENT.get()
                _reset(token)
            to_throw = None
            try:
                to_send = yield item
            except GeneratorExit:
                token = _CURRENT.set(state)
                try:
                    gen.close()
                finally:
                    _reset(token)
                raise
            except BaseException as exc:  # forwarded into the generator, like ``yield from``
                to_throw, to_send = exc, None

    return run


def _async_gen_wrapper(
    derive: Callable[[HeliconeContext], HeliconeContext], fn: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., AsyncGenerator[Any, Any]]:
    async def run(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        state = derive(_CURRENT.get())
        agen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = _CURRENT.set(state)
            try:
                if to_throw is not None:
                    item = await agen.athrow(to_throw)
                else:
                    item = await agen.asend(to_send)
            except StopAsyncIteration:
                return
            finally:
                state = _CURRENT.get()
                _reset(token)
            to_throw = None
            try:
                to_send = yield item
            except GeneratorExit:
                token = _CURRENT.set(state)
                try:
                    await agen.aclose()
                finally:
                    _reset(token)
                raise
            except BaseException as exc:
                to_throw, to_send = exc, None

    return run


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


class properties(_Block[Mapping[str, str]]):
    """Add ``Helicone-Property-<key>`` headers to every call inside.

    Keys are lowercased (Helicone stores header property keys lowercased); values are ``str``,
    and ``int``/``float``/``bool`` are converted with ``str()``. Nested blocks merge and the
    inner value wins. ``with properties(...) as props`` gives the merged mapping.

    Usage: ``with properties(environment="prod", {"app-version": "1.2"}): ...``
    """

    def __init__(self, mapping: Mapping[str, object] | None = None, /, **kv: object) -> None:
        super().__init__()
        self.values = _headers.normalize_properties(mapping, kv)
        for key, value in self.values.items():
            _headers.encode_value(value, f"property {key!r}")

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        merged = MappingProxyType({**parent.properties, **self.values})
        return _snapshot(parent.session_id, parent.session_name, parent.session_path, merged, parent.user_id,
                         parent.features)

    def _value(self, ctx: HeliconeContext) -> Mapping[str, str]:
        return ctx.properties


class user(_Block[str]):
    """Send ``Helicone-User-Id`` on every call inside.

    Usage: ``with user("user-123"): client.chat.completions.create(...)``
    """

    def __init__(self, user_id: str) -> None:
        super().__init__()
        self.user_id = _headers.check_text(user_id, "user id")
        _headers.encode_value(self.user_id, "user id")

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        return _snapshot(parent.session_id, parent.session_name, parent.session_path, parent.properties,
                         self.user_id, parent.features)

    def _value(self, ctx: HeliconeContext) -> str:
        return self.user_id


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
