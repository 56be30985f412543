"""Compile Helicone's FilterNode AST (HELICONE.md §5) to parameterised SQLite.

Pure functions, no database access. The grammar and its quirks follow Helicone's
``packages/filters/filters.ts``:

* ``"all"`` and ``{}`` are true; a node with a ``left`` key is a binary branch whose
  ``operator`` must be ``"and"`` or ``"or"``;
* a leaf may name several tables, which are ANDed; inside a table object and inside an
  operator object only the **first** key counts;
* ``equals "null"`` is ``IS NULL``, ``not-equals "null"`` is ``IS NOT NULL`` and
  ``equals "__empty__"`` tests for an empty string;
* ``contains`` is a case-insensitive substring match, ``like`` is case-sensitive and
  ``ilike`` is not (SQLite's own LIKE is neither, so we call the registered
  :func:`sql_like` / :func:`sql_ilike` functions);
* missing map entries read as ``''`` (properties) or ``0`` (feedback score), as a
  ClickHouse ``Map`` lookup does.

Safety: column SQL comes only from the whitelists below; every value and every map key
is bound as a ``?`` parameter. Input strings never reach the SQL text.

Errors are :class:`FilterError`, whose message starts with the path of the bad node,
e.g. ``filter.left.request_response_rmt.latency: expected a number, got 'abc'``.

Modules: :mod:`.values` (value checks, timestamps, LIKE matching), :mod:`.filters` (the
FilterNode compiler and its column tables) and :mod:`.sort` (sort objects); every name
is re-exported here.
"""

from __future__ import annotations

from .filters import (
    REQUEST_COLUMNS,
    SESSION_COLUMNS,
    Column,
    Compiled,
    Mode,
    compile_filter,
    filter_list_to_tree,
)
from .sort import compile_sort
from .values import FilterError, Kind, like_to_regex, parse_timestamp_ms, sql_ilike, sql_like

__all__ = [
    "REQUEST_COLUMNS",
    "SESSION_COLUMNS",
    "Column",
    "Compiled",
    "FilterError",
    "Kind",
    "Mode",
    "compile_filter",
    "compile_sort",
    "filter_list_to_tree",
    "like_to_regex",
    "parse_timestamp_ms",
    "sql_ilike",
    "sql_like",
]
