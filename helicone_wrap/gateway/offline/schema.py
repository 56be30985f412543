"""Structured outputs: a minimal JSON instance of a JSON schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["minimal_instance", "structured_text"]


def minimal_instance(schema: object, root: object = None, depth: int = 0) -> object:
    """A minimal value that validates against a JSON schema.

    Strings become ``"…"`` (or a valid value for a known ``format``), numbers 0,
    booleans false, arrays empty (or ``minItems`` minimal items) and objects get every
    property, recursively; ``$ref``, ``anyOf``/``oneOf``/``allOf``, ``enum`` and ``const``
    are followed. Meant for the offline model's structured outputs, not as a validator.

    Usage: ``minimal_instance({"type": "object", "properties": {"n": {"type": "integer"}}}) == {"n": 0}``
    """
    if root is None:
        root = schema
    if depth > 40 or not isinstance(schema, Mapping):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return minimal_instance(_resolve_ref(root, ref), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        variants = schema.get(key)
        if isinstance(variants, list) and variants:
            non_null = [v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")]
            return minimal_instance((non_null or variants)[0], root, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            resolved = (
                _resolve_ref(root, part["$ref"]) if isinstance(part, Mapping) and "$ref" in part else part
            )
            if isinstance(resolved, Mapping):
                merged.update(resolved)
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {str(name): minimal_instance(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = schema.get("minItems")
        if isinstance(count, int) and count > 0:
            return [minimal_instance(schema.get("items"), root, depth + 1) for _ in range(count)]
        return []
    if kind == "string":
        return _minimal_string(schema)
    if kind in ("integer", "number"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = 0
        if isinstance(minimum, (int, float)) and not isinstance(minimum, bool) and minimum > 0:
            value = int(minimum) + 1
        return value
    if kind == "boolean":
        return False
    return None


def _resolve_ref(root: object, ref: str) -> object:
    if not ref.startswith("#"):
        return {}
    node: object = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        if not isinstance(node, Mapping):
            return {}
        node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
    return node


_FORMAT_EXAMPLES: dict[str, str] = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "P1D",
}


def _minimal_string(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_EXAMPLES:
        return _FORMAT_EXAMPLES[fmt]
    value = "…"
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and min_length > len(value):
        value = value * min_length
    return value


def structured_text(fmt: object) -> str | None:
    """JSON text for a ``json_schema``/``json_object`` format spec, else None.

    Usage: ``structured_text(body.get("response_format"))``
    """
    if not isinstance(fmt, Mapping):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return json.dumps({"reply": "This is the helicone-wrap offline model."})
    if kind != "json_schema":
        return None
    # chat: {"type": "json_schema", "json_schema": {"schema": ...}}; responses: {"schema": ...}
    holder = fmt.get("json_schema", fmt)
    schema = holder.get("schema") if isinstance(holder, Mapping) else None
    return json.dumps(minimal_instance(schema if schema is not None else {"type": "object"}))
