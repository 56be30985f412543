"""The dashboard's pages: read-only GET handlers rendering Jinja templates.

Handlers are plain functions (Starlette runs them in its thread pool): each waits for the
store's queued log rows (read your own writes), reads through :class:`.queries.Reader`
and renders with autoescaping on, so every value from the log is shown as text. Pages
carry a Content-Security-Policy that allows only the one inline script (the live refresh)
by its hash.

Usage: ``Dashboard(store).routes()``
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from . import bodies, charts, formatting
from .queries import Reader
from .records import RequestFilter, RequestItem
from .timeline import path_tree, ticks, waterfall

__all__ = ["LIVE_SCRIPT", "STATIC_PREFIX", "Dashboard"]

_HERE = Path(__file__).parent
STATIC_PREFIX = "/_dashboard/static"
_STAMP = "/_dashboard/stamp"
PER_PAGE = 50

#: The live refresh: poll the stamp every 2 s; when it changed, fetch this page again and
#: swap its ``#live`` part in place (forms, scroll and open details outside it are kept;
#: nothing is swapped while text is selected or the tab is hidden).
LIVE_SCRIPT = (
    "(function(){var last=null,busy=false;async function tick(){"
    "if(busy||document.hidden)return;busy=true;try{"
    f"var s=await (await fetch('{_STAMP}',{{cache:'no-store'}})).text();"
    "if(last!==null&&s!==last&&!String(window.getSelection())){"
    "var html=await (await fetch(location.href,{cache:'no-store'})).text();"
    "var fresh=new DOMParser().parseFromString(html,'text/html').getElementById('live');"
    "var old=document.getElementById('live');if(fresh&&old){old.replaceWith(document.adoptNode(fresh));}}"
    "last=s;}catch(e){}busy=false;}setInterval(tick,2000);tick();})();"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(LIVE_SCRIPT.encode()).digest()).decode()
_CSP = (
    "default-src 'self'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": _CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

#: The overview's time ranges: name -> milliseconds back from now (None: everything).
RANGES: dict[str, int | None] = {
    "1h": 3_600_000,
    "24h": 86_400_000,
    "7d": 7 * 86_400_000,
    "30d": 30 * 86_400_000,
    "all": None,
}


class _Flushable(Protocol):
    path: str

    def flush(self, timeout: float | None = None) -> bool: ...


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(formatting.FILTERS)
    env.globals.update(
        static=STATIC_PREFIX,
        live_script=Markup(LIVE_SCRIPT),
        query=formatting.query,
    )
    return env


class _Pager:
    """Page links that keep the other query parameters."""

    def __init__(self, page: int, total: int, params: dict[str, str], path: str) -> None:
        self.page = page
        self.total = total
        self.pages = max(1, -(-total // PER_PAGE))
        self.first = (page - 1) * PER_PAGE + 1 if total else 0
        self.last = min(page * PER_PAGE, total)
        self._params = params
        self._path = path

    def url(self, page: int) -> str:
        return self._path + formatting.query({**self._params, "page": page if page > 1 else ""})

    @property
    def prev_url(self) -> str | None:
        return self.url(self.page - 1) if self.page > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(self.page + 1) if self.page < self.pages else None


def _label(start_ms: int, bucket_ms: int) -> str:
    """A bucket's start, as precise as its width needs (UTC)."""
    text = formatting.when(start_ms)  # YYYY-MM-DD HH:MM:SS.mmm
    if bucket_ms < 1000:
        return text[11:]
    if bucket_ms < 60_000:
        return text[11:19]
    if bucket_ms < 3_600_000:
        return text[11:16]
    return text[5:16] if bucket_ms < 86_400_000 else text[:10]


