"""The delivery worker's threads: a scheduler and a small pool of senders, started lazily.

The scheduler thread moves retries whose time has come from the heap to the ready queue, drains
spills and deletions, replays the outbox and renews leases. The ``concurrency`` sender threads
(default 4) share one keep-alive connection pool
(:class:`~helicone_wrap._delivery.transport.RestTransport`); what they do with each operation is
:mod:`.sender`. Also here: submission from the caller's thread, ``flush``, the exit path and ``stop``.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Sequence
from typing import Any

from .. import _api, _guard
from .._config import Target
from .._exceptions import HeliconeError
from .._guard import warn_once
from .handle import Delivery
from .queue import QUEUED, SENDING, DeferredRecord, _Op
from .sender import _Sender
from .transport import RestTransport

TICK = 0.2  # scheduler housekeeping period while there is work (s)
IDLE_TICK = 2.0  # ... and while there is none
RENEW_EVERY = 60.0
REPLAY_EVERY = 30.0
REPLAY_BATCH = 1000
LOG_BATCH = 64  # log records queued before submit() wakes a sender itself


class _Worker(_Sender):
    """The delivery worker: its state and outbox side, plus submission, threads, flush and exit."""

    # - submission (the caller's thread) ----------------------------------------------------------

    def submit(self, kind: str, request_id: str, bodies: Sequence[Any], target: Target) -> Delivery:
        handle = Delivery(kind, request_id, len(bodies))
        if bodies:
            now = time.time()
            self._enqueue(kind, [_Op(kind, request_id, body, target.api_url, target, now, handle) for body in bodies])
        return handle

    def submit_log(self, request_id: str, body: Any, target: Target) -> None:
        """One async-mode log record. Nobody waits on a record's own handle, so none is made:
        ``flush()`` and the exit path count it by its sequence number like any other operation."""
        self._enqueue(_api.KIND_LOG, [_Op(_api.KIND_LOG, request_id, body, target.api_url, target, time.time(), None)])

    def submit_log_later(self, item: DeferredRecord) -> None:
        """One async-mode record, built later on a delivery thread: the call's thread only appends it.

        The records of a burst are then built together (:meth:`_drain_deferred`), where the code
        that builds them stays warm in the CPU's caches; built one per call between the call's own
        work, the same steps cost about twice as much. ``flush()``, ``delivery_stats()`` and the
        exit path see deferred records like queued ones. With ``durable=True`` (each record on
        disk before the call returns), before the worker has started, and while exiting, the
        record is built and queued at once.
        """
        if self.started and not self.closing and not self.settings.durable:
            deferred = self.deferred
            deferred.append(item)
            if len(deferred) >= LOG_BATCH:
                self.ready_event.ring()
            return
        built = _build(item)
        if built is not None:
            self.submit_log(*built)

    def _drain_deferred(self) -> None:
        """Build the deferred records into queued operations, all that wait, in submission order."""
        with self.drain_lock:
            deferred = self.deferred
            ops: list[_Op] = []
            now = time.time()
            for _ in range(len(deferred)):
                built = _build(deferred.popleft())
                if built is not None:
                    request_id, body, target = built
                    ops.append(_Op(_api.KIND_LOG, request_id, body, target.api_url, target, now, None))
            if ops:
                self._enqueue(_api.KIND_LOG, ops, wake=False)

    def _enqueue(self, kind: str, ops: list[_Op], *, wake: bool = True) -> None:
        settings = self.settings
        if self.closing or not self.ensure_started():
            self._submit_while_closing(ops)
            return
        victims: list[_Op] = []
        with self.lock:
            room = settings.max_queue - len(self.unfinished)
            for op in ops:
                op.seq = self.next_seq
                self.next_seq += 1
            self.counts["queued"] += len(ops)
            outbox_on = settings.outbox is not None
            if room >= len(ops) or not outbox_on:
                queued, overflow = ops, []
            else:
                queued, overflow = ops[: max(room, 0)], ops[max(room, 0) :]
            for op in queued:
                self.unfinished[op.seq] = op
            if not outbox_on and len(self.unfinished) > settings.max_queue:
                victims = self._pick_victims(len(self.unfinished) - settings.max_queue)
        if settings.durable and outbox_on:
            self._write_durable(queued)
        if overflow and not self._spill(overflow, synchronous=settings.durable):
            self._requeue(overflow)
        if victims:
            self._drop(victims)
        self.ready.extend(queued)
        # Async-mode log records (one per call) don't wake a sender each: the scheduler's next tick
        # (<= TICK s) or any other operation does, so a burst of calls costs a few wake-ups, not one each.
        if wake and (kind != _api.KIND_LOG or len(self.ready) >= LOG_BATCH):
            self.ready_event.ring()

    def _submit_while_closing(self, ops: list[_Op]) -> None:
        # After the exit handler ran (or when threads can't start): straight to the outbox.
        with self.lock:
            for op in ops:
                op.seq = self.next_seq
                self.next_seq += 1
            self.counts["queued"] += len(ops)
        if self._spill(ops, synchronous=True):
            return
        error = HeliconeError("not sent: the interpreter is exiting and no outbox is configured")
        for op in ops:
            if op.handle is not None:
                op.handle._part_done(error)

    # - threads ---------------------------------------------------------------------------------

    def ensure_started(self) -> bool:
        if self.started:
            return True
        with self.start_lock:
            if self._flag("started"):
                return True
            try:
                settings = self.settings
                self.transport = RestTransport(timeout=settings.request_timeout, connections=max(2, settings.concurrency * 2))
                threads = [threading.Thread(target=self._scheduler_loop, name="helicone-delivery", daemon=True)]
                threads += [
                    threading.Thread(target=self._sender_loop, name=f"helicone-delivery-{i}", daemon=True)
                    for i in range(settings.concurrency)
                ]
                for thread in threads:
                    thread.start()
                    self.threads.append(thread)
            except RuntimeError as exc:  # e.g. "can't create new thread at interpreter shutdown"
                warn_once("start", "helicone_wrap: could not start the delivery worker: %s", exc)
                self.closing = True
                return False
            self.on_start()
            self.started = True
        return True

    def _scheduler_loop(self) -> None:
        try:
            self._replay(max(0, min(self.settings.max_queue // 2, 10 * REPLAY_BATCH)))
        except Exception as exc:
            _guard.internal_error("delivery-replay", exc)
        finally:
            self.replay_done.set()
        now = time.monotonic()
        next_renew, next_replay = now + RENEW_EVERY, now + REPLAY_EVERY
        while not self.stopping:
            try:
                due: list[_Op] = []
                with self.cond:
                    if not self.wake_flag:
                        busy = (self.unfinished or self.deferred or self.spills or self.deletions or self.upserts
                                or self.outbox_dirty)
                        timeout = TICK if busy else IDLE_TICK
                        if self.heap:
                            timeout = min(timeout, self.heap[0][0] - time.monotonic())
                        if timeout > 0:
                            self.cond.wait(timeout)
                    self.wake_flag = False
                    now = time.monotonic()
                    while self.heap and self.heap[0][0] <= now:
                        due.append(heapq.heappop(self.heap)[2])
                ready = [op for op in due if op.state == QUEUED]
                if ready:
                    self.ready.extend(ready)
                if self.ready or self.deferred:  # (also the log records calls left for this tick)
                    self.ready_event.ring()
                if self._flag("stopping"):
                    break
                self._drain_deletions()
                self._drain_upserts()
                if self.closing:
                    continue
                self._drain_spills()
                settings = self.settings
                if self.dropping and len(self.unfinished) < settings.max_queue * 0.9:
                    self.dropping = False
                room = settings.max_queue // 2 - len(self.unfinished)
                if (self.outbox_dirty and room > 0) or now >= next_replay:
                    claimed = self._replay(min(room, REPLAY_BATCH))
                    if claimed < min(room, REPLAY_BATCH):
                        self.outbox_dirty = False
                    next_replay = now + REPLAY_EVERY
                if now >= next_renew and self.outbox is not None:
                    self._renew_leases()
                    next_renew = now + RENEW_EVERY
            except Exception as exc:
                if self._flag("stopping"):
                    return
                _guard.internal_error("delivery-scheduler", exc)
                time.sleep(TICK)

    # - flush, exit, stop -------------------------------------------------------------------------

    def flush(self, timeout: float, *, own_only: bool = False) -> bool:
        """Wait for the operations queued before now; ``own_only``: not for rows replayed from others.

        Without ``own_only`` a replayed row counts until its attempt here ends: delivered, failed,
        or put back in the outbox with its next due time.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        path = self.settings.outbox_path()
        leftovers = self.settings.outbox is not None and path is not None and path.exists()
        if not self.started and not self.unfinished and not self.spills and not leftovers:
            return True
        if not self.closing and self.ensure_started():
            self._drain_deferred()  # records calls left count as queued before now
            self.ready_event.ring()  # log records waiting for the scheduler's tick go now
            if not own_only:
                self.replay_done.wait(max(0.0, deadline - time.monotonic()))
        with self.lock:
            target = self.next_seq
            self.flush_waiters += 1
            self.flush_target = min(self.flush_target, target) if self.flush_waiters > 1 else target
        try:
            while True:
                if self._flushed(target, own_only):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                with self.done_cond:
                    self.done_cond.wait(min(remaining, 0.05))
        finally:
            with self.lock:
                self.flush_waiters -= 1

    def _flushed(self, target: int, own_only: bool = False) -> bool:
        with self.lock:
            if self.unfinished:
                oldest = min(self.unfinished) if self.unordered else next(iter(self.unfinished))
                if oldest < target and not own_only:
                    return False
                if oldest < target and any(seq < target and not op.foreign for seq, op in self.unfinished.items()):
                    return False
        if any(op.seq < target for op in list(self.spills)):
            return False
        if self.outbox is not None:
            self._drain_deletions()  # so a flush() followed by a hard exit does not resend delivered rows
            self._drain_upserts()
        if not self.own_rows:
            return True
        pending = self._outbox_call("check", lambda box: box.has_origin_before(self.token, target))
        return not pending

    def shutdown(self, timeout: float) -> None:
        """The exit path: a bounded flush, then everything left goes to the outbox."""
        start = time.monotonic()
        deadline = start + max(0.0, timeout)
        if self.started and not self.closing:
            self._drain_deferred()
            # Keep enough of the budget to save what is left (~10 µs per operation, measured).
            reserve = min(timeout * 0.5, 0.25 + (len(self.unfinished) + len(self.spills)) * 10e-6)
            self.flush(max(0.0, timeout - reserve), own_only=True)  # never wait for other processes' rows
        self.closing = True
        self._drain_deferred()  # records left since (closing now: they go straight to the outbox)
        with self.lock:
            left = [op for op in self.unfinished.values() if op.state in (QUEUED, SENDING)]
        left += list(self.spills)
        self.spills.clear()
        self._save_at_exit(left, deadline)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the threads and close the client and outbox (tests only; exit uses ``shutdown``)."""
        self.stopping = True
        self.closing = True
        self.ready_event.ring_all()
        self._wake_scheduler()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.transport is not None:
            self.transport.close()
        if self.outbox is not None:
            self.outbox.close(timeout=max(0.1, deadline - time.monotonic()))


def _build(item: DeferredRecord) -> tuple[str, Any, Target] | None:
    """``item.build()``; our error is logged, never raised (that one record is lost, and said so)."""
    try:
        return item.build()
    except Exception as exc:
        _guard.internal_error("async-log", exc)
        return None
