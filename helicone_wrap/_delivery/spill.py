"""The worker's side of the outbox: durable writes, spilling a full queue, replaying saved
operations, deleting delivered rows, putting back replayed rows that are not due yet, marking
given-up rows failed, renewing leases, and saving what is left at exit.

The outbox itself (a SQLite file shared by processes) is :class:`helicone_wrap._delivery.outbox.Outbox`;
this layer decides when operations go into it and come back out of it.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from .. import _api
from .._guard import logger, warn_once
from .outbox import Outbox, OutboxRow
from .queue import SPILLED, LastError, _Op, _WorkerState

LEASE = 300.0  # how long a claim on outbox rows lasts without renewal (s)
_KINDS = frozenset({_api.KIND_PROPERTY, _api.KIND_FEEDBACK, _api.KIND_SCORE, _api.KIND_LOG})  # KIND_LOG: async mode


def _what_was_left(ops: list[_Op]) -> str:
    """The exit message's subject and verb, by kind: ``"3 async-mode log records were"``,
    ``"1 enrich/feedback/score operation was"``, or both counts when both kinds were left.
    """
    logs = sum(1 for op in ops if op.kind == _api.KIND_LOG)
    others = len(ops) - logs
    parts = [f"{logs} async-mode log record{'s' if logs != 1 else ''}"] if logs else []
    if others or not logs:
        parts.append(f"{others} enrich/feedback/score operation{'s' if others != 1 else ''}")
    if len(parts) == 2:
        return f"{len(ops)} operations ({', '.join(parts)}) were"
    return f"{parts[0]} {'was' if len(ops) == 1 else 'were'}"


class _OutboxSide(_WorkerState):
    """The delivery worker's state plus everything that moves operations to and from the outbox."""

    def _outbox(self) -> Outbox | None:
        if self.outbox is None:
            path = self.settings.outbox_path()
            if path is not None:
                self.outbox = Outbox(path, self.token, busy_timeout=2.0)
        return self.outbox

    def _outbox_call(self, what: str, work: Callable[[Outbox], Any]) -> Any:
        box = self._outbox()
        if box is None:
            return None
        try:
            return work(box)
        except Exception as exc:
            warn_once(
                f"outbox-{what}",
                "helicone_wrap: the delivery outbox at %s failed (%s: %s); operations are kept in memory only.",
                box.path,
                type(exc).__name__,
                exc,
            )
            return None

    def _op_id(self, op: _Op) -> str:
        if op.op_id is None:
            op.op_id = f"{self.token}-{op.seq}"
        return op.op_id

    def _row(self, op: _Op, failed_at: float | None = None) -> OutboxRow:
        kind, message, status = op.last_error or (None, None, None)
        return OutboxRow(
            self._op_id(op), op.kind, op.request_id, json.dumps(op.body), op.api_url, op.created_at, op.attempts,
            self.token, op.seq, op.first_try, op.due_at, kind, message, status, failed_at,
        )  # fmt: skip

    def _store_later(self, op: _Op, *, failed: bool) -> bool:
        """Queue ``op``'s row for the outbox (unclaimed: due at ``op.due_at``, or marked failed).

        The scheduler writes it (:meth:`_drain_upserts`); False when there is no outbox.
        """
        if self.settings.outbox is None:
            return False
        self.upserts.append(self._row(op, time.time() if failed else None))
        self._wake_scheduler()
        return True

    def _drain_upserts(self, timeout: float | None = None) -> None:
        # Under the lock, so a flush() that finds the deque empty returns only once a drain that
        # another thread started has written its rows.
        with self.write_lock:
            rows = _take_all(self.upserts)
            if rows:
                self._outbox_call("put-back", lambda box: box.add(rows, timeout=timeout))

    def _write_durable(self, queued: list[_Op]) -> None:
        rows = [self._row(op) for op in queued]
        lease = time.time() + LEASE
        if self._outbox_call("write", lambda box: box.add(rows, claimed=True, lease_until=lease)) is not None:
            self.own_rows = True
            for op in queued:
                op.in_outbox = True

    def _spill(self, ops: list[_Op], *, synchronous: bool) -> bool:
        """Move ``ops`` to the outbox (now, or via the scheduler); False when there is no outbox."""
        if self.settings.outbox is None:
            return False
        for op in ops:
            op.state = SPILLED
            if op.handle is not None:
                self.spilled_handles[self._op_id(op)] = op.handle
        if not synchronous:
            first_of_burst = not self.dropping
            self.dropping = True
            if first_of_burst:
                warn_once(
                    "spill",
                    "helicone_wrap: the delivery queue is full (max_queue=%d); new operations wait in the outbox.",
                    self.settings.max_queue,
                )
            self.spills.extend(ops)
            self._wake_scheduler()
            return True
        rows = [self._row(op) for op in ops]
        written = self._outbox_call("spill", lambda box: box.add(rows))
        if written is None:
            return False
        with self.lock:
            self.counts["spilled"] += len(rows)
        self.outbox_dirty = self.own_rows = True
        return True

    def _drain_spills(self) -> None:
        ops = _take_all(self.spills)
        if ops and not self._spill(ops, synchronous=True):
            self._requeue(ops)  # the outbox failed: keep them in memory rather than lose them

    def _drain_deletions(self) -> None:
        with self.write_lock:  # as in _drain_upserts
            ids = _take_all(self.deletions)
            if ids:
                self._outbox_call("delete", lambda box: box.delete(ids))

    def _replay(self, limit: int) -> int:
        """Claim up to ``limit`` outbox rows and queue them; returns how many were claimed."""
        if limit <= 0 or self.settings.outbox is None:
            return 0
        path = self.settings.outbox_path()
        if self.outbox is None and (path is None or not path.exists()):
            return 0
        rows = self._outbox_call("claim", lambda box: box.claim(limit, now=time.time(), lease=LEASE)) or []
        ops: list[_Op] = []
        rows_kept: list[OutboxRow] = []
        unreadable: list[OutboxRow] = []
        for row in rows:
            if row.kind not in _KINDS:
                continue  # written by a newer helicone_wrap: leave it (our claim ends at exit)
            try:
                body = row.body()
            except ValueError as exc:  # corrupt: nothing we can ever send; keep it, marked failed
                unreadable.append(_failed_copy(row, ("ValueError", f"unreadable body: {exc}", None)))
                continue
            handle = self.spilled_handles.pop(row.op_id, None)
            rows_kept.append(row)
            op = _Op(row.kind, row.request_id, body, row.api_url, None, row.created_at, handle, row.attempts, row.op_id)
            op.first_try, op.due_at = row.first_try, row.due_at
            if row.error_type is not None:
                op.last_error = (row.error_type, row.error_message or "", row.error_status)
            op.foreign = row.origin != self.token
            ops.append(op)
        if unreadable:
            warn_once("outbox-unreadable", "helicone_wrap: %d outbox operations are unreadable; marked failed.", len(unreadable))
            self.upserts.extend(unreadable)
        if ops:
            with self.lock:
                for op, row in zip(ops, rows_kept, strict=True):
                    if row.origin == self.token and row.seq is not None and row.seq not in self.unfinished:
                        op.seq = row.seq  # our own spilled row: keep its place for flush()
                        self.unordered = True
                    else:
                        op.seq = self.next_seq
                        self.next_seq += 1
                    self.unfinished[op.seq] = op
                self.counts["replayed"] += len(ops)
            self.ready.extend(ops)
            self.ready_event.ring()
        return len(rows)

    def _renew_leases(self) -> None:
        lease = time.time() + LEASE
        self._outbox_call("renew", lambda box: box.renew(lease))

    def _save_at_exit(self, left: list[_Op], deadline: float) -> None:
        """Write ``left`` (the undelivered operations) to the outbox by ``deadline``, or say they are lost."""
        if not left and self.outbox is None:
            return
        box = self._outbox()
        if box is None:
            if left:
                logger.warning(
                    "helicone_wrap: %s not delivered before exit; lost, as no outbox is configured.",
                    _what_was_left(left),
                )
            return
        saved = 0
        left.sort(key=lambda op: op.foreign)  # ours first: replayed rows are in the outbox already
        own_ops = [op for op in left if not op.foreign]
        own, what = len(own_ops), _what_was_left(own_ops)
        try:
            # Deletions first: once released, a delivered row would be claimable by another process.
            ids = _take_all(self.deletions)
            if ids:
                box.delete(ids, timeout=max(0.05, deadline - time.monotonic()))
            self._drain_upserts(timeout=max(0.05, deadline - time.monotonic()))
            rows = [self._row(op) for op in left]
            for chunk in range(0, len(rows), 10_000):  # stop at the deadline rather than overrun it
                if chunk and time.monotonic() >= deadline:
                    break
                saved += box.add(rows[chunk : chunk + 10_000], timeout=max(0.05, deadline - time.monotonic()))
            box.release(timeout=max(0.05, deadline - time.monotonic()))
            with self.lock:
                self.counts["spilled"] += sum(1 for op in left[:saved] if not op.in_outbox)
            if saved < own:
                logger.warning(
                    "helicone_wrap: %s not delivered before exit; %d saved to the outbox at %s (inspect: "
                    "helicone-wrap outbox), the rest lost: raise configure(exit_timeout=...) to keep them all.",
                    what,
                    saved,
                    box.path,
                )
            elif own:
                logger.warning(
                    "helicone_wrap: %s not delivered before exit; saved to the outbox at %s (inspect: "
                    "helicone-wrap outbox).",
                    what,
                    box.path,
                )
        except Exception as exc:
            logger.warning(
                "helicone_wrap: %s not delivered before exit and could not be saved to the outbox at %s: %s: %s",
                what,
                box.path,
                type(exc).__name__,
                exc,
            )


_T = TypeVar("_T")


def _failed_copy(row: OutboxRow, error: LastError) -> OutboxRow:
    return replace(row, error_type=error[0], error_message=error[1], error_status=error[2], failed_at=time.time())


def _take_all(items: deque[_T]) -> list[_T]:
    """Pop everything from a deque other threads append to, without holding a lock."""
    taken: list[_T] = []
    while items:
        try:
            taken.append(items.popleft())
        except IndexError:
            break
    return taken
