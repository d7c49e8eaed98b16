"""Cut the schemas oneapi's answers must satisfy out of OpenAI's OpenAPI document (openai/openai-openapi).

Run by hand when the document moves on, never by the tests (nothing is downloaded at test time):

    git -C <clone of openai/openai-openapi> show <commit>:openapi.json > /tmp/openapi.json
    python -m tests.openai_schema.extract /tmp/openapi.json <commit> > tests/openai_schema/openai_schema.json

What is kept: the roots below and every component they reference, with descriptions, examples and ``x-*``
extensions removed (they do not constrain anything) and OpenAPI's ``nullable: true`` (left on a few schemas
of the 3.1 document) turned into JSON Schema's ``null`` type, so that a plain Draft 2020-12 validator reads it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

ROOTS = ("CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "CreateEmbeddingResponse",
         "CreateCompletionResponse", "ErrorResponse", "Model", "ListModelsResponse")
DROP = {"description", "example", "examples", "title", "deprecated", "format"}


def _clean(node: Any, refs: set[str]) -> Any:
    if isinstance(node, list):
        return [_clean(v, refs) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROP or key.startswith("x-") or key == "nullable":
            continue
        if key == "$ref":
            name = value.rsplit("/", 1)[-1]
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key == "properties":  # property names are data, not keywords: keep "description", "format"...
            out[key] = {name: _clean(schema, refs) for name, schema in value.items()}
        else:
            out[key] = _clean(value, refs)
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "enum" in out:
            out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if "enum" in out and isinstance(out.get("type"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None] if "null" in out["type"] else out["enum"]
    return out


def extract(document: dict[str, Any], commit: str) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    defs: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        refs: set[str] = set()
        defs[name] = _clean(schemas[name], refs)
        todo.extend(sorted(refs - defs.keys()))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": f"Cut from github.com/openai/openai-openapi openapi.json at commit {commit} "
                        f"(OpenAPI {document.get('openapi')}, API version {document['info'].get('version')}) "
                        "by tests/openai_schema/extract.py; MIT licensed, (c) OpenAI.",
            "$defs": dict(sorted(defs.items()))}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    json.dump(extract(doc, sys.argv[2]), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
