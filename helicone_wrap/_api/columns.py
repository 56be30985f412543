"""Filterable columns and the ``F`` builder: what each column compares with, and the leaf it makes.

The column catalogs follow Helicone's ``packages/filters/filterDefs.ts``: ``request_response_rmt``
per request, ``sessions_request_response_rmt`` per session. Comparing a :class:`Column` checks the
operator and the value against the column's kind and returns a :class:`~.filtertree.Leaf` (or, for
text helicone_wrap may have stored encoded, a branch over both forms).
"""

from __future__ import annotations

from datetime import datetime, timezone

from .. import _headers
from .._exceptions import HeliconeValidationError
from .filtertree import Branch, Filter, Leaf

REQUESTS_TABLE = "request_response_rmt"
SESSIONS_TABLE = "sessions_request_response_rmt"
FEEDBACK_SCORE = "helicone-score-feedback"
BOOL_SCORE_SUFFIX = "-hcone-bool"

TEXT_OPS = ("equals", "not-equals", "like", "ilike", "contains", "not-contains")
NUMBER_OPS = ("equals", "not-equals", "gte", "gt", "lte", "lt")
TIME_OPS = ("gte", "gt", "lte", "lt")
BOOL_OPS = ("equals",)

_KIND_OPS = {"text": TEXT_OPS, "number": NUMBER_OPS, "time": TIME_OPS, "bool": BOOL_OPS, "feedback": ("equals", "not-equals")}

# Columns of request_response_rmt (packages/filters/filterDefs.ts), by kind.
REQUEST_COLUMNS: dict[str, str] = {
    **dict.fromkeys(
        (
            "country_code", "provider", "model", "user_id", "organization_id", "node_id", "job_id",
            "request_id", "target_url", "request_body", "response_body", "cache_reference_id",
            "assets", "prompt_id", "prompt_version", "request_referrer", "scores_column",
        ),
        "text",
    ),
    **dict.fromkeys(
        (
            "latency", "cost", "time_to_first_token", "status", "prompt_tokens", "completion_tokens",
            "prompt_cache_read_tokens", "prompt_cache_write_tokens", "total_tokens",
        ),
        "number",
    ),
    "request_created_at": "time",
    "response_created_at": "time",
    **dict.fromkeys(("threat", "cache_enabled", "cached", "is_passthrough_billing"), "bool"),
}  # fmt: skip

# Columns of sessions_request_response_rmt, evaluated per session (HAVING).
SESSION_COLUMNS: dict[str, str] = {
    "session_session_id": "text",
    "session_session_name": "text",
    "session_tag": "text",
    "session_total_cost": "number",
    "session_total_tokens": "number",
    "session_prompt_tokens": "number",
    "session_completion_tokens": "number",
    "session_total_requests": "number",
    "session_created_at": "time",
    "session_latest_request_created_at": "time",
}

# Text columns whose values helicone_wrap sends in headers (and so may be stored encoded).
_HEADER_COLUMNS = frozenset({"user_id"})


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time, as everywhere in Python
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Column:
    """One filterable column; compare it to make a :class:`Filter`.

    Usage: ``F.latency >= 100``, ``F.model.contains("gpt")``, ``F.user_id != "bot"``
    """

    __slots__ = ("encoded", "key", "kind", "name", "table")

    def __init__(self, table: str, name: str, kind: str, key: str | None = None, *, encoded: bool = False) -> None:
        self.table = table
        self.name = name
        self.kind = kind
        self.key = key
        self.encoded = encoded

    def __repr__(self) -> str:
        key = f"[{self.key!r}]" if self.key is not None else ""
        return f"<Column {self.table}.{self.name}{key} ({self.kind})>"

    def _label(self) -> str:
        return f"{self.name}[{self.key!r}]" if self.key is not None else self.name

    def _leaf(self, op: str, value: object) -> Filter:
        if op not in _KIND_OPS[self.kind]:
            allowed = ", ".join(_KIND_OPS[self.kind])
            raise HeliconeValidationError(
                f"{self._label()} is a {self.kind} column; it supports {allowed}, not {op!r}."
            )
        key = self.key
        if value is None and op in ("equals", "not-equals"):
            return Leaf(self.table, self.name, op, "null", key)
        if self.kind == "number":
            if isinstance(value, bool) and self.name == "scores" and key is not None:
                return Leaf(self.table, self.name, op, int(value), key + BOOL_SCORE_SUFFIX)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HeliconeValidationError(f"{self._label()} compares with a number, got {value!r}.")
            return Leaf(self.table, self.name, op, value, key)
        if self.kind == "time":
            if isinstance(value, datetime):
                return Leaf(self.table, self.name, op, _iso(value), key)
            if isinstance(value, str):
                return Leaf(self.table, self.name, op, value, key)
            raise HeliconeValidationError(
                f"{self._label()} compares with a datetime or an ISO-8601 string, got {value!r}."
            )
        if self.kind in ("bool", "feedback"):
            if not isinstance(value, bool):
                raise HeliconeValidationError(f"{self._label()} compares with True or False, got {value!r}.")
            return Leaf(self.table, self.name, op, int(value) if self.kind == "feedback" else value, key)
        if not isinstance(value, str):
            raise HeliconeValidationError(
                f"{self._label()} compares with a str, got {type(value).__name__} {value!r}; convert it with str()."
            )
        leaf = Leaf(self.table, self.name, op, value, key)
        encoded = _encoded_form(value, op) if self.encoded else None
        if encoded is None:
            return leaf
        other = Leaf(self.table, self.name, op, encoded, key)
        return Branch(leaf, "and" if op.startswith("not-") else "or", other)

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        return self._leaf("equals", value)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return self._leaf("not-equals", value)

    def __ge__(self, value: object) -> Filter:
        return self._leaf("gte", value)

    def __gt__(self, value: object) -> Filter:
        return self._leaf("gt", value)

    def __le__(self, value: object) -> Filter:
        return self._leaf("lte", value)

    def __lt__(self, value: object) -> Filter:
        return self._leaf("lt", value)

    __hash__ = None  # type: ignore[assignment]

    def like(self, pattern: str) -> Filter:
        """SQL ``LIKE`` (case-sensitive); you supply the ``%`` wildcards: ``F.model.like("gpt-4%")``."""
        return self._leaf("like", pattern)

    def ilike(self, pattern: str) -> Filter:
        """SQL ``ILIKE`` (case-insensitive); you supply the ``%`` wildcards."""
        return self._leaf("ilike", pattern)

    def contains(self, text: str) -> Filter:
        """Case-insensitive substring match: ``F.model.contains("mini")``."""
        return self._leaf("contains", text)

    def not_contains(self, text: str) -> Filter:
        """Case-insensitive substring absence: ``F.model.not_contains("preview")``."""
        return self._leaf("not-contains", text)


