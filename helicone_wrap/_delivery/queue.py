"""The delivery queue: one queued operation (:class:`_Op`), its states, and the worker's shared
state (:class:`_WorkerState`: the ready queue, the retry heap, the unfinished operations in
submission order, counters), with what happens when the queue is full and there is no outbox.

The worker is built up in layers: :class:`_WorkerState` here, the outbox side in
:mod:`helicone_wrap._delivery.spill`, the threads in :mod:`helicone_wrap._delivery.worker`.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from .._config import Target
from .._exceptions import HeliconeDeliveryDropped
from .._guard import logger
from .handle import Delivery, DeliveryStats
from .outbox import Outbox, OutboxRow
from .settings import Settings
from .transport import RestTransport

# Operation states.
QUEUED, SENDING, DONE, DROPPED, SPILLED = range(5)


#: What a failed attempt leaves behind: the error's type name, message and HTTP status (None when
#: there was no answer). Never the exception itself: its traceback and chained exceptions keep
#: frames and their locals alive, ~10 KB per pending operation.
LastError = tuple[str, str, "int | None"]


class _Op:
    """One write to send: its body, where to, its handle and its progress.

    ``first_try`` and ``due_at`` are Unix times (0: not yet / at once), stored in the outbox with
    the operation, so the retry window is counted from the very first attempt in any process.
    ``foreign`` marks an operation replayed from another process's rows: nobody here waits for it.
    """

    __slots__ = (
        "api_url", "attempts", "body", "created_at", "due_at", "first_try", "foreign", "handle", "in_outbox",
        "kind", "last_error", "op_id", "request_id", "seq", "state", "target",
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
        self.due_at = 0.0
        self.foreign = False
        self.seq = 0
        self.state = QUEUED
        self.last_error: LastError | None = None


class DeferredRecord(Protocol):
    """An async-mode record a call left for the worker to build (:meth:`_Worker.submit_log_later`)."""

    def build(self) -> tuple[str, Any, Target]:
        """Its request id, queued body and log target. Runs once, on a delivery thread."""
        ...


class _Doorbell:
    """How the sender threads learn of work: each ring wakes one of them, not all of them.

    ``threading.Event.set()`` wakes every waiting sender; all but the one that takes the work then
    go back to sleep, and each of those wake-ups costs a context switch and a turn at the GIL (on
    this project's loopback benchmark about 1 % of an async-mode call's CPU with four senders). A
    sender that takes work while more is waiting rings again (:meth:`_Sender._sender_loop`), so a
    backlog still reaches every sender. A ring with nobody waiting is kept for the next one to
    wait, up to ``cap`` rings (one per sender), so no ring between a sender's look at the queue
    and its wait is lost. Usage: ``bell.ring()``; a sender: ``bell.wait(1.0)``
    """

    __slots__ = ("_cap", "_cond", "_rings")

    def __init__(self, cap: int) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._rings = 0
        self._cap = max(1, cap)

    def ring(self) -> None:
        """Wake one waiting sender (or the next one to wait)."""
        with self._cond:
            if self._rings < self._cap:
                self._rings += 1
                self._cond.notify()

    def ring_all(self) -> None:
        """Wake every sender (stop), and let every later wait return at once."""
        with self._cond:
            self._rings = self._cap = max(self._cap, 64)
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        """Until a ring (taking it) or ``timeout`` seconds."""
        with self._cond:
            if not self._rings:
                self._cond.wait(timeout)
            if self._rings:
                self._rings -= 1


class _WorkerState:
    """All per-process delivery state; replaced wholesale after fork and by ``_reset_for_tests``.

    ``on_start`` runs once, when the worker's threads start (the facade registers its exit hook).
    """

    def __init__(self, settings: Settings, on_start: Callable[[], None]) -> None:
        self.settings = settings
        self.on_start = on_start
        self.token = secrets.token_hex(8)
        self.lock = threading.Lock()  # queue bookkeeping and counters
        self.cond = threading.Condition(threading.Lock())  # the retry heap and scheduler wake-ups
        self.done_cond = threading.Condition(threading.Lock())  # flush waiters
        self.start_lock = threading.Lock()
        self.write_lock = threading.Lock()  # the outbox write-backs (put-back rows, deletions)
        self.ready: deque[_Op] = deque()
        #: Async-mode records left by calls, not yet built into operations (:meth:`_Worker.submit_log_later`).
        self.deferred: deque[DeferredRecord] = deque()
        self.drain_lock = threading.Lock()  # one thread at a time turns `deferred` into operations
        self.ready_event = _Doorbell(settings.concurrency)
        self.heap: list[tuple[float, int, _Op]] = []
        self.unfinished: OrderedDict[int, _Op] = OrderedDict()
        self.spills: deque[_Op] = deque()
        self.deletions: deque[str] = deque()
        self.upserts: deque[OutboxRow] = deque()  # rows to write back: not due yet, or failed
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
        #: ... and the base headers of async-mode log POSTs to that target (``Helicone-Auth``, no REST auth).
        self.log_headers: dict[tuple[str, str | None], dict[str, str]] = {}
        self.outbox: Outbox | None = None
        self.counts = {"queued": 0, "delivered": 0, "failed": 0, "retried": 0, "dropped": 0, "spilled": 0, "replayed": 0,
                       "fallbacks": 0}

    def stats(self) -> DeliveryStats:
        with self.lock:
            return DeliveryStats(**self.counts, pending=len(self.unfinished) + len(self.spills) + len(self.deferred))

    def _flag(self, name: str) -> bool:
        # Flags are flipped by other threads; reading through here keeps re-checks honest for mypy.
        return bool(getattr(self, name))

    def _wake_scheduler(self) -> None:
        with self.cond:
            self.wake_flag = True
            self.cond.notify()

    def _requeue(self, ops: list[_Op]) -> None:
        with self.lock:
            self.unordered = True  # older seqs now sit behind newer ones in `unfinished`
            for op in ops:
                op.state = QUEUED
                self.unfinished[op.seq] = op
        self.ready.extend(ops)
        self.ready_event.ring()

    # - a full queue with no outbox: drop the oldest waiting operations ---------------------------

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
        max_queue = self.settings.max_queue
        if first_of_burst:
            logger.warning(
                "helicone_wrap: the delivery queue is full (max_queue=%d) and no outbox is configured; "
                "dropping the oldest waiting operations (counted in delivery stats). Configure an outbox "
                "or a larger max_queue to keep them.",
                max_queue,
            )
        error = HeliconeDeliveryDropped(
            f"dropped: the delivery queue was full (max_queue={max_queue}) and no outbox is configured; "
            "raise configure(max_queue=...) or enable the outbox with configure(outbox=...) to keep such operations"
        )
        for op in victims:
            op.body = None
            if op.handle is not None:
                op.handle._part_done(error)
