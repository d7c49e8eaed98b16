"""End to end with the official openai SDK through oneapi to the fake Cohere upstream (channel type 35): chat
with a system message, streams (with and without the usage chunk), tool calls and a tool round trip, embeddings
in both encodings, billing from Cohere's billed units, refusals before any call (n > 1, ``-internet``), an
error ending a stream, and Cohere's errors as OpenAI-shaped ``cohere_error`` errors.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.cohere_upstream import CHAT_PATH, EMBED_PATH, FakeCohere, start_fake
from tests.fakes.zhipu_upstream import vector
from tests.functional.relay_env import RelayEnv

COHERE = 35
KEY = "co-channel-key"
MODELS = "command-r-plus-08-2024,command-a-03-2025,command-r-internet,embed-v4.0"
SYSTEM_AND_USER: Any = [{"role": "system", "content": "You are terse"},
                        {"role": "user", "content": "Say hello please"}]
# billed input = 3 + 3 words = 6; the echo "echo: Say hello please" is 4 words.
TOOLS: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


async def cohere(env: RelayEnv, key: str = KEY, **channel: Any) -> tuple[FakeCohere, int]:
    fake = FakeCohere({KEY})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=COHERE, key=key, models=channel.pop("models", MODELS), **channel)
    return fake, channel_id


def expected_quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    return pricing.text_quota(pricing.price_for(env.relay.prices(), model, COHERE, "default"), prompt, completion)


async def test_chat_is_billed_from_cohere_billed_units(relay_env: RelayEnv) -> None:
    fake, channel_id = await cohere(relay_env)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(
        model="command-r-plus-08-2024", messages=SYSTEM_AND_USER, top_p=1, temperature=0.5, seed=42, stop=["END"],
        max_tokens=30, frequency_penalty=-1)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "command-r-plus-08-2024"
    assert answer.id.startswith("chatcmpl-")
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 4)

    seen = fake.requests[-1]
    assert seen.path == CHAT_PATH and seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.json() == {"model": "command-r-plus-08-2024", "messages": SYSTEM_AND_USER, "max_tokens": 30,
                           "stop_sequences": ["END"], "temperature": 0.5, "seed": 42, "frequency_penalty": 0.0,
                           "p": 0.99}

    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (6, 4, "command-r-plus-08-2024")
    assert log["channel_id"] == channel_id
    assert log["quota"] == expected_quota(relay_env, "command-r-plus-08-2024", 6, 4) > 0
    assert before["quota"] - (await relay_env.user_row())["quota"] == log["quota"]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await cohere(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(model="command-a-03-2025", messages=SYSTEM_AND_USER,
                                                              stream=True, **extra)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[0].choices[0].delta.role == "assistant"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == ([(6, 4)] if include_usage else [])
    seen = fake.requests[-1]
    assert seen.headers["accept"] == "text/event-stream" and seen.json()["stream"] is True
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (6, 4, True)


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(relay_env: RelayEnv, stream: bool) -> None:
    fake, _ = await cohere(relay_env)
    result: Any = await relay_env.client().chat.completions.create(
        model="command-a-03-2025", messages=[{"role": "user", "content": "Paris"}], tools=TOOLS,
        tool_choice="required", stream=stream)
    if stream:
        chunks = [c async for c in result]
        calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert calls[0].index == 0 and calls[0].id and calls[0].type == "function"
        name = calls[0].function.name
        arguments = "".join(c.function.arguments or "" for c in calls)
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        call = result.choices[0].message.tool_calls[0]
        name, arguments = call.function.name, call.function.arguments
        assert result.choices[0].finish_reason == "tool_calls" and result.choices[0].message.content is None
    assert name == "weather" and json.loads(arguments or "") == {"city": "Paris"}
    sent = fake.requests[-1].json()
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "REQUIRED"
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (1, 2)  # "Paris"; the arguments {"city": "Paris"}


async def test_tool_round_trip(relay_env: RelayEnv) -> None:
    fake, _ = await cohere(relay_env)
    client = relay_env.client()
    first = await client.chat.completions.create(model="command-a-03-2025", tools=TOOLS,
                                                 messages=[{"role": "user", "content": "Paris"}])
    message = first.choices[0].message
    assert message.tool_calls
    call = message.tool_calls[0]
    follow_up: Any = [{"role": "user", "content": "Paris"}, message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    answer = await client.chat.completions.create(model="command-a-03-2025", tools=TOOLS, messages=follow_up)
    assert answer.choices[0].message.content == "tool said: sunny"
    sent = fake.requests[-1].json()["messages"]
    assert sent[1] == {"role": "assistant", "tool_calls": [{"id": call.id, "type": "function", "function": {
        "name": "weather", "arguments": call.function.arguments}}]}  # type: ignore[union-attr]
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embeddings_in_both_encodings(relay_env: RelayEnv, encoding: str) -> None:
    fake, _ = await cohere(relay_env)
    kw: Any = {"encoding_format": "float"} if encoding == "float" else {}
    result = await relay_env.client().embeddings.create(model="embed-v4.0", input=["a b", "c d e"], dimensions=256,
                                                        **kw)
    assert result.data[0].embedding == vector("a b", 256) and result.data[1].embedding == vector("c d e", 256)
    assert result.model == "embed-v4.0" and result.usage.prompt_tokens == 5
    seen = fake.requests[-1]
    assert seen.path == EMBED_PATH
    assert seen.json() == {"model": "embed-v4.0", "texts": ["a b", "c d e"], "input_type": "search_document",
                           "embedding_types": ["float"], "output_dimension": 256}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (5, 0)


async def test_input_type_from_the_client(relay_env: RelayEnv) -> None:
    fake, _ = await cohere(relay_env)
    await relay_env.client().embeddings.create(model="embed-v4.0", input="a query",
                                               extra_body={"input_type": "search_query"})
    assert fake.requests[-1].json()["input_type"] == "search_query"


@pytest.mark.parametrize(("kw", "phrase"), [
    ({"n": 2}, "n=2 is not supported"),
    ({"model": "command-r-internet"}, "web-search connector"),
])
async def test_refused_before_any_call(relay_env: RelayEnv, kw: dict[str, Any], phrase: str) -> None:
    fake, _ = await cohere(relay_env)
    before = await relay_env.user_row()
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().chat.completions.create(**{"model": "command-a-03-2025",
                                                            "messages": SYSTEM_AND_USER, **kw})
    assert phrase in raised.value.response.json()["error"]["message"]
    assert fake.requests == [] and (await relay_env.user_row())["quota"] == before["quota"]


async def test_an_error_ending_a_stream_is_reported_after_the_text(relay_env: RelayEnv) -> None:
    fake, _ = await cohere(relay_env)
    fake.end_with_error = True
    stream = await relay_env.client().chat.completions.create(model="command-a-03-2025", messages=SYSTEM_AND_USER,
                                                              stream=True)
    text = ""
    with pytest.raises(openai.APIError) as raised:
        async for c in stream:
            text += c.choices[0].delta.content or "" if c.choices else ""
    assert text == "echo: Say hello please" and "internal error while generating" in raised.value.message
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (6, 4)  # what was delivered, from billed units


@pytest.mark.parametrize("stream", [False, True])
async def test_wrong_key_is_a_cohere_error_and_disables_the_channel(relay_env: RelayEnv, stream: bool) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await cohere(relay_env, key="co-wrong")
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model="command-a-03-2025", messages=SYSTEM_AND_USER,
                                                         stream=stream)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("cohere_error", "invalid_api_key")
    assert error["message"].startswith("invalid api token")
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED


async def test_rate_limit_is_retried_on_another_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "1")
    fake, first = await cohere(relay_env, priority=10)
    fake.fail_next(429, "You are using a Trial key, which is limited to 10 API calls / minute.")
    _, second = await cohere(relay_env)
    answer = await relay_env.client().chat.completions.create(model="command-a-03-2025", messages=SYSTEM_AND_USER)
    assert answer.choices[0].message.content == "echo: Say hello please"
    [log] = await relay_env.consume_logs()
    assert log["channel_id"] == second != first
