"""Recording one async-mode call as it happens: timing, status, body, and the end of a stream.

Each attempt's built request carries a :class:`Call` in ``request.extensions`` (the only mark we
leave on it: no header is added). The send seam (``_send_request`` on openai >= 2, the httpx
client's ``send`` on openai 1) times the attempt and sees every outcome: an answer of any status,
or no answer at all. A body that is already read finishes the record at once; a streamed body is
wrapped in a byte stream that records chunks as they pass and finishes the record when the stream
ends, is closed, or is garbage-collected unfinished (then it is marked as cut short).

Finishing leaves the call to the delivery worker, which builds its record (:meth:`Call.build`);
nothing here does I/O on the caller's thread.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _delivery, _guard
from .._config import Target
from .._delivery.transport import _decoded
from .._http import http
from . import record

if TYPE_CHECKING:
    from .hooks import LogState

EXT = "helicone_wrap.asynclog"


class Call:
    """One attempt of one async-mode call, from the built request to the queued record."""

    __slots__ = (
        "body", "chunks", "done", "end", "headers", "id", "log_headers", "note", "request_body", "start", "state",
        "status", "t0", "ttft", "url",
    )  # fmt: skip

    def __init__(self, state: LogState, request_id: str, log_headers: Mapping[str, str]) -> None:
        # Only what is read before the send: the rest is set by begin(), answered() and finish(),
        # one of which runs for every attempt that is sent (and only sent attempts are finished).
        self.state = state
        self.id = request_id
        #: The record's Helicone-* headers but its id (the client's static ones under the call's
        #: context's): shared by the calls of one context, never changed.
        self.log_headers = log_headers
        self.ttft: float | None = None
        self.done = False

    def begin(self, request: Any) -> None:
        # Only plain values are kept: the request holds this call, so holding it back would be a
        # cycle. The URL object is immutable; it is turned into text by build(), off this thread.
        self.url: Any = request.url
        try:
            self.request_body: bytes | None = request.content
        except Exception:  # a streamed upload (files): its bytes are not kept
            self.request_body = None
        self.status = 0
        self.headers: Any = {}
        self.chunks: list[bytes] = []
        self.start = time.time()
        self.t0 = time.perf_counter()

    def first_chunk(self) -> None:
        self.ttft = (time.perf_counter() - self.t0) * 1000.0

    def answered(self, response: Any) -> None:
        """The provider answered: finish now if the body is read, else record the stream."""
        self.status = response.status_code
        self.headers = response.headers
        if "_content" in response.__dict__:
            self.finish(response.content)
        elif isinstance(response.stream, http.AsyncByteStream):
            response.stream = _AsyncRecorder(response.stream, self)
        else:
            response.stream = _SyncRecorder(response.stream, self)

    def failed(self, exc: BaseException) -> None:
        """No answer at all (connection failure, timeout): logged with the error as the body."""
        self.finish(None, status=record.STATUS_NO_RESPONSE, note=f"{type(exc).__name__}: {exc}")

    def stream_end(self, cut_short: bool, exc: BaseException | None = None) -> None:
        if self.done:
            return
        body = b"".join(self.chunks)
        try:
            body = _decoded(body, self.headers)
        except Exception:  # a body cut inside a compressed frame: keep what we have, raw
            pass
        status = self.status
        note = None
        if exc is not None:
            note = f"{type(exc).__name__}: {exc}"
            cut_short = True
        if cut_short and status < 400:
            status = record.STATUS_CUT_SHORT
        # A stream's record is built here, at its end, not on a delivery thread: building its SSE
        # text there, while the next call waits for its first token, cost ~1 % of time to first
        # token (benchmarks/bench_asynclog.py); the stream itself lasts far longer than the build.
        self.finish(body, status=status, note=note, at_once=True)

    def finish(
        self, body: bytes | None, *, status: int | None = None, note: str | None = None, at_once: bool = False
    ) -> None:
        """Leave this attempt's record to the delivery worker (at most once). Our errors are logged, never raised.

        Only the end time and the outcome are taken here; the record itself is built later by
        :meth:`build`, on a delivery thread, with the other records of the burst (``at_once``:
        built and queued now).
        """
        if self.done:
            return
        self.done = True
        self.end = time.time()
        self.body = body
        if status is not None:
            self.status = status
        self.note = note
        self.chunks = []
        try:
            if at_once:
                _delivery.submit_log(*self.build())
            else:
                _delivery.submit_log_later(self)
        except Exception as exc:
            _guard.internal_error("async-log", exc)
        if _abandoned:
            _drain_abandoned()

    def build(self) -> tuple[str, dict[str, Any], Target]:
        """The queued record: its id, its :func:`~.record.pending` body (omitted bodies dropped
        here, before it can reach the outbox) and its log target. Called once; the bodies are let go."""
        headers = dict(self.log_headers)
        headers["Helicone-Request-Id"] = self.id
        try:
            pending = record.pending(
                headers=headers,
                url=str(self.url),
                request_body=self.request_body,
                status=self.status,
                response_headers=self.headers,
                response_body=self.body,
                start=self.start,
                end=self.end,
                ttft_ms=self.ttft,
                note=self.note,
            )
        finally:
            self.request_body = self.body = None
            self.headers = {}
        return self.id, pending, self.state.log_target


# -- streamed bodies --------------------------------------------------------------------------------

#: Calls whose stream was garbage-collected unfinished. ``__del__`` only appends here (it may run
#: anywhere, even inside our own locks); the reaper thread and the next finished call queue them.
_abandoned: collections.deque[Call] = collections.deque()
_reaper_lock = threading.Lock()
_reaper: list[threading.Thread] = []


def _drain_abandoned() -> None:
    while _abandoned:
        try:
            call = _abandoned.popleft()
        except IndexError:
            return
        call.stream_end(cut_short=True)


def _reap_forever() -> None:  # pragma: no cover - timing-driven; _drain_abandoned is tested
    while True:
        time.sleep(0.5)
        if _abandoned:
            try:
                _drain_abandoned()
            except Exception as exc:
                _guard.internal_error("async-log-reaper", exc)


def start_reaper() -> None:
    """Start the thread that queues records of abandoned streams (once per process)."""
    with _reaper_lock:
        if _reaper and _reaper[0].is_alive():
            return
        thread = threading.Thread(target=_reap_forever, name="helicone-asynclog-reaper", daemon=True)
        thread.start()
        _reaper[:] = [thread]


#: SSE endings after which openai closes a stream itself without reading on to the socket's end.
_FINAL_MARKS = (b"data: [DONE]", b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def _complete(chunks: list[bytes]) -> bool:
    """Whether a stream closed before the end of its bytes had already seen its final event."""
    if not chunks:
        return False
    tail = b"".join(chunks[-3:])[-2048:]
    return any(mark in tail for mark in _FINAL_MARKS)


class _SyncRecorder(http.SyncByteStream):  # type: ignore[misc]
    """The provider's byte stream, with every chunk recorded as it passes."""

    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._call: Call | None = call

    def __iter__(self) -> Any:
        call = self._call
        if call is None:
            yield from self._inner
            return
        chunks = call.chunks
        try:
            for chunk in self._inner:
                if not chunks:
                    call.first_chunk()
                chunks.append(chunk)
                yield chunk
        except Exception as exc:
            call.stream_end(True, exc)
            raise
        call.stream_end(False)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            call, self._call = self._call, None
            if call is not None:
                call.stream_end(not _complete(call.chunks))

    def __del__(self) -> None:
        call = self._call
        if call is not None and not call.done:
            _abandoned.append(call)


