"""Pure functions: validate and encode everything that goes into a Helicone-* header.

Header values travel as ASCII. A value is sent verbatim when it is plain printable ASCII.
Otherwise (non-ASCII characters, leading/trailing whitespace, or a value that itself starts
with the tag below) it is sent in RFC 8187 ``ext-value`` form: ``utf-8''`` followed by the
UTF-8 bytes, percent-encoded. Only ``%`` and bytes outside printable ASCII are escaped, so
``Café`` becomes ``utf-8''Caf%C3%A9`` and a path keeps its slashes. Helicone stores the value
as sent (it does no decoding); :func:`decode_value` turns it back.

Control characters (CR, LF, NUL, TAB, DEL, ...) are never encoded: they are rejected with
:class:`HeliconeValidationError`, because in a header they are either an injection or a bug.
"""

from __future__ import annotations

import binascii
import operator
import os
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote, unquote

from ._exceptions import HeliconeValidationError

ENCODED_PREFIX = "utf-8''"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PLAIN = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_UUID_V1_TO_V5 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.I)

SESSION_ID = "Helicone-Session-Id"
SESSION_PATH = "Helicone-Session-Path"
SESSION_NAME = "Helicone-Session-Name"
USER_ID = "Helicone-User-Id"
REQUEST_ID = "Helicone-Request-Id"
PROPERTY_PREFIX = "Helicone-Property-"
AUTH = "Helicone-Auth"
RESPONSE_ID = "helicone-id"
#: Every Helicone header name starts with this, lowercased: the fast check for headers set by hand.
HELICONE_LOWER = b"helicone-"
CACHE_CONTROL_LOWER = b"cache-control"
#: The probe of headers that also send ``Cache-Control``: a hyphen is in both names that matter.
HYPHEN = b"-"
#: The two id headers as httpx keeps them in its header list: lowercased ASCII bytes.
REQUEST_ID_LOWER = REQUEST_ID.lower().encode("ascii")
#: The id header's name as we append it. Every request-id header of ours holds this very object,
#: so ``item[0] is REQUEST_ID_WIRE`` tells a request we built from one with the name set by hand.
REQUEST_ID_WIRE = REQUEST_ID.encode("ascii")
RESPONSE_ID_LOWER = RESPONSE_ID.lower().encode("ascii")


def check_text(value: object, what: str) -> str:
    """Return ``value`` if it is a ``str`` without control characters, else raise."""
    if not isinstance(value, str):
        raise HeliconeValidationError(f"{what} must be a str, got {type(value).__name__}: {value!r}.")
    bad = _CONTROL.search(value)
    if bad is not None:
        raise HeliconeValidationError(
            f"{what} contains the control character {bad.group()!r} at index {bad.start()}: {value!r}. "
            "Header values cannot carry CR, LF, TAB, NUL or other control characters; remove them."
        )
    return value


def encode_value(value: object, what: str) -> str:
    """Validate ``value`` and return its wire form (see the module docstring)."""
    text = check_text(value, what)
    if _PLAIN.fullmatch(text) and not text.startswith(ENCODED_PREFIX):
        return text
    if text == "":
        return text
    return ENCODED_PREFIX + quote(text, safe=_SAFE, encoding="utf-8")


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (so no header can carry it)."""
    return _CONTROL.search(text) is not None


def stored_value(text: str) -> str:
    """The form in which Helicone should store a property value, whichever way it is sent.

    A header can carry only the encoded form, and Helicone stores header values as sent, so a
    value written through the REST API (``enrich``) is encoded the same way to land on the same
    stored string: ``stored_value("Zürich") == "utf-8''Z%C3%BCrich"``. Values with control
    characters cannot be sent in a header at all; they are stored as they are.
    """
    if has_control(text):
        return text
    return encode_value(text, "value")


def encoded_fragment(text: str) -> str:
    """How ``text`` appears inside an encoded value (the escapes, without the ``utf-8''`` tag).

    Usage: ``encoded_fragment("Zür") == "Z%C3%BCr"`` (found inside ``utf-8''Z%C3%BCrich``)
    """
    return quote(text, safe=_SAFE, encoding="utf-8")


def decode_value(value: str) -> str:
    """Inverse of helicone_wrap's header encoding; plain values come back unchanged.

    Usage: ``decode_value("utf-8''Caf%C3%A9") == "Café"``
    """
    if value.startswith(ENCODED_PREFIX):
        return unquote(value[len(ENCODED_PREFIX) :], encoding="utf-8", errors="strict")
    return value


def check_key(key: object, what: str = "property key") -> str:
    """Return ``key`` if it is an RFC 7230 token (usable in a header name), else raise."""
    if not isinstance(key, str) or not _TOKEN.fullmatch(key):
        raise HeliconeValidationError(
            f"{what} {key!r} is not a valid HTTP header token. Use letters, digits and "
            "!#$%&'*+-.^_`|~ only (no spaces, colons or non-ASCII), e.g. 'conversation_id'."
        )
    return key


def property_key(key: object) -> str:
    """Canonical property key: validated and lowercased, as Helicone stores header properties.

    Keys starting with ``Helicone-`` are Helicone's reserved keys and keep their case.
    """
    checked = check_key(key)
    return checked if checked.startswith("Helicone-") else checked.lower()


def property_value(value: object, key: str) -> str:
    """Property values are ``str``; ``int``, ``float`` and ``bool`` are converted with ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    raise HeliconeValidationError(
        f"property {key!r} has a {type(value).__name__} value {value!r}; values must be str "
        "(int, float and bool are converted with str()). Convert it yourself, e.g. json.dumps(value)."
    )


