"""Tool parameter schemas Kimi accepts.

Two rules (reference/kimi-plugins.md §1.10, kimi-cli-wire.md §4):

- every property schema gets a ``type``: Kimi answers 400 "At path 'properties.X': type is not
  defined" where JSON Schema allows it to be absent. Inference as kosong's
  ``ensure_property_types``: from ``enum``/``const`` values, else from structural keywords,
  else ``"string"``; combinator nodes (``anyOf``/``oneOf``/``allOf``/``$ref``) are left alone.
- a schema over ``SIZE_LIMIT`` bytes is shrunk under Moonshot's ~15 KB per-tool limit: repeated
  sub-schemas of ``MIN_FRAGMENT`` bytes or more are hoisted into ``$defs`` and referenced (at
  most ``MAX_PASSES`` passes); if still too big, nested ``description``/``examples`` are dropped.

Both work in place on a schema the gateway owns (freshly parsed from the client's body).
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["MAX_PASSES", "MIN_FRAGMENT", "SIZE_LIMIT", "ensure_property_types", "shrink_schema"]

SIZE_LIMIT: Final = 14_000
MIN_FRAGMENT: Final = 50
MAX_PASSES: Final = 5

_COMBINATORS: Final = ("anyOf", "oneOf", "allOf", "$ref")
_OBJECT_KEYS: Final = (
    "properties",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "required",
    "minProperties",
    "maxProperties",
)
_ARRAY_KEYS: Final = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")
_STRING_KEYS: Final = ("minLength", "maxLength", "pattern", "format")
_NUMBER_KEYS: Final = ("minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum")


def ensure_property_types(schema: Any) -> None:
    """Give every property schema under ``schema`` a ``type`` (in place)."""
    _walk_container(schema, 0)


def _walk_container(node: Any, depth: int) -> None:
    if not isinstance(node, dict) or depth > 64:
        return
    props = node.get("properties")
    if isinstance(props, dict):
        for value in props.values():
            _normalize(value, depth)
    items = node.get("items")
    if isinstance(items, dict):
        _normalize(items, depth)
    elif isinstance(items, list):
        for value in items:
            _normalize(value, depth)
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        _normalize(additional, depth)
    for key in ("anyOf", "oneOf", "allOf"):
        branches = node.get(key)
        if isinstance(branches, list):
            for value in branches:
                _normalize(value, depth)
    for key in ("$defs", "definitions"):
        defs = node.get(key)
        if isinstance(defs, dict):
            for value in defs.values():
                _normalize(value, depth)


def _normalize(node: Any, depth: int) -> None:
    if not isinstance(node, dict):
        return
    if "type" not in node and not any(k in node for k in _COMBINATORS):
        enum = node.get("enum")
        if isinstance(enum, list) and enum:
            node["type"] = _type_of_values(enum)
        elif "const" in node:
            node["type"] = _type_of_values([node["const"]])
        else:
            node["type"] = _type_of_structure(node)
    _walk_container(node, depth + 1)


def _type_of_structure(node: dict[str, Any]) -> str:
    if any(k in node for k in _OBJECT_KEYS):
        return "object"
    if any(k in node for k in _ARRAY_KEYS):
        return "array"
    if any(k in node for k in _NUMBER_KEYS) and not any(k in node for k in _STRING_KEYS):
        return "number"
    return "string"


def _type_of_values(values: list[Any]) -> str:
    kinds: set[str] = set()
    for value in values:
        if isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        elif value is None:
            kinds.add("null")
        elif isinstance(value, dict):
            kinds.add("object")
        else:
            kinds.add("array")
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"integer", "number"}:
        return "number"
    return "string"  # mixed: Kimi tolerates string without cross-checking the enum


def _size(node: Any) -> int:
    return len(json.dumps(node, separators=(",", ":"), ensure_ascii=False).encode())


def shrink_schema(schema: dict[str, Any], limit: int = SIZE_LIMIT) -> bool:
    """Shrink ``schema`` in place until it serialises under ``limit`` bytes; True if it fits."""
    if _size(schema) <= limit:
        return True
    for _ in range(MAX_PASSES):
        if not _hoist_once(schema):
            break
        if _size(schema) <= limit:
            return True
    _drop_nested_docs(schema, top=True)
    return _size(schema) <= limit


def _hoist_once(schema: dict[str, Any]) -> bool:
    """Move the sub-schema whose repetition costs the most into ``$defs``; False if none."""
    counts: dict[str, int] = {}
    _count_fragments(schema, counts, top=True)
    best: str | None = None
    best_saving = 0
    for text, count in counts.items():
        saving = (count - 1) * len(text)
        if count > 1 and len(text) >= MIN_FRAGMENT and saving > best_saving:
            best, best_saving = text, saving
    if best is None:
        return False
    defs = schema.setdefault("$defs", {})
    name = f"d{len(defs)}"
    while name in defs:
        name += "_"
    defs[name] = json.loads(best)
    _replace(schema, best, {"$ref": f"#/$defs/{name}"}, skip=defs)
    return True


def _canon(node: Any) -> str:
    return json.dumps(node, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _count_fragments(node: Any, counts: dict[str, int], *, top: bool = False) -> None:
    if isinstance(node, dict):
        if not top:
            text = _canon(node)
            counts[text] = counts.get(text, 0) + 1
        for key, value in node.items():
            if key not in ("$defs", "definitions", "enum", "const", "examples", "default"):
                _count_fragments(value, counts)
    elif isinstance(node, list):
        for value in node:
            _count_fragments(value, counts)


def _replace(node: Any, text: str, ref: dict[str, str], *, skip: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if value is skip:
                continue
            if isinstance(value, dict) and _canon(value) == text:
                node[key] = dict(ref)
            else:
                _replace(value, text, ref, skip=skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict) and _canon(value) == text:
                node[i] = dict(ref)
            else:
                _replace(value, text, ref, skip=skip)


def _drop_nested_docs(node: Any, *, top: bool = False) -> None:
    if isinstance(node, dict):
        if not top:
            node.pop("examples", None)
            desc = node.get("description")
            if isinstance(desc, str) and len(desc) > 80:
                node["description"] = desc[:77] + "..."
        for value in node.values():
            _drop_nested_docs(value)
    elif isinstance(node, list):
        for value in node:
            _drop_nested_docs(value)
