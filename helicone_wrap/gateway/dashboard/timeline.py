"""Pure: a session's requests -> the path tree and the waterfall the session page draws.

The tree follows Helicone's UI (and :mod:`helicone_wrap._api.sessiontree`): the
``Helicone-Session-Path`` is split on ``/``, empty segments are skipped, an absent path is
the root. The waterfall places one bar per request by its start offset from the session's
first request and by its latency, both as a percentage of the session's span, so two
calls that ran at the same time have bars that overlap horizontally.

Usage::

    tree = path_tree(items)
    bars, span_ms = waterfall(items)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..._api.sessiontree import split_path
from .records import RequestItem

__all__ = ["Bar", "TreeNode", "path_tree", "ticks", "waterfall"]


@dataclass
class TreeNode:
    """One path segment: its own requests and its children, in order of first request.

    Usage: ``for depth, node in tree.walk(): print("  " * depth, node.name, len(node.requests))``
    """

    name: str
    path: str
    requests: list[RequestItem] = field(default_factory=list)
    children: list[TreeNode] = field(default_factory=list)

    def child(self, name: str) -> TreeNode:
        """The child segment ``name``, created on first use."""
        for node in self.children:
            if node.name == name:
                return node
        node = TreeNode(name, self.path.rstrip("/") + "/" + name)
        self.children.append(node)
        return node

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TreeNode]]:
        """(depth, node) for this node and every descendant, depth first."""
        yield depth, self
        for node in self.children:
            yield from node.walk(depth + 1)

    @property
    def total_requests(self) -> int:
        """Requests of this node and all descendants."""
        return len(self.requests) + sum(node.total_requests for node in self.children)

    @property
    def total_cost(self) -> float:
        """Cost of this node and all descendants."""
        return sum(item.cost for item in self.requests) + sum(node.total_cost for node in self.children)


def path_tree(items: Sequence[RequestItem]) -> TreeNode:
    """The session's path tree; ``items`` in start order.

    Usage: ``path_tree(items).children[0].path == "/outline"``
    """
    root = TreeNode("/", "/")
    for item in items:
        node = root
        for segment in split_path(item.session_path):
            node = node.child(segment)
        node.requests.append(item)
    return root


@dataclass(frozen=True)
class Bar:
    """One waterfall bar: the request and its place as percentages of the session's span.

    Usage: ``f"left:{bar.left:.3f}%;width:{bar.width:.3f}%"``
    """

    item: RequestItem
    left: float
    width: float
    offset_ms: float


def waterfall(items: Sequence[RequestItem]) -> tuple[list[Bar], float]:
    """One bar per request, in start order, and the session's span in milliseconds.

    Usage: ``bars, span = waterfall(items)``
    """
    if not items:
        return [], 0.0
    start = min(item.created_at for item in items)
    end = max(item.ended_at for item in items)
    span = max(end - start, 1.0)
    bars = [
        Bar(
            item=item,
            left=100.0 * (item.created_at - start) / span,
            width=100.0 * item.latency_ms / span,
            offset_ms=float(item.created_at - start),
        )
        for item in sorted(items, key=lambda i: (i.created_at, i.request_id))
    ]
    return bars, span


def ticks(span_ms: float, count: int = 4) -> list[tuple[float, float]]:
    """(percent, milliseconds) marks for the waterfall's time axis, 0 included.

    Usage: ``ticks(1000) == [(0.0, 0.0), (25.0, 250.0), (50.0, 500.0), (75.0, 750.0), (100.0, 1000.0)]``
    """
    return [(100.0 * i / count, span_ms * i / count) for i in range(count + 1)]
