"""Turn ``enrich``/``feedback``/``score`` arguments into queued operations.

Everything is validated first, so a bad key, value, rating or score raises
:class:`HeliconeValidationError` and nothing at all is queued. Then one REST operation per
Helicone call is handed to the background worker (:mod:`helicone_wrap._delivery`), which
returns one :class:`Delivery` for the whole call.

``enrich`` rules (the same as for header-set properties, so both land on one key):

- keys are HTTP tokens (letters, digits and ``!#$%&'*+-.^_`|~``) and are **lowercased**,
  because Helicone lowercases header-set property keys while ``PUT .../property`` keeps the
  case it is given; keys starting with ``Helicone-`` are Helicone's reserved keys and keep theirs;
- values are ``str``; ``int``, ``float`` and ``bool`` are converted with ``str()`` (so ``True``
  becomes ``"True"``); anything else is rejected. Values travel in a JSON body, so any character
  except NUL is fine, but they are stored as a header would carry them (``Zürich`` becomes
  ``utf-8''Z%C3%BCrich``, as ``properties(city="Zürich")`` sends it), so that one value is one
  stored string whichever way it was set; values with control characters are sent as they are;
- Helicone takes one ``{"key", "value"}`` per call, so ``enrich(a=1, b=2)`` sends two PUTs and
  the one handle completes when both are done (its ``error`` is the first failure).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from . import _api, _delivery
from ._config import ENV_NAMES, Target, last_registered_target
from ._delivery import Delivery
from ._exceptions import HeliconeValidationError

__all__ = ["enrich_request", "feedback_request", "score_request"]

_env_target: tuple[tuple[str | None, ...], Target] | None = None


def _default_target() -> Target:
    """Where an operation on a bare id goes: where this process's last ``wrap()`` sends its REST
    calls (that client's explicit arguments already beat the environment), else what the
    environment says (``Target.from_env()``, cached per environment snapshot)."""
    global _env_target

    wrapped = last_registered_target()
    if wrapped is not None:
        return wrapped
    snapshot = tuple(os.environ.get(n) for n in ENV_NAMES)
    cached = _env_target
    if cached is not None and cached[0] == snapshot:
        return cached[1]
    target = Target.from_env()
    _env_target = (snapshot, target)
    return target


def property_bodies(mapping: Mapping[str, object] | None, props: Mapping[str, object]) -> list[dict[str, str]]:
    """The ``{"key", "value"}`` bodies for one enrich call, validated and canonical."""
    if mapping is not None and not isinstance(mapping, Mapping):
        raise HeliconeValidationError(f"enrich() takes a mapping and/or keyword arguments, got {mapping!r}.")
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for source in (mapping or {}), props:
        for key, value in source.items():
            canonical, text = _api.check_property(key, value)
            first = origin.setdefault(canonical, key)
            if first != key:
                raise HeliconeValidationError(
                    f"property keys {first!r} and {key!r} both become {canonical!r} (keys are lowercased to "
                    "match header-set properties); keep one of them."
                )
            merged[canonical] = text
    return [{"key": key, "value": value} for key, value in merged.items()]


def enrich_request(
    request_id: str, mapping: Mapping[str, object] | None, props: Mapping[str, object], *, target: Target | None = None
) -> Delivery:
    """Queue one property PUT per key for ``request_id``; one :class:`Delivery` for all of them.

    Usage: ``enrich_request(rid, {"outcome": "resolved"}, {}, target=Target.from_env())``
    """
    request_id = _api.check_request_id(request_id)
    bodies = property_bodies(mapping, props)
    return _delivery.submit(_api.KIND_PROPERTY, request_id, bodies, target or _default_target())


def feedback_request(request_id: str, rating: bool, *, target: Target | None = None) -> Delivery:
    """Queue ``POST /v1/request/{id}/feedback {"rating": bool}``.

    Usage: ``feedback_request(rid, True)``
    """
    request_id = _api.check_request_id(request_id)
    body = {"rating": _api.check_rating(rating)}
    return _delivery.submit(_api.KIND_FEEDBACK, request_id, [body], target or _default_target())


def score_request(request_id: str, scores: Mapping[str, object], *, target: Target | None = None) -> Delivery:
    """Queue ``POST /v1/request/{id}/score {"scores": {...}}`` (ints and bools; floats are rejected).

    Usage: ``score_request(rid, {"accuracy": 87, "grounded": True})``
    """
    request_id = _api.check_request_id(request_id)
    checked = _api.check_scores(scores)
    bodies = [{"scores": checked}] if checked else []
    return _delivery.submit(_api.KIND_SCORE, request_id, bodies, target or _default_target())
