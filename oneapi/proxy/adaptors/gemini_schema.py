"""JSON schemas cut down to what Gemini accepts (SPEC 6.5), for ``functionDeclarations`` and ``responseSchema``.
Pure.

Gemini's ``Schema`` is a subset of OpenAPI 3.0: unknown keys are refused ("Unknown name ... Cannot find field"),
so everything else (``additionalProperties``, ``$schema``, ``strict``, ``title`` ...) is dropped; local ``$ref``s
are inlined and ``allOf`` flattened; type lists and ``null`` variants become ``nullable``; ``format`` is kept
only where Gemini knows it; non-string enums move into the description (Gemini allows enum on strings only);
``required`` names only properties that exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The OpenAPI subset Gemini's Schema accepts (anything else is "Unknown name ... Cannot find field").
_SCHEMA_KEYS = frozenset({"type", "format", "description", "nullable", "enum", "items", "properties", "required",
                          "anyOf", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength",
                          "pattern", "propertyOrdering"})
_FORMATS = {"string": ("enum", "date-time"), "number": ("float", "double"), "integer": ("int32", "int64")}


def _resolve(schema: dict[str, Any], defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """Inline a local ``$ref`` and flatten ``allOf`` (Gemini has neither)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and depth < 16:
        target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith(("#/$defs/", "#/definitions/")) else None
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**(_resolve(target, defs, depth + 1) if isinstance(target, dict) else {}), **rest}
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in all_of:
            if isinstance(sub, dict):
                sub = _resolve(sub, defs, depth + 1)
                props = {**(merged.get("properties") or {}), **(sub.get("properties") or {})}
                merged = {**sub, **merged, **({"properties": props} if props else {})}
        schema = merged
    return schema


def _variants(value: list[Any], defs: Mapping[str, Any], depth: int) -> tuple[list[dict[str, Any]], bool]:
    nullable = False
    out = []
    for variant in value:
        if isinstance(variant, dict) and variant.get("type") == "null":
            nullable = True
        elif isinstance(variant, dict):
            out.append(clean_schema(variant, defs, depth + 1))
    return out, nullable


def clean_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """A JSON schema cut down to the OpenAPI subset Gemini accepts."""
    if not isinstance(schema, dict) or depth > 32:
        return {}
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    schema = _resolve(schema, defs, depth)
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if kinds else None
    if isinstance(kind, str) and kind != "null":
        out["type"] = kind
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(sub, defs, depth + 1) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = clean_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            variants, nullable = _variants(value, defs, depth)
            out.update({"nullable": True} if nullable else {})
            if len(variants) == 1:
                out = {**variants[0], **out}
            elif variants:
                out["anyOf"] = variants
        elif key in ("enum", "const"):
            values = value if key == "enum" and isinstance(value, list) else [value]
            if None in values:
                out["nullable"] = True
            out["enum"] = [v if isinstance(v, str) else json.dumps(v) for v in values if v is not None]
        elif key == "format":
            if value in _FORMATS.get(str(out.get("type", "")).lower(), ()):
                out[key] = value
        elif key == "nullable" and value is True:
            out[key] = True
        elif key in _SCHEMA_KEYS and key not in out and key not in ("nullable", "type"):
            out[key] = value
    if "enum" in out and str(out.get("type", "string")).lower() != "string":
        choices = ", ".join(out.pop("enum"))  # Gemini allows enum on strings only
        out["description"] = f"{out.get('description', '')} (one of: {choices})".strip()
    if isinstance(out.get("required"), list):
        out["required"] = [r for r in out["required"] if r in (out.get("properties") or {})]
        if not out["required"]:
            del out["required"]
    return out


def is_usable(schema: dict[str, Any]) -> bool:
    """Gemini refuses an OBJECT schema without properties: such a schema is better left out."""
    return bool(schema) and (bool(schema.get("properties")) or str(schema.get("type", "")).lower() != "object")
