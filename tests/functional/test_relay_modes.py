"""Every relay mode end to end with the official openai SDK (async, and sync through a thread) against the fake
OpenAI upstream: answers arrive intact, usage follows the fake's deterministic rules (see its docstring), and
each request is charged and logged exactly (SPEC 1.4, 1.5, 5.1, 5.5, 5.6)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiohttp
import openai
import pytest

from oneapi.services import pricing
from tests.fakes.openai_upstream import TRANSCRIPT, FakeOpenAI, embedding_vector
from tests.functional.relay_env import RelayEnv
from tests.openai_schema import assert_valid

USER = {"role": "user", "content": "hello there friend"}
SYSTEM = {"role": "system", "content": "be brief"}
# the fake: prompt = words + 3 per message = (2 + 3) + (3 + 3) = 11; answer "echo: hello there friend" = 4 words
MESSAGES = [SYSTEM, USER]
PROMPT, ANSWER, COMPLETION = 11, "echo: hello there friend", 4
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string",
                                                                                 "enum": ["UTC", "CET"]}}}}}
ALL_MODELS = ("gpt-4o-mini,gpt-4o,gpt-3.5-turbo-instruct,text-embedding-3-small,text-moderation-stable,"
              "text-moderation-latest,omni-moderation-latest,dall-e-2,dall-e-3,tts-1,whisper-1")


def text_cost(env: RelayEnv, model: str, prompt: int, completion: int, channel_type: int = 1) -> int:
    """SPEC 5.1 by hand: ceil((prompt + completion × completionRatio) × modelRatio × groupRatio)."""
    price = pricing.price_for(env.relay.prices(), model, channel_type, "default")
    return math.ceil((prompt + completion * price.completion_ratio) * (price.model_ratio * price.group_ratio))


def ratio(env: RelayEnv, model: str) -> float:
    return pricing.price_for(env.relay.prices(), model, 1, "default").ratio


@pytest.fixture
async def env(relay_env: RelayEnv) -> tuple[RelayEnv, FakeOpenAI, int]:
    fake, url = await relay_env.fake()
    channel_id = await relay_env.add_channel(url, models=ALL_MODELS)
    return relay_env, fake, channel_id


Env = tuple[RelayEnv, FakeOpenAI, int]


async def charged_once(env: RelayEnv, before: dict[str, Any]) -> dict[str, Any]:
    """The one consume log since ``before`` (a user row), checked against the user's balance."""
    logs = await env.consume_logs()
    assert len(logs) == 1, logs
    after = await env.user_row()
    assert before["quota"] - after["quota"] == logs[0]["quota"]
    assert after["used_quota"] - before["used_quota"] == logs[0]["quota"]
    assert after["request_count"] - before["request_count"] == 1
    return logs[0]


# -- chat ----------------------------------------------------------------------------------------

async def test_chat_non_stream(env: Env) -> None:
    relay_env, fake, channel_id = env
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == ANSWER
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (11, 4, 15)

    log = await charged_once(relay_env, before)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (PROMPT, COMPLETION)
    assert log["quota"] == text_cost(relay_env, "gpt-4o", PROMPT, COMPLETION)
    assert (log["model_name"], log["channel_id"], log["is_stream"]) == ("gpt-4o", channel_id, False)
    assert log["token_name"] == "Initial Root Token" and log["username"] == "root"
    assert log["system_prompt_reset"] is False and log["elapsed_time"] >= 0
    price = pricing.price_for(relay_env.relay.prices(), "gpt-4o", 1, "default")
    assert log["content"] == (f"倍率：{price.model_ratio:.2f} × {price.group_ratio:.2f} × "
                              f"{price.completion_ratio:.2f}")
    assert fake.requests[-1].headers["authorization"] == "Bearer upstream-key"


async def test_chat_max_tokens_cuts_the_answer(env: Env) -> None:
    relay_env, _, _ = env
    answer = await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=2)
    assert answer.choices[0].message.content == "echo: hello"
    assert answer.choices[0].finish_reason == "length"
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (PROMPT, 2)
    assert log["quota"] == text_cost(relay_env, "gpt-4o", PROMPT, 2)


