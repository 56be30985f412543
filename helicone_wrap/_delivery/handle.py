"""What the caller holds: the :class:`Delivery` handle of one operation, and :class:`DeliveryStats`.

A handle is returned at once and completed later by the delivery worker's threads; waiting on it
(``wait``, ``await``) never raises. One process-wide lock guards every handle's state; after
``fork`` the child takes a fresh one (:func:`reset_lock`), since the parent's may be held forever.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from .. import _guard

__all__ = ["Delivery", "DeliveryStats", "reset_lock"]

_handle_lock = threading.Lock()


def reset_lock() -> None:
    """Give every handle a fresh lock (after fork, and in tests). Usage: ``_handle.reset_lock()``"""
    global _handle_lock
    _handle_lock = threading.Lock()


@dataclass(frozen=True)
class DeliveryStats:
    """Counters since the worker started (or since the last fork).

    ``queued`` operations accepted; ``delivered``; ``failed`` finally (not retried or out of
    window); ``retried`` attempts scheduled again; ``dropped`` (queue full, no outbox);
    ``spilled`` to the outbox (queue full or exit); ``replayed`` from the outbox; ``pending`` now;
    ``fallbacks``: proxied attempts sent straight to the provider because the gateway could not be
    reached (``wrap(fallback="direct")``; each one's log record is counted as an operation too).
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
    fallbacks: int = 0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Delivery:
    """The result of ``.enrich()``, ``.feedback()`` or ``.score()``: returned at once, done later.

    ``done`` tells whether every part was delivered or finally failed; ``error`` holds the first
    failure (a :class:`HeliconeAPIError` subclass, or :class:`HeliconeDeliveryDropped` when the
    queue was full and there is no outbox). Waiting never raises.
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
