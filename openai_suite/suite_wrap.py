"""pytest plugin: every openai client is wrapped by helicone_wrap right after it is constructed.

Loaded by ``openai_suite/run.py`` into openai's own test suite (``-p suite_wrap``). Each
``OpenAI``/``AsyncOpenAI``/``AzureOpenAI``/``AsyncAzureOpenAI`` (and any other subclass, the
suite's own included) is passed to ``helicone_wrap.wrap(client, base_url=<its own base_url>,
api_key=<a fake Helicone key>)`` when its outermost ``__init__`` returns, so the URLs the suite
mocks still match while every request goes through helicone_wrap's hooks.

Clients made by ``copy()``/``with_options()`` are left to helicone_wrap itself: that is the
behaviour under test, so this plugin never wraps them a second way.

Usage: ``PYTHONPATH=openai_suite python -m pytest -p suite_wrap tests``
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import openai

import helicone_wrap

#: Shaped like a real Helicone key; never sent anywhere but the suite's mocks.
FAKE_HELICONE_KEY = "sk-helicone-suite00-aaaaaaa-bbbbbbb-ccccccc"

_ROOTS: tuple[type[Any], ...] = (openai.OpenAI, openai.AsyncOpenAI)
_PATCHED_FLAG = "__suite_wrap_patched__"
_local = threading.local()


def _depths() -> dict[int, int]:
    """Per-thread ``id(instance) -> __init__ nesting depth``, so only the outermost call wraps."""
    depths: dict[int, int] | None = getattr(_local, "depths", None)
    if depths is None:
        depths = _local.depths = {}
    return depths


def _copying() -> int:
    return int(getattr(_local, "copying", 0))


def _patch_init(cls: type[Any]) -> None:
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, _PATCHED_FLAG, False):
        return

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        depths = _depths()
        key = id(self)
        depth = depths.get(key, 0)
        depths[key] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                depths[key] = depth
            else:
                del depths[key]
        if depth == 0 and not _copying():
            helicone_wrap.wrap(self, base_url=str(self.base_url), api_key=FAKE_HELICONE_KEY)

    setattr(__init__, _PATCHED_FLAG, True)
    cls.__init__ = __init__


def _patch_copy(cls: type[Any], name: str) -> None:
    method = cls.__dict__.get(name)
    if method is None or getattr(method, _PATCHED_FLAG, False):
        return

    @functools.wraps(method)
    def copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        _local.copying = _copying() + 1
        try:
            return method(self, *args, **kwargs)
        finally:
            _local.copying -= 1

    setattr(copy, _PATCHED_FLAG, True)
    setattr(cls, name, copy)


def _patch_class(cls: type[Any]) -> None:
    _patch_init(cls)
    _patch_copy(cls, "copy")
    _patch_copy(cls, "with_options")


def _all_subclasses(cls: type[Any]) -> list[type[Any]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def _hook_future_subclasses(root: type[Any]) -> None:
    """Patch classes defined later (a test's own ``class MyClient(OpenAI)``) as they are made."""
    if getattr(root.__dict__.get("__init_subclass__"), _PATCHED_FLAG, False):
        return
    own = root.__dict__.get("__init_subclass__")
    own_func: Callable[..., None] | None = own.__func__ if isinstance(own, classmethod) else None

    def __init_subclass__(cls: type[Any], **kwargs: Any) -> None:
        if own_func is not None:
            own_func(cls, **kwargs)
        else:
            super(root, cls).__init_subclass__(**kwargs)
        _patch_class(cls)

    hook = classmethod(__init_subclass__)
    setattr(hook, _PATCHED_FLAG, True)
    root.__init_subclass__ = hook  # type: ignore[assignment]


def install() -> None:
    """Patch every openai client class, present and future. Idempotent."""
    for root in _ROOTS:
        for cls in _all_subclasses(root):
            _patch_class(cls)
        _hook_future_subclasses(root)


# At import (``-p`` plugins are imported before any conftest), so even a client built while
# conftest modules load is wrapped.
install()


def pytest_configure(config: Any) -> None:
    """pytest hook: make sure the patches are in place (they already are, from the import)."""
    install()
