"""The response cache: entries in the log's SQLite file, fronted by an in-process map.

Entries are written behind, through the store's writer queue, like log rows; the map
makes an entry visible to the next call at once, before its write commits. A restarted
gateway on the same file reads its entries back from SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CACHE_MIGRATION", "CacheEntry", "ResponseCache", "insert_entry"]

#: Schema migration 2: the cache table, and an index for the ``cached`` filter.
CACHE_MIGRATION: tuple[str, ...] = (
    """
    CREATE TABLE cache_entries (
        key TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        latency_ms INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )
    """,
    "CREATE INDEX requests_cache_reference ON requests (cache_reference_id)",
)


@dataclass(frozen=True)
class CacheEntry:
    """One saved 200 answer: the original request id, its headers, body and latency.

    Usage: ``CacheEntry(rid, [(b"content-type", b"application/json")], body, 812, expires_at)``
    """

    request_id: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    latency_ms: int
    expires_at: int


class ResponseCache:
    """Lookups over the in-process map, then SQLite (through ``reader()``).

    Usage: ``cache.get(key, now_ms())`` -> CacheEntry | None
    """

    def __init__(self, reader: Callable[[], sqlite3.Connection], capacity: int = 4096) -> None:
        self._reader = reader
        self._capacity = capacity
        self._recent: OrderedDict[str, CacheEntry] = OrderedDict()

    def get(self, key: str, now: int) -> CacheEntry | None:
        """The live entry under ``key``, or None."""
        entry = self._recent.get(key)
        if entry is None:
            row = (
                self._reader()
                .execute(
                    "SELECT request_id, headers, body, latency_ms, expires_at FROM cache_entries WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
            if row is None:
                return None
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(row[1])]
            entry = CacheEntry(row[0], headers, bytes(row[2]), int(row[3]), int(row[4]))
            self._remember(key, entry)
        return entry if entry.expires_at > now else None

    def remember(self, key: str, entry: CacheEntry) -> None:
        """Make ``entry`` visible now (its SQLite write is queued separately)."""
        self._remember(key, entry)

    def _remember(self, key: str, entry: CacheEntry) -> None:
        self._recent[key] = entry
        self._recent.move_to_end(key)
        while len(self._recent) > self._capacity:
            self._recent.popitem(last=False)


def insert_entry(conn: sqlite3.Connection, key: str, entry: CacheEntry) -> None:
    """Write one entry (the writer thread calls this).

    Usage: ``insert_entry(conn, key, entry)``
    """
    headers = json.dumps([[k.decode("latin-1"), v.decode("latin-1")] for k, v in entry.headers])
    conn.execute(
        "INSERT OR REPLACE INTO cache_entries (key, request_id, headers, body, latency_ms, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (key, entry.request_id, headers, entry.body, entry.latency_ms, entry.expires_at),
    )
