"""The write-behind writer: one thread owns the only write connection and drains one queue.

Proxied calls queue a :class:`~.rows.LogRow` and move on; REST writes queue an operation
with a future and await it; barriers let readers wait for what was queued before them.
The writer drains the queue in batches, one transaction per batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from .cache import insert_entry
from .rows import LogRow

__all__ = ["Writer"]

logger = logging.getLogger("helicone_wrap.gateway")

_LOG_COLUMNS = (
    "request_id, created_at, response_created_at, logged_at, path, method, status, request_model, "
    "model, provider, target_url, latency_ms, ttft_ms, prompt_tokens, completion_tokens, "
    "total_tokens, cost, user_id, properties, request_body, response_body, cache_reference_id"
)
_INSERT_LOG = f"""
    INSERT INTO requests ({_LOG_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        response_body = excluded.response_body,
        cache_reference_id = excluded.cache_reference_id
"""


class _Stop:
    """The writer's stop sentinel."""


_STOP = _Stop()

# Queue items: ("log", LogRow) | ("cache", key, CacheEntry) | ("property"|"feedback"|"score", id, payload, future) | ("barrier", future)
_Op = tuple[Any, ...]


class Writer:
    """The write-behind writer thread over ``conn``, started at once.

    ``visible_before()`` gives the ``logged_at`` bound (epoch ms) under which a request is
    visible to REST writes; ``counters`` counts what was written.

    Usage::

        writer = Writer(conn, lambda: now_ms())
        writer.put(("log", row))
        writer.flush(5)
        writer.stop(30)
    """

    def __init__(
        self, conn: sqlite3.Connection, visible_before: Callable[[], int], batch_size: int, linger: float
    ) -> None:
        self._visible_before = visible_before
        self._batch_size = batch_size
        self._linger = linger
        self._wake = threading.Event()
        self._queue: queue.SimpleQueue[_Op | _Stop] = queue.SimpleQueue()
        self.counters: dict[str, int] = {
            "logged": 0,
            "property_writes": 0,
            "feedback_writes": 0,
            "score_writes": 0,
            "not_found": 0,
        }
        self._thread = threading.Thread(
            target=self._run_writer, args=(conn,), name="helicone-gateway-writer", daemon=True
        )
        self._thread.start()

    def is_alive(self) -> bool:
        """Whether the writer thread still runs.

        Usage: ``if writer.is_alive(): ...``
        """
        return self._thread.is_alive()

    def pending(self) -> int:
        """How many queued items are not written yet (approximately).

        Usage: ``writer.pending()``
        """
        return self._queue.qsize()

    def put(self, op: _Op) -> None:
        """Queue ``op`` without waking the writer (log rows may wait ``linger``).

        Usage: ``writer.put(("log", row))``
        """
        self._queue.put(op)

    async def submit(self, kind: str, request_id: str, payload: object) -> bool:
        """Queue a REST write and await whether its request was found.

        Usage: ``found = await writer.submit("property", rid, (key, value))``
        """
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self.put_urgent((kind, request_id, payload, future))
        return await asyncio.wrap_future(future)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed; False on timeout.

        Usage: ``writer.flush(5)``
        """
        if not self._thread.is_alive():
            return True
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self.put_urgent(("barrier", future))
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    async def aflush(self) -> None:
        """Async :meth:`flush`.

        Usage: ``await writer.aflush()``
        """
        if not self._thread.is_alive():
            return
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self.put_urgent(("barrier", future))
        await asyncio.wrap_future(future)

    def stop(self, timeout: float | None) -> None:
        """Let the writer drain the queue and stop; wait up to ``timeout`` seconds.

        Usage: ``writer.stop(30)``
        """
        self.put_urgent(_STOP)
        self._thread.join(timeout)

    def put_urgent(self, op: _Op | _Stop) -> None:
        """Queue ``op`` and wake the writer now (log rows alone may wait ``linger``).

        Usage: ``writer.put_urgent(("barrier", future))``
        """
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
        visible_before = self._visible_before()
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
                elif kind == "cache":
                    try:
                        insert_entry(conn, op[1], op[2])
                    except (sqlite3.Error, ValueError, TypeError) as exc:
                        logger.error("could not save a cache entry: %s", exc)
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
            self.counters[name] = self.counters.get(name, 0) + n
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
                row.cache_reference_id,
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
