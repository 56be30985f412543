"""``helicone-wrap sessions``, ``session ID`` and ``request ID``: read the log back, for a person or as JSON.

They talk to a REST root resolved as :class:`~helicone_wrap.HeliconeAPI` does (``--api-url``, else
``HELICONE_API_URL``, else the ``HELICONE_BASE_URL`` origin, else Helicone cloud). An
``--api-url`` that is a gateway's OpenAI base (``http://127.0.0.1:8787/v1``) is taken as that
gateway, the way ``HELICONE_BASE_URL`` is. Tables fit 80 columns (8-character ids); from 120
columns on, full ids. A session may be named by a unique start of its id, as the table shows it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from .._config import _check_url, api_of_gateway, resolve_api_key

__all__ = ["add_request", "add_session", "add_sessions", "rest_root"]

#: From this terminal width on, tables show full ids.
WIDE = 120
_FULL_ID = 36


def rest_root(api_url: str | None, api_key: str | None) -> str | None:
    """``--api-url`` as a REST root: an OpenAI base path (``.../v1``) means that gateway's REST API.

    Usage: ``rest_root("http://127.0.0.1:8787/v1", None) == "http://127.0.0.1:8787"``
    """
    if api_url is None:
        return None
    url = _check_url(api_url, "--api-url", "'http://127.0.0.1:8787' or 'https://api.helicone.ai'")
    if urlsplit(url).path.rstrip("/").endswith("/v1"):
        return api_of_gateway(url, resolve_api_key(api_key))
    return url


def _fail(command: str, message: str, status: int = 1) -> int:
    print(f"helicone-wrap {command}: {message}", file=sys.stderr)
    return status


def _api_call(args: argparse.Namespace, work: Callable[[Any, Any], int]) -> int:
    """Run ``work(api, console)``; configuration and API errors become one clear line, exit 1."""
    try:
        from rich.console import Console
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        return _fail(args.command, f"needs the gateway extra: pip install -e '.[gateway]' ({exc})", 2)
    from .._api import HeliconeAPI
    from .._exceptions import HeliconeError

    try:
        with HeliconeAPI(api_key=args.api_key, base_url=rest_root(args.api_url, args.api_key)) as api:
            return work(api, Console())
    except HeliconeError as exc:
        return _fail(args.command, f"{type(exc).__name__}: {exc}")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


# --------------------------------------------------------------------- sessions


def _run_sessions(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        return _fail("sessions", f"--limit must be between 1 and 1000, got {args.limit}", 2)
    if not args.days > 0:
        return _fail("sessions", f"--days must be a positive number of days, got {args.days:g}", 2)
    from .._api.render import plural, sessions_table

    def work(api: Any, console: Any) -> int:
        end = datetime.now(timezone.utc)
        window = {"search": args.search, "name": args.name, "start": end - timedelta(days=args.days), "end": end}
        rows = api.sessions.query(limit=args.limit, **window)
        total = api.sessions.count(**window).count if len(rows) == args.limit else len(rows)
        if args.json:
            _print_json({"total": total, "sessions": [dict(row.raw) for row in rows]})
            return 0
        days = f"{args.days:g} day" + ("" if args.days == 1 else "s")
        if not rows:
            matching = f" matching {args.search or args.name!r}" if args.search or args.name else ""
            print(f"No sessions{matching} in the last {days}.")
            print(f"  asked {api.base_url}")
            print("  Try --days 365, or `helicone-wrap demo --keep` to make one.")
            return 0
        shown = plural(total, "session") if total == len(rows) else f"{len(rows):,} of {plural(total, 'session')}"
        console.print(sessions_table(rows, f"{shown} in the last {days}, newest first", wide=console.width >= WIDE))
        if total > len(rows):
            console.print(f"[dim]--limit {min(1000, total)} shows more; `helicone-wrap session ID` shows one.[/]")
        return 0

    return _api_call(args, work)


def add_sessions(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``helicone-wrap sessions``."""
    parser = subparsers.add_parser(
        "sessions", help="list recent sessions (Helicone cloud, self-hosted or local)",
        description="List sessions, newest first, through POST /v1/session/query (and /v1/session/count).",
    )
    parser.add_argument("--search", default="", help="substring of the session id or name")
    parser.add_argument("--name", default=None, help="exact session name")
    parser.add_argument("--days", type=float, default=30.0, help="how far back to look (default: %(default)g)")
    parser.add_argument("--limit", type=int, default=50, help="at most this many sessions, 1-1000 (default: %(default)s)")
    _add_common(parser)
    parser.set_defaults(run=_run_sessions)


