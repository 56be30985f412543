"""Running the gateway: in a background thread (:class:`GatewayServer`) or blocking (:func:`serve`).

Both run uvicorn on the app from :func:`.app.build_app`. Shutdown is graceful either way:
in-flight calls finish, hanging fault-injected calls are released, the upstream client
closes and every queued log row is written before the store closes.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from .accesslog import AccessLog
from .app import build_app
from .faults import FaultInjector, FaultPlan
from .state import GatewayState
from .store import Store

__all__ = ["GatewayServer", "bind", "serve"]

logger = logging.getLogger("helicone_wrap.gateway")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_if_exposed(host: str, require_key: str | None) -> None:
    if not _is_loopback(host) and require_key is None:
        logger.warning(
            "The gateway is binding %s without --require-key: anyone who can reach this address "
            "can use it and read its logs.",
            host,
        )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when uvloop is installed (uvicorn picks it the same way)."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class _Server(uvicorn.Server):
    """uvicorn's server, releasing hanging requests as soon as shutdown starts."""

    def __init__(self, config: uvicorn.Config, state: GatewayState) -> None:
        super().__init__(config)
        self.gateway_state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.gateway_state.release is not None:
            self.gateway_state.release.set()
        await super().shutdown(sockets)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free one); raises ``OSError`` when taken.

    Usage: ``sock = bind("127.0.0.1", 8787); serve(sock=sock)``
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
    # for such sockets, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,
    )


class GatewayServer:
    """The local Helicone-compatible gateway, run by uvicorn in a background thread.

    ``db`` is a SQLite path or ``":memory:"`` (a temporary file deleted at stop);
    ``upstream`` is an OpenAI-compatible base URL, or None for the offline model;
    ``require_key`` demands ``Authorization``/``Helicone-Auth: Bearer <key>``;
    ``ingest_delay`` hides logged requests from the REST API for that many seconds;
    ``faults`` injects failures into the REST writes (settable at runtime);
    ``offline_ttft`` (seconds before the first token) and ``offline_chunk_delay`` (seconds per
    further token) pace the offline model; both default to 0, answering at once;
    ``access_log`` prints one line per request to stderr (see :mod:`.accesslog`).

    Usage::

        with GatewayServer() as gw:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local")
            client.chat.completions.create(model="gpt-4o-mini", messages=[...])
            gw.store.flush()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str = ":memory:",
        upstream: str | None = None,
        require_key: str | None = None,
        ingest_delay: float = 0.0,
        faults: FaultPlan | None = None,
        *,
        offline_chunk_delay: float = 0.0,
        offline_ttft: float = 0.0,
        access_log: bool = False,
        log_level: str = "warning",
    ) -> None:
        self.host = host
        self.port = port
        self.db = db
        self.upstream = upstream
        self.require_key = require_key
        self.ingest_delay = ingest_delay
        self.offline_chunk_delay = offline_chunk_delay
        self.offline_ttft = offline_ttft
        self.access_log = access_log
        self.log_level = log_level
        self._faults = FaultInjector(faults)
        self._store: Store | None = None
        self._state: GatewayState | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ public
    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321``; OpenAI base is ``url + "/v1"``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def store(self) -> Store:
        """The request log (available after :meth:`start`)."""
        if self._store is None:
            raise RuntimeError("GatewayServer.start() has not been called")
        return self._store

    @property
    def faults(self) -> FaultPlan:
        """The active :class:`FaultPlan`; assign a new one to change it at runtime.

        Usage: ``gw.faults = FaultPlan(rate_limit_rate=0.2, seed=1)``
        """
        return self._faults.plan

    @faults.setter
    def faults(self, plan: FaultPlan | None) -> None:
        self._faults = FaultInjector(plan)
        if self._state is not None:
            self._state.faults = self._faults

    def stats(self) -> dict[str, Any]:
        """Store counters (``rest_writes``, ``property_writes``, ``logged``...) plus ``faults``.

        Usage: ``assert gw.stats()["rest_writes"] == 100``
        """
        out: dict[str, Any] = dict(self.store.stats())
        out["faults"] = self._faults.counts()
        return out

    def start(self, timeout: float = 10.0) -> GatewayServer:
        """Start serving in a background thread; returns once connections are accepted.

        Usage: ``gw = GatewayServer().start()``
        """
        if self._thread is not None:
            raise RuntimeError("GatewayServer is already started")
        _warn_if_exposed(self.host, self.require_key)
        store = Store(self.db, ingest_delay=self.ingest_delay)
        try:
            sock = bind(self.host, self.port)
        except OSError:
            store.close()
            raise
        self.port = sock.getsockname()[1]
        self._store = store
        self._state = GatewayState(
            store=self._store,
            upstream=self.upstream,
            require_key=self.require_key,
            faults=self._faults,
            offline_chunk_delay=self.offline_chunk_delay,
            offline_ttft=self.offline_ttft,
        )
        app: Any = build_app(self._state)
        if self.access_log:  # switchable at runtime: AccessLog writes only while self.access_log
            app = AccessLog(app, write=self._access_line)
        config = _config(app, self.host, self.port, self.log_level)
        self._server = _Server(config, self._state)
        self._thread = threading.Thread(
            target=self._run, args=(self._server, sock), name="helicone-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self._cleanup_failed_start()
                raise RuntimeError(f"the gateway failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the gateway did not start within {timeout} s")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully: finish in-flight calls, release hangs, drain every log row.

        Usage: ``gw.stop()``
        """
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            loop, state = self._loop, self._state
            if loop is not None and state is not None and state.release is not None:
                try:
                    loop.call_soon_threadsafe(state.release.set)
                except RuntimeError:  # the loop already closed
                    pass
            server.should_exit = True
            thread.join(timeout)
        if self._store is not None:
            self._store.close()
        self._thread = None
        self._server = None

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- private
    def _access_line(self, line: str) -> None:
        if self.access_log:
            print(line, file=sys.stderr, flush=True)

    def _run(self, server: _Server, sock: socket.socket) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        try:
            factory = _loop_factory()
            if factory is not None and sys.version_info >= (3, 11):
                with asyncio.Runner(loop_factory=factory) as runner:
                    runner.run(main())
            else:
                asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            sock.close()

    def _cleanup_failed_start(self) -> None:
        if self._store is not None:
            self._store.close()
        self._thread = None
        self._server = None


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    db: str = ":memory:",
    upstream: str | None = None,
    require_key: str | None = None,
    ingest_delay: float = 0.0,
    *,
    log_level: str = "info",
    offline_ttft: float = 0.0,
    offline_chunk_delay: float = 0.0,
    access_log: bool = False,
    sock: socket.socket | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM, then shut down gracefully.

    Every queued log row is written before this returns (uvicorn then re-raises the
    signal, so Ctrl-C surfaces as ``KeyboardInterrupt`` after the drain). ``access_log``
    prints one line per request to stderr (see :mod:`.accesslog`); ``sock`` is a socket
    from :func:`bind` to serve on instead of binding ``host:port`` here.

    Usage: ``serve(port=8787, db="gateway.db")``
    """
    _warn_if_exposed(host, require_key)
    store = Store(db, ingest_delay=ingest_delay)
    state = GatewayState(
        store=store, upstream=upstream, require_key=require_key,
        offline_ttft=offline_ttft, offline_chunk_delay=offline_chunk_delay,
    )
    app: Any = build_app(state)
    if access_log:
        app = AccessLog(app)
    server = _Server(_config(app, host, port, log_level), state)
    try:
        server.run(sockets=None if sock is None else [sock])
    finally:
        store.close()
        if sock is not None:
            sock.close()
