"""Conformance table: HELICONE.md §10 rows, plus cache and rate-limit behaviour.

Each call is raw bytes on a socket to a real gateway, so header bytes (a trailing space, a
tab) arrive exactly as written; the logged row is read back through the REST API.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer

Raw = tuple[int, dict[str, str], bytes]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayServer]:
    with GatewayServer() as server:
        yield server


def send_raw(gw: GatewayServer, header_lines: list[str], body: dict[str, Any] | None = None) -> Raw:
    """POST /v1/chat/completions with these header lines written byte for byte."""
    payload = json.dumps(BODY if body is None else body).encode()
    head = [
        "POST /v1/chat/completions HTTP/1.1",
        f"Host: 127.0.0.1:{gw.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *header_lines,
    ]
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head_bytes, _, rest = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def rest_row(gw: GatewayServer, request_id: str) -> dict[str, Any] | None:
    """The logged row, through ``POST /v1/request/query-clickhouse`` (bodies included)."""
    gw.store.flush(5)
    body = {
        "filter": {"request_response_rmt": {"request_id": {"equals": request_id}}},
        "includeInputs": True,
    }
    with http.Client(base_url=gw.url, timeout=10) as client:
        rows = client.post("/v1/request/query-clickhouse", json=body).json()["data"]
    assert len(rows) <= 1
    return rows[0] if rows else None


def query(gw: GatewayServer, filter_node: Any, **extra: Any) -> list[dict[str, Any]]:
    gw.store.flush(5)
    with http.Client(base_url=gw.url, timeout=10) as client:
        response = client.post("/v1/request/query-clickhouse", json={"filter": filter_node, **extra})
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def by_id(request_id: str) -> Any:
    return {"request_response_rmt": {"request_id": {"equals": request_id}}}


def both(*nodes: Any) -> Any:
    out = nodes[-1]
    for node in reversed(nodes[:-1]):
        out = {"left": node, "operator": "and", "right": out}
    return out


# (case, header lines, body or None, check(row) -> None); every call also sends a fresh request id
Check = Callable[[dict[str, Any]], None]


def props(expected: dict[str, str]) -> Check:
    def check(row: dict[str, Any]) -> None:
        for key, value in expected.items():
            assert row["properties"].get(key) == value, (key, row["properties"])

    return check


def no_props(*keys: str) -> Check:
    def check(row: dict[str, Any]) -> None:
        for key in keys:
            assert key not in row["properties"], (key, row["properties"])

    return check


def field(name: str, value: Any) -> Check:
    def check(row: dict[str, Any]) -> None:
        assert row[name] == value, (name, row[name])

    return check


ROWS: list[tuple[str, list[str], dict[str, Any] | None, Check]] = [
    # §10: whitespace is trimmed at both ends before parsing
    (
        "trailing space: omit request still omits",
        ["Helicone-Omit-Request: true "],
        None,
        field("request_body", None),
    ),
    (
        "trailing tab: omit response still omits",
        ["Helicone-Omit-Response: true\t"],
        None,
        field("response_body", None),
    ),
    ("trailing space: user id trimmed", ["Helicone-User-Id: u3 "], None, field("request_user_id", "u3")),
    (
        "trailing space: property value trimmed",
        ["Helicone-Property-Team: red  "],
        None,
        props({"team": "red"}),
    ),
    # §10: empty or whitespace-only reserved headers inject nothing
    (
        "empty session/prompt headers add no property",
        [
            "Helicone-Session-Id: ",
            "Helicone-Session-Path:  ",
            "Helicone-Session-Name:\t",
            "Helicone-Prompt-Id: ",
        ],
        None,
        no_props(
            "Helicone-Session-Id", "Helicone-Session-Path", "Helicone-Session-Name", "Helicone-Prompt-Id"
        ),
    ),
    # §10: user id fallbacks
    (
        "empty user header falls to body user",
        ["Helicone-User-Id: "],
        {**BODY, "user": "bob"},
        field("request_user_id", "bob"),
    ),
    ("no user anywhere is the empty string", [], None, field("request_user_id", "")),
    ("numeric body user is its decimal string", [], {**BODY, "user": 123}, field("request_user_id", "123")),
    # §10: NUL escapes leave property values
    ("literal \\u0000 escape removed", ["Helicone-Property-Note: a\\u0000b"], None, props({"note": "ab"})),
    # §10: headers Helicone copies into properties
    (
        "cache headers become properties",
        [
            "Helicone-Cache-Enabled: true",
            "Helicone-Cache-Seed: 7",
            "Helicone-Cache-Bucket-Max-Size: 3",
            "Helicone-Cache-Control: max-age=60",
        ],
        {**BODY, "messages": [{"role": "user", "content": "cache props " + uuid.uuid4().hex}]},
        props(
            {
                "Helicone-Cache-Enabled": "true",
                "Helicone-Cache-Seed": "7",
                "Helicone-Cache-Bucket-Max-Size": "3",
                "Helicone-Cache-Control": "max-age=60",
            }
        ),
    ),
    (
        "posthog key marks Sent-To-Posthog",
        ["Helicone-Posthog-Key: phc_x"],
        None,
        props({"Helicone-Sent-To-Posthog": "true"}),
    ),
    (
        "experiment id becomes a property",
        ["Helicone-Experiment-Id: exp-1"],
        None,
        props({"Helicone-Experiment-Id": "exp-1"}),
    ),
    (
        "stripe customer becomes stripe_customer_id",
        ["x-stripe-customer-id: cus_9"],
        None,
        props({"stripe_customer_id": "cus_9"}),
    ),
    # matched before and must stay so
    ("property keys are lowercased", ["Helicone-Property-RequestId: x"], None, props({"requestid": "x"})),
    ("empty property suffix ignored", ["Helicone-Property-: x"], None, no_props("")),
    (
        "duplicate headers joined",
        ["Helicone-Property-Tag: a", "Helicone-Property-Tag: b"],
        None,
        props({"tag": "a, b"}),
    ),
    (
        "session path stored verbatim",
        ["Helicone-Session-Path: a//b/"],
        None,
        props({"Helicone-Session-Path": "a//b/"}),
    ),
]


@pytest.mark.parametrize(("case", "lines", "body", "check"), ROWS, ids=[r[0] for r in ROWS])
def test_logged_row(
    gw: GatewayServer, case: str, lines: list[str], body: dict[str, Any] | None, check: Check
) -> None:
    request_id = str(uuid.uuid4())
    status, headers, _ = send_raw(gw, [f"Helicone-Request-Id: {request_id}", *lines], body)
    assert status == 200 and headers["helicone-id"] == request_id
    row = rest_row(gw, request_id)
    assert row is not None
    check(row)


def test_trailing_space_request_id_is_kept(gw: GatewayServer) -> None:
    """§10: ``Helicone-Request-Id: <uuid>␠`` keeps the uuid (uvicorn strips only the left side)."""
    request_id = str(uuid.uuid4())
    _, headers, _ = send_raw(gw, [f"Helicone-Request-Id: {request_id} "])
    assert headers["helicone-id"] == request_id
    assert rest_row(gw, request_id) is not None


def test_upper_case_request_id_stored_lower_and_found_by_either(gw: GatewayServer) -> None:
    """§10: a valid upper-case uuid is kept, stored lower case, and found by either case."""
    request_id = str(uuid.uuid4()).upper()
    _, headers, _ = send_raw(gw, [f"Helicone-Request-Id: {request_id}"])
    assert headers["helicone-id"] == request_id
    row = rest_row(gw, request_id.lower())
    assert row is not None and row["request_id"] == request_id.lower()
    with http.Client(base_url=gw.url, timeout=10) as client:
        assert client.get(f"/v1/request/{request_id}").json()["data"]["request_id"] == request_id.lower()


def test_no_user_does_not_match_null(gw: GatewayServer) -> None:
    """§10: no user logs ``""``, so ``user_id equals "null"`` (IS NULL) matches nothing."""
    request_id = str(uuid.uuid4())
    send_raw(gw, [f"Helicone-Request-Id: {request_id}"])
    assert query(gw, both(by_id(request_id), {"request_response_rmt": {"user_id": {"equals": "null"}}})) == []
    assert len(query(gw, both(by_id(request_id), {"request_response_rmt": {"user_id": {"equals": ""}}}))) == 1


REFUSED = [
    (
        "bucket size over 20, cache off",
        ["Helicone-Cache-Bucket-Max-Size: 21"],
        b"Cache bucket size cannot be greater than 20",
    ),
    ("invalid prompt mode", ["Helicone-Prompt-Mode: live"], b"Invalid prompt mode"),
    (
        "unquoted ignore keys",
        ["Helicone-Cache-Ignore-Keys: prompt_cache_key"],
        b'\\"[prompt_cache_key]\\" is not valid JSON',
    ),
    ("fallbacks not JSON", ["Helicone-Fallbacks: [oops"], b"is not valid JSON"),
    ("fallbacks not an array", ['Helicone-Fallbacks: {"a": 1}'], b"helicone-fallbacks must be an array"),
]


@pytest.mark.parametrize(("case", "lines", "text"), REFUSED, ids=[r[0] for r in REFUSED])
def test_helicone_500_and_nothing_logged(gw: GatewayServer, case: str, lines: list[str], text: bytes) -> None:
    request_id = str(uuid.uuid4())
    status, _, body = send_raw(gw, [f"Helicone-Request-Id: {request_id}", *lines])
    assert status == 500 and text in body, body
    assert rest_row(gw, request_id) is None


def test_quoted_ignore_keys_work(gw: GatewayServer) -> None:
    status, _, _ = send_raw(gw, ['Helicone-Cache-Ignore-Keys: "user","temperature"'])
    assert status == 200


# ---------------------------------------------------------------- cache rows


def unique_body() -> dict[str, Any]:
    return {**BODY, "messages": [{"role": "user", "content": "q " + uuid.uuid4().hex}]}


def test_cache_miss_then_hit_with_new_id_and_reference(gw: GatewayServer) -> None:
    body = unique_body()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    status, miss, miss_body = send_raw(
        gw, ["Helicone-Cache-Enabled: true", f"Helicone-Request-Id: {first}"], body
    )
    assert status == 200 and miss["helicone-cache"] == "MISS" and miss["helicone-id"] == first
    status, hit, hit_body = send_raw(
        gw, ["Helicone-Cache-Enabled: true", f"Helicone-Request-Id: {second}"], body
    )
    assert status == 200 and hit["helicone-cache"] == "HIT" and hit["helicone-id"] == second
    assert hit["helicone-cache-bucket-idx"] == "0" and int(hit["helicone-cache-latency"]) >= 0
    assert hit_body == miss_body
    row = rest_row(gw, second)
    assert row is not None and row["cache_reference_id"] == first
    original = rest_row(gw, first)
    assert original is not None and original["cache_reference_id"] is None
    cached = {"request_response_rmt": {"cached": {"equals": True}}}
    assert [r["request_id"] for r in query(gw, both(by_id(second), cached))] == [second]
    assert query(gw, both(by_id(first), cached)) == []
    assert [r["request_id"] for r in query(gw, by_id(second), isCached=True)] == [second]
    assert query(gw, by_id(first), isCached=True) == []


def test_cache_key_ignores_properties_but_not_seed_or_auth(gw: GatewayServer) -> None:
    body = unique_body()
    send_raw(gw, ["Helicone-Cache-Enabled: true", "Helicone-Property-A: 1"], body)
    _, same, _ = send_raw(
        gw, ["Helicone-Cache-Enabled: true", "Helicone-Property-A: 2", "Helicone-Session-Id: s"], body
    )
    assert same["helicone-cache"] == "HIT"
    _, seeded, _ = send_raw(gw, ["Helicone-Cache-Enabled: true", "Helicone-Cache-Seed: 9"], body)
    assert seeded["helicone-cache"] == "MISS"
    _, other_key, _ = send_raw(gw, ["Helicone-Cache-Enabled: true", "Authorization: Bearer sk-other"], body)
    assert other_key["helicone-cache"] == "MISS"


def test_cache_ignore_keys_drop_body_keys(gw: GatewayServer) -> None:
    body = unique_body()
    lines = ["Helicone-Cache-Enabled: true", 'Helicone-Cache-Ignore-Keys: "user"']
    send_raw(gw, lines, {**body, "user": "a"})
    _, again, _ = send_raw(gw, lines, {**body, "user": "b"})
    assert again["helicone-cache"] == "HIT"


def test_cache_bucket_fills_before_hits(gw: GatewayServer) -> None:
    """A bucket of 3 misses three times (one answer per slot), then hits a random slot."""
    body = {**unique_body(), "temperature": 1}
    lines = ["Helicone-Cache-Enabled: true", "Helicone-Cache-Bucket-Max-Size: 3"]
    seen = [send_raw(gw, lines, body)[1]["helicone-cache"] for _ in range(3)]
    assert seen == ["MISS", "MISS", "MISS"]
    indexes = {send_raw(gw, lines, body)[1]["helicone-cache-bucket-idx"] for _ in range(30)}
    assert indexes <= {"0", "1", "2"} and len(indexes) >= 2


def test_cache_save_and_read_modes(gw: GatewayServer) -> None:
    """Save-only says nothing and saves; read-only says MISS and never saves."""
    body = unique_body()
    _, saved, _ = send_raw(gw, ["Helicone-Cache-Save: true"], body)
    assert "helicone-cache" not in saved
    _, again, _ = send_raw(gw, ["Helicone-Cache-Read: true"], body)
    assert again["helicone-cache"] == "MISS"  # the cache headers are part of the key
    _, still, _ = send_raw(gw, ["Helicone-Cache-Read: true"], body)
    assert still["helicone-cache"] == "MISS"


def test_cache_saves_only_200(gw: GatewayServer) -> None:
    bad = {"model": "gpt-4o-mini"}  # no messages: the offline model answers 400
    lines = ["Helicone-Cache-Enabled: true", "Helicone-Property-N: " + uuid.uuid4().hex]
    assert send_raw(gw, lines, bad)[0] == 400
    status, headers, _ = send_raw(gw, lines, bad)
    assert status == 400 and headers["helicone-cache"] == "MISS"


def test_cache_max_age_zero_is_not_kept(gw: GatewayServer) -> None:
    body = unique_body()
    send_raw(gw, ["Helicone-Cache-Enabled: true", "Cache-Control: max-age=0"], body)
    _, again, _ = send_raw(gw, ["Helicone-Cache-Enabled: true", "Cache-Control: max-age=0"], body)
    assert again["helicone-cache"] == "MISS"


# ----------------------------------------------------------- rate-limit rows


def test_rate_limit_headers_then_429(gw: GatewayServer) -> None:
    segment = uuid.uuid4().hex
    lines = ["Helicone-RateLimit-Policy: 2;w=60;s=team", f"Helicone-Property-Team: {segment}"]
    _, first, _ = send_raw(gw, lines)
    assert first["helicone-ratelimit-limit"] == "2" and first["helicone-ratelimit-remaining"] == "1"
    assert (
        first["helicone-ratelimit-policy"] == "2;w=60;s=team" and int(first["helicone-ratelimit-reset"]) > 0
    )
    assert send_raw(gw, lines)[1]["helicone-ratelimit-remaining"] == "0"
    request_id = str(uuid.uuid4())
    status, third, body = send_raw(gw, [*lines, f"Helicone-Request-Id: {request_id}"])
    assert status == 429 and third["x-helicone-error"] == "rate_limited"
    assert json.loads(body)["message"].startswith(
        "Helicone user was rate limit via Helicone-RateLimit-Policy header."
    )
    row = rest_row(gw, request_id)
    assert row is not None and row["response_status"] == 429
    assert row["properties"]["Helicone-Rate-Limit-Status"] == "bucket_rate_limited"
    other = ["Helicone-RateLimit-Policy: 2;w=60;s=team", f"Helicone-Property-Team: {segment}x"]
    assert send_raw(gw, other)[0] == 200  # another segment, another bucket


def test_rate_limit_policy_is_case_insensitive_and_normalized(gw: GatewayServer) -> None:
    user = uuid.uuid4().hex
    _, headers, _ = send_raw(
        gw, ["Helicone-RateLimit-Policy: 5;W=60;U=REQUEST;S=User", f"Helicone-User-Id: {user}"]
    )
    assert headers["helicone-ratelimit-policy"] == "5;w=60;s=user"
    assert headers["helicone-ratelimit-remaining"] == "4"


@pytest.mark.parametrize(
    "lines",
    [
        ["Helicone-RateLimit-Policy: 1;w=30"],  # window under 60 s
        ["Helicone-RateLimit-Policy: ten;w=60"],
        ["Helicone-RateLimit-Policy: 1;w=60;s=user"],  # no user id anywhere
        ["Helicone-RateLimit-Policy: 1;w=60;s=missing"],  # no Helicone-Property-Missing
    ],
    ids=["short window", "bad quota", "missing user", "missing property"],
)
def test_rate_limit_fails_open(gw: GatewayServer, lines: list[str]) -> None:
    for _ in range(3):
        status, headers, _ = send_raw(gw, lines)
        assert status == 200 and "helicone-ratelimit-limit" not in headers
