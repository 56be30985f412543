"""The gateway's Starlette application: every route, and the lifespan that owns resources.

Route map:

* REST (``Authorization: Bearer``): ``/v1/request/...`` and ``/v1/session/...``;
* OpenAI proxy (``Helicone-Auth: Bearer``): ``/v1/chat/completions``, ``/v1/completions``,
  ``/v1/embeddings``, ``/v1/responses``, ``/v1/models[/{id}]``, Azure-style
  ``/openai/deployments/{deployment}/...``, and any other ``/v1/...`` path (forwarded
  upstream; 404 offline);
* async logs (``Helicone-Auth: Bearer``): ``/oai/v1/log``, ``/custom/v1/log`` (:mod:`.asynclog`);
* ``/healthz`` for readiness checks;
* the dashboard (:mod:`.dashboard`): ``/``, ``/requests[/{id}]``, ``/sessions[/{id}]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .asgi import json_bytes
from .asynclog import AsyncLogEndpoint
from .dashboard import dashboard_routes
from .proxy import ProxyEndpoint
from .rest import RestApi
from .state import GatewayState
from .upstream import UpstreamPool

__all__ = ["build_app"]

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _routes(state: GatewayState) -> list[Route]:
    rest = RestApi(state)

    def proxy(kind: str) -> ProxyEndpoint:
        return ProxyEndpoint(state, kind)

    routes = [
        Route("/healthz", _health, methods=["GET"]),
        Route("/v1/request/query-clickhouse", rest.query_requests, methods=["POST"]),
        Route("/v1/request/count/query", rest.count_requests, methods=["POST"]),
        Route("/v1/request/{request_id}/property", rest.put_property, methods=["PUT"]),
        Route("/v1/request/{request_id}/feedback", rest.post_feedback, methods=["POST"]),
        Route("/v1/request/{request_id}/score", rest.post_score, methods=["POST"]),
        Route("/v1/request/{request_id}", rest.get_request, methods=["GET"]),
        Route("/v1/session/query", rest.query_sessions, methods=["POST"]),
        Route("/v1/session/count", rest.count_sessions, methods=["POST"]),
        Route("/oai/v1/log", AsyncLogEndpoint(state, "OPENAI"), methods=["POST"]),  # async logging
        Route("/custom/v1/log", AsyncLogEndpoint(state, "CUSTOM"), methods=["POST"]),
        Route("/v1/chat/completions", proxy("chat"), methods=["POST"]),
        Route("/v1/completions", proxy("completions"), methods=["POST"]),
        Route("/v1/embeddings", proxy("embeddings"), methods=["POST"]),
        Route("/v1/responses", proxy("responses"), methods=["POST"]),
        Route("/v1/models", proxy("models"), methods=["GET"]),
        Route("/v1/models/{model:path}", proxy("model"), methods=["GET"]),
    ]
    azure = "/openai/deployments/{deployment}"
    routes += [
        Route(f"{azure}/chat/completions", proxy("chat"), methods=["POST"]),
        Route(f"{azure}/completions", proxy("completions"), methods=["POST"]),
        Route(f"{azure}/embeddings", proxy("embeddings"), methods=["POST"]),
        Route(f"{azure}/responses", proxy("responses"), methods=["POST"]),
        Route("/openai/responses", proxy("responses"), methods=["POST"]),
        Route("/openai/models", proxy("models"), methods=["GET"]),
        Route("/v1/{rest:path}", proxy("passthrough"), methods=_ALL_METHODS),
    ]
    return routes


async def _health(request: Request) -> Response:
    return Response(json_bytes({"status": "ok"}), media_type="application/json")


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Helicone's shape for an uncaught error: ``500 {"message", "details"}``."""
    body = {"message": "Internal server error", "details": f"{type(exc).__name__}: {exc}"}
    return Response(json_bytes(body), status_code=500, media_type="application/json")


def build_app(state: GatewayState) -> Starlette:
    """The ASGI app serving one gateway.

    Its lifespan creates the shared upstream client (keep-alive, no per-call setup) and
    ``state.release``; at shutdown it releases hanging requests, closes the client and
    drains the store.

    Usage: ``uvicorn.run(build_app(GatewayState(store=Store(":memory:"))))``
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.release = asyncio.Event()
        if state.upstream is not None:
            state.client = UpstreamPool()
        try:
            yield
        finally:
            state.release.set()
            if state.client is not None:
                await state.client.aclose()
                state.client = None
            await asyncio.to_thread(state.store.close)

    return Starlette(
        routes=[*_routes(state), *dashboard_routes(state.store)],
        lifespan=lifespan,
        exception_handlers={Exception: _internal_error},
    )
