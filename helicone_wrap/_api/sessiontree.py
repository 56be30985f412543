"""Pure: a session's request rows -> the path tree Helicone's UI draws.

Helicone has no session-tree endpoint; its web UI builds the tree client-side from each
request's ``Helicone-Session-Path`` property (``web/lib/sessions/``). We do the same:

- an absent or empty path is ``/`` (the root);
- a path without a leading ``/`` gets one (``a/b`` is ``/a/b``);
- the path is split on ``/`` into one node per segment; empty segments (``/a//b/``) are
  skipped, so ``/a//b/`` lands on ``/a/b``;
- each node lists its own requests in time order; children are ordered by their first request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .rows import RequestRow

__all__ = ["SessionNode", "SessionTree", "build_tree", "split_path"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def split_path(path: str | None) -> tuple[str, ...]:
    """The segments of a session path: ``split_path("a//b/") == ("a", "b")``; ``None`` -> ``()``."""
    if not path:
        return ()
    return tuple(segment for segment in path.split("/") if segment)


@dataclass(frozen=True)
class SessionNode:
    """One path segment of a session: its requests and its child segments.

    Usage: ``for node in tree.root.walk(): print(node.path, len(node.requests))``
    """

    name: str
    path: str
    requests: tuple[RequestRow, ...] = ()
    children: tuple[SessionNode, ...] = ()

    def walk(self) -> Iterator[SessionNode]:
        """This node, then every descendant, depth first in display order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, path: str) -> SessionNode | None:
        """The node at ``path`` (same normalisation as the tree), or None."""
        node: SessionNode | None = self
        for segment in split_path(path):
            node = next((c for c in node.children if c.name == segment), None) if node else None
        return node

    @property
    def all_requests(self) -> tuple[RequestRow, ...]:
        """Requests of this node and all descendants, in time order."""
        return tuple(sorted((r for n in self.walk() for r in n.requests), key=_when))


@dataclass(frozen=True)
class SessionTree:
    """A session rebuilt as a tree, as returned by ``HeliconeAPI().sessions.tree(session_id)``.

    Usage: ``print(api.sessions.tree(sid).render())``
    """

    session_id: str
    session_name: str | None
    root: SessionNode
    truncated: bool = field(default=False)

    @property
    def requests(self) -> tuple[RequestRow, ...]:
        """Every request of the session, in time order."""
        return self.root.all_requests

    def render(self) -> str:
        """A plain-text drawing: one line per node with its request count."""
        title = self.session_name or self.session_id
        lines = [f"{title} ({len(self.requests)} requests)"]

        def draw(node: SessionNode, prefix: str) -> None:
            for index, child in enumerate(node.children):
                last = index == len(node.children) - 1
                count = len(child.requests)
                lines.append(f"{prefix}{'└── ' if last else '├── '}{child.name} ({count})")
                draw(child, prefix + ("    " if last else "│   "))

        draw(self.root, "")
        return "\n".join(lines)


def _when(row: RequestRow) -> tuple[datetime, str]:
    return (row.request_created_at or _EPOCH, row.request_id)


class _Builder:
    __slots__ = ("children", "name", "path", "requests")

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        self.requests: list[RequestRow] = []
        self.children: dict[str, _Builder] = {}

    def first(self) -> tuple[datetime, str]:
        own = [_when(r) for r in self.requests]
        kids = [c.first() for c in self.children.values()]
        return min(own + kids, default=(_EPOCH, ""))

    def freeze(self) -> SessionNode:
        kids = sorted(self.children.values(), key=lambda c: c.first())
        return SessionNode(
            name=self.name,
            path=self.path,
            requests=tuple(sorted(self.requests, key=_when)),
            children=tuple(k.freeze() for k in kids),
        )


def build_tree(rows: Iterable[RequestRow], session_id: str = "", *, truncated: bool = False) -> SessionTree:
    """Group ``rows`` by session path into a :class:`SessionTree` (see the module docstring).

    Duplicate rows (same ``request_id``) are kept once. Usage: ``build_tree(rows, "3f0c...")``
    """
    root = _Builder("", "/")
    names: list[str] = []
    seen: set[str] = set()
    for row in sorted(rows, key=_when):
        if row.request_id in seen:
            continue
        seen.add(row.request_id)
        node = root
        for segment in split_path(row.session_path):
            child = node.children.get(segment)
            if child is None:
                child = node.children[segment] = _Builder(segment, f"{node.path.rstrip('/')}/{segment}")
            node = child
        node.requests.append(row)
        if row.session_name and row.session_name not in names:
            names.append(row.session_name)
    return SessionTree(session_id, names[0] if names else None, root.freeze(), truncated)
