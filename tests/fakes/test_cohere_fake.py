"""Proof that the fake Cohere upstream speaks Cohere's published API v2: the official ``cohere`` SDK
(``AsyncClientV2`` pointed at the fake with ``base_url``) is satisfied — chat, chat_stream with text and with
tool calls, a tool round trip, embed, and errors raised as the SDK's typed exceptions.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import cohere
import pytest

from tests.fakes.cohere_upstream import FakeCohere, start_fake
from tests.fakes.zhipu_upstream import vector

KEY = "co-fake-key"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# billed input = 3 + 3 words = 6; "echo: Say hello please" is 4 words.
TOOLS: Any = [{"type": "function", "function": {"name": "weather", "description": "the weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeCohere, cohere.AsyncClientV2]]:
    upstream = FakeCohere({KEY})
    url, stop = await start_fake(upstream)
    client = cohere.AsyncClientV2(api_key=KEY, base_url=url)
    yield upstream, client
    await stop()


async def test_chat(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    upstream, client = fake
    answer = await client.chat(model="command-r-plus-08-2024", messages=MESSAGES, temperature=0.3, p=0.5, k=10,
                               max_tokens=50, stop_sequences=["END"], seed=7)
    assert answer.finish_reason == "COMPLETE" and answer.id
    assert answer.message.content is not None and answer.message.content[0].type == "text"
    assert answer.message.content[0].text == "echo: Say hello please"
    assert answer.usage is not None and answer.usage.billed_units is not None
    assert (answer.usage.billed_units.input_tokens, answer.usage.billed_units.output_tokens) == (6, 4)
    seen = upstream.requests[-1]
    assert seen.path == "/v2/chat" and seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.json()["messages"] == MESSAGES and seen.json()["p"] == 0.5


async def test_max_tokens_cuts_the_answer(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    _, client = fake
    answer = await client.chat(model="command-a-03-2025", messages=MESSAGES, max_tokens=2)
    assert answer.finish_reason == "MAX_TOKENS" and answer.message.content is not None
    assert answer.message.content[0].text == "echo: Say"


async def test_chat_stream(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    _, client = fake
    events = [e async for e in client.chat_stream(model="command-r-08-2024", messages=MESSAGES)]
    kinds = [e.type for e in events]
    assert kinds[0] == "message-start" and kinds[1] == "content-start" and kinds[-2:] == ["content-end",
                                                                                       "message-end"]
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")  # type: ignore[union-attr]
    assert text == "echo: Say hello please"
    end: Any = events[-1]
    assert end.delta.finish_reason == "COMPLETE" and end.delta.usage.billed_units.output_tokens == 4


async def test_tool_call_and_result(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    _, client = fake
    messages: Any = [{"role": "user", "content": "Paris"}]
    answer = await client.chat(model="command-a-03-2025", messages=messages, tools=TOOLS)
    assert answer.finish_reason == "TOOL_CALL" and answer.message.tool_calls
    call = answer.message.tool_calls[0]
    assert call.function is not None and call.function.name == "weather"
    assert json.loads(call.function.arguments or "") == {"city": "Paris"} and answer.message.tool_plan
    follow_up: Any = [
        *messages, {"role": "assistant", "tool_calls": [call.model_dump()], "tool_plan": answer.message.tool_plan},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    answer = await client.chat(model="command-a-03-2025", messages=follow_up, tools=TOOLS)
    assert answer.message.content is not None and answer.message.content[0].text == "tool said: sunny"  # type: ignore[union-attr]


async def test_tool_call_stream(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    _, client = fake
    events: Any = [e async for e in client.chat_stream(model="command-a-03-2025", tools=TOOLS, tool_choice="REQUIRED",
                                                       messages=[{"role": "user", "content": "Paris"}])]
    start = next(e for e in events if e.type == "tool-call-start")
    arguments = start.delta.message.tool_calls.function.arguments + "".join(
        e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta")
    assert start.delta.message.tool_calls.function.name == "weather" and start.delta.message.tool_calls.id
    assert json.loads(arguments) == {"city": "Paris"} and events[-1].delta.finish_reason == "TOOL_CALL"


async def test_embed(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    upstream, client = fake
    result = await client.embed(model="embed-v4.0", texts=["a b", "c"], input_type="search_document",
                                embedding_types=["float"], output_dimension=256)
    assert result.embeddings.float_ == [vector("a b", 256), vector("c", 256)]
    assert result.meta is not None and result.meta.billed_units is not None
    assert result.meta.billed_units.input_tokens == 3
    assert upstream.requests[-1].path == "/v2/embed"


async def test_wrong_key() -> None:
    url, stop = await start_fake(FakeCohere({KEY}))
    try:
        with pytest.raises(cohere.UnauthorizedError) as raised:
            await cohere.AsyncClientV2(api_key="wrong", base_url=url).chat(model="command-r", messages=MESSAGES)
        assert raised.value.body["message"] == "invalid api token"
    finally:
        await stop()


@pytest.mark.parametrize(("kw", "error"), [
    ({"p": 1.0}, cohere.BadRequestError),
    ({"tool_choice": "REQUIRED"}, cohere.BadRequestError),
    ({"model": "gpt-4o"}, cohere.NotFoundError),
])
async def test_refusals(fake: tuple[FakeCohere, cohere.AsyncClientV2], kw: dict[str, Any], error: type) -> None:
    _, client = fake
    with pytest.raises(error) as raised:
        await client.chat(**{"model": "command-r", "messages": MESSAGES, **kw})
    assert isinstance(raised.value.body, dict) and raised.value.body["message"]  # type: ignore[attr-defined]


async def test_scripted_rate_limit(fake: tuple[FakeCohere, cohere.AsyncClientV2]) -> None:
    upstream, client = fake
    upstream.fail_next(429, "You are using a Trial key, which is limited to 10 API calls / minute.")
    with pytest.raises(cohere.TooManyRequestsError):  # the SDK retries a 429 unless told not to
        await client.chat(model="command-r", messages=MESSAGES, request_options={"max_retries": 0})
