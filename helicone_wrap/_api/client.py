"""The Helicone REST API clients, ``HeliconeAPI`` and ``AsyncHeliconeAPI`` side by side.

They share every pure piece with the delivery worker through :mod:`.wire`; this module only sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._config import Target, is_cloud_host
from .._exceptions import HeliconeConfigError, HeliconeValidationError
from .._http import http
from .filters import FilterLike
from .rows import RequestRow, SessionCount, SessionRow
from .sessiontree import SessionTree, build_tree
from .wire import (
    MAX_LIMIT,
    TREE_CAP,
    USER_AGENT,
    ApiRequest,
    build_add_property,
    build_count,
    build_feedback,
    build_get,
    build_query,
    build_score,
    build_session_count,
    build_session_query,
    build_tree_page,
    connection_error,
    parse_response,
)

__all__ = ["AsyncHeliconeAPI", "HeliconeAPI"]


def _rows(data: Any) -> list[RequestRow]:
    return [RequestRow.from_api(item) for item in (data or []) if isinstance(item, Mapping)]


def _row(data: Any) -> RequestRow | None:
    return RequestRow.from_api(data) if isinstance(data, Mapping) and data else None


def _sessions(data: Any) -> list[SessionRow]:
    return [SessionRow.from_api(item) for item in (data or []) if isinstance(item, Mapping)]


def _count(data: Any) -> int:
    if isinstance(data, Mapping):
        data = data.get("count")
    try:
        return int(data)
    except (TypeError, ValueError):
        return 0


def _check_cap(max_requests: int) -> int:
    if isinstance(max_requests, bool) or not isinstance(max_requests, int) or max_requests < 1:
        raise HeliconeValidationError(f"max_requests must be a positive int, got {max_requests!r}.")
    return max_requests


# -- the clients ---------------------------------------------------------------------------------


class _Base:
    def __init__(self, api_key: str | None, base_url: str | None, timeout: float) -> None:
        target = Target.from_env(api_key, api_url=base_url)
        if target.api_key is None and is_cloud_host(target.api_url):
            raise HeliconeConfigError(
                f"the Helicone REST API at {target.api_url} needs a key: pass api_key=... or set HELICONE_API_KEY."
            )
        self.base_url = target.api_url
        self.timeout = timeout
        self._headers = {**target.auth_headers(), "User-Agent": USER_AGENT, "Accept": "application/json"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class HeliconeAPI(_Base):
    """The Helicone REST API, synchronously: ``requests`` and ``sessions``.

    Each setting is the argument, else the environment, else the default (README, "Configuration"):
    the key is ``api_key``, else ``HELICONE_API_KEY``; ``base_url`` (the REST root) is the argument,
    else ``HELICONE_API_URL``, else the origin of a non-cloud ``HELICONE_BASE_URL`` gateway, else
    ``https://api.helicone.ai`` (``https://eu.api.helicone.ai`` for ``-eu-`` keys).

    Usage::

        with HeliconeAPI() as api:
            slow = api.requests.query(filter=F.latency >= 1000, limit=20)
            print(api.sessions.tree(session_id).render())
    """

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 30.0, http_client: Any = None
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self._owns_client = http_client is None
        self._client: Any = http_client if http_client is not None else http.Client(timeout=timeout)
        self.requests = Requests(self)
        self.sessions = Sessions(self)

    def send(self, request: ApiRequest) -> Any:
        """Send one :class:`ApiRequest`; return the envelope's ``data`` or raise."""
        url = self.base_url + request.path
        try:
            response = self._client.request(
                request.method, url, json=request.body, params=request.params, headers=self._headers, timeout=self.timeout
            )
        except http.TransportError as exc:
            raise connection_error(exc, self.base_url) from exc
        return parse_response(response.status_code, response.headers, response.content)

    def close(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` you passed in)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HeliconeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHeliconeAPI(_Base):
    """The Helicone REST API for asyncio: the same calls as :class:`HeliconeAPI`, awaited.

    Usage::

        async with AsyncHeliconeAPI() as api:
            rows = await api.requests.query(filter=F.property("environment") == "prod")
    """

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 30.0, http_client: Any = None
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self._owns_client = http_client is None
        self._client: Any = http_client if http_client is not None else http.AsyncClient(timeout=timeout)
        self.requests = AsyncRequests(self)
        self.sessions = AsyncSessions(self)

    async def send(self, request: ApiRequest) -> Any:
        """Send one :class:`ApiRequest`; return the envelope's ``data`` or raise."""
        url = self.base_url + request.path
        try:
            response = await self._client.request(
                request.method, url, json=request.body, params=request.params, headers=self._headers, timeout=self.timeout
            )
        except http.TransportError as exc:
            raise connection_error(exc, self.base_url) from exc
        return parse_response(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        """Close the HTTP connections (not those of an ``http_client`` you passed in)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncHeliconeAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Requests:
    """``api.requests``: write to and read logged requests. Usage: ``api.requests.get(request_id)``"""

    def __init__(self, api: HeliconeAPI) -> None:
        self._api = api

    def add_property(self, request_id: str, key: str, value: object) -> None:
        """Set one property now (``PUT``); the key is lowercased as in ``enrich()``. Raises on failure."""
        self._api.send(build_add_property(request_id, key, value))

    def feedback(self, request_id: str, rating: bool) -> None:
        """Rate a request now (``True``/``False``). Raises on failure."""
        self._api.send(build_feedback(request_id, rating))

    def score(self, request_id: str, scores: Mapping[str, object]) -> None:
        """Attach ``{name: int | bool}`` scores now. Raises on failure."""
        self._api.send(build_score(request_id, scores))

    def get(self, request_id: str, include_body: bool = False) -> RequestRow | None:
        """One request, or None when Helicone has no such request (yet).

        Without ``include_body`` Helicone may answer from a ~24 h cache, so properties added since
        can be missing; ``include_body=True`` (or :meth:`query`) reads fresh data.
        """
        return _row(self._api.send(build_get(request_id, include_body)))

    def query(
        self, filter: FilterLike = None, limit: int = 100, offset: int = 0, sort: Mapping[str, Any] | str | None = None
    ) -> list[RequestRow]:
        """Requests matching ``filter`` (newest first unless ``sort`` says otherwise), at most 1000 per call."""
        return _rows(self._api.send(build_query(filter, limit, offset, sort)))

    def count(self, filter: FilterLike = None) -> int:
        """How many requests match ``filter``."""
        return _count(self._api.send(build_count(filter)))


class AsyncRequests:
    """``api.requests`` of :class:`AsyncHeliconeAPI`. Usage: ``await api.requests.get(request_id)``"""

    def __init__(self, api: AsyncHeliconeAPI) -> None:
        self._api = api

    async def add_property(self, request_id: str, key: str, value: object) -> None:
        """Set one property now (``PUT``); the key is lowercased as in ``enrich()``. Raises on failure."""
        await self._api.send(build_add_property(request_id, key, value))

    async def feedback(self, request_id: str, rating: bool) -> None:
        """Rate a request now (``True``/``False``). Raises on failure."""
        await self._api.send(build_feedback(request_id, rating))

    async def score(self, request_id: str, scores: Mapping[str, object]) -> None:
        """Attach ``{name: int | bool}`` scores now. Raises on failure."""
        await self._api.send(build_score(request_id, scores))

    async def get(self, request_id: str, include_body: bool = False) -> RequestRow | None:
        """One request, or None when Helicone has no such request (yet).

        Without ``include_body`` Helicone may answer from a ~24 h cache, so properties added since
        can be missing; ``include_body=True`` (or :meth:`query`) reads fresh data.
        """
        return _row(await self._api.send(build_get(request_id, include_body)))

    async def query(
        self, filter: FilterLike = None, limit: int = 100, offset: int = 0, sort: Mapping[str, Any] | str | None = None
    ) -> list[RequestRow]:
        """Requests matching ``filter`` (newest first unless ``sort`` says otherwise), at most 1000 per call."""
        return _rows(await self._api.send(build_query(filter, limit, offset, sort)))

    async def count(self, filter: FilterLike = None) -> int:
        """How many requests match ``filter``."""
        return _count(await self._api.send(build_count(filter)))


class Sessions:
    """``api.sessions``: list, count and draw sessions. Usage: ``api.sessions.query(name="Course Plan")``"""

    def __init__(self, api: HeliconeAPI) -> None:
        self._api = api

    def query(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        limit: int = 50,
        offset: int = 0,
        timezone_difference: int | None = None,
    ) -> list[SessionRow]:
        """Sessions in ``[start, end]`` (default: the last 30 days), newest first.

        ``search`` matches the id or name (case-insensitive substring), ``name`` the exact name.
        Naive datetimes are local time; ``timezone_difference`` defaults to this machine's offset.
        """
        request = build_session_query(search, start, end, name, filter, limit, offset, timezone_difference)
        return _sessions(self._api.send(request))

    def count(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        timezone_difference: int | None = None,
    ) -> SessionCount:
        """Count and cost/latency averages of the sessions :meth:`query` would list."""
        request = build_session_count(search, start, end, name, filter, timezone_difference)
        return SessionCount.from_api(self._api.send(request))

    def tree(self, session_id: str, *, max_requests: int = TREE_CAP) -> SessionTree:
        """The session's requests as a path tree, built client-side as Helicone's UI does.

        Fetches up to ``max_requests`` requests (pages of 1000); ``tree.truncated`` says if more exist.
        """
        cap = _check_cap(max_requests)
        rows: list[RequestRow] = []
        while len(rows) < cap:
            limit = min(MAX_LIMIT, cap - len(rows))
            page = _rows(self._api.send(build_tree_page(session_id, len(rows), limit)))
            rows.extend(page)
            if len(page) < limit:
                return build_tree(rows, session_id)
        return build_tree(rows, session_id, truncated=True)


class AsyncSessions:
    """``api.sessions`` of :class:`AsyncHeliconeAPI`. Usage: ``await api.sessions.tree(session_id)``"""

    def __init__(self, api: AsyncHeliconeAPI) -> None:
        self._api = api

    async def query(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        limit: int = 50,
        offset: int = 0,
        timezone_difference: int | None = None,
    ) -> list[SessionRow]:
        """Sessions in ``[start, end]`` (default: the last 30 days), newest first (see :meth:`Sessions.query`)."""
        request = build_session_query(search, start, end, name, filter, limit, offset, timezone_difference)
        return _sessions(await self._api.send(request))

    async def count(
        self,
        search: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str | None = None,
        filter: FilterLike = None,
        timezone_difference: int | None = None,
    ) -> SessionCount:
        """Count and cost/latency averages of the sessions :meth:`query` would list."""
        request = build_session_count(search, start, end, name, filter, timezone_difference)
        return SessionCount.from_api(await self._api.send(request))

    async def tree(self, session_id: str, *, max_requests: int = TREE_CAP) -> SessionTree:
        """The session's requests as a path tree (see :meth:`Sessions.tree`)."""
        cap = _check_cap(max_requests)
        rows: list[RequestRow] = []
        while len(rows) < cap:
            limit = min(MAX_LIMIT, cap - len(rows))
            page = _rows(await self._api.send(build_tree_page(session_id, len(rows), limit)))
            rows.extend(page)
            if len(page) < limit:
                return build_tree(rows, session_id)
        return build_tree(rows, session_id, truncated=True)
