"""Proof that the fake DashScope upstream speaks DashScope's published format: the official ``dashscope`` SDK,
pointed at the fake with ``dashscope.base_http_api_url``, is satisfied — Generation (message and text formats,
stream with and without incremental output, tools, plugins), MultiModalConversation, TextEmbedding, errors.

The SDK is synchronous (requests), so it runs in a thread while the fake serves on this loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import dashscope
import pytest
from dashscope import Generation, MultiModalConversation, TextEmbedding

from tests.fakes.ali_upstream import FakeDashScope, start_fake
from tests.fakes.zhipu_upstream import vector

KEY = "sk-ali-fake"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# input_tokens = (3 words + 3) + (3 words + 3) = 12; "echo: Say hello please" is 4 words.


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDashScope]:
    upstream = FakeDashScope({KEY})
    url, stop = await start_fake(upstream)
    monkeypatch.setattr(dashscope, "base_http_api_url", url + "/api/v1")
    yield upstream
    await stop()


async def call(fn: Any, /, **kw: Any) -> Any:
    """Run an SDK call (and drain it when it streams) in a thread."""
    def run() -> Any:
        result = fn(**kw)
        return list(result) if kw.get("stream") else result
    return await asyncio.to_thread(run)


async def test_generation_message_format(fake: FakeDashScope) -> None:
    answer = await call(Generation.call, model="qwen-turbo", api_key=KEY, messages=MESSAGES, result_format="message",
                        top_p=0.8, seed=7)
    assert answer.status_code == 200 and answer.request_id
    assert answer.output.choices[0].message.content == "echo: Say hello please"
    assert answer.output.choices[0].finish_reason == "stop"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 4)
    sent = fake.requests[-1].json()
    assert sent["input"]["messages"] == MESSAGES and sent["parameters"]["seed"] == 7
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_generation_text_format(fake: FakeDashScope) -> None:
    answer = await call(Generation.call, model="qwen-plus", api_key=KEY, prompt="hi there")
    assert answer.output.text == "echo: hi there" and answer.output.finish_reason == "stop"


async def test_incremental_stream(fake: FakeDashScope) -> None:
    events = await call(Generation.call, model="qwen-max", api_key=KEY, messages=MESSAGES, result_format="message",
                        stream=True, incremental_output=True)
    assert all(e.status_code == 200 for e in events)
    pieces = [e.output.choices[0].message.content for e in events]
    assert "".join(pieces) == "echo: Say hello please" and pieces[-1] == ""
    assert [e.output.choices[0].finish_reason for e in events][-1] == "stop"
    assert {e.output.choices[0].finish_reason for e in events[:-1]} == {"null"}
    assert events[-1].usage.output_tokens == 4 and len({e.request_id for e in events}) == 1
    assert fake.requests[-1].headers["x-dashscope-sse"] == "enable"


async def test_cumulative_stream_without_incremental_output(fake: FakeDashScope) -> None:
    events = await call(Generation.call, model="qwen-max", api_key=KEY, messages=MESSAGES, result_format="message",
                        stream=True)
    texts = [e.output.choices[0].message.content for e in events]
    assert texts[-1] == "echo: Say hello please"
    assert all(texts[-1].startswith(t) for t in texts) and len(texts) > 2


async def test_tools_and_plugin_header(fake: FakeDashScope) -> None:
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    answer = await call(Generation.call, model="qwen-plus", api_key=KEY, result_format="message", tools=tools,
                        messages=[{"role": "user", "content": "Paris"}], plugins='{"pdf_extracter": {}}')
    message = answer.output.choices[0].message
    assert answer.output.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls[0]["function"]["name"] == "weather"
    assert json.loads(message.tool_calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert fake.requests[-1].headers["x-dashscope-plugin"] == '{"pdf_extracter": {}}'


async def test_multimodal_conversation(fake: FakeDashScope) -> None:
    messages: Any = [{"role": "user", "content": [{"image": "https://example.com/cat.png"},
                                                  {"text": "what is this"}]}]
    answer = await call(MultiModalConversation.call, model="qwen-vl-plus", api_key=KEY, messages=messages)
    assert answer.status_code == 200
    assert answer.output.choices[0].message.content == [{"text": "echo: what is this"}]


async def test_text_embedding(fake: FakeDashScope) -> None:
    fake.shuffle_embeddings = True
    result = await call(TextEmbedding.call, model="text-embedding-v3", input=["a b", "c"], api_key=KEY,
                        dimension=64)
    assert result.status_code == 200 and result.usage["total_tokens"] == 3
    by_index = {e["text_index"]: e["embedding"] for e in result.output["embeddings"]}
    assert [e["text_index"] for e in result.output["embeddings"]] == [1, 0]
    assert by_index[0] == vector("a b", 64) and len(by_index[1]) == 64


@pytest.mark.parametrize("stream", [False, True])
async def test_wrong_key(fake: FakeDashScope, stream: bool) -> None:
    answer = await call(Generation.call, model="qwen-turbo", api_key="sk-wrong", messages=MESSAGES,
                        result_format="message", stream=stream)
    first = answer[0] if stream else answer
    assert first.status_code == 401 and first.code == "InvalidApiKey"
    assert first.message == "Invalid API-key provided." and first.request_id


@pytest.mark.parametrize(("kw", "message"), [
    ({"top_p": 1.0}, "top_p"),
    ({"temperature": 2.0}, "temperature"),
    ({"model": "qwen-plus-internet"}, "Model not exist"),
])
async def test_invalid_parameters(fake: FakeDashScope, kw: dict[str, Any], message: str) -> None:
    args = {"model": "qwen-plus", "api_key": KEY, "messages": MESSAGES, "result_format": "message", **kw}
    answer = await call(Generation.call, **args)
    assert answer.status_code == 400 and answer.code == "InvalidParameter" and message in answer.message


async def test_scripted_throttling(fake: FakeDashScope) -> None:
    fake.fail_next(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
    answer = await call(Generation.call, model="qwen-plus", api_key=KEY, messages=MESSAGES, result_format="message")
    assert answer.status_code == 429 and answer.code == "Throttling.RateQuota"
