"""Terminal rendering (rich) for sessions: a table of sessions and one session as a tree.

Used by ``helicone-wrap sessions``, ``helicone-wrap session ID`` and ``helicone-wrap demo``.
``rich`` comes with the ``gateway`` extra, so it is imported only here.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .rows import RequestRow, SessionRow
from .sessiontree import SessionNode, SessionTree

_RESERVED = ("helicone-session-", "helicone-prompt-")


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def _fmt_time(row: SessionRow) -> str:
    return row.created_at.astimezone().strftime("%m-%d %H:%M:%S") if row.created_at else "-"


def sessions_table(rows: Sequence[SessionRow]) -> Table:
    """A table of sessions, newest first. Usage: ``console.print(sessions_table(rows))``"""
    table = Table(title=f"{len(rows)} sessions", title_justify="left")
    for header, justify in (("started", "left"), ("name", "left"), ("session id", "left"),
                            ("requests", "right"), ("tokens", "right"), ("avg latency", "right"),
                            ("cost", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    table.columns[2].no_wrap = True  # the id is what `helicone-wrap session ID` takes
    for row in rows:
        table.add_row(
            _fmt_time(row),
            row.session_name or "-",
            row.session_id,
            str(row.total_requests or 0),
            f"{row.total_tokens or 0:,}",
            _fmt_ms(row.avg_latency),
            f"${row.total_cost or 0:.6f}",
        )
    return table


def _request_line(row: RequestRow) -> Text:
    line = Text()
    line.append(row.model or "?", style="cyan")
    line.append(f"  {_fmt_ms(row.delay_ms)}")
    if row.time_to_first_token is not None:
        line.append(f" (first token {_fmt_ms(row.time_to_first_token)})", style="dim")
    line.append(f"  {row.prompt_tokens or 0}+{row.completion_tokens or 0} tokens")
    if row.response_status is not None and row.response_status >= 400:
        line.append(f"  HTTP {row.response_status}", style="bold red")
    if row.feedback is not None:
        line.append("  feedback: ")
        line.append("👍" if row.feedback else "👎", style="green" if row.feedback else "red")
    scores = {k: v for k, v in row.scores.items() if k != "helicone-score-feedback"}
    if scores:
        line.append("  scores: " + ", ".join(f"{k}={v}" for k, v in sorted(scores.items())), style="magenta")
    props = {k: row.property(k) for k in row.properties if not k.lower().startswith(_RESERVED)}
    if props:
        line.append("  " + ", ".join(f"{k}={v}" for k, v in sorted(props.items())), style="yellow")
    line.append(f"  {row.request_id}", style="dim")
    return line


def _add(branch: Tree, node: SessionNode) -> None:
    for request in node.requests:
        branch.add(_request_line(request))
    for child in node.children:
        total = sum(r.delay_ms or 0 for r in child.all_requests)
        label = Text(child.name, style="bold")
        label.append(f"  {len(child.all_requests)} requests, {_fmt_ms(total)}", style="dim")
        _add(branch.add(label), child)


def session_tree(tree: SessionTree) -> Tree:
    """One session as a rich tree: a node per path segment, a line per request.

    Each request line shows model, latency, tokens, feedback, scores and properties.
    Usage: ``console.print(session_tree(api.sessions.tree(session_id)))``
    """
    requests = tree.requests
    label = Text(tree.session_name or "(unnamed session)", style="bold green")
    label.append(f"  {tree.session_id}", style="dim")
    label.append(
        f"  {len(requests)} requests, {sum(r.total_tokens or 0 for r in requests):,} tokens, "
        f"${sum(r.cost or 0 for r in requests):.6f}"
    )
    if tree.truncated:
        label.append("  (truncated)", style="red")
    root = Tree(label)
    _add(root, tree.root)
    return root