async def test_chat_stream(env: Env) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    stream = await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    text, finishes, roles, usage_chunks = "", [], [], 0
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        usage_chunks += chunk.usage is not None
        for choice in chunk.choices:
            text += choice.delta.content or ""
            roles += [choice.delta.role] if choice.delta.role else []
            finishes += [choice.finish_reason] if choice.finish_reason else []
    assert text == ANSWER and finishes == ["stop"] and roles == ["assistant"]
    assert usage_chunks == 0  # the client did not ask for usage
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}  # but we did

    log = await charged_once(relay_env, before)
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (PROMPT, COMPLETION, True)
    assert log["quota"] == text_cost(relay_env, "gpt-4o", PROMPT, COMPLETION)


async def test_chat_stream_with_the_clients_own_include_usage(env: Env) -> None:
    relay_env, fake, _ = env
    stream = await relay_env.client().chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    usages, text = [], ""
    async for chunk in stream:
        if chunk.usage is not None:
            usages.append(chunk.usage)
            assert chunk.choices == []
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert text == ANSWER
    assert len(usages) == 1  # exactly once
    assert (usages[0].prompt_tokens, usages[0].completion_tokens, usages[0].total_tokens) == (11, 4, 15)
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (PROMPT, COMPLETION)


async def test_chat_stream_with_the_sync_client(env: Env) -> None:
    relay_env, _, _ = env

    def run() -> tuple[str, int]:
        with relay_env.sync_client() as client:
            stream = client.chat.completions.create(model="gpt-4o-mini", messages=[USER], stream=True,
                                                    stream_options={"include_usage": True})
            text, usage = "", 0
            for chunk in stream:
                text += "".join(c.delta.content or "" for c in chunk.choices)
                usage += chunk.usage is not None
            return text, usage

    assert await asyncio.to_thread(run) == (ANSWER, 1)
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (6, 4)


async def test_chat_n_2(env: Env) -> None:
    relay_env, _, _ = env
    answer = await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, n=2)
    assert [c.index for c in answer.choices] == [0, 1]
    assert [c.message.content for c in answer.choices] == [ANSWER, ANSWER]
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (PROMPT, 2 * COMPLETION)
    assert log["quota"] == text_cost(relay_env, "gpt-4o", PROMPT, 2 * COMPLETION)

    stream = await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, n=2, stream=True)
    texts = ["", ""]
    async for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == [ANSWER, ANSWER]


# -- tools ---------------------------------------------------------------------------------------

TOOL_USER = {"role": "user", "content": "weather in Paris"}


