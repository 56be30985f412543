"""The request log's schema: connections, and migrations by ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3

from ..sql import sql_ilike, sql_like
from .cache import CACHE_MIGRATION

__all__ = ["MIGRATIONS", "connect", "migrate"]

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
    CACHE_MIGRATION,
    # Latency and time to first token as float milliseconds (sub-millisecond precision). The
    # columns are renamed, re-added as REAL and copied, so columns added by other migrations stay.
    (
        "ALTER TABLE requests RENAME COLUMN latency_ms TO latency_ms_whole",
        "ALTER TABLE requests ADD COLUMN latency_ms REAL NOT NULL DEFAULT 0",
        "UPDATE requests SET latency_ms = latency_ms_whole",
        "ALTER TABLE requests DROP COLUMN latency_ms_whole",
        "ALTER TABLE requests RENAME COLUMN ttft_ms TO ttft_ms_whole",
        "ALTER TABLE requests ADD COLUMN ttft_ms REAL",
        "UPDATE requests SET ttft_ms = ttft_ms_whole",
        "ALTER TABLE requests DROP COLUMN ttft_ms_whole",
    ),
]


def connect(path: str) -> sqlite3.Connection:
    """A connection to the log at ``path``: WAL, and the ``hw_like``/``hw_ilike`` functions.

    Usage: ``conn = connect(store.path)``
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.create_function("hw_like", 2, sql_like, deterministic=True)
    conn.create_function("hw_ilike", 2, sql_ilike, deterministic=True)
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to the newest :data:`MIGRATIONS` version, one transaction each.

    Usage: ``migrate(conn)``
    """
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