def normalize_properties(mapping: Mapping[str, object] | None, kwargs: Mapping[str, object]) -> dict[str, str]:
    """Merge ``mapping`` and ``kwargs`` into ``{canonical key: str value}``, validating both."""
    merged: dict[str, str] = {}
    for source in (mapping or {}), kwargs:
        for key, value in source.items():
            canonical = property_key(key)
            text = property_value(value, canonical)
            check_text(text, f"property {canonical!r}")
            merged[canonical] = text
    return merged


def normalize_path(path: object, what: str = "session path") -> str:
    """``"a//b/"`` -> ``"/a/b"``: a leading ``/``, no empty segments, no trailing ``/``."""
    text = check_text(path, what)
    segments = [segment for segment in text.split("/") if segment]
    return "/" + "/".join(segments)


def join_path(base: str, path: str) -> str:
    """Compose a session path: an absolute ``path`` replaces ``base``, a relative one appends."""
    if path.startswith("/"):
        return normalize_path(path)
    return normalize_path(f"{base}/{path}")


def new_request_id() -> str:
    """A fresh uuid4 string; Helicone replaces anything that is not uuid v1-v5 (uuid7 included)."""
    return take_request_id().decode("ascii")


#: Pre-generated request ids as wire bytes; ``take_request_id`` pops one, refilling 256 at a time.
_ID_POOL: list[bytes] = []
_ID_BATCH = 256


def take_request_id() -> bytes:
    """A fresh uuid4 as ASCII bytes, ready for the wire.

    Ids come from a pool filled from one ``os.urandom`` read per 256 ids, so a call costs a list
    pop instead of a system call and a string format. The pool is emptied in a forked child,
    so parent and child never share an id.

    Usage: ``request.headers[REQUEST_ID] = take_request_id().decode()``
    """
    try:
        return _ID_POOL.pop()
    except IndexError:
        _ID_POOL.extend(_fresh_ids(_ID_BATCH))
        return _ID_POOL.pop()


#: The same ids as ready-made ``(name, lowercased name, value)`` header items, for the call path.
_HEADER_POOL: list[tuple[bytes, bytes, bytes]] = []
#: The same pool, for the call path to pop from directly (``IndexError`` when empty: then call
#: :func:`take_request_header`, which refills it). Emptied, never replaced, so this stays valid.
HEADER_POOL = _HEADER_POOL


def take_request_header() -> tuple[bytes, bytes, bytes]:
    """A fresh ``Helicone-Request-Id`` header item, as httpx keeps headers: ready to append.

    Built 256 at a time like :func:`take_request_id`, so a call pays for one list pop: no
    tuple to build. The name is :data:`REQUEST_ID_WIRE` itself (see there).

    Usage: ``request.headers._list.append(take_request_header())``
    """
    try:
        return _HEADER_POOL.pop()
    except IndexError:
        name, lower = REQUEST_ID_WIRE, REQUEST_ID_LOWER
        _HEADER_POOL.extend([(name, lower, value) for value in _fresh_ids(_ID_BATCH)])
        return _HEADER_POOL.pop()


