"""Context blocks: every form, nesting rules, isolation across tasks/threads/generators."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import helicone_wrap
from helicone_wrap import (
    ContextThreadPoolExecutor,
    HeliconeValidationError,
    current,
    properties,
    run_in_context,
    session,
    trace,
    user,
    wrap,
)

from .conftest import Driver

Snapshot = helicone_wrap.HeliconeContext

# Each block factory plus a check that the block is active in a snapshot.
BLOCKS: dict[str, tuple[Callable[[], Any], Callable[[Snapshot], bool]]] = {
    "session": (lambda: session("S", path="/a"), lambda c: c.session_name == "S" and c.session_path == "/a"),
    "trace": (lambda: trace("step"), lambda c: c.session_path == "/step" and c.session_name == "step"),
    "properties": (lambda: properties(k="v"), lambda c: c.properties == {"k": "v"}),
    "user": (lambda: user("u-1"), lambda c: c.user_id == "u-1"),
}


@pytest.mark.parametrize("kind", list(BLOCKS))
async def test_every_block_works_in_all_forms(kind: str) -> None:
    """with, async with, and decorators on def, async def, generators and async generators."""
    make, active = BLOCKS[kind]
    with make():
        assert active(current())
    assert current() == helicone_wrap.HeliconeContext()
    async with make():
        assert active(current())

    @make()
    def plain() -> bool:
        return active(current())

    @make()
    async def coro() -> bool:
        await asyncio.sleep(0)
        return active(current())

    @make()
    def gen() -> Iterator[bool]:
        yield active(current())
        yield active(current())

    @make()
    async def agen() -> AsyncIterator[bool]:
        yield active(current())
        await asyncio.sleep(0)
        yield active(current())

    assert plain() and await coro()
    assert list(gen()) == [True, True]
    assert [x async for x in agen()] == [True, True]
    assert current() == helicone_wrap.HeliconeContext()


def test_nested_paths_compose() -> None:
    """Relative paths append, absolute paths replace, traces add one segment, id and name persist."""
    with session("Course Plan", path="/abstract") as outer:
        assert (outer.name, outer.path) == ("Course Plan", "/abstract")
        with session(path="outline") as inner:
            assert inner.id == outer.id and inner.name == "Course Plan" and inner.path == "/abstract/outline"
            with trace("chapter-1") as step:
                assert step.path == "/abstract/outline/chapter-1" and step.id == outer.id
            with session(path="/other//place/") as absolute:
                assert absolute.path == "/other/place" and absolute.id == outer.id
        with session("Second") as fresh:
            assert fresh.id != outer.id and fresh.path == "/"
        with session(id="fixed-id") as explicit:
            assert explicit.id == "fixed-id"
    assert current().session_id is None


def test_decorated_session_is_new_per_call() -> None:
    """As a decorator, every call of the function is its own session."""

    @session("Per call")
    def run() -> str | None:
        return current().session_id

    assert run() != run()


def test_trace_decorator_defaults_to_function_name_and_starts_session_outside() -> None:
    """@trace uses __name__; outside any session it starts one named after the step."""

    @trace
    def outline() -> Snapshot:
        return current()

    @trace()
    def chapter() -> Snapshot:
        return current()

    alone = outline()
    assert alone.session_name == "outline" and alone.session_path == "/outline" and alone.session_id
    with session("Book", path="/write"):
        assert chapter().session_path == "/write/chapter"


def test_properties_merge_and_inner_wins() -> None:
    """Nested properties merge; the inner value wins; keys are lowercased; numbers become str."""
    with properties({"Env": "prod"}, team="a"), properties(env="test", n=3, ok=True, ratio=0.5) as merged:
        assert dict(merged) == {"env": "test", "team": "a", "n": "3", "ok": "True", "ratio": "0.5"}
    with pytest.raises(HeliconeValidationError, match="values must be str"):
        properties(bad=[1, 2])


def test_state_restored_on_exceptions_in_every_form() -> None:
    """Blocks restore the previous context when the body raises, and the exception is unchanged."""

    @session("S")
    def boom() -> None:
        raise ValueError("user error")

    with pytest.raises(ValueError, match="user error"):
        boom()
    with pytest.raises(ValueError), properties(a="1"):
        raise ValueError
    assert current() == helicone_wrap.HeliconeContext()


def test_generator_context_never_reaches_the_caller_between_yields() -> None:
    """The caller sees its own context between a decorated generator's yields."""

    @session("Generator")
    def gen() -> Iterator[str | None]:
        yield current().session_name
        with properties(inner="yes"):
            yield current().session_name
            yield current().properties.get("inner")

    with session("Caller"):
        g = gen()
        assert next(g) == "Generator"
        assert current().session_name == "Caller"
        assert next(g) == "Generator"
        assert current().session_name == "Caller" and "inner" not in current().properties
        assert next(g) == "yes"  # the generator's own block survives across its yields
        assert current().session_name == "Caller"