def _encoded_form(value: str, op: str) -> str | None:
    """The value as helicone_wrap stores it, when that differs from ``value`` (else None).

    ``==``/``!=`` compare with the whole stored form (:func:`~helicone_wrap._headers.stored_value`),
    ``contains``/``not_contains`` look for the escaped text inside it; ``like``/``ilike`` patterns
    are the caller's own and are sent as given.
    """
    if op in ("equals", "not-equals"):
        wire = _headers.stored_value(value)
    elif op in ("contains", "not-contains") and not _headers.has_control(value):
        wire = _headers.encoded_fragment(value)
    else:
        return None
    return wire if wire != value else None


def _property_key(key: str) -> str:
    return _headers.property_key(key)


class _Sessions:
    """Per-session columns (``sessions_request_response_rmt``); for the session endpoints only."""

    def __getattr__(self, name: str) -> Column:
        column = name if name.startswith("session_") else f"session_{name}"
        if column == "session_id":
            column = "session_session_id"
        elif column == "session_name":
            column = "session_session_name"
        kind = SESSION_COLUMNS.get(column)
        if kind is None:
            known = ", ".join(sorted(c.removeprefix("session_") for c in SESSION_COLUMNS))
            raise AttributeError(f"F.session has no column {name!r}; known: {known}")
        return Column(SESSIONS_TABLE, column, kind)

    def __repr__(self) -> str:
        return "F.session"


class _FilterBuilder:
    """The ``F`` object: request columns as attributes, plus properties, scores and feedback.

    Usage: ``(F.latency >= 100) & (F.property("environment") == "prod")``
    """

    session = _Sessions()
    #: Alias of ``request_created_at``.
    created_at = Column(REQUESTS_TABLE, "request_created_at", "time")
    feedback = Column(REQUESTS_TABLE, "scores", "feedback", FEEDBACK_SCORE)
    session_id = Column(REQUESTS_TABLE, "properties", "text", "Helicone-Session-Id", encoded=True)
    session_name = Column(REQUESTS_TABLE, "properties", "text", "Helicone-Session-Name", encoded=True)
    session_path = Column(REQUESTS_TABLE, "properties", "text", "Helicone-Session-Path", encoded=True)

    def __getattr__(self, name: str) -> Column:
        kind = REQUEST_COLUMNS.get(name)
        if kind is None:
            raise AttributeError(
                f"F has no column {name!r}; use F.column(name) for one of: {', '.join(sorted(REQUEST_COLUMNS))}"
            )
        return Column(REQUESTS_TABLE, name, kind, encoded=name in _HEADER_COLUMNS)

    def column(self, name: str) -> Column:
        """Any ``request_response_rmt`` column by name: ``F.column("node_id") == "n1"``."""
        return self.__getattr__(name)

    def property(self, key: str) -> Column:
        """A custom property: ``F.property("environment") == "prod"`` (key lowercased unless ``Helicone-``)."""
        return Column(REQUESTS_TABLE, "properties", "text", _property_key(key), encoded=True)

    def score(self, name: str) -> Column:
        """A score: ``F.score("accuracy") >= 80``; ``F.score("grounded") == True`` for boolean scores."""
        if not isinstance(name, str) or not name:
            raise HeliconeValidationError(f"a score name must be a non-empty str, got {name!r}.")
        return Column(REQUESTS_TABLE, "scores", "number", name)

    def property_key(self, key: str) -> Filter:
        """Requests that have the property ``key`` at all: ``F.property_key("environment")``."""
        return Leaf(REQUESTS_TABLE, "property_key", "equals", _property_key(key))

    def __repr__(self) -> str:
        return "F"


#: The filter builder. Usage: ``(F.latency >= 100) & (F.property("environment") == "prod")``
F = _FilterBuilder()
