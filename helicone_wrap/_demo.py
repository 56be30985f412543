"""``helicone-wrap demo``: the Course Plan story from Helicone's sessions docs, fully offline.

It starts the local gateway in-process on a free port, runs a session with steps
``/abstract``, ``/outline`` and ``/outline/chapter-1..3`` (some streamed, some async), ``/title``
(asked twice with ``cache()``: the second answer is Helicone's cache HIT) and ``/summary`` (in
async logging mode: a second, unlogged offline model stands in for the provider and answers
directly, the log goes to the gateway's ``/oai/v1/log``) as user ``demo-user``, enriches, rates and scores results, flushes, then reads the session back through
the REST API, checks that everything arrived, and prints it as a tree. Every ``✓`` stands for a
check that passed; a failed one prints ``✗`` with what went wrong, and the exit status is 1.

The log is a temporary database unless ``db`` is given. With ``keep`` the gateway keeps serving
after the story (with an access log) until Ctrl-C, and the session's dashboard URL is printed;
``keep`` without ``db`` logs to the gateway's default database, so a later ``helicone-wrap
gateway`` still has the session.

Everything goes to that gateway, whatever ``HELICONE_*`` variables say: the key, gateway and
REST root are all passed explicitly, and delivery runs without an outbox (so nothing is left
behind, and no operation of another program is replayed from the user's outbox).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI, OpenAI, OpenAIError
from openai.types.chat import ChatCompletionMessageParam
from rich.console import Console

from . import _delivery
from ._api import HeliconeAPI
from ._api.render import fmt_ms, plural, session_tree, sessions_table
from ._api.rows import RequestRow
from ._config import ENV_NAMES
from ._features import cache
from ._meta import helicone_meta
from ._results import enrich, feedback, request_id, score
from ._session import session, trace
from ._tags import properties, user
from ._wrap import wrap

__all__ = ["DEMO_KEY", "default_gateway_db", "run_demo"]

TOPIC = "a book about space"
USER = "demo-user"
MODEL = "gpt-4o-mini"
#: The demo's own key, so a ``HELICONE_API_KEY`` in the environment is never used (or sent anywhere).
DEMO_KEY = "sk-helicone-offline-demo"


def default_gateway_db() -> str:
    """Where ``helicone-wrap gateway`` keeps its log by default: next to the outbox, per user.

    Usage: ``helicone-wrap gateway`` logs to ``default_gateway_db()``
    """
    from ._delivery.outbox import default_outbox_path

    return str(default_outbox_path().parent / "gateway.sqlite3")


@dataclass
class _Report:
    """The story's checks: a line each, and whether any failed."""

    console: Console
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, good: str, bad: str) -> bool:
        if ok:
            self.console.print(f"  [green]✓[/] {good}")
        else:
            self.console.print(f"  [red]✗[/] {bad}")
            self.failures.append(bad)
        return ok


