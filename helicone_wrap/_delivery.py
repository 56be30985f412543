"""Background delivery of enrich/feedback/score: never blocks the caller, never loses data.

Every operation returns a :class:`Delivery` handle at once. The caller's thread only validates,
appends to an in-memory queue and wakes the worker (no I/O, unless ``durable=True``).

The worker is one per process, started lazily: a scheduler thread plus a small fixed pool of
sender threads (``concurrency``, default 4) sharing one keep-alive connection pool
(:class:`~helicone_wrap._transport.RestTransport`, on httpx or httpx2, whichever the installed
openai uses). Four senders measured best on loopback; fewer waste a slow link's latency, more
cost CPU in GIL hand-offs. It survives ``fork``: the
child starts with an empty queue and a fresh worker; the parent's pending work stays the
parent's (the parent's handles never complete in the child).

Retries (see :func:`retry_decision`, a pure function):

- ``500 "Request not found"``: Helicone has not ingested the log yet. Retried with exponential
  backoff and full jitter for ``lag_window`` seconds (default 10 minutes).
- ``429``: retried after ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset``.
- other 5xx, 408, timeouts, refused/reset connections: retried with backoff, within the window.
- 400, 401, 403, 404, 422 and other 4xx: not retried; the error goes on the handle and is
  logged once per status (logger ``helicone_wrap``, WARNING; the key never appears).

A retrying operation waits in a heap keyed by its next attempt time, so it never holds up
others. ``flush(timeout)`` waits for everything queued before it and never hangs; at exit a
bounded flush runs (``exit_timeout``, default 5 s), then whatever is left is written to the
SQLite outbox (see :mod:`helicone_wrap._outbox`) and replayed when a worker next starts. When
the in-memory queue is full (``max_queue``), new operations spill to the outbox; with no outbox
the oldest waiting operation is dropped, counted in :func:`stats` and warned about once per burst.
"""

from __future__ import annotations

import asyncio
import atexit
import heapq
import json
import logging
import os
import random
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from . import _api, _guard
from ._config import Target, register_target, target_for_url
from ._exceptions import (
    HeliconeAPIError,
    HeliconeConfigError,
    HeliconeError,
    HeliconeRequestNotFound,
)
from ._http import http
from ._outbox import Outbox, OutboxRow, default_outbox_path
from ._transport import RestTransport

__all__ = ["DEFAULT_OUTBOX", "Delivery", "DeliveryStats", "configure", "flush", "stats"]

logger = logging.getLogger("helicone_wrap")

TICK = 0.2  # scheduler housekeeping period while there is work (s)
IDLE_TICK = 2.0  # ... and while there is none
LEASE = 300.0  # how long a claim on outbox rows lasts without renewal (s)
RENEW_EVERY = 60.0
REPLAY_EVERY = 30.0
REPLAY_BATCH = 1000
_BASE_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": _api.USER_AGENT}

_OK_BODY = b'{"data":null,"error":null}'  # Helicone's usual success answer: nothing to parse
_KINDS = frozenset({_api.KIND_PROPERTY, _api.KIND_FEEDBACK, _api.KIND_SCORE})

# Operation states.
QUEUED, SENDING, DONE, DROPPED, SPILLED = range(5)


class _DefaultOutbox:
    """Type of :data:`DEFAULT_OUTBOX`."""

    _instance: _DefaultOutbox | None = None

    def __new__(cls) -> _DefaultOutbox:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT_OUTBOX"


#: ``configure(outbox=DEFAULT_OUTBOX)``: the per-user data file (see ``_outbox.default_outbox_path``).
DEFAULT_OUTBOX = _DefaultOutbox()
_UNSET: Any = object()

OutboxSetting = str | os.PathLike[str] | None | _DefaultOutbox


