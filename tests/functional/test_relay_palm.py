"""End to end: the official openai SDK → oneapi → a PaLM 2 channel (type 11) → the fake generateMessage API.

PaLM reports no usage, so the relay counts tokens; it cannot stream, so a stream request gets the whole answer
as one content chunk and a ``stop`` chunk (the pseudo-stream of SPEC 6.4)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.gemini_upstream import FakeGemini, start_fake
from tests.functional.relay_env import RelayEnv

KEY = "AIza-palm-key"
MESSAGES: Any = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "How are you today?"}]


async def palm(relay_env: RelayEnv, key: str = KEY) -> FakeGemini:
    fake = FakeGemini(keys={KEY})
    url, stop = await start_fake(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=11, key=key, models="PaLM-2")
    return fake


async def test_palm_non_stream(relay_env: RelayEnv) -> None:
    fake = await palm(relay_env)
    answer = await relay_env.client().chat.completions.create(model="PaLM-2", messages=MESSAGES, n=2, top_p=0.5,
                                                              max_tokens=300)
    assert [c.message.content for c in answer.choices] == ["echo: How are you today?"] * 2
    assert [c.finish_reason for c in answer.choices] == ["stop", "stop"]
    sent = fake.requests[-1]
    assert sent.path == "/v1beta2/models/chat-bison-001:generateMessage" and sent.headers["x-goog-api-key"] == KEY
    assert sent.json() == {"prompt": {"context": "Be kind.",
                                      "messages": [{"author": "0", "content": "How are you today?"}]},
                           "topP": 0.5, "candidateCount": 2}  # max_tokens is not sent as topK
    (log,) = await relay_env.consume_logs()
    assert log["prompt_tokens"] > 0 and log["completion_tokens"] > 0 and log["quota"] > 0  # counted locally


async def test_palm_pseudo_stream(relay_env: RelayEnv) -> None:
    await palm(relay_env)
    stream = await relay_env.client().chat.completions.create(model="PaLM-2", messages=MESSAGES, stream=True,
                                                              stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert content == ["echo: How are you today?"]  # one chunk with the whole answer
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.completion_tokens > 0
    (log,) = await relay_env.consume_logs()
    assert log["is_stream"] is True
    assert (log["prompt_tokens"], log["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)


async def test_palm_errors(relay_env: RelayEnv) -> None:
    await palm(relay_env, key="AIza-wrong")
    with pytest.raises(openai.BadRequestError) as refused:
        await relay_env.client().chat.completions.create(model="PaLM-2", messages=MESSAGES)
    body = refused.value.body
    assert isinstance(body, dict) and body["type"] == "INVALID_ARGUMENT" and "API key not valid" in body["message"]


async def test_palm_filtered_stream_is_an_error_before_the_stream_opens(relay_env: RelayEnv) -> None:
    await palm(relay_env)
    with pytest.raises(openai.BadRequestError) as filtered:
        await relay_env.client().chat.completions.create(
            model="PaLM-2", stream=True, messages=[{"role": "user", "content": "BLOCKME"}])
    body = filtered.value.body
    assert isinstance(body, dict) and body["code"] == "OTHER" and "no candidates" in body["message"]
    assert await relay_env.consume_logs() == []