async def test_single_tool_call_and_its_result(env: Env) -> None:
    relay_env, fake, _ = env
    client = relay_env.client()
    answer = await client.chat.completions.create(model="gpt-4o", messages=[TOOL_USER], tools=[WEATHER],
                                                  tool_choice="auto")
    sent = fake.requests[-1].json()
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "auto"  # passed through untouched
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("call_")
    arguments = call.function.arguments
    assert json.loads(arguments) == {"city": "weather in Paris", "days": 1}
    [log] = await relay_env.consume_logs()
    # the fake bills the words of the arguments string
    assert (log["prompt_tokens"], log["completion_tokens"]) == (6, len(arguments.split()))

    follow_up = await client.chat.completions.create(model="gpt-4o", tools=[WEATHER], messages=[
        TOOL_USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny and 20C"}])
    assert follow_up.choices[0].message.content == "tool result: sunny and 20C"
    sent = fake.requests[-1].json()
    assert sent["messages"][1]["tool_calls"][0]["id"] == call.id
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny and 20C"}


async def test_parallel_tool_calls(env: Env) -> None:
    relay_env, fake, _ = env
    client = relay_env.client()
    answer = await client.chat.completions.create(model="gpt-4o", messages=[TOOL_USER], tools=[WEATHER, TIME])
    calls = answer.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1].function.arguments) == {"zone": "UTC"}
    assert len({c.id for c in calls}) == 2

    answer = await client.chat.completions.create(model="gpt-4o", messages=[TOOL_USER], tools=[WEATHER, TIME],
                                                  parallel_tool_calls=False)
    assert len(answer.choices[0].message.tool_calls or []) == 1
    assert fake.requests[-1].json()["parallel_tool_calls"] is False

    answer = await client.chat.completions.create(
        model="gpt-4o", messages=[TOOL_USER], tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert [c.function.name for c in answer.choices[0].message.tool_calls or []] == ["get_time"]


async def test_streamed_tool_call_deltas_accumulate_to_valid_json(env: Env) -> None:
    relay_env, _, _ = env
    client = relay_env.client()
    stream = await client.chat.completions.create(model="gpt-4o", messages=[TOOL_USER], tools=[WEATHER, TIME],
                                                  stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.id or ""
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "weather in Paris", "days": 1}
    assert json.loads(calls[1]["arguments"]) == {"zone": "UTC"}
    assert all(c["id"].startswith("call_") for c in calls.values())
    [log] = await relay_env.consume_logs()
    words = sum(len(c["arguments"].split()) for c in calls.values())
    assert (log["prompt_tokens"], log["completion_tokens"]) == (6, words)


# -- completions ---------------------------------------------------------------------------------

async def test_completions(env: Env) -> None:
    relay_env, _, _ = env
    client = relay_env.client()
    before = await relay_env.user_row()
    answer = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hello world")
    assert answer.choices[0].text == "echo: say hello world" and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 4)
    log = await charged_once(relay_env, before)
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (3, 4, "gpt-3.5-turbo-instruct")
    assert log["quota"] == text_cost(relay_env, "gpt-3.5-turbo-instruct", 3, 4)


async def test_completions_stream(env: Env) -> None:
    relay_env, fake, _ = env
    stream = await relay_env.client().completions.create(model="gpt-3.5-turbo-instruct", prompt="say hello world",
                                                         stream=True, max_tokens=3)
    text, finish, usage = "", None, 0
    async for chunk in stream:
        usage += chunk.usage is not None
        for choice in chunk.choices:
            text += choice.text
            finish = choice.finish_reason or finish
    assert (text, finish, usage) == ("echo: say hello", "length", 0)
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (3, 3, True)
    assert log["quota"] == text_cost(relay_env, "gpt-3.5-turbo-instruct", 3, 3)


# -- embeddings, moderations ---------------------------------------------------------------------

async def test_embeddings_base64_default_and_float(env: Env) -> None:
    relay_env, fake, _ = env
    client = relay_env.client()
    result = await client.embeddings.create(model="text-embedding-3-small", input="the quick brown fox")
    assert fake.requests[-1].json()["encoding_format"] == "base64"  # the SDK's default, passed through
    assert result.data[0].embedding == embedding_vector("the quick brown fox")
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (4, 4)

    result = await client.embeddings.create(model="text-embedding-3-small", input=["a b", "c d e"],
                                            encoding_format="float")
    assert fake.requests[-1].json()["encoding_format"] == "float"
    assert [d.embedding for d in result.data] == [embedding_vector("a b"), embedding_vector("c d e")]
    assert [d.index for d in result.data] == [0, 1]

    logs = sorted(await relay_env.consume_logs(), key=lambda log: log["id"])
    assert [(log["prompt_tokens"], log["completion_tokens"]) for log in logs] == [(4, 0), (5, 0)]
    assert [log["quota"] for log in logs] == [text_cost(relay_env, "text-embedding-3-small", n, 0) for n in (4, 5)]


