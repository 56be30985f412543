"""Helicone header parsing (pure): table-driven, one row per rule of HELICONE.md §1."""

from __future__ import annotations

import pytest

from helicone_wrap.gateway.headers import (
    bearer_token,
    is_valid_request_id,
    parse_helicone_headers,
    upstream_headers,
)

UUID4 = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
UUID1 = "a8098c1a-f86e-11da-bd1a-00112444be1e"
UUID7 = "01890a5d-ac96-774b-bcce-b302099a8057"
FRESH = "00000000-0000-4000-8000-000000000000"


def _fresh() -> str:
    return FRESH


PROPERTY_CASES = [
    ("property key is lowercased", [("Helicone-Property-RequestId", "x")], {"requestid": "x"}),
    ("header name case does not matter", [("HELICONE-PROPERTY-App", "y")], {"app": "y"}),
    ("empty property name is ignored", [("Helicone-Property-", "z")], {}),
    (
        "value is stored verbatim, no decoding",
        [("Helicone-Property-Q", "utf-8''caf%C3%A9")],
        {"q": "utf-8''caf%C3%A9"},
    ),
    (
        "repeated headers are joined",
        [("Helicone-Property-A", "1"), ("helicone-property-a", "2")],
        {"a": "1, 2"},
    ),
    ("session id keeps its capitals", [("helicone-session-id", "s1")], {"Helicone-Session-Id": "s1"}),
    (
        "session path is stored unvalidated",
        [("Helicone-Session-Path", "a//b/")],
        {"Helicone-Session-Path": "a//b/"},
    ),
    (
        "session name is a property",
        [("Helicone-Session-Name", "Course Plan")],
        {"Helicone-Session-Name": "Course Plan"},
    ),
    ("prompt id is copied to a property", [("Helicone-Prompt-Id", "p1")], {"Helicone-Prompt-Id": "p1"}),
    ("non-helicone headers are ignored", [("X-Property-A", "1"), ("Authorization", "Bearer k")], {}),
]


@pytest.mark.parametrize(("case", "headers", "expected"), PROPERTY_CASES, ids=[c[0] for c in PROPERTY_CASES])
def test_properties(case: str, headers: list[tuple[str, str]], expected: dict[str, str]) -> None:
    """Properties come from Helicone-Property-* and the session/prompt headers as the worker does."""
    assert parse_helicone_headers(headers).properties == expected


REQUEST_ID_CASES = [
    ("uuid4 is kept", UUID4, UUID4, False),
    ("uuid1 is kept", UUID1, UUID1, False),
    ("uppercase uuid is kept", UUID4.upper(), UUID4.upper(), False),
    ("uuid7 is replaced", UUID7, FRESH, True),
    ("free text is replaced", "req_abc123", FRESH, True),
    ("empty value is replaced", "", FRESH, True),
]


@pytest.mark.parametrize(
    ("case", "sent", "expected", "replaced"), REQUEST_ID_CASES, ids=[c[0] for c in REQUEST_ID_CASES]
)
def test_request_id(case: str, sent: str, expected: str, replaced: bool) -> None:
    """A Helicone-Request-Id that is not uuid v1-v5 is silently replaced by a fresh id."""
    info = parse_helicone_headers([("Helicone-Request-Id", sent)], new_id=_fresh)
    assert (info.request_id, info.request_id_replaced) == (expected, replaced)


def test_request_id_generated_when_absent() -> None:
    """Without Helicone-Request-Id the gateway makes a valid uuid4 of its own."""
    info = parse_helicone_headers([])
    assert is_valid_request_id(info.request_id) and not info.request_id_replaced


USER_CASES = [
    ("header wins over body", [("Helicone-User-Id", "alice")], "bob", "alice"),
    ("body user is the fallback", [], "bob", "bob"),
    ("a numeric body user is logged as its decimal string", [], 42, "42"),
    ("an empty header falls through to the body", [("Helicone-User-Id", "")], "bob", "bob"),
    ("no user at all is the empty string", [], None, ""),
]


@pytest.mark.parametrize(
    ("case", "headers", "body_user", "expected"), USER_CASES, ids=[c[0] for c in USER_CASES]
)
def test_user_id(case: str, headers: list[tuple[str, str]], body_user: object, expected: str | None) -> None:
    """Helicone-User-Id falls back (``||``) to the JSON body's user field; none is ``""`` (§10)."""
    assert parse_helicone_headers(headers, body_user=body_user).user_id == expected


FLAG_CASES = [
    ("exact true turns omit on", "true", True),
    ("TRUE is not true", "TRUE", False),
    ("1 is not true", "1", False),
    ("false is off", "false", False),
]


@pytest.mark.parametrize(("case", "value", "expected"), FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_omit_flags(case: str, value: str, expected: bool) -> None:
    """Helicone-Omit-Request/-Response are on only for the exact string "true"."""
    info = parse_helicone_headers([("Helicone-Omit-Request", value), ("Helicone-Omit-Response", value)])
    assert (info.omit_request, info.omit_response) == (expected, expected)


def test_auth_header_is_read() -> None:
    """The Helicone-Auth value is kept for the proxy's key check."""
    assert parse_helicone_headers([("helicone-auth", "Bearer k1")]).auth == "Bearer k1"


def test_upstream_headers_strip_helicone_and_hop_by_hop() -> None:
    """Every helicone-* header (Helicone-Auth included) and hop-by-hop header stays behind."""
    sent = [
        (b"helicone-auth", b"Bearer k"),
        (b"Helicone-Property-App", b"x"),
        (b"authorization", b"Bearer sk-provider"),
        (b"content-type", b"application/json"),
        (b"host", b"gateway"),
        (b"content-length", b"10"),
        (b"connection", b"keep-alive"),
        (b"accept-encoding", b"gzip"),
    ]
    assert upstream_headers(sent) == [
        (b"authorization", b"Bearer sk-provider"),
        (b"content-type", b"application/json"),
        (b"accept-encoding", b"identity"),
    ]


BEARER_CASES = [
    ("Bearer sk-1", "sk-1"),
    ("bearer  sk-2 ", "sk-2"),
    ("Basic abc", None),
    ("Bearer ", None),
    (None, None),
]


@pytest.mark.parametrize(("value", "expected"), BEARER_CASES)
def test_bearer_token(value: str | None, expected: str | None) -> None:
    """Only a 'Bearer <token>' value yields a token."""
    assert bearer_token(value) == expected
