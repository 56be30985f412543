"""Terminal rendering (rich) for sessions and requests: a table of sessions, a session tree, a request.

Used by ``helicone-wrap sessions``, ``session ID``, ``request ID`` and ``helicone-wrap demo``.
``rich`` comes with the ``gateway`` extra, so it is imported only here. Everything fits 80
columns without cutting names or costs: ids are shortened to 8 characters unless ``wide``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .bodies import answer_of, prompt_of
from .rows import RequestRow, SessionRow
from .sessiontree import SessionNode, SessionTree

__all__ = ["fmt_ms", "fmt_time", "plural", "request_detail", "score_items", "session_tree", "sessions_table"]

_RESERVED = ("helicone-session-", "helicone-prompt-")
_BOOL_SUFFIX = "-hcone-bool"
_FEEDBACK = "helicone-score-feedback"
#: Characters of an id shown when the terminal is narrow (enough to tell sessions apart).
SHORT_ID = 8


def plural(count: int, word: str) -> str:
    """``1 request``, ``2 requests``. Usage: ``plural(len(rows), "session")``"""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def fmt_ms(value: float | None) -> str:
    """Milliseconds as a person reads them: ``0.42 ms``, ``12.3 ms``, ``1,204 ms``; ``-`` when unknown."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.2f} ms"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def fmt_time(when: datetime | None, seconds: bool = True) -> str:
    """Local time, ISO-like with year and zone: ``2025-01-12 14:02:11 CET``; ``-`` when unknown."""
    if when is None:
        return "-"
    local = when.astimezone()
    zone = local.strftime("%Z") or local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {zone}"


def _short(identifier: str, wide: bool) -> str:
    return identifier if wide else identifier[:SHORT_ID]


def score_items(scores: Mapping[str, int]) -> dict[str, object]:
    """Scores as they were given: ``on_topic-hcone-bool: 1`` becomes ``on_topic: True``; no feedback.

    Usage: ``score_items(row.scores) == {"quality": 8, "on_topic": True}``
    """
    shown: dict[str, object] = {}
    for key, value in scores.items():
        if key == _FEEDBACK:
            continue
        if key.endswith(_BOOL_SUFFIX):
            shown[key[: -len(_BOOL_SUFFIX)]] = bool(value)
        else:
            shown[key] = value
    return shown


def _score_text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _user_properties(row: RequestRow) -> dict[str, str | None]:
    return {k: row.property(k) for k in row.properties if not k.lower().startswith(_RESERVED)}