async def test_embeddings_engines_form(env: Env) -> None:
    relay_env, fake, _ = env
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/engines/text-embedding-3-small/embeddings",
            json={"input": "hello world", "encoding_format": "float"},
            headers={"Authorization": relay_env.root_key}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["data"][0]["embedding"] == embedding_vector("hello world")
    assert body["model"] == "text-embedding-3-small"
    sent = fake.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.json() == {"input": "hello world", "encoding_format": "float", "model": "text-embedding-3-small"}
    [log] = await relay_env.consume_logs()
    assert (log["model_name"], log["prompt_tokens"]) == ("text-embedding-3-small", 2)


async def test_moderations(env: Env) -> None:
    relay_env, fake, _ = env
    client = relay_env.client()
    result = await client.moderations.create(model="omni-moderation-latest", input="I will kill the process")
    assert result.results[0].flagged is True and result.results[0].categories.violence is True
    result = await client.moderations.create(input="a nice day")  # no model: a default is routed
    assert result.results[0].flagged is False
    assert fake.requests[-1].json()["input"] == "a nice day"
    logs = sorted(await relay_env.consume_logs(), key=lambda log: log["id"])
    assert len(logs) == 2
    assert logs[0]["model_name"] == "omni-moderation-latest"
    assert logs[1]["model_name"].startswith("text-moderation-")
    counted = relay_env.relay.tokenizer.count_input("I will kill the process", "omni-moderation-latest")
    assert (logs[0]["prompt_tokens"], logs[0]["completion_tokens"]) == (counted, 0)  # counted locally
    assert logs[0]["quota"] == text_cost(relay_env, "omni-moderation-latest", counted, 0)


async def test_moderation_without_model_routes_as_text_moderation_stable(relay_env: RelayEnv) -> None:
    _, url = await relay_env.fake()
    await relay_env.add_channel(url, models="text-moderation-stable")
    result = await relay_env.client().moderations.create(input="a nice day")
    assert result.results[0].flagged is False


# -- images --------------------------------------------------------------------------------------

async def test_image_generation_is_billed_per_image(env: Env) -> None:
    relay_env, fake, _ = env
    client = relay_env.client()
    before = await relay_env.user_row()
    result = await client.images.generate(model="dall-e-3", prompt="a red fox", size="1024x1024",
                                          quality="standard")
    assert len(result.data) == 1 and result.data[0].url and result.data[0].revised_prompt == "a red fox"
    log = await charged_once(relay_env, before)
    assert (log["model_name"], log["quota"]) == ("dall-e-3", 20_000)  # SPEC 5.5's example: $0.04

    await client.images.generate(model="dall-e-3", prompt="a red fox", size="1024x1024", quality="hd")
    await client.images.generate(model="dall-e-3", prompt="a red fox", size="1792x1024", quality="hd")
    await client.images.generate(prompt="a red fox", size="256x256", n=2,
                                 response_format="b64_json")  # dall-e-2 by default
    assert fake.requests[-1].json()["n"] == 2
    logs = sorted(await relay_env.consume_logs(), key=lambda log: log["id"])
    assert [(log["model_name"], log["quota"]) for log in logs[1:]] == [
        ("dall-e-3", 40_000),   # hd ×2 at 1024²
        ("dall-e-3", 60_000),   # 1792×1024 is ×2, hd ×1.5 there
        ("dall-e-2", 20_000),   # 10 × 1 × 1000 × n=2
    ]


async def test_image_request_refused_before_the_upstream(env: Env) -> None:
    relay_env, fake, _ = env
    with pytest.raises(openai.BadRequestError) as info:
        await relay_env.client().images.generate(model="dall-e-3", prompt="x", size="256x256")
    assert info.value.code == "size_not_supported"
    with pytest.raises(openai.BadRequestError) as info:
        await relay_env.client().images.generate(model="dall-e-3", prompt="x", n=2)
    assert info.value.code == "n_not_within_range"
    assert fake.requests == [] and await relay_env.consume_logs() == []


