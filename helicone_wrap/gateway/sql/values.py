"""Filter values: type checks and coercion, timestamps, and SQL LIKE matching.

Pure functions shared by the filter compiler (:mod:`.filters`) and the sort compiler
(:mod:`.sort`); :func:`sql_like` / :func:`sql_ilike` are registered as SQLite functions
by the store, because SQLite's own LIKE is neither case-sensitive nor Unicode-aware.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from datetime import datetime, timezone

__all__ = [
    "FilterError",
    "Kind",
    "as_number",
    "as_text",
    "coerce",
    "describe",
    "like_to_regex",
    "parse_timestamp_ms",
    "sql_ilike",
    "sql_like",
]

_INT64 = 2**63 - 1


class FilterError(ValueError):
    """A filter that cannot be compiled; ``path`` names the offending node.

    Usage: ``except FilterError as e: print(e.path, e.message)``
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class Kind(enum.Enum):
    """The value type of a filterable column; it decides how filter values are coerced.

    Usage: ``REQUEST_COLUMNS["latency"].kind is Kind.NUMBER``
    """

    TEXT = "text"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    BOOL = "bool"


def parse_timestamp_ms(value: object) -> int | None:
    """Milliseconds since the epoch from an ISO-8601 string or a number of ms, else None.

    Naive timestamps are taken as UTC, as tsoa's ``Date`` conversion does.

    Usage: ``parse_timestamp_ms("1970-01-01T00:00:01Z") == 1000``
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) > 8.64e15:
            return None
        return int(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def describe(value: object) -> str:
    """A short ``repr`` of a bad value for an error message.

    Usage: ``describe("x" * 100)[-3:] == "..."``
    """
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_number(value: object, path: str) -> int | float:
    """``value`` as a number (bools count as 0/1), else :class:`FilterError` at ``path``.

    Usage: ``as_number(3, "filter.latency.gte") == 3``
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if abs(value) <= _INT64 else float(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise FilterError(path, "expected a number, got NaN")
        return value
    raise FilterError(path, f"expected a number, got {describe(value)}")


def as_text(value: object, path: str) -> str:
    """``value`` if it is a string, else :class:`FilterError` at ``path``.

    Usage: ``as_text("gpt-4o", "filter.model.equals")``
    """
    if isinstance(value, str):
        return value
    raise FilterError(path, f"expected a string, got {describe(value)}")


def coerce(kind: Kind, value: object, path: str) -> object:
    """``value`` converted for a column of ``kind`` (timestamps to epoch ms, bools to 0/1).

    Usage: ``coerce(Kind.TIMESTAMP, "1970-01-01T00:00:01Z", "filter.x.gte") == 1000``
    """
    if kind is Kind.TEXT:
        return as_text(value, path)
    if kind is Kind.NUMBER:
        return as_number(value, path)
    if kind is Kind.TIMESTAMP:
        ms = parse_timestamp_ms(value)
        if ms is None:
            raise FilterError(path, f"expected an ISO-8601 timestamp, got {describe(value)}")
        return ms
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise FilterError(path, f"expected a boolean, got {describe(value)}")


# ------------------------------------------------------------------ like / ilike


@functools.lru_cache(maxsize=1024)
def like_to_regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    """A compiled regex equivalent to a SQL LIKE pattern (``%``, ``_``, ``\\`` escapes).

    Usage: ``like_to_regex("a%", True).fullmatch("abc") is not None``
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
        i += 1
    flags = re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE
    return re.compile("".join(out), flags)


def sql_like(value: object, pattern: object) -> int | None:
    """SQLite function ``hw_like(value, pattern)``: case-sensitive LIKE.

    Usage: ``conn.create_function("hw_like", 2, sql_like, deterministic=True)``
    """
    if value is None or pattern is None:
        return None
    return int(like_to_regex(str(pattern), True).fullmatch(str(value)) is not None)


def sql_ilike(value: object, pattern: object) -> int | None:
    """SQLite function ``hw_ilike(value, pattern)``: case-insensitive LIKE.

    Usage: ``conn.create_function("hw_ilike", 2, sql_ilike, deterministic=True)``
    """
    if value is None or pattern is None:
        return None
    return int(like_to_regex(str(pattern), False).fullmatch(str(value)) is not None)
