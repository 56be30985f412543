"""The gateway's request log: SQLite in WAL mode, written behind the proxied calls.

One background writer thread owns the only write connection. Everything that changes
the database goes through its queue, in order:

* proxied calls enqueue a :class:`LogRow` and move on; they never wait for SQLite;
* REST writes (property, feedback, score) enqueue an operation with a future and await
  its answer, so "Request not found" is decided after every earlier log row landed;
* the writer drains the queue in batches, one transaction per batch.

Reads use one connection per thread (WAL lets them run beside the writer). The schema
is versioned with ``PRAGMA user_version`` and the :data:`MIGRATIONS` list.

The package: :mod:`.schema` (connections, migrations), :mod:`.rows` (:class:`LogRow` in,
HeliconeRequest dicts out), :mod:`.writer` (the writer thread) and :mod:`.sessions` (session
queries); :class:`Store` here ties them together.

``:memory:`` is served by a temporary file that :meth:`Store.close` deletes, because WAL
and a separate writer thread both need a real file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
from typing import Any

from ..sql import Compiled
from .cache import CacheEntry, ResponseCache
from .rows import REQUEST_FIELDS, LogRow, heliconerequest, iso_ms, now_ms
from .schema import MIGRATIONS, connect, migrate
from .sessions import count_sessions, query_sessions
from .writer import Writer

__all__ = ["MIGRATIONS", "CacheEntry", "LogRow", "Store", "iso_ms", "now_ms"]


class Store:
    """The SQLite request log with a write-behind writer thread.

    Usage::

        store = Store(":memory:")
        store.log(row)                      # never blocks
        store.wait_for(row.request_id, 5)   # -> HeliconeRequest dict
        store.close()                       # drains the queue
    """

    def __init__(
        self, path: str = ":memory:", ingest_delay: float = 0.0, batch_size: int = 1000, linger: float = 0.02
    ) -> None:
        self._temporary = path == ":memory:" or path == ""
        if self._temporary:
            fd, path = tempfile.mkstemp(prefix="helicone-gateway-", suffix=".db")
            os.close(fd)
        self.path = path
        #: Seconds a logged request stays invisible to the REST API (Helicone's ingestion lag).
        self.ingest_delay = float(ingest_delay)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        writer = connect(self.path)
        try:
            migrate(writer)
        except BaseException:
            writer.close()
            if self._temporary:
                os.remove(self.path)
            raise
        self._writer = Writer(writer, lambda: self._visible_before(True), batch_size, linger)
        self._cache = ResponseCache(self._reader)

    # ---------------------------------------------------------------- connections
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the gateway store is closed")
            conn = connect(self.path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @property
    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        return int(self._reader().execute("PRAGMA user_version").fetchone()[0])

    # -------------------------------------------------------------------- writing
    def log(self, row: LogRow) -> None:
        """Queue a proxied call for writing; returns at once.

        Usage: ``store.log(row)``
        """
        if not row.logged_at:
            row.logged_at = now_ms()
        self._writer.put(("log", row))

    def cache_get(self, key: str) -> CacheEntry | None:
        """The live cache entry under ``key`` (this process's recent saves, then SQLite).

        Usage: ``entry = store.cache_get(key)``
        """
        return self._cache.get(key, now_ms())

    def cache_put(self, key: str, entry: CacheEntry) -> None:
        """Save a cache entry: visible at once, written behind like log rows.

        Usage: ``store.cache_put(key, entry)``
        """
        self._cache.remember(key, entry)
        self._writer.put(("cache", key, entry))

    async def add_property(self, request_id: str, key: str, value: str) -> bool:
        """Set one property on a visible request; False when it is not (yet) visible.

        Usage: ``found = await store.add_property(rid, "Environment", "prod")``
        """
        return await self._submit("property", request_id.lower(), (key, value))

    async def add_scores(self, request_id: str, scores: dict[str, int], *, feedback: bool = False) -> bool:
        """Merge integer scores into a visible request; False when it is not (yet) visible.

        Usage: ``found = await store.add_scores(rid, {"accuracy": 90})``
        """
        return await self._submit("feedback" if feedback else "score", request_id.lower(), scores)

    async def _submit(self, kind: str, request_id: str, payload: object) -> bool:
        if self._closed:
            raise RuntimeError("the gateway store is closed")
        return await self._writer.submit(kind, request_id, payload)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed; False on timeout.

        Usage: ``assert store.flush(5)``
        """
        if self._closed:
            return True
        return self._writer.flush(timeout)

    async def aflush(self) -> None:
        """Async :meth:`flush`: wait until everything queued so far is committed.

        Usage: ``await store.aflush()``
        """
        if self._closed:
            return
        await self._writer.aflush()

    def close(self, timeout: float | None = 30.0) -> None:
        """Drain the queue, stop the writer, close connections; idempotent.

        Usage: ``store.close()``
        """
        if self._closed:
            return
        self._writer.stop(timeout)
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self._temporary:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.remove(self.path + suffix)

    def stats(self) -> dict[str, int]:
        """Counters: rows ``logged``, successful ``property_writes``/``feedback_writes``/
        ``score_writes``, their sum ``rest_writes``, writes answered ``not_found`` and the
        ``pending`` queue length.

        Usage: ``store.stats()["rest_writes"]``
        """
        out = dict(self._writer.counters)
        out["rest_writes"] = out["property_writes"] + out["feedback_writes"] + out["score_writes"]
        out["pending"] = self._writer.pending()
        return out

    # -------------------------------------------------------------------- reading
    def _visible_before(self, visible_only: bool) -> int:
        if not visible_only:
            return 2**62
        return now_ms() - int(self.ingest_delay * 1000)

    def get_request(
        self, request_id: str, include_body: bool = False, visible_only: bool = False, fresh: bool = True
    ) -> dict[str, Any] | None:
        """One request as a Helicone ``HeliconeRequest`` dict, or None.

        ``visible_only`` hides rows still inside the ingest delay (what the REST API sees);
        ``fresh`` first waits for everything already queued (read your own writes).

        Usage: ``row = store.get_request(rid, include_body=True)``
        """
        if fresh:
            self.flush(10.0)
        body_columns = ", r.request_body, r.response_body" if include_body else ""
        cursor = self._reader().execute(
            f"SELECT {REQUEST_FIELDS}{body_columns} FROM requests AS r "
            "WHERE r.request_id = ? AND r.logged_at <= ?",
            (request_id.lower(), self._visible_before(visible_only)),
        )
        row = cursor.fetchone()
        return None if row is None else heliconerequest(row, include_body)

    def wait_for(self, request_id: str, timeout: float = 5.0) -> dict[str, Any] | None:
        """Wait until a request's log row is written; its dict, or None after ``timeout``.

        Usage: ``row = gw.store.wait_for(rid, 5)``
        """
        deadline = time.monotonic() + timeout
        while True:
            self.flush(max(0.0, deadline - time.monotonic()))
            row = self.get_request(request_id, fresh=False)
            if row is not None or time.monotonic() >= deadline:
                return row
            time.sleep(0.01)

    def count_requests(
        self, where: Compiled | None = None, visible_only: bool = False, fresh: bool = True
    ) -> int:
        """How many requests match ``where`` (all of them by default).

        ``fresh`` first waits for everything already queued (read your own writes).

        Usage: ``store.count_requests()``
        """
        if fresh:
            self.flush(10.0)
        where = where or Compiled("1", ())
        cursor = self._reader().execute(
            f"SELECT count(*) FROM requests AS r WHERE r.logged_at <= ? AND ({where.sql})",
            (self._visible_before(visible_only), *where.params),
        )
        return int(cursor.fetchone()[0])

    def query_requests(
        self,
        where: Compiled,
        order: Compiled,
        limit: int,
        offset: int,
        include_body: bool = False,
        visible_only: bool = True,
    ) -> list[dict[str, Any]]:
        """Requests matching ``where``, ordered by ``order``, as HeliconeRequest dicts.

        Usage: ``store.query_requests(compile_filter("all"), compile_sort(None), 10, 0)``
        """
        body_columns = ", r.request_body, r.response_body" if include_body else ""
        cursor = self._reader().execute(
            f"SELECT {REQUEST_FIELDS}{body_columns} FROM requests AS r "
            f"WHERE r.logged_at <= ? AND ({where.sql}) "
            f"ORDER BY {order.sql}, r.created_at DESC, r.request_id LIMIT ? OFFSET ?",
            (self._visible_before(visible_only), *where.params, *order.params, limit, offset),
        )
        return [heliconerequest(row, include_body) for row in cursor.fetchall()]

    def query_sessions(
        self, where: Compiled, having: Compiled, limit: int, offset: int, timezone_minutes: int = 0
    ) -> list[dict[str, Any]]:
        """Session rows grouped by (session id, name), newest first, as Helicone returns them.

        Usage: ``store.query_sessions(where, having, 50, 0)``
        """
        return query_sessions(
            self._reader(), where, having, limit, offset, self._visible_before(True), timezone_minutes
        )

    def count_sessions(self, where: Compiled, having: Compiled) -> dict[str, float | int]:
        """``{count, total_cost, avg_cost, avg_latency, avg_requests}`` over matching sessions.

        Usage: ``store.count_sessions(where, having)["count"]``
        """
        return count_sessions(self._reader(), where, having, self._visible_before(True))
