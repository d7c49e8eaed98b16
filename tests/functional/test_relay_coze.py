"""End to end with the official openai SDK through oneapi to the fake Coze API (channel type 34): a bot as a
model (``bot-<id>``), the v3 chat stream read whole for a non-stream answer and translated chunk by chunk for a
stream, usage from the completed chat, the channel's user_id, images as object_string, refusals of what a bot
cannot do, a failed chat, and Coze's errors as OpenAI-shaped ``coze_error`` errors.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.coze_upstream import BOT, FakeCoze, start_fake
from tests.functional.relay_env import RelayEnv

COZE = 34
TOKEN = "pat_channel_token"
MODEL = f"bot-{BOT}"
MESSAGES: Any = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hello please"}]
# input = "Be brief" (2) + "Say hello please" (3) = 5 words; "echo: Say hello please" is 4.


async def coze(env: RelayEnv, token: str = TOKEN, config: Any = None, **channel: Any) -> tuple[FakeCoze, int]:
    fake = FakeCoze({TOKEN})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    extra = {"config": json.dumps(config)} if config is not None else {}
    channel_id = await env.add_channel(url, type=COZE, key=token, models=channel.pop("models", MODEL), **extra,
                                       **channel)
    return fake, channel_id


async def test_a_bot_answers_and_is_billed_from_the_completed_chat(relay_env: RelayEnv) -> None:
    fake, channel_id = await coze(relay_env, config={"user_id": "operator-7"})
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(model=MODEL, messages=MESSAGES, user="client-1")
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop" and answer.model == MODEL and answer.id.startswith("chatcmpl-")
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 4)
    seen = fake.requests[-1]
    assert seen.path == "/v3/chat" and seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.json() == {"bot_id": BOT, "user_id": "operator-7", "stream": True, "auto_save_history": False,
                           "additional_messages": [
                               {"role": "user", "type": "question", "content": "Be brief", "content_type": "text"},
                               {"role": "user", "type": "question", "content": "Say hello please",
                                "content_type": "text"}]}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["channel_id"]) == (5, 4, channel_id)
    assert log["quota"] == pricing.text_quota(pricing.price_for(relay_env.relay.prices(), MODEL, COZE, "default"),
                                              5, 4)
    assert before["quota"] - (await relay_env.user_row())["quota"] == log["quota"]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await coze(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                              user="client-1", **extra)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage is not None]
    assert usage == ([(5, 4)] if include_usage else [])
    assert fake.requests[-1].json()["user_id"] == "client-1"  # no user_id in the channel config
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (5, 4, True)


async def test_history_and_images(relay_env: RelayEnv) -> None:
    fake, _ = await coze(relay_env)
    messages: Any = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                     {"role": "user", "content": [{"type": "text", "text": "what is this"},
                                                  {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]
    answer = await relay_env.client().chat.completions.create(model=MODEL, messages=messages)
    assert answer.choices[0].message.content == "echo: what is this (with 1 images)"
    sent = fake.requests[-1].json()["additional_messages"]
    assert [(m["role"], m["type"]) for m in sent] == [("user", "question"), ("assistant", "answer"),
                                                      ("user", "question")]
    assert sent[2]["content_type"] == "object_string" and json.loads(sent[2]["content"]) == [
        {"type": "text", "text": "what is this"}, {"type": "image", "file_url": "https://x.test/a.png"}]
    assert fake.requests[-1].json()["user_id"] == "oneapi"  # neither the config nor the request names one


@pytest.mark.parametrize(("kw", "phrase"), [
    ({"n": 2}, "n=2 is not supported"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "do not support tools"),
    ({"response_format": {"type": "json_object"}}, "no native mechanism for response_format"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                 "image_url": {"url": "data:image/png;base64,AA=="}}]}]},
     "http(s) URL only"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}, "last message"),
])
async def test_refused_before_any_call(relay_env: RelayEnv, kw: dict[str, Any], phrase: str) -> None:
    fake, _ = await coze(relay_env)
    before = await relay_env.user_row()
    with pytest.raises(openai.BadRequestError) as raised:
        await relay_env.client().chat.completions.create(**{"model": MODEL, "messages": MESSAGES, **kw})
    assert phrase in raised.value.response.json()["error"]["message"]
    assert fake.requests == [] and (await relay_env.user_row())["quota"] == before["quota"]


async def test_a_failed_chat_after_some_text(relay_env: RelayEnv) -> None:
    fake, _ = await coze(relay_env)
    fake.fail_chat = True
    stream = await relay_env.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    text = ""
    with pytest.raises(openai.APIError) as raised:
        async for c in stream:
            text += c.choices[0].delta.content or "" if c.choices else ""
    assert text == "echo: Say hello please" and "the model failed" in raised.value.message
    fake.fail_chat = True
    with pytest.raises(openai.InternalServerError) as failed:
        await relay_env.client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert failed.value.response.json()["error"]["type"] == "coze_error"


@pytest.mark.parametrize("stream", [False, True])
async def test_an_unknown_bot_is_cozes_error_inside_a_200(relay_env: RelayEnv, stream: bool) -> None:
    await coze(relay_env, models="bot-123")
    with pytest.raises(openai.NotFoundError) as raised:
        await relay_env.client().chat.completions.create(model="bot-123", messages=MESSAGES, stream=stream)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("coze_error", 4200) and "does not exist" in error["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_wrong_token_disables_the_channel(relay_env: RelayEnv, stream: bool) -> None:
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    _, channel_id = await coze(relay_env, token="pat_wrong")
    with pytest.raises(openai.AuthenticationError) as raised:
        await relay_env.client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream)
    error = raised.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("coze_error", 4100)
    channel = await relay_env.services.channels.get(channel_id)
    assert channel["status"] == channel_q.STATUS_AUTO_DISABLED
