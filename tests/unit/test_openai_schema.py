"""Every answer and chunk the translating adaptors produce satisfies OpenAI's published schema.

The adaptor tests assert that each adaptor turns the provider halves of ``golden/<provider>/*`` into exactly the
OpenAI objects stored beside them; this module checks each of those stored objects (every ``chat.completion``,
``chat.completion.chunk`` and embeddings list anywhere in a golden file) against the schemas vendored from
openai/openai-openapi (tests/openai_schema). Together: every translated answer and chunk is schema-valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.openai_schema import answer_schema, assert_valid, schema_errors

GOLDEN = Path(__file__).parent / "golden"
# Where a golden file keeps what the adaptor produces (the other keys hold the provider's side, which may
# look like an OpenAI object: Baidu's answers call themselves "chat.completion").
PRODUCED = ("expected", "openai", "chunks")


def answers(node: Any) -> Iterator[dict[str, Any]]:
    """The OpenAI answer objects anywhere in a golden file."""
    if isinstance(node, dict):
        if answer_schema(node) is not None:
            yield node
            return
        for value in node.values():
            yield from answers(value)
    elif isinstance(node, list):
        for value in node:
            yield from answers(value)


def produced(path: Path) -> list[dict[str, Any]]:
    """What a translating adaptor produced, in an adaptor's golden file. (The inbound formats' goldens, under
    ``*_inbound``, hold OpenAI answers as their input, and Anthropic's or Gemini's as their output.)"""
    if path.parent.name.endswith("_inbound"):
        return []
    case = json.loads(path.read_text())
    return [obj for key in PRODUCED for obj in answers(case.get(key))]


GOLDEN_FILES = sorted(p for p in GOLDEN.rglob("*.json") if produced(p))


def test_the_golden_files_hold_answers_and_chunks_of_every_translating_provider() -> None:
    providers = {p.parent.name for p in GOLDEN_FILES}
    assert providers == {"ali", "anthropic", "aws", "baidu", "cohere", "coze", "deepl", "gemini", "replicate",
                         "tencent", "xunfei", "zhipu"}
    kinds = {obj["object"] for p in GOLDEN_FILES for obj in produced(p)}
    assert {"chat.completion", "chat.completion.chunk"} <= kinds


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_golden_answer_satisfies_openais_schema(path: Path) -> None:
    for obj in produced(path):
        assert_valid(obj)


def test_the_validator_refuses_what_the_schema_refuses() -> None:
    good = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": "hi", "refusal": None}}]}
    assert schema_errors(good, "CreateChatCompletionResponse") == []
    del good["choices"][0]["logprobs"]  # type: ignore[index]
    assert any("logprobs" in e for e in schema_errors(good, "CreateChatCompletionResponse"))
