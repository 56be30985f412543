"""The ``helicone-wrap`` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its
arguments and ``_run_<name>(args) -> int`` runs it. To add one, write the pair and list
it in :data:`_SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from ._commands import doctor, outbox

__all__ = ["main"]

_Adder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


# ---------------------------------------------------------------------- gateway


def _add_gateway(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="run the local Helicone-compatible gateway (OpenAI proxy + REST API)",
        description=(
            "Serve OpenAI paths under /v1/ (forwarded to --upstream, or answered by a deterministic "
            "offline model) and Helicone's REST API subset, logging every call to SQLite."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8787, help="port to bind (default: %(default)s)")
    parser.add_argument(
        "--db", default=":memory:", metavar="PATH", help="SQLite file, or :memory: (default: %(default)s)"
    )
    parser.add_argument(
        "--upstream", default=None, metavar="URL", help="OpenAI-compatible base URL; offline model if omitted"
    )
    parser.add_argument(
        "--require-key",
        default=None,
        metavar="KEY",
        help="require 'Bearer KEY' on the REST API and the proxy",
    )
    parser.add_argument(
        "--ingest-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="hide logged requests from the REST API for this long, like Helicone's ingestion lag",
    )
    parser.set_defaults(run=_run_gateway)


def _run_gateway(args: argparse.Namespace) -> int:
    try:
        from .gateway import serve
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        print(
            f"helicone-wrap gateway needs the gateway extra: pip install 'helicone-wrap[gateway]' ({exc})",
            file=sys.stderr,
        )
        return 2
    if args.ingest_delay < 0:
        print("--ingest-delay must not be negative", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    _print_banner(args)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the
    # previous handler in place: make SIGTERM end like Ctrl-C, with exit status 0.
    previous = _on_sigterm(_interrupt)
    try:
        serve(
            host=args.host,
            port=args.port,
            db=args.db,
            upstream=args.upstream,
            require_key=args.require_key,
            ingest_delay=args.ingest_delay,
        )
    except KeyboardInterrupt:
        pass
    finally:
        _on_sigterm(previous)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install a SIGTERM handler (main thread only); the previous one."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return handler


def _print_banner(args: argparse.Namespace) -> None:
    from rich.console import Console

    host = f"[{args.host}]" if ":" in args.host else args.host
    root = f"http://{host}:{args.port}"
    console = Console(stderr=True, highlight=False)
    console.print(f"[bold]helicone-wrap gateway[/bold] on {root}")
    console.print(f"  dashboard        {root}/")
    auth = "Bearer KEY required" if args.require_key else "no key required"
    console.print(f"  OpenAI base URL  {root}/v1")
    console.print(f"  authentication   {auth}")
    console.print(f"  REST API root    {root}")
    console.print(f"  upstream         {args.upstream or 'offline model'}")
    console.print(f"  log database     {args.db}")


# ------------------------------------------------------------------------- main

# ------------------------------------------------------------------------- demo


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the Course Plan story offline on an in-process gateway",
        description=(
            "Start the local gateway on a free port with a temporary database, run a session "
            "(/abstract, /outline, /outline/chapter-1..3; streamed and async steps), enrich, rate and "
            "score results, then read the session back and print it as a tree."
        ),
    )
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    try:
        from ._demo import run_demo
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        print(f"helicone-wrap demo needs the gateway extra: pip install 'helicone-wrap[gateway]' ({exc})",
              file=sys.stderr)
        return 2
    return run_demo()


# ------------------------------------------------------------- sessions, session


def _add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url", default=None, metavar="URL",
        help="REST API root (default: HELICONE_API_URL, else the HELICONE_BASE_URL origin, else Helicone cloud)",
    )
    parser.add_argument("--api-key", default=None, metavar="KEY", help="Helicone key (default: HELICONE_API_KEY)")


def _add_sessions(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sessions", help="list recent sessions (Helicone cloud, self-hosted or local)",
        description="List sessions, newest first, through POST /v1/session/query.",
    )
    parser.add_argument("--search", default="", help="substring of the session id or name")
    parser.add_argument("--name", default=None, help="exact session name")
    parser.add_argument("--days", type=float, default=30.0, help="how far back to look (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=50, help="at most this many sessions, 1-1000 (default: %(default)s)")
    _add_api_options(parser)
    parser.set_defaults(run=_run_sessions)


def _add_session(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "session", help="print one session as a tree",
        description="Fetch one session's requests and print them as a tree of path segments.",
    )
    parser.add_argument("session_id", metavar="ID", help="the Helicone-Session-Id")
    _add_api_options(parser)
    parser.set_defaults(run=_run_session)


def _api_call(args: argparse.Namespace, work: Callable[[Any, Any], int]) -> int:
    """Run ``work(api, console)``; configuration and API errors become one clear line, exit 1."""
    try:
        from rich.console import Console
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        print(f"this command needs the gateway extra: pip install 'helicone-wrap[gateway]' ({exc})", file=sys.stderr)
        return 2
    from ._api import HeliconeAPI
    from ._exceptions import HeliconeError

    try:
        with HeliconeAPI(api_key=args.api_key, base_url=args.api_url) as api:
            return work(api, Console())
    except HeliconeError as exc:
        print(f"helicone-wrap {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _run_sessions(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from ._api.render import sessions_table

    def work(api: Any, console: Any) -> int:
        end = datetime.now(timezone.utc)
        rows = api.sessions.query(search=args.search, name=args.name, start=end - timedelta(days=args.days),
                                  end=end, limit=args.limit)
        console.print(sessions_table(rows))
        return 0

    return _api_call(args, work)


def _run_session(args: argparse.Namespace) -> int:
    from ._api.render import session_tree

    def work(api: Any, console: Any) -> int:
        tree = api.sessions.tree(args.session_id)
        if not tree.requests:
            print(f"helicone-wrap session: no requests found for session {args.session_id!r}", file=sys.stderr)
            return 1
        console.print(session_tree(tree))
        return 0

    return _api_call(args, work)


_SUBCOMMANDS: tuple[_Adder, ...] = (
    _add_gateway,
    _add_demo,
    _add_sessions,
    _add_session,
    doctor.add_parser,
    outbox.add_parser,
)


def _parser() -> argparse.ArgumentParser:
    from . import _version

    parser = argparse.ArgumentParser(
        prog="helicone-wrap", description="Helicone observability for OpenAI clients, and a local gateway."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``helicone-wrap`` with ``argv`` (default: ``sys.argv[1:]``); the exit status.

    Usage: ``raise SystemExit(main(["gateway", "--port", "8787"]))``
    """
    parser = _parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
