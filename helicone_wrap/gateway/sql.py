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
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

__all__ = [
    "SESSION_COLUMNS",
    "REQUEST_COLUMNS",
    "Compiled",
    "FilterError",
    "Mode",
    "compile_filter",
    "compile_sort",
    "filter_list_to_tree",
    "like_to_regex",
    "parse_timestamp_ms",
    "sql_ilike",
    "sql_like",
]

#: ``requests``: query-clickhouse / count (request leaves only);
#: ``session_where``: session endpoints, request leaves filter rows, session leaves are true;
#: ``session_having``: session endpoints, session leaves filter groups, request leaves are true.
Mode = Literal["requests", "session_where", "session_having"]

_MAX_DEPTH = 64
_MAX_CONDITIONS = 500
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


@dataclass(frozen=True)
class Column:
    """A whitelisted column: its SQL expression and value kind.

    Usage: ``Column("r.latency_ms", Kind.NUMBER)``
    """

    sql: str
    kind: Kind


@dataclass(frozen=True)
class Compiled:
    """SQL text with ``?`` placeholders and the parameters to bind, in order.

    Usage: ``conn.execute(f"SELECT count(*) FROM requests r WHERE {c.sql}", c.params)``
    """

    sql: str
    params: tuple[Any, ...]


_T, _N, _TS, _B = Kind.TEXT, Kind.NUMBER, Kind.TIMESTAMP, Kind.BOOL

#: ``request_response_rmt`` columns (HELICONE.md §5) over our ``requests r`` table. Columns
#: the local gateway has no data for read as ClickHouse defaults ('' / 0 / false).
REQUEST_COLUMNS: dict[str, Column] = {
    "country_code": Column("''", _T),
    "provider": Column("r.provider", _T),
    "model": Column("r.model", _T),
    "user_id": Column("r.user_id", _T),
    "organization_id": Column("''", _T),
    "node_id": Column("''", _T),
    "job_id": Column("''", _T),
    "request_id": Column("r.request_id", _T),
    "target_url": Column("r.target_url", _T),
    "request_body": Column("r.request_body", _T),
    "response_body": Column("r.response_body", _T),
    "cache_reference_id": Column("r.cache_reference_id", _T),
    "assets": Column("''", _T),
    "prompt_id": Column("''", _T),
    "prompt_version": Column("''", _T),
    "request_referrer": Column("''", _T),
    "scores_column": Column("r.scores", _T),
    "latency": Column("r.latency_ms", _N),
    "cost": Column("r.cost", _N),
    "time_to_first_token": Column("r.ttft_ms", _N),
    "status": Column("r.status", _N),
    "prompt_tokens": Column("r.prompt_tokens", _N),
    "completion_tokens": Column("r.completion_tokens", _N),
    "prompt_cache_read_tokens": Column("0", _N),
    "prompt_cache_write_tokens": Column("0", _N),
    "total_tokens": Column("r.total_tokens", _N),
    "request_created_at": Column("r.created_at", _TS),
    "response_created_at": Column("r.response_created_at", _TS),
    "threat": Column("0", _B),
    "cache_enabled": Column("0", _B),
    "cached": Column("(r.cache_reference_id IS NOT NULL)", _B),
    "is_passthrough_billing": Column("0", _B),
}

#: ``sessions_request_response_rmt`` columns over the per-session aggregate ``s``. The
#: unprefixed names are the ones Helicone's public API schema shows.
SESSION_COLUMNS: dict[str, Column] = {
    "session_session_id": Column("s.session_id", _T),
    "session_session_name": Column("s.session_name", _T),
    "session_total_cost": Column("s.total_cost", _N),
    "session_total_tokens": Column("s.total_tokens", _N),
    "session_prompt_tokens": Column("s.prompt_tokens", _N),
    "session_completion_tokens": Column("s.completion_tokens", _N),
    "session_total_requests": Column("s.total_requests", _N),
    "session_created_at": Column("s.created_at", _TS),
    "session_latest_request_created_at": Column("s.latest_request_created_at", _TS),
    "session_tag": Column("''", _T),
    "total_cost": Column("s.total_cost", _N),
    "total_tokens": Column("s.total_tokens", _N),
    "prompt_tokens": Column("s.prompt_tokens", _N),
    "completion_tokens": Column("s.completion_tokens", _N),
    "total_requests": Column("s.total_requests", _N),
    "created_at": Column("s.created_at", _TS),
    "latest_request_created_at": Column("s.latest_request_created_at", _TS),
}

_REQUEST_TABLE = "request_response_rmt"
_SESSION_TABLE = "sessions_request_response_rmt"
_FEEDBACK_SCORE = "helicone-score-feedback"

