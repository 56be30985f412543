"""Never break the host: our own bugs are logged once per kind and swallowed.

The user's exceptions are never caught here; only code of ours runs under the guard.
Tests install a hook (``_guard.hooks``) that turns a swallowed error into a test failure.
Warnings about the user's setup or the network (:func:`warn_once`) are likewise logged once per kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger("helicone_wrap")

#: Called with (kind, exception) for every swallowed internal error; tests append a recorder.
hooks: list[Callable[[str, BaseException], None]] = []
_seen: set[str] = set()
_warned: set[str] = set()


def internal_error(kind: str, exc: BaseException) -> None:
    """Report an internal error of ours: logged once per ``kind``, never raised."""
    for hook in hooks:
        hook(kind, exc)
    if kind in _seen:
        return
    _seen.add(kind)
    logger.warning(
        "helicone_wrap internal error in %s (the call itself was not affected; "
        "further errors of this kind are not logged): %s: %s",
        kind,
        type(exc).__name__,
        exc,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


def warn_once(kind: str, message: str, *args: object) -> None:
    """Log a WARNING (``message % args``) the first time ``kind`` comes up; later ones are silent.

    Usage: ``warn_once("outbox-write", "helicone_wrap: the outbox at %s failed", path)``
    """
    if kind in _warned:
        return
    _warned.add(kind)
    logger.warning(message, *args)


def forget_warnings() -> None:
    """Let every :func:`warn_once` kind be logged again (tests). Usage: ``_guard.forget_warnings()``"""
    _warned.clear()
