"""Helicone's request sort object compiled to an ``ORDER BY`` (``sorts.ts``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .filters import PROPERTY_VALUE, Compiled
from .values import FilterError, describe

__all__ = ["compile_sort"]


#: Top-level sort keys in Helicone's order of precedence (``sorts.ts``).
_SORT_COLUMNS: dict[str, str] = {
    "created_at": "r.created_at",
    "latency": "r.latency_ms",
    "time_to_first_token": "r.ttft_ms",
    "total_tokens": "r.total_tokens",
    "completion_tokens": "r.completion_tokens",
    "prompt_tokens": "r.prompt_tokens",
    "user_id": "r.user_id",
    "body_model": "r.request_model",
    "is_cached": "(r.cache_reference_id IS NOT NULL)",
    "request_prompt": "r.request_body",
    "response_text": "r.response_body",
    "cost": "r.cost",
}


_PROPERTY_SORT_KEY = re.compile(r"^[a-zA-Z0-9_]+$")


def _direction(value: object, path: str) -> str:
    if value not in ("asc", "desc"):
        raise FilterError(path, f'sort direction must be "asc" or "desc", got {describe(value)}')
    return str(value).upper()


def compile_sort(sort: object, path: str = "sort") -> Compiled:
    """An ``ORDER BY`` for a Helicone sort object, as ``buildRequestSortClickhouse`` does.

    ``{"random": true}`` wins, then the first top-level key present (in Helicone's order of
    precedence, not the object's), then ``{"properties": {key: dir}}`` (key must be
    ``[A-Za-z0-9_]+``); keys with a falsy value are skipped and the default is
    ``created_at`` descending. A bad direction or key raises :class:`FilterError`.

    Usage: ``compile_sort({"latency": "asc"}).sql == "r.latency_ms ASC"``
    """
    if sort is None:
        return Compiled("r.created_at DESC", ())
    if not isinstance(sort, Mapping):
        raise FilterError(path, f"expected an object, got {describe(sort)}")
    if sort.get("random"):
        return Compiled("random()", ())
    for key, column in _SORT_COLUMNS.items():
        if sort.get(key):
            return Compiled(f"{column} {_direction(sort[key], f'{path}.{key}')}", ())
    properties = sort.get("properties")
    if isinstance(properties, Mapping) and properties:
        key, direction = next(iter(properties.items()))
        key = str(key)
        order = _direction(direction, f"{path}.properties.{key}")
        if not _PROPERTY_SORT_KEY.match(key):
            raise FilterError(
                f"{path}.properties", f"invalid property key {describe(key)} (letters, digits, _)"
            )
        return Compiled(f"{PROPERTY_VALUE} {order}", (key,))
    return Compiled("r.created_at DESC", ())