@dataclass(frozen=True)
class Settings:
    """Delivery settings; change them with :func:`configure`."""

    lag_window: float = 600.0
    exit_timeout: float = 5.0
    outbox: Path | None | _DefaultOutbox = DEFAULT_OUTBOX
    durable: bool = False
    max_queue: int = 100_000
    max_retries: int | None = None
    concurrency: int = 4
    request_timeout: float = 10.0
    backoff_base: float = 0.25
    backoff_cap: float = 30.0
    outbox_max_age: float = 7 * 86400.0

    def outbox_path(self) -> Path | None:
        """Where the outbox lives, or None when it is disabled."""
        if isinstance(self.outbox, _DefaultOutbox):
            return default_outbox_path()
        return self.outbox


@dataclass(frozen=True)
class DeliveryStats:
    """Counters since the worker started (or since the last fork).

    ``queued`` operations accepted; ``delivered``; ``failed`` finally (not retried or out of
    window); ``retried`` attempts scheduled again; ``dropped`` (queue full, no outbox);
    ``spilled`` to the outbox (queue full or exit); ``replayed`` from the outbox; ``pending`` now.
    Usage: ``helicone_wrap.delivery_stats().delivered``
    """

    queued: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    spilled: int = 0
    replayed: int = 0
    pending: int = 0


# -- the retry policy (pure) -----------------------------------------------------------------------


class Decision(NamedTuple):
    """What to do after one attempt: ``done``, ``retry`` after ``delay`` seconds, or ``fail``."""

    action: str
    delay: float = 0.0
    reason: str = ""


def retry_decision(
    status: int | None,
    body: Any,
    headers: Mapping[str, str],
    attempt: int,
    elapsed: float,
    *,
    lag_window: float = 600.0,
    max_retries: int | None = None,
    base: float = 0.25,
    cap: float = 30.0,
    rand: Callable[[], float] = random.random,
    now: float | None = None,
) -> Decision:
    """Decide after attempt number ``attempt`` (1-based), ``elapsed`` seconds after the first.

    ``status`` is None when there was no answer (refused, reset, timed out).
    Usage: ``retry_decision(500, {"error": "Request not found"}, {}, 1, 0.0)`` -> retry
    """
    if status is not None and 200 <= status < 300:
        if isinstance(body, Mapping) and body.get("error"):
            message = _api.error_message(body, status)
            if _api.NOT_FOUND_TEXT.lower() not in message.lower():
                return Decision("fail", reason="error-envelope")
            reason = "not-found"
        else:
            return Decision("done", reason="delivered")
    elif status is None:
        reason = "no-answer"
    elif status == 429:
        reason = "rate-limited"
    elif _api.NOT_FOUND_TEXT.lower() in _api.error_message(body, status).lower():
        reason = "not-found"
    elif status == 408 or status >= 500:
        reason = "server-error"
    else:
        return Decision("fail", reason="client-error")
    if max_retries is not None and attempt > max_retries:
        return Decision("fail", reason=f"gave-up:{reason}")
    remaining = lag_window - elapsed
    if remaining <= 0:
        return Decision("fail", reason=f"gave-up:{reason}")
    if reason == "rate-limited":
        wait = _api.retry_after(headers, now)
        if wait is not None:
            if wait > remaining:
                return Decision("fail", reason="gave-up:rate-limited")
            return Decision("retry", wait, reason)
    delay = rand() * min(cap, base * 2 ** max(0, attempt - 1))
    return Decision("retry", min(delay, remaining), reason)


# -- the handle --------------------------------------------------------------------------------------

