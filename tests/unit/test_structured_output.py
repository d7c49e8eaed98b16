"""``response_format`` reaches each provider through its own JSON mechanism (the adaptors' ``build``), and every
adaptor's declaration (``response_formats``) matches what its ``build`` does with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.anthropic import ANSWER_TOOL
from oneapi.proxy.adaptors.base import RelayRequest
from oneapi.services.routing import route_channel

SCHEMA: Any = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
JSON_SCHEMA: Any = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}
JSON_OBJECT: Any = {"type": "json_object"}


def build(channel_type: int, key: str, model: str, fmt: Any) -> dict[str, Any]:
    data = {"model": model, "messages": [{"role": "user", "content": "answer in JSON"}], "response_format": fmt}
    request = RelayRequest(mode="chat", path="/v1/chat/completions", query="", body=json.dumps(data).encode(),
                           json=data, model=model, upstream_model=model, stream=False,
                           content_type="application/json", accept="", credential="access-token")
    channel = route_channel({"id": 1, "type": channel_type, "name": "c", "key": key, "base_url": "",
                                     "status": 1, "models": model, "group": "default"})
    adaptor = adaptor_for(channel_type)
    assert adaptor is not None
    body: dict[str, Any] = json.loads(adaptor.build(channel, request).body)
    return body


def test_anthropic_forces_the_answer_tool() -> None:
    body = build(14, "sk-ant", "claude-3-5-haiku-20241022", JSON_SCHEMA)
    assert body["tools"][-1]["input_schema"] == SCHEMA and body["tool_choice"]["name"] == ANSWER_TOOL


@pytest.mark.parametrize(("fmt", "expected"), [
    (JSON_OBJECT, {"responseMimeType": "application/json"}),
    (JSON_SCHEMA, {"responseMimeType": "application/json", "responseSchema": SCHEMA}),
])
def test_gemini_response_schema(fmt: Any, expected: dict[str, Any]) -> None:
    assert build(24, "AIza", "gemini-2.0-flash", fmt)["generationConfig"] == expected


def test_zhipu_json_mode() -> None:
    assert build(16, "id.secret", "glm-4-plus", JSON_OBJECT)["response_format"] == JSON_OBJECT


@pytest.mark.parametrize("fmt", [JSON_OBJECT, JSON_SCHEMA])
def test_qwen_response_format(fmt: Any) -> None:
    assert build(17, "sk-dashscope", "qwen-plus", fmt)["parameters"]["response_format"] == fmt


def test_ernie_json_mode() -> None:
    assert build(15, "ak|sk", "ERNIE-3.5-8K", JSON_OBJECT)["response_format"] == "json_object"


@pytest.mark.parametrize("channel_type", [11, 14, 15, 16, 17, 18, 23, 24])
def test_every_translating_adaptor_declares_text(channel_type: int) -> None:
    adaptor = adaptor_for(channel_type)
    assert adaptor is not None and "text" in adaptor.response_formats
