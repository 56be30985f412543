"""The larger ``helicone-wrap`` subcommands, one module each (``doctor``, ``outbox``).

Each module offers ``add_parser(subparsers)``, which declares the subcommand and sets its
``run(args) -> int``; :mod:`helicone_wrap.cli` lists them next to its own subcommands.
Usage: ``from helicone_wrap._commands import outbox; outbox.add_parser(subparsers)``
"""
