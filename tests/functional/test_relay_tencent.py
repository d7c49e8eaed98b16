"""Tencent Hunyuan (channel type 23) end to end: the official openai SDK → oneapi → the fake Hunyuan upstream
(tests/fakes/tencent_upstream.py), which verifies every TC3-HMAC-SHA256 signature against the host it is reached
at and refuses unknown parameters.

Covers chat with a system message, streams (usage chunk only with ``stream_options.include_usage``), images for
hunyuan-vision, GetEmbedding in the SDK's default base64 and in floats, billing from Hunyuan's usage (the fake
counts words, so its numbers differ from tiktoken's), and errors: a wrong SecretKey or SecretId, a clock too far
off, Tencent's codes with meaningful statuses, automatic disabling.
"""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.openai_upstream import embedding_vector
from tests.fakes.tencent_upstream import APP_ID, SECRET_ID, SECRET_KEY, FakeTencent, start_tencent
from tests.functional.relay_env import RelayEnv

TENCENT = 23
KEY = f"{APP_ID}|{SECRET_ID}|{SECRET_KEY}"
MODELS = "hunyuan-lite,hunyuan-pro,hunyuan-vision,hunyuan-embedding"
MESSAGES: Any = [{"role": "system", "content": "You are terse"}, {"role": "user", "content": "Say hello please"}]
# The fake's usage: prompt = words of every message (3 + 3); "echo: Say hello please" = 4 words.


async def tencent_channel(env: RelayEnv, *, key: str = KEY, **fields: Any) -> tuple[FakeTencent, int]:
    fake = FakeTencent()
    url, stop = await start_tencent(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=TENCENT, key=key, models=MODELS, **fields)
    return fake, channel_id


def quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    return pricing.text_quota(pricing.price_for(env.relay.prices(), model, TENCENT, "default"), prompt, completion)


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    error: dict[str, Any] = body["error"]
    return error


# -- chat ------------------------------------------------------------------------------------------------------

async def test_chat_with_a_system_message_is_signed_and_billed_from_hunyuans_usage(relay_env: RelayEnv) -> None:
    fake, _ = await tencent_channel(relay_env)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(
        model="hunyuan-pro", messages=MESSAGES, temperature=0.5, top_p=0.9, max_tokens=50, seed=3,
        frequency_penalty=0.2, user="u-1")
    assert answer.choices[0].message.content == "echo: Say hello please"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 4)
    sent = fake.requests[-1]
    assert sent.json() == {"Model": "hunyuan-pro", "Messages": [{"Role": "system", "Content": "You are terse"},
                                                                {"Role": "user", "Content": "Say hello please"}],
                           "Stream": False, "Temperature": 0.5, "TopP": 0.9, "Seed": 3}  # no OpenAI-only keys
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-tc-action"] == "ChatCompletions" and sent.headers["x-tc-version"] == "2023-09-01"
    assert abs(int(sent.headers["x-tc-timestamp"]) - time.time()) < 60
    assert sent.headers["authorization"].startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/")
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (6, 4, "hunyuan-pro")
    assert log["quota"] == quota(relay_env, "hunyuan-pro", 6, 4) > 0
    after = await relay_env.user_row()
    assert before["quota"] - after["quota"] == log["quota"]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await tencent_channel(relay_env)
    fake.reply_text("one two three four five six")
    options: Any = {"include_usage": True} if include_usage else openai.NOT_GIVEN
    stream = await relay_env.client().chat.completions.create(model="hunyuan-pro", messages=MESSAGES, stream=True,
                                                              stream_options=options)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four five six"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    with_usage = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and chunks[-1].choices == []
        assert (with_usage[0].usage.prompt_tokens, with_usage[0].usage.completion_tokens) == (6, 6)  # type: ignore[union-attr]
    else:
        assert with_usage == []
    sent = fake.requests[-1].json()
    assert sent["Stream"] is True and "stream_options" not in sent
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (6, 6, True)


