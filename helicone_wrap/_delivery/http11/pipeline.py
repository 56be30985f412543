"""Several requests to one origin at once: HTTP/1.1 pipelining, and when to stop using it.

Why: the delivery worker sends one POST per async-mode log record (Helicone has no batch
endpoint). Sent one at a time, each costs a ``send``, a blocking ``recv`` and the wake-ups in
between: on this project's loopback benchmark about 55–80 µs of CPU per record, most of it in
the kernel. Written back to back in one ``sendall`` and read in order, the same records cost
about 14 µs each (a raw-socket loop against ``benchmarks/_server.py``, 2-core VM).

The rules, after RFC 9112 §9.3.2:

- Only on a connection that has already carried one whole exchange with keep-alive: a fresh
  connection sends its first request alone, so a server that closes after each answer, or
  speaks HTTP/1.0, is never pipelined to.
- Requests after an answer that says ``Connection: close``, or after the connection closed
  without answering them, were not answered and are sent again on a new connection. An
  announced close, however frequent (a cap on requests per connection), changes nothing else;
  one left unanswered a second time by an unannounced close turns pipelining off for the
  origin, and goes one at a time (where a failure is an ordinary "no answer" for the retry policy). The caller only pipelines
  writes that are idempotent by their id (async-mode log records: Helicone and our gateway keep
  one row per request id), which is what §9.3.2 asks of non-idempotent pipelining.
- An origin that stops answering a pipeline (a read timeout, whether or not some answers came
  first, or a close without ``Connection: close`` after some answers) is served one request at a
  time from then on, for the life of the process: a server that mishandles pipelining costs one
  timeout.
- A failure of the whole connection (connect, TLS, a send timeout) is every request's failure.
  So is a timeout of a request sent alone: a host that accepts connections but does not answer
  costs one timeout per batch, not one per request (the others were not sent; they are retried).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING

from ..._http import http
from .framing import Origin, Reply, _NoAnswer, next_replies

if TYPE_CHECKING:
    from .client import Http11Client, _Conn

Outcome = Reply | Exception
#: A request as sent: its encoded head and its body.
Item = tuple[bytes, bytes]


def request_many(client: Http11Client, origin: Origin, items: Sequence[Item], method: str) -> list[Outcome]:
    """Each request's answer or transport error (httpx's family), in order; pipelined where allowed."""
    results: list[Outcome | None] = [None] * len(items)
    todo = list(range(len(items)))
    resent: set[int] = set()
    while todo:
        conn = client._take(origin) if len(todo) > 1 and origin not in client._serial else None
        if conn is None:  # the first request alone: on a fresh connection, or this origin is served serially
            index = todo.pop(0)
            try:
                results[index] = client.request(origin, *items[index], method)
            except (http.ConnectError, http.ConnectTimeout, http.ReadTimeout, http.WriteTimeout) as exc:
                # Nothing gets through, or nothing answers in time: don't dial (and wait a whole
                # timeout) per request; the rest go back to the caller's retry policy at once.
                for rest in [index, *todo]:
                    results[rest] = exc
                break
            except http.TransportError as exc:
                results[index] = exc
            continue
        batch, todo = todo, []
        replies, error, keep_alive = _exchange_many(conn, [items[i] for i in batch], method)
        for index, reply in zip(batch, replies, strict=False):
            results[index] = reply
        unanswered = batch[len(replies) :]
        if error is None and keep_alive:
            client._give_back(origin, conn)
        else:
            conn.close()
        if not unanswered:
            continue
        if error is None or isinstance(error, _NoAnswer):
            if error is not None and replies:
                client._serial.add(origin)  # closed mid-pipeline without saying so: no more pipelining here
            for index in unanswered:
                if error is not None:  # an announced close (error None) does not count against the origin
                    if index in resent:  # unanswered twice when pipelined: this origin gets one at a time
                        client._serial.add(origin)
                    resent.add(index)
                todo.append(index)
            continue
        if isinstance(error, http.ReadTimeout):
            # No answer in time on a connection that already answered one whole exchange: it does
            # not read pipelined requests (or is too slow for them); without this, every later
            # batch would cost a timeout and all but its first record.
            client._serial.add(origin)
        for index in unanswered:
            results[index] = error
    return [result if result is not None else http.RemoteProtocolError("no answer") for result in results]


def _exchange_many(conn: _Conn, items: Sequence[Item], method: str) -> tuple[list[Reply], Exception | None, bool]:
    """Write every request, then read answers in order until all came, the server said close, or it failed.

    Returns the answers that came, the error that stopped the reading (None if none), and whether
    the connection may be reused.
    """
    write_error: OSError | None = None
    try:
        conn.sock.sendall(b"".join(chain.from_iterable(items)))
    except TimeoutError:
        return [], http.WriteTimeout("sending the requests timed out"), False
    except OSError as exc:  # the server may have answered some before it closed: read what is there
        write_error = exc
    replies: list[Reply] = []
    reader = conn.file
    try:
        while len(replies) < len(items):
            answers, keep_alive = next_replies(reader, method, len(items) - len(replies))
            replies += answers
            if not keep_alive:
                return replies, None, False
    except _NoAnswer as exc:
        return replies, exc, False
    except TimeoutError:
        return replies, http.ReadTimeout("no answer within the read timeout"), False
    except http.TransportError as exc:
        return replies, exc, False
    except OSError as exc:
        return replies, http.ReadError(str(exc) or type(exc).__name__), False
    return replies, None, write_error is None
