"""End to end with the official openai SDK through oneapi to the fake Vertex AI (channel type 42): the service
account's JWT exchanged for an access token (cached, one exchange shared by simultaneous requests, exchanged
again when Vertex refuses it), Gemini through generateContent / streamGenerateContent and Claude through
rawPredict / streamRawPredict with usage from the answers, a key Google refuses disabling the channel, and
models Vertex channels do not serve.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from oneapi.store.queries import channels as channel_q
from tests.fakes.vertex_upstream import PROJECT, FakeVertex, new_account, start_fake
from tests.fakes.zhipu_upstream import vector
from tests.functional.relay_env import RelayEnv

VERTEX = 42
GEMINI = "gemini-2.0-flash-001"
CLAUDE = "claude-3-5-sonnet-v2@20241022"
MESSAGES: Any = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hello please"}]
# prompt = "Be brief" (2) + "Say hello please" (3) = 5 words; the echo "echo: Say hello please" is 4.


async def vertex(env: RelayEnv, account: dict[str, Any] | None = None, region: str = "us-central1",
                 models: str = f"{GEMINI},{CLAUDE},gpt-4o") -> tuple[FakeVertex, int]:
    fake = FakeVertex()
    url, own_account, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=VERTEX, key=json.dumps(account or own_account), models=models,
                                       config=json.dumps({"region": region, "vertex_ai_project_id": PROJECT}))
    return fake, channel_id


async def test_gemini_with_an_exchanged_token(relay_env: RelayEnv) -> None:
    fake, channel_id = await vertex(relay_env)
    answer = await relay_env.client().chat.completions.create(model=GEMINI, messages=MESSAGES, temperature=0.3)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 4)
    path, headers, body = fake.requests[-1]
    assert path == f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{GEMINI}:generateContent"
    assert headers["authorization"].startswith("Bearer ya29.") and fake.exchanges == 1
    sent = json.loads(body)
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief"}]}
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Say hello please"}]}]
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (5, 4, channel_id)


async def test_gemini_stream(relay_env: RelayEnv) -> None:
    fake, _ = await vertex(relay_env)
    stream = await relay_env.client().chat.completions.create(model=GEMINI, messages=MESSAGES, stream=True,
                                                              stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage] == [(5, 4)]
    assert fake.requests[-1][0].endswith(f"{GEMINI}:streamGenerateContent?alt=sse")


@pytest.mark.parametrize("stream", [False, True])
async def test_claude_through_raw_predict(relay_env: RelayEnv, stream: bool) -> None:
    fake, _ = await vertex(relay_env, region="us-east5")
    result: Any = await relay_env.client().chat.completions.create(model=CLAUDE, messages=MESSAGES, stream=stream,
                                                                   max_tokens=64)
    if stream:
        text = "".join([c.choices[0].delta.content or "" async for c in result if c.choices])
    else:
        text = result.choices[0].message.content
        assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 4)
    assert text == "echo: Say hello please"
    path, _, body = fake.requests[-1]
    action = "streamRawPredict" if stream else "rawPredict"
    assert path == f"/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models/{CLAUDE}:{action}"
    sent = json.loads(body)
    assert sent["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent
    assert sent["system"] == "Be brief" and sent["max_tokens"] == 64
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (5, 4)


async def test_one_exchange_is_shared_and_cached(relay_env: RelayEnv) -> None:
    fake, _ = await vertex(relay_env)
    client = relay_env.client()
    answers = await asyncio.gather(*(client.chat.completions.create(model=GEMINI, messages=MESSAGES)
                                     for _ in range(6)))
    assert {a.choices[0].message.content for a in answers} == {"echo: Say hello please"}
    await client.chat.completions.create(model=CLAUDE, messages=MESSAGES)
    assert fake.exchanges == 1


async def test_a_revoked_token_is_exchanged_again(relay_env: RelayEnv) -> None:
    fake, _ = await vertex(relay_env)
    client = relay_env.client()
    await client.chat.completions.create(model=GEMINI, messages=MESSAGES)
    fake.revoke_tokens()
    answer = await client.chat.completions.create(model=GEMINI, messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: Say hello please" and fake.exchanges == 2


async def test_a_refused_service_account_disables_the_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    stranger, _ = new_account("http://127.0.0.1:9/token")
    fake = FakeVertex()
    url, _, stop = await start_fake(fake)
    relay_env.stops.append(stop)
    stranger["token_uri"] = fake.token_uri
    channel_id = await relay_env.add_channel(url, type=VERTEX, key=json.dumps(stranger), models=GEMINI,
                                             config=json.dumps({"vertex_ai_project_id": PROJECT}))
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model=GEMINI, messages=MESSAGES)
    error = raised.value.response.json()["error"]
    assert error["type"] == "vertex_error" and "Invalid JWT" in error["message"]
    assert "PRIVATE KEY" not in json.dumps(error)
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED


async def test_models_vertex_channels_do_not_serve(relay_env: RelayEnv) -> None:
    fake, _ = await vertex(relay_env)
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "gemini-* and claude-*" in raised.value.response.json()["error"]["message"]
    assert fake.requests == []


TOOLS: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_tool_calls_and_the_result(relay_env: RelayEnv, stream: bool) -> None:
    fake, _ = await vertex(relay_env)
    client = relay_env.client()
    result: Any = await client.chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": "Paris"}],
                                                       tools=TOOLS, stream=stream)
    if stream:
        calls = [tc async for c in result if c.choices for tc in c.choices[0].delta.tool_calls or []]
        call_id, name, arguments = calls[0].id, calls[0].function.name, calls[0].function.arguments
    else:
        call = result.choices[0].message.tool_calls[0]
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert name == "weather" and json.loads(arguments) == {"city": "Paris"}
    sent = json.loads(fake.requests[-1][2])
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "weather"
    follow_up: Any = [{"role": "user", "content": "Paris"},
                      {"role": "assistant", "content": None, "tool_calls": [
                          {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
                      {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]
    answer = await client.chat.completions.create(model=GEMINI, messages=follow_up, tools=TOOLS)
    assert (answer.choices[0].message.content or "").startswith("tool said:")
    assert "sunny" in (answer.choices[0].message.content or "")


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embeddings_through_predict(relay_env: RelayEnv, encoding: str) -> None:
    fake, channel_id = await vertex(relay_env, models="text-embedding-005")
    kw: Any = {"encoding_format": "float"} if encoding == "float" else {}
    result = await relay_env.client().embeddings.create(model="text-embedding-005", input=["a b", "c"],
                                                        dimensions=16, **kw)
    assert result.data[0].embedding == vector("a b", 16) and result.data[1].embedding == vector("c", 16)
    assert result.usage.prompt_tokens == 3
    path, _, body = fake.requests[-1]
    assert path == f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/text-embedding-005:predict"
    assert json.loads(body) == {"instances": [{"content": "a b"}, {"content": "c"}],
                                "parameters": {"outputDimensionality": 16}}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (3, 0, channel_id)