async def test_images_and_awkward_histories_are_accepted(relay_env: RelayEnv) -> None:
    fake, _ = await tencent_channel(relay_env, system_prompt="Channel rules")
    messages: Any = [
        {"role": "system", "content": "client system"},
        {"role": "assistant", "content": "Hello! Send me a picture."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}}]},
        {"role": "user", "content": "Be brief."}]
    answer = await relay_env.client().chat.completions.create(model="hunyuan-vision", messages=messages)
    assert answer.choices[0].message.content == "echo: What is this? Be brief."
    sent = fake.requests[-1].json()["Messages"]
    assert [m["Role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["Content"] == "Channel rules"
    assert sent[3]["Contents"][1] == {"Type": "image_url", "ImageUrl": {"Url": "https://example.test/cat.png"}}


# -- embeddings ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_embeddings(relay_env: RelayEnv, encoding: str) -> None:
    fake, _ = await tencent_channel(relay_env)
    client = relay_env.client()
    if encoding == "base64":  # the SDK's default: it asks for base64 and decodes it
        result = await client.embeddings.create(model="hunyuan-embedding", input=["hello world", "bye"])
    else:
        result = await client.embeddings.create(model="hunyuan-embedding", input=["hello world", "bye"],
                                                encoding_format="float")
    assert [d.embedding for d in result.data] == [embedding_vector("hello world"), embedding_vector("bye")]
    assert result.usage.prompt_tokens == 3
    sent = fake.requests[-1]
    assert sent.headers["x-tc-action"] == "GetEmbedding"
    assert sent.json() == {"InputList": ["hello world", "bye"]}
    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (3, 0, "hunyuan-embedding")


# -- errors ----------------------------------------------------------------------------------------------------

async def test_a_wrong_secret_key_is_a_clear_auth_error_and_disables_the_channel(relay_env: RelayEnv) -> None:
    _, channel_id = await tencent_channel(relay_env, key=f"{APP_ID}|{SECRET_ID}|wrong-secret-key")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="hunyuan-lite", messages=MESSAGES)
    assert caught.value.status_code == 401
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("tencent_error", "AuthFailure.SignatureFailure")
    assert error["message"].startswith("The provided credentials could not be validated.")
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_AUTO_DISABLED
    assert await relay_env.consume_logs() == []


async def test_an_unknown_secret_id_keeps_the_channel_when_auto_disable_is_off(relay_env: RelayEnv) -> None:
    _, channel_id = await tencent_channel(relay_env, key=f"{APP_ID}|AKIDnobody|{SECRET_KEY}")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().embeddings.create(model="hunyuan-embedding", input="x")
    assert error_of(caught.value)["code"] == "AuthFailure.SecretIdNotFound"
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_ENABLED


async def test_a_clock_too_far_off_is_refused(relay_env: RelayEnv) -> None:
    fake, _ = await tencent_channel(relay_env)
    fake.clock = lambda: time.time() + 600
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="hunyuan-lite", messages=MESSAGES)
    assert error_of(caught.value)["code"] == "AuthFailure.SignatureExpire"


async def test_a_bad_request_carries_tencents_complaint(relay_env: RelayEnv) -> None:
    fake, _ = await tencent_channel(relay_env)
    fake.fail_next("InvalidParameterValue.Model", "模型不存在")
    with pytest.raises(openai.BadRequestError) as caught:
        await relay_env.client().chat.completions.create(model="hunyuan-lite", messages=MESSAGES)
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("tencent_error", "InvalidParameterValue.Model")
    assert error["message"].startswith("模型不存在 (request id: ")
    assert len(error["param"]) == 36  # Tencent's RequestId


@pytest.mark.parametrize("stream", [False, True])  # a stream's error comes before its first chunk: retried too
async def test_rate_limits_are_429_and_retried_on_another_channel(relay_env: RelayEnv, stream: bool) -> None:
    busy, _ = await tencent_channel(relay_env, priority=10, name="busy")
    spare, spare_id = await tencent_channel(relay_env, name="spare")
    await relay_env.set_option("RetryTimes", "1")
    busy.fail_next("RequestLimitExceeded", "Your current request times exceeds the frequency limit.")
    if stream:
        chunks = await relay_env.client().chat.completions.create(model="hunyuan-lite", messages=MESSAGES,
                                                                  stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    else:
        answer = await relay_env.client().chat.completions.create(model="hunyuan-lite", messages=MESSAGES)
        text = answer.choices[0].message.content or ""
    assert text == "echo: Say hello please"
    assert len(busy.requests) == 1 and len(spare.requests) == 1
    [log] = await relay_env.consume_logs()
    assert log["channel_id"] == spare_id


async def test_an_error_before_the_first_stream_chunk_is_an_http_error(relay_env: RelayEnv) -> None:
    fake, _ = await tencent_channel(relay_env)
    fake.fail_next("FailedOperation.EngineServerError", "engine busy")
    # An error before the first chunk is raised before the answer starts: an HTTP error with the provider's code.
    with pytest.raises(openai.APIStatusError) as caught:
        await relay_env.client().chat.completions.create(model="hunyuan-lite", messages=MESSAGES, stream=True)
    assert caught.value.status_code == 500
    error = error_of(caught.value)
    assert (error["type"], error["code"]) == ("tencent_error", "FailedOperation.EngineServerError")
    assert error["message"].startswith("engine busy (request id: ")
    assert await relay_env.consume_logs() == []


# -- channel test ----------------------------------------------------------------------------------------------

async def test_channel_test_signs_and_reports_tencents_complaint(relay_env: RelayEnv) -> None:
    fake, good = await tencent_channel(relay_env, name="good")
    _, bad = await tencent_channel(relay_env, key=f"{APP_ID}|{SECRET_ID}|wrong", name="bad")
    passed = await relay_env.services.channels.test(good, "hunyuan-lite")
    assert passed["success"] is True and passed["message"].startswith("echo: ")
    assert fake.requests[-1].json()["Model"] == "hunyuan-lite"
    failed = await relay_env.services.channels.test(bad, "hunyuan-lite")
    assert failed["success"] is False and "could not be validated" in failed["message"]
    assert failed["fatal"] is True
