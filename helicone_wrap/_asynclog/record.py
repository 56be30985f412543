"""Pure builders for async-mode log records, in the form Helicone's manual logger sends them.

Helicone's async log endpoint (``POST {log host}/oai/v1/log``, ``worker/src/lib/managers/
AsyncLogManager.ts``) takes ``{providerRequest: {url, json, meta}, providerResponse: {headers,
status, json | textBody}, timing: {startTime: {seconds, milliseconds}, endTime, timeToFirstToken}}``
(``helicone-helpers`` ``HeliconeManualLogger.send_log``). The stored response body is ``textBody``
when it is set, else ``JSON.stringify(json)``; the call counts as a stream when the request JSON
says ``stream: true``. The ``Helicone-*`` headers (session, properties, user, request id) go on
the log POST itself, where Helicone reads them as it reads a proxied call's.

The caller's thread only collects raw text (:func:`pending`); :func:`log_record` turns that into
the wire record on a delivery sender thread, so JSON decoding stays off the call path. What is
queued is plain JSON, so it can wait in the outbox like any other operation.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .._api.wire import LOG_PATH as LOG_PATH

#: Helicone's worker host for async logs; an EU key logs there too (the worker routes by key).
DEFAULT_LOG_HOST = "https://api.worker.helicone.ai"

#: ``providerResponse.status`` for a call that got no HTTP answer at all (connection failure).
STATUS_NO_RESPONSE = -1
#: ... and for a stream the caller closed or dropped before its end (``HeliconeLogBuilder``'s cancel).
STATUS_CUT_SHORT = -3

OMIT_REQUEST = "helicone-omit-request"
OMIT_RESPONSE = "helicone-omit-response"
_OMIT_NAMES = frozenset({"Helicone-Omit-Request", OMIT_REQUEST, "Helicone-Omit-Response", OMIT_RESPONSE})
#: Response headers never copied into a record (cookies belong to the caller alone).
_PRIVATE_RESPONSE_HEADERS = frozenset({"set-cookie", "authorization"})


_first = operator.itemgetter(0)
_second = operator.itemgetter(1)


def _response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names to values (repeats joined with ``", "``, as httpx's ``items()`` does), minus private ones.

    Runs on the caller's thread, so it reads httpx's raw byte pairs: all names are lower-cased and
    decoded in one go, all values in another (a handful of C calls, however many headers there
    are). A name or value holding a NUL byte (h11 never lets one through, a custom transport
    might), a repeated name or a private one takes the pair-by-pair path.
    """
    raw = getattr(headers, "raw", None)
    if not isinstance(raw, list):
        return {k.lower(): v for k, v in headers.items() if k.lower() not in _PRIVATE_RESPONSE_HEADERS}
    count = len(raw)
    names = b"\0".join(map(_first, raw)).lower().decode("latin-1").split("\0")
    values = b"\0".join(map(_second, raw)).decode("latin-1").split("\0")
    if count and len(names) == count and len(values) == count:
        out = dict(zip(names, values, strict=True))
        if len(out) == count and _PRIVATE_RESPONSE_HEADERS.isdisjoint(out):
            return out
    out = {}
    for name, value in raw:
        key = name.lower().decode("latin-1")
        if key in _PRIVATE_RESPONSE_HEADERS:
            continue
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def pending(
    *,
    headers: Mapping[str, str],
    url: str,
    request_body: bytes | None,
    status: int,
    response_headers: Mapping[str, str],
    response_body: bytes | None,
    start: float,
    end: float,
    ttft_ms: float | None,
    note: str | None = None,
) -> dict[str, Any]:
    """The queued form of one record: raw texts plus timing, JSON-serializable.

    ``headers`` are the log POST's ``Helicone-*`` headers (a dict is kept as it is, not copied).
    Bodies are dropped here, before the record leaves the process, when those headers ask to omit
    them; only their non-content fields
    stay (:func:`kept_request_fields`, :func:`kept_response_fields`), so the stored row still has
    model, tokens and cost, as a proxied call with ``omit()`` has. ``start``/``end`` are
    ``time.time()`` values. Usage: ``pending(headers=h, url=u, request_body=b"{}", ...)``
    """
    if _OMIT_NAMES.isdisjoint(headers):  # the common case: one C-level check
        omit_request = omit_response = False
    else:
        omit_request = headers.get("Helicone-Omit-Request", headers.get(OMIT_REQUEST, "")).strip().lower() == "true"
        omit_response = headers.get("Helicone-Omit-Response", headers.get(OMIT_RESPONSE, "")).strip().lower() == "true"
    if omit_request:
        request_text = kept_request_fields(request_body)
    else:
        request_text = request_body.decode("utf-8", "replace") if request_body else None
    if omit_response:
        response_text = kept_response_fields(response_body)
    else:
        response_text = response_body.decode("utf-8", "replace") if response_body is not None else None
    if note is not None and not omit_response:
        response_text = note if not response_text else f"{note}\n\n{response_text}"
    return {
        "headers": headers if type(headers) is dict else dict(headers),  # a dict is kept, not copied
        "url": url,
        "request": request_text,
        "status": status,
        "response_headers": _response_headers(response_headers),
        "response": response_text,
        "start": start,
        "end": max(end, start),
        "ttft": ttft_ms,
    }


