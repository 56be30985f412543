"""Background delivery of enrich/feedback/score: never blocks the caller, never loses data.

Every operation returns a :class:`Delivery` handle at once. The caller's thread only validates,
appends to an in-memory queue and wakes the worker (no I/O, unless ``durable=True``).

The worker is one per process, started lazily: a scheduler thread plus a small fixed pool of
sender threads (``concurrency``, default 4) sharing one keep-alive connection pool
(:class:`~helicone_wrap._delivery.transport.RestTransport`, on httpx or httpx2, whichever the installed
openai uses). Four senders measured best on loopback; fewer waste a slow link's latency, more
cost CPU in GIL hand-offs. It survives ``fork``: the
child starts with an empty queue and a fresh worker; the parent's pending work stays the
parent's (the parent's handles never complete in the child).

Retries follow :func:`retry_decision`, a pure function: ``500 "Request not found"`` (Helicone
has not ingested the log yet) is retried with backoff (up to an hour) for ``lag_window`` seconds
(7 days, counted from the first attempt in any process), ``429`` after
``Retry-After``, other 5xx, 408 and no answer with backoff within the window; other 4xx are not
retried. A final failure goes on the handle and is logged once per status (logger
``helicone_wrap``, WARNING; the key never appears).

A retrying operation waits in a heap keyed by its next attempt time, so it never holds up
others. ``flush(timeout)`` waits for everything queued before it and never hangs; at exit a
bounded flush runs (``exit_timeout``, default 5 s), then whatever is left is written to the
SQLite outbox (see :mod:`helicone_wrap._delivery.outbox`; one stderr line says how many and where)
and replayed when a worker next starts (operations replayed from other processes are never waited
for at exit: one attempt, then back to the outbox with their next due time). When
the in-memory queue is full (``max_queue``), new operations spill to the outbox; with no outbox
the oldest waiting operation is dropped (its handle's error is a ``HeliconeDeliveryDropped``),
counted in :func:`stats` and warned about once per burst.

This module is the facade: the process's settings and worker, the public functions, and the
exit and fork hooks. The parts live in :mod:`.settings` (settings),
:mod:`~helicone_wrap._delivery.handle` (:class:`Delivery`, :class:`DeliveryStats`),
:mod:`~helicone_wrap._delivery.retry_policy`, and the worker's layers :mod:`~helicone_wrap._delivery.queue`
(operations, shared state, a full queue), :mod:`~helicone_wrap._delivery.spill` (the outbox side) and
:mod:`~helicone_wrap._delivery.worker` (threads, sending, flush, exit).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .. import _guard
from .._config import Target, register_target
from .._exceptions import HeliconeError
from .._guard import logger, warn_once
from . import handle as _handle
from .handle import Delivery, DeliveryStats
from .queue import DeferredRecord
from .retry_policy import Decision as Decision, retry_decision as retry_decision
from .settings import DEFAULT_OUTBOX, UNSET, OutboxSetting, Settings, configured
from .worker import _Worker

__all__ = ["DEFAULT_OUTBOX", "Delivery", "DeliveryStats", "configure", "flush", "stats"]

# -- module state and the public functions ------------------------------------------------------------

_settings = Settings()
_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_at_exit)


_worker = _Worker(_settings, _register_atexit)


def _at_exit() -> None:
    try:
        _worker.shutdown(_worker.settings.exit_timeout)
    except BaseException as exc:  # never let our exit path disturb the interpreter's
        logger.warning("helicone_wrap: the delivery exit handler failed: %s: %s", type(exc).__name__, exc)


def _after_fork_in_child() -> None:
    global _worker
    old = _worker
    _handle.reset_lock()
    _worker = _Worker(_settings, _register_atexit)
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


def submit_log(request_id: str, body: Any, target: Target) -> None:
    """Queue one async-mode log record (no handle: nobody waits on one record); never raises, never blocks (unless durable).

    ``target`` was registered when its client was wrapped (``build_log_state``), not again per record.
    """
    try:
        _worker.submit_log(request_id, body, target)
    except Exception as exc:  # pragma: no cover - defensive: the caller must never see our bugs
        _guard.internal_error("delivery-submit", exc)


def submit_log_later(item: DeferredRecord) -> None:
    """Leave one async-mode record for the worker to build and queue; never raises, never blocks (unless durable)."""
    try:
        _worker.submit_log_later(item)
    except Exception as exc:  # pragma: no cover - defensive: the caller must never see our bugs
        _guard.internal_error("delivery-submit", exc)


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


def count_fallback() -> None:
    """Count one ``fallback="direct"`` attempt in :func:`stats` (helicone_wrap._fallback)."""
    with _worker.lock:
        _worker.counts["fallbacks"] += 1


def stats() -> DeliveryStats:
    """Delivery counters of this process. Usage: ``helicone_wrap.delivery_stats().pending``"""
    return _worker.stats()


def configure(
    *,
    lag_window: float = UNSET,
    exit_timeout: float = UNSET,
    outbox: OutboxSetting = UNSET,
    durable: bool = UNSET,
    max_queue: int = UNSET,
    max_retries: int | None = UNSET,
    concurrency: int = UNSET,
    request_timeout: float = UNSET,
) -> None:
    """Change how enrich/feedback/score are delivered; only the arguments you pass change.

    - ``lag_window`` (7 days): how long retries go on, counted from an operation's first attempt in
      any process (the outbox stores it, with the attempt count and next due time). Helicone may lag
      behind in ingesting logs for days; the backoff grows to an hour between attempts. When the
      window ends the operation is marked failed in the outbox, with its last error
      (``helicone-wrap outbox`` lists it).
    - ``exit_timeout`` (5 s): the bound on the flush at interpreter exit.
    - ``outbox`` (:data:`DEFAULT_OUTBOX`, the per-user data dir): SQLite file for undelivered
      operations, replayed on the next start; ``None`` disables it.
    - ``durable`` (False): write every operation to the outbox before the call returns
      (survives ``kill -9``; costs a SQLite write per call).
    - ``max_queue`` (50,000): operations kept in memory (about 0.8 KB each while they wait for a
      retry, so at most ~40 MB); beyond it they spill to the outbox, or
      the oldest are dropped when there is none (their handles get :class:`HeliconeDeliveryDropped`).
    - ``max_retries`` (None): cap on attempts per operation, on top of ``lag_window``.
    - ``concurrency`` (4) sender threads and ``request_timeout`` (10 s) per HTTP request; they
      apply when the worker starts.

    Usage: ``helicone_wrap.configure(durable=True, outbox="/var/lib/app/helicone.sqlite3")``
    """
    global _settings
    _settings = configured(
        _settings,
        {
            "lag_window": lag_window,
            "exit_timeout": exit_timeout,
            "outbox": outbox,
            "durable": durable,
            "max_queue": max_queue,
            "max_retries": max_retries,
            "concurrency": concurrency,
            "request_timeout": request_timeout,
        },
    )
    if _settings.durable and _settings.outbox is None:
        warn_once("durable-no-outbox", "helicone_wrap: durable=True has no effect while outbox=None.")
    old_box = _worker.outbox
    _worker.settings = _settings
    if outbox is not UNSET and old_box is not None and old_box.path != _settings.outbox_path():
        _worker.outbox = None
        old_box.close()


def _tune(**changes: Any) -> None:
    """Set any :class:`Settings` field directly, including private ones (tests and benchmarks)."""
    global _settings
    _settings = replace(_settings, **changes)
    _worker.settings = _settings


def _reset_for_tests() -> None:
    """Stop the worker, forget settings and counters, start afresh (tests only)."""
    global _worker, _settings
    old = _worker
    old.stop()
    _settings = Settings()
    _handle.reset_lock()
    _worker = _Worker(_settings, _register_atexit)
    _guard.forget_warnings()
