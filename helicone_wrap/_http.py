"""The HTTP library of the installed openai: ``httpx2`` for openai >= 3, ``httpx`` before.

We never import the other one, so an openai-3 install never needs legacy httpx.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import openai


def _openai_major() -> int:
    try:
        return int(openai.__version__.split(".", 1)[0])
    except (AttributeError, ValueError):  # pragma: no cover - exotic builds
        return 3


OPENAI_MAJOR: int = _openai_major()
HTTP_LIBRARY_NAME: str = "httpx2" if OPENAI_MAJOR >= 3 else "httpx"

#: The module itself (``httpx`` or ``httpx2``); both share one API. Typed ``Any`` because
#: only one of the two is installed and their classes are not interchangeable for mypy.
http: Any = importlib.import_module(HTTP_LIBRARY_NAME)
http_module: ModuleType = http