# ---------------------------------------------------------------------- session


def _session_id(api: Any, given: str) -> str | None:
    """The full id for a unique prefix (as the tables show), or ``given``; None when ambiguous."""
    if len(given) >= _FULL_ID:
        return given
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    found = {row.session_id for row in api.sessions.query(search=given, start=start, limit=1000)
             if row.session_id.startswith(given)}
    if len(found) > 1:
        return None
    return found.pop() if found else given


def _tree_json(node: Any) -> dict[str, Any]:
    return {"name": node.name, "path": node.path, "request_ids": [r.request_id for r in node.requests],
            "children": [_tree_json(child) for child in node.children]}


def _run_session(args: argparse.Namespace) -> int:
    from .._api.render import session_tree

    def work(api: Any, console: Any) -> int:
        sid = _session_id(api, args.session_id)
        if sid is None:
            return _fail("session", f"{args.session_id!r} is the start of several session ids; give more of it")
        tree = api.sessions.tree(sid)
        if not tree.requests:
            return _fail("session", f"no requests found for session {args.session_id!r} at {api.base_url} "
                                    "(`helicone-wrap sessions` lists what is there)")
        if args.json:
            _print_json({"session_id": tree.session_id, "session_name": tree.session_name,
                         "truncated": tree.truncated, "tree": _tree_json(tree.root),
                         "requests": [dict(r.raw) for r in tree.requests]})
            return 0
        console.print(session_tree(tree))
        console.print("[dim]`helicone-wrap request ID` shows one request's prompt and answer.[/]")
        return 0

    return _api_call(args, work)


def add_session(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``helicone-wrap session ID``."""
    parser = subparsers.add_parser(
        "session", help="print one session as a tree",
        description="Fetch one session's requests and print them as a tree of path segments.",
    )
    parser.add_argument("session_id", metavar="ID", help="the Helicone-Session-Id, or a unique start of it")
    _add_common(parser)
    parser.set_defaults(run=_run_session)


# ---------------------------------------------------------------------- request


def _request_json(row: Any) -> dict[str, Any]:
    from .._api.bodies import answer_of, prompt_of
    from .._api.render import score_items

    props = {k: row.property(k) for k in row.properties}
    return {"request_id": row.request_id, "created_at": row.request_created_at, "model": row.model,
            "status": row.response_status, "latency_ms": row.delay_ms, "time_to_first_token_ms": row.time_to_first_token,
            "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens, "cost": row.cost,
            "user": row.request_user_id, "session_id": row.session_id, "session_path": row.session_path,
            "properties": props, "feedback": row.feedback, "scores": score_items(row.scores),
            "prompt": prompt_of(row.request_body), "answer": answer_of(row.response_body)}


def _run_request(args: argparse.Namespace) -> int:
    from .._api.render import request_detail

    def work(api: Any, console: Any) -> int:
        row = api.requests.get(args.request_id, include_body=True)
        if row is None:
            return _fail("request", f"no request {args.request_id!r} at {api.base_url} (the full id, as "
                                    "`helicone-wrap session ID` shows it)")
        if args.json:
            _print_json(_request_json(row))
        else:
            console.print(request_detail(row))
        return 0

    return _api_call(args, work)


def add_request(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``helicone-wrap request ID``."""
    parser = subparsers.add_parser(
        "request", help="print one request: prompt, answer, properties, feedback, scores",
        description="Fetch one request with its bodies (GET /v1/request/ID?includeBody=true) and print it.",
    )
    parser.add_argument("request_id", metavar="ID", help="the helicone id of the request")
    _add_common(parser)
    parser.set_defaults(run=_run_request)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url", default=None, metavar="URL",
        help="REST API root (default: HELICONE_API_URL, else the HELICONE_BASE_URL origin, else Helicone cloud)",
    )
    parser.add_argument("--api-key", default=None, metavar="KEY", help="Helicone key (default: HELICONE_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
