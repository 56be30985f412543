"""Pure value formatters, registered as Jinja filters by :mod:`.routes`.

Usage: ``when(0) == "1970-01-01 00:00:00.000"``, ``duration(1534) == "1.53 s"``, ``usd(0.00012) == "$0.000120"``
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

__all__ = ["FILTERS", "duration", "number", "path_quote", "query", "usd", "when"]


def when(ms: float | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS.mmm`` in UTC ('' for None).

    Usage: ``when(1_700_000_000_000) == "2023-11-14 22:13:20.000"``
    """
    if ms is None:
        return ""
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"


def duration(ms: float | None) -> str:
    """Milliseconds for people: ``0.4 ms``, ``12 ms``, ``1.53 s``, ``2 min 5 s`` ('–' for None).

    Usage: ``duration(12) == "12 ms"``
    """
    if ms is None:
        return "–"
    value = float(ms)
    if value < 10 and value != int(value):
        return f"{value:.1f} ms"
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.2f} s"
    minutes, seconds = divmod(int(value // 1000), 60)
    return f"{minutes} min {seconds} s"


def usd(cost: float | None) -> str:
    """A cost in dollars, with enough digits for the fractions of a cent LLM calls cost.

    Usage: ``usd(1.5) == "$1.50"``
    """
    value = float(cost or 0)
    if value == 0:
        return "$0"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.6f}"


def number(value: float | None) -> str:
    """An integer with thousands separators.

    Usage: ``number(12345) == "12,345"``
    """
    return f"{int(value or 0):,}"


def path_quote(value: object) -> str:
    """A value percent-encoded for one URL path segment (``/`` included).

    Usage: ``path_quote("a/b c") == "a%2Fb%20c"``
    """
    return quote(str(value), safe="")


def query(params: dict[str, object]) -> str:
    """A ``?a=1&b=2`` query string of the non-empty ``params`` ('' when none).

    Usage: ``query({"model": "gpt-4o", "page": 2}) == "?model=gpt-4o&page=2"``
    """
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


#: The Jinja filters the templates use.
FILTERS = {
    "when": when,
    "duration": duration,
    "usd": usd,
    "number": number,
    "pq": path_quote,
}