async def test_image_upstream_error_costs_nothing(env: Env) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    fake.fail_next(400, {"message": "Your request was rejected by the safety system.", "code": "content_policy"})
    with pytest.raises(openai.BadRequestError) as info:
        await relay_env.client().images.generate(model="dall-e-3", prompt="a red fox")
    assert info.value.code == "content_policy"
    assert await relay_env.consume_logs() == []
    assert (await relay_env.user_row())["quota"] == before["quota"]


# -- audio ---------------------------------------------------------------------------------------

async def test_speech(env: Env) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    text = "你好 world"  # 6 + 6 UTF-8 bytes
    audio = await relay_env.client().audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert audio.content == b"ID3\x04\x00\x00\x00\x00\x00\x00fake-speech:" + text.encode()
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert fake.requests[-1].json() == {"model": "tts-1", "voice": "alloy", "input": text}
    log = await charged_once(relay_env, before)
    assert log["quota"] == int(len(text.encode()) * ratio(relay_env, "tts-1")) == 90


async def test_speech_other_format(env: Env) -> None:
    relay_env, _, _ = env
    audio = await relay_env.client().audio.speech.create(model="tts-1", voice="alloy", input="hi",
                                                         response_format="wav")
    assert audio.response.headers["content-type"] == "audio/wav"
    assert audio.content.endswith(b"fake-speech:hi")


AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt \x00\x01\x02\x03binary\r\n--not-a-boundary\r\n\x00\xff"


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # this SDK marks translations deprecated
@pytest.mark.parametrize("task", ["transcriptions", "translations"])
@pytest.mark.parametrize("response_format", ["json", "text"])
async def test_transcription_and_translation(env: Env, task: str, response_format: str) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    api = getattr(relay_env.client().audio, task)
    result = await api.create(model="whisper-1", file=("speech.wav", AUDIO, "audio/wav"),
                              response_format=response_format)
    if response_format == "json":
        assert result.text == TRANSCRIPT
        spoken = TRANSCRIPT
    else:
        assert result == TRANSCRIPT + "\n"
        spoken = TRANSCRIPT + "\n"
    sent = fake.requests[-1]
    assert sent.path == f"/v1/audio/{task}"
    form = sent.form()
    assert form["file"] == ("speech.wav", AUDIO)  # the upload arrives byte for byte
    assert form["model"] == "whisper-1" and form["response_format"] == response_format

    log = await charged_once(relay_env, before)
    tokens = relay_env.relay.tokenizer.count_text(spoken, "whisper-1")
    assert tokens > 0 and log["prompt_tokens"] == tokens
    assert log["quota"] == math.ceil(tokens * ratio(relay_env, "whisper-1"))  # billed from the transcript


async def test_transcription_with_the_sync_client(env: Env) -> None:
    relay_env, _, _ = env

    def run() -> str:
        with relay_env.sync_client() as client:
            return client.audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"ID3abc", "audio/mpeg")).text

    assert await asyncio.to_thread(run) == TRANSCRIPT


# -- channel settings: model mapping, system prompt, passthrough ---------------------------------

async def test_model_mapping(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models="gpt-4o-mini", model_mapping='{"gpt-4o-mini": "gpt-4o"}')
    answer = await relay_env.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == ANSWER
    assert fake.requests[-1].json()["model"] == "gpt-4o"
    [log] = await relay_env.consume_logs()
    assert log["model_name"] == "gpt-4o"  # the mapped name is billed and logged
    assert log["quota"] == text_cost(relay_env, "gpt-4o", PROMPT, COMPLETION)
    assert log["quota"] != text_cost(relay_env, "gpt-4o-mini", PROMPT, COMPLETION)

    stream = await relay_env.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == ANSWER
    assert fake.requests[-1].json()["model"] == "gpt-4o"


async def test_model_mapping_for_audio_uploads(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models="whisper-1", model_mapping='{"whisper-1": "whisper-2"}')
    result = await relay_env.client().audio.transcriptions.create(model="whisper-1",
                                                                  file=("a.wav", AUDIO, "audio/wav"))
    assert result.text == TRANSCRIPT
    form = fake.requests[-1].form()
    assert form["model"] == "whisper-2" and form["file"] == ("a.wav", AUDIO)


