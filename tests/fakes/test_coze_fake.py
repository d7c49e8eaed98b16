"""Proof that the fake Coze API speaks Coze's published v3 chat API: the official ``cozepy`` SDK (``Coze`` pointed
at the fake with ``base_url``) is satisfied — chat.stream with text and object_string messages, the non-stream
create-then-poll dialogue (chat.create_and_poll: create, retrieve, messages.list), and errors raised as the
SDK's CozeAPIError.

The SDK's client is synchronous (httpx), so it runs in a thread while the fake serves on this loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cozepy import (
    ChatEventType,
    ChatStatus,
    Coze,
    CozeAPIError,
    Message,
    MessageObjectString,
    MessageType,
    TokenAuth,
)

from tests.fakes.coze_upstream import BOT, FakeCoze, start_fake

TOKEN = "pat_fake_token"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeCoze, str]]:
    upstream = FakeCoze({TOKEN})
    url, stop = await start_fake(upstream)
    yield upstream, url
    await stop()


async def run(url: str, call: Callable[[Coze], Any], token: str = TOKEN) -> Any:
    return await asyncio.to_thread(lambda: call(Coze(auth=TokenAuth(token), base_url=url)))


def stream(bot: str, messages: list[Message]) -> Callable[[Coze], Any]:
    return lambda coze: list(coze.chat.stream(bot_id=bot, user_id="u1", additional_messages=messages))


def answer_text(events: list[Any]) -> str:
    return "".join(e.message.content for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA)


async def test_stream(fake: tuple[FakeCoze, str]) -> None:
    upstream, url = fake
    messages = [Message.build_user_question_text("Hi there"), Message.build_assistant_answer("Hello"),
                Message.build_user_question_text("Say hello please")]
    events = await run(url, stream(BOT, messages))
    kinds = [e.event for e in events]
    assert kinds[0] == ChatEventType.CONVERSATION_CHAT_CREATED
    assert kinds[-1] == ChatEventType.CONVERSATION_CHAT_COMPLETED
    assert answer_text(events) == "echo: Say hello please"
    completed = [e.message for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED]
    assert [m.type for m in completed] == [MessageType.ANSWER, MessageType.VERBOSE, MessageType.FOLLOW_UP]
    usage = events[-1].chat.usage
    assert (usage.input_count, usage.output_count, usage.token_count) == (6, 4, 10)
    sent = upstream.requests[-1].json()
    assert sent["bot_id"] == BOT and sent["stream"] is True and len(sent["additional_messages"]) == 3
    assert upstream.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


async def test_object_string_with_an_image(fake: tuple[FakeCoze, str]) -> None:
    _, url = fake
    message = Message.build_user_question_objects([MessageObjectString.build_text("what is this"),
                                                   MessageObjectString.build_image(file_url="https://x.test/a.png")])
    events = await run(url, stream(BOT, [message]))
    assert answer_text(events) == "echo: what is this (with 1 images)"


async def test_create_and_poll(fake: tuple[FakeCoze, str]) -> None:
    upstream, url = fake
    result = await run(url, lambda coze: coze.chat.create_and_poll(
        bot_id=BOT, user_id="u1", additional_messages=[Message.build_user_question_text("hello")]))
    assert result.chat.status == ChatStatus.COMPLETED and result.chat.usage.output_count == 2
    assert [m.content for m in result.messages if m.type == MessageType.ANSWER] == ["echo: hello"]
    assert [r.path for r in upstream.requests][-2:] == ["/v3/chat/retrieve", "/v3/chat/message/list"]


@pytest.mark.parametrize(("token", "bot", "code"), [("wrong", BOT, 4100), (TOKEN, "123", 4200)])
async def test_errors(fake: tuple[FakeCoze, str], token: str, bot: str, code: int) -> None:
    _, url = fake
    with pytest.raises(CozeAPIError) as raised:
        await run(url, stream(bot, [Message.build_user_question_text("x")]), token)
    assert raised.value.code == code and raised.value.msg
