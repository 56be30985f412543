"""Pure header helpers: encoding, validation and path rules, table-driven."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from helicone_wrap import HeliconeValidationError
from helicone_wrap._headers import (
    decode_value,
    encode_value,
    is_valid_request_id,
    join_path,
    new_request_id,
    normalize_path,
    property_key,
)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("prod", "prod"),
        ("a b", "a b"),
        ("", ""),
        ("Café", "utf-8''Caf%C3%A9"),
        ("100%", "100%"),
        ("/résumé/x", "utf-8''/r%C3%A9sum%C3%A9/x"),
        (" padded ", "utf-8'' padded "),
        ("utf-8''literal", "utf-8''utf-8''literal"),
    ],
)
def test_encode_table(value: str, wire: str) -> None:
    """Plain ASCII goes verbatim; anything else uses the utf-8'' form, which decodes back."""
    assert encode_value(value, "v") == wire
    assert decode_value(wire) == value


@given(st.text().filter(lambda s: not any(ord(c) < 32 or ord(c) == 127 for c in s)))
def test_encoding_round_trips_and_is_ascii(value: str) -> None:
    """Every control-free string encodes to ASCII and decodes back to itself."""
    wire = encode_value(value, "v")
    assert wire.isascii()
    assert decode_value(wire) == value


@pytest.mark.parametrize(("path", "normal"), [("", "/"), ("/", "/"), ("a", "/a"), ("//a///b/", "/a/b")])
def test_paths_are_normalised(path: str, normal: str) -> None:
    """Session paths get a leading slash and lose empty segments."""
    assert normalize_path(path) == normal


def test_join_path() -> None:
    """Relative paths append; absolute paths replace."""
    assert join_path("/a", "b/c") == "/a/b/c"
    assert join_path("/a", "/z") == "/z"


def test_property_keys_lowercase_except_reserved() -> None:
    """Keys are lowercased like Helicone's worker does, except Helicone's reserved keys."""
    assert property_key("Environment") == "environment"
    assert property_key("Helicone-Session-Id") == "Helicone-Session-Id"
    with pytest.raises(HeliconeValidationError):
        property_key("has space")


def test_request_ids_are_uuid4_and_v7_would_be_rejected() -> None:
    """Our ids pass Helicone's v1-v5 regex; a uuid7-looking id would not."""
    assert is_valid_request_id(new_request_id())
    assert not is_valid_request_id("01890a5d-ac96-774b-bcce-b302099a8057")


def test_pooled_request_ids_are_distinct_canonical_uuid4s() -> None:
    """Ids from the bulk pool read back through uuid.UUID unchanged: version 4, RFC 4122, unique."""
    import uuid

    from helicone_wrap._headers import REQUEST_ID_LOWER, REQUEST_ID_WIRE, take_request_header, take_request_id

    ids = [take_request_id() for _ in range(1000)]  # several refills of the pool
    items = [take_request_header() for _ in range(1000)]  # the ready-made header items the call path appends
    assert all(name is REQUEST_ID_WIRE and lower == REQUEST_ID_LOWER for name, lower, _ in items)
    ids += [value for _, _, value in items]
    assert len(set(ids)) == len(ids)
    for raw in ids:
        parsed = uuid.UUID(raw.decode("ascii"))
        assert str(parsed).encode() == raw
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert is_valid_request_id(raw.decode())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_does_not_replay_the_parents_pooled_ids() -> None:
    """After fork the child draws fresh ids, not the ones left in the parent's pool."""
    from helicone_wrap import _headers

    _headers.take_request_id()  # the pools now hold unused ids
    _headers.take_request_header()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        try:
            os.write(write, b"".join(_headers.take_request_id() for _ in range(5)))
            os.write(write, b"".join(_headers.take_request_header()[2] for _ in range(5)))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = b"".join(_headers.take_request_id() for _ in range(5))
    parent += b"".join(_headers.take_request_header()[2] for _ in range(5))
    assert len(child) == len(parent) == 10 * 36
    assert child != parent


def test_find_header_reads_httpx_headers_by_lowercased_name() -> None:
    """The fast lookup agrees with httpx's own ``Headers.get`` on case, absence and repeats."""
    from helicone_wrap._headers import find_header
    from helicone_wrap._http import http

    headers = http.Headers([("Helicone-Id", "first"), ("Content-Type", "application/json"), ("helicone-id", "last")])
    assert find_header(headers, b"helicone-id") == "last"
    assert find_header(headers, b"content-type") == headers.get("content-type")
    assert find_header(headers, b"helicone-request-id") is None
    # Anything that is not an httpx Headers falls back to its .get().
    assert find_header({"helicone-id": "x"}, b"helicone-id") == "x"
