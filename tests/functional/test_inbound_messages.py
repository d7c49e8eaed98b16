"""End to end: the official anthropic SDK speaking Anthropic's Messages API to oneapi (``/v1/messages``),
in front of an OpenAI channel (translated both ways) and an Anthropic channel (forwarded natively).

The fakes' usage is deterministic (their module docstrings): the OpenAI fake counts words + 3 per message, the
Anthropic fake words of ``system`` + 3 per message + words; so every number below is computed by hand.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.anthropic_upstream import start_fake as start_anthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import start_fake as start_gemini
from tests.fakes.openai_upstream import FakeOpenAI, tiny_png
from tests.functional.relay_env import RelayEnv

GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-sonnet-20241022"
CLAUDE_KEY = "sk-ant-channel-key"
WEATHER: Any = {"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME: Any = {"name": "get_time", "input_schema": {"type": "object", "properties": {"utc_offset": {"type": "integer"}}}}


@pytest.fixture
async def client(relay_env: RelayEnv) -> AsyncIterator[AsyncAnthropic]:
    """The anthropic SDK with a oneapi token (the SDK sends it as ``x-api-key``... or as a Bearer token,
    depending on its version: both are accepted)."""
    async with anthropic.AsyncAnthropic(base_url=relay_env.base_url, api_key=relay_env.root_key,
                                        max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def openai_channel(relay_env: RelayEnv) -> AsyncIterator[FakeOpenAI]:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models=GPT)
    yield fake


@pytest.fixture
async def claude_channel(relay_env: RelayEnv) -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic(keys={CLAUDE_KEY})
    url, stop = await start_anthropic(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=14, key=CLAUDE_KEY, models=f"{CLAUDE},claude-alias",
                                model_mapping=json.dumps({"claude-alias": CLAUDE}))
    yield fake


# -- an OpenAI channel: translated both ways -----------------------------------------------------------------

async def test_text_through_an_openai_channel(relay_env: RelayEnv, client: AsyncAnthropic,
                                              openai_channel: FakeOpenAI) -> None:
    message = await client.messages.create(
        model=GPT, max_tokens=100, system="Be brief", extra_body={"temperature": 0.5}, stop_sequences=["END"],
        metadata={"user_id": "u-1"}, messages=[{"role": "user", "content": "hello there"}])
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2 + 3 + 2 + 3, 3)
    assert openai_channel.requests[-1].path == "/v1/chat/completions"
    assert openai_channel.requests[-1].json() == {
        "model": GPT,
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hello there"}],
        "max_tokens": 100, "stop": ["END"], "temperature": 0.5, "user": "u-1"}
    logs = await relay_env.consume_logs()
    assert len(logs) == 1 and (logs[0]["prompt_tokens"], logs[0]["completion_tokens"]) == (10, 3)
    assert logs[0]["model_name"] == GPT and logs[0]["quota"] > 0


async def test_max_tokens_is_the_stop_reason_when_the_answer_is_cut(relay_env: RelayEnv, client: AsyncAnthropic,
                                                                     openai_channel: FakeOpenAI) -> None:
    message = await client.messages.create(model=GPT, max_tokens=2,
                                                   messages=[{"role": "user", "content": "one two three"}])
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 2


async def test_stream_through_an_openai_channel(relay_env: RelayEnv, client: AsyncAnthropic,
                                                openai_channel: FakeOpenAI) -> None:
    stream = await client.messages.create(model=GPT, max_tokens=100, stream=True,
                                                  messages=[{"role": "user", "content": "count one two three"}])
    events = [e async for e in stream]  # the SDK passes every event on but ping
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == "echo: count one two three"
    delta = events[-2]
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == 5 and delta.usage.input_tokens == 4 + 3
    assert openai_channel.requests[-1].json()["stream_options"] == {"include_usage": True}
    logs = await relay_env.consume_logs()
    assert (logs[0]["prompt_tokens"], logs[0]["completion_tokens"], logs[0]["is_stream"]) == (7, 5, True)


async def test_stream_helper_accumulates_the_message(relay_env: RelayEnv, client: AsyncAnthropic,
                                                     openai_channel: FakeOpenAI) -> None:
    async with client.messages.stream(model=GPT, max_tokens=100,
                                              messages=[{"role": "user", "content": "hi you"}]) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "echo: hi you"
    assert final.content[0].type == "text" and final.content[0].text == "echo: hi you"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3


async def test_tools_round_trip_through_an_openai_channel(relay_env: RelayEnv, client: AsyncAnthropic,
                                                          openai_channel: FakeOpenAI) -> None:
    first = await client.messages.create(model=GPT, max_tokens=100, tools=[WEATHER, TIME],
                                         tool_choice={"type": "any", "disable_parallel_tool_use": True},
                                         messages=[{"role": "user", "content": "Paris"}])
    assert first.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", ""), getattr(b, "input", None)) for b in first.content] == [
        ("tool_use", "get_weather", {"city": "Paris"})]
    sent = openai_channel.requests[-1].json()
    assert sent["tools"][0] == {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER["input_schema"]}}
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    call = first.content[0]
    assert call.type == "tool_use"
    second = await client.messages.create(model=GPT, max_tokens=100, tools=[WEATHER], messages=[
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                          {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}])
    assert second.content[0].type == "text" and second.content[0].text == "tool result: sunny"
    assert second.stop_reason == "end_turn"
    sent = openai_channel.requests[-1].json()
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]


async def test_streamed_tool_calls_arrive_as_input_json_deltas(relay_env: RelayEnv, client: AsyncAnthropic,
                                                               openai_channel: FakeOpenAI) -> None:
    async with client.messages.stream(model=GPT, max_tokens=100, tools=[WEATHER, TIME],
                                              messages=[{"role": "user", "content": "Rome"}]) as stream:
        events = [e async for e in stream]
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", ""), getattr(b, "input", None)) for b in final.content] == [
        ("tool_use", "get_weather", {"city": "Rome"}), ("tool_use", "get_time", {"utc_offset": 1})]
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    starts = [e for e in events if e.type == "content_block_start"]
    assert [s.index for s in starts] == [0, 1]


async def test_images_reach_an_openai_channel_as_data_urls(relay_env: RelayEnv, client: AsyncAnthropic,
                                                           openai_channel: FakeOpenAI) -> None:
    png = base64.b64encode(tiny_png()).decode()
    await client.messages.create(model=GPT, max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "text", "text": "what is this"}]}])
    sent = openai_channel.requests[-1].json()["messages"]
    assert sent == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "text", "text": "what is this"}]}]


async def test_structured_output_through_an_openai_channel(client: AsyncAnthropic,
                                                           openai_channel: FakeOpenAI) -> None:
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str

    openai_channel.reply_text('{"name": "Ada"}')
    parsed = await client.messages.parse(model=GPT, max_tokens=50, output_format=Person,
                                         messages=[{"role": "user", "content": "A name please"}])
    assert parsed.parsed_output == Person(name="Ada")
    response_format = openai_channel.requests[-1].json()["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["name"] == "output"
    assert response_format["json_schema"]["schema"]["properties"]["name"]["type"] == "string"


async def test_upstream_errors_come_back_in_anthropic_shape(relay_env: RelayEnv, client: AsyncAnthropic,
                                                            openai_channel: FakeOpenAI) -> None:
    openai_channel.fail_next(429)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=GPT, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == "rate_limit_error"


async def test_server_tools_cannot_be_translated(relay_env: RelayEnv, client: AsyncAnthropic,
                                                 openai_channel: FakeOpenAI) -> None:
    with pytest.raises(anthropic.BadRequestError, match="web_search") as caught:
        await client.messages.create(
            model=GPT, max_tokens=10, messages=[{"role": "user", "content": "news?"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert openai_channel.requests == []


# -- an Anthropic channel: forwarded natively ----------------------------------------------------------------

async def test_native_non_stream_is_forwarded_as_is(relay_env: RelayEnv, client: AsyncAnthropic,
                                                    claude_channel: FakeAnthropic) -> None:
    claude_channel.cache_read_input_tokens = 4
    message = await client.messages.create(model=CLAUDE, max_tokens=100, system="Be terse",
                                                   messages=[{"role": "user", "content": "Say hello please"}])
    assert message.content[0].type == "text" and message.content[0].text == "echo: Say hello please"
    assert message.id.startswith("msg_") and message.usage.cache_read_input_tokens == 4
    sent = claude_channel.requests[-1]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == CLAUDE_KEY
    assert sent.json() == {"max_tokens": 100, "messages": [{"role": "user", "content": "Say hello please"}],
                           "model": CLAUDE, "system": "Be terse"}
    logs = await relay_env.consume_logs()
    assert (logs[0]["prompt_tokens"], logs[0]["completion_tokens"]) == (2 + 3 + 3 + 4, 4)


async def test_native_forwarding_keeps_the_bytes(relay_env: RelayEnv, claude_channel: FakeAnthropic) -> None:
    body = (b'{"model": "claude-3-5-sonnet-20241022",  "max_tokens": 20, '
            b'"messages": [{"role": "user", "content": "x y"}]}')
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/messages", data=body,
            headers={"x-api-key": relay_env.root_key, "anthropic-version": "2023-06-01",
                     "anthropic-beta": "some-beta-2025"}) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["content"] == [{"type": "text", "text": "echo: x y"}]
    sent = claude_channel.requests[-1]
    assert sent.body == body
    assert sent.headers["anthropic-version"] == "2023-06-01" and sent.headers["anthropic-beta"] == "some-beta-2025"


async def test_native_model_mapping_rewrites_only_the_model(relay_env: RelayEnv, client: AsyncAnthropic,
                                                            claude_channel: FakeAnthropic) -> None:
    await client.messages.create(model="claude-alias", max_tokens=10,
                                         messages=[{"role": "user", "content": "hi"}])
    assert claude_channel.requests[-1].json()["model"] == CLAUDE
    assert (await relay_env.consume_logs())[0]["model_name"] == CLAUDE


async def test_native_stream_with_tools(relay_env: RelayEnv, client: AsyncAnthropic,
                                        claude_channel: FakeAnthropic) -> None:
    async with client.messages.stream(model=CLAUDE, max_tokens=100, tools=[WEATHER],
                                              messages=[{"role": "user", "content": "Oslo"}]) as stream:
        events = [e async for e in stream]
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {"city": "Oslo"})]
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert claude_channel.requests[-1].json()["stream"] is True
    logs = await relay_env.consume_logs()
    output = len(json.dumps({"city": "Oslo"}).split())
    assert (logs[0]["prompt_tokens"], logs[0]["completion_tokens"], logs[0]["is_stream"]) == (3 + 1, output, True)


async def test_native_errors_keep_anthropic_types(relay_env: RelayEnv, client: AsyncAnthropic,
                                                  claude_channel: FakeAnthropic) -> None:
    claude_channel.fail_next(529)
    with pytest.raises(anthropic.OverloadedError) as caught:
        await client.messages.create(model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert caught.value.request_id  # the request-id header
    assert await relay_env.consume_logs() == []


async def test_count_tokens(relay_env: RelayEnv, client: AsyncAnthropic, claude_channel: FakeAnthropic,
                            openai_channel: FakeOpenAI) -> None:
    native = await client.messages.count_tokens(model=CLAUDE, system="Be terse",
                                                messages=[{"role": "user", "content": "Say hello please"}])
    assert native.input_tokens == 2 + 3 + 3
    assert claude_channel.requests[-1].path == "/v1/messages/count_tokens"
    local = await client.messages.count_tokens(model=GPT, messages=[{"role": "user", "content": "Say hello please"}])
    assert 0 < local.input_tokens < 20
    assert openai_channel.requests == [] and await relay_env.consume_logs() == []


# -- a channel whose adaptor translates (Gemini): Messages → OpenAI → Gemini, and back ------------------------

async def test_through_a_translating_adaptor(relay_env: RelayEnv, client: AsyncAnthropic) -> None:
    fake = FakeGemini(keys={"AIza-key"})
    url, stop = await start_gemini(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=24, key="AIza-key", models="gemini-2.0-flash")
    message = await client.messages.create(model="gemini-2.0-flash", max_tokens=50, system="Be terse",
                                           messages=[{"role": "user", "content": "hello there world"}])
    assert message.content[0].type == "text" and message.content[0].text == "echo: hello there world"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2 + 3, 4)
    assert fake.requests[-1].json()["systemInstruction"] == {"parts": [{"text": "Be terse"}]}
    async with client.messages.stream(model="gemini-2.0-flash", max_tokens=50, tools=[WEATHER],
                                      messages=[{"role": "user", "content": "Lima"}]) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {"city": "Lima"})]
    logs = await relay_env.consume_logs()
    assert sorted(log["is_stream"] for log in logs) == [False, True]
    assert all(log["completion_tokens"] > 0 for log in logs)


# -- routing: retries cross protocols, failures refund ---------------------------------------------------------

async def test_a_failed_anthropic_channel_is_retried_on_an_openai_one(relay_env: RelayEnv, client: AsyncAnthropic,
                                                                      openai_channel: FakeOpenAI) -> None:
    fake = FakeAnthropic(keys={CLAUDE_KEY})
    url, stop = await start_anthropic(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=14, key=CLAUDE_KEY, models=GPT, priority=10)  # tried first
    await relay_env.set_option("RetryTimes", "1")
    fake.fail_next(529)
    message = await client.messages.create(model=GPT, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].type == "text" and message.content[0].text == "echo: hi"  # translated back
    assert len(fake.requests) == 1 and len(openai_channel.requests) == 1
    assert len(await relay_env.consume_logs()) == 1


async def test_an_error_event_before_any_content_is_not_charged(relay_env: RelayEnv, client: AsyncAnthropic,
                                                                claude_channel: FakeAnthropic) -> None:
    before = await relay_env.token_row()
    claude_channel.fail_stream_next("overloaded_error", before_content=True)
    stream = await client.messages.create(model=CLAUDE, max_tokens=20, stream=True,
                                          messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        [e async for e in stream]
    assert await relay_env.consume_logs() == []
    after = await relay_env.token_row()
    assert (after["remain_quota"], after["used_quota"]) == (before["remain_quota"], before["used_quota"])


async def stream_count(relay_env: RelayEnv) -> bytes:
    """A streamed /v1/messages request to count, its whole 200 answer."""
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/messages", headers={"x-api-key": relay_env.root_key},
            json={"model": CLAUDE, "max_tokens": 100, "stream": True,
                  "messages": [{"role": "user", "content": "count"}]}) as response:
        assert response.status == 200
        return await response.read()


async def test_an_error_event_after_content_ends_the_stream_and_bills_what_was_said(
        relay_env: RelayEnv, claude_channel: FakeAnthropic) -> None:
    claude_channel.reply_text("one two three four five six seven eight")
    claude_channel.fail_stream_next("overloaded_error")
    body = await stream_count(relay_env)
    names = [line[7:] for line in body.split(b"\n") if line.startswith(b"event: ")]
    assert names[-2:] == [b"content_block_delta", b"error"]  # the provider's error as it came, and nothing after
    assert b"[DONE]" not in body and b"Overloaded" in body
    (log,) = await relay_env.consume_logs()
    assert log["is_stream"] is True and 0 < log["completion_tokens"] < 8  # counted: the first piece only


async def test_a_native_stream_that_breaks_ends_with_an_anthropic_error_event(
        relay_env: RelayEnv, claude_channel: FakeAnthropic) -> None:
    claude_channel.reply_text("one two three four five six seven eight")
    claude_channel.break_stream_next()
    body = await stream_count(relay_env)
    events = [line for line in body.split(b"\n") if line.startswith(b"event: ")]
    assert events[-2:] == [b"event: content_block_delta", b"event: error"]
    error = json.loads(body.rstrip().split(b"\n")[-1].removeprefix(b"data: "))
    assert error["error"]["type"] == "api_error" and "upstream stream broke" in error["error"]["message"]
    assert b"[DONE]" not in body
    (log,) = await relay_env.consume_logs()
    assert log["is_stream"] is True and 0 < log["completion_tokens"] < 8  # counted: what was delivered


async def test_request_ids(relay_env: RelayEnv, client: AsyncAnthropic, openai_channel: FakeOpenAI,
                           claude_channel: FakeAnthropic) -> None:
    for model in (GPT, CLAUDE):
        message = await client.messages.create(model=model, max_tokens=20,
                                               messages=[{"role": "user", "content": "hi"}])
        assert message._request_id
        async with client.messages.stream(model=model, max_tokens=20,
                                          messages=[{"role": "user", "content": "hi"}]) as stream:
            assert stream.request_id
            await stream.get_final_message()
    logs = await relay_env.consume_logs()
    assert len(logs) == 4 and all(log["request_id"] for log in logs)


@pytest.mark.parametrize("native", [False, True])
async def test_a_client_that_leaves_mid_stream_pays_for_what_it_got(relay_env: RelayEnv, native: bool) -> None:
    """Translated or forwarded, the upstream is closed and what was delivered is billed, once."""
    if native:
        claude = FakeAnthropic(keys={CLAUDE_KEY}, stream_pieces=60, chunk_delay=0.05)
        url, stop = await start_anthropic(claude)
        relay_env.stops.append(stop)
        await relay_env.add_channel(url, type=14, key=CLAUDE_KEY, models=CLAUDE)
        model = CLAUDE
    else:
        fake, url = await relay_env.fake()
        fake.stream_chunks, fake.chunk_delay = 60, 0.05
        await relay_env.add_channel(url, models=GPT)
        model = GPT
    long_text = " ".join(["word"] * 300)
    (claude if native else fake).reply_text(long_text)
    async with aiohttp.ClientSession() as session:
        response = await session.post(relay_env.base_url + "/v1/messages", headers={"x-api-key": relay_env.root_key},
                                      json={"model": model, "max_tokens": 1000, "stream": True,
                                            "messages": [{"role": "user", "content": "a long story"}]})
        assert response.status == 200
        deltas = 0
        while deltas < 3:
            line = await response.content.readline()
            assert line, "the stream ended early"
            deltas += line.startswith(b"event: content_block_delta")
        response.close()

    log = await relay_env.the_consume_log()
    assert log["is_stream"] is True and 0 < log["completion_tokens"] < 150


# -- bad input: Anthropic's error shape, never a 500 -----------------------------------------------------------

async def post_raw(env: RelayEnv, body: bytes, path: str = "/v1/messages", **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(
            env.base_url + path, data=body, headers={"x-api-key": env.root_key, **headers}) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}', "max_tokens: Field required"),
    (b'{"model": "gpt-4o-mini", "max_tokens": "10", "messages": []}', "max_tokens: Input should be a valid integer"),
    (b'{"model": "gpt-4o-mini", "max_tokens": 10, "messages": "hi"}', "messages: Input should be a valid list"),
    (b'{"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}',
     "messages.0.role"),
    (b'{"model": 5, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}', "model:"),
    (b'{"model": "gpt-4o-mini", "max_tokens": 10, "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
     "stream:"),
    (b'{"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "image"}]}]}',
     "source"),
])
async def test_bad_input_is_an_invalid_request_error(relay_env: RelayEnv, openai_channel: FakeOpenAI, body: bytes,
                                                      message: str) -> None:
    status, answer = await post_raw(relay_env, body)
    assert status == 400, answer
    assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error"
    assert message in answer["error"]["message"] and answer["request_id"]
    if b"max_tokens" in body and b'"stream"' not in body:  # count_tokens takes neither max_tokens nor stream
        status, answer = await post_raw(relay_env, body, "/v1/messages/count_tokens")
        assert status == 400 and answer["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(("body", "message"), [
    ({"model": GPT, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
    ({"model": GPT, "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages.0.content.0.text"),
    ({"model": GPT, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": "all"}, "tools:"),
])
async def test_the_sdk_reads_bad_input_as_bad_request_errors(client: AsyncAnthropic, openai_channel: FakeOpenAI,
                                                             body: Any, message: str) -> None:
    """What the SDK's typed methods would not send, sent through its own low-level ``post``."""
    from anthropic.types import Message

    with pytest.raises(anthropic.BadRequestError, match=message) as caught:
        await client.post("/v1/messages", cast_to=Message, body=body)
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert caught.value.request_id


