"""The ``helicone-wrap`` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its
arguments and ``_run_<name>(args) -> int`` runs it. To add one, write the pair and list
it in :data:`_SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from ._commands import doctor, outbox

__all__ = ["main"]

_Adder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


# ---------------------------------------------------------------------- gateway


#: Environment defaults for the offline model's pacing, in milliseconds (tests set them to 0).
ENV_TTFT_MS = "HELICONE_WRAP_OFFLINE_TTFT_MS"
ENV_TOKEN_MS = "HELICONE_WRAP_OFFLINE_TOKEN_MS"
_DEFAULT_TTFT_MS = 200.0
_DEFAULT_TOKEN_MS = 10.0


def _env_ms(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def _add_pacing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ttft-ms", type=float, default=_env_ms(ENV_TTFT_MS, _DEFAULT_TTFT_MS), metavar="MS",
        help=f"offline model: milliseconds before the first token (default: %(default)g, or {ENV_TTFT_MS})",
    )
    parser.add_argument(
        "--token-ms", type=float, default=_env_ms(ENV_TOKEN_MS, _DEFAULT_TOKEN_MS), metavar="MS",
        help=f"offline model: milliseconds per further token (default: %(default)g, or {ENV_TOKEN_MS})",
    )


def _pacing_problem(args: argparse.Namespace) -> str | None:
    for flag, value in (("--ttft-ms", args.ttft_ms), ("--token-ms", args.token_ms)):
        if not value >= 0:
            return f"{flag} must be 0 or more milliseconds, got {value:g}"
    return None


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
    parser.add_argument("--port", type=int, default=8787, help="port to bind, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--db", default=None, metavar="PATH",
        help="SQLite file, or :memory: for a log that ends with the gateway (default: gateway.sqlite3 in "
             "the user's data directory, e.g. ~/.local/share/helicone_wrap/)",
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
    _add_pacing(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no access log line per request")
    parser.set_defaults(run=_run_gateway)


def _fail(command: str, message: str) -> int:
    print(f"helicone-wrap {command}: {message}", file=sys.stderr)
    return 2


def _open_db(path: str) -> str | None:
    """Why the log database at ``path`` cannot be used, or None once it opened (and migrated)."""
    import sqlite3

    from .gateway import Store

    try:
        Store(path).close()
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        folder = os.path.dirname(os.path.abspath(path))
        hint = f"the folder {folder} does not exist" if not os.path.isdir(folder) else "is it a writable SQLite file?"
        return f"cannot open the log database {path}: {exc} ({hint}); choose another with --db PATH, or --db :memory:"
    return None


def _run_gateway(args: argparse.Namespace) -> int:
    try:
        from .gateway import bind, serve
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        return _fail("gateway", f"needs the gateway extra: pip install -e '.[gateway]' in a clone ({exc})")
    if args.ingest_delay < 0:
        return _fail("gateway", "--ingest-delay must not be negative")
    problem = _pacing_problem(args)
    if problem is not None:
        return _fail("gateway", problem)
    if args.db is None:
        from ._demo import default_gateway_db

        args.db = default_gateway_db()
        os.makedirs(os.path.dirname(args.db), exist_ok=True)
    problem = _open_db(args.db)
    if problem is not None:
        return _fail("gateway", problem)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail("gateway", f"port {args.port} on {args.host} is already in use (another gateway?); "
                                    f"choose another with --port {args.port + 1}, or --port 0 for any free port")
        return _fail("gateway", f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    args.port = sock.getsockname()[1]
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
            offline_ttft=args.ttft_ms / 1000,
            offline_chunk_delay=args.token_ms / 1000,
            access_log=not args.quiet,
            sock=sock,
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
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # never break a URL or path
    console.print(f"[bold]helicone-wrap gateway[/bold] on {root}")
    console.print(f"  dashboard        {root}/")
    auth = "Bearer KEY required" if args.require_key else "no key required"
    console.print(f"  OpenAI base URL  {root}/v1")
    console.print(f"  authentication   {auth}")
    console.print(f"  REST API root    {root}")
    pacing = f"offline model ({args.ttft_ms:g} ms to first token, {args.token_ms:g} ms a token)"
    console.print(f"  upstream         {args.upstream or pacing}")
    if args.db in (":memory:", ""):
        console.print("  log database     :memory: (the log ends with the gateway)")
    else:
        console.print(f"  log database     {args.db} (kept; --db :memory: for a throwaway log)")
    console.print(f"  access log       {'off (--quiet)' if args.quiet else 'one line per request below (--quiet: off)'}")


# ------------------------------------------------------------------------- demo


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the Course Plan story offline on an in-process gateway",
        description=(
            "Start the local gateway on a free port, run a session (/abstract, /outline, "
            "/outline/chapter-1..3; streamed and async steps) as user demo-user, enrich, rate and "
            "score results, then read the session back, check it, and print it as a tree."
        ),
    )
    parser.add_argument(
        "--keep", action="store_true",
        help="keep the gateway running after the story (until Ctrl-C) and print the session's dashboard "
             "URL; the log goes to the gateway's default database unless --db",
    )
    parser.add_argument("--db", default=None, metavar="PATH",
                        help="log to this SQLite file and keep it (default: a temporary one)")
    _add_pacing(parser)
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    try:
        from ._demo import run_demo
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        return _fail("demo", f"needs the gateway extra: pip install -e '.[gateway]' in a clone ({exc})")
    problem = _pacing_problem(args)
    if problem is None and args.db is not None:
        problem = _open_db(args.db)
    if problem is not None:
        return _fail("demo", problem)
    # SIGTERM (``kill``, a service manager, a shell that started the demo in the background with
    # SIGINT ignored) ends it as Ctrl-C does: the kept gateway stops cleanly and its log is written.
    previous = _on_sigterm(_interrupt)
    try:
        return run_demo(keep=args.keep, db=args.db, ttft=args.ttft_ms / 1000, per_token=args.token_ms / 1000)
    except KeyboardInterrupt:
        print("helicone-wrap demo: interrupted; nothing was kept unless --db or --keep.", file=sys.stderr)
        return 130
    finally:
        _on_sigterm(previous)


# ------------------------------------------------- sessions, session, request


def _add_reading(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ._commands import reading

    reading.add_sessions(subparsers)
    reading.add_session(subparsers)
    reading.add_request(subparsers)


_SUBCOMMANDS: tuple[_Adder, ...] = (_add_gateway, _add_demo, _add_reading, doctor.add_parser, outbox.add_parser)


def _parser() -> argparse.ArgumentParser:
    from . import _version

    parser = argparse.ArgumentParser(
        prog="helicone-wrap", description="Helicone observability for OpenAI clients, and a local gateway."
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {_version.__version__}")
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
