"""The filter tree: leaves (one condition each), binary ``and``/``or`` branches, raw FilterNodes.

Helicone reads only the first key of every object (HELICONE.md §5.2), so a leaf holds exactly one
condition and ``&``/``|`` build a binary branch ``{"left", "operator", "right"}``. The leaves are
made by comparing a column (:mod:`.columns`); the user-facing rules are in :mod:`.filters`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from .._exceptions import HeliconeValidationError

#: What the REST API takes: ``"all"`` or a nested dict (see HELICONE.md §5.1).
FilterNode = str | Mapping[str, Any]


class Filter(ABC):
    """A filter: one leaf condition, a binary branch, or a raw FilterNode.

    Combine with ``&`` / ``|``; compile with :meth:`to_node`.
    Usage: ``api.requests.query(filter=(F.status == 200) & (F.model.contains("gpt")))``
    """

    __slots__ = ()

    @abstractmethod
    def to_node(self) -> FilterNode:
        """The FilterNode dict (or ``"all"``) this filter compiles to."""

    def __and__(self, other: FilterLike) -> Filter:
        return Branch(self, "and", _coerce(other))

    def __rand__(self, other: FilterLike) -> Filter:
        return Branch(_coerce(other), "and", self)

    def __or__(self, other: FilterLike) -> Filter:
        return Branch(self, "or", _coerce(other))

    def __ror__(self, other: FilterLike) -> Filter:
        return Branch(_coerce(other), "or", self)

    def __bool__(self) -> bool:
        raise HeliconeValidationError(
            "a filter has no truth value: combine filters with & and | (not 'and'/'or'/'not'), and write "
            "ranges as two comparisons, e.g. (F.latency >= 100) & (F.latency < 500), not 100 <= F.latency < 500."
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and self.to_node() == other.to_node()

    def __hash__(self) -> int:
        return hash(repr(self.to_node()))

    def __repr__(self) -> str:
        return f"<Filter {self.to_node()!r}>"


class Leaf(Filter):
    """One condition on one column: ``{table: {column: {op: value}}}`` (or a map key inside)."""

    __slots__ = ("column", "key", "op", "table", "value")

    def __init__(self, table: str, column: str, op: str, value: object, key: str | None = None) -> None:
        self.table = table
        self.column = column
        self.op = op
        self.value = value
        self.key = key

    def to_node(self) -> dict[str, Any]:
        condition: dict[str, Any] = {self.op: self.value}
        inner = condition if self.key is None else {self.key: condition}
        return {self.table: {self.column: inner}}


class Branch(Filter):
    """``left AND right`` or ``left OR right``: Helicone's binary branch node."""

    __slots__ = ("left", "operator", "right")

    def __init__(self, left: Filter, operator: str, right: Filter) -> None:
        self.left = left
        self.operator = operator
        self.right = right

    def to_node(self) -> dict[str, Any]:
        return {"left": self.left.to_node(), "operator": self.operator, "right": self.right.to_node()}


class Raw(Filter):
    """A FilterNode written by hand (a dict or ``"all"``), used as is."""

    __slots__ = ("node",)

    def __init__(self, node: FilterNode) -> None:
        self.node = node

    def to_node(self) -> FilterNode:
        return self.node


FilterLike = Filter | Mapping[str, Any] | str | None


def _coerce(value: object) -> Filter:
    if isinstance(value, Filter):
        return value
    if value is None or value == "all":
        return Raw("all")
    if isinstance(value, Mapping):
        return Raw(value)
    raise HeliconeValidationError(
        f"cannot combine a filter with {type(value).__name__} {value!r}; use another filter "
        "(F.status == 200), a FilterNode dict, or 'all'."
    )


def compile_filter(value: FilterLike) -> FilterNode:
    """The FilterNode for ``value``: filters compile, dicts pass through unchanged, ``None`` is ``"all"``.

    Usage: ``compile_filter(F.status == 200)`` -> ``{"request_response_rmt": {"status": {"equals": 200}}}``
    """
    if value is None:
        return "all"
    if isinstance(value, Filter):
        return value.to_node()
    if isinstance(value, Mapping):
        return value
    if value == "all":
        return "all"
    raise HeliconeValidationError(
        f"filter must be built with F (e.g. F.status == 200), be a FilterNode dict or 'all', got {value!r}."
    )


def all_of(*filters: FilterLike) -> Filter:
    """All of ``filters`` (right-nested ``and`` branches, as Helicone's ``filterListToTree``); none is ``"all"``.

    Usage: ``all_of(F.status == 200, F.model == "gpt-4o-mini", F.latency < 500)``
    """
    return _nest([_coerce(f) for f in filters], "and")


def any_of(*filters: FilterLike) -> Filter:
    """Any of ``filters`` (right-nested ``or`` branches); none is ``"all"``.

    Usage: ``any_of(F.model == "gpt-4o", F.model == "gpt-4o-mini")``
    """
    return _nest([_coerce(f) for f in filters], "or")


def _nest(parts: list[Filter], operator: str) -> Filter:
    if not parts:
        return Raw("all")
    node = parts[-1]
    for part in reversed(parts[:-1]):
        node = Branch(part, operator, node)
    return node
