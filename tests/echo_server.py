"""A real loopback OpenAI-shaped server for the wrapper's behaviour suite.

It answers chat completions (JSON and SSE), completions, embeddings, Responses (JSON and SSE)
and models, on ``/v1/...`` and on Azure deployment paths. It records every request it receives
(headers lowercased) and answers with a ``helicone-id`` header: the ``Helicone-Request-Id`` it
was sent when that is a uuid v1-v5 (as Helicone does), else a fresh uuid4. A model named
``error-<status>`` answers that status with an OpenAI-shaped error body. The request header
``x-test-replace-id: 1`` makes it answer with a different id, as Helicone does for bad ids, and
``x-test-respond-with: {"Helicone-Cache": "HIT", ...}`` (JSON) adds those headers to the answer.

Redirects: ``x-test-redirect: <status> <url> [<url> ...]`` makes hop *n* of a chain (the
path prefix ``/hop/<n>``, none for the first) answer ``<status>`` with ``Location:`` the
``n``-th URL plus ``/hop/<n+1>`` and the rest of the path; the last hop answers normally.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.I)
CREATED = 1_700_000_000


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    helicone_id: str


def _chat(model: str, body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("response_format") or {}
    content = '{"title": "echo"}' if fmt.get("type") == "json_schema" else "Hello there"
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def _chat_chunks(model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": CREATED, "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
               for piece in ("Hello", " there")]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
    return chunks


def _completion(model: str) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "created": CREATED, "model": model,
            "choices": [{"text": "Hello there", "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def _response(model: str) -> dict[str, Any]:
    return {
        "id": "resp_1", "object": "response", "created_at": CREATED, "model": model, "status": "completed",
        "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello there", "annotations": []}]}],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
    }


def _response_events(model: str) -> list[dict[str, Any]]:
    done = _response(model)
    created = {**done, "status": "in_progress", "output": [], "usage": None}
    return [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": "Hello", "logprobs": []},
        {"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": " there", "logprobs": []},
        {"type": "response.completed", "sequence_number": 3, "response": done},
    ]


def _embedding(model: str, body: dict[str, Any]) -> dict[str, Any]:
    vector = [0.25, -0.5, 1.0]
    value: Any = vector
    if body.get("encoding_format") == "base64":
        value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return {"object": "list", "model": model, "usage": {"prompt_tokens": 2, "total_tokens": 2},
            "data": [{"object": "embedding", "index": 0, "embedding": value}]}


def _chosen(h: BaseHTTPRequestHandler) -> dict[str, str]:
    """The response headers a test asked for with ``x-test-respond-with`` (a JSON object)."""
    raw = h.headers.get("x-test-respond-with")
    return dict(json.loads(raw)) if raw else {}


class EchoServer:
    """Start with ``EchoServer().start()``; ``.url`` is the root, ``.seen`` the recorded requests."""

    records_auth = True

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                # A header sent twice reads as "a, b", as it does in Helicone's worker (fetch Headers).
                headers: dict[str, str] = {}
                for name, value in self.headers.items():
                    key = name.lower()
                    headers[key] = f"{headers[key]}, {value}" if key in headers else value
                sent = headers.get("helicone-request-id", "")
                hid = sent if _UUID.fullmatch(sent) and headers.get("x-test-replace-id") != "1" else str(uuid.uuid4())
                with server._lock:
                    server.seen.append(Seen(self.command, self.path, headers, body, hid))
                if not server.redirect(self, headers):
                    server.route(self, body, hid)

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # 200 concurrent tasks connect at once

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> EchoServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def by_id(self, helicone_id: str) -> Seen:
        with self._lock:
            for seen in reversed(self.seen):
                if seen.helicone_id == helicone_id:
                    return seen
        raise KeyError(helicone_id)

    def last(self) -> Seen:
        with self._lock:
            return self.seen[-1]

    @staticmethod
    def redirect(h: BaseHTTPRequestHandler, headers: dict[str, str]) -> bool:
        chain = headers.get("x-test-redirect", "").split()
        if not chain:
            return False
        found = re.match(r"/hop/(\d+)(/.*)", h.path)
        hop, rest = (int(found.group(1)), found.group(2)) if found else (0, h.path)
        if hop >= len(chain) - 1:
            return False
        h.send_response(int(chain[0]))
        h.send_header("location", f"{chain[hop + 1]}/hop/{hop + 1}{rest}")
        h.send_header("content-length", "0")
        h.end_headers()
        return True

    def route(self, h: BaseHTTPRequestHandler, body: dict[str, Any], hid: str) -> None:
        path = re.sub(r"^/hop/\d+", "", h.path.split("?", 1)[0])
        path = re.sub(r"^/openai/deployments/[^/]+", "/v1", path)
        path = re.sub(r"^/openai(/v1)?", "/v1", path)
        model = str(body.get("model") or "gpt-4o-mini")
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            error = {"error": {"message": f"simulated {status}", "type": "invalid_request_error",
                               "param": None, "code": f"e{status}"}}
            return self._json(h, status, error, hid, {"x-should-retry": "false"})
        stream = bool(body.get("stream"))
        if path == "/v1/chat/completions":
            if stream:
                return self._sse(h, [(None, c) for c in _chat_chunks(model, body)], hid, done=True)
            return self._json(h, 200, _chat(model, body), hid)
        if path == "/v1/completions":
            if stream:
                chunk = {**_completion(model), "usage": None}
                return self._sse(h, [(None, chunk)], hid, done=True)
            return self._json(h, 200, _completion(model), hid)
        if path == "/v1/embeddings":
            return self._json(h, 200, _embedding(model, body), hid)
        if path == "/v1/responses":
            if stream:
                return self._sse(h, [(e["type"], e) for e in _response_events(model)], hid, done=False)
            return self._json(h, 200, _response(model), hid)
        if path == "/v1/models":
            data = [{"id": name, "object": "model", "created": CREATED, "owned_by": "system"}
                    for name in ("gpt-4o-mini", "gpt-4o")]
            return self._json(h, 200, {"object": "list", "data": data}, hid)
        return self._json(h, 404, {"error": {"message": f"no route {path}", "type": "not_found"}}, hid)

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, payload: Any, hid: str,
              extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.send_header("helicone-id", hid)
        h.send_header("x-request-id", "req_echo")
        for key, value in {**(extra or {}), **_chosen(h)}.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _sse(h: BaseHTTPRequestHandler, events: list[tuple[str | None, Any]], hid: str, *, done: bool) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("helicone-id", hid)
        h.send_header("connection", "close")
        for key, value in _chosen(h).items():
            h.send_header(key, value)
        h.end_headers()
        for event, payload in events:
            prefix = f"event: {event}\n" if event else ""
            h.wfile.write(f"{prefix}data: {json.dumps(payload)}\n\n".encode())
            h.wfile.flush()
        if done:
            h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()
        h.close_connection = True