@pytest.mark.parametrize("messages", [[USER], [SYSTEM, USER]])
async def test_channel_system_prompt(relay_env: RelayEnv, messages: list[dict[str, Any]]) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models="gpt-4o", system_prompt="You answer in one line.")
    answer = await relay_env.client().chat.completions.create(model="gpt-4o", messages=messages)
    assert answer.choices[0].message.content == ANSWER
    sent = fake.requests[-1].json()["messages"]
    assert sent[0] == {"role": "system", "content": "You answer in one line."}
    assert sent[1:] == [USER]
    [log] = await relay_env.consume_logs()
    assert log["system_prompt_reset"] is True
    assert log["prompt_tokens"] == (5 + 3) + (3 + 3)  # the upstream counted the enforced prompt


async def test_original_body_bytes_are_forwarded_unchanged(env: Env) -> None:
    relay_env, fake, _ = env
    raws = [
        b'{ "messages":[{"content":"hi","role":"user"}],   "model" : "gpt-4o-mini" ,"temperature":0.30,'
        b'"x_vendor_field":{"b":2,"a":1}}',
        b'{"stream_options":{"include_usage":true},"stream":true,\n"model":"gpt-4o-mini",'
        b'"messages":[{"role":"user","content":"caf\\u00e9"}]}',
        b'{"input":"same bytes","model":"text-embedding-3-small","encoding_format":"float"}',
    ]
    paths = ["/v1/chat/completions", "/v1/chat/completions", "/v1/embeddings"]
    async with aiohttp.ClientSession() as session:
        for raw, path in zip(raws, paths, strict=True):
            async with session.post(relay_env.base_url + path, data=raw,
                                    headers={"Authorization": relay_env.root_key,
                                             "Content-Type": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
            assert fake.requests[-1].body == raw


async def test_upstream_answer_is_forwarded_verbatim(env: Env) -> None:
    relay_env, _, _ = env
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [USER]},
            headers={"Authorization": relay_env.root_key}) as resp:
        body = await resp.json()
    assert body["system_fingerprint"] == "fp_fake" and body["service_tier"] == "default"
    assert body["choices"][0]["message"]["annotations"] == []


# -- upstream errors and the upstream client (issue 3 §8) ----------------------------------------

async def assert_refunded(env: RelayEnv, before: dict[str, Any]) -> None:
    assert await env.consume_logs() == []
    after = await env.user_row()
    assert (after["quota"], after["used_quota"]) == (before["quota"], before["used_quota"])


async def test_upstream_error_object_is_passed_on_with_its_status(env: Env) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    upstream = {"message": "This model's maximum context length is 8 tokens.", "type": "invalid_request_error",
                "param": "messages", "code": "context_length_exceeded"}
    fake.fail_next(400, upstream)
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": relay_env.root_key}) as resp:
        assert resp.status == 400
        rid = resp.headers["X-Oneapi-Request-Id"]
        error = (await resp.json())["error"]
    assert error == {**upstream, "message": f"{upstream['message']} (request id: {rid})"}
    await assert_refunded(relay_env, before)

    fake.fail_next(404, {"message": "The model `gpt-4o` does not exist", "code": "model_not_found"})
    with pytest.raises(openai.NotFoundError) as info:
        await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert info.value.code == "model_not_found"

    # A vendor's error object with only a message is completed to OpenAI's schema, its words kept.
    fake.fail_next(400, body=b'{"error": {"message": "bad things"}}')
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"Authorization": relay_env.root_key}) as resp:
        body = await resp.json()
    assert_valid(body, "ErrorResponse")
    assert body["error"]["message"].startswith("bad things (request id: ")
    assert (body["error"]["type"], body["error"]["param"], body["error"]["code"]) == ("upstream_error", None, None)


