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
    auth = "Bearer KEY required" if args.require_key else "no key required"
    console.print(f"  OpenAI base URL  {root}/v1")
    console.print(f"  authentication   {auth}")
    console.print(f"  REST API root    {root}")
    console.print(f"  upstream         {args.upstream or 'offline model'}")
    console.print(f"  log database     {args.db}")


# ------------------------------------------------------------------------- main

_SUBCOMMANDS: tuple[_Adder, ...] = (_add_gateway,)


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
