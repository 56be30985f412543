"""Sessions read back: requests grouped by (session id, session name), as Helicone returns them."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..sql import Compiled
from .rows import iso_ms

__all__ = ["count_sessions", "query_sessions", "sessions_sql"]

_SESSION_ID = """json_extract(r.properties, '$."Helicone-Session-Id"')"""
_SESSION_NAME = """json_extract(r.properties, '$."Helicone-Session-Name"')"""


def sessions_sql(where: Compiled, having: Compiled, visible_before: int) -> tuple[str, tuple[Any, ...]]:
    """The grouped sessions query (alias ``s``) and its parameters, before ORDER/LIMIT.

    Usage: ``sql, params = sessions_sql(where, having, now_ms())``
    """
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
    return sql, (visible_before, *where.params, *having.params)


def query_sessions(
    conn: sqlite3.Connection,
    where: Compiled,
    having: Compiled,
    limit: int,
    offset: int,
    visible_before: int,
    timezone_minutes: int = 0,
) -> list[dict[str, Any]]:
    """Session rows grouped by (session id, name), newest first, as Helicone returns them.

    Usage: ``query_sessions(conn, where, having, 50, 0, now_ms())``
    """
    shift = int(timezone_minutes) * 60_000
    sql, params = sessions_sql(where, having, visible_before)
    cursor = conn.execute(
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


def count_sessions(
    conn: sqlite3.Connection, where: Compiled, having: Compiled, visible_before: int
) -> dict[str, float | int]:
    """``{count, total_cost, avg_cost, avg_latency, avg_requests}`` over matching sessions.

    Usage: ``count_sessions(conn, where, having, now_ms())["count"]``
    """
    sql, params = sessions_sql(where, having, visible_before)
    row = conn.execute(
        "SELECT count(*), COALESCE(sum(s.total_cost), 0), COALESCE(avg(s.avg_latency), 0), "
        f"COALESCE(avg(s.total_requests), 0) FROM ({sql}) AS s",
        params,
    ).fetchone()
    count = int(row[0])
    total_cost = float(row[1])
    return {
        "count": count,
        "total_cost": total_cost,
        "avg_cost": total_cost / count if count else 0.0,
        "avg_latency": float(row[2]),
        "avg_requests": float(row[3]),
    }