class _AsyncRecorder(http.AsyncByteStream):  # type: ignore[misc]
    """The async twin of :class:`_SyncRecorder`."""

    def __init__(self, inner: Any, call: Call) -> None:
        self._inner = inner
        self._call: Call | None = call

    async def __aiter__(self) -> Any:
        call = self._call
        if call is None:
            async for chunk in self._inner:
                yield chunk
            return
        chunks = call.chunks
        try:
            async for chunk in self._inner:
                if not chunks:
                    call.first_chunk()
                chunks.append(chunk)
                yield chunk
        except Exception as exc:
            call.stream_end(True, exc)
            raise
        call.stream_end(False)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            call, self._call = self._call, None
            if call is not None:
                call.stream_end(not _complete(call.chunks))

    def __del__(self) -> None:
        call = self._call
        if call is not None and not call.done:
            _abandoned.append(call)


# -- the send seam -------------------------------------------------------------------------------------


def sync_send_hook(send: Any, ext: str = EXT) -> Any:
    """Wrap a sync ``send(request, *, stream, ...)``: requests without a :class:`Call` pass untouched.

    ``ext`` is the request extension that holds the :class:`Call` (fallback's direct attempts use their own).
    """

    def _send(request: Any, *args: Any, **kwargs: Any) -> Any:
        call = request.extensions.get(ext)
        if call is None:
            return send(request, *args, **kwargs)
        call.begin(request)
        try:
            response = send(request, *args, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        call.answered(response)
        return response

    return _send


def async_send_hook(send: Any, ext: str = EXT) -> Any:
    """The async twin of :func:`sync_send_hook`."""

    async def _send(request: Any, *args: Any, **kwargs: Any) -> Any:
        call = request.extensions.get(ext)
        if call is None:
            return await send(request, *args, **kwargs)
        call.begin(request)
        try:
            response = await send(request, *args, **kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        call.answered(response)
        return response

    return _send