def _decoded(text: bytes | str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def kept_request_fields(body: bytes | None) -> str | None:
    """What an omitted request body keeps: ``model`` and ``stream``, as JSON text (None if neither).

    Runs on the caller's thread, but only for a call whose request is omitted: its text must
    not be queued (it could wait in the outbox on disk). Usage: ``kept_request_fields(b'{"model": "m"}')``
    """
    obj = _decoded(body) if body and body.lstrip()[:1] == b"{" else None
    if obj is None:
        return None
    kept = {k: obj[k] for k in ("model", "stream") if isinstance(obj.get(k), (str, bool))}
    return json.dumps(kept) if kept else None


def _inner(event: dict[str, Any]) -> dict[str, Any]:
    """A Responses stream event's ``response`` object, else the event itself."""
    inner = event.get("response")
    return inner if isinstance(inner, dict) else event


def kept_response_fields(body: bytes | None) -> str | None:
    """What an omitted answer keeps: ``model`` and ``usage``, as JSON text (None if neither).

    A JSON answer gives its own; an SSE stream the ``usage`` of its last usage-bearing event and
    the first ``model`` it names (a Responses stream's are inside ``response``).
    Usage: ``kept_response_fields(b'{"model": "m", "usage": {...}, "choices": [...]}')``
    """
    if not body:
        return None
    text = body.strip()
    found: dict[str, Any] = {}
    if text[:1] == b"{":
        obj = _decoded(text)
        objects = [obj] if obj is not None else []
    else:  # SSE: the first event naming a model, and the last one with a usage object
        lines = [line[5:] for line in text.split(b"\n") if line.startswith(b"data:")]
        first = next((e for e in map(_decoded, (x for x in lines if b'"model"' in x)) if e is not None), None)
        usages = (_decoded(x) for x in reversed(lines) if b'"usage"' in x)
        last = next((e for e in usages if e is not None and isinstance(_inner(e).get("usage"), dict)), None)
        objects = [e for e in (first, last) if e is not None]
    for obj in map(_inner, objects):
        if isinstance(obj.get("model"), str):
            found.setdefault("model", obj["model"])
        if isinstance(obj.get("usage"), dict):
            found["usage"] = obj["usage"]
    return json.dumps(found) if found else None


def _clock(at: float) -> dict[str, int]:
    ms = int(round(at * 1000))
    return {"seconds": ms // 1000, "milliseconds": ms % 1000}


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text or text[:1] != "{":
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def log_record(body: Mapping[str, Any]) -> dict[str, Any]:
    """The wire record for one queued :func:`pending` body (runs on a delivery sender thread).

    A JSON-object response goes as ``json``; anything else (SSE streams, text, an error note)
    goes as ``textBody`` with ``json: {}``, as the manual logger sends strings.
    Usage: ``log_record(pending(...))["providerResponse"]["status"]``
    """
    request_json = _json_object(body.get("request"))
    if request_json is None:
        request_json = {}
    response_text = body.get("response")
    response_json = _json_object(response_text)
    provider_response: dict[str, Any] = {"headers": dict(body.get("response_headers") or {}), "status": body["status"]}
    if response_json is not None:
        provider_response["json"] = response_json
    else:
        provider_response["json"] = {}
        provider_response["textBody"] = response_text or ""
    timing: dict[str, Any] = {"startTime": _clock(body["start"]), "endTime": _clock(body["end"])}
    if body.get("ttft") is not None:
        timing["timeToFirstToken"] = int(round(body["ttft"]))
    return {
        "providerRequest": {"url": body.get("url") or "", "json": request_json, "meta": {}},
        "providerResponse": provider_response,
        "timing": timing,
    }


def _spliceable(text: str | None) -> str | None:
    """``text`` when it can go into the record as JSON as it is: an object, as a client or provider wrote it."""
    if not text:
        return None
    if text[0] != "{" or text[-1] != "}":
        text = text.strip()
        if not text or text[0] != "{" or text[-1] != "}":
            return None
    return text


#: A str as a JSON string literal (non-ASCII as ``\\u`` escapes): json's own C escaper.
_quoted: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _string_map_encoder() -> Callable[[Mapping[str, str]], str]:
    """A ``{str: str}`` mapping as compact JSON (non-ASCII as ``\\u`` escapes), in one C call.

    json's C encoder is made once and reused (``json.dumps`` makes one per call, in Python);
    where there is none, or it does not behave as checked here, ``json.JSONEncoder.encode``.
    """
    fallback = json.JSONEncoder(separators=(",", ":"), check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        try:
            encoder = make(None, fallback.default, _quoted, None, ":", ",", False, False, True)
            if "".join(encoder({"a": "\u00e9\n"}, 0)) == '{"a":"\\u00e9\\n"}':
                return lambda mapping: "".join(encoder(mapping, 0))
        except Exception:  # pragma: no cover - another json implementation
            pass
    return fallback.encode  # pragma: no cover - CPython has the C encoder


_string_map_json = _string_map_encoder()


def log_record_bytes(body: Mapping[str, Any]) -> bytes:
    """:func:`log_record`, serialized, without parsing the bodies: they are JSON text already.

    A request or response body that is a JSON object (it starts with ``{`` and ends with ``}``)
    is spliced into the record as it is, instead of being parsed and serialized again (the
    sender's largest CPU cost after the POST itself); anything else goes as ``textBody``, as in
    :func:`log_record`. Numbers are formatted directly, strings and headers go through json's
    C encoder. Usage: ``json.loads(log_record_bytes(pending(...)))``
    """
    request_json = _spliceable(body.get("request")) or "{}"
    response_text = body.get("response")
    response_json = _spliceable(response_text)
    if response_json is not None:
        answer = f',"json":{response_json}'
    else:
        answer = f',"json":{{}},"textBody":{_quoted(response_text or "")}'
    ttft = body.get("ttft")
    first_token = "" if ttft is None else f',"timeToFirstToken":{int(round(ttft))}'
    headers = body.get("response_headers") or {}
    start, end = int(round(body["start"] * 1000)), int(round(body["end"] * 1000))
    return (
        f'{{"providerRequest":{{"url":{_quoted(body.get("url") or "")},"json":{request_json},"meta":{{}}}},'
        f'"providerResponse":{{"headers":{_string_map_json(headers)},"status":{int(body["status"])}'
        f'{answer}}},"timing":{{"startTime":{{"seconds":{start // 1000},"milliseconds":{start % 1000}}},'
        f'"endTime":{{"seconds":{end // 1000},"milliseconds":{end % 1000}}}{first_token}}}}}'
    ).encode("utf-8", "replace")


def log_headers(base: Mapping[str, str], api_key: str | None, body: Mapping[str, Any]) -> dict[str, str]:
    """The log POST's headers: ``base`` without the REST ``Authorization``, ``Helicone-Auth``, the record's own.

    Usage: ``log_headers({"Content-Type": "application/json"}, "sk-helicone-...", pending_body)``
    """
    headers = {k: v for k, v in base.items() if k.lower() != "authorization"}
    if api_key:
        headers["Helicone-Auth"] = f"Bearer {api_key}"
    headers.update(body.get("headers") or {})
    return headers


def log_host(base_url: str | None) -> str:
    """Where records go: the gateway root of ``base_url=``/``HELICONE_BASE_URL`` (a trailing
    ``/v1`` dropped), else Helicone's worker host. Usage: ``log_host("http://127.0.0.1:8787/v1")``
    """
    if not base_url:
        return DEFAULT_LOG_HOST
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return root
