"""Proof that the fake Anthropic upstream speaks Anthropic's published format: the official ``anthropic`` SDK
talks to it — non-stream, ``messages.stream(...)`` and ``create(stream=True)``, tool use, images, errors —
and is satisfied. Answers are deterministic (see the fake's module docstring), so each test checks values."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.fakes.anthropic_upstream import IMAGE_TOKENS, FakeAnthropic, start_fake
from tests.fakes.openai_upstream import tiny_png

KEY = "sk-ant-fake-0123456789"
MODEL = "claude-3-5-sonnet-20241022"
WEATHER: Any = {"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object",
                                 "properties": {"city": {"type": "string"},
                                                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                                 "required": ["city"]}}
TIME: Any = {"name": "get_time", "input_schema": {"type": "object", "properties": {"utc_offset": {"type": "integer"}}}}


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAnthropic, str]]:
    upstream = FakeAnthropic(keys={KEY})
    base, stop = await start_fake(upstream)
    yield upstream, base
    await stop()


@pytest.fixture
async def client(fake: tuple[FakeAnthropic, str]) -> AsyncIterator[AsyncAnthropic]:
    sdk = AsyncAnthropic(base_url=fake[1], api_key=KEY, max_retries=0)
    yield sdk
    await sdk.close()


async def test_create_non_stream(fake: tuple[FakeAnthropic, str], client: AsyncAnthropic) -> None:
    upstream, _ = fake
    message = await client.messages.create(model=MODEL, max_tokens=100, system="Be terse",
                                           messages=[{"role": "user", "content": "Say hello please"}])
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "echo: Say hello please"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2 + 3 + 3, 4)
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["anthropic-version"] >= "2023-06-01"  # the SDK sends its own (newer) API version


async def test_the_x_api_key_header_authenticates(fake: tuple[FakeAnthropic, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    upstream, base = fake
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):  # else the SDK adds a Bearer header from them
        monkeypatch.delenv(name, raising=False)
    async with AsyncAnthropic(base_url=base, api_key=None, default_headers={"x-api-key": KEY},
                              max_retries=0) as sdk:
        message = await sdk.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert message.content[0].type == "text" and message.content[0].text == "echo: x"
    assert upstream.requests[-1].headers["x-api-key"] == KEY and "authorization" not in upstream.requests[-1].headers


async def test_messages_stream_helper(client: AsyncAnthropic) -> None:
    async with client.messages.stream(model=MODEL, max_tokens=100,
                                      messages=[{"role": "user", "content": "count one two three"}]) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == "echo: count one two three"
    assert final.content[0].type == "text" and final.content[0].text == "echo: count one two three"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4 + 3, 5)  # cumulative, not 1 + 5


async def test_create_stream_raw_events(client: AsyncAnthropic) -> None:
    stream = await client.messages.create(model=MODEL, max_tokens=100, stream=True,
                                          messages=[{"role": "user", "content": "hi there"}])
    kinds, text, usages = [], "", []
    async for event in stream:
        kinds.append(event.type)
        if event.type == "message_start":
            usages.append(event.message.usage.output_tokens)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            text += event.delta.text
        elif event.type == "message_delta":
            usages.append(event.usage.output_tokens)
            assert event.delta.stop_reason == "end_turn"
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "ping" not in kinds  # the SDK skips ping events; the fake sends one
    assert text == "echo: hi there" and usages == [1, 3]


async def test_tool_use_round_trip(fake: tuple[FakeAnthropic, str], client: AsyncAnthropic) -> None:
    first = await client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER, TIME],
                                         messages=[{"role": "user", "content": "Paris"}])
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"]
    assert uses[0].input == {"city": "Paris", "unit": "celsius"} and uses[1].input == {"utc_offset": 1}
    follow_up: Any = [
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": [u.model_dump(include={"type", "id", "name", "input"}) for u in uses]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"},
                                     {"type": "tool_result", "tool_use_id": uses[1].id,
                                      "content": [{"type": "text", "text": "noon"}]}]}]
    second = await client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER, TIME], messages=follow_up)
    assert second.content[0].type == "text" and second.content[0].text == "tool result: sunny | noon"
    assert second.stop_reason == "end_turn"


async def test_streamed_tool_use_accumulates_to_the_input(client: AsyncAnthropic) -> None:
    async with client.messages.stream(model=MODEL, max_tokens=200, tools=[WEATHER],
                                      tool_choice={"type": "tool", "name": "get_weather"},
                                      messages=[{"role": "user", "content": "Rome"}]) as stream:
        final = await stream.get_final_message()
    (use,) = final.content
    assert use.type == "tool_use" and use.input == {"city": "Rome", "unit": "celsius"}
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == len(json.dumps(use.input).split())


async def test_parallel_tool_use_can_be_disabled(client: AsyncAnthropic) -> None:
    message = await client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER, TIME],
                                           tool_choice={"type": "any", "disable_parallel_tool_use": True},
                                           messages=[{"role": "user", "content": "x"}])
    assert [b.type for b in message.content] == ["tool_use"]


async def test_image_blocks_are_accepted_and_counted(client: AsyncAnthropic) -> None:
    png = base64.b64encode(tiny_png()).decode()
    message = await client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "text", "text": "what is this"}]}])
    assert message.usage.input_tokens == 3 + 3 + IMAGE_TOKENS
    with pytest.raises(anthropic.BadRequestError, match="does not match the provided media type"):
        await client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": png}}]}])


async def test_stop_sequences_and_max_tokens(client: AsyncAnthropic) -> None:
    stopped = await client.messages.create(model=MODEL, max_tokens=50, stop_sequences=["STOP"],
                                           messages=[{"role": "user", "content": "one two STOP three"}])
    assert stopped.content[0].type == "text" and stopped.content[0].text == "echo: one two "
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "STOP")
    cut = await client.messages.create(model=MODEL, max_tokens=2,
                                       messages=[{"role": "user", "content": "one two three"}])
    assert cut.content[0].type == "text" and cut.content[0].text == "echo: one"
    assert cut.stop_reason == "max_tokens"


# -- errors ----------------------------------------------------------------------------------------------

async def test_missing_or_wrong_key_is_an_authentication_error(fake: tuple[FakeAnthropic, str]) -> None:
    async with AsyncAnthropic(base_url=fake[1], api_key="wrong", max_retries=0) as wrong:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await wrong.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 401
    assert caught.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                           "message": "invalid x-api-key"},
                                 "request_id": caught.value.request_id}


@pytest.mark.parametrize(("messages", "extra", "message"), [
    ([{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}], {}, 'Unexpected role "system"'),
    ([{"role": "assistant", "content": "x"}], {}, 'first message must use the "user" role'),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], {}, "roles must alternate"),
    ([{"role": "user", "content": [{"type": "text", "text": "  "}]}], {}, "non-whitespace text"),
    ([{"role": "user", "content": [{"type": "text", "text": ""}]}], {}, "must be non-empty"),
    ([{"role": "user", "content": "hi"}], {"n": 2}, "n: Extra inputs are not permitted"),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}], {},
     "unexpected `tool_use_id`"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok "}], {}, "trailing whitespace"),
])
async def test_refused_requests_are_bad_request_errors(client: AsyncAnthropic, messages: Any, extra: Any,
                                                      message: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, messages=messages, extra_body=extra)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "invalid_request_error"


async def test_unanswered_tool_use_is_refused(client: AsyncAnthropic) -> None:
    messages: Any = [{"role": "user", "content": "x"},
                     {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_time",
                                                        "input": {}}]},
                     {"role": "user", "content": "never mind"}]
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result` blocks"):
        await client.messages.create(model=MODEL, max_tokens=10, tools=[TIME], messages=messages)


async def test_missing_max_tokens_is_refused(client: AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Field required"):
        await client.post("/v1/messages", cast_to=object,
                          body={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})


@pytest.mark.parametrize(("status", "error_class", "kind"), [
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (529, anthropic.InternalServerError, "overloaded_error"),
    (500, anthropic.InternalServerError, "api_error"),
])
async def test_scripted_failures(fake: tuple[FakeAnthropic, str], client: AsyncAnthropic, status: int,
                                 error_class: type[Exception], kind: str) -> None:
    fake[0].fail_next(status)
    with pytest.raises(error_class) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert isinstance(caught.value, anthropic.APIStatusError) and caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == kind
    answer = await client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert answer.stop_reason == "end_turn"  # the script is consumed


@pytest.mark.parametrize("before_content", [False, True])
async def test_error_event_inside_a_stream(fake: tuple[FakeAnthropic, str], client: AsyncAnthropic,
                                           before_content: bool) -> None:
    fake[0].fail_stream_next("overloaded_error", "Overloaded", before_content=before_content)
    stream = await client.messages.create(model=MODEL, max_tokens=100, stream=True,
                                          messages=[{"role": "user", "content": "one two three four"}])
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        async for _ in stream:
            pass


async def test_count_tokens(fake: tuple[FakeAnthropic, str], client: AsyncAnthropic) -> None:
    upstream, _ = fake
    counted = await client.messages.count_tokens(model=MODEL, system="Be terse", tools=[WEATHER],
                                                 messages=[{"role": "user", "content": "Say hello please"}])
    assert counted.input_tokens == 2 + 3 + 3
    assert upstream.requests[-1].path == "/v1/messages/count_tokens"
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs are not permitted"):
        await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                           extra_body={"max_tokens": 5})
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
