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
    "parse_helicone_headers",
    "upstream_headers",
]

#: ``HH.getValidUUID``: an RFC-4122 uuid, versions 1-5 only (uuid7 is rejected).
REQUEST_ID_PATTERN: re.Pattern[str] = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)

_PROPERTY_PREFIX = "helicone-property-"

#: Headers copied into properties under a fixed, capitalised key (``HH.getHeliconeProperties``).
_RESERVED_PROPERTIES: dict[str, str] = {
    "helicone-session-id": "Helicone-Session-Id",
    "helicone-session-path": "Helicone-Session-Path",
    "helicone-session-name": "Helicone-Session-Name",
    "helicone-prompt-id": "Helicone-Prompt-Id",
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
    user_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    omit_request: bool = False
    omit_response: bool = False
    #: The raw ``Helicone-Auth`` value, if any.
    auth: str | None = None


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
    for raw_name, value in headers:
        name = raw_name.lower()
        if not name.startswith("helicone-"):
            continue
        previous = seen.get(name)
        seen[name] = value if previous is None else f"{previous}, {value}"

    properties: dict[str, str] = {}
    for name, value in seen.items():
        if name.startswith(_PROPERTY_PREFIX) and len(name) > len(_PROPERTY_PREFIX):
            properties[name[len(_PROPERTY_PREFIX) :]] = value
    for name, key in _RESERVED_PROPERTIES.items():
        if name in seen:
            properties[key] = seen[name]

    sent_id = seen.get("helicone-request-id")
    if sent_id is not None and is_valid_request_id(sent_id):
        request_id, replaced = sent_id, False
    else:
        request_id, replaced = new_id(), sent_id is not None

    user_id = seen.get("helicone-user-id")
    if user_id is None and isinstance(body_user, str):
        user_id = body_user

    return HeliconeRequestHeaders(
        request_id=request_id,
        request_id_replaced=replaced,
        user_id=user_id,
        properties=properties,
        omit_request=seen.get("helicone-omit-request") == "true",
        omit_response=seen.get("helicone-omit-response") == "true",
        auth=seen.get("helicone-auth"),
    )


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