def _ask(prompt: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": prompt}]


def _content(completion: Any) -> str:
    return (completion.choices[0].message.content or "") if completion.choices else ""


async def _chapters(client: AsyncOpenAI) -> list[tuple[Any, str]]:
    async def chapter(n: int) -> tuple[Any, str]:
        prompt = _ask(f"Write chapter {n} of {TOPIC}")
        if n == 2:  # one chapter streams, to show time to first token
            stream = await client.chat.completions.create(
                model=MODEL, messages=prompt, stream=True, stream_options={"include_usage": True},
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return stream, text
        completion = await client.chat.completions.create(model=MODEL, messages=prompt)
        return completion, _content(completion)

    # Each chapter is its own step: @trace("chapter-N") under the current /outline path.
    steps = [trace(f"chapter-{n}")(chapter) for n in (1, 2, 3)]
    try:
        return list(await asyncio.gather(*(step(n) for step, n in zip(steps, (1, 2, 3), strict=True))))
    finally:
        await client.close()


def run_demo(
    console: Console | None = None, *, keep: bool = False, db: str | None = None,
    ttft: float = 0.0, per_token: float = 0.0, stop: threading.Event | None = None,
) -> int:
    """Run the offline story; returns the process exit code. Usage: ``helicone-wrap demo --keep``

    ``ttft``/``per_token`` pace the offline model (seconds); ``stop`` ends a ``keep`` wait
    (Ctrl-C does too).
    """
    console = console or Console()
    previous_outbox = _delivery._settings.outbox
    _delivery.configure(outbox=None)  # no file left behind, and nobody else's operations replayed
    try:
        with tempfile.TemporaryDirectory(prefix="helicone-wrap-demo-") as tmp:
            path = db or (default_gateway_db() if keep else os.path.join(tmp, "demo.sqlite3"))
            if path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            return _run(console, path, temporary=db is None and not keep, keep=keep,
                        pace=(ttft, per_token), stop=stop or threading.Event())
    finally:
        _delivery.configure(outbox=previous_outbox)


def _run(console: Console, path: str, *, temporary: bool, keep: bool, pace: tuple[float, float],
         stop: threading.Event) -> int:
    from .gateway import GatewayServer

    started = time.perf_counter()
    report = _Report(console)
    gateway = GatewayServer(port=0, db=path, offline_ttft=pace[0], offline_chunk_delay=pace[1], access_log=True)
    # Async mode calls the provider directly; the gateway's own /v1 would log that call as a second,
    # sessionless row, so the provider is another offline model whose log is thrown away.
    provider = GatewayServer(port=0, offline_ttft=pace[0], offline_chunk_delay=pace[1])
    with gateway, provider:
        gateway.access_log = False  # quiet during the story; on while --keep serves
        console.print(f"[bold]Local Helicone gateway[/] on {gateway.url} (offline model)")
        console.print(f"  Log: {'a temporary database' if temporary else path}", soft_wrap=True)
        ignored = [name for name in ENV_NAMES if os.environ.get(name)]
        console.print(f"  Everything goes to this gateway only{_ignoring(ignored)}.")
        try:
            sid = _story(console, report, gateway.url, provider.url)
        except OpenAIError as exc:  # a call failed: say which error stopped the story
            report.check(False, "", f"the story stopped: {type(exc).__name__}: {exc}")
            sid = None
        if sid is not None:
            _read_back(console, report, gateway.url, sid)
        elapsed = time.perf_counter() - started
        if report.failures or sid is None:
            console.print(f"[bold red]Failed[/]: {plural(len(report.failures), 'check')} did not pass (✗ above).")
            return 1
        console.print(f"[bold green]Done[/] in {elapsed:.1f} s, offline: every check above passed.")
        dashboard = f"{gateway.url}/sessions/{sid}"
        if keep:
            _serve_until_stopped(console, gateway, dashboard, path, stop)
        _next_steps(console, sid, path, temporary, keep)
    return 0


def _story(console: Console, report: _Report, url: str, provider: str) -> str:
    """Run the session against the gateway at ``url`` (async mode calls ``provider`` directly); its id.

    A failed call raises the openai error.
    """
    client = wrap(OpenAI(api_key="sk-offline-demo", base_url=url + "/v1"), api_key=DEMO_KEY, base_url=url)
    aclient = wrap(AsyncOpenAI(api_key="sk-offline-demo", base_url=url + "/v1"), api_key=DEMO_KEY, base_url=url)
    # Async logging mode: the provider answers directly, the log goes to the gateway's /oai/v1/log.
    logged = wrap(OpenAI(api_key="sk-offline-demo", base_url=provider + "/v1"), mode="async", api_key=DEMO_KEY,
                  base_url=url)
    try:
        with session("Course Plan", path="/abstract") as course, properties(course="space-101"), user(USER):
            console.print(f"  Session [bold]Course Plan[/] (id {course.id})")
            console.print(f"  as user {USER}, with property course=space-101")
            abstract = client.chat.completions.create(model=MODEL, messages=_ask(f"Write an abstract for {TOPIC}"))
            report.check(bool(_content(abstract)) and request_id(abstract) is not None,
                         f"/abstract  answered            {request_id(abstract)}",
                         "/abstract: no answer text or no helicone-id header")
            with session(path="/outline"):
                outline = client.chat.completions.create(
                    model=MODEL, messages=_ask(f"Outline {TOPIC}"), stream=True, stream_options={"include_usage": True},
                )
                text = "".join(c.choices[0].delta.content or "" for c in outline if c.choices)
                report.check(bool(text) and request_id(outline) is not None,
                             f"/outline   streamed {len(text):>3} chars   {request_id(outline)}",
                             "/outline: the stream carried no text or no helicone-id header")
                chapters = asyncio.run(_chapters(aclient))
            report.check(all(text and request_id(c) is not None for c, text in chapters),
                         "/outline/chapter-1..3  written concurrently (async; chapter 2 streamed)",
                         "/outline/chapter-1..3: a chapter came back without text or helicone id")
            _cached_step(report, client)
            with session(path="/summary"):
                summary = logged.chat.completions.create(model=MODEL, messages=_ask(f"Summarize {TOPIC}"))
            report.check(bool(_content(summary)) and request_id(summary) is not None,
                         f"/summary   async mode, no proxy  {request_id(summary)}",
                         "/summary: no answer text or no request id in async mode")
        # After the fact: enrich one result, rate another, score a third; all in the background.
        handles = [enrich(abstract, outcome="approved", reviewer="editor"), feedback(outline, True),
                   score(chapters[0][0], quality=8, on_topic=True)]
        _delivery.flush(timeout=10)
        problems = _delivery_problems(handles)
        for line in problems:
            report.check(False, "", line)
        if not problems:
            report.check(True, f"enrich, feedback and score delivered to {url}", "")
        return course.id
    finally:
        client.close()
        logged.close()


def _cached_step(report: _Report, client: OpenAI) -> None:
    """``/title`` asked twice inside ``cache()``: ✓ only if Helicone says the 2nd came from its cache."""
    ask = _ask(f"Suggest a title for {TOPIC}")
    with session(path="/title"), cache(max_age=600):
        first = client.chat.completions.create(model=MODEL, messages=ask)
        started = time.perf_counter()
        again = client.chat.completions.create(model=MODEL, messages=ask)
        took = fmt_ms((time.perf_counter() - started) * 1000)
    meta = helicone_meta(again)
    verdict = meta.cache if meta is not None else None
    report.check(verdict == "HIT" and _content(again) == _content(first),
                 f"/title     asked twice, the 2nd a cache HIT ({took})",
                 f"/title: the repeated call was not served from the cache (Helicone-Cache: {verdict})")


def _read_back(console: Console, report: _Report, url: str, sid: str) -> None:
    with HeliconeAPI(api_key=DEMO_KEY, base_url=url) as api:
        rows = api.sessions.query(name="Course Plan", search=sid)
        tree = api.sessions.tree(sid)
    requests = tree.requests
    by_path = {r.session_path: r for r in requests}
    missing = _missing(by_path, requests)
    report.check(len(requests) == 8 and not missing,
                 f"read back {plural(len(requests), 'request')} through the REST API, with property, "
                 "feedback, scores",
                 f"read back {plural(len(requests), 'request')} of 8; missing: {', '.join(missing) or 'requests'}")
    summary = by_path.get("/summary")
    report.check(summary is not None and summary.model == MODEL and bool(summary.total_tokens),
                 "/summary   logged asynchronously, in the tree beside the proxied steps",
                 "/summary: its async log did not arrive (or came without model and tokens)")
    console.print(sessions_table(rows, "The session, as `helicone-wrap sessions` lists it"))
    console.print(session_tree(tree))
    slowest = max((r.delay_ms or 0 for r in requests), default=0)
    console.print(f"[dim]Latencies come from the offline model's pacing (slowest call {fmt_ms(slowest)}).[/]")


def _missing(by_path: dict[str | None, RequestRow], requests: Sequence[RequestRow]) -> list[str]:
    """What the read-back lacks of what the story set."""
    steps = ("/abstract", "/outline", *(f"/outline/chapter-{n}" for n in (1, 2, 3)), "/title", "/summary")
    missing = [f"request {p}" for p in steps if p not in by_path]
    abstract, outline, chapter = by_path.get("/abstract"), by_path.get("/outline"), by_path.get("/outline/chapter-1")
    if abstract is not None and abstract.property("outcome") != "approved":
        missing.append("outcome=approved on /abstract")
    if abstract is not None and abstract.request_user_id != USER:
        missing.append(f"user {USER}")
    if outline is not None and outline.feedback is not True:
        missing.append("feedback on /outline")
    if chapter is not None and chapter.scores.get("quality") != 8:
        missing.append("quality=8 on chapter-1")
    titles = [r for r in requests if r.session_path == "/title"]
    if len(titles) != 2 or sum(r.cache_reference_id is not None for r in titles) != 1:
        missing.append("a proxied and a cached /title")
    return missing


def _serve_until_stopped(console: Console, gateway: Any, dashboard: str, path: str, stop: threading.Event) -> None:
    console.print(f"\n[bold]The gateway keeps running[/] (--keep). Log: {path}", soft_wrap=True)
    console.print("  Session dashboard:")
    console.print(f"    {dashboard}", soft_wrap=True)
    console.print(f"  OpenAI base URL    {gateway.url}/v1")
    console.print("  Press Ctrl-C to stop. Each request is logged below.")
    gateway.access_log = True
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        gateway.access_log = False


def _next_steps(console: Console, sid: str, path: str, temporary: bool, keep: bool) -> None:
    console.print("[bold]Try next[/]")
    if temporary:
        console.print("  The log was a temporary database and is gone now.")
        console.print("  helicone-wrap demo --keep    keeps the gateway and shows the session's URL")
    else:
        db = "" if keep and path == default_gateway_db() else f" --db {path}"
        console.print(f"  The session is kept in {path}. To see it again:", soft_wrap=True)
        console.print(f"    helicone-wrap gateway{db}", soft_wrap=True)
        console.print(f"    helicone-wrap session {sid[:8]}")
        console.print(f"    open http://127.0.0.1:8787/sessions/{sid}")
    console.print("  Your own code, offline: run `helicone-wrap gateway`, then")
    console.print("    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline \\")
    console.print("    python examples/quickstart.py")
    console.print("  For real: set HELICONE_API_KEY and OPENAI_API_KEY, unset HELICONE_BASE_URL.")


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
