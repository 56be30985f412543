"""Delivery settings: the :class:`Settings` record, :data:`DEFAULT_OUTBOX`, and checking what
``configure()`` was given (:func:`configured`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._exceptions import HeliconeConfigError
from .outbox import default_outbox_path

__all__ = ["DEFAULT_OUTBOX", "UNSET", "OutboxSetting", "Settings", "configured"]


class _DefaultOutbox:
    """Type of :data:`DEFAULT_OUTBOX`."""

    _instance: _DefaultOutbox | None = None

    def __new__(cls) -> _DefaultOutbox:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT_OUTBOX"


#: ``configure(outbox=DEFAULT_OUTBOX)``: the per-user data file (see ``_outbox.default_outbox_path``).
DEFAULT_OUTBOX = _DefaultOutbox()
#: The default of every ``configure()`` argument: "not passed, leave it as it is".
UNSET: Any = object()

OutboxSetting = str | os.PathLike[str] | None | _DefaultOutbox


@dataclass(frozen=True)
class Settings:
    """Delivery settings; change them with :func:`helicone_wrap.configure`.

    Usage: ``Settings(lag_window=60.0).outbox_path()``
    """

    lag_window: float = 7 * 86400.0
    exit_timeout: float = 5.0
    outbox: Path | None | _DefaultOutbox = DEFAULT_OUTBOX
    durable: bool = False
    max_queue: int = 50_000
    max_retries: int | None = None
    concurrency: int = 4
    request_timeout: float = 10.0
    backoff_base: float = 0.25
    backoff_cap: float = 3600.0

    def outbox_path(self) -> Path | None:
        """Where the outbox lives, or None when it is disabled."""
        if isinstance(self.outbox, _DefaultOutbox):
            return default_outbox_path()
        return self.outbox


def configured(settings: Settings, given: Mapping[str, Any]) -> Settings:
    """``settings`` with the ``configure()`` arguments in ``given`` applied (:data:`UNSET` ones skipped).

    Each value is checked first: an unusable one raises :class:`HeliconeConfigError` and nothing
    changes. Paths are expanded (``~``).
    Usage: ``configured(Settings(), {"lag_window": 60.0, "outbox": None})``
    """
    changes: dict[str, Any] = {}
    for name, kind in (
        ("lag_window", "seconds"),
        ("exit_timeout", "seconds"),
        ("request_timeout", "seconds"),
        ("max_queue", "count"),
        ("concurrency", "count"),
    ):
        value = given.get(name, UNSET)
        if value is UNSET:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < (1 if kind == "count" else 0):
            raise HeliconeConfigError(f"{name} must be a {'positive int' if kind == 'count' else 'number >= 0'}, got {value!r}.")
        if kind == "count" and not isinstance(value, int):
            raise HeliconeConfigError(f"{name} must be an int, got {value!r}.")
        changes[name] = value
    max_retries = given.get("max_retries", UNSET)
    if max_retries is not UNSET:
        if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0):
            raise HeliconeConfigError(f"max_retries must be None or an int >= 0, got {max_retries!r}.")
        changes["max_retries"] = max_retries
    durable = given.get("durable", UNSET)
    if durable is not UNSET:
        changes["durable"] = bool(durable)
    outbox = given.get("outbox", UNSET)
    if outbox is not UNSET:
        if outbox is None or isinstance(outbox, _DefaultOutbox):
            changes["outbox"] = outbox
        elif isinstance(outbox, (str, os.PathLike)):
            changes["outbox"] = Path(outbox).expanduser()
        else:
            raise HeliconeConfigError(f"outbox must be a path, None or DEFAULT_OUTBOX, got {outbox!r}.")
    return replace(settings, **changes)
