"""The FilterNode compiler: Helicone's filter AST to a parameterised SQLite expression.

Column SQL comes only from the whitelists :data:`REQUEST_COLUMNS` and
:data:`SESSION_COLUMNS`; every value and map key is bound as a ``?`` parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .values import FilterError, Kind, as_text, coerce, describe

__all__ = [
    "PROPERTY_VALUE",
    "REQUEST_COLUMNS",
    "SESSION_COLUMNS",
    "Column",
    "Compiled",
    "Mode",
    "compile_filter",
    "filter_list_to_tree",
]


#: ``requests``: query-clickhouse / count (request leaves only);
#: ``session_where``: session endpoints, request leaves filter rows, session leaves are true;
#: ``session_having``: session endpoints, session leaves filter groups, request leaves are true.
Mode = Literal["requests", "session_where", "session_having"]

_MAX_DEPTH = 64
_MAX_CONDITIONS = 500
_INT64 = 2**63 - 1


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

PROPERTY_VALUE = "COALESCE((SELECT value FROM json_each(r.properties) WHERE key = ?), '')"
_FEEDBACK_VALUE = "COALESCE((SELECT value FROM json_each(r.scores) WHERE key = ?), 0)"

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
            raise FilterError(path, f'expected "all", a leaf object or a branch object, got {describe(node)}')
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
                f"{path}.operator", f'branch operator must be "and" or "or", got {describe(operator)}'
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
            raise FilterError(path, f"expected an object with one column filter, got {describe(spec)}")
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
                return self.compare(PROPERTY_VALUE, Kind.TEXT, inner, key_path, prefix=[key])
            if column == "search_properties":
                return self.compare("j.key", Kind.TEXT, inner, key_path, exists="r.properties")
            return self.compare("j.value", Kind.NUMBER, inner, key_path, exists="r.scores", exists_key=key)
        if column == "property_key":
            operator, value = self._single_entry(condition, path, "an operator")
            if operator != "equals":
                raise FilterError(f"{path}.{operator}", "property_key only supports 'equals'")
            self.params.append(as_text(value, f"{path}.{operator}"))
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
            raise FilterError(path, f"expected an object with {what}, got {describe(condition)}")
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
            params.append(coerce(kind, value, op_path))
            target = f"COALESCE({expr}, '')" if kind is Kind.TEXT else expr
            sql = f"{target} {_COMPARE[operator]} ?"
        elif operator in _TEXT_ONLY:
            if kind is not Kind.TEXT:
                raise FilterError(op_path, f"operator {operator!r} needs a text column")
            params.append(as_text(value, op_path))
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