_COMPARE = {"equals": "=", "not-equals": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
_TEXT_ONLY = ("like", "ilike", "contains", "not-contains")
_INTERNAL = ("gin-contains", "vector-contains", "has")

_PROPERTY_VALUE = "COALESCE((SELECT value FROM json_each(r.properties) WHERE key = ?), '')"
_FEEDBACK_VALUE = "COALESCE((SELECT value FROM json_each(r.scores) WHERE key = ?), 0)"


# ------------------------------------------------------------------- values


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


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: object, path: str) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if abs(value) <= _INT64 else float(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise FilterError(path, "expected a number, got NaN")
        return value
    raise FilterError(path, f"expected a number, got {_describe(value)}")


def _text(value: object, path: str) -> str:
    if isinstance(value, str):
        return value
    raise FilterError(path, f"expected a string, got {_describe(value)}")


def _coerce(kind: Kind, value: object, path: str) -> object:
    if kind is Kind.TEXT:
        return _text(value, path)
    if kind is Kind.NUMBER:
        return _number(value, path)
    if kind is Kind.TIMESTAMP:
        ms = parse_timestamp_ms(value)
        if ms is None:
            raise FilterError(path, f"expected an ISO-8601 timestamp, got {_describe(value)}")
        return ms
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise FilterError(path, f"expected a boolean, got {_describe(value)}")


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


# ------------------------------------------------------------------ compiler


class _Compiler:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.params: list[Any] = []
        self.conditions = 0

    # A node -----------------------------------------------------------------
    def node(self, node: object, path: str, depth: int) -> str:
        if depth > _MAX_DEPTH:
            raise FilterError(path, f"filter is nested more than {_MAX_DEPTH} levels deep")
        if node == "all":
            return "1"
        if not isinstance(node, Mapping):
            raise FilterError(
                path, f'expected "all", a leaf object or a branch object, got {_describe(node)}'
            )
        if "left" in node:
            return self.branch(node, path, depth)
        if not node:
            return "1"
        parts = [self.table(str(table), spec, f"{path}.{table}") for table, spec in node.items()]
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def branch(self, node: Mapping[str, Any], path: str, depth: int) -> str:
        operator = node.get("operator")
        if operator not in ("and", "or"):
            raise FilterError(
                f"{path}.operator", f'branch operator must be "and" or "or", got {_describe(operator)}'
            )
        if "right" not in node:
            raise FilterError(path, 'a branch needs "left", "operator" and "right"')
        left = self.node(node["left"], f"{path}.left", depth + 1)
        right = self.node(node["right"], f"{path}.right", depth + 1)
        return f"({left} {operator.upper()} {right})"

    # A table inside a leaf -------------------------------------------------------
    def table(self, table: str, spec: object, path: str) -> str:
        if table == _REQUEST_TABLE:
            active = self.mode != "session_having"
        elif table == _SESSION_TABLE:
            if self.mode == "requests":
                raise FilterError(path, f"table {table!r} is only supported by the session endpoints")
            active = self.mode == "session_having"
        else:
            hint = " (use request_response_rmt.properties)" if table == "properties" else ""
            raise FilterError(path, f"unsupported filter table {table!r}{hint}; use {_REQUEST_TABLE!r}")
        if not isinstance(spec, Mapping) or not spec:
            raise FilterError(path, f"expected an object with one column filter, got {_describe(spec)}")
        self.conditions += 1
        if self.conditions > _MAX_CONDITIONS:
            raise FilterError(path, f"filter has more than {_MAX_CONDITIONS} conditions")
        column, condition = next(iter(spec.items()))
        column = str(column)
        mark = len(self.params)
        if table == _REQUEST_TABLE:
            sql = self.request_column(column, condition, f"{path}.{column}")
        else:
            sql = self.session_column(column, condition, f"{path}.{column}")
        if not active:
            del self.params[mark:]  # validated, but this pass does not use it
            return "1"
        return sql

    def request_column(self, column: str, condition: object, path: str) -> str:
        if column in ("properties", "search_properties", "scores"):
            key, inner = self._single_entry(condition, path, "a key")
            key_path = f"{path}.{key}"
            if column == "properties":
                return self.compare(_PROPERTY_VALUE, Kind.TEXT, inner, key_path, prefix=[key])
            if column == "search_properties":
                return self.compare("j.key", Kind.TEXT, inner, key_path, exists="r.properties")
            return self.compare("j.value", Kind.NUMBER, inner, key_path, exists="r.scores", exists_key=key)
        if column == "property_key":
            operator, value = self._single_entry(condition, path, "an operator")
            if operator != "equals":
                raise FilterError(f"{path}.{operator}", "property_key only supports 'equals'")
            self.params.append(_text(value, f"{path}.{operator}"))
            return "EXISTS (SELECT 1 FROM json_each(r.properties) WHERE key = ?)"
        if column == _FEEDBACK_SCORE:
            return self.compare(_FEEDBACK_VALUE, Kind.NUMBER, condition, path, prefix=[_FEEDBACK_SCORE])
        spec = REQUEST_COLUMNS.get(column)
        if spec is None:
            raise FilterError(path, f"unknown {_REQUEST_TABLE} column {column!r}")
        return self.compare(spec.sql, spec.kind, condition, path)

    def session_column(self, column: str, condition: object, path: str) -> str:
        spec = SESSION_COLUMNS.get(column)
        if spec is None:
            raise FilterError(path, f"unknown {_SESSION_TABLE} column {column!r}")
        return self.compare(spec.sql, spec.kind, condition, path)

    @staticmethod
    def _single_entry(condition: object, path: str, what: str) -> tuple[str, object]:
        if not isinstance(condition, Mapping) or not condition:
            raise FilterError(path, f"expected an object with {what}, got {_describe(condition)}")
        key, value = next(iter(condition.items()))
        return str(key), value

    # One comparison ------------------------------------------------------------
    def compare(
        self,
        expr: str,
        kind: Kind,
        condition: object,
        path: str,
        *,
        prefix: list[Any] | None = None,
        exists: str | None = None,
        exists_key: str | None = None,
    ) -> str:
        """``expr <op> ?``; ``prefix`` params precede the value (map keys bound in ``expr``).

        With ``exists``, the comparison runs inside ``EXISTS (SELECT 1 FROM json_each(exists) j
        WHERE [j.key = exists_key AND] ...)``.
        """
        operator, value = self._single_entry(condition, path, "an operator")
        op_path = f"{path}.{operator}"
        params: list[Any] = list(prefix or [])
        if operator in _INTERNAL:
            raise FilterError(op_path, f"operator {operator!r} is internal to Helicone and not supported")
        if value == "null" and operator in ("equals", "not-equals"):
            sql = f"{expr} IS {'NOT ' if operator == 'not-equals' else ''}NULL"
        elif value == "__empty__" and operator == "equals":
            sql = f"COALESCE({expr}, '') = ''"
        elif value == "null":
            sql = "0"  # ``col > null`` is NULL in ClickHouse: never true
        elif operator in _COMPARE:
            params.append(_coerce(kind, value, op_path))
            target = f"COALESCE({expr}, '')" if kind is Kind.TEXT else expr
            sql = f"{target} {_COMPARE[operator]} ?"
        elif operator in _TEXT_ONLY:
            if kind is not Kind.TEXT:
                raise FilterError(op_path, f"operator {operator!r} needs a text column")
            params.append(_text(value, op_path))
            target = f"COALESCE({expr}, '')"
            if operator == "like":
                sql = f"hw_like({target}, ?)"
            elif operator == "ilike":
                sql = f"hw_ilike({target}, ?)"
            else:
                negate = "NOT " if operator == "not-contains" else ""
                sql = f"{negate}hw_ilike({target}, '%' || ? || '%')"
        else:
            raise FilterError(op_path, f"unknown operator {operator!r}")
        if exists is not None:
            key_sql = ""
            if exists_key is not None:
                key_sql = "j.key = ? AND "
                params.insert(0, exists_key)
            sql = f"EXISTS (SELECT 1 FROM json_each({exists}) AS j WHERE {key_sql}{sql})"
        self.params.extend(params)
        return sql


def compile_filter(node: object, mode: Mode = "requests", path: str = "filter") -> Compiled:
    """Compile a FilterNode to a SQL boolean expression over ``requests r`` (or sessions ``s``).

    Raises :class:`FilterError` naming the bad node.

    Usage: ``compile_filter({"request_response_rmt": {"latency": {"gte": 100}}})``
    """
    compiler = _Compiler(mode)
    sql = compiler.node(node, path, 0)
    return Compiled(sql, tuple(compiler.params))


def filter_list_to_tree(nodes: list[Any], operator: Literal["and", "or"]) -> Any:
    """Right-nest a list of FilterNodes into binary branches; ``[]`` gives ``"all"``.

    Usage: ``filter_list_to_tree([a, b, c], "and") == {"left": a, "operator": "and", "right": {...}}``
    """
    if not nodes:
        return "all"
    if len(nodes) == 1:
        return nodes[0]
    return {"left": nodes[0], "operator": operator, "right": filter_list_to_tree(nodes[1:], operator)}


# --------------------------------------------------------------------- sorting

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
        raise FilterError(path, f'sort direction must be "asc" or "desc", got {_describe(value)}')
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
        raise FilterError(path, f"expected an object, got {_describe(sort)}")
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
                f"{path}.properties", f"invalid property key {_describe(key)} (letters, digits, _)"
            )
        return Compiled(f"{_PROPERTY_VALUE} {order}", (key,))
    return Compiled("r.created_at DESC", ())
