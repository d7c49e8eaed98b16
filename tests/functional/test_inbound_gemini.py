"""End to end: the official google-genai SDK speaking Gemini's API to oneapi
(``/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``), in front of an OpenAI channel
(translated both ways) and a Gemini channel (forwarded natively).

Usage is the fakes' (their module docstrings): the OpenAI fake counts words + 3 per message; the Gemini fake
words of every text part.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.gemini_upstream import start_fake as start_gemini
from tests.fakes.openai_upstream import FakeOpenAI, tiny_png
from tests.functional.relay_env import RelayEnv

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

GPT = "gpt-4o-mini"
GEMINI = "gemini-2.0-flash"
GEMINI_KEY = "AIza-channel-key"
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]))])


@pytest.fixture
async def client(relay_env: RelayEnv) -> AsyncIterator[genai.Client]:
    sdk = genai.Client(api_key=relay_env.root_key, http_options=types.HttpOptions(base_url=relay_env.base_url))
    yield sdk
    await sdk.aio.aclose()
    sdk.close()


@pytest.fixture
async def openai_channel(relay_env: RelayEnv) -> AsyncIterator[FakeOpenAI]:
    fake, url = await relay_env.fake()
    await relay_env.add_channel(url, models=GPT)
    yield fake


@pytest.fixture
async def gemini_channel(relay_env: RelayEnv) -> AsyncIterator[FakeGemini]:
    fake = FakeGemini(keys={GEMINI_KEY})
    url, stop = await start_gemini(fake)
    relay_env.stops.append(stop)
    await relay_env.add_channel(url, type=24, key=GEMINI_KEY, models=f"{GEMINI},gemini-alias",
                                model_mapping=json.dumps({"gemini-alias": GEMINI}))
    yield fake


# -- an OpenAI channel: translated both ways -------------------------------------------------------------------

async def test_text_through_an_openai_channel(relay_env: RelayEnv, client: genai.Client,
                                              openai_channel: FakeOpenAI) -> None:
    config = types.GenerateContentConfig(system_instruction="Be brief", max_output_tokens=100, temperature=0.5,
                                         stop_sequences=["END"])
    answer = await client.aio.models.generate_content(model=GPT, contents="hello there", config=config)
    assert answer.text == "echo: hello there"
    assert answer.candidates is not None and answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage is not None and (usage.prompt_token_count, usage.candidates_token_count) == (2 + 3 + 2 + 3, 3)
    assert openai_channel.requests[-1].json() == {
        "model": GPT, "messages": [{"role": "system", "content": "Be brief"},
                                   {"role": "user", "content": "hello there"}],
        "temperature": 0.5, "max_tokens": 100, "stop": ["END"]}
    (log,) = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (10, 3, GPT)


async def test_stream_through_an_openai_channel(relay_env: RelayEnv, client: genai.Client,
                                                openai_channel: FakeOpenAI) -> None:
    chunks = [c async for c in await client.aio.models.generate_content_stream(
        model=GPT, contents="count one two three")]
    assert "".join(c.text or "" for c in chunks) == "echo: count one two three"
    last = chunks[-1]
    assert last.candidates is not None and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None and last.usage_metadata.candidates_token_count == 5
    assert openai_channel.requests[-1].json()["stream_options"] == {"include_usage": True}
    (log,) = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (4 + 3, 5, True)


async def test_function_calls_round_trip(relay_env: RelayEnv, client: genai.Client,
                                         openai_channel: FakeOpenAI) -> None:
    config = types.GenerateContentConfig(
        tools=[WEATHER], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    first = await client.aio.models.generate_content(model=GPT, contents="Paris", config=config)
    assert first.function_calls is not None
    (call,) = first.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"}) and call.id
    sent = openai_channel.requests[-1].json()
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    contents: Any = [
        types.Content(role="user", parts=[types.Part(text="Paris")]),
        types.Content(role="model", parts=[types.Part(function_call=call)]),
        types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather",
                                                                            response={"sky": "sunny"})])]
    second = await client.aio.models.generate_content(model=GPT, contents=contents, config=config)
    assert second.text == 'tool result: {"sky": "sunny"}'
    assert openai_channel.requests[-1].json()["messages"][-1] == {
        "role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'}


async def test_streamed_function_calls_arrive_whole(client: genai.Client, openai_channel: FakeOpenAI) -> None:
    config = types.GenerateContentConfig(tools=[WEATHER])
    chunks = [c async for c in await client.aio.models.generate_content_stream(model=GPT, contents="Rome",
                                                                                  config=config)]
    calls = [fc for c in chunks for fc in c.function_calls or []]
    assert [(fc.name, fc.args) for fc in calls] == [("get_weather", {"city": "Rome"})]


async def test_images_reach_an_openai_channel(client: genai.Client, openai_channel: FakeOpenAI) -> None:
    await client.aio.models.generate_content(model=GPT, contents=[
        types.Part.from_bytes(data=tiny_png(), mime_type="image/png"), "what is this"])
    (message,) = openai_channel.requests[-1].json()["messages"]
    assert message["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert message["content"][1] == {"type": "text", "text": "what is this"}


async def test_search_tools_cannot_be_translated(client: genai.Client, openai_channel: FakeOpenAI) -> None:
    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=GPT, contents="news?", config=config)
    assert caught.value.code == 400 and "googleSearch" in str(caught.value.message)
    assert openai_channel.requests == []


# -- a Gemini channel: forwarded natively ----------------------------------------------------------------------

async def test_native_bytes_and_usage(relay_env: RelayEnv, gemini_channel: FakeGemini) -> None:
    body = b'{"contents": [{"role": "user", "parts": [{"text": "hi  there"}]}],  "generationConfig": {}}'
    async with aiohttp.ClientSession() as session, session.post(
            relay_env.base_url + "/v1beta/models/gemini-alias:generateContent", data=body,
            params={"key": relay_env.root_key}) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["candidates"][0]["content"]["parts"] == [{"text": "echo: hi  there"}]
    sent = gemini_channel.requests[-1]
    assert sent.body == body and sent.path == f"/v1beta/models/{GEMINI}:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY and "key" not in sent.query
    (log,) = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["model_name"]) == (2, 3, GEMINI)


async def test_native_stream(relay_env: RelayEnv, client: genai.Client, gemini_channel: FakeGemini) -> None:
    chunks = [c async for c in await client.aio.models.generate_content_stream(
        model=GEMINI, contents="one two three")]
    assert "".join(c.text or "" for c in chunks) == "echo: one two three"
    assert gemini_channel.requests[-1].query == {"alt": "sse"}
    (log,) = await relay_env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (3, 4, True)


async def test_a_client_that_leaves_a_native_stream_pays_for_what_it_got(relay_env: RelayEnv,
                                                                          gemini_channel: FakeGemini) -> None:
    """The upstream is closed and what was delivered is counted and billed, once (Gemini's partial events carry
    no candidatesTokenCount: the usage of a stream that did not end is counted)."""
    gemini_channel.stream_chunks, gemini_channel.chunk_delay = 60, 0.05
    gemini_channel.reply_text(" ".join(["word"] * 300))
    async with aiohttp.ClientSession() as session:
        response = await session.post(relay_env.base_url + f"/v1beta/models/{GEMINI}:streamGenerateContent",
                                      params={"alt": "sse"}, headers={"x-goog-api-key": relay_env.root_key},
                                      json={"contents": [{"role": "user", "parts": [{"text": "a long story"}]}]})
        assert response.status == 200
        events = 0
        while events < 3:
            line = await response.content.readline()
            assert line, "the stream ended early"
            events += line.startswith(b"data: ")
        response.close()

    log = await relay_env.the_consume_log()
    assert log["is_stream"] is True and 0 < log["completion_tokens"] < 150


async def test_native_errors_keep_googles_status(relay_env: RelayEnv, client: genai.Client,
                                                 gemini_channel: FakeGemini) -> None:
    gemini_channel.fail_next(429, "Resource has been exhausted")
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=GEMINI, contents="hi")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    assert await relay_env.consume_logs() == []


async def test_count_tokens(relay_env: RelayEnv, client: genai.Client, gemini_channel: FakeGemini,
                            openai_channel: FakeOpenAI) -> None:
    native = await client.aio.models.count_tokens(model="gemini-alias", contents="hello there world")
    assert native.total_tokens == 3
    assert gemini_channel.requests[-1].path.endswith(f"/models/{GEMINI}:countTokens")  # the client's version
    local = await client.aio.models.count_tokens(model=GPT, contents="hello there world")
    assert local.total_tokens is not None and 0 < local.total_tokens < 20
    assert openai_channel.requests == [] and await relay_env.consume_logs() == []


# -- bad input: Google's error shape, never a 500 ---------------------------------------------------------------

async def post_raw(env: RelayEnv, path: str, body: bytes, **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(
            env.base_url + path, data=body, headers={"x-goog-api-key": env.root_key, **headers}) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(("path", "body", "message"), [
    (f"/v1beta/models/{GPT}:generateContent", b"{nope", "Invalid JSON payload"),
    (f"/v1beta/models/{GPT}:generateContent", b"[]", "Invalid JSON payload"),
    (f"/v1beta/models/{GPT}:generateContent", b"{}", "contents is not specified"),
    (f"/v1beta/models/{GPT}:generateContent", b'{"contents": "hi"}', "contents: must be a list"),
    (f"/v1beta/models/{GPT}:generateContent", b'{"contents": [{"role": "bot", "parts": [{"text": "x"}]}]}',
     "valid role"),
    (f"/v1beta/models/{GPT}:generateContent", b'{"contents": [{"parts": [{"text": 5}]}]}', "text: must be"),
    (f"/v1beta/models/{GPT}:generateContent",
     b'{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": "9"}}', "maxOutputTokens"),
    (f"/v1beta/models/{GPT}:streamGenerateContent", b'{"contents": [{"parts": [{"text": "x"}]}]}', "alt=sse"),
])
async def test_bad_input_is_invalid_argument(relay_env: RelayEnv, openai_channel: FakeOpenAI, path: str,
                                             body: bytes, message: str) -> None:
    status, answer = await post_raw(relay_env, path, body)
    assert status == 400, answer
    assert answer["error"]["status"] == "INVALID_ARGUMENT" and answer["error"]["code"] == 400
    assert message in answer["error"]["message"]


async def test_unknown_model_and_method_are_not_found(relay_env: RelayEnv, client: genai.Client,
                                                      openai_channel: FakeOpenAI) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model="no-such-model", contents="hi")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    status, answer = await post_raw(relay_env, f"/v1beta/models/{GPT}:embedContent", b"{}")
    assert status == 404 and answer["error"]["status"] == "NOT_FOUND"
    status, answer = await post_raw(relay_env, f"/v1beta/models/{GPT}:countTokens", b"{}")
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("key", ["sk-wrongwrongwrongwrongwrongwrongwrongwrongwrongwr", "x"])
async def test_bad_key_is_unauthenticated(relay_env: RelayEnv, openai_channel: FakeOpenAI, key: str) -> None:
    sdk = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=relay_env.base_url))
    try:
        with pytest.raises(errors.ClientError) as caught:
            await sdk.aio.models.generate_content(model=GPT, contents="hi")
    finally:
        await sdk.aio.aclose()
        sdk.close()
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
