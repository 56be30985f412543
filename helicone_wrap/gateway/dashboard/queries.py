"""Read-only queries the dashboard runs against the gateway's SQLite log.

Each call opens its own ``mode=ro`` connection and closes it, so the dashboard can never
write and holds nothing open between page views.

Usage::

    reader = Reader(store.path)
    page = reader.requests(RequestFilter(model="gpt-4o-mini"), limit=50, offset=0)
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .records import (
    SESSION_ID_SQL as _SESSION_ID,
    SESSION_NAME_SQL as _SESSION_NAME,
    Bucket,
    Overview,
    RequestFilter,
    RequestItem,
    SessionItem,
    custom_properties,
    json_map as _json_map,
)

__all__ = ["Reader", "bucket_width", "percentile"]


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty).

    Usage: ``percentile([1, 2, 3, 4], 0.5) == 2``
    """
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


#: Bucket widths the overview picks from, in milliseconds (0.1 s up to 1 day).
_BUCKET_STEPS = (100, 250, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 10_800_000, 21_600_000, 86_400_000)


def bucket_width(span_ms: int, target: int = 48) -> int:
    """The smallest step that covers ``span_ms`` in at most ``target`` buckets.

    Usage: ``bucket_width(60_000) == 5_000``
    """
    for step in _BUCKET_STEPS:
        if span_ms <= step * target:
            return step
    return -(-span_ms // target)


class Reader:
    """Read-only access to one gateway database file.

    Usage: ``Reader("/tmp/gateway.db").request("3f0c...")``
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._uri = Path(path).absolute().as_uri() + "?mode=ro"

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._uri, uri=True, timeout=10.0)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = 1")
            yield conn
        finally:
            conn.close()

    def stamp(self) -> str:
        """Changes whenever anything is committed: the database and WAL files' mtime and size.

        Usage: ``if reader.stamp() != last: reload()``
        """
        parts = []
        for suffix in ("", "-wal"):
            try:
                info = Path(self.path + suffix).stat()
            except OSError:
                parts.append("-")
                continue
            parts.append(f"{info.st_mtime_ns}.{info.st_size}")
        return ":".join(parts)

    def models(self) -> list[str]:
        """Every model seen, alphabetically (for the filter's choices)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT DISTINCT COALESCE(model, request_model) AS m FROM requests WHERE m IS NOT NULL ORDER BY m"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def requests(self, where: RequestFilter, limit: int, offset: int) -> tuple[list[RequestItem], int]:
        """One page of matching requests, newest first, and the number that match.

        Usage: ``items, total = reader.requests(RequestFilter(), 50, 0)``
        """
        sql, params = where.where()
        with self._conn() as conn:
            total = int(conn.execute(f"SELECT count(*) FROM requests AS r WHERE {sql}", params).fetchone()[0])
            rows = conn.execute(
                "SELECT r.request_id, r.created_at, r.model, r.request_model, r.status, r.latency_ms, "
                "r.ttft_ms, r.prompt_tokens, r.completion_tokens, r.total_tokens, r.cost, r.user_id, "
                "r.path, r.properties, r.scores"
                + (", r.cache_reference_id" if self._has_cache_column(conn) else "")
                + f" FROM requests AS r WHERE {sql} "
                "ORDER BY r.created_at DESC, r.rowid DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [RequestItem.from_row(row) for row in rows], total

    @staticmethod
    def _has_cache_column(conn: sqlite3.Connection) -> bool:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
        return "cache_reference_id" in columns

    def request(self, request_id: str) -> RequestItem | None:
        """One request with its bodies, or None.

        Usage: ``item = reader.request(rid); item.response_body``
        """
        with self._conn() as conn:
            row = conn.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else RequestItem.from_row(row)

    def sessions(self, name: str, limit: int, offset: int) -> tuple[list[SessionItem], int]:
        """One page of sessions whose name contains ``name`` (any case), latest activity first,
        and how many match.

        Usage: ``items, total = reader.sessions("course", 50, 0)``
        """
        grouped = f"""
            SELECT {_SESSION_ID} AS sid,
                   max(COALESCE({_SESSION_NAME}, '')) AS name,
                   count(*) AS n,
                   COALESCE(sum(r.cost), 0) AS cost,
                   min(r.created_at) AS started,
                   max(r.created_at + r.latency_ms) AS ended,
                   max(r.created_at) AS last,
                   max(r.rowid) AS seq
            FROM requests AS r
            WHERE {_SESSION_ID} IS NOT NULL
            GROUP BY sid
        """
        match = "WHERE instr(lower(s.name), lower(?)) > 0" if name else ""
        params: list[Any] = [name] if name else []
        with self._conn() as conn:
            total = int(conn.execute(f"SELECT count(*) FROM ({grouped}) AS s {match}", params).fetchone()[0])
            rows = conn.execute(
                f"SELECT * FROM ({grouped}) AS s {match} ORDER BY s.last DESC, s.seq DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            ids = [row["sid"] for row in rows]
            merged: dict[str, dict[str, str]] = {sid: {} for sid in ids}
            if ids:
                marks = ",".join("?" * len(ids))
                for sid, text in conn.execute(
                    f"SELECT {_SESSION_ID}, r.properties FROM requests AS r "
                    f"WHERE {_SESSION_ID} IN ({marks}) ORDER BY r.created_at",
                    ids,
                ):
                    props = {str(k): str(v) for k, v in _json_map(text).items()}
                    merged[sid].update(custom_properties(props))
        items = [
            SessionItem(
                session_id=str(row["sid"]),
                name=str(row["name"]),
                requests=int(row["n"]),
                total_cost=float(row["cost"]),
                started_at=int(row["started"]),
                ended_at=float(row["ended"]),
                last_activity=int(row["last"]),
                properties=merged[row["sid"]],
            )
            for row in rows
        ]
        return items, total

    def session_requests(self, session_id: str, limit: int = 1000) -> tuple[list[RequestItem], int]:
        """A session's requests in start order (at most ``limit``) and how many it has.

        Usage: ``items, total = reader.session_requests(sid)``
        """
        with self._conn() as conn:
            total = int(
                conn.execute(f"SELECT count(*) FROM requests AS r WHERE {_SESSION_ID} = ?", (session_id,)).fetchone()[0]
            )
            rows = conn.execute(
                f"SELECT * FROM requests AS r WHERE {_SESSION_ID} = ? "
                "ORDER BY r.created_at, r.rowid LIMIT ?",
                (session_id, limit),
            ).fetchall()
        return [RequestItem.from_row(row) for row in rows], total

    def overview(self, since_ms: int | None, now_ms: int, target_buckets: int = 48) -> Overview:
        """Totals and per-bucket requests, errors, cost and p50/p95 latency since ``since_ms``
        (everything when None).

        Usage: ``reader.overview(now - 3_600_000, now)``
        """
        since = since_ms if since_ms is not None else 0
        with self._conn() as conn:
            head = conn.execute(
                f"SELECT count(*), COALESCE(sum(r.status >= 400), 0), COALESCE(sum(r.cost), 0), "
                f"COALESCE(sum(r.total_tokens), 0), count(DISTINCT {_SESSION_ID}), count(DISTINCT NULLIF(r.user_id, '')), "
                "min(r.created_at), max(r.created_at) FROM requests AS r WHERE r.created_at >= ?",
                (since,),
            ).fetchone()
            first = int(head[6]) if head[6] is not None else now_ms
            start = since_ms if since_ms is not None else first
            end = max(now_ms if since_ms is not None else int(head[7] or now_ms), start + 1)
            width = bucket_width(end - start, target_buckets)
            origin = start - start % width
            count = (end - origin) // width + 1
            rows = conn.execute(
                "SELECT (r.created_at - ?) / ? AS b, r.latency_ms, r.cost, r.status FROM requests AS r "
                "WHERE r.created_at >= ? ORDER BY b, r.latency_ms",
                (origin, width, since),
            ).fetchall()
        latencies: list[list[float]] = [[] for _ in range(count)]
        costs = [0.0] * count
        errors = [0] * count
        everything: list[float] = []
        for b, latency, cost, status in rows:
            index = min(max(int(b), 0), count - 1)
            latencies[index].append(float(latency))
            costs[index] += float(cost)
            errors[index] += int(status) >= 400
            everything.append(float(latency))
        everything.sort()
        for values in latencies:
            values.sort()
        buckets = [
            Bucket(
                start=origin + i * width,
                requests=len(latencies[i]),
                errors=errors[i],
                cost=costs[i],
                p50=percentile(latencies[i], 0.50),
                p95=percentile(latencies[i], 0.95),
            )
            for i in range(count)
        ]
        return Overview(
            buckets=buckets,
            bucket_ms=width,
            requests=int(head[0]),
            errors=int(head[1]),
            cost=float(head[2]),
            tokens=int(head[3]),
            sessions=int(head[4]),
            users=int(head[5]),
            p50=percentile(everything, 0.50),
            p95=percentile(everything, 0.95),
        )
