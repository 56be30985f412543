"""The gateway's web dashboard: overview, requests, request detail, sessions, session waterfall.

Server-rendered HTML (Jinja2, autoescaped) and inline SVG, one small CSS file, no CDN and
no JavaScript build: it works offline. It only reads the log. Pages live next to the API
paths: ``/``, ``/requests``, ``/requests/<id>``, ``/sessions``, ``/sessions/<id>``; static
files under ``/_dashboard/static``.

Modules: :mod:`.queries` (read-only SQL), :mod:`.records` (row types), :mod:`.bodies`, :mod:`.timeline`,
:mod:`.charts` and :mod:`.formatting` (pure), :mod:`.routes` (handlers).

Usage: ``routes += dashboard_routes(state.store)``
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["dashboard_routes"]


def dashboard_routes(store: Any) -> list[BaseRoute]:
    """The dashboard's routes over ``store`` (a :class:`~helicone_wrap.gateway.Store`).

    Without Jinja2 installed the gateway still serves its API; ``/`` then says how to get
    the dashboard.

    Usage: ``Starlette(routes=[*api_routes, *dashboard_routes(store)])``
    """
    try:
        from .routes import Dashboard
    except ImportError as exc:
        message = f"The dashboard needs Jinja2: pip install 'helicone-wrap[gateway]' ({exc})\n"

        async def missing(request: Request) -> Response:
            return PlainTextResponse(message, status_code=503)

        return [Route("/", missing, methods=["GET"])]
    return Dashboard(store).routes()
