"""The outbox: a SQLite file holding operations that are not delivered yet.

Rows are written when the process exits with work left, when the in-memory queue is full, or
for every operation when ``durable=True``; they are replayed when a worker starts (in this
process or a later one). A row holds the operation id, kind, request id, JSON body, REST root
URL, creation time and its progress: attempt count, first attempt time, next due time and last
error (type, message, status). A row whose retry window ended is kept, marked failed
(``failed_at``), until ``helicone-wrap outbox clear``; it is never replayed on its own.
**Never the API key**: on replay the key is looked up again for the row's URL
(``_config.target_for_url``).

Schema version 2 added the progress columns; a version 1 file is migrated in place when it is
opened (``ALTER TABLE ... ADD COLUMN``; version 1 code still reads and writes a migrated file).

Several processes may share one file. WAL mode and short ``BEGIN IMMEDIATE`` transactions keep
writers out of each other's way. A process *claims* rows before sending them: it writes its
owner tag (``host|pid|token``) and a lease expiry. Other processes skip claimed rows until the
lease expires or, on the same host, until the owner process is gone. Delivery is therefore at
least once: a process killed after sending but before deleting a row sends it again later, which
is harmless because property PUTs, feedback and scores are idempotent.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Outbox", "OutboxRow", "default_outbox_path"]

APP_DIR = "helicone_wrap"
FILE_NAME = "outbox.sqlite3"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    op_id       TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    api_url     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    owner       TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    origin      TEXT,
    seq         INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_owner ON outbox (owner);
CREATE INDEX IF NOT EXISTS outbox_origin ON outbox (origin, seq);
"""

# Added by schema version 2 (per-operation progress); ``ALTER TABLE`` adds them to older files.
_PROGRESS = (
    ("first_try", "REAL NOT NULL DEFAULT 0"),
    ("due_at", "REAL NOT NULL DEFAULT 0"),
    ("error_type", "TEXT"),
    ("error_message", "TEXT"),
    ("error_status", "INTEGER"),
    ("failed_at", "REAL"),
)

_COLUMNS = (
    "op_id, kind, request_id, payload, api_url, created_at, attempts, origin, seq, "
    "first_try, due_at, error_type, error_message, error_status, failed_at"
)
_UPDATED = ("attempts", "first_try", "due_at", "error_type", "error_message", "error_status", "failed_at")


def default_outbox_path() -> Path:
    """The per-user data file: ``$XDG_DATA_HOME/helicone_wrap/outbox.sqlite3`` on Linux.

    ``~/.local/share/...`` when ``XDG_DATA_HOME`` is unset, ``~/Library/Application Support/...``
    on macOS, ``%LOCALAPPDATA%\\helicone_wrap\\...`` on Windows.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_DIR / FILE_NAME


@dataclass(frozen=True)
class OutboxRow:
    """One stored operation (never the key)."""

    op_id: str
    kind: str
    request_id: str
    payload: str
    api_url: str
    created_at: float
    attempts: int = 0
    origin: str | None = None
    seq: int | None = None
    first_try: float = 0.0  # Unix time of the first attempt; 0: never tried
    due_at: float = 0.0  # Unix time of the next attempt; 0: at once
    error_type: str | None = None
    error_message: str | None = None
    error_status: int | None = None
    failed_at: float | None = None  # set when the operation was given up on

    def body(self) -> Any:
        """The JSON body, decoded."""
        return json.loads(self.payload)

    def values(self) -> tuple[Any, ...]:
        """The row's values in ``_COLUMNS`` order."""
        return (
            self.op_id, self.kind, self.request_id, self.payload, self.api_url, self.created_at, self.attempts,
            self.origin, self.seq, self.first_try, self.due_at, self.error_type, self.error_message,
            self.error_status, self.failed_at,
        )  # fmt: skip


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the schema version 2 columns a version 1 file lacks (inside one write transaction)."""
    if all(name in _column_names(conn) for name, _ in _PROGRESS):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = _column_names(conn)  # again, under the lock: another process may have just migrated
        for name, declaration in _PROGRESS:
            if name not in have:
                conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {declaration}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _column_names(conn: sqlite3.Connection) -> set[str]:
    return {str(row[1]) for row in conn.execute("PRAGMA table_info(outbox)")}


def owner_tag(token: str) -> str:
    """``host|pid|token``: who holds a claim (the token changes per process, also after fork)."""
    return f"{socket.gethostname()}|{os.getpid()}|{token}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` is a process on this host that no longer exists."""
    host, _, rest = owner.partition("|")
    pid_text, _, _ = rest.partition("|")
    if os.name != "posix" or host != socket.gethostname():
        return True  # can't tell (and os.kill(pid, 0) would terminate it on Windows): trust the lease
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return owner == _current_owner.get(pid, owner)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


