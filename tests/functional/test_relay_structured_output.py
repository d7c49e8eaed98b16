"""Structured output through translated channels, with the official openai SDK's own helpers as the client:
``client.chat.completions.parse(response_format=<pydantic model>)`` sends a strict ``json_schema`` and validates
the answer against the model; ``client.chat.completions.stream(...)`` does the same over a stream.

Anthropic maps it to a forced tool carrying the schema (the tool's input is the answer), Gemini to
``responseMimeType`` + ``responseSchema``; channels without a JSON mechanism refuse with a 400."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.anthropic_upstream import start_fake as start_anthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import start_fake as start_gemini
from tests.functional.relay_env import RelayEnv
from tests.openai_schema import assert_valid

CLAUDE, GEMINI = "claude-3-5-sonnet-20241022", "gemini-2.0-flash"


class City(BaseModel):
    name: str
    population: int
    capital: bool


async def claude_channel(env: RelayEnv) -> FakeAnthropic:
    fake = FakeAnthropic(keys={"k"})
    url, stop = await start_anthropic(fake)
    env.stops.append(stop)
    await env.add_channel(url, type=14, key="k", models=CLAUDE)
    return fake


async def gemini_channel(env: RelayEnv) -> FakeGemini:
    fake = FakeGemini(keys={"k"})
    url, stop = await start_gemini(fake)
    env.stops.append(stop)
    await env.add_channel(url, type=24, key="k", models=GEMINI)
    return fake


ASK: Any = [{"role": "user", "content": "Paris"}]


async def test_parse_through_an_anthropic_channel(relay_env: RelayEnv) -> None:
    fake = await claude_channel(relay_env)
    completion = await relay_env.client().chat.completions.parse(model=CLAUDE, messages=ASK, response_format=City)
    message = completion.choices[0].message
    assert message.parsed == City(name="Paris", population=1, capital=True)  # the fake fills the schema
    assert completion.choices[0].finish_reason == "stop" and not message.tool_calls
    sent = fake.requests[-1].json()
    (tool,) = sent["tools"]
    assert tool["input_schema"]["required"] == ["name", "population", "capital"]
    assert sent["tool_choice"] == {"type": "tool", "name": tool["name"], "disable_parallel_tool_use": True}


async def test_stream_parse_through_an_anthropic_channel(relay_env: RelayEnv) -> None:
    await claude_channel(relay_env)
    async with relay_env.client().chat.completions.stream(model=CLAUDE, messages=ASK, response_format=City) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.parsed == City(name="Paris", population=1, capital=True)


async def test_json_object_through_an_anthropic_channel(relay_env: RelayEnv) -> None:
    await claude_channel(relay_env)
    answer = await relay_env.client().chat.completions.create(model=CLAUDE, messages=ASK,
                                                              response_format={"type": "json_object"})
    assert answer.choices[0].message.content == "{}"  # any object; the fake has no properties to fill


async def test_parse_through_a_gemini_channel(relay_env: RelayEnv) -> None:
    fake = await gemini_channel(relay_env)
    completion = await relay_env.client().chat.completions.parse(model=GEMINI, messages=ASK, response_format=City)
    assert completion.choices[0].message.parsed == City(name="Paris", population=1, capital=True)
    config = fake.requests[-1].json()["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) == {"name", "population", "capital"}


async def test_stream_parse_through_a_gemini_channel(relay_env: RelayEnv) -> None:
    await gemini_channel(relay_env)
    async with relay_env.client().chat.completions.stream(model=GEMINI, messages=ASK, response_format=City) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.parsed == City(name="Paris", population=1, capital=True)


async def test_a_channel_without_json_mode_refuses_instead_of_answering_prose(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, type=23, key="1|id|secret", models="hunyuan-lite")  # Tencent: no JSON mode
    with pytest.raises(openai.BadRequestError) as caught:
        await relay_env.client().chat.completions.parse(model="hunyuan-lite", messages=ASK, response_format=City)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "response_format_not_supported"
    assert caught.value.body["param"] == "response_format"
    assert fake.requests == []


# -- OpenAI's schema, as a client receives it -------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
async def test_answers_and_chunks_on_the_wire_satisfy_openais_schema(relay_env: RelayEnv, provider: str) -> None:
    model = CLAUDE if provider == "anthropic" else GEMINI
    await (claude_channel if provider == "anthropic" else gemini_channel)(relay_env)
    client = relay_env.client()
    raw = await client.chat.completions.with_raw_response.create(model=model, messages=ASK)
    answer = raw.http_response.json()
    assert_valid(answer, "CreateChatCompletionResponse")
    assert answer["choices"][0]["logprobs"] is None and answer["choices"][0]["message"]["refusal"] is None
    streamed = await client.chat.completions.with_raw_response.create(
        model=model, messages=ASK, stream=True, stream_options={"include_usage": True})
    events = [line[len("data: "):] async for line in streamed.http_response.aiter_lines()
              if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        assert_valid(chunk, "CreateChatCompletionStreamResponse")
    assert chunks[-1]["usage"] is not None and chunks[-1]["choices"] == []