def _clear_pools() -> None:
    _ID_POOL.clear()
    _HEADER_POOL.clear()


def _fresh_ids(count: int) -> list[bytes]:
    """``count`` uuid4 strings as bytes: the same bits as ``str(uuid.uuid4())``, made in bulk.

    Every step is one C-level operation over the whole batch, so the cost per id is a fraction
    of formatting each one: set the version and variant bits of every 16-byte block, hex it,
    then scatter the hex digits into 36-character slots around the dashes.
    """
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_RFC_4122_VARIANT)
    digits = binascii.hexlify(raw)
    slots = bytearray(b"-" * (37 * count))  # 36 characters and a space per id
    slots[36::37] = b" " * count
    for digit, slot in enumerate(_UUID_SLOTS):
        slots[slot::37] = digits[digit::32]
    return bytes(slots).split()


_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_RFC_4122_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))
#: Where hex digit ``i`` of a uuid goes in its 8-4-4-4-12 text form.
_UUID_SLOTS = [i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)]


if hasattr(os, "register_at_fork"):  # POSIX: a forked child must not replay the parent's ids
    os.register_at_fork(after_in_child=_clear_pools)


def is_valid_request_id(value: str) -> bool:
    """True when Helicone would keep ``value`` as the request id (uuid v1-v5)."""
    return _UUID_V1_TO_V5.fullmatch(value) is not None


WireHeader = tuple[bytes, bytes, bytes]


def find_header(headers: Any, lower_name: bytes) -> str | None:
    """The last value of one header in an httpx ``Headers``, looked up by its lowercased name.

    Reads httpx's ``(name, lowercased name, value)`` list directly when it exists: ``Headers.get``
    lowercases and re-encodes the key and decodes every matching value on each call, several
    times our whole per-call budget. Falls back to ``get`` for anything else.

    Usage: ``find_header(response.headers, b"helicone-id")``
    """
    items = getattr(headers, "_list", None)
    if type(items) is not list:
        value: str | None = headers.get(lower_name.decode("ascii"))
        return value
    names = list(map(LOWER_NAME, items))  # C-level passes, whatever the header count
    names.reverse()
    try:
        index = names.index(lower_name)
    except ValueError:
        return None
    return items[-1 - index][2].decode("latin-1")  # type: ignore[no-any-return]


#: The lowercased name of an httpx header-list item ``(name, lowercased name, value)``.
LOWER_NAME = operator.itemgetter(1)


def probe_for(names: Collection[bytes]) -> bytes:
    """What a call must look for among the request's header names before appending ours.

    Our headers give way to ones set by hand. Usually all of ours are ``Helicone-*``, and one
    substring test over the request's names says whether any was set. ``Cache-Control`` (sent by
    ``cache(max_age=...)``) is not, so a set that carries it probes for a hyphen, which every
    such name contains; a hit then takes the exact check.
    """
    return HYPHEN if CACHE_CONTROL_LOWER in names else HELICONE_LOWER


def wire_form(headers: Mapping[str, str]) -> tuple[WireHeader, ...]:
    """``{name: value}`` -> ``((name, lowercased name, value), ...)`` as ASCII bytes.

    That is how httpx and httpx2 store headers internally, so appending these to a built
    request skips re-normalising every header on every call.
    """
    return tuple((k.encode("ascii"), k.lower().encode("ascii"), v.encode("ascii")) for k, v in headers.items())


def context_headers(
    session_id: str | None,
    session_name: str | None,
    session_path: str | None,
    properties: Mapping[str, str],
    user_id: str | None,
) -> dict[str, str]:
    """The Helicone-* headers for one context snapshot, encoded for the wire."""
    headers: dict[str, str] = {}
    if session_id is not None:
        headers[SESSION_ID] = encode_value(session_id, "session id")
        headers[SESSION_PATH] = encode_value(session_path or "/", "session path")
        if session_name is not None:
            headers[SESSION_NAME] = encode_value(session_name, "session name")
    for key, value in properties.items():
        headers[PROPERTY_PREFIX + key] = encode_value(value, f"property {key!r}")
    if user_id is not None:
        headers[USER_ID] = encode_value(user_id, "user id")
    return headers
