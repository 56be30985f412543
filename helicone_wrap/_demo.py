"""``helicone-wrap demo``: the Course Plan story from Helicone's sessions docs, fully offline.

It starts the local gateway in-process on a free port with a temporary database, runs a
session with steps ``/abstract``, ``/outline`` and ``/outline/chapter-1..3`` (some streamed,
some async), enriches, rates and scores results, flushes, then reads the session back through
the REST API and prints it as a tree.

Everything goes to that gateway, whatever ``HELICONE_*`` variables say: the key, gateway and
REST root are all passed explicitly, and delivery runs without an outbox (so nothing is left
behind, and no operation of another program is replayed from the user's outbox).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam
from rich.console import Console

from . import _delivery
from ._api import HeliconeAPI
from ._api.render import session_tree, sessions_table
from ._config import ENV_NAMES
from ._context import properties, session, trace, user
from ._results import enrich, feedback, request_id, score
from ._wrap import wrap

TOPIC = "a book about space"
#: The demo's own key, so a ``HELICONE_API_KEY`` in the environment is never used (or sent anywhere).
DEMO_KEY = "sk-helicone-offline-demo"


def _ask(prompt: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": prompt}]


async def _chapters(client: AsyncOpenAI, console: Console) -> list[Any]:
    async def chapter(n: int) -> Any:
        if n == 2:  # one chapter streams, to show time to first token
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=_ask(f"Write chapter {n} of {TOPIC}"), stream=True,
                stream_options={"include_usage": True},
            )
            async for _chunk in stream:
                pass
            return stream
        return await client.chat.completions.create(model="gpt-4o-mini", messages=_ask(f"Write chapter {n} of {TOPIC}"))

    # Each chapter is its own step: @trace("chapter-N") under the current /outline path.
    steps = [trace(f"chapter-{n}")(chapter) for n in (1, 2, 3)]
    results = await asyncio.gather(*(step(n) for step, n in zip(steps, (1, 2, 3), strict=True)))
    console.print("  [green]✓[/] /outline/chapter-1..3 written concurrently (async client, chapter 2 streamed)")
    return list(results)


def run_demo(console: Console | None = None) -> int:
    """Run the offline story; returns the process exit code. Usage: ``helicone-wrap demo``"""
    console = console or Console()
    previous_outbox = _delivery._settings.outbox
    _delivery.configure(outbox=None)  # no file left behind, and nobody else's operations replayed
    try:
        return _run(console)
    finally:
        _delivery.configure(outbox=previous_outbox)


def _run(console: Console) -> int:
    from .gateway import GatewayServer

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="helicone-wrap-demo-") as tmp, GatewayServer(
        port=0, db=os.path.join(tmp, "demo.sqlite3")
    ) as gateway:
        console.print(f"[bold]Local Helicone gateway[/] on {gateway.url} (offline model, SQLite in {tmp})")
        ignored = [name for name in ENV_NAMES if os.environ.get(name)]
        console.print(f"  Everything goes to this gateway only{_ignoring(ignored)}.")
        client = wrap(OpenAI(api_key="sk-offline-demo", base_url=gateway.url + "/v1"), api_key=DEMO_KEY,
                      base_url=gateway.url)
        aclient = wrap(AsyncOpenAI(api_key="sk-offline-demo", base_url=gateway.url + "/v1"), api_key=DEMO_KEY,
                       base_url=gateway.url)

        with session("Course Plan", path="/abstract") as course, properties(course="space-101"), user("demo-user"):
            abstract = client.chat.completions.create(model="gpt-4o-mini", messages=_ask(f"Write an abstract for {TOPIC}"))
            console.print(f"  [green]✓[/] /abstract  helicone_id={request_id(abstract)}")
            with session(path="/outline"):
                outline = client.chat.completions.create(
                    model="gpt-4o-mini", messages=_ask(f"Outline {TOPIC}"), stream=True,
                    stream_options={"include_usage": True},
                )
                text = "".join(c.choices[0].delta.content or "" for c in outline if c.choices)
                console.print(f"  [green]✓[/] /outline   streamed {len(text)} characters, helicone_id={request_id(outline)}")
                chapters = asyncio.run(_close_after(aclient, _chapters(aclient, console)))

        # After the fact: enrich one result, rate another, score a third; all in the background.
        handles = [
            enrich(abstract, outcome="approved", reviewer="editor"),
            feedback(outline, True),
            score(chapters[0], quality=8, on_topic=True),
        ]
        _delivery.flush(timeout=10)
        problems = _delivery_problems(handles)
        if problems:
            for line in problems:
                console.print(f"  [red]✗[/] {line}")
        else:
            console.print(f"  [green]✓[/] enrich, feedback and score delivered to {gateway.url}")

        with HeliconeAPI(api_key=DEMO_KEY, base_url=gateway.url) as api:
            rows = api.sessions.query(name="Course Plan")
            console.print(sessions_table(rows))
            console.print(session_tree(api.sessions.tree(course.id)))
        client.close()
    if problems:
        console.print(f"[bold red]Failed[/]: {len(problems)} of {len(handles)} operations were not delivered (above).")
        return 1
    console.print(f"[bold green]Done[/] in {time.perf_counter() - started:.1f} s, offline. "
                  "Point HELICONE_BASE_URL at Helicone cloud or self-hosted Helicone to run the same code for real.")
    return 0


def _ignoring(names: list[str]) -> str:
    return f"; ignoring {', '.join(names)} from the environment" if names else ""


def _delivery_problems(handles: list[_delivery.Delivery]) -> list[str]:
    """One line per operation that did not arrive: what it was, and what went wrong."""
    problems = []
    for handle in handles:
        if not handle.done:
            problems.append(f"{handle.kind} for {handle.request_id} still pending after 10 s")
        elif handle.error is not None:
            problems.append(f"{handle.kind} for {handle.request_id} failed: {type(handle.error).__name__}: {handle.error}")
    return problems


async def _close_after(client: AsyncOpenAI, work: Any) -> Any:
    try:
        return await work
    finally:
        await client.close()
