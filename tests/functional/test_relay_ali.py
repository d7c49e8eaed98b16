"""End to end with the official openai SDK through oneapi to the fake DashScope upstream (channel type 17):
chat with a system message, incremental streams, the ``-internet`` suffix, the plugin header, images via the
multimodal endpoint, tools, embeddings (base64 and float, ``text_index`` order), billing from DashScope's usage,
and DashScope's refusals as OpenAI-shaped ``ali_error`` errors.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.ali_upstream import EMBEDDING_PATH, MULTIMODAL_PATH, TEXT_PATH, FakeDashScope, start_fake
from tests.fakes.zhipu_upstream import vector
from tests.functional.relay_env import RelayEnv

ALI = 17
KEY = "sk-ali-channel"
MODELS = "qwen-turbo,qwen-plus,qwen-plus-internet,qwen-vl-plus,text-embedding-v3"
SYSTEM_AND_USER: Any = [{"role": "system", "content": "You are terse"},
                        {"role": "user", "content": "Say hello please"}]
# input_tokens = (3 words + 3) + (3 words + 3) = 12; the echo "echo: Say hello please" is 4 words.


async def dashscope(env: RelayEnv, key: str = KEY, **channel: Any) -> tuple[FakeDashScope, int]:
    fake = FakeDashScope({KEY})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=ALI, key=key, models=channel.pop("models", MODELS), **channel)
    return fake, channel_id


def expected_quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    return pricing.text_quota(pricing.price_for(env.relay.prices(), model, ALI, "default"), prompt, completion)


async def test_chat_with_a_system_message_is_billed_from_dashscopes_usage(relay_env: RelayEnv) -> None:
    fake, channel_id = await dashscope(relay_env)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(
        model="qwen-turbo", messages=SYSTEM_AND_USER, top_p=1, temperature=2, seed=42, stop=["END"], max_tokens=30)
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "qwen-turbo"
    assert answer.id.startswith("chatcmpl-")
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 4)

    seen = fake.requests[-1]
    assert seen.path == TEXT_PATH and seen.headers["authorization"] == f"Bearer {KEY}"
    assert "x-dashscope-sse" not in seen.headers
    body = seen.json()
    assert body["model"] == "qwen-turbo" and body["input"] == {"messages": SYSTEM_AND_USER}
    assert body["parameters"] == {"result_format": "message", "seed": 42, "max_tokens": 30, "top_p": 0.9999,
                                  "temperature": 1.99, "stop": ["END"]}

    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (12, 4, "qwen-turbo")
    assert log["channel_id"] == channel_id and log["quota"] == expected_quota(relay_env, "qwen-turbo", 12, 4) > 0
    assert before["quota"] - (await relay_env.user_row())["quota"] == log["quota"]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_incremental_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await dashscope(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(model="qwen-plus", messages=SYSTEM_AND_USER,
                                                              stream=True, **extra)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == ([(12, 4)] if include_usage else [])
    seen = fake.requests[-1]
    assert seen.headers["x-dashscope-sse"] == "enable" and seen.headers["accept"] == "text/event-stream"
    assert seen.json()["parameters"]["incremental_output"] is True
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (12, 4, True)


async def test_internet_suffix_and_plugin_header(relay_env: RelayEnv) -> None:
    fake, _ = await dashscope(relay_env, config=json.dumps({"plugin": '{"pdf_extracter": {}}'}))
    answer = await relay_env.client().chat.completions.create(model="qwen-plus-internet", messages=SYSTEM_AND_USER)
    assert answer.choices[0].message.content == "echo: Say hello please"
    seen = fake.requests[-1]
    assert seen.json()["model"] == "qwen-plus" and seen.json()["parameters"]["enable_search"] is True
    assert seen.headers["x-dashscope-plugin"] == '{"pdf_extracter": {}}'
    [log] = await relay_env.consume_logs()
    assert log["model_name"] == "qwen-plus-internet"


async def test_images_go_to_the_multimodal_endpoint(relay_env: RelayEnv) -> None:
    fake, _ = await dashscope(relay_env)
    messages: Any = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "text", "text": "what is this"}]}]
    answer = await relay_env.client().chat.completions.create(model="qwen-vl-plus", messages=messages)
    assert answer.choices[0].message.content == "echo: what is this"
    seen = fake.requests[-1]
    assert seen.path == MULTIMODAL_PATH
    assert seen.json()["input"]["messages"][0]["content"] == [{"image": "https://example.com/cat.png"},
                                                              {"text": "what is this"}]


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(relay_env: RelayEnv, stream: bool) -> None:
    fake, _ = await dashscope(relay_env)
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    result: Any = await relay_env.client().chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "Paris"}], tools=tools, stream=stream)
    if stream:
        chunks = [c async for c in result]
        calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert calls[0].index == 0 and calls[0].id and calls[0].type == "function"
        name, arguments = calls[0].function.name, calls[0].function.arguments
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        call = result.choices[0].message.tool_calls[0]
        name, arguments = call.function.name, call.function.arguments
        assert result.choices[0].finish_reason == "tool_calls"
    assert name == "weather" and json.loads(arguments or "") == {"city": "Paris"}
    assert fake.requests[-1].json()["parameters"]["tools"] == tools


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embeddings_in_both_encodings_keep_text_index_order(relay_env: RelayEnv, encoding: str) -> None:
    fake, _ = await dashscope(relay_env)
    fake.shuffle_embeddings = True
    kw: Any = {"encoding_format": "float"} if encoding == "float" else {}
    result = await relay_env.client().embeddings.create(model="text-embedding-v3", input=["a b", "c d e"],
                                                        dimensions=64, **kw)
    assert result.data[0].embedding == vector("a b", 64) and result.data[1].embedding == vector("c d e", 64)
    assert result.model == "text-embedding-v3" and result.usage.prompt_tokens == 5
    seen = fake.requests[-1]
    assert seen.path == EMBEDDING_PATH
    assert seen.json() == {"model": "text-embedding-v3", "input": {"texts": ["a b", "c d e"]},
                           "parameters": {"dimension": 64}}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (5, 0)


@pytest.mark.parametrize("stream", [False, True])
async def test_wrong_key_is_an_ali_error_and_disables_the_channel(relay_env: RelayEnv, stream: bool) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await dashscope(relay_env, key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model="qwen-turbo", messages=SYSTEM_AND_USER, stream=stream)
    error = raised.value.response.json()["error"]
    assert error["type"] == "ali_error" and error["code"] == "InvalidApiKey"
    assert error["message"].startswith("Invalid API-key provided.") and error["param"]  # param = request_id
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED


async def test_throttling_is_retried_on_another_channel(relay_env: RelayEnv) -> None:
    await relay_env.set_option("RetryTimes", "1")
    fake, first = await dashscope(relay_env, priority=10)
    fake.fail_next(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
    _, second = await dashscope(relay_env)
    answer = await relay_env.client().chat.completions.create(model="qwen-turbo", messages=SYSTEM_AND_USER)
    assert answer.choices[0].message.content == "echo: Say hello please"
    [log] = await relay_env.consume_logs()
    assert log["channel_id"] == second != first


async def test_bad_parameter_is_a_400_with_dashscopes_message(relay_env: RelayEnv) -> None:
    fake, _ = await dashscope(relay_env)
    fake.fail_next(400, "DataInspectionFailed", "Input data may contain inappropriate content.")
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().chat.completions.create(model="qwen-turbo", messages=SYSTEM_AND_USER)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("ali_error", "DataInspectionFailed")
    assert "inappropriate content" in error["message"]