async def test_unknown_model_is_not_found(relay_env: RelayEnv, client: AsyncAnthropic,
                                          openai_channel: FakeOpenAI) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.messages.create(model="no-such-model", max_tokens=10,
                                             messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


@pytest.mark.parametrize("key", ["sk-wrongwrongwrongwrongwrongwrongwrongwrongwrongwr", ""])
async def test_bad_key_is_an_authentication_error(relay_env: RelayEnv, openai_channel: FakeOpenAI, key: str) -> None:
    async with anthropic.AsyncAnthropic(base_url=relay_env.base_url, api_key=key or "x", max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(model=GPT, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


async def test_the_event_sequence_on_the_wire(relay_env: RelayEnv, openai_channel: FakeOpenAI) -> None:
    """Every event as Anthropic frames it: ``event: <type>`` and a ``data:`` object of the same type, the ping
    the SDK hides included."""
    body = (b'{"model": "gpt-4o-mini", "max_tokens": 50, "stream": true, '
            b'"messages": [{"role": "user", "content": "a b"}]}')
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1/messages", data=body, headers={"x-api-key": relay_env.root_key}) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        raw = (await response.read()).decode()
    events = [block.split("\n") for block in raw.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert [json.loads(lines[1].removeprefix("data: "))["type"] for lines in events] == names
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "[DONE]" not in raw


async def test_a_token_limited_to_other_models_is_refused(relay_env: RelayEnv, openai_channel: FakeOpenAI) -> None:
    key = await relay_env.new_token(name="narrow", models="gpt-4o", remain_quota=100_000)
    async with anthropic.AsyncAnthropic(base_url=relay_env.base_url, api_key=key, max_retries=0) as client:
        with pytest.raises(anthropic.PermissionDeniedError) as caught:
            await client.messages.create(model=GPT, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert openai_channel.requests == []


async def test_bearer_authorization_works_too(relay_env: RelayEnv, openai_channel: FakeOpenAI) -> None:
    async with anthropic.AsyncAnthropic(base_url=relay_env.base_url, auth_token=relay_env.root_key,
                                        max_retries=0) as client:
        message = await client.messages.create(model=GPT, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].type == "text" and message.content[0].text == "echo: hi"