@pytest.mark.parametrize(("status", "body", "message"), [
    (502, b"<html>Bad Gateway</html>", "bad response status code 502"),
    (503, b"", "bad response status code 503"),
    (500, b'{"msg": "engine exploded"}', "engine exploded"),
    (500, b'{"error": "quota gone"}', "quota gone"),
])
async def test_upstream_error_without_an_openai_body(env: Env, status: int, body: bytes, message: str) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    fake.fail_next(status, body=body, content_type="text/html" if body.startswith(b"<") else "application/json")
    with pytest.raises(openai.APIStatusError) as info:
        await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert info.value.status_code == status
    error = info.value.body
    assert isinstance(error, dict)
    assert error["message"].startswith(message + " (request id: ")
    assert (error["type"], error["code"], error["param"]) == ("upstream_error", "bad_response_status_code",
                                                              str(status))
    await assert_refunded(relay_env, before)


async def test_200_with_an_error_object_is_an_error(env: Env) -> None:
    relay_env, fake, _ = env
    before = await relay_env.user_row()
    fake.fail_next(200, {"error": {"message": "upstream says no", "type": "server_error", "code": "x"}})
    with pytest.raises(openai.APIStatusError) as info:
        await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert info.value.status_code >= 400 and "upstream says no" in info.value.message
    await assert_refunded(relay_env, before)


async def test_dropped_connection_and_dead_upstream(relay_env: RelayEnv) -> None:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models="gpt-4o")
    await relay_env.add_channel("http://127.0.0.1:9", models="gpt-4o-mini")  # nothing listens on port 9
    before = await relay_env.user_row()
    fake.drop_next()
    for model in ("gpt-4o", "gpt-4o-mini"):
        with pytest.raises(openai.InternalServerError) as info:
            await relay_env.client().chat.completions.create(model=model, messages=MESSAGES)
        assert info.value.status_code == 500 and info.value.code == "do_request_failed"
    await assert_refunded(relay_env, before)


async def custom_env(tmp_path: Any, **config: str) -> Any:
    from tests.functional.relay_env import relay_config, sqlite_db, start_relay_env

    return start_relay_env(sqlite_db(tmp_path), relay_config(**config))


async def test_relay_timeout(tmp_path: Any) -> None:
    import time

    async for env in await custom_env(tmp_path, RELAY_TIMEOUT="1"):
        fake, url = await env.fake()
        await env.add_channel(url, models="gpt-4o")
        before = await env.user_row()
        fake.delay = 3.0
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            await env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert time.monotonic() - started < 2.5
        assert info.value.status_code == 500 and info.value.code == "do_request_failed"
        await assert_refunded(env, before)
        fake.delay = 0.0
        answer = await env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert answer.choices[0].message.content == ANSWER


async def test_relay_proxy(tmp_path: Any) -> None:
    from tests.fakes.openai_upstream import start_fake

    proxy = FakeOpenAI()  # plays an HTTP proxy that answers by itself: only the proxy can reach the channel
    proxy_url, stop = await start_fake(proxy)
    try:
        async for env in await custom_env(tmp_path, RELAY_PROXY=proxy_url):
            await env.add_channel("http://upstream.invalid:8080", models="gpt-4o")
            answer = await env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert answer.choices[0].message.content == ANSWER
            assert len(proxy.requests) == 1 and proxy.requests[0].path == "/v1/chat/completions"
            assert proxy.requests[0].headers["host"] == "upstream.invalid:8080"
    finally:
        await stop()


async def test_upstream_connections_are_reused(relay_env: RelayEnv) -> None:
    from aiohttp import web

    peers: list[Any] = []
    fake = FakeOpenAI()

    @web.middleware
    async def note_peer(request: web.Request, handler: Any) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return await handler(request)

    fake.app.middlewares.insert(0, note_peer)
    from tests.fakes.openai_upstream import start_fake

    url, stop = await start_fake(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, models="gpt-4o")
    for _ in range(4):
        await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    stream = await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    async for _ in stream:
        pass
    await relay_env.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(peers) == 6 and len(set(peers)) == 1  # one pooled keep-alive connection
