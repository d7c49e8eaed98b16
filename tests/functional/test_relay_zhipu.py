"""End to end with the official openai SDK through oneapi to the fake Zhipu upstream (channel type 16):
v4 chat (with a system message) and streams, v3 ``chatglm_*`` invoke / sse-invoke, embeddings (base64 and
float), billing from Zhipu's usage, the JWT the relay signs, and Zhipu's refusals as OpenAI-shaped errors.

The fake runs with ``jwt_only=True``: a raw ``id.secret`` key is refused, so every success proves the relay
signed a valid JWT (HS256, millisecond ``exp``/``timestamp``).
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.zhipu_upstream import FakeZhipu, start_fake, vector
from tests.functional.relay_env import RelayEnv

ZHIPU = 16
KEY = "zhipu-id.zhipu-secret"
MODELS = "glm-4,glm-4-flash,chatglm_turbo,embedding-3,codegeex-4"
SYSTEM_AND_USER: Any = [{"role": "system", "content": "You are terse"},
                        {"role": "user", "content": "Say hello please"}]
# prompt_tokens = (3 words + 3) + (3 words + 3) = 12; the echo "echo: Say hello please" is 4 words.


async def zhipu(env: RelayEnv, key: str = KEY, **channel: Any) -> tuple[FakeZhipu, int]:
    fake = FakeZhipu({"zhipu-id": "zhipu-secret"}, jwt_only=True)
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=ZHIPU, key=key, models=channel.pop("models", MODELS), **channel)
    return fake, channel_id


def expected_quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    return pricing.text_quota(pricing.price_for(env.relay.prices(), model, ZHIPU, "default"), prompt, completion)


async def test_v4_chat_with_a_system_message_is_billed_from_zhipus_usage(relay_env: RelayEnv) -> None:
    fake, channel_id = await zhipu(relay_env)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER,
                                                              temperature=1.5, top_p=1, n=1, max_tokens=50)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "glm-4"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 4)

    seen = fake.requests[-1]
    assert seen.path == "/api/paas/v4/chat/completions" and seen.auth_kind == "jwt"
    assert seen.headers["authorization"].startswith("Bearer ey")
    body = seen.json()
    assert body["messages"] == SYSTEM_AND_USER and body["model"] == "glm-4"
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.99, 0.99, 50)  # into (0, 1)
    assert "n" not in body and "stream" not in body

    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (12, 4, "glm-4")
    assert log["channel_id"] == channel_id and log["quota"] == expected_quota(relay_env, "glm-4", 12, 4) > 0
    assert before["quota"] - (await relay_env.user_row())["quota"] == log["quota"]


async def test_temperature_zero_means_greedy_and_the_jwt_is_reused(relay_env: RelayEnv) -> None:
    fake, _ = await zhipu(relay_env)
    client = relay_env.client()
    for _ in range(2):
        await client.chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER, temperature=0)
    first, second = fake.requests
    assert first.json()["do_sample"] is False and first.json()["temperature"] == 0.01
    assert first.headers["authorization"] == second.headers["authorization"]  # cached per key
    assert first.jwt_payload is not None and first.jwt_payload["api_key"] == "zhipu-id"


@pytest.mark.parametrize("include_usage", [False, True])
async def test_v4_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await zhipu(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER,
                                                              stream=True, **extra)
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: Say hello please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0].choices == []
        assert (usage_chunks[0].usage.prompt_tokens, usage_chunks[0].usage.completion_tokens) == (12, 4)
    else:
        assert usage_chunks == []
    assert fake.requests[-1].json()["stream"] is True and "stream_options" not in fake.requests[-1].json()
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (12, 4, True)


async def test_v4_tool_call_streams_with_an_index(relay_env: RelayEnv) -> None:
    await zhipu(relay_env)
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    stream = await relay_env.client().chat.completions.create(
        model="glm-4", messages=[{"role": "user", "content": "Paris"}], tools=tools, tool_choice="required",
        stream=True)
    chunks = [c async for c in stream]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].id
    assert calls[0].function is not None and calls[0].function.name == "weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_an_error_inside_a_stream_ends_it_with_an_error_event(relay_env: RelayEnv) -> None:
    fake, _ = await zhipu(relay_env)
    fake.stream_error_next("1301")
    stream = await relay_env.client().chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER,
                                                              stream=True)
    with pytest.raises(openai.APIError) as raised:
        async for _ in stream:
            pass
    assert "不安全或敏感内容" in raised.value.message


async def test_v3_chatglm_invoke_folds_the_system_message(relay_env: RelayEnv) -> None:
    fake, _ = await zhipu(relay_env)
    fake.reply_text('He said "hi"\nthen left')
    answer = await relay_env.client().chat.completions.create(model="chatglm_turbo", messages=SYSTEM_AND_USER,
                                                              temperature=0)
    assert answer.choices[0].message.content == 'He said "hi"\nthen left'  # the JSON literal decoded
    assert answer.model == "chatglm_turbo" and answer.choices[0].finish_reason == "stop"
    seen = fake.requests[-1]
    assert seen.path == "/api/paas/v3/model-api/chatglm_turbo/invoke" and seen.auth_kind == "jwt"
    assert seen.json() == {"prompt": [{"role": "user", "content": "You are terse\n\nSay hello please"}],
                           "temperature": 0.01}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (9, 5)  # the fake's count of the folded prompt


async def test_v3_sse_invoke_streams_increments_with_usage_from_meta(relay_env: RelayEnv) -> None:
    fake, _ = await zhipu(relay_env)
    fake.reply_text("echo: one\ntwo\nthree")
    stream = await relay_env.client().chat.completions.create(
        model="chatglm_turbo", messages=SYSTEM_AND_USER, stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one\ntwo\nthree"
    assert fake.requests[-1].path.endswith("/sse-invoke") and fake.requests[-1].json()["incremental"] is True
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (9, 4)


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embeddings_in_both_encodings(relay_env: RelayEnv, encoding: str) -> None:
    fake, _ = await zhipu(relay_env)
    kw: Any = {"encoding_format": "float"} if encoding == "float" else {}  # the SDK asks for base64 by default
    result = await relay_env.client().embeddings.create(model="embedding-3", input=["a b", "c d e"], **kw)
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == vector("a b", 8) and result.data[1].embedding == vector("c d e", 8)
    sent = fake.requests[-1].json()
    assert sent == {"model": "embedding-3", "input": ["a b", "c d e"]}  # no encoding_format upstream
    assert result.usage.prompt_tokens == 5
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (5, 0)


async def test_embeddings_raw_base64_is_little_endian_float32(relay_env: RelayEnv) -> None:
    await zhipu(relay_env)
    response = await relay_env.client().embeddings.with_raw_response.create(
        model="embedding-3", input="hello world", encoding_format="base64", dimensions=256)
    raw = json.loads(response.content)["data"][0]["embedding"]
    decoded = list(struct.unpack("<256f", base64.b64decode(raw)))
    assert decoded == vector("hello world", 256)


async def test_too_many_embedding_inputs_are_refused_before_calling_zhipu(relay_env: RelayEnv) -> None:
    fake, _ = await zhipu(relay_env)
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().embeddings.create(model="embedding-3", input=[f"t{i}" for i in range(65)])
    assert "at most 64" in raised.value.message and fake.requests == []


async def test_wrong_secret_is_an_openai_error_with_zhipus_complaint_and_disables(relay_env: RelayEnv) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    fake, channel_id = await zhipu(relay_env, key="zhipu-id.not-the-secret")
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER)
    error = raised.value.response.json()["error"]
    assert error["type"] == "zhipu_error" and error["code"] == "1004"
    assert error["message"].startswith("通过Authorization Token验证失败！")
    assert fake.requests[-1].auth_kind == ""  # refused before being accepted as anything
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED
    assert await relay_env.consume_logs() == []


async def test_a_v3_stream_refused_inside_a_200_is_an_openai_error(relay_env: RelayEnv) -> None:
    """v3 answers a refused sse-invoke with a 200 JSON ``{success: false}``: before any chunk, so the client gets
    an HTTP error (with the status mapped from Zhipu's code), not a 200 stream."""
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await zhipu(relay_env, key="zhipu-id.not-the-secret")
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model="chatglm_turbo", messages=SYSTEM_AND_USER,
                                                         stream=True)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("zhipu_error", "1004")
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_AUTO_DISABLED


async def test_a_key_without_a_secret_is_a_clear_error(relay_env: RelayEnv) -> None:
    fake, _ = await zhipu(relay_env, key="just-an-id")
    with pytest.raises(openai.InternalServerError) as raised:
        await relay_env.client().chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER)
    assert "<id>.<secret>" in raised.value.message and fake.requests == []


async def test_rate_limit_is_retried_on_another_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "1")
    fake, first = await zhipu(relay_env, priority=10)
    fake.fail_next(429, "1302")
    _, second = await zhipu(relay_env)
    answer = await relay_env.client().chat.completions.create(model="glm-4", messages=SYSTEM_AND_USER)
    assert answer.choices[0].message.content == "echo: Say hello please"
    [log] = await relay_env.consume_logs()
    assert log["channel_id"] == second != first
