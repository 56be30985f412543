"""Read-only queries the dashboard runs against the gateway's SQLite log.

Each call opens its own ``mode=ro`` connection and closes it, so the dashboard can never
write and holds nothing open between page views. Rows are read with ``SELECT *`` into
:class:`sqlite3.Row`, so a column a later schema adds (or drops, such as
``cache_reference_id``) never breaks a page: :func:`_get` answers None for it.

Usage::

    reader = Reader(store.path)
    page = reader.requests(RequestFilter(model="gpt-4o-mini"), limit=50, offset=0)
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SESSION_KEYS",
    "Bucket",
    "Overview",
    "Reader",
    "RequestFilter",
    "RequestItem",
    "SessionItem",
    "custom_properties",
]

_SESSION_ID = """json_extract(r.properties, '$."Helicone-Session-Id"')"""
_SESSION_NAME = """json_extract(r.properties, '$."Helicone-Session-Name"')"""

#: Properties the gateway fills from Helicone's reserved headers rather than from the user's own.
SESSION_KEYS = ("Helicone-Session-Id", "Helicone-Session-Path", "Helicone-Session-Name", "Helicone-Prompt-Id")


def custom_properties(properties: dict[str, str]) -> dict[str, str]:
    """The user's own properties: every key but the reserved ``Helicone-*`` ones.

    Usage: ``custom_properties({"env": "prod", "Helicone-Session-Id": "s"}) == {"env": "prod"}``
    """
    return {k: v for k, v in properties.items() if not k.startswith("Helicone-")}


def _get(row: sqlite3.Row, name: str) -> Any:
    return row[name] if name in row.keys() else None


def _json_map(text: object) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class RequestItem:
    """One logged request as the dashboard shows it (bodies only when asked for).

    Usage: ``item.session_id, item.latency_ms, item.properties``
    """

    request_id: str
    created_at: int
    model: str
    status: int
    latency_ms: float
    ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float
    user_id: str | None
    path: str
    all_properties: dict[str, str]
    scores: dict[str, int]
    cache_reference_id: str | None
    has_cache_column: bool
    request_body: str | None = None
    response_body: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RequestItem:
        """Build from a ``SELECT * FROM requests`` row."""
        keys = row.keys()
        properties = {str(k): str(v) for k, v in _json_map(row["properties"]).items()}
        scores = {str(k): v for k, v in _json_map(_get(row, "scores")).items() if isinstance(v, int)}
        return cls(
            request_id=row["request_id"],
            created_at=int(row["created_at"]),
            model=row["model"] or row["request_model"] or "",
            status=int(row["status"]),
            latency_ms=float(row["latency_ms"] or 0),
            ttft_ms=None if row["ttft_ms"] is None else float(row["ttft_ms"]),
            prompt_tokens=int(row["prompt_tokens"] or 0),
            completion_tokens=int(row["completion_tokens"] or 0),
            total_tokens=int(row["total_tokens"] or 0),
            cost=float(row["cost"] or 0),
            user_id=row["user_id"],
            path=row["path"],
            all_properties=properties,
            scores=scores,
            cache_reference_id=_get(row, "cache_reference_id"),
            has_cache_column="cache_reference_id" in keys,
            request_body=_get(row, "request_body"),
            response_body=_get(row, "response_body"),
        )

    @property
    def properties(self) -> dict[str, str]:
        """The user's own properties (no ``Helicone-*`` keys)."""
        return custom_properties(self.all_properties)

    @property
    def session_id(self) -> str | None:
        """``Helicone-Session-Id``, if the call was part of a session."""
        return self.all_properties.get("Helicone-Session-Id")

    @property
    def session_name(self) -> str:
        """``Helicone-Session-Name`` (empty when unnamed)."""
        return self.all_properties.get("Helicone-Session-Name", "")

    @property
    def session_path(self) -> str:
        """``Helicone-Session-Path`` as sent (empty when absent)."""
        return self.all_properties.get("Helicone-Session-Path", "")

    @property
    def ended_at(self) -> float:
        """Epoch milliseconds when the answer was complete (start + latency)."""
        return self.created_at + self.latency_ms


