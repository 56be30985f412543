"""The block machinery shared by every context block (``session``, ``trace``, ``properties``,
``user`` and the feature blocks).

A block derives a new snapshot from the current one, sets it, and restores the previous one
with its token in ``finally`` (exceptions included). Each block object works as ``with``,
``async with`` and as a decorator on plain functions, coroutines, generators and async
generators; as a decorator every call is its own block, and a generator's context never leaks
to its caller between yields.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from ._context import _CURRENT, HeliconeContext, _reset

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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