def sessions_table(rows: Sequence[SessionRow], title: str | None = None, *, wide: bool = False) -> Table:
    """A table of sessions, newest first; ``wide`` shows full ids and seconds.

    Usage: ``console.print(sessions_table(rows, wide=console.width >= 120))``
    """
    table = Table(title=title or plural(len(rows), "session"), title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("started", no_wrap=True)
    table.add_column("name", overflow="fold", min_width=8)
    table.add_column("session id" if wide else "id", no_wrap=True)
    table.add_column("requests" if wide else "reqs", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("avg latency" if wide else "latency", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            fmt_time(row.created_at, seconds=wide),
            row.session_name or "-",
            _short(row.session_id, wide),
            f"{row.total_requests or 0:,}",
            f"{row.total_tokens or 0:,}",
            fmt_ms(row.avg_latency),
            f"${row.total_cost or 0:.6f}",
        )
    return table


def _request_line(row: RequestRow) -> Text:
    line = Text()
    line.append(row.model or "?", style="cyan")
    line.append(f"  {fmt_ms(row.delay_ms)}")
    if row.time_to_first_token is not None:
        line.append(f" (first token {fmt_ms(row.time_to_first_token)})", style="dim")
    line.append(f"  {row.prompt_tokens or 0}+{row.completion_tokens or 0} tokens")
    if row.response_status is not None and row.response_status >= 400:
        line.append(f"  HTTP {row.response_status}", style="bold red")
    if row.cache_reference_id is not None:
        line.append("  cached", style="green")
    if row.request_user_id:
        line.append(f"  user {row.request_user_id}", style="blue")
    if row.feedback is not None:
        line.append("  feedback: ")
        line.append("👍" if row.feedback else "👎", style="green" if row.feedback else "red")
    scores = score_items(row.scores)
    if scores:
        line.append("  scores: " + ", ".join(f"{k}={_score_text(v)}" for k, v in sorted(scores.items())),
                    style="magenta")
    props = _user_properties(row)
    if props:
        line.append("  " + ", ".join(f"{k}={v}" for k, v in sorted(props.items())), style="yellow")
    line.append(f"  {row.request_id}", style="dim")  # what `helicone-wrap request ID` takes
    return line


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _sibling_order(children: Sequence[SessionNode]) -> list[SessionNode]:
    """Siblings in time order, except numbered ones (``chapter-1..3``) kept together in number order."""
    first: dict[str, int] = {}
    for index, child in enumerate(children):
        match = _NUMBERED.match(child.name)
        first.setdefault(match.group(1) if match else child.name, index)

    def key(pair: tuple[int, SessionNode]) -> tuple[int, int, int]:
        index, child = pair
        match = _NUMBERED.match(child.name)
        stem = match.group(1) if match else child.name
        return (first[stem], int(match.group(2)) if match else 0, index)

    return [child for _, child in sorted(enumerate(children), key=key)]


def _add(branch: Tree, node: SessionNode) -> None:
    for request in node.requests:
        branch.add(_request_line(request))
    for child in _sibling_order(node.children):
        total = sum(r.delay_ms or 0 for r in child.all_requests)
        label = Text(child.name, style="bold")
        label.append(f"  {plural(len(child.all_requests), 'request')}, {fmt_ms(total)}", style="dim")
        _add(branch.add(label), child)


def session_tree(tree: SessionTree) -> Tree:
    """One session as a rich tree: a node per path segment, a line per request.

    Each request line shows model, latency, tokens, user, feedback, scores, properties and its
    full id (lines wrap; nothing is cut). Usage: ``console.print(session_tree(api.sessions.tree(sid)))``
    """
    requests = tree.requests
    label = Text(tree.session_name or "(unnamed session)", style="bold green")
    label.append(f"  {tree.session_id}", style="dim")
    label.append(
        f"  {plural(len(requests), 'request')}, {sum(r.total_tokens or 0 for r in requests):,} tokens, "
        f"${sum(r.cost or 0 for r in requests):.6f}"
    )
    if tree.truncated:
        label.append("  (truncated)", style="red")
    root = Tree(label)
    _add(root, tree.root)
    return root


def request_detail(row: RequestRow) -> RenderableType:
    """One request for a person: what was asked and answered, and what was recorded about it.

    Usage: ``console.print(request_detail(api.requests.get(rid, include_body=True)))``
    """
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("request", row.request_id)
    facts.add_row("time", fmt_time(row.request_created_at))
    facts.add_row("model", row.model or "-")
    facts.add_row("status", str(row.response_status) if row.response_status is not None else "-")
    first = f" (first token {fmt_ms(row.time_to_first_token)})" if row.time_to_first_token is not None else ""
    facts.add_row("latency", fmt_ms(row.delay_ms) + first)
    facts.add_row("tokens", f"{row.prompt_tokens or 0} prompt + {row.completion_tokens or 0} completion")
    facts.add_row("cost", f"${row.cost or 0:.6f}")
    facts.add_row("user", row.request_user_id or "-")
    if row.session_id:
        facts.add_row("session", f"{row.session_name or '-'}  {row.session_path or '/'}  {row.session_id}")
    props = _user_properties(row)
    facts.add_row("properties", ", ".join(f"{k}={v}" for k, v in sorted(props.items())) or "-")
    feedback = "-" if row.feedback is None else ("👍 positive" if row.feedback else "👎 negative")
    facts.add_row("feedback", feedback)
    scores = score_items(row.scores)
    facts.add_row("scores", ", ".join(f"{k}={_score_text(v)}" for k, v in sorted(scores.items())) or "-")
    parts: list[RenderableType] = [facts]
    for heading, text in (("prompt", prompt_of(row.request_body)), ("answer", answer_of(row.response_body))):
        parts.append(Text(f"\n{heading}", style="bold underline"))
        parts.append(Text(text if text is not None else "(not logged)"))
    return Group(*parts)