_handle_lock = threading.Lock()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Delivery:
    """The result of ``.enrich()``, ``.feedback()`` or ``.score()``: returned at once, done later.

    ``done`` tells whether every part was delivered or finally failed; ``error`` holds the first
    failure (a :class:`HeliconeAPIError` subclass). Waiting never raises.
    Usage: ``completion.feedback(True).wait(5)`` or ``await completion.enrich(outcome="ok")``
    """

    __slots__ = ("__weakref__", "_callbacks", "_done", "_error", "_event", "_remaining", "kind", "request_id")

    def __init__(self, kind: str, request_id: str, parts: int = 1) -> None:
        self.kind = kind
        self.request_id = request_id
        self._remaining = parts
        self._done = parts <= 0
        self._error: BaseException | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[], None]] | None = None

    def __repr__(self) -> str:
        state = "pending" if not self._done else "failed" if self._error else "delivered"
        return f"<Delivery {self.kind} {self.request_id} {state}>"

    @property
    def done(self) -> bool:
        """True once every part was delivered or finally failed."""
        return self._done

    @property
    def error(self) -> BaseException | None:
        """The first failure, or None (also None while pending)."""
        return self._error

    @property
    def ok(self) -> bool:
        """True when done without error."""
        return self._done and self._error is None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done or ``timeout`` seconds passed; True when done. Never raises."""
        if self._done:
            return True
        with _handle_lock:
            if self.done:  # re-check under the lock (a property, so the checker does not assume it)
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def __await__(self) -> Generator[Any, None, Delivery]:
        """``await handle`` from any asyncio loop: waits without blocking the loop, returns the handle."""
        if not self._done:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                try:
                    loop.call_soon_threadsafe(_resolve, future)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    pass

            self._on_done(wake)
            yield from future.__await__()
        return self

    def _on_done(self, callback: Callable[[], None]) -> None:
        with _handle_lock:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        callback()

    def _part_done(self, error: BaseException | None) -> None:
        with _handle_lock:
            if self._done:
                return
            if error is not None and self._error is None:
                self._error = error
            self._remaining -= 1
            if self._remaining > 0:
                return
            self._done = True
            event, callbacks = self._event, self._callbacks
            self._callbacks = None
        if event is not None:
            event.set()
        for callback in callbacks or ():
            try:
                callback()
            except Exception as exc:  # pragma: no cover - our callbacks don't raise
                _guard.internal_error("delivery-callback", exc)


# -- one queued operation -----------------------------------------------------------------------------


class _Op:
    __slots__ = (
        "api_url", "attempts", "body", "created_at", "first_try", "handle", "in_outbox", "kind",
        "last_exc", "op_id", "request_id", "seq", "state", "target",
    )  # fmt: skip

    def __init__(
        self,
        kind: str,
        request_id: str,
        body: Any,
        api_url: str,
        target: Target | None,
        created_at: float,
        handle: Delivery | None,
        attempts: int = 0,
        op_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.request_id = request_id
        self.body = body
        self.api_url = api_url
        self.target = target
        self.created_at = created_at
        self.handle = handle
        self.attempts = attempts
        self.op_id = op_id
        self.in_outbox = op_id is not None
        self.first_try = 0.0
        self.seq = 0
        self.state = QUEUED
        self.last_exc: BaseException | None = None


_warned: set[str] = set()


def _warn_once(kind: str, message: str, *args: object) -> None:
    if kind in _warned:
        return
    _warned.add(kind)
    logger.warning(message, *args)


def _scrub(error: HeliconeAPIError, target: Target) -> HeliconeAPIError:
    key = target.api_key
    if key and key in str(error):
        return type(error)(error.message.replace(key, "<redacted>"), status=error.status)
    return error


# -- the worker -------------------------------------------------------------------------------------


class _Worker:
    """All per-process delivery state; replaced wholesale after fork and by ``_reset_for_tests``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.token = secrets.token_hex(8)
        self.lock = threading.Lock()  # queue bookkeeping and counters
        self.cond = threading.Condition(threading.Lock())  # the retry heap and scheduler wake-ups
        self.done_cond = threading.Condition(threading.Lock())  # flush waiters
        self.start_lock = threading.Lock()
        self.ready: deque[_Op] = deque()
        self.ready_event = threading.Event()
        self.heap: list[tuple[float, int, _Op]] = []
        self.unfinished: OrderedDict[int, _Op] = OrderedDict()
        self.spills: deque[_Op] = deque()
        self.deletions: deque[str] = deque()
        self.spilled_handles: weakref.WeakValueDictionary[str, Delivery] = weakref.WeakValueDictionary()
        self.next_seq = 1
        self.wake_flag = False
        self.flush_waiters = 0
        self.flush_target = 0
        self.started = False
        self.stopping = False
        self.closing = False
        self.dropping = False
        self.outbox_dirty = False  # rows we spilled may still wait, unclaimed, in the outbox
        self.own_rows = False  # this process has written rows (flush() must look in the outbox)
        self.unordered = False
        self.replay_done = threading.Event()
        self.threads: list[threading.Thread] = []
        self.transport: RestTransport | None = None
        self.headers: dict[tuple[str, str | None], dict[str, str]] = {}
        self.outbox: Outbox | None = None
        self.counts = {"queued": 0, "delivered": 0, "failed": 0, "retried": 0, "dropped": 0, "spilled": 0, "replayed": 0}

    # - submission (the caller's thread) ----------------------------------------------------------

    def submit(self, kind: str, request_id: str, bodies: Sequence[Any], target: Target) -> Delivery:
        handle = Delivery(kind, request_id, len(bodies))
        if not bodies:
            return handle
        now = time.time()
        api_url = target.api_url
        ops = [_Op(kind, request_id, body, api_url, target, now, handle) for body in bodies]
        settings = self.settings
        if self.closing or not self.ensure_started():
            self._submit_while_closing(ops)
            return handle
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
        self.ready_event.set()
        return handle

    def _pick_victims(self, count: int) -> list[_Op]:
        victims: list[_Op] = []
        for seq, op in list(self._oldest(count + self.settings.concurrency * 2)):
            if op.state == QUEUED:
                op.state = DROPPED
                del self.unfinished[seq]
                victims.append(op)
                if len(victims) >= count:
                    break
        return victims

    def _oldest(self, count: int) -> list[tuple[int, _Op]]:
        found: list[tuple[int, _Op]] = []
        for item in self.unfinished.items():
            found.append(item)
            if len(found) >= count:
                break
        return found

    def _drop(self, victims: list[_Op]) -> None:
        with self.lock:
            self.counts["dropped"] += len(victims)
            first_of_burst = not self.dropping
            self.dropping = True
        if first_of_burst:
            logger.warning(
                "helicone_wrap: the delivery queue is full (max_queue=%d) and no outbox is configured; "
                "dropping the oldest waiting operations (counted in delivery stats). Configure an outbox "
                "or a larger max_queue to keep them.",
                self.settings.max_queue,
            )
        error = HeliconeError(
            "dropped: the delivery queue was full and no outbox is configured (configure(outbox=...) keeps them)"
        )
        for op in victims:
            op.body = None
            if op.handle is not None:
                op.handle._part_done(error)

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

    # - outbox access ---------------------------------------------------------------------------

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
            _warn_once(
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

    def _row(self, op: _Op) -> OutboxRow:
        return OutboxRow(
            self._op_id(op), op.kind, op.request_id, json.dumps(op.body), op.api_url, op.created_at, op.attempts,
            self.token, op.seq,
        )  # fmt: skip

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
                _warn_once(
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
        ops: list[_Op] = []
        while self.spills:
            try:
                ops.append(self.spills.popleft())
            except IndexError:
                break
        if ops and not self._spill(ops, synchronous=True):
            self._requeue(ops)  # the outbox failed: keep them in memory rather than lose them

    def _requeue(self, ops: list[_Op]) -> None:
        with self.lock:
            self.unordered = True  # older seqs now sit behind newer ones in `unfinished`
            for op in ops:
                op.state = QUEUED
                self.unfinished[op.seq] = op
        self.ready.extend(ops)
        self.ready_event.set()

    def _drain_deletions(self) -> None:
        ids: list[str] = []
        while self.deletions:
            try:
                ids.append(self.deletions.popleft())
            except IndexError:
                break
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
        stale: list[str] = []
        cutoff = time.time() - self.settings.outbox_max_age
        for row in rows:
            if row.kind not in _KINDS:
                continue  # written by a newer helicone_wrap: leave it (our claim ends at exit)
            try:
                body = row.body()
            except ValueError:
                stale.append(row.op_id)  # corrupt: nothing we can ever send
                continue
            if row.created_at < cutoff:
                stale.append(row.op_id)
                continue
            handle = self.spilled_handles.pop(row.op_id, None)
            rows_kept.append(row)
            ops.append(_Op(row.kind, row.request_id, body, row.api_url, None, row.created_at, handle, row.attempts, row.op_id))
        if stale:
            _warn_once("outbox-stale", "helicone_wrap: discarded %d outbox operations (unreadable, or older than the maximum age).", len(stale))
            self.deletions.extend(stale)
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
            self.ready_event.set()
        return len(rows)

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
                _warn_once("start", "helicone_wrap: could not start the delivery worker: %s", exc)
                self.closing = True
                return False
            _register_atexit()
            self.started = True
        return True

    def _flag(self, name: str) -> bool:
        # Flags are flipped by other threads; reading through here keeps re-checks honest for mypy.
        return bool(getattr(self, name))

    def _wake_scheduler(self) -> None:
        with self.cond:
            self.wake_flag = True
            self.cond.notify()

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
                        busy = self.unfinished or self.spills or self.deletions or self.outbox_dirty
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
                    self.ready_event.set()
                if self._flag("stopping"):
                    break
                self._drain_deletions()
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

    def _renew_leases(self) -> None:
        lease = time.time() + LEASE
        self._outbox_call("renew", lambda box: box.renew(lease))

    def _sender_loop(self) -> None:
        ready, event = self.ready, self.ready_event
        while not self.stopping:
            try:
                op = ready.popleft()
            except IndexError:
                event.clear()
                if not ready:
                    event.wait(1.0)
                continue
            if op.state != QUEUED or self.closing:
                if self.closing and op.state == QUEUED:
                    ready.appendleft(op)
                    time.sleep(0.05)
                continue
            op.state = SENDING
            try:
                self._attempt(op)
            except Exception as exc:
                if self._flag("stopping"):
                    return
                _guard.internal_error("delivery-sender", exc)
                self._finish(op, HeliconeError(f"internal error while sending: {type(exc).__name__}: {exc}"))

    def _attempt(self, op: _Op) -> None:
        settings = self.settings
        target = op.target or target_for_url(op.api_url)
        request = _api.build_write(op.kind, op.request_id, op.body)
        if op.first_try == 0.0:
            op.first_try = time.monotonic()
        cache_key = (target.api_url, target.api_key)
        headers = self.headers.get(cache_key)
        if headers is None:
            headers = self.headers[cache_key] = {**_BASE_HEADERS, **target.auth_headers()}
        status: int | None = None
        body: Any = None
        answer_headers: Mapping[str, str] = {}
        try:
            assert self.transport is not None
            status, content, answer_headers = self.transport.send(
                request.method, op.api_url, request.path, json.dumps(request.body).encode(), headers
            )
            body = None if content == _OK_BODY else _api.decode_body(content)
        except http.TransportError as exc:
            op.last_exc = exc
        op.attempts += 1
        elapsed = time.monotonic() - op.first_try
        decision = retry_decision(
            status, body, answer_headers, op.attempts, elapsed,
            lag_window=settings.lag_window, max_retries=settings.max_retries,
            base=settings.backoff_base, cap=settings.backoff_cap,
        )  # fmt: skip
        if decision.action == "done":
            self._finish(op, None)
        elif decision.action == "retry":
            self._retry(op, decision.delay)
        else:
            self._finish(op, self._failure(op, target, status, body, answer_headers, decision, elapsed))

    def _failure(
        self,
        op: _Op,
        target: Target,
        status: int | None,
        body: Any,
        headers: Mapping[str, str],
        decision: Decision,
        elapsed: float,
    ) -> BaseException:
        if status is None:
            error: HeliconeAPIError = _api.connection_error(op.last_exc or OSError("no answer"), op.api_url)
            error.__cause__ = op.last_exc
        else:
            error = _scrub(_api.api_error(status, body, headers), target)
        gave_up = decision.reason.startswith("gave-up")
        if gave_up and isinstance(error, HeliconeRequestNotFound):
            error = HeliconeRequestNotFound(
                f"{error.message} (still not found after {elapsed:.0f} s and {op.attempts} attempts; "
                "raise configure(lag_window=...) if Helicone ingests slowly)",
                status=error.status,
                body=error.body,
            )
        kind = f"{status}" if status is not None else type(op.last_exc).__name__
        _warn_once(
            f"fail-{kind}",
            "helicone_wrap: %s for request %s failed%s: %s (further %s failures are not logged)",
            op.kind,
            op.request_id,
            " after retrying" if gave_up else " and is not retried",
            error,
            kind,
        )
        return error

    def _retry(self, op: _Op, delay: float) -> None:
        with self.lock:
            self.counts["retried"] += 1
        op.state = QUEUED
        due = time.monotonic() + delay
        with self.cond:
            heapq.heappush(self.heap, (due, op.seq, op))
            if self.heap[0][2] is op:
                self.wake_flag = True
                self.cond.notify()

    def _finish(self, op: _Op, error: BaseException | None) -> None:
        op.state = DONE
        with self.lock:
            self.unfinished.pop(op.seq, None)
            if not self.unfinished:
                self.unordered = False
            self.counts["failed" if error is not None else "delivered"] += 1
            # Wake flush() only when its condition may now hold, not once per operation.
            wake = self.flush_waiters > 0 and (
                self.unordered or not self.unfinished or next(iter(self.unfinished)) >= self.flush_target
            )
        if op.in_outbox and op.op_id is not None:
            self.deletions.append(op.op_id)
        if op.handle is not None:
            op.handle._part_done(error)
        if wake:
            with self.done_cond:
                self.done_cond.notify_all()

    # - flush, exit, stats ------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        path = self.settings.outbox_path()
        leftovers = self.settings.outbox is not None and path is not None and path.exists()
        if not self.started and not self.unfinished and not self.spills and not leftovers:
            return True
        if not self.closing and self.ensure_started():
            self.replay_done.wait(max(0.0, deadline - time.monotonic()))
        with self.lock:
            target = self.next_seq
            self.flush_waiters += 1
            self.flush_target = min(self.flush_target, target) if self.flush_waiters > 1 else target
        try:
            while True:
                if self._flushed(target):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                with self.done_cond:
                    self.done_cond.wait(min(remaining, 0.05))
        finally:
            with self.lock:
                self.flush_waiters -= 1

    def _flushed(self, target: int) -> bool:
        with self.lock:
            if self.unfinished:
                oldest = min(self.unfinished) if self.unordered else next(iter(self.unfinished))
                if oldest < target:
                    return False
        if any(op.seq < target for op in list(self.spills)):
            return False
        if self.outbox is not None:
            self._drain_deletions()  # so a flush() followed by a hard exit does not resend delivered rows
        if not self.own_rows:
            return True
        pending = self._outbox_call("check", lambda box: box.has_origin_before(self.token, target))
        return not pending

    def shutdown(self, timeout: float) -> None:
        """The exit path: a bounded flush, then everything left goes to the outbox."""
        start = time.monotonic()
        deadline = start + max(0.0, timeout)
        if self.started and not self.closing:
            # Keep enough of the budget to save what is left (~10 µs per operation, measured).
            reserve = min(timeout * 0.5, 0.25 + (len(self.unfinished) + len(self.spills)) * 10e-6)
            self.flush(max(0.0, timeout - reserve))
        self.closing = True
        with self.lock:
            left = [op for op in self.unfinished.values() if op.state in (QUEUED, SENDING)]
        left += list(self.spills)
        self.spills.clear()
        if not left and self.outbox is None:
            return
        box = self._outbox()
        if box is None:
            if left:
                logger.warning(
                    "helicone_wrap: %d enrich/feedback/score operations were not delivered before exit and are "
                    "lost (no outbox configured).",
                    len(left),
                )
            return
        saved = 0
        try:
            rows = [self._row(op) for op in left]
            for chunk in range(0, len(rows), 10_000):  # stop at the deadline rather than overrun it
                if chunk and time.monotonic() >= deadline:
                    break
                saved += box.add(rows[chunk : chunk + 10_000], timeout=max(0.05, deadline - time.monotonic()))
            box.release(timeout=max(0.05, deadline - time.monotonic()))
            ids = list(self.deletions)
            if ids:
                box.delete(ids, timeout=max(0.05, deadline - time.monotonic()))
            with self.lock:
                self.counts["spilled"] += sum(1 for op in left[:saved] if not op.in_outbox)
            if saved < len(left):
                logger.warning(
                    "helicone_wrap: saved %d of %d undelivered operations to the outbox before the exit "
                    "deadline; raise configure(exit_timeout=...) to keep them all.",
                    saved,
                    len(left),
                )
        except Exception as exc:
            logger.warning(
                "helicone_wrap: could not save %d undelivered operations to the outbox at %s at exit: %s: %s",
                len(left),
                box.path,
                type(exc).__name__,
                exc,
            )

    def stats(self) -> DeliveryStats:
        with self.lock:
            return DeliveryStats(**self.counts, pending=len(self.unfinished) + len(self.spills))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the threads and close the client and outbox (tests only; exit uses ``shutdown``)."""
        self.stopping = True
        self.closing = True
        self.ready_event.set()
        self._wake_scheduler()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.transport is not None:
            self.transport.close()
        if self.outbox is not None:
            self.outbox.close(timeout=max(0.1, deadline - time.monotonic()))


# -- module state and the public functions ------------------------------------------------------------

_settings = Settings()
_worker = _Worker(_settings)
_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_at_exit)


def _at_exit() -> None:
    try:
        _worker.shutdown(_worker.settings.exit_timeout)
    except BaseException as exc:  # never let our exit path disturb the interpreter's
        logger.warning("helicone_wrap: the delivery exit handler failed: %s: %s", type(exc).__name__, exc)


def _after_fork_in_child() -> None:
    global _worker, _handle_lock
    old = _worker
    _handle_lock = threading.Lock()
    _worker = _Worker(_settings)
    if old.outbox is not None:
        old.outbox.abandon()
    _abandoned_workers.append(old)  # never closed here: its client and sockets are the parent's


_abandoned_workers: list[_Worker] = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def submit(kind: str, request_id: str, bodies: Sequence[Any], target: Target) -> Delivery:
    """Queue one operation per body (one handle for all); never raises, never blocks (unless durable)."""
    register_target(target)
    try:
        return _worker.submit(kind, request_id, bodies, target)
    except Exception as exc:  # pragma: no cover - defensive: the caller must never see our bugs
        _guard.internal_error("delivery-submit", exc)
        handle = Delivery(kind, request_id, 1)
        handle._part_done(HeliconeError(f"internal error while queueing: {type(exc).__name__}: {exc}"))
        return handle


def flush(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for every operation queued before this call.

    Returns True when each was delivered or finally failed, False on timeout. Never hangs, never
    raises. Also replays operations a previous process left in the outbox.
    Usage: ``helicone_wrap.flush(10)`` before a serverless handler returns.
    """
    try:
        return _worker.flush(timeout)
    except Exception as exc:  # pragma: no cover - defensive
        _guard.internal_error("delivery-flush", exc)
        return False


def stats() -> DeliveryStats:
    """Delivery counters of this process. Usage: ``helicone_wrap.delivery_stats().pending``"""
    return _worker.stats()


def configure(
    *,
    lag_window: float = _UNSET,
    exit_timeout: float = _UNSET,
    outbox: OutboxSetting = _UNSET,
    durable: bool = _UNSET,
    max_queue: int = _UNSET,
    max_retries: int | None = _UNSET,
    concurrency: int = _UNSET,
    request_timeout: float = _UNSET,
) -> None:
    """Change how enrich/feedback/score are delivered; only the arguments you pass change.

    - ``lag_window`` (600 s): how long retries go on, counted from an operation's first attempt in
      this process (Helicone may lag behind in ingesting logs).
    - ``exit_timeout`` (5 s): the bound on the flush at interpreter exit.
    - ``outbox`` (:data:`DEFAULT_OUTBOX`, the per-user data dir): SQLite file for undelivered
      operations, replayed on the next start; ``None`` disables it.
    - ``durable`` (False): write every operation to the outbox before the call returns
      (survives ``kill -9``; costs a SQLite write per call).
    - ``max_queue`` (100,000): operations kept in memory; beyond it they spill to the outbox, or
      the oldest are dropped when there is none.
    - ``max_retries`` (None): cap on attempts per operation, on top of ``lag_window``.
    - ``concurrency`` (4) sender threads and ``request_timeout`` (10 s) per HTTP request; they
      apply when the worker starts.

    Usage: ``helicone_wrap.configure(durable=True, outbox="/var/lib/app/helicone.sqlite3")``
    """
    global _settings
    changes: dict[str, Any] = {}
    for name, value, kind in (
        ("lag_window", lag_window, "seconds"),
        ("exit_timeout", exit_timeout, "seconds"),
        ("request_timeout", request_timeout, "seconds"),
        ("max_queue", max_queue, "count"),
        ("concurrency", concurrency, "count"),
    ):
        if value is _UNSET:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < (1 if kind == "count" else 0):
            raise HeliconeConfigError(f"{name} must be a {'positive int' if kind == 'count' else 'number >= 0'}, got {value!r}.")
        if kind == "count" and not isinstance(value, int):
            raise HeliconeConfigError(f"{name} must be an int, got {value!r}.")
        changes[name] = value
    if max_retries is not _UNSET:
        if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0):
            raise HeliconeConfigError(f"max_retries must be None or an int >= 0, got {max_retries!r}.")
        changes["max_retries"] = max_retries
    if durable is not _UNSET:
        changes["durable"] = bool(durable)
    if outbox is not _UNSET:
        if outbox is None or isinstance(outbox, _DefaultOutbox):
            changes["outbox"] = outbox
        elif isinstance(outbox, (str, os.PathLike)):
            changes["outbox"] = Path(outbox).expanduser()
        else:
            raise HeliconeConfigError(f"outbox must be a path, None or DEFAULT_OUTBOX, got {outbox!r}.")
    _settings = replace(_settings, **changes)
    if _settings.durable and _settings.outbox is None:
        _warn_once("durable-no-outbox", "helicone_wrap: durable=True has no effect while outbox=None.")
    old_box = _worker.outbox
    _worker.settings = _settings
    if "outbox" in changes and old_box is not None and old_box.path != _settings.outbox_path():
        _worker.outbox = None
        old_box.close()


def _tune(**changes: Any) -> None:
    """Set any :class:`Settings` field directly, including private ones (tests and benchmarks)."""
    global _settings
    _settings = replace(_settings, **changes)
    _worker.settings = _settings


def _reset_for_tests() -> None:
    """Stop the worker, forget settings and counters, start afresh (tests only)."""
    global _worker, _settings, _handle_lock
    old = _worker
    old.stop()
    _settings = Settings()
    _handle_lock = threading.Lock()
    _worker = _Worker(_settings)
    _warned.clear()
