"""Subcommands of the ``helicone-wrap`` command line that live in their own modules.

Each module offers ``add_<name>(subparsers)``, which declares the subcommand and sets its ``run``
function; :mod:`helicone_wrap.cli` lists it among its subcommands.
Usage: ``from helicone_wrap._commands.outbox import add_outbox``
"""
