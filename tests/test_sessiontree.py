"""Rebuilding a session's path tree from its request rows, the way Helicone's UI does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from helicone_wrap._api.rows import RequestRow
from helicone_wrap._api.sessiontree import build_tree, split_path

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


def row(n: int, path: str | None, *, name: str | None = "Course Plan", at: int | None = None) -> RequestRow:
    props = {"Helicone-Session-Id": "s1"}
    if path is not None:
        props["Helicone-Session-Path"] = path
    if name is not None:
        props["Helicone-Session-Name"] = name
    return RequestRow(f"r{n}", request_created_at=T0 + timedelta(seconds=n if at is None else at), properties=props)


@pytest.mark.parametrize(
    ("path", "segments"),
    [(None, ()), ("", ()), ("/", ()), ("/a", ("a",)), ("a/b", ("a", "b")), ("/a//b/", ("a", "b"))],
)
def test_split_path(path: str | None, segments: tuple[str, ...]) -> None:
    """Absent and "/" are the root; a missing leading "/" is fine; empty segments are skipped."""
    assert split_path(path) == segments


def test_requests_are_grouped_by_path_segment() -> None:
    """Each segment is a node holding its own requests; children hang under their parent."""
    tree = build_tree([row(1, "/abstract"), row(2, "/outline"), row(3, "/outline/chapter-1"), row(4, None)], "s1")
    root = tree.root
    assert [r.request_id for r in root.requests] == ["r4"]
    assert [(c.name, c.path) for c in root.children] == [("abstract", "/abstract"), ("outline", "/outline")]
    outline = root.find("/outline")
    assert outline is not None and [r.request_id for r in outline.requests] == ["r2"]
    assert [(c.name, c.path) for c in outline.children] == [("chapter-1", "/outline/chapter-1")]


def test_missing_leading_slash_is_prepended() -> None:
    """"outline/x" lands on the same node as "/outline/x"."""
    tree = build_tree([row(1, "outline/x"), row(2, "/outline/x")])
    node = tree.root.find("outline/x")
    assert node is not None and node.path == "/outline/x"
    assert [r.request_id for r in node.requests] == ["r1", "r2"]


def test_requests_and_children_are_in_time_order() -> None:
    """Requests sort by creation time; children by their first request."""
    tree = build_tree([row(1, "/b", at=5), row(2, "/a", at=9), row(3, "/b", at=1)])
    assert [c.name for c in tree.root.children] == ["b", "a"]
    assert [r.request_id for r in tree.root.children[0].requests] == ["r3", "r1"]
    assert [r.request_id for r in tree.requests] == ["r3", "r1", "r2"]


def test_duplicates_are_kept_once_and_name_is_taken_from_rows() -> None:
    """A request seen twice (pagination overlap) appears once; the session name comes from the rows."""
    tree = build_tree([row(1, "/a"), row(1, "/a"), row(2, "/a", name=None)], "s1")
    assert len(tree.requests) == 2
    assert (tree.session_id, tree.session_name) == ("s1", "Course Plan")


def test_encoded_paths_and_names_are_decoded() -> None:
    """Header-encoded (utf-8'') paths and names are shown decoded, as the user wrote them."""
    r = RequestRow(
        "r1",
        properties={"Helicone-Session-Path": "utf-8''/caf%C3%A9/x", "Helicone-Session-Name": "utf-8''Caf%C3%A9"},
    )
    tree = build_tree([r])
    assert tree.root.find("/café/x") is not None
    assert tree.session_name == "Café"


def test_render_draws_the_tree() -> None:
    """render() gives a readable drawing with request counts."""
    tree = build_tree([row(1, "/abstract"), row(2, "/outline"), row(3, "/outline/chapter-1")], "s1")
    assert tree.render() == "\n".join(
        [
            "Course Plan (3 requests)",
            "├── abstract (1)",
            "└── outline (1)",
            "    └── chapter-1 (1)",
        ]
    )


def test_empty_session() -> None:
    """No rows make an empty root and no name."""
    tree = build_tree([], "s9")
    assert tree.root.requests == () and tree.root.children == ()
    assert tree.session_name is None and tree.render() == "s9 (0 requests)"
    assert tree.root.find("/nope") is None
