"""End to end: the official openai SDK → oneapi → a Gemini channel (type 24) → the fake Gemini API.

From the client's side nothing tells that the answer came from Gemini: content, finish reasons, tool calls,
images, JSON mode, embeddings (base64 and float) and usage all look like OpenAI's. Billing uses the fake's
``usageMetadata`` (see tests/fakes/gemini_upstream.py for its word-count rules); provider errors come back
OpenAI-shaped with the provider's status, retry on another channel (429) and disable channels (bad key).
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import openai
import pytest

from oneapi.store.queries import channels as channel_q
from tests.fakes.gemini_upstream import BAD_KEY, THOUGHT_TOKENS, FakeGemini, start_fake
from tests.fakes.openai_upstream import embedding_vector, tiny_png
from tests.functional.relay_env import RelayEnv

KEY = "AIza-upstream-key"
MODELS = "gemini-2.0-flash,gemini-2.5-flash,gemini-1.0-pro,text-embedding-004,gemini-9-nope"
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": True,
    "parameters": {"type": "object", "additionalProperties": False, "required": ["city"],
                   "properties": {"city": {"type": "string"},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
TIME: Any = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {"utc_offset": {"type": "integer"}}}}}


async def gemini(relay_env: RelayEnv, *, key: str = KEY, **channel: Any) -> tuple[FakeGemini, int]:
    fake = FakeGemini(keys={KEY})
    url, stop = await start_fake(fake)
    relay_env.stops.append(stop)
    channel_id = await relay_env.add_channel(url, type=24, key=key, models=channel.pop("models", MODELS), **channel)
    return fake, channel_id


async def test_chat_non_stream_billed_from_usage_metadata(relay_env: RelayEnv) -> None:
    await relay_env.set_option("ModelRatio", '{"gemini-2.0-flash": 2}')
    await relay_env.set_option("CompletionRatio", '{"gemini-2.0-flash": 4}')
    fake, channel_id = await gemini(relay_env)
    before = await relay_env.user_row()

    answer = await relay_env.client().chat.completions.create(
        model="gemini-2.0-flash", n=2, temperature=0.5, stop=["never"],
        messages=[{"role": "system", "content": "You are terse"}, {"role": "user", "content": "hello there world"}])
    assert [c.message.content for c in answer.choices] == ["echo: hello there world"] * 2
    assert [c.finish_reason for c in answer.choices] == ["stop", "stop"] and answer.choices[1].index == 1
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    prompt, completion = 3 + 3, 4 * 2  # words of system + user; answer words × 2 candidates
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, completion)

    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent" and sent.headers["x-goog-api-key"] == KEY
    body = sent.json()
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse"}]}
    assert body["generationConfig"] == {"temperature": 0.5, "stopSequences": ["never"], "candidateCount": 2}

    (log,) = await relay_env.consume_logs()
    expected = math.ceil((prompt + completion * 4) * 2)
    assert (log["prompt_tokens"], log["completion_tokens"], log["quota"]) == (prompt, completion, expected)
    assert log["channel_id"] == channel_id and log["model_name"] == "gemini-2.0-flash"
    after = await relay_env.user_row()
    assert before["quota"] - after["quota"] == expected


async def test_stream_usage_chunk_only_with_include_usage(relay_env: RelayEnv) -> None:
    fake, _ = await gemini(relay_env)
    client = relay_env.client()
    messages: Any = [{"role": "user", "content": "count one two three"}]

    stream = await client.chat.completions.create(model="gemini-2.5-flash", stream=True, messages=messages)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: count one two three"
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1
    assert fake.requests[-1].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert fake.requests[-1].query == {"alt": "sse"}

    stream = await client.chat.completions.create(model="gemini-2.5-flash", stream=True, messages=messages,
                                                  stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (4, 5 + THOUGHT_TOKENS)

    logs = await relay_env.consume_logs()
    assert [(log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) for log in logs] == [
        (4, 5 + THOUGHT_TOKENS, True)] * 2


async def test_tool_calls_single_parallel_and_results(relay_env: RelayEnv) -> None:
    fake, _ = await gemini(relay_env)
    client = relay_env.client()
    question: Any = [{"role": "user", "content": "Paris"}]

    single = await client.chat.completions.create(
        model="gemini-2.0-flash", messages=question, tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = single.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    declared = fake.requests[-1].json()["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "additionalProperties" not in declared and "strict" not in json.dumps(declared)

    parallel = await client.chat.completions.create(model="gemini-2.0-flash", messages=question,
                                                    tools=[WEATHER, TIME])
    calls = parallel.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert len({c.id for c in calls}) == 2

    history: Any = [*question, parallel.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'},
                    {"role": "tool", "tool_call_id": calls[1].id, "content": "12:00"}]
    final = await client.chat.completions.create(model="gemini-2.0-flash", messages=history, tools=[WEATHER, TIME])
    assert final.choices[0].message.content == (
        'tool result: get_weather={"temp": 21}; get_time={"content": "12:00"}')
    assert final.choices[0].finish_reason == "stop"
    contents = fake.requests[-1].json()["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]

    stream = await client.chat.completions.create(model="gemini-2.0-flash", messages=question, stream=True,
                                                  tools=[WEATHER, TIME])
    deltas = [c.choices[0] async for c in stream if c.choices]
    streamed = [t for d in deltas for t in d.delta.tool_calls or []]
    assert [(t.index, t.function.name) for t in streamed] == [(0, "get_weather"), (1, "get_time")]  # type: ignore
    assert deltas[-1].finish_reason == "tool_calls"


async def test_image_in_a_message(relay_env: RelayEnv) -> None:
    fake, _ = await gemini(relay_env)
    png = base64.b64encode(tiny_png()).decode()
    answer = await relay_env.client().chat.completions.create(model="gemini-2.0-flash", messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
    assert answer.choices[0].message.content == "echo: What is this? [images: image/png]"
    assert answer.usage is not None and answer.usage.prompt_tokens == 3 + 258
    parts = fake.requests[-1].json()["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": png}}


async def test_json_mode(relay_env: RelayEnv) -> None:
    fake, _ = await gemini(relay_env)
    client = relay_env.client()
    plain = await client.chat.completions.create(model="gemini-2.0-flash", response_format={"type": "json_object"},
                                                 messages=[{"role": "user", "content": "make json"}])
    assert json.loads(plain.choices[0].message.content or "") == {"echo": "make json"}
    assert fake.requests[-1].json()["generationConfig"] == {"responseMimeType": "application/json"}

    schema = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
              "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    typed = await client.chat.completions.create(
        model="gemini-2.0-flash", messages=[{"role": "user", "content": "Ada"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": schema}})
    assert json.loads(typed.choices[0].message.content or "") == {"name": "Ada", "age": 1}
    assert "additionalProperties" not in fake.requests[-1].json()["generationConfig"]["responseSchema"]


async def test_stop_and_max_tokens(relay_env: RelayEnv) -> None:
    await gemini(relay_env)
    client = relay_env.client()
    cut = await client.chat.completions.create(model="gemini-1.0-pro", max_tokens=2,
                                               messages=[{"role": "user", "content": "one two three"}])
    assert cut.choices[0].message.content == "echo: one" and cut.choices[0].finish_reason == "length"
    stopped = await client.chat.completions.create(model="gemini-1.0-pro", stop="two",
                                                   messages=[{"role": "user", "content": "one two three"}])
    assert stopped.choices[0].message.content == "echo: one " and stopped.choices[0].finish_reason == "stop"


async def test_embeddings_base64_default_and_float(relay_env: RelayEnv) -> None:
    fake, _ = await gemini(relay_env)
    client = relay_env.client()
    inputs = ["alpha", "beta gamma", "delta"]
    default = await client.embeddings.create(model="text-embedding-004", input=inputs)  # the SDK asks for base64
    assert fake.requests[-1].path == "/v1/models/text-embedding-004:batchEmbedContents"
    floats = await client.embeddings.create(model="text-embedding-004", input=inputs, encoding_format="float",
                                            dimensions=4)
    for answer, size in ((default, 8), (floats, 4)):
        assert [d.index for d in answer.data] == [0, 1, 2]
        assert [d.embedding for d in answer.data] == [embedding_vector(t, size) for t in inputs]
    logs = await relay_env.consume_logs()
    assert len(logs) == 2 and all(log["prompt_tokens"] > 0 for log in logs)  # counted by the relay


async def test_errors_are_openai_shaped(relay_env: RelayEnv) -> None:
    await gemini(relay_env)
    client = relay_env.client()
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="gemini-9-nope", messages=[{"role": "user", "content": "x"}])
    error = missing.value.body
    assert isinstance(error, dict) and error["type"] == "NOT_FOUND" and error["code"] == "404"
    assert "models/gemini-9-nope is not found" in error["message"] and "(request id: " in error["message"]

    with pytest.raises(openai.BadRequestError) as blocked:
        await client.chat.completions.create(model="gemini-2.0-flash",
                                             messages=[{"role": "user", "content": "BLOCKME please"}])
    assert isinstance(blocked.value.body, dict) and blocked.value.body["code"] == "SAFETY"
    with pytest.raises(openai.BadRequestError) as blocked_stream:  # refused before the stream opens
        await client.chat.completions.create(model="gemini-2.0-flash", stream=True,
                                             messages=[{"role": "user", "content": "BLOCKME please"}])
    assert isinstance(blocked_stream.value.body, dict) and "blockReason SAFETY" in blocked_stream.value.body["message"]
    assert await relay_env.consume_logs() == []


async def test_429_is_retried_on_another_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "1")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    busy, busy_id = await gemini(relay_env, name="busy", priority=10)
    spare, spare_id = await gemini(relay_env, name="spare", priority=0)
    busy.fail_next(429)
    answer = await relay_env.client().chat.completions.create(model="gemini-2.0-flash",
                                                              messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi"
    assert len(busy.requests) == 1 and len(spare.requests) == 1
    (log,) = await relay_env.consume_logs()
    assert log["channel_id"] == spare_id
    channel = relay_env.relay.routes.channel(busy_id)
    assert channel is not None and channel.status == channel_q.STATUS_ENABLED  # 429 does not disable

    await relay_env.set_option("RetryTimes", "0")
    busy.fail_next(429)
    with pytest.raises(openai.RateLimitError) as limited:
        await relay_env.client().chat.completions.create(model="gemini-2.0-flash",
                                                         messages=[{"role": "user", "content": "hi"}])
    assert limited.value.status_code == 429


async def test_invalid_key_disables_the_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await gemini(relay_env, key="AIza-wrong")
    with pytest.raises(openai.BadRequestError) as refused:
        await relay_env.client().chat.completions.create(model="gemini-2.0-flash",
                                                         messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 400
    body = refused.value.body
    assert isinstance(body, dict) and body["message"].startswith(BAD_KEY) and body["type"] == "INVALID_ARGUMENT"
    row = await relay_env.services.store.read(channel_q.get, channel_id)
    assert row is not None and row["status"] == channel_q.STATUS_AUTO_DISABLED
