"""Argument checks shared by the feature blocks: each returns the value as Helicone takes it, or
raises :class:`HeliconeValidationError` saying what is wrong and how to write it instead.

Usage: ``check_seconds(timedelta(minutes=5), "cache max_age")`` is ``300``.
"""

from __future__ import annotations

import math
from datetime import timedelta

from .. import _headers
from .._exceptions import HeliconeValidationError


def check_flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise HeliconeValidationError(f"{what} must be True or False, got {type(value).__name__}: {value!r}.")
    return value


def check_seconds(value: object, what: str) -> int:
    """``int`` seconds or a ``timedelta`` of whole seconds, as int seconds."""
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        if micros % 1_000_000:
            raise HeliconeValidationError(f"{what} must be whole seconds, got {value!r}; Helicone counts in seconds.")
        return micros // 1_000_000
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise HeliconeValidationError(
        f"{what} must be int seconds or a datetime.timedelta, got {type(value).__name__}: {value!r}."
    )


def check_millis(value: object, what: str) -> int:
    """``int`` seconds or a ``timedelta`` (millisecond resolution), as int milliseconds."""
    if isinstance(value, timedelta):
        millis = value // timedelta(milliseconds=1)
        if value % timedelta(milliseconds=1):
            raise HeliconeValidationError(f"{what} must be whole milliseconds, got {value!r}.")
    else:
        millis = check_seconds(value, what) * 1000
    if millis <= 0:
        raise HeliconeValidationError(f"{what} must be positive, got {value!r}; e.g. {what}=1 (one second).")
    return millis


def check_number(value: object, what: str) -> str:
    """A positive finite int or float in plain decimal notation (Helicone's ``\\d+(\\.\\d+)?``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HeliconeValidationError(f"{what} must be a positive number, got {type(value).__name__}: {value!r}.")
    if value <= 0:
        raise HeliconeValidationError(f"{what} must be positive, got {value!r}.")
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    text = f"{value:.6f}".rstrip("0")
    if float(text) == 0:
        raise HeliconeValidationError(f"{what} {value!r} is below Helicone's precision; use at least 0.000001.")
    return text


def check_count(value: object, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeliconeValidationError(f"{what} must be an int, got {type(value).__name__}: {value!r}.")
    if value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise HeliconeValidationError(f"{what} must be {allowed}, got {value}.")
    return value


def check_text(value: object, what: str) -> str:
    text = _headers.check_text(value, what)
    if not text.strip():
        raise HeliconeValidationError(f"{what} must not be empty; Helicone ignores an empty {what}.")
    return _headers.encode_value(text, what)


def switched_off(enabled: object, name: str, given: dict[str, tuple[object, object]]) -> bool:
    """Validate the positional on/off switch; ``name(False)`` takes no settings (``given``: value, default)."""
    if not check_flag(enabled, f"{name}()'s switch"):
        changed = sorted(key for key, (value, default) in given.items() if value is not default and value != default)
        if changed:
            raise HeliconeValidationError(
                f"{name}(False) switches {name} off and takes no settings, got {', '.join(changed)}; "
                f"drop them or use {name}(...) without False."
            )
        return True
    return False
