"""Helicone request headers, parsed the way Helicone's worker parses them.

Everything here is pure: header pairs in, plain values out. The proxy calls
:func:`parse_helicone_headers` once per request and :func:`upstream_headers` to build
what it forwards. The rules follow HELICONE.md §1:

* header names match case-insensitively;
* ``Helicone-Property-<Name>`` keys are lowercased (the Workers runtime yields
  lowercase names) and values are stored verbatim, with no decoding at all;
* ``Helicone-Session-Id``/``-Path``/``-Name`` and ``Helicone-Prompt-Id`` become
  properties under exactly those capitalised keys;
* a ``Helicone-Request-Id`` that is not an RFC-4122 uuid v1-v5 is silently replaced;
* ``Helicone-User-Id`` falls back to the JSON body's ``user`` field;
* flags such as ``Helicone-Omit-Request`` are on only for the exact string ``"true"``;
* every ``helicone-*`` header is removed before the request goes upstream.

And the finer rules of HELICONE.md §10, confirmed by running Helicone's worker: values
lose leading and trailing whitespace (Fetch ``Headers``; uvicorn strips only leading),
empty reserved headers add no property, an empty ``Helicone-User-Id`` falls through to
the body's ``user`` (a number becomes its decimal string) and no user at all is ``""``,
request ids are stored lower case (by the store; the response echoes them as sent), NULs (and literal ``\\u0000`` escapes) leave property
values, and the cache, PostHog, experiment and Stripe headers become properties.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "REQUEST_ID_PATTERN",
    "HeliconeRequestHeaders",
    "bearer_token",
    "is_valid_request_id",
    "js_parse_int",
    "parse_helicone_headers",
    "upstream_headers",
]

#: ``HH.getValidUUID``: an RFC-4122 uuid, versions 1-5 only (uuid7 is rejected).
REQUEST_ID_PATTERN: re.Pattern[str] = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)

_PROPERTY_PREFIX = "helicone-property-"

#: Fetch ``Headers`` strip these "HTTP whitespace" bytes from both ends of every value.
_HTTP_WHITESPACE = " \t\r\n"

#: Non-``helicone-*`` request headers Helicone reads too (cache key, Cache-Control, Stripe).
_ALSO_READ = frozenset({"authorization", "cache-control", "x-stripe-customer-id"})

#: Headers copied into properties under a fixed, capitalised key (``HH.getHeliconeProperties``).
_RESERVED_PROPERTIES: dict[str, str] = {
    "helicone-session-id": "Helicone-Session-Id",
    "helicone-session-path": "Helicone-Session-Path",
    "helicone-session-name": "Helicone-Session-Name",
    "helicone-prompt-id": "Helicone-Prompt-Id",
    "helicone-experiment-id": "Helicone-Experiment-Id",
}

#: Hop-by-hop and framing headers that must not be forwarded as they are.
_NOT_FORWARDED: frozenset[bytes] = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"accept-encoding",
    }
)


@dataclass(frozen=True)
class HeliconeRequestHeaders:
    """What the Helicone headers of one proxied request say.

    Usage: ``info = parse_helicone_headers(pairs, body_user="alice"); info.request_id``
    """

    request_id: str
    #: True when the client sent a ``Helicone-Request-Id`` that was rejected and replaced.
    request_id_replaced: bool = False
    #: ``""`` when neither the header nor the body names a user (Helicone logs ``""``).
    user_id: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    omit_request: bool = False
    omit_response: bool = False
    #: The raw ``Helicone-Auth`` value, if any.
    auth: str | None = None
    #: Every ``helicone-*`` header (lowercase name, trimmed and joined value), plus
    #: ``authorization``, ``cache-control`` and ``x-stripe-customer-id``: what the gateway
    #: features (:mod:`.features`) read.
    raw: dict[str, str] = field(default_factory=dict)


def is_valid_request_id(value: str) -> bool:
    """Tell whether ``value`` is a request id Helicone keeps (uuid v1-v5).

    Usage: ``is_valid_request_id(str(uuid.uuid4()))  # True``
    """
    return REQUEST_ID_PATTERN.match(value) is not None


def _new_request_id() -> str:
    return str(uuid.uuid4())


def parse_helicone_headers(
    headers: Iterable[tuple[str, str]],
    body_user: object = None,
    new_id: Callable[[], str] = _new_request_id,
) -> HeliconeRequestHeaders:
    """Parse the ``Helicone-*`` headers of one request.

    ``headers`` are (name, value) pairs in any case; repeated headers are joined with
    ``", "`` as a Fetch ``Headers`` object does. ``body_user`` is the JSON body's ``user``
    field, used when ``Helicone-User-Id`` is absent. ``new_id`` makes ids for requests
    without a valid ``Helicone-Request-Id``.

    Usage: ``parse_helicone_headers([("Helicone-Property-App", "x")]).properties == {"app": "x"}``
    """
    seen: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if not name.startswith("helicone-") and name not in _ALSO_READ:
            continue
        value = raw_value.strip(_HTTP_WHITESPACE)
        previous = seen.get(name)
        seen[name] = value if previous is None else f"{previous}, {value}"

    properties: dict[str, str] = {}
    for name, value in seen.items():
        if name.startswith(_PROPERTY_PREFIX) and len(name) > len(_PROPERTY_PREFIX):
            properties[name[len(_PROPERTY_PREFIX) :]] = _without_nul(value)
    if seen.get("helicone-posthog-key"):
        properties["Helicone-Sent-To-Posthog"] = "true"
    for name, key in _RESERVED_PROPERTIES.items():
        if seen.get(name):  # only truthy values are injected
            properties[key] = _without_nul(seen[name])
    _cache_properties(seen, properties)
    stripe = seen.get("x-stripe-customer-id")
    if stripe:
        properties["stripe_customer_id"] = _without_nul(stripe)

    sent_id = seen.get("helicone-request-id")
    if sent_id is not None and is_valid_request_id(sent_id):
        request_id, replaced = sent_id, False
    else:
        request_id, replaced = new_id(), sent_id is not None

    return HeliconeRequestHeaders(
        request_id=request_id,
        request_id_replaced=replaced,
        user_id=seen.get("helicone-user-id") or _body_user(body_user),
        properties=properties,
        omit_request=seen.get("helicone-omit-request") == "true",
        omit_response=seen.get("helicone-omit-response") == "true",
        auth=seen.get("helicone-auth"),
        raw=seen,
    )


def js_parse_int(text: str | None) -> int | None:
    """JavaScript's ``parseInt(text, 10)``: leading digits after whitespace, else None (NaN).

    Usage: ``js_parse_int(" 42abc") == 42``
    """
    if text is None:
        return None
    match = _JS_INT.match(text)
    return int(match.group(0)) if match else None


_JS_INT = re.compile(r"\s*[+-]?\d+")


def _cache_properties(seen: dict[str, str], properties: dict[str, str]) -> None:
    """``HH.getHeliconeProperties``: the cache headers, logged whether or not caching is on."""
    if seen.get("helicone-cache-enabled") == "true":
        properties["Helicone-Cache-Enabled"] = "true"
    for name, key in (
        ("helicone-cache-seed", "Helicone-Cache-Seed"),
        ("helicone-cache-bucket-max-size", "Helicone-Cache-Bucket-Max-Size"),
    ):
        number = js_parse_int(seen.get(name) or None)
        if number:  # parseInt, kept only when truthy (not NaN, not 0)
            properties[key] = str(number)
    control = seen.get("helicone-cache-control")
    if control:
        properties["Helicone-Cache-Control"] = control


def _body_user(body_user: object) -> str:
    """The body's ``user`` as jawn logs it: strings as-is, numbers in decimal, else ``""``."""
    if isinstance(body_user, str):
        return body_user
    if isinstance(body_user, bool) or body_user is None:
        return ""
    if isinstance(body_user, int):
        return str(body_user)
    if isinstance(body_user, float) and body_user.is_integer():
        return str(int(body_user))
    if isinstance(body_user, float):
        return repr(body_user)
    return ""


def _without_nul(value: str) -> str:
    """jawn drops NULs, including their literal ``\\u0000`` escape, from logged values."""
    if "\x00" in value or "\\u0000" in value:
        return value.replace("\\u0000", "").replace("\x00", "")
    return value


def upstream_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers to forward upstream: no ``helicone-*`` header, no hop-by-hop header.

    ``Accept-Encoding`` is replaced by ``identity`` so that the gateway can read usage
    from the response while relaying its bytes unchanged.

    Usage: ``upstream_headers([(b"helicone-auth", b"Bearer k"), (b"authorization", b"Bearer sk")])``
    """
    kept = [
        (name, value)
        for name, value in headers
        if not name.lower().startswith(b"helicone-") and name.lower() not in _NOT_FORWARDED
    ]
    kept.append((b"accept-encoding", b"identity"))
    return kept


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization``-style ``Bearer <token>`` value, else None.

    Usage: ``bearer_token("Bearer sk-123") == "sk-123"``
    """
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
