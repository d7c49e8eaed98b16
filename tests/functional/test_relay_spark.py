"""iFlytek Spark (channel type 18) end to end: the official openai SDK → oneapi → the fake Spark websocket
upstream (tests/fakes/spark_upstream.py), which verifies every signed URL and request frame.

Covered: non-stream with a system message (v3+ keeps it, Lite gets it folded), stream with and without
``stream_options.include_usage``, a function call, ``header.code`` errors as OpenAI-shaped errors, a wrong
APISecret / APPID / clock, the version from the channel config, billing from the final frame's usage, and the
relay's websocket handshake and idle timeouts (no hang).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.spark_upstream import BAD_DATE, NO_LICENSE, FakeSpark, start_spark
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

MODELS = "Spark-Lite,Spark-Pro,Spark-Max,Spark-4.0-Ultra"
SYSTEM: Any = {"role": "system", "content": "You answer briefly"}
USER: Any = {"role": "user", "content": "hello spark friend"}
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
async def spark(relay_env: RelayEnv) -> tuple[FakeSpark, str]:
    fake = FakeSpark()
    url, stop = await start_spark(fake)
    relay_env.stops.append(stop)
    return fake, url


@pytest.fixture
async def quick_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    """oneapi with RELAY_TIMEOUT=1: a websocket silent for a second is abandoned."""
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config(RELAY_TIMEOUT="1")):
        yield env


async def add_spark(env: RelayEnv, fake: FakeSpark, url: str, *, key: str | None = None, models: str = MODELS,
                    **fields: Any) -> int:
    return await env.add_channel(url, type=18, key=key or fake.channel_key, models=models, **fields)


async def channel_status(env: RelayEnv, channel_id: int) -> int:
    row = await env.services.store.read(channel_q.get, channel_id)
    assert row is not None
    return int(row["status"])


def expected_quota(env: RelayEnv, model: str, prompt: int, completion: int) -> int:
    price = pricing.price_for(env.relay.prices(), model, 18, "default")
    return pricing.text_quota(price, prompt, completion)


# -- answers -------------------------------------------------------------------------------------------


async def test_non_stream_with_system_message_is_billed_from_the_final_frame(
        relay_env: RelayEnv, spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    before = await relay_env.user_row()
    answer = await relay_env.client().chat.completions.create(
        model="Spark-Max", messages=[SYSTEM, USER], temperature=0.5, max_tokens=50, n=1, user="alice",
        extra_body={"top_k": 3})
    assert answer.choices[0].message.content == "echo: hello spark friend"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "Spark-Max"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 4)

    seen = fake.dialogues[-1]
    assert seen.path == "/v3.5/chat" and seen.refused is None and seen.auth["api_key"] == fake.api_key
    assert fake.frames[-1] == {
        "header": {"app_id": fake.app_id, "uid": "alice"},
        "parameter": {"chat": {"domain": "generalv3.5", "temperature": 0.5, "max_tokens": 50, "top_k": 3}},
        "payload": {"message": {"text": [SYSTEM, USER]}}}

    [log] = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (6, 4)  # the fake's usage, not a local count
    assert log["model_name"] == "Spark-Max" and log["is_stream"] is False
    assert log["quota"] == expected_quota(relay_env, "Spark-Max", 6, 4) > 0
    after = await relay_env.user_row()
    assert before["quota"] - after["quota"] == log["quota"]


async def test_lite_gets_the_system_message_folded_into_the_first_user_turn(
        relay_env: RelayEnv, spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    answer = await relay_env.client().chat.completions.create(model="Spark-Lite", messages=[SYSTEM, USER])
    assert answer.choices[0].message.content == "echo: You answer briefly\n\nhello spark friend"
    assert fake.dialogues[-1].path == "/v1.1/chat"
    assert fake.frames[-1]["parameter"]["chat"]["domain"] == "lite"
    assert fake.frames[-1]["payload"]["message"]["text"] == [
        {"role": "user", "content": "You answer briefly\n\nhello spark friend"}]


async def test_stream_sends_the_usage_chunk_only_when_asked(relay_env: RelayEnv,
                                                            spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    client = relay_env.client()
    for include_usage in (False, True):
        options: Any = {"include_usage": True} if include_usage else openai.NOT_GIVEN
        stream = await client.chat.completions.create(model="Spark-Pro", messages=[SYSTEM, USER], stream=True,
                                                      stream_options=options)
        text, usages, finishes, roles = "", [], [], []
        async for chunk in stream:
            if chunk.usage is not None:
                usages.append((chunk.usage.prompt_tokens, chunk.usage.completion_tokens))
            for choice in chunk.choices:
                text += choice.delta.content or ""
                roles += [choice.delta.role] if choice.delta.role else []
                finishes += [choice.finish_reason] if choice.finish_reason else []
        assert text == "echo: hello spark friend"
        assert finishes == ["stop"] and roles == ["assistant"]
        assert usages == ([(6, 4)] if include_usage else [])
    assert fake.dialogues[-1].path == "/v3.1/chat"
    logs = await relay_env.consume_logs()
    assert [(log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) for log in logs] == [(6, 4, True)] * 2


async def test_a_function_call_non_stream_and_stream(relay_env: RelayEnv, spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    client = relay_env.client()
    messages: Any = [{"role": "user", "content": "Paris"}]
    answer = await client.chat.completions.create(model="Spark-4.0-Ultra", messages=messages, tools=[WEATHER])
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    function: Any = call.function
    assert function.name == "get_weather" and json.loads(function.arguments) == {"city": "Paris"}
    assert fake.frames[-1]["payload"]["functions"] == {"text": [WEATHER["function"]]}  # bare definitions
    assert answer.usage is not None and answer.usage.completion_tokens == 2  # words of the arguments

    stream = await client.chat.completions.create(model="Spark-4.0-Ultra", messages=messages, tools=[WEATHER],
                                                  stream=True)
    names, arguments, finishes = [], "", []
    async for chunk in stream:
        for c in chunk.choices:
            for delta in c.delta.tool_calls or []:
                assert delta.function is not None
                names += [delta.function.name] if delta.function.name else []
                arguments += delta.function.arguments or ""
            finishes += [c.finish_reason] if c.finish_reason else []
    assert names == ["get_weather"] and json.loads(arguments) == {"city": "Paris"} and finishes == ["tool_calls"]

    # The tool's answer goes back as a user turn; the assistant's call is written out for the model.
    follow_up: Any = [*messages, choice.message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    final = await client.chat.completions.create(model="Spark-4.0-Ultra", messages=follow_up)
    assert final.choices[0].message.content == "echo: sunny"
    assert [t["role"] for t in fake.frames[-1]["payload"]["message"]["text"]] == ["user", "assistant", "user"]


# -- errors --------------------------------------------------------------------------------------------


async def test_header_code_errors_are_openai_errors_with_sparks_code(relay_env: RelayEnv,
                                                                     spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    client = relay_env.client()
    before = await relay_env.user_row()
    fake.fail_next(10013, "输入内容审核不通过，涉嫌违规，请重新调整输入内容")
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="Spark-Max", messages=[USER])
    assert bad.value.status_code == 400
    body: Any = bad.value.body
    assert body["type"] == "xunfei_error" and body["code"] == 10013 and body["param"].startswith("cht")
    assert body["message"].startswith("输入内容审核不通过") and "(request id: " in body["message"]

    fake.fail_next(11201, "AppIdQpsOverFlowError:(11201)app daily limit exceeded")
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="Spark-Max", messages=[USER])
    assert limited.value.status_code == 429 and limited.value.code == "11201"  # SPEC 1.3: the saturated message

    fake.fail_next(10012, "EngineInternalError")
    with pytest.raises(openai.InternalServerError) as internal:
        await client.chat.completions.create(model="Spark-Max", messages=[USER])
    assert internal.value.body["code"] == 10012 and "EngineInternalError" in internal.value.message  # type: ignore[index]
    assert await relay_env.consume_logs() == []
    assert (await relay_env.user_row())["quota"] == before["quota"]  # nothing charged


async def test_a_header_code_error_in_a_stream_reaches_the_client(relay_env: RelayEnv,
                                                                  spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    fake.fail_next(10014, "输出内容涉及敏感信息，审核不通过，后续结果无法展示给用户")
    # The error comes in the first frame, before any content: the client gets it as the HTTP answer
    # (Spark's code and message, status 400), not as a 200 stream that breaks.
    with pytest.raises(openai.BadRequestError) as caught:
        stream = await relay_env.client().chat.completions.create(model="Spark-Max", messages=[USER], stream=True)
        async for _ in stream:
            pass
    assert "输出内容涉及敏感信息" in caught.value.message
    body: Any = caught.value.body
    assert body["type"] == "xunfei_error" and str(body["code"]) == "10014"


async def test_a_wrong_api_secret_is_a_clear_401_and_disables_the_channel(
        relay_env: RelayEnv, spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    channel_id = await add_spark(relay_env, fake, url, key=f"{fake.app_id}|not-the-secret|{fake.api_key}")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="Spark-Max", messages=[USER])
    assert caught.value.status_code == 401
    body: Any = caught.value.body
    assert body["type"] == "xunfei_error" and body["code"] == "xunfei_handshake_refused"
    assert "HTTP 401" in body["message"] and "APPID|APISecret|APIKey" in body["message"]
    assert fake.dialogues[-1].refused == 401 and fake.frames == []
    assert await channel_status(relay_env, channel_id) == channel_q.STATUS_AUTO_DISABLED


async def test_a_wrong_app_id_is_sparks_11200_as_401(relay_env: RelayEnv, spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    channel_id = await add_spark(relay_env, fake, url, key=f"another-app|{fake.api_secret}|{fake.api_key}")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model="Spark-Max", messages=[USER])
    assert caught.value.body["code"] == 11200 and NO_LICENSE in caught.value.message  # type: ignore[index]
    assert await channel_status(relay_env, channel_id) == channel_q.STATUS_AUTO_DISABLED


async def test_a_skewed_clock_is_403_and_keeps_the_channel(relay_env: RelayEnv,
                                                           spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    fake.clock_offset = 10 * 60
    channel_id = await add_spark(relay_env, fake, url)
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await relay_env.client().chat.completions.create(model="Spark-Max", messages=[USER])
    assert "clock" in caught.value.message and fake.dialogues[-1].refused == 403
    assert BAD_DATE  # what the fake answered; the relay does not pass handshake bodies on (see the report)
    assert await channel_status(relay_env, channel_id) == channel_q.STATUS_ENABLED


async def test_a_connection_closed_before_the_last_frame_is_an_error(relay_env: RelayEnv,
                                                                      spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    fake.drop_after(1)
    with pytest.raises(openai.InternalServerError) as caught:
        await relay_env.client().chat.completions.create(model="Spark-Max", messages=[USER])
    assert caught.value.code == "xunfei_incomplete_response"


# -- versions from the channel -------------------------------------------------------------------------


async def test_the_version_from_channel_config_and_legacy_other(relay_env: RelayEnv,
                                                                spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url, models="SparkDesk", config=json.dumps({"api_version": "v4.0"}))
    # An http:// base_url is the same host over ws://.
    await add_spark(relay_env, fake, url.replace("ws://", "http://"), models="my-spark", other="v2.1")
    client = relay_env.client()
    answer = await client.chat.completions.create(model="SparkDesk", messages=[SYSTEM, USER])
    assert answer.choices[0].message.content == "echo: hello spark friend"
    assert fake.dialogues[-1].path == "/v4.0/chat" and fake.frames[-1]["parameter"]["chat"]["domain"] == "4.0Ultra"
    answer = await client.chat.completions.create(model="my-spark", messages=[SYSTEM, USER])
    assert fake.dialogues[-1].path == "/v2.1/chat" and fake.frames[-1]["parameter"]["chat"]["domain"] == "generalv2"
    assert answer.choices[0].message.content == "echo: You answer briefly\n\nhello spark friend"


# -- timeouts: an OpenAI-shaped error, never a hang ---------------------------------------------------


async def test_an_unanswered_handshake_times_out_after_five_seconds(relay_env: RelayEnv,
                                                                    spark: tuple[FakeSpark, str]) -> None:
    fake, url = spark
    await add_spark(relay_env, fake, url)
    fake.hang_handshake()
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        await relay_env.client(timeout=30).chat.completions.create(model="Spark-Max", messages=[USER])
    elapsed = time.monotonic() - started
    assert 4.5 <= elapsed < 10  # upstream.WS_HANDSHAKE_TIMEOUT
    assert caught.value.code == "do_request_failed"
    assert "upstream request failed on channel #1: timeout (request id" in caught.value.message
    assert await relay_env.consume_logs() == []


async def test_a_silent_upstream_times_out_after_relay_timeout(quick_env: RelayEnv) -> None:
    fake = FakeSpark()
    url, stop = await start_spark(fake)
    quick_env.stops.append(stop)
    await add_spark(quick_env, fake, url)
    client = quick_env.client(timeout=30)

    fake.stall_after(1)
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="Spark-Max", messages=[USER])
    assert time.monotonic() - started < 5
    assert caught.value.code == "do_request_failed"

    fake.stall_after(1)
    started = time.monotonic()
    stream = await client.chat.completions.create(model="Spark-Max", messages=[USER], stream=True)
    text = ""
    with pytest.raises(openai.APIError) as broke:
        async for chunk in stream:
            text += "".join(c.delta.content or "" for c in chunk.choices)
    assert time.monotonic() - started < 5
    assert text == "echo: he"  # the first frame, then the error
    assert "upstream stream broke on channel #1: timeout" in broke.value.message
