"""A fast OpenAI-shaped loopback server for the benchmarks, run in its own process.

Why not ``tests/echo_server.py``: that one is a thread-per-connection stdlib server that
records every request; here the server must cost as little as possible and, above all, run in
a *separate process* so that none of its CPU is counted as client CPU.

It is a raw asyncio HTTP/1.1 keep-alive server (content-length and chunked request bodies)
answering fixed bodies:

- ``POST .../chat/completions``: a fixed chat completion, or with ``"stream": true`` an SSE
  stream of ``--chunks`` content chunks (chunked transfer encoding, one HTTP chunk per event);
  the ``helicone-id`` response header echoes the ``Helicone-Request-Id`` that was sent (as
  Helicone does), else a fixed uuid;
- ``PUT /v1/request/{id}/property``, ``POST /v1/request/{id}/feedback|score``: the Helicone
  REST subset used by enrich/feedback/score; counted per kind;
- ``GET /__stats``: the counters as JSON;
- anything else (LangSmith run uploads, OTLP exports of Langfuse, ...): ``200 {}``, counted,
  so a peer's exporter does its full work against a loopback sink instead of the network.

Usage: ``python benchmarks/_server.py [--chunks 200] [--delay-ms 0]``; it prints ``PORT <n>`` on stdout and
serves until its stdin is closed (so it never outlives the benchmark that started it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from typing import Any

CREATED = 1_700_000_000
FIXED_ID = "00000000-0000-4000-8000-000000000000"

CHAT = json.dumps(
    {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Hello there", "refusal": None}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    },
    separators=(",", ":"),
).encode()


def _stream_body(chunks: int) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": "gpt-4o-mini"}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}]
    events += [{**base, "choices": [{"index": 0, "delta": {"content": f" tok{i}"}, "finish_reason": None}]}
               for i in range(chunks - 2)]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out = bytearray()
    for event in events:
        data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        out += b"%x\r\n%s\r\n" % (len(data), data)
    done = b"data: [DONE]\n\n"
    out += b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)
    return bytes(out)


class _Http(asyncio.Protocol):
    def __init__(self, app: App) -> None:
        self.app = app
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.buf:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            start = end + 4
            if "content-length" in headers:
                size = int(headers["content-length"])
                if len(self.buf) < start + size:
                    return
                body = bytes(self.buf[start : start + size])
                consumed = start + size
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                parsed = _dechunk(self.buf, start)
                if parsed is None:
                    return
                body, consumed = parsed
            else:
                body, consumed = b"", start
            del self.buf[:consumed]
            assert self.transport is not None
            answer = self.app.answer(method, target, headers, body)
            closing = headers.get("connection", "").lower() == "close"
            if self.app.delay > 0 and not closing:  # an upstream that takes its time
                asyncio.get_running_loop().call_later(self.app.delay, self.transport.write, answer)
            else:
                self.transport.write(answer)
            if closing:
                self.transport.close()
                return


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return bytes(out), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


class App:
    def __init__(self, chunks: int, delay_ms: float = 0.0) -> None:
        self.delay = delay_ms / 1000
        self.stream = _stream_body(chunks)
        self.counts: Counter[str] = Counter()

    @staticmethod
    def _head(status: str, ctype: str, hid: str, extra: str = "") -> bytes:
        return (
            f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\nhelicone-id: {hid}\r\n"
            f"x-request-id: req_bench\r\n{extra}\r\n"
        ).encode()

    def _json(self, payload: bytes, hid: str = FIXED_ID, status: str = "200 OK") -> bytes:
        return self._head(status, "application/json", hid, f"content-length: {len(payload)}\r\n") + payload

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        path = target.split("?", 1)[0]
        hid = headers.get("helicone-request-id") or FIXED_ID
        if path.endswith("/chat/completions"):
            if b'"stream":true' in body or b'"stream": true' in body:
                self.counts["chat_stream"] += 1
                return self._head("200 OK", "text/event-stream", hid, "transfer-encoding: chunked\r\n") + self.stream
            self.counts["chat"] += 1
            return self._json(CHAT, hid)
        if path.startswith("/v1/request/"):
            kind = path.rstrip("/").rsplit("/", 1)[-1]
            self.counts[f"rest_{kind}"] += 1
            return self._json(b'{"data":null,"error":null}')
        if path == "/__stats":
            return self._json(json.dumps(dict(self.counts)).encode())
        self.counts["other"] += 1
        self.counts[f"other:{method} {path}"] += 1
        return self._json(b"{}")


async def _main(chunks: int, delay_ms: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    app = App(chunks, delay_ms)
    server = await loop.create_server(lambda: _Http(app), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # EOF: the parent is gone or done
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before each answer")
    args: Any = parser.parse_args(argv)
    asyncio.run(_main(args.chunks, args.delay_ms))


if __name__ == "__main__":
    main()
