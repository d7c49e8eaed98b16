"""End to end: the official openai SDK through oneapi to the fake Anthropic Messages API (channel type 14).

The fake's usage is deterministic (its module docstring: input = words of ``system`` + for each message 3 +
its words + 85 per image; output = words of the answer), so every expected number below is computed by hand;
the charge follows SPEC 5.1 with the claude ratios looked up in ``oneapi.services.pricing``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from oneapi.services import pricing
from oneapi.store.queries import channels as channel_q
from tests.fakes.anthropic_upstream import IMAGE_TOKENS, FakeAnthropic, start_fake
from tests.fakes.openai_upstream import tiny_png
from tests.functional.relay_env import RelayEnv, relay_config, sqlite_db, start_relay_env

MODEL = "claude-3-5-sonnet-20241022"
KEY = "sk-ant-channel-key"
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME: Any = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {"utc_offset": {"type": "integer"}}}}}


async def claude_channel(env: RelayEnv, *, key: str = KEY, fake: FakeAnthropic | None = None,
                         **fields: Any) -> tuple[FakeAnthropic, int]:
    fake = fake or FakeAnthropic(keys={KEY})
    url, stop = await start_fake(fake)
    env.stops.append(stop)
    channel_id = await env.add_channel(url, type=14, key=key, models=f"{MODEL},claude-3-haiku-20240307", **fields)
    return fake, channel_id


def expected_quota(env: RelayEnv, prompt: int, completion: int, model: str = MODEL) -> int:
    tables = pricing.PriceTables.from_options(env.services.options)
    model_ratio, known = pricing.model_ratio(tables, model, 14)
    assert known, f"{model} should have a default ratio"
    completion_ratio = pricing.completion_ratio(tables, model, 14)
    assert completion_ratio == 5  # SPEC 5.1: claude-3* → 5
    exact = (prompt + completion * Fraction(repr(completion_ratio))) * Fraction(repr(model_ratio))
    return max(1, math.ceil(exact))


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    return body["error"]


# -- chat ------------------------------------------------------------------------------------------------------

async def test_non_stream(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env)
    answer = await relay_env.client().chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hello there"}])
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-msg_")
    assert answer.model == MODEL
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == "echo: hello there"
    assert choice.finish_reason == "stop" and choice.message.tool_calls is None
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2 + 2 + 3, 3)
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json() == {"model": MODEL, "max_tokens": 8192, "system": "Be brief",
                           "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]}


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream(relay_env: RelayEnv, include_usage: bool) -> None:
    fake, _ = await claude_channel(relay_env)
    extra: Any = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await relay_env.client().chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "count one two three"}], **extra)
    chunks = [c async for c in stream]
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == "echo: count one two three"
    assert [c.choices[0].finish_reason for c in with_choices] == [None] * (len(with_choices) - 1) + ["stop"]
    assert len({c.id for c in chunks}) == 1
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and not chunks[-1].choices
        usage = chunks[-1].usage
        assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (4 + 3, 5)
    else:
        assert usage_chunks == []
    assert fake.requests[-1].json()["stream"] is True
    assert "stream_options" not in fake.requests[-1].json()  # an unknown field to Anthropic


async def test_stop_reaches_anthropic_as_stop_sequences(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env)
    client = relay_env.client()
    answer = await client.chat.completions.create(model=MODEL, stop=["STOP"], max_tokens=50,
                                                  messages=[{"role": "user", "content": "one two STOP three"}])
    assert answer.choices[0].message.content == "echo: one two "
    assert answer.choices[0].finish_reason == "stop"
    assert fake.requests[-1].json()["stop_sequences"] == ["STOP"]
    assert fake.requests[-1].json()["max_tokens"] == 50
    stream = await client.chat.completions.create(model=MODEL, stop="three", stream=True,
                                                  messages=[{"role": "user", "content": "one two three"}])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: one two " and fake.requests[-1].json()["stop_sequences"] == ["three"]


async def test_without_max_tokens_a_long_answer_is_not_cut(relay_env: RelayEnv) -> None:
    """One API sent max_tokens 4096, so a 5,000-token answer ended in finish_reason "length"; the model's own
    maximum output (8192 for Claude 3.5 Sonnet) is sent instead."""
    fake, _ = await claude_channel(relay_env)
    words = " ".join(f"w{i}" for i in range(5000))
    answer = await relay_env.client().chat.completions.create(model=MODEL,
                                                              messages=[{"role": "user", "content": words}])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == "echo: " + words
    assert answer.usage is not None and answer.usage.completion_tokens == 5001
    assert fake.requests[-1].json()["max_tokens"] == 8192


async def test_max_tokens_gives_length(relay_env: RelayEnv) -> None:
    await claude_channel(relay_env)
    answer = await relay_env.client().chat.completions.create(
        model=MODEL, max_completion_tokens=2, messages=[{"role": "user", "content": "a b c d"}])
    assert answer.choices[0].message.content == "echo: a" and answer.choices[0].finish_reason == "length"


# -- tools -----------------------------------------------------------------------------------------------------

async def test_single_tool_call_and_its_result(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env)
    client = relay_env.client()
    messages: list[Any] = [{"role": "user", "content": "Paris"}]
    answer = await client.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"} and call.id.startswith("toolu_")
    assert fake.requests[-1].json()["tool_choice"] == {"type": "tool", "name": "get_weather"}

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    final = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME])
    assert final.choices[0].message.content == "tool result: sunny"
    assert final.choices[0].finish_reason == "stop"
    sent = fake.requests[-1].json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == [{"type": "tool_use", "id": call.id, "name": "get_weather",
                                   "input": {"city": "Paris"}}]
    assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]


async def test_parallel_tool_calls_streamed_and_answered(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env, fake=FakeAnthropic(keys={KEY}, tool_preamble="Let me look."))
    client = relay_env.client()
    messages: list[Any] = [{"role": "user", "content": "Lisbon"}]
    stream = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                                  stream=True)
    content, finish = "", []
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        finish.append(chunk.choices[0].finish_reason)
        for part in delta.tool_calls or []:
            entry = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += part.id or ""
            if part.function is not None:
                entry["name"] += part.function.name or ""
                entry["arguments"] += part.function.arguments or ""
    assert content == "Let me look."
    assert finish[-1] == "tool_calls" and set(finish[:-1]) == {None}
    assert sorted(calls) == [0, 1]
    assert [(calls[i]["name"], json.loads(calls[i]["arguments"])) for i in (0, 1)] == [
        ("get_weather", {"city": "Lisbon"}), ("get_time", {"utc_offset": 1})]
    assert len(fake.requests[-1].json()["messages"]) == 1

    messages.append({"role": "assistant", "content": content, "tool_calls": [
        {"id": calls[i]["id"], "type": "function",
         "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]}} for i in (0, 1)]})
    messages += [{"role": "tool", "tool_call_id": calls[0]["id"], "content": "windy"},
                 {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"}]
    final = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME])
    assert final.choices[0].message.content == "tool result: windy | noon"
    results = fake.requests[-1].json()["messages"][2]["content"]
    assert [(r["type"], r["tool_use_id"]) for r in results] == [("tool_result", calls[0]["id"]),
                                                                ("tool_result", calls[1]["id"])]


async def test_parallel_tool_calls_can_be_turned_off(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env)
    answer = await relay_env.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], tools=[WEATHER, TIME], tool_choice="required",
        parallel_tool_calls=False)
    assert len(answer.choices[0].message.tool_calls or []) == 1
    assert fake.requests[-1].json()["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


# -- images ----------------------------------------------------------------------------------------------------

async def test_image_as_data_url(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env)
    png = base64.b64encode(tiny_png()).decode()
    answer = await relay_env.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
    assert answer.choices[0].message.content == "echo: what is this"
    assert answer.usage is not None and answer.usage.prompt_tokens == 3 + 3 + IMAGE_TOKENS
    blocks = fake.requests[-1].json()["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    """A tiny image host: ``/cat.png`` as image/png and ``/blob`` as application/octet-stream."""
    async def cat(request: web.Request) -> web.Response:
        return web.Response(body=tiny_png(), content_type="image/png")

    async def blob(request: web.Request) -> web.Response:
        return web.Response(body=tiny_png(), content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/cat.png", cat)
    app.router.add_get("/blob", blob)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def on_premise_env(tmp_path: Path) -> AsyncIterator[RelayEnv]:
    """The image host below is on loopback, which user-supplied URLs may reach only when the operator says so."""
    async for env in start_relay_env(sqlite_db(tmp_path), relay_config(USER_CONTENT_REQUEST_ALLOW_PRIVATE="true")):
        yield env


async def test_image_by_http_url_is_fetched_and_inlined(on_premise_env: RelayEnv, image_server: str) -> None:
    relay_env = on_premise_env
    fake, _ = await claude_channel(relay_env)
    answer = await relay_env.client().chat.completions.create(model=MODEL, stream=True, messages=[
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"{image_server}/cat.png"}},
                                     {"type": "image_url", "image_url": {"url": f"{image_server}/blob"}},
                                     {"type": "text", "text": "two cats"}]}])
    text = "".join([c.choices[0].delta.content or "" async for c in answer if c.choices])
    assert text == "echo: two cats"
    png = base64.b64encode(tiny_png()).decode()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}
    assert fake.requests[-1].json()["messages"][0]["content"][:2] == [image, image]  # octet-stream sniffed as PNG


# -- billing ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
async def test_billing_uses_anthropic_usage(relay_env: RelayEnv, stream: bool) -> None:
    fake, channel_id = await claude_channel(relay_env)
    fake.cache_read_input_tokens = 40
    fake.cache_creation_input_tokens = 7
    before = await relay_env.user_row()
    text = "alpha beta gamma delta epsilon"
    reply = await relay_env.client().chat.completions.create(
        model=MODEL, stream=stream, messages=[{"role": "system", "content": "one two three"},
                                              {"role": "user", "content": text}])
    if stream:
        assert "".join([c.choices[0].delta.content or "" async for c in reply if c.choices])  # type: ignore[union-attr]
    prompt, completion = 3 + (5 + 3) + 40 + 7, 6  # system + user message + cache read + cache creation
    (log,) = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (prompt, completion)
    assert log["model_name"] == MODEL and log["channel_id"] == channel_id and log["is_stream"] is stream
    quota = expected_quota(relay_env, prompt, completion)
    assert log["quota"] == quota
    after = await relay_env.user_row()
    assert before["quota"] - after["quota"] == quota and after["used_quota"] - before["used_quota"] == quota


# -- provider errors -------------------------------------------------------------------------------------------

async def test_invalid_request_error_passes_through_without_retry(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env, priority=10)
    other, _ = await claude_channel(relay_env)
    await relay_env.set_option("RetryTimes", "1")
    fake.fail_next(400, message="messages.0.content: something is off")
    with pytest.raises(openai.BadRequestError) as caught:
        await relay_env.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    error = error_of(caught.value)
    assert caught.value.status_code == 400
    assert error["type"] == error["code"] == "invalid_request_error" and error["param"] == ""
    assert error["message"].startswith("messages.0.content: something is off (request id: ")
    assert other.requests == []
    assert await relay_env.consume_logs() == []


async def test_401_disables_the_channel_when_enabled(relay_env: RelayEnv) -> None:
    _, channel_id = await claude_channel(relay_env, key="sk-ant-revoked")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "true")
    with pytest.raises(openai.AuthenticationError) as caught:
        await relay_env.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 401
    assert error_of(caught.value)["type"] == "authentication_error"
    row = await relay_env.services.channels.get(channel_id)
    assert row["status"] == channel_q.STATUS_AUTO_DISABLED
    assert relay_env.relay.routes.channel(channel_id).status == channel_q.STATUS_AUTO_DISABLED  # type: ignore[union-attr]


async def test_401_keeps_the_channel_when_auto_disable_is_off(relay_env: RelayEnv) -> None:
    _, channel_id = await claude_channel(relay_env, key="sk-ant-revoked")
    await relay_env.set_option("AutomaticDisableChannelEnabled", "false")
    with pytest.raises(openai.AuthenticationError):
        await relay_env.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert (await relay_env.services.channels.get(channel_id))["status"] == channel_q.STATUS_ENABLED


@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded_error"), (429, "rate_limit_error")])
@pytest.mark.parametrize("stream", [False, True])
async def test_overloaded_and_rate_limited_are_retried_on_another_channel(relay_env: RelayEnv, status: int,
                                                                          kind: str, stream: bool) -> None:
    busy, _ = await claude_channel(relay_env, priority=10, name="busy")
    spare, spare_id = await claude_channel(relay_env, name="spare")
    await relay_env.set_option("RetryTimes", "1")
    busy.fail_next(status, kind)
    reply = await relay_env.client().chat.completions.create(
        model=MODEL, stream=stream, messages=[{"role": "user", "content": "retry me"}])
    if stream:
        text = "".join([c.choices[0].delta.content or "" async for c in reply if c.choices])  # type: ignore[union-attr]
    else:
        text = reply.choices[0].message.content or ""  # type: ignore[union-attr]
    assert text == "echo: retry me"
    assert (len(busy.requests), len(spare.requests)) == (1, 1)
    (log,) = await relay_env.consume_logs()  # the failed attempt is refunded, not billed
    assert log["channel_id"] == spare_id


@pytest.mark.parametrize(("status", "kind", "error_class"), [
    (529, "overloaded_error", openai.InternalServerError), (429, "rate_limit_error", openai.RateLimitError)])
async def test_without_a_spare_channel_the_provider_status_comes_back(relay_env: RelayEnv, status: int, kind: str,
                                                                      error_class: type[Exception]) -> None:
    fake, _ = await claude_channel(relay_env)
    fake.fail_next(status, kind, times=5)
    with pytest.raises(error_class) as caught:
        await relay_env.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert isinstance(caught.value, openai.APIStatusError) and caught.value.status_code == status
    error = error_of(caught.value)
    if status == 529:
        assert error["type"] == error["code"] == "overloaded_error"
    else:  # the provider's own error (One API said "upstream saturated"), with when to retry
        assert error["type"] == error["code"] == "rate_limit_error"
        assert error["message"].startswith("Number of request tokens has exceeded your per-minute rate limit.")
        headers = caught.value.response.headers
        assert headers["retry-after"] == "3" and "anthropic-ratelimit-requests-remaining" not in headers


async def test_an_error_event_inside_the_stream_reaches_the_client(relay_env: RelayEnv) -> None:
    fake, _ = await claude_channel(relay_env)
    fake.fail_stream_next("overloaded_error", "Overloaded")
    stream = await relay_env.client().chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "one two three four"}])
    with pytest.raises(openai.APIError, match="Overloaded"):
        async for _ in stream:
            pass


async def test_an_overload_before_any_content_is_retried_on_another_channel(relay_env: RelayEnv) -> None:
    # Anthropic's overloaded errors often arrive as an error event right after message_start: the adaptor yields
    # no chunk before content, and the relay opens the SSE answer only at the first chunk, so this is retried.
    busy, _ = await claude_channel(relay_env, priority=10, name="busy")
    spare, spare_id = await claude_channel(relay_env, name="spare")
    await relay_env.set_option("RetryTimes", "1")
    busy.fail_stream_next("overloaded_error", "Overloaded", before_content=True)
    stream = await relay_env.client().chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "retry me"}])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: retry me"
    assert (len(busy.requests), len(spare.requests)) == (1, 1)
    (log,) = await relay_env.consume_logs()  # the failed attempt is refunded, not billed
    assert log["channel_id"] == spare_id