@dataclass(frozen=True)
class RequestFilter:
    """The /requests filters: exact model, status (``200`` or a class like ``4xx``), user,
    session id, and a property key with an optional exact value.

    Usage: ``RequestFilter(status="5xx", prop="env", value="prod").where()``
    """

    model: str = ""
    status: str = ""
    user: str = ""
    session: str = ""
    prop: str = ""
    value: str = ""

    def problem(self) -> str | None:
        """Why the filter cannot run (a bad status), or None."""
        status = self.status.strip().lower()
        if not status:
            return None
        if len(status) == 3 and (status.isdigit() or (status[0] in "12345" and status[1:] == "xx")):
            return None
        return f"status {self.status!r} is not a status code: use e.g. 200, 429 or a class such as 4xx"

    def where(self) -> tuple[str, list[Any]]:
        """An SQL condition on ``requests AS r`` and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if self.model:
            parts.append("COALESCE(r.model, r.request_model) = ?")
            params.append(self.model)
        status = self.status.strip().lower()
        if status and self.problem() is None:
            if status.isdigit():
                parts.append("r.status = ?")
                params.append(int(status))
            else:
                low = int(status[0]) * 100
                parts.append("r.status BETWEEN ? AND ?")
                params += [low, low + 99]
        if self.user:
            parts.append("r.user_id = ?")
            params.append(self.user)
        if self.session:
            parts.append(f"{_SESSION_ID} = ?")
            params.append(self.session)
        if self.prop:
            if self.value:
                parts.append("EXISTS (SELECT 1 FROM json_each(r.properties) WHERE key = ? AND value = ?)")
                params += [self.prop, self.value]
            else:
                parts.append("EXISTS (SELECT 1 FROM json_each(r.properties) WHERE key = ?)")
                params.append(self.prop)
        return (" AND ".join(parts) or "1"), params

    def params(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for links that keep them)."""
        raw = {
            "model": self.model,
            "status": self.status,
            "user": self.user,
            "session": self.session,
            "property": self.prop,
            "value": self.value,
        }
        return {k: v for k, v in raw.items() if v}


@dataclass(frozen=True)
class SessionItem:
    """One session in the /sessions list.

    Usage: ``item.name, item.requests, item.total_cost, item.duration_ms``
    """

    session_id: str
    name: str
    requests: int
    total_cost: float
    started_at: int
    ended_at: float
    last_activity: int
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        """From the first request's start to the last answer's end."""
        return max(0.0, self.ended_at - self.started_at)


@dataclass(frozen=True)
class Bucket:
    """One time slot of the overview charts.

    Usage: ``bucket.requests, bucket.cost, bucket.p50, bucket.p95``
    """

    start: int
    requests: int = 0
    errors: int = 0
    cost: float = 0.0
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class Overview:
    """Totals and per-bucket series for the overview page.

    Usage: ``overview.requests, [b.p95 for b in overview.buckets]``
    """

    buckets: list[Bucket]
    bucket_ms: int
    requests: int
    errors: int
    cost: float
    tokens: int
    sessions: int
    users: int
    p50: float | None
    p95: float | None


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty).

    Usage: ``percentile([1, 2, 3, 4], 0.5) == 2``
    """
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


#: Bucket widths the overview picks from, in milliseconds (1 s up to 1 day).
_BUCKET_STEPS = (1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 10_800_000, 21_600_000, 86_400_000)


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
                "ORDER BY r.created_at DESC, r.request_id DESC LIMIT ? OFFSET ?",
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
                   max(r.created_at) AS last
            FROM requests AS r
            WHERE {_SESSION_ID} IS NOT NULL
            GROUP BY sid
        """
        match = "WHERE instr(lower(s.name), lower(?)) > 0" if name else ""
        params: list[Any] = [name] if name else []
        with self._conn() as conn:
            total = int(conn.execute(f"SELECT count(*) FROM ({grouped}) AS s {match}", params).fetchone()[0])
            rows = conn.execute(
                f"SELECT * FROM ({grouped}) AS s {match} ORDER BY s.last DESC, s.sid LIMIT ? OFFSET ?",
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
                "ORDER BY r.created_at, r.request_id LIMIT ?",
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
                f"COALESCE(sum(r.total_tokens), 0), count(DISTINCT {_SESSION_ID}), count(DISTINCT r.user_id), "
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
