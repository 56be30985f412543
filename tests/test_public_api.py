"""The public surface: __all__ is complete and sorted, every public object is documented, py.typed ships."""

from __future__ import annotations

import inspect
from pathlib import Path

import helicone_wrap


def test_all_is_complete_and_sorted() -> None:
    """Every public name in the package namespace is in __all__, and __all__ is sorted."""
    public = {name for name in vars(helicone_wrap) if not name.startswith("_")} - {"annotations"}
    modules = {name for name in public if inspect.ismodule(getattr(helicone_wrap, name))}
    assert set(helicone_wrap.__all__) - {"__version__"} == public - modules
    assert helicone_wrap.__all__ == sorted(helicone_wrap.__all__)


def test_every_public_object_has_a_docstring_with_usage() -> None:
    """Each exported class and function documents itself with a usage line."""
    missing = []
    for name in helicone_wrap.__all__:
        obj = getattr(helicone_wrap, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            if "usage" not in doc.lower() and ">>>" not in doc:
                missing.append(name)
    assert not missing, f"no usage line in the docstring of: {missing}"


def test_py_typed_is_shipped() -> None:
    """The PEP 561 marker sits next to the package."""
    assert (Path(helicone_wrap.__file__).parent / "py.typed").is_file()
