"""Tags a call carries: ``properties(...)`` (``Helicone-Property-*``) and ``user(...)`` (``Helicone-User-Id``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import _headers
from ._block import _Block
from ._context import HeliconeContext, _snapshot


class properties(_Block[Mapping[str, str]]):
    """Add ``Helicone-Property-<key>`` headers to every call inside.

    Keys are lowercased (Helicone stores header property keys lowercased); values are ``str``,
    and ``int``/``float``/``bool`` are converted with ``str()``. Nested blocks merge and the
    inner value wins. ``with properties(...) as props`` gives the merged mapping.

    Usage: ``with properties(environment="prod", {"app-version": "1.2"}): ...``
    """

    def __init__(self, mapping: Mapping[str, object] | None = None, /, **kv: object) -> None:
        super().__init__()
        self.values = _headers.normalize_properties(mapping, kv)
        for key, value in self.values.items():
            _headers.encode_value(value, f"property {key!r}")

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        merged = MappingProxyType({**parent.properties, **self.values})
        return _snapshot(parent.session_id, parent.session_name, parent.session_path, merged, parent.user_id,
                         parent.features)

    def _value(self, ctx: HeliconeContext) -> Mapping[str, str]:
        return ctx.properties


class user(_Block[str]):
    """Send ``Helicone-User-Id`` on every call inside.

    Usage: ``with user("user-123"): client.chat.completions.create(...)``
    """

    def __init__(self, user_id: str) -> None:
        super().__init__()
        self.user_id = _headers.check_text(user_id, "user id")
        _headers.encode_value(self.user_id, "user id")

    def _derive(self, parent: HeliconeContext) -> HeliconeContext:
        return _snapshot(parent.session_id, parent.session_name, parent.session_path, parent.properties,
                         self.user_id, parent.features)

    def _value(self, ctx: HeliconeContext) -> str:
        return self.user_id
