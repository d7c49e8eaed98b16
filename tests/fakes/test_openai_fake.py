"""Proof that the fake OpenAI / Azure upstream speaks OpenAI's published format: the official SDK is satisfied.

The sync ``OpenAI`` client runs in a thread (``asyncio.to_thread``) so it can reach the fake on this loop;
``AsyncOpenAI`` and ``AzureOpenAI`` talk to it directly. Every answer is deterministic (see the fake's module
docstring for the word-count usage rules), so each test checks concrete values.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from tests.fakes.openai_upstream import TRANSCRIPT, FakeOpenAI, embedding_vector, start_fake, tiny_png

KEY = "sk-fake-key-0123456789"
MESSAGES: list[Any] = [{"role": "system", "content": "You are terse"},
                       {"role": "user", "content": "Say hello please"}]
# prompt_tokens = (3 words + 3) + (3 words + 3) = 12; the echo "echo: Say hello please" is 4 words.
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}
TIME: Any = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {"utc_offset": {"type": "integer"}}}}}


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    upstream = FakeOpenAI(keys={KEY})
    base, stop = await start_fake(upstream)
    yield upstream, base
    await stop()


@pytest.fixture
async def azure_fake() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    upstream = FakeOpenAI(keys={KEY}, azure=True)
    base, stop = await start_fake(upstream)
    yield upstream, base
    await stop()


@pytest.fixture
async def aclient(fake: tuple[FakeOpenAI, str]) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=f"{fake[1]}/v1", api_key=KEY, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
def client(fake: tuple[FakeOpenAI, str]) -> Any:
    sync = OpenAI(base_url=f"{fake[1]}/v1", api_key=KEY, max_retries=0)
    yield sync
    sync.close()


# ---------------------------------------------------------------------------------------------- chat

async def test_chat_non_stream_sync_client(fake: tuple[FakeOpenAI, str], client: OpenAI) -> None:
    upstream, _ = fake
    raw = await asyncio.to_thread(client.chat.completions.with_raw_response.create,
                                  model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["content-type"] == "application/json"
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "echo: Say hello please"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        12, 4, 16)
    recorded = upstream.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["Authorization"] == f"Bearer {KEY}"
    assert recorded.json()["messages"] == MESSAGES


async def test_chat_n_max_tokens_and_reply_text(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    upstream, _ = fake
    cut = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=2, max_tokens=2)
    assert [c.message.content for c in cut.choices] == ["echo: Say", "echo: Say"]
    assert [c.index for c in cut.choices] == [0, 1]
    assert cut.choices[1].finish_reason == "length"
    assert cut.usage is not None and (cut.usage.prompt_tokens, cut.usage.completion_tokens) == (12, 4)
    upstream.reply_text("scripted answer with five words")
    scripted = await aclient.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert scripted.choices[0].message.content == "scripted answer with five words"
    assert scripted.usage is not None and (scripted.usage.prompt_tokens, scripted.usage.completion_tokens) == (4, 5)
    upstream.omit_usage = True
    bare = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert bare.usage is None and bare.choices[0].message.content == "echo: Say hello please"


async def test_chat_stream_with_include_usage(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    upstream, _ = fake
    upstream.stream_chunks = 3
    upstream.reply_text("one two three four five six")
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4o-mini" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert pieces == ["one two t", "hree four", " five six"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 6)
    assert upstream.requests[-1].json()["stream_options"] == {"include_usage": True}


async def test_chat_stream_sync_without_usage_chunk(client: OpenAI) -> None:
    def run() -> list[Any]:
        return list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    chunks = await asyncio.to_thread(run)
    assert len(chunks) == 1 + 5 + 1  # role, five content pieces, finish
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: Say hello please"
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_stream_wire_format(fake: tuple[FakeOpenAI, str]) -> None:
    _, base = fake
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}}
    async with aiohttp.ClientSession() as http, http.post(
            f"{base}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        assert "x-request-id" in resp.headers
        text = await resp.text()
    events = text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])
    last = json.loads(events[-3][len("data: "):])
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 4 and last["usage"]["completion_tokens"] == 2


async def test_client_disconnect_is_counted(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    upstream, _ = fake
    upstream.chunk_delay = 0.05
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    first = await stream.__anext__()
    assert first.choices[0].delta.role == "assistant"
    await stream.close()
    for _ in range(100):
        if upstream.aborted_streams:
            break
        await asyncio.sleep(0.01)
    assert upstream.aborted_streams == 1


# ---------------------------------------------------------------------------------------------- tools

async def test_tool_call_single_and_parallel(aclient: AsyncOpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris"}]
    one = await aclient.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = one.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Weather in Paris", "unit": "celsius"}
    # prompt 3 + 3; arguments '{"city": "Weather in Paris", "unit": "celsius"}' = 6 words
    assert one.usage is not None and (one.usage.prompt_tokens, one.usage.completion_tokens) == (6, 6)

    both = await aclient.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER, TIME])
    calls = both.choices[0].message.tool_calls
    assert calls is not None
    assert all(isinstance(c, ChatCompletionMessageFunctionToolCall) for c in calls)
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert json.loads(calls[1].function.arguments) == {"utc_offset": 1}  # type: ignore[union-attr]
    assert calls[0].id != calls[1].id

    followup: list[Any] = [*messages,
                           {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                           {"role": "tool", "tool_call_id": call.id, "content": "sunny 21C"}]
    answer = await aclient.chat.completions.create(model="gpt-4o", messages=followup, tools=[WEATHER])
    assert answer.choices[0].message.content == "tool result: sunny 21C"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens == (3 + 3) + (0 + 3) + (2 + 3)


async def test_streamed_tool_calls_accumulate(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    fake[0].stream_chunks = 4
    stream = await aclient.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Time and weather in Oslo"}],
        tools=[WEATHER, TIME], stream=True, stream_options={"include_usage": True})
    calls: dict[int, dict[str, str]] = {}
    finish, usage = None, None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    entry["id"] = delta.id
                if delta.function and delta.function.name:
                    entry["name"] = delta.function.name
                if delta.function and delta.function.arguments:
                    entry["arguments"] += delta.function.arguments
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Time and weather in Oslo", "unit": "celsius"}
    assert json.loads(calls[1]["arguments"]) == {"utc_offset": 1}
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (8, 8 + 2)


# ---------------------------------------------------------------------------------------------- other endpoints

async def test_completions_plain_and_stream(client: OpenAI, aclient: AsyncOpenAI) -> None:
    done = await asyncio.to_thread(client.completions.create, model="gpt-3.5-turbo-instruct",
                                   prompt="Once upon a time")
    assert done.object == "text_completion"
    assert done.choices[0].text == "echo: Once upon a time"
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (4, 5)
    stream = await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt=["a b", "c"], stream=True,
                                              stream_options={"include_usage": True})
    texts: dict[int, str] = {}
    usage = None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert texts == {0: "echo: a b", 1: "echo: c"}
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (3, 5)


async def test_embeddings_float_and_base64_agree(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    upstream, _ = fake
    inputs = ["hello world", "second input"]
    default = await aclient.embeddings.create(model="text-embedding-3-small", input=inputs)
    assert upstream.requests[-1].json()["encoding_format"] == "base64"  # the SDK's default
    floats = await aclient.embeddings.create(model="text-embedding-3-small", input=inputs, encoding_format="float")
    assert upstream.requests[-1].json()["encoding_format"] == "float"
    expected = [embedding_vector(text) for text in inputs]
    assert [d.embedding for d in default.data] == expected
    assert [d.embedding for d in floats.data] == expected
    assert expected[0][:3] == [0.22265625, -0.19921875, -0.34765625]
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.usage.prompt_tokens == 4 and floats.usage.total_tokens == 4
    raw = await aclient.embeddings.create(model="text-embedding-3-small", input="hello world",
                                          encoding_format="base64")
    packed = raw.data[0].embedding
    assert isinstance(packed, str)
    assert list(struct.unpack("<8f", base64.b64decode(packed))) == expected[0]


async def test_moderations(aclient: AsyncOpenAI) -> None:
    result = await aclient.moderations.create(input=["I will kill the process", "nice day"])
    assert result.model == "omni-moderation-latest"
    bad, good = result.results
    assert bad.flagged is True and bad.categories.violence is True and bad.categories.hate is False
    assert bad.category_scores.violence == 0.9
    assert good.flagged is False and good.categories.violence is False


async def test_images_url_and_b64(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    _, base = fake
    urls = await aclient.images.generate(model="dall-e-2", prompt="a red fox", n=2, size="256x256")
    assert urls.data is not None and len(urls.data) == 2
    assert [d.url for d in urls.data] == [f"{base}/fake-images/0.png", f"{base}/fake-images/1.png"]
    async with aiohttp.ClientSession() as http, http.get(f"{base}/fake-images/0.png") as resp:
        assert await resp.read() == tiny_png()
    b64 = await aclient.images.generate(model="dall-e-3", prompt="a red fox", response_format="b64_json")
    assert b64.data is not None and b64.data[0].revised_prompt == "a red fox"
    assert base64.b64decode(b64.data[0].b64_json or "").startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(openai.BadRequestError):
        await aclient.images.generate(model="dall-e-3", prompt="x", n=2)


async def test_audio_speech(client: OpenAI) -> None:
    speech = await asyncio.to_thread(client.audio.speech.create, model="tts-1", voice="alloy", input="hi there")
    assert speech.response.headers["content-type"] == "audio/mpeg"
    assert speech.content == b"ID3\x04\x00\x00\x00\x00\x00\x00fake-speech:hi there"


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK deprecates audio.translations
async def test_audio_transcription_formats(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    upstream, _ = fake
    audio = ("clip.mp3", b"\xff\xfb fake mp3 bytes", "audio/mpeg")
    plain = await aclient.audio.transcriptions.create(model="whisper-1", file=audio)
    assert plain.text == TRANSCRIPT
    form = upstream.requests[-1].form()
    assert form["model"] == "whisper-1" and form["file"] == ("clip.mp3", b"\xff\xfb fake mp3 bytes")
    text = await aclient.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    assert text == f"{TRANSCRIPT}\n"
    srt = await aclient.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert srt == f"1\n00:00:00,000 --> 00:00:02,000\n{TRANSCRIPT}\n\n"
    vtt = await aclient.audio.transcriptions.create(model="whisper-1", file=audio, response_format="vtt")
    assert vtt.startswith("WEBVTT\n") and TRANSCRIPT in vtt
    verbose = await aclient.audio.transcriptions.create(model="whisper-1", file=audio,
                                                        response_format="verbose_json")
    assert verbose.text == TRANSCRIPT and verbose.duration == 2.0 and verbose.segments is not None
    assert verbose.segments[0].text == TRANSCRIPT
    translated = await aclient.audio.translations.create(model="whisper-1", file=audio)
    assert translated.text == TRANSCRIPT
    assert upstream.requests[-1].path == "/v1/audio/translations"


async def test_models(aclient: AsyncOpenAI) -> None:
    ids = [m.id async for m in aclient.models.list()]
    assert ids[:3] == ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo"] and "whisper-1" in ids
    model = await aclient.models.retrieve("gpt-4o")
    assert (model.id, model.object, model.owned_by) == ("gpt-4o", "model", "system")
    with pytest.raises(openai.NotFoundError) as info:
        await aclient.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


# ---------------------------------------------------------------------------------------------- errors

async def test_error_mapping(fake: tuple[FakeOpenAI, str], aclient: AsyncOpenAI) -> None:
    upstream, base = fake
    wrong = AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-wrong-key-000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        await wrong.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    await wrong.close()
    assert auth.value.status_code == 401 and auth.value.code == "invalid_api_key"
    assert auth.value.type == "invalid_request_error"
    assert auth.value.response.headers["x-request-id"].startswith("req_")

    upstream.fail_next(429)
    with pytest.raises(openai.RateLimitError) as limited:
        await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert limited.value.code == "rate_limit_exceeded"
    upstream.fail_next(500, {"message": "boom"}, times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as failed:
            await aclient.embeddings.create(model="text-embedding-3-small", input="x")
        assert failed.value.message.endswith("boom") and failed.value.type == "server_error"
    upstream.fail_next(502, body=b"<html>Bad Gateway</html>", content_type="text/html")
    with pytest.raises(openai.InternalServerError) as gateway:
        await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="x")
    assert gateway.value.status_code == 502 and gateway.value.body == "<html>Bad Gateway</html>"
    upstream.drop_next()
    with pytest.raises(openai.APIConnectionError):
        await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    ok = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # the script is used up
    assert ok.choices[0].message.content == "echo: Say hello please"


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"messages": [{"role": "user", "content": "x"}]}, None, None),
    ({"model": "m"}, "messages", "missing_required_parameter"),
    ({"model": "m", "messages": []}, "messages", "empty_array"),
    ({"model": "m", "messages": ["hi"]}, "messages[0]", "invalid_type"),
    ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream", "invalid_type"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}, "max_tokens",
     "integer_below_min_value"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}},
     "stream_options", None),
])
async def test_chat_validation(aclient: AsyncOpenAI, body: dict[str, Any], param: str | None,
                               code: str | None) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await aclient.post("/chat/completions", cast_to=object, body=body)
    assert (info.value.type, info.value.param, info.value.code) == ("invalid_request_error", param, code)


# ---------------------------------------------------------------------------------------------- azure

async def test_azure_chat(azure_fake: tuple[FakeOpenAI, str]) -> None:
    upstream, base = azure_fake
    client = AzureOpenAI(azure_endpoint=base, api_version="2024-06-01", api_key=KEY, max_retries=0)
    try:
        completion = await asyncio.to_thread(client.chat.completions.create, model="gpt-35-turbo",
                                             messages=MESSAGES)
    finally:
        client.close()
    assert completion.model == "gpt-35-turbo"
    assert completion.choices[0].message.content == "echo: Say hello please"
    assert completion.usage is not None and completion.usage.prompt_tokens == 12
    recorded = upstream.requests[-1]
    assert recorded.path == "/openai/deployments/gpt-35-turbo/chat/completions"
    assert recorded.query == {"api-version": "2024-06-01"}
    assert recorded.headers["api-key"] == KEY and "authorization" not in recorded.headers


async def test_azure_stream_starts_with_prompt_filter_chunk(azure_fake: tuple[FakeOpenAI, str]) -> None:
    upstream, base = azure_fake
    client = AsyncAzureOpenAI(azure_endpoint=base, api_version="2024-06-01", api_key=KEY, max_retries=0)
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    embeddings = await client.embeddings.create(model="text-embedding-3-small", input="hello world")
    await client.close()
    assert chunks[0].choices == [] and chunks[0].usage is None
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Say hello please"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert chunks[1].model == "gpt-4o"
    assert embeddings.data[0].embedding == embedding_vector("hello world")
    assert upstream.requests[-1].path == "/openai/deployments/text-embedding-3-small/embeddings"


async def test_azure_rejects_missing_version_and_bearer(azure_fake: tuple[FakeOpenAI, str]) -> None:
    _, base = azure_fake
    url = f"{base}/openai/deployments/gpt-35-turbo/chat/completions"
    body = {"messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers={"api-key": KEY}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["param"] == "api-version"
        async with http.post(url, params={"api-version": "2024-06-01"}, json=body,
                             headers={"Authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "invalid_api_key"
        async with http.post(f"{base}/v1/chat/completions", json=body, headers={"api-key": KEY}) as resp:
            assert resp.status == 404


async def test_azure_images_and_audio(azure_fake: tuple[FakeOpenAI, str]) -> None:
    upstream, base = azure_fake
    client = AsyncAzureOpenAI(azure_endpoint=base, api_version="2024-06-01", api_key=KEY, max_retries=0)
    image = await client.images.generate(model="dall-e-3", prompt="a red fox", response_format="b64_json")
    image_path = upstream.requests[-1].path
    transcript = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF", "audio/wav"))
    transcript_path = upstream.requests[-1].path
    speech = await client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    await client.close()
    assert image.data is not None and image.data[0].revised_prompt == "a red fox"
    assert image_path == "/openai/deployments/dall-e-3/images/generations"
    assert transcript.text == TRANSCRIPT
    assert transcript_path == "/openai/deployments/whisper-1/audio/transcriptions"
    assert speech.content.endswith(b"fake-speech:hi")
    assert upstream.requests[-1].path == "/openai/deployments/tts-1/audio/speech"
