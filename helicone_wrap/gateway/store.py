"""The gateway's request log: SQLite in WAL mode, written behind the proxied calls.

One background writer thread owns the only write connection. Everything that changes
the database goes through its queue, in order:

* proxied calls enqueue a :class:`LogRow` and move on; they never wait for SQLite;
* REST writes (property, feedback, score) enqueue an operation with a future and await
  its answer, so "Request not found" is decided after every earlier log row landed;
* the writer drains the queue in batches, one transaction per batch.

Reads use one connection per thread (WAL lets them run beside the writer). The schema
is versioned with ``PRAGMA user_version`` and the :data:`MIGRATIONS` list.

``:memory:`` is served by a temporary file that :meth:`Store.close` deletes, because WAL
and a separate writer thread both need a real file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import queue
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .sql import Compiled, sql_ilike, sql_like

__all__ = ["MIGRATIONS", "LogRow", "Store", "iso_ms", "now_ms"]

logger = logging.getLogger("helicone_wrap.gateway")

#: Schema migrations; entry ``i`` moves the database from version ``i`` to ``i + 1``.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """
        CREATE TABLE requests (
            request_id TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL,
            response_created_at INTEGER,
            logged_at INTEGER NOT NULL,
            path TEXT NOT NULL,
            method TEXT NOT NULL,
            status INTEGER NOT NULL,
            request_model TEXT,
            model TEXT,
            provider TEXT NOT NULL,
            target_url TEXT,
            latency_ms INTEGER NOT NULL DEFAULT 0,
            ttft_ms INTEGER,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            total_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            user_id TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            scores TEXT NOT NULL DEFAULT '{}',
            request_body TEXT,
            response_body TEXT,
            cache_reference_id TEXT
        )
        """,
        "CREATE INDEX requests_created_at ON requests (created_at)",
        """
        CREATE INDEX requests_session ON requests (
            json_extract(properties, '$."Helicone-Session-Id"'),
            json_extract(properties, '$."Helicone-Session-Name"')
        )
        """,
    ),
]

_SESSION_ID = """json_extract(r.properties, '$."Helicone-Session-Id"')"""
_SESSION_NAME = """json_extract(r.properties, '$."Helicone-Session-Name"')"""

_LOG_COLUMNS = (
    "request_id, created_at, response_created_at, logged_at, path, method, status, request_model, "
    "model, provider, target_url, latency_ms, ttft_ms, prompt_tokens, completion_tokens, "
    "total_tokens, cost, user_id, properties, request_body, response_body"
)
_INSERT_LOG = f"""
    INSERT INTO requests ({_LOG_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (request_id) DO UPDATE SET
        created_at = excluded.created_at,
        response_created_at = excluded.response_created_at,
        logged_at = excluded.logged_at,
        path = excluded.path,
        method = excluded.method,
        status = excluded.status,
        request_model = excluded.request_model,
        model = excluded.model,
        provider = excluded.provider,
        target_url = excluded.target_url,
        latency_ms = excluded.latency_ms,
        ttft_ms = excluded.ttft_ms,
        prompt_tokens = excluded.prompt_tokens,
        completion_tokens = excluded.completion_tokens,
        total_tokens = excluded.total_tokens,
        cost = excluded.cost,
        user_id = excluded.user_id,
        properties = json_patch(requests.properties, excluded.properties),
        request_body = excluded.request_body,
        response_body = excluded.response_body
"""

_REQUEST_FIELDS = (
    "r.request_id, r.created_at, r.response_created_at, r.path, r.status, r.request_model, r.model, "
    "r.provider, r.target_url, r.latency_ms, r.ttft_ms, r.prompt_tokens, r.completion_tokens, "
    "r.total_tokens, r.cost, r.user_id, r.properties, r.scores, r.cache_reference_id"
)


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch.

    Usage: ``created_at = now_ms()``
    """
    return time.time_ns() // 1_000_000


def iso_ms(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z`` for epoch milliseconds (None stays None).

    Usage: ``iso_ms(0) == "1970-01-01T00:00:00.000Z"``
    """
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass
class LogRow:
    """One proxied call, as the proxy hands it to the write-behind queue.

    Usage: ``store.log(LogRow(request_id=rid, created_at=now_ms(), path="/v1/chat/completions", ...))``
    """

    request_id: str
    created_at: int
    path: str
    method: str = "POST"
    status: int = 200
    response_created_at: int | None = None
    request_model: str | None = None
    model: str | None = None
    provider: str = "OPENAI"
    target_url: str | None = None
    latency_ms: int = 0
    ttft_ms: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    user_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    response_body: str | None = None
    logged_at: int = 0


class _Stop:
    """The writer's stop sentinel."""


_STOP = _Stop()

# Queue items: ("log", LogRow) | ("property"|"feedback"|"score", id, payload, future) | ("barrier", future)
_Op = tuple[Any, ...]


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
        self._batch_size = batch_size
        self._linger = linger
        self._wake = threading.Event()
        self._queue: queue.SimpleQueue[_Op | _Stop] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._counters: dict[str, int] = {
            "logged": 0,
            "property_writes": 0,
            "feedback_writes": 0,
            "score_writes": 0,
            "not_found": 0,
        }
        writer = self._connect()
        try:
            self._migrate(writer)
        except BaseException:
            writer.close()
            if self._temporary:
                os.remove(self.path)
            raise
        self._writer = threading.Thread(
            target=self._run_writer, args=(writer,), name="helicone-gateway-writer", daemon=True
        )
        self._writer.start()

    # ---------------------------------------------------------------- connections
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.create_function("hw_like", 2, sql_like, deterministic=True)
        conn.create_function("hw_ilike", 2, sql_ilike, deterministic=True)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the gateway store is closed")
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema version {version} is newer than this gateway supports ({len(MIGRATIONS)})"
            )
        for target in range(version + 1, len(MIGRATIONS) + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(target)}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

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
        self._queue.put(("log", row))

    async def add_property(self, request_id: str, key: str, value: str) -> bool:
        """Set one property on a visible request; False when it is not (yet) visible.

        Usage: ``found = await store.add_property(rid, "Environment", "prod")``
        """
        return await self._submit("property", request_id, (key, value))

    async def add_scores(self, request_id: str, scores: dict[str, int], *, feedback: bool = False) -> bool:
        """Merge integer scores into a visible request; False when it is not (yet) visible.

        Usage: ``found = await store.add_scores(rid, {"accuracy": 90})``
        """
        return await self._submit("feedback" if feedback else "score", request_id, scores)

    async def _submit(self, kind: str, request_id: str, payload: object) -> bool:
        if self._closed:
            raise RuntimeError("the gateway store is closed")
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._put_urgent((kind, request_id, payload, future))
        return await asyncio.wrap_future(future)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed; False on timeout.

        Usage: ``assert store.flush(5)``
        """
        if self._closed or not self._writer.is_alive():
            return True
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._put_urgent(("barrier", future))
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    async def aflush(self) -> None:
        """Async :meth:`flush`: wait until everything queued so far is committed.

        Usage: ``await store.aflush()``
        """
        if self._closed or not self._writer.is_alive():
            return
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._put_urgent(("barrier", future))
        await asyncio.wrap_future(future)

    def close(self, timeout: float | None = 30.0) -> None:
        """Drain the queue, stop the writer, close connections; idempotent.

        Usage: ``store.close()``
        """
        if self._closed:
            return
        self._put_urgent(_STOP)
        self._writer.join(timeout)
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
        out = dict(self._counters)
        out["rest_writes"] = out["property_writes"] + out["feedback_writes"] + out["score_writes"]
        out["pending"] = self._queue.qsize()
        return out

    # ------------------------------------------------------------- writer thread
    def _put_urgent(self, op: _Op | _Stop) -> None:
        """Queue ``op`` and wake the writer now (log rows alone may wait ``linger``)."""
        self._queue.put(op)
        self._wake.set()

    def _run_writer(self, conn: sqlite3.Connection) -> None:
        """Write batches until stopped, then drain what is left.

        Log rows linger up to ``linger`` seconds so that a busy gateway writes one
        transaction per tick instead of one per call, and the writer thread competes for
        the GIL with the event loop a few dozen times a second rather than per request.
        """
        stopping = False
        try:
            while True:
                if stopping:
                    try:
                        first = self._queue.get_nowait()
                    except queue.Empty:
                        return
                else:
                    first = self._queue.get()
                    if not self._wake.is_set():
                        self._wake.wait(self._linger)
                    self._wake.clear()
                batch = [first]
                while len(batch) < self._batch_size:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stopping = self._write_batch(conn, batch) or stopping
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_Op | _Stop]) -> bool:
        stop = False
        answers: list[tuple[concurrent.futures.Future[bool], bool | BaseException]] = []
        counts: dict[str, int] = {}
        visible_before = now_ms() - int(self.ingest_delay * 1000)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in batch:
                if isinstance(op, _Stop):
                    stop = True
                    continue
                kind = op[0]
                if kind == "log":
                    try:
                        self._insert_log(conn, op[1])
                        counts["logged"] = counts.get("logged", 0) + 1
                    except (sqlite3.Error, ValueError, TypeError) as exc:
                        logger.error("could not log request %s: %s", op[1].request_id, exc)
                elif kind == "barrier":
                    answers.append((op[1], True))
                else:
                    _, request_id, payload, future = op
                    try:
                        found = self._apply_write(conn, kind, request_id, payload, visible_before)
                    except (sqlite3.Error, ValueError, TypeError) as exc:
                        answers.append((future, exc))
                        continue
                    counter = f"{kind}_writes" if found else "not_found"
                    counts[counter] = counts.get(counter, 0) + 1
                    answers.append((future, found))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            logger.error("write-behind batch failed: %s", exc)
            answers = [(f, exc if not isinstance(a, BaseException) else a) for f, a in answers]
            counts = {}
        for name, n in counts.items():
            self._counters[name] = self._counters.get(name, 0) + n
        for future, answer in answers:
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)
        return stop

    @staticmethod
    def _insert_log(conn: sqlite3.Connection, row: LogRow) -> None:
        conn.execute(
            _INSERT_LOG,
            (
                row.request_id,
                row.created_at,
                row.response_created_at,
                row.logged_at,
                row.path,
                row.method,
                row.status,
                row.request_model,
                row.model,
                row.provider,
                row.target_url,
                row.latency_ms,
                row.ttft_ms,
                row.prompt_tokens,
                row.completion_tokens,
                row.total_tokens,
                row.cost,
                row.user_id,
                json.dumps(row.properties, ensure_ascii=False),
                row.request_body,
                row.response_body,
            ),
        )

    @staticmethod
    def _apply_write(
        conn: sqlite3.Connection, kind: str, request_id: str, payload: Any, visible_before: int
    ) -> bool:
        column = "properties" if kind == "property" else "scores"
        found = conn.execute(
            f"SELECT {column} FROM requests WHERE request_id = ? AND logged_at <= ?",
            (request_id, visible_before),
        ).fetchone()
        if found is None:
            return False
        current = json.loads(found[0])
        if kind == "property":
            key, value = payload
            current[key] = value
        else:
            current.update(payload)
        conn.execute(
            f"UPDATE requests SET {column} = ? WHERE request_id = ?",
            (json.dumps(current, ensure_ascii=False), request_id),
        )
        return True

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
            f"SELECT {_REQUEST_FIELDS}{body_columns} FROM requests AS r "
            "WHERE r.request_id = ? AND r.logged_at <= ?",
            (request_id, self._visible_before(visible_only)),
        )
        row = cursor.fetchone()
        return None if row is None else _heliconerequest(row, include_body)

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
            f"SELECT {_REQUEST_FIELDS}{body_columns} FROM requests AS r "
            f"WHERE r.logged_at <= ? AND ({where.sql}) "
            f"ORDER BY {order.sql}, r.created_at DESC, r.request_id LIMIT ? OFFSET ?",
            (self._visible_before(visible_only), *where.params, *order.params, limit, offset),
        )
        return [_heliconerequest(row, include_body) for row in cursor.fetchall()]

    def _sessions_sql(self, where: Compiled, having: Compiled) -> tuple[str, tuple[Any, ...]]:
        sql = f"""
            SELECT * FROM (
                SELECT
                    {_SESSION_ID} AS session_id,
                    COALESCE({_SESSION_NAME}, '') AS session_name,
                    min(r.created_at) AS created_at,
                    max(r.created_at) AS latest_request_created_at,
                    COALESCE(sum(r.cost), 0) AS total_cost,
                    count(*) AS total_requests,
                    COALESCE(sum(r.prompt_tokens), 0) AS prompt_tokens,
                    COALESCE(sum(r.completion_tokens), 0) AS completion_tokens,
                    COALESCE(sum(r.prompt_tokens), 0) + COALESCE(sum(r.completion_tokens), 0) AS total_tokens,
                    COALESCE(avg(r.latency_ms), 0) AS avg_latency,
                    json_group_array(DISTINCT r.user_id) AS user_ids
                FROM requests AS r
                WHERE {_SESSION_ID} IS NOT NULL AND r.logged_at <= ? AND ({where.sql})
                GROUP BY 1, 2
            ) AS s
            WHERE ({having.sql})
        """
        return sql, (self._visible_before(True), *where.params, *having.params)

    def query_sessions(
        self, where: Compiled, having: Compiled, limit: int, offset: int, timezone_minutes: int = 0
    ) -> list[dict[str, Any]]:
        """Session rows grouped by (session id, name), newest first, as Helicone returns them.

        Usage: ``store.query_sessions(where, having, 50, 0)``
        """
        shift = int(timezone_minutes) * 60_000
        sql, params = self._sessions_sql(where, having)
        cursor = self._reader().execute(
            f"{sql} ORDER BY s.created_at DESC, s.session_id LIMIT ? OFFSET ?", (*params, limit, offset)
        )
        rows = cursor.fetchall()
        return [
            {
                "session_id": row[0],
                "session_name": row[1],
                "created_at": iso_ms(row[2] + shift),
                "latest_request_created_at": iso_ms(row[3] + shift),
                "total_cost": float(row[4]),
                "total_requests": int(row[5]),
                "prompt_tokens": int(row[6]),
                "completion_tokens": int(row[7]),
                "total_tokens": int(row[8]),
                "avg_latency": float(row[9]),
                "user_ids": sorted(u for u in json.loads(row[10]) if u),
            }
            for row in rows
        ]

    def count_sessions(self, where: Compiled, having: Compiled) -> dict[str, float | int]:
        """``{count, total_cost, avg_cost, avg_latency, avg_requests}`` over matching sessions.

        Usage: ``store.count_sessions(where, having)["count"]``
        """
        sql, params = self._sessions_sql(where, having)
        row = (
            self._reader()
            .execute(
                "SELECT count(*), COALESCE(sum(s.total_cost), 0), COALESCE(avg(s.avg_latency), 0), "
                f"COALESCE(avg(s.total_requests), 0) FROM ({sql}) AS s",
                params,
            )
            .fetchone()
        )
        count = int(row[0])
        total_cost = float(row[1])
        return {
            "count": count,
            "total_cost": total_cost,
            "avg_cost": total_cost / count if count else 0.0,
            "avg_latency": float(row[2]),
            "avg_requests": float(row[3]),
        }


def _heliconerequest(row: tuple[Any, ...], include_body: bool) -> dict[str, Any]:
    properties = json.loads(row[16])
    scores = json.loads(row[17])
    request_body: Any = None
    response_body: Any = None
    if include_body:
        request_body = _maybe_json(row[19])
        response_body = _maybe_json(row[20])
    return {
        "request_id": row[0],
        "request_created_at": iso_ms(row[1]),
        "request_path": row[3],
        "request_user_id": row[15],
        "request_model": row[5],
        "response_model": row[6],
        "model": row[6] or row[5],
        "provider": row[7],
        "target_url": row[8],
        "response_status": row[4],
        "response_created_at": iso_ms(row[2]),
        "delay_ms": row[9],
        "time_to_first_token": row[10],
        "prompt_tokens": row[11],
        "completion_tokens": row[12],
        "total_tokens": row[13],
        "cost": row[14],
        "properties": properties,
        "request_properties": dict(properties),
        "scores": scores,
        "cache_reference_id": row[18],
        "request_body": request_body,
        "response_body": response_body,
    }


def _maybe_json(text: str | None) -> Any:
    """A stored body: parsed JSON when it is JSON, else the text (e.g. an SSE stream)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
