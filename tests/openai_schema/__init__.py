"""OpenAI's published schemas for what oneapi answers, vendored (``openai_schema.json``; its ``$comment`` names
the openai/openai-openapi commit it was cut from by ``extract.py``), and a validator for tests.

:func:`schema_errors` returns the violations of one object against a named schema (empty: valid);
:func:`answer_schema` picks the schema of an OpenAI object by its ``object`` field.
"""

from __future__ import annotations

import base64
import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).with_name("openai_schema.json")

# An answer's ``object`` → the schema it must satisfy.
BY_OBJECT = {"chat.completion": "CreateChatCompletionResponse",
             "chat.completion.chunk": "CreateChatCompletionStreamResponse",
             "text_completion": "CreateCompletionResponse"}


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return document


@cache
def _validator(name: str) -> Draft202012Validator:
    document = _document()
    schema = {"$schema": document["$schema"], "$defs": document["$defs"], "$ref": f"#/$defs/{name}"}
    return Draft202012Validator(schema)


def schema_errors(obj: Any, name: str) -> list[str]:
    """Every violation of ``obj`` against the schema ``name``, as ``path: message`` lines."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in _validator(name).iter_errors(obj)]


def answer_schema(obj: dict[str, Any]) -> str | None:
    """The schema of an OpenAI answer object, by its ``object`` field (embeddings lists by their items)."""
    kind = obj.get("object")
    if kind == "list" and isinstance(obj.get("data"), list) and "usage" in obj:
        return "CreateEmbeddingResponse"
    return BY_OBJECT.get(str(kind))


def _float_embeddings(obj: dict[str, Any]) -> dict[str, Any]:
    """The schema documents embeddings only as float arrays; ``encoding_format: base64`` (the SDK's default)
    answers the same floats packed as a little-endian float32 string. Unpacked, the answer is checked as floats."""
    data = []
    for item in obj.get("data") or []:
        if isinstance(item, dict) and isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"], validate=True)
            item = {**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))}
        data.append(item)
    return {**obj, "data": data}


def assert_valid(obj: Any, name: str | None = None) -> None:
    """Fails with every violation when ``obj`` does not satisfy its schema (by default: by its ``object``)."""
    name = name or answer_schema(obj)
    assert name is not None, f"no schema for {obj!r:.200}"
    if name == "CreateEmbeddingResponse":
        obj = _float_embeddings(obj)
    errors = schema_errors(obj, name)
    assert not errors, f"{name}: " + "; ".join(errors)