# pid -> this process's owner tag, so an inherited tag from before a fork counts as dead.
_current_owner: dict[int, str] = {}


class Outbox:
    """A thread-safe handle on one outbox file (one connection, one lock).

    Usage: ``box = Outbox(path, token="abc"); box.add(rows); box.claim(100)``
    """

    def __init__(self, path: str | os.PathLike[str], token: str, *, busy_timeout: float = 2.0) -> None:
        self.path = Path(path)
        self.owner = owner_tag(token)
        _current_owner[os.getpid()] = self.owner
        self.busy_timeout = busy_timeout
        self.lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; WAL keeps it fast
                conn.executescript(_SCHEMA)
                _migrate(conn)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            # Close the connection when this handle is garbage-collected, not at some later
            # point by sqlite3's own finaliser (which Python 3.13 reports as a ResourceWarning).
            # Never at interpreter exit, though: weakref's own exit hook runs before the delivery
            # exit hook whenever the connection opened after that hook was registered, and the
            # exit hook still has to save what is left here.
            weakref.finalize(self, conn.close).atexit = False
        return self._conn

    def _transaction(self, work: Callable[[sqlite3.Connection], Any], timeout: float | None = None) -> Any:
        if not self.lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise TimeoutError("outbox is busy")
        try:
            conn = self._connect()
            if timeout is not None:  # bound SQLite's own wait for other processes' locks too
                conn.execute(f"PRAGMA busy_timeout={int(max(0.0, min(timeout, self.busy_timeout)) * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if timeout is not None:
                    conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            return result
        finally:
            self.lock.release()

    def add(
        self, rows: Iterable[OutboxRow], *, claimed: bool = False, lease_until: float = 0.0, timeout: float | None = None
    ) -> int:
        """Insert (or refresh) rows; ``claimed`` keeps them ours, else any process may replay them."""
        owner = self.owner if claimed else None
        lease = lease_until if claimed else 0.0
        params = [(*r.values(), owner, lease) for r in rows]
        if not params:
            return 0
        marks = ",".join("?" * len(params[0]))
        updates = ", ".join(f"{name}=excluded.{name}" for name in (*_UPDATED, "owner", "lease_until"))

        def work(conn: sqlite3.Connection) -> int:
            conn.executemany(
                f"INSERT INTO outbox ({_COLUMNS}, owner, lease_until) VALUES ({marks}) "
                f"ON CONFLICT(op_id) DO UPDATE SET {updates}",
                params,
            )
            return len(params)

        return int(self._transaction(work, timeout))

    def delete(self, op_ids: Sequence[str], timeout: float | None = None) -> None:
        """Forget delivered (or finally failed) operations."""
        if not op_ids:
            return
        self._transaction(lambda c: c.executemany("DELETE FROM outbox WHERE op_id=?", [(i,) for i in op_ids]), timeout)

    def claim(
        self,
        limit: int,
        *,
        now: float,
        lease: float,
        alive: Callable[[str], bool] = owner_alive,
    ) -> list[OutboxRow]:
        """Atomically take up to ``limit`` free rows that are due (oldest first) for this process.

        Failed rows and rows whose next attempt is later than ``now`` are left alone.
        """

        def work(conn: sqlite3.Connection) -> list[OutboxRow]:
            held = [
                o for (o,) in conn.execute(
                    "SELECT DISTINCT owner FROM outbox WHERE owner IS NOT NULL AND lease_until >= ?", (now,)
                )
            ]  # fmt: skip
            stale = [o for o in held if o != self.owner and not alive(o)]
            marks = ",".join("?" * len(stale))
            stale_clause = f" OR owner IN ({marks})" if stale else ""
            found = conn.execute(
                f"SELECT rowid, {_COLUMNS} FROM outbox WHERE (owner IS NULL OR lease_until < ?{stale_clause}) "
                "AND (owner IS NULL OR owner != ?) AND failed_at IS NULL AND due_at <= ? ORDER BY rowid LIMIT ?",
                (now, *stale, self.owner, now, limit),
            ).fetchall()
            if found:
                conn.executemany(
                    "UPDATE outbox SET owner=?, lease_until=? WHERE rowid=?",
                    [(self.owner, now + lease, row[0]) for row in found],
                )
            return [OutboxRow(*row[1:]) for row in found]

        result: list[OutboxRow] = self._transaction(work)
        return result

    def release(self, timeout: float | None = None) -> None:
        """Give up this process's claims so the next worker replays those rows at once."""
        self._transaction(lambda c: c.execute("UPDATE outbox SET owner=NULL, lease_until=0 WHERE owner=?", (self.owner,)), timeout)

    def renew(self, lease_until: float) -> None:
        """Extend the lease on every row this process holds."""
        self._transaction(lambda c: c.execute("UPDATE outbox SET lease_until=? WHERE owner=?", (lease_until, self.owner)))

    def has_origin_before(self, origin: str, seq: int) -> bool:
        """True while a row this process queued before ``seq`` is still in the outbox."""
        found = self._transaction(
            lambda c: c.execute(
                "SELECT 1 FROM outbox WHERE origin=? AND seq<? AND failed_at IS NULL LIMIT 1", (origin, seq)
            ).fetchone()
        )
        return found is not None

    def rows(self) -> list[OutboxRow]:
        """Every row, oldest first (for inspection and tests)."""
        return list(self._transaction(lambda c: [OutboxRow(*r) for r in c.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY rowid")]))

    def retry_now(self, *, failed: bool = True) -> int:
        """Make every unclaimed row due at once; ``failed`` ones too, with a fresh retry window.

        Returns how many rows were changed. Usage: ``box.retry_now()`` before a ``flush()``
        """

        def work(conn: sqlite3.Connection) -> int:
            changed = conn.execute("UPDATE outbox SET due_at=0 WHERE failed_at IS NULL AND owner IS NULL").rowcount
            if failed:
                changed += conn.execute(
                    "UPDATE outbox SET due_at=0, failed_at=NULL, first_try=0, attempts=0 WHERE failed_at IS NOT NULL"
                ).rowcount
            return int(changed)

        return int(self._transaction(work))

    def clear(self, *, failed_only: bool = False) -> int:
        """Delete every row (or only the failed ones); returns how many. Usage: ``box.clear(failed_only=True)``"""
        where = " WHERE failed_at IS NOT NULL" if failed_only else ""
        return int(self._transaction(lambda c: c.execute(f"DELETE FROM outbox{where}").rowcount))

    def close(self, timeout: float = 2.0) -> None:
        """Close the connection (waits up to ``timeout`` for an operation in progress)."""
        acquired = self.lock.acquire(timeout=timeout)
        try:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        finally:
            if acquired:
                self.lock.release()

    def abandon(self) -> None:
        """Drop the connection without closing it (in a forked child: SQLite handles must not cross fork)."""
        if self._conn is not None:
            _abandoned.append(self._conn)
            self._conn = None


# Connections inherited across fork: kept referenced so the child never closes the parent's handles.
_abandoned: list[sqlite3.Connection] = []
