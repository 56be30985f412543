"""``helicone-wrap outbox``: list, retry or clear the operations waiting in the delivery outbox.

- ``helicone-wrap outbox [--json]``: every pending and failed operation, oldest first (a table that
  fits 80 columns, or one JSON document);
- ``helicone-wrap outbox retry [--timeout S]``: send them now, failed ones included (with a fresh
  retry window), and say how many were delivered, are still pending, or failed;
- ``helicone-wrap outbox clear [--failed]``: delete them (or only the failed ones).

``--path`` picks another file than the per-user default (``configure(outbox=...)``'s default).
Errors are one line on stderr, exit status 1.
Usage: ``helicone-wrap outbox retry --timeout 60``
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``outbox`` and its actions. Usage: ``add_parser(parser.add_subparsers())``"""
    parser = subparsers.add_parser(
        "outbox",
        help="list, retry or clear enrich/feedback/score operations not delivered yet",
        description="Inspect the delivery outbox: operations saved for a later attempt, and failed ones.",
    )
    _add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the operations as JSON")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser("retry", help="send every saved operation now (failed ones too)")
    _add_common(retry)
    retry.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for answers (default: %(default)s)")
    clear = actions.add_parser("clear", help="delete the saved operations")
    _add_common(clear)
    clear.add_argument("--failed", action="store_true", help="delete only the failed ones")
    parser.set_defaults(run=run_outbox, action=None)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path", default=argparse.SUPPRESS, metavar="FILE", help="outbox file (default: the per-user outbox)"
    )


def run_outbox(args: argparse.Namespace) -> int:
    """Run the chosen action; the exit status (0, or 1 after an error line)."""
    from .._delivery.outbox import default_outbox_path

    path = Path(getattr(args, "path", None) or default_outbox_path()).expanduser()
    try:
        if args.action == "retry":
            return _retry(path, args.timeout)
        if args.action == "clear":
            return _clear(path, failed_only=args.failed)
        return _list(path, as_json=args.json)
    except (sqlite3.Error, OSError) as exc:
        print(f"helicone-wrap outbox: cannot use the outbox at {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _rows(path: Path) -> list[Any]:
    from .._delivery.outbox import Outbox

    if not path.exists():
        return []
    box = Outbox(path, "cli")
    try:
        return box.rows()
    finally:
        box.close()


def _record(row: Any) -> dict[str, Any]:
    return {
        "state": "failed" if row.failed_at is not None else "pending",
        "op_id": row.op_id,
        "kind": row.kind,
        "request_id": row.request_id,
        "body": _body(row.payload),
        "api_url": row.api_url,
        "created_at": row.created_at,
        "attempts": row.attempts,
        "first_try": row.first_try or None,
        "due_at": row.due_at or None,
        "failed_at": row.failed_at,
        "last_error": None if row.error_type is None else {
            "type": row.error_type, "message": row.error_message, "status": row.error_status,
        },
    }  # fmt: skip


def _body(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def _list(path: Path, *, as_json: bool) -> int:
    records = [_record(row) for row in _rows(path)]
    if as_json:
        print(json.dumps({"path": str(path), "operations": records}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not records:
        console.print(f"The outbox at {path} is empty: nothing waits to be delivered.")
        return 0
    now = time.time()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, kwargs in (("state", {}), ("kind", {}), ("request", {}), ("tries", {"justify": "right"}),
                         ("next", {}), ("last error", {"overflow": "fold", "ratio": 1})):  # fmt: skip
        table.add_column(name, no_wrap=name != "last error", **kwargs)
    for rec in records:
        error = rec["last_error"]
        error_text = "" if error is None else f"{error['status'] or error['type']}: {error['message']}"
        when = "-" if rec["state"] == "failed" else _relative(rec["due_at"] or now, now)
        table.add_row(
            "[red]failed[/red]" if rec["state"] == "failed" else "pending", rec["kind"], rec["request_id"][:8] + "…",
            str(rec["attempts"]), when, error_text[:120],
        )  # fmt: skip
    console.print(table)
    pending = sum(1 for rec in records if rec["state"] == "pending")
    console.print(
        f"{pending} pending, {len(records) - pending} failed in {path}. "
        "Send them now: helicone-wrap outbox retry; delete: helicone-wrap outbox clear [--failed]"
    )
    return 0


def _relative(when: float, now: float) -> str:
    seconds = when - now
    if seconds <= 0:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"in {seconds / size:.0f}{unit}"
    return f"in {seconds:.0f}s"


def _retry(path: Path, timeout: float) -> int:
    from .. import _delivery
    from .._delivery.outbox import Outbox

    if not path.exists():
        print(f"The outbox at {path} is empty: nothing to retry.")
        return 0
    box = Outbox(path, "cli")
    try:
        before = len(box.rows())
        box.retry_now()
    finally:
        box.close()
    _delivery.configure(outbox=path, exit_timeout=0.5)
    finished = _delivery.flush(max(0.0, timeout))
    left = _rows(path)
    failed = sum(1 for row in left if row.failed_at is not None)
    pending = len(left) - failed
    delivered = _delivery.stats().delivered
    print(
        f"Retried {before} operations from {path}: {delivered} delivered, {pending} still pending, {failed} failed"
        + ("" if finished else f" (stopped waiting after {timeout:g} s)")
        + "."
    )
    if left:
        print("See why: helicone-wrap outbox", file=sys.stderr)
    return 0 if not left else 1


def _clear(path: Path, *, failed_only: bool) -> int:
    from .._delivery.outbox import Outbox

    if not path.exists():
        print(f"The outbox at {path} is empty: nothing to clear.")
        return 0
    box = Outbox(path, "cli")
    try:
        removed = box.clear(failed_only=failed_only)
    finally:
        box.close()
    print(f"Deleted {removed} {'failed ' if failed_only else ''}operations from {path}.")
    return 0
