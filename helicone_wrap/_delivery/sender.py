"""The delivery sender threads' work: take operations off the ready queue, send, settle each answer.

Each attempt's answer goes through :func:`~helicone_wrap._delivery.retry_policy.retry_decision`
to finish, retry or fail the operation. Async-mode log records queued back to back for one host
are taken together (up to :data:`PIPELINE_DEPTH`) and pipelined on one connection
(:meth:`~helicone_wrap._delivery.transport.RestTransport.send_many`): they are idempotent by
their request id, and one POST each is what Helicone takes. This layer sits between the outbox
side (:mod:`.spill`) and the threads, submission and flush of :mod:`.worker`.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _api, _guard
from .._config import Target, target_for_url
from .._exceptions import HeliconeAPIError, HeliconeConnectionError, HeliconeError, HeliconeRequestNotFound
from .._guard import warn_once
from .._http import http
from .queue import DONE, QUEUED, SENDING, LastError, _Op
from .retry_policy import Decision, retry_decision
from .spill import _OutboxSide
from .transport import Answer, Request

PIPELINE_DEPTH = 32  # log records one sender writes back to back on one connection
IDLE_WAIT = 1.0  # an idle sender looks at the queue at least this often (s), rung or not
_BASE_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": _api.USER_AGENT}

_OK_BODY = b'{"data":null,"error":null}'  # Helicone's usual success answer: nothing to parse


def _plainly_ok(answer: Answer) -> bool:
    """A 2xx whose body cannot be an error envelope (Helicone's usual answer, or no "error" key)."""
    return answer.status >= 200 and (answer.content == _OK_BODY or answer.content.find(b'"error"') < 0)


def _scrub(error: HeliconeAPIError, target: Target) -> HeliconeAPIError:
    key = target.api_key
    if key and key in str(error):
        return type(error)(error.message.replace(key, "<redacted>"), status=error.status)
    return error


_ERRORS: dict[LastError, LastError] = {}


def _shared_error(kind: str, message: str, status: int | None) -> LastError:
    """One tuple per distinct error: thousands of ops failing alike share it (memory per pending op)."""
    key = (kind, message, status)
    found = _ERRORS.get(key)
    if found is None:
        if len(_ERRORS) >= 512:
            _ERRORS.clear()
        found = _ERRORS[key] = key
    return found


class _Sender(_OutboxSide):
    """The sending layer of the worker: the sender loop, one attempt (or a pipelined run), its outcome."""

    if TYPE_CHECKING:  # provided by the worker layer (worker.py), which builds on this one

        def _drain_deferred(self) -> None: ...

    def _sender_loop(self) -> None:
        ready, bell, deferred = self.ready, self.ready_event, self.deferred
        while not self.stopping:
            if deferred:
                try:
                    self._drain_deferred()
                except Exception as exc:
                    _guard.internal_error("delivery-sender", exc)
            try:
                op = ready.popleft()
            except IndexError:
                bell.wait(IDLE_WAIT)
                continue
            if op.state != QUEUED or self.closing:
                if self.closing and op.state == QUEUED:
                    ready.appendleft(op)
                    time.sleep(0.05)
                continue
            op.state = SENDING
            if op.kind == _api.KIND_LOG:
                batch = self._more_records(op)
                if len(ready) >= PIPELINE_DEPTH:  # a backlog: another sender takes the next run
                    bell.ring()
            else:
                batch = [op]
                if ready:
                    bell.ring()
            try:
                if len(batch) == 1:
                    self._attempt(op)
                else:
                    self._attempt_many(batch)
            except Exception as exc:
                if self._flag("stopping"):
                    return
                _guard.internal_error("delivery-sender", exc)
                for each in batch:
                    if each.state == SENDING:
                        self._finish(each, HeliconeError(f"internal error while sending: {type(exc).__name__}: {exc}"))

    def _more_records(self, first: _Op) -> list[_Op]:
        """``first`` and the log records queued right behind it for the same host, to pipeline together."""
        batch = [first]
        ready = self.ready
        while len(batch) < PIPELINE_DEPTH:
            try:
                op = ready.popleft()
            except IndexError:
                break
            if op.kind != _api.KIND_LOG or op.api_url != first.api_url or op.state != QUEUED:
                ready.appendleft(op)  # not ours to batch (or no longer queued): left for the next pop
                break
            op.state = SENDING
            batch.append(op)
        return batch

    def _prepare(self, op: _Op) -> tuple[Target, str, str, bytes, Mapping[str, str], Mapping[str, str] | None]:
        """What to send for ``op``: its target, method, path, body, shared headers and own headers."""
        target = op.target or target_for_url(op.api_url)
        request = _api.build_write(op.kind, op.request_id, op.body)
        if op.first_try == 0.0:
            op.first_try = time.time()
        extra: Mapping[str, str] | None = None
        headers: Mapping[str, str]
        if op.kind == _api.KIND_LOG:  # an async-mode record: Helicone-Auth plus its own Helicone-* headers
            headers, extra = self._log_base(target), op.body.get("headers")
        else:
            cache_key = (target.api_url, target.api_key)
            found = self.headers.get(cache_key)
            if found is None:
                found = self.headers[cache_key] = {**_BASE_HEADERS, **target.auth_headers()}
            headers = found
        content = request.body if type(request.body) is bytes else json.dumps(request.body).encode()
        return target, request.method, request.path, content, headers, extra

    def _log_base(self, target: Target) -> Mapping[str, str]:
        """The headers every log record to ``target`` carries (Helicone-Auth, no REST Authorization)."""
        cache_key = (target.api_url, target.api_key)
        base = self.log_headers.get(cache_key)
        if base is None:
            from .._asynclog.record import log_headers

            shared = {**_BASE_HEADERS, **target.auth_headers()}
            base = self.log_headers[cache_key] = log_headers(shared, target.api_key, {})
        return base

    def _attempt(self, op: _Op) -> None:
        target, method, path, content, headers, extra = self._prepare(op)
        assert self.transport is not None
        try:
            outcome: Answer | Exception = self.transport.send(method, op.api_url, path, content, headers, extra)
        except http.TransportError as exc:
            outcome = exc
        self._settle(op, target, outcome)

    def _attempt_many(self, ops: list[_Op]) -> None:
        """Log records for one host (:meth:`_more_records`), pipelined on one connection (they are idempotent by id).

        Each record is serialized here, without :meth:`_prepare`'s generic request building: this
        is the per-record path of async mode.
        """
        prepared: list[tuple[_Op, Target]] = []
        requests: list[Request] = []
        encode, base_of, now = _api.log_record_bytes, self._log_base, 0.0
        for op in ops:
            try:
                target = op.target or target_for_url(op.api_url)
                body = op.body
                requests.append((encode(body), base_of(target), body.get("headers")))
            except Exception as exc:  # this record alone: the others still go
                _guard.internal_error("delivery-sender", exc)
                self._finish(op, HeliconeError(f"internal error while sending: {type(exc).__name__}: {exc}"))
                continue
            if op.first_try == 0.0:
                op.first_try = now = now or time.time()
            prepared.append((op, target))
        if not prepared:
            return
        assert self.transport is not None
        outcomes = self.transport.send_many("POST", ops[0].api_url, _api.LOG_PATH, requests)
        delivered: list[_Op] = []
        for (op, target), outcome in zip(prepared, outcomes, strict=True):
            if type(outcome) is Answer and outcome.status < 300 and _plainly_ok(outcome):
                op.attempts += 1
                delivered.append(op)  # the common case: finished together, below
            else:
                self._settle(op, target, outcome)
        if delivered:
            self._finish_delivered(delivered)

    def _settle(self, op: _Op, target: Target, outcome: Answer | Exception) -> None:
        """One attempt's answer (or transport error) through the retry policy: finish, retry or fail ``op``."""
        settings = self.settings
        status: int | None = None
        body: Any = None
        answer_headers: Mapping[str, str] = {}
        if isinstance(outcome, Exception):
            if not isinstance(outcome, http.TransportError):
                raise outcome
            op.last_error = _shared_error(type(outcome).__name__, str(outcome), None)
        else:
            status, content, answer_headers = outcome
            # A 2xx needs its body only when it may be an error envelope (retry_decision reads "error").
            body = None if 200 <= status < 300 and _plainly_ok(outcome) else _api.decode_body(content)
        op.attempts += 1
        elapsed = max(0.0, time.time() - op.first_try)
        decision = retry_decision(
            status, body, answer_headers, op.attempts, elapsed,
            lag_window=settings.lag_window, max_retries=settings.max_retries,
            base=settings.backoff_base, cap=settings.backoff_cap,
        )  # fmt: skip
        if decision.action == "done":
            self._finish(op, None)
            return
        if status is not None:
            error = _api.api_error(status, body, answer_headers)
            op.last_error = _shared_error(type(error).__name__, _scrub(error, target).message, status)
        if decision.action == "retry":
            self._retry(op, decision.delay)
            return
        failure = self._failure(op, target, status, body, answer_headers, decision, elapsed)
        gave_up = decision.reason.startswith("gave-up")
        # Given up (the window ended), or nobody here holds a handle: keep it in the outbox, marked failed.
        if (gave_up or op.foreign) and self._store_later(op, failed=True):
            self._finish(op, failure, stored=True)
        else:
            self._finish(op, failure)

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
            name, message, _ = op.last_error or ("OSError", "no answer", None)
            error: HeliconeAPIError = HeliconeConnectionError(
                f"no answer from the Helicone REST API at {op.api_url}: {name}: {message}"
            )
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
        kind = f"{status}" if status is not None else (op.last_error or ("OSError",))[0]
        warn_once(
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
        op.due_at = time.time() + delay
        if op.foreign and self._store_later(op, failed=False):
            # Replayed from another process: back to the outbox, due later; this process is done with it.
            self._finish(op, None, stored=True)
            return
        op.state = QUEUED
        due = time.monotonic() + delay
        with self.cond:
            heapq.heappush(self.heap, (due, op.seq, op))
            if self.heap[0][2] is op:
                self.wake_flag = True
                self.cond.notify()

    def _finish(self, op: _Op, error: BaseException | None, *, stored: bool = False) -> None:
        """Done here: delivered, failed (``error``), or ``stored`` back in the outbox (row kept)."""
        self._finish_all([op], error, stored=stored)

    def _finish_delivered(self, ops: list[_Op]) -> None:
        """:meth:`_finish` for several delivered operations, under one lock."""
        self._finish_all(ops, None)

    def _finish_all(self, ops: list[_Op], error: BaseException | None, *, stored: bool = False) -> None:
        with self.lock:
            unfinished = self.unfinished
            for op in ops:
                op.state = DONE
                unfinished.pop(op.seq, None)
            if not unfinished:
                self.unordered = False
            if error is not None:
                self.counts["failed"] += len(ops)
            elif not stored:
                self.counts["delivered"] += len(ops)
            # Wake flush() only when its condition may now hold, not once per operation.
            wake = self.flush_waiters > 0 and (
                self.unordered or not unfinished or next(iter(unfinished)) >= self.flush_target
            )
        for op in ops:
            if op.in_outbox and op.op_id is not None and not stored:
                self.deletions.append(op.op_id)
            if op.handle is not None:
                op.handle._part_done(error)
        if wake:
            with self.done_cond:
                self.done_cond.notify_all()