def _page_number(request: Request) -> tuple[int, str | None]:
    raw = request.query_params.get("page", "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        return 1, f"page {raw!r} is not a page number: use 1, 2, 3..."
    return int(raw), None


class Dashboard:
    """The dashboard over one gateway store.

    Usage: ``app = Starlette(routes=Dashboard(store).routes())``
    """

    def __init__(self, store: _Flushable) -> None:
        self.store = store
        self.reader = Reader(store.path)
        self.env = _environment()

    def routes(self) -> list[BaseRoute]:
        """The pages, the live-refresh stamp and the static files."""
        return [
            Route("/", self.overview, methods=["GET"]),
            Route("/requests", self.requests, methods=["GET"]),
            Route("/requests/{request_id}", self.request, methods=["GET"]),
            Route("/sessions", self.sessions, methods=["GET"]),
            Route("/sessions/{session_id:path}", self.session, methods=["GET"]),
            Route(_STAMP, self.stamp, methods=["GET"]),
            Mount(STATIC_PREFIX, StaticFiles(directory=str(_HERE / "static")), name="dashboard-static"),
        ]

    # ------------------------------------------------------------------ helpers
    def _render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    def _fresh(self) -> None:
        self.store.flush(2.0)

    # -------------------------------------------------------------------- pages
    def overview(self, request: Request) -> Response:
        """``/``: totals and charts of requests, cost and p50/p95 latency; the latest requests."""
        self._fresh()
        chosen = request.query_params.get("range", "all")
        problem = None
        if chosen not in RANGES:
            problem = f"range {chosen!r} is not one of {', '.join(RANGES)}"
            chosen = "all"
        now = int(time.time() * 1000)
        back = RANGES[chosen]
        data = self.reader.overview(None if back is None else now - back, now)
        labels = [_label(b.start, data.bucket_ms) for b in data.buckets]
        recent, _ = self.reader.requests(RequestFilter(), 10, 0)
        return self._render(
            "overview.html",
            status=400 if problem else 200,
            nav="overview",
            problem=problem,
            ranges=list(RANGES),
            chosen=chosen,
            data=data,
            bucket=formatting.duration(data.bucket_ms),
            requests_chart=charts.bar_chart(
                [b.requests for b in data.buckets], labels, lambda v: f"{v:g}", "requests"
            ),
            cost_chart=charts.bar_chart([b.cost for b in data.buckets], labels, formatting.usd, "cost"),
            latency_chart=charts.line_chart(
                [("p50", [b.p50 for b in data.buckets]), ("p95", [b.p95 for b in data.buckets])],
                labels,
                formatting.duration,
                "latency",
            ),
            recent=recent,
        )

    def requests(self, request: Request) -> Response:
        """``/requests``: the filterable, paged request table, newest first."""
        self._fresh()
        q = request.query_params
        where = RequestFilter(
            model=q.get("model", "").strip(),
            status=q.get("status", "").strip(),
            user=q.get("user", "").strip(),
            session=q.get("session", "").strip(),
            prop=q.get("property", "").strip(),
            value=q.get("value", "").strip(),
        )
        page, page_problem = _page_number(request)
        problem = where.problem() or page_problem
        items: list[RequestItem] = []
        total = 0
        if not where.problem():
            items, total = self.reader.requests(where, PER_PAGE, (page - 1) * PER_PAGE)
        return self._render(
            "requests.html",
            status=400 if problem else 200,
            nav="requests",
            problem=problem,
            where=where,
            models=self.reader.models(),
            items=items,
            pager=_Pager(page, total, where.params(), "/requests"),
        )

    def request(self, request: Request) -> Response:
        """``/requests/<id>``: bodies, Helicone headers, properties, feedback, scores, cache."""
        self._fresh()
        request_id = request.path_params["request_id"]
        item = self.reader.request(request_id)
        if item is None:
            return self._render("missing.html", status=404, nav="requests", what="request", key=request_id)
        feedback, scores = bodies.score_rows(item.scores)
        stream = bodies.reassemble(item.response_body)
        answer = stream.text if stream else bodies.answer_of(bodies.parse_json(item.response_body))
        return self._render(
            "request.html",
            nav="requests",
            item=item,
            headers=bodies.helicone_headers(item.request_id, item.user_id, item.all_properties),
            feedback=feedback,
            scores=scores,
            stream=stream,
            answer=answer,
            request_body=bodies.pretty(item.request_body),
            response_body=bodies.pretty(item.response_body),
        )

    def sessions(self, request: Request) -> Response:
        """``/sessions``: sessions by latest activity, searchable by name."""
        self._fresh()
        name = request.query_params.get("q", "").strip()
        page, problem = _page_number(request)
        items, total = self.reader.sessions(name, PER_PAGE, (page - 1) * PER_PAGE)
        return self._render(
            "sessions.html",
            status=400 if problem else 200,
            nav="sessions",
            problem=problem,
            name=name,
            items=items,
            pager=_Pager(page, total, {"q": name} if name else {}, "/sessions"),
        )

    def session(self, request: Request) -> Response:
        """``/sessions/<id>``: the path tree and the waterfall of one session."""
        self._fresh()
        session_id = request.path_params["session_id"]
        items, total = self.reader.session_requests(session_id)
        if not items:
            return self._render("missing.html", status=404, nav="sessions", what="session", key=session_id)
        bars, span = waterfall(items)
        merged: dict[str, str] = {}
        for item in items:
            merged.update(item.properties)
        return self._render(
            "session.html",
            nav="sessions",
            session_id=session_id,
            name=next((i.session_name for i in items if i.session_name), ""),
            items=items,
            total=total,
            tree=path_tree(items),
            bars=bars,
            span=span,
            ticks=ticks(span),
            cost=sum(i.cost for i in items),
            users=sorted({i.user_id for i in items if i.user_id}),
            properties=merged,
        )

    def stamp(self, request: Request) -> Response:
        """``/_dashboard/stamp``: a token that changes when the log changes (for live refresh)."""
        return PlainTextResponse(self.reader.stamp(), headers={"Cache-Control": "no-store"})