async def test_async_generator_context_never_reaches_the_caller() -> None:
    """Same for async generators."""

    @session("AGen")
    async def agen() -> AsyncIterator[str | None]:
        yield current().session_name
        yield current().session_name

    with session("Caller"):
        it = agen()
        assert await it.__anext__() == "AGen"
        assert current().session_name == "Caller"
        assert await it.__anext__() == "AGen"
        await it.aclose()


def test_generator_send_throw_close_are_forwarded() -> None:
    """send(), throw() and close() reach the decorated generator as with a plain one."""
    closed = []

    @properties(k="v")
    def echoer() -> Iterator[Any]:
        received = None
        try:
            while True:
                try:
                    received = yield received
                except KeyError:
                    received = "caught"
        finally:
            closed.append(True)

    g = echoer()
    next(g)
    assert g.send(5) == 5
    assert g.throw(KeyError("x")) == "caught"
    g.close()
    assert closed == [True]


async def test_concurrent_tasks_have_zero_cross_talk_on_the_wire(backend: Any) -> None:
    """200 asyncio tasks, each in its own session, send only their own headers."""
    echo = backend
    driver = Driver(is_async=True)
    client = wrap(driver.client(echo.url + "/v1"), api_key="sk-helicone-x", base_url=echo.url)

    async def task(i: int) -> tuple[int, str, str]:
        with session(f"task-{i}", path=f"/t{i}") as s, properties(task=str(i)):
            await asyncio.sleep(0)
            result = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            return i, s.id, result.helicone_id

    try:
        outcomes = await asyncio.gather(*(task(i) for i in range(200)))
    finally:
        await client.close()
    assert len({sid for _, sid, _ in outcomes}) == 200
    for i, sid, hid in outcomes:
        headers = echo.by_id(hid).headers
        assert headers["helicone-session-id"] == sid
        assert headers["helicone-session-name"] == f"task-{i}"
        assert headers["helicone-session-path"] == f"/t{i}"
        assert headers["helicone-property-task"] == str(i)


def test_threads_need_the_helpers() -> None:
    """A plain pool loses the context; ContextThreadPoolExecutor and run_in_context carry it."""
    with session("Batch") as s:
        with ThreadPoolExecutor(2) as plain:
            assert plain.submit(lambda: current().session_id).result() is None
        with ContextThreadPoolExecutor(2) as pool:
            assert set(pool.map(lambda _: current().session_id, range(8))) == {s.id}
        seen: list[str | None] = []
        worker = run_in_context(lambda: seen.append(current().session_id))
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [s.id] * 4


def test_invalid_input_is_rejected_clearly() -> None:
    """Empty ids, nameless trace blocks and slash-only names raise HeliconeValidationError."""
    with pytest.raises(HeliconeValidationError, match="empty"):
        session(id="")
    with pytest.raises(HeliconeValidationError, match="needs a name"), trace():
        pass
    with pytest.raises(HeliconeValidationError, match="no path segment"):
        trace("///")
