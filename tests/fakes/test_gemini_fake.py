"""Proof that the fake Gemini upstream speaks Google's published format: the official ``google-genai`` SDK is
satisfied (non-stream, stream, a function call round trip, embeddings, API errors), and the fake refuses what the
real API refuses. The sync client runs in a thread so it can reach the fake on this loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import BAD_KEY, THOUGHT_TOKENS, FakeGemini, start_fake
from tests.fakes.openai_upstream import embedding_vector

KEY = "AIza-fake-key-0123456789"
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]))])


pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
_clients: list[genai.Client] = []


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeGemini, str]]:
    upstream = FakeGemini(keys={KEY})
    base, stop = await start_fake(upstream)
    yield upstream, base
    while _clients:
        client = _clients.pop()
        await client.aio.aclose()
        client.close()
    await stop()


def sdk(base: str, key: str = KEY, version: str = "v1beta") -> genai.Client:
    """An SDK client on the fake (closed when the ``fake`` fixture ends)."""
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base, api_version=version))
    _clients.append(client)
    return client


async def post(base: str, path: str, body: Any, key: str = KEY) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(
            base + path, json=body, headers={"x-goog-api-key": key}) as resp:
        return resp.status, json.loads(await resp.read())


async def test_generate_content_with_system_instruction(fake: tuple[FakeGemini, str]) -> None:
    upstream, base = fake
    config = types.GenerateContentConfig(system_instruction="be brief", temperature=0.3, max_output_tokens=50,
                                         stop_sequences=["zzz"], candidate_count=2)
    answer = await sdk(base).aio.models.generate_content(model="gemini-2.0-flash", contents="hello there world",
                                                         config=config)
    assert answer.candidates is not None and len(answer.candidates) == 2
    assert answer.text == "echo: hello there world"
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage is not None and usage.prompt_token_count == 5 and usage.candidates_token_count == 8
    sent = upstream.last_json()
    assert sent["systemInstruction"]["parts"] == [{"text": "be brief"}]
    assert sent["generationConfig"]["stopSequences"] == ["zzz"]
    assert upstream.requests[-1].headers["x-goog-api-key"] == KEY


async def test_sync_client_and_max_output_tokens(fake: tuple[FakeGemini, str]) -> None:
    client = sdk(fake[1])
    answer = await asyncio.to_thread(
        client.models.generate_content, model="gemini-2.5-flash", contents="one two three four",
        config=types.GenerateContentConfig(max_output_tokens=2))
    assert answer.text == "echo: one"
    assert answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert answer.usage_metadata and answer.usage_metadata.thoughts_token_count == THOUGHT_TOKENS


async def test_generate_content_stream(fake: tuple[FakeGemini, str]) -> None:
    upstream, base = fake
    pieces, finals = [], []
    async for chunk in await sdk(base).aio.models.generate_content_stream(model="gemini-2.0-flash",
                                                                          contents="count one two"):
        pieces.append(chunk.text or "")
        if chunk.usage_metadata and chunk.usage_metadata.candidates_token_count:
            finals.append(chunk.usage_metadata.candidates_token_count)
    assert "".join(pieces) == "echo: count one two" and len(pieces) == 3
    assert finals == [4]  # full usage only on the last event
    assert upstream.requests[-1].query == {"alt": "sse"}


async def test_stream_wire_format_crlf_and_json_array(fake: tuple[FakeGemini, str]) -> None:
    _, base = fake
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with aiohttp.ClientSession() as session:
        url = f"{base}/v1beta/models/gemini-2.0-flash:streamGenerateContent"
        async with session.post(url + "?alt=sse", json=body, headers={"x-goog-api-key": KEY}) as resp:
            raw = await resp.read()
            assert resp.headers["Content-Type"].startswith("text/event-stream")
        async with session.post(url, json=body, headers={"x-goog-api-key": KEY}) as resp:
            array = await resp.json()
    assert raw.startswith(b"data: {") and raw.endswith(b"}\r\n\r\n") and raw.count(b"\r\n\r\n") == 3
    assert isinstance(array, list) and array[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_call_round_trip(fake: tuple[FakeGemini, str]) -> None:
    upstream, base = fake
    client = sdk(base)
    config = types.GenerateContentConfig(tools=[WEATHER])
    first = await client.aio.models.generate_content(model="gemini-2.0-flash", contents="Paris weather",
                                                     config=config)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    assert first.function_calls[0].args == {"city": "Paris weather"}
    assert first.candidates and first.candidates[0].content
    history = [types.Content(role="user", parts=[types.Part(text="Paris weather")]), first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="get_weather", response={"temp": 21})])]
    second = await client.aio.models.generate_content(model="gemini-2.0-flash", contents=history, config=config)
    assert second.text == 'tool result: get_weather={"temp": 21}'
    assert upstream.last_json()["contents"][1]["role"] == "model"


async def test_embed_content(fake: tuple[FakeGemini, str]) -> None:
    upstream, base = fake
    result = await sdk(base).aio.models.embed_content(model="text-embedding-004", contents=["a b", "c"])
    assert result.embeddings is not None
    assert [e.values for e in result.embeddings] == [embedding_vector("a b"), embedding_vector("c")]
    assert upstream.requests[-1].path == "/v1beta/models/text-embedding-004:batchEmbedContents"


async def test_api_errors_reach_the_sdk(fake: tuple[FakeGemini, str]) -> None:
    upstream, base = fake
    with pytest.raises(errors.ClientError) as bad_key:
        await sdk(base, key="wrong").aio.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert bad_key.value.code == 400 and bad_key.value.status == "INVALID_ARGUMENT"
    assert bad_key.value.message == BAD_KEY
    with pytest.raises(errors.ClientError) as missing:
        await sdk(base).aio.models.generate_content(model="gemini-9-nope", contents="x")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    upstream.fail_next(429)
    with pytest.raises(errors.ClientError) as limited:
        await sdk(base).aio.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(errors.ClientError) as v1:
        await sdk(base, version="v1").aio.models.generate_content(
            model="gemini-pro", contents="x", config=types.GenerateContentConfig(system_instruction="s"))
    assert v1.value.code == 400 and 'Unknown name "systemInstruction"' in str(v1.value.message)


@pytest.mark.parametrize(("body", "message"), [
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "Please use a valid role: user, model."),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
    ({"contents": [{"role": "user", "parts": []}]}, "contents.parts must not be empty"),
    ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text parameter"),
    ({"contents": []}, "contents is not specified"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"max_tokens": 5}},
     'Unknown name "max_tokens"'),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "messages": []}, 'Unknown name "messages"'),
    ({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "plain"}}]}]},
     "google.protobuf.Struct"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}},
                                     "additionalProperties": False}}]}]}, 'Unknown name "additionalProperties"'),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "object", "properties": {}}}]}]}, "should be non-empty for OBJECT"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "generationConfig": {"stopSequences": ["a", "b", "c", "d", "e", "f"]}}, "maximum number of 5"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "safetySettings": [{"category": "HARM_CATEGORY_NOPE", "threshold": "BLOCK_NONE"}]}, "HarmCategory"),
])
async def test_fake_rejects_what_gemini_rejects(fake: tuple[FakeGemini, str], body: Any, message: str) -> None:
    status, answer = await post(fake[1], "/v1beta/models/gemini-2.0-flash:generateContent", body)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT", answer
    assert message in answer["error"]["message"]


async def test_gemini_3_wants_thought_signatures(fake: tuple[FakeGemini, str]) -> None:
    call = {"functionCall": {"name": "f", "args": {}}}
    contents = [{"role": "user", "parts": [{"text": "go"}]}, {"role": "model", "parts": [call]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]}]
    status, answer = await post(fake[1], "/v1beta/models/gemini-3-pro-preview:generateContent",
                                {"contents": contents})
    assert status == 400 and "thought_signature" in answer["error"]["message"]
    contents[1]["parts"] = [{**call, "thoughtSignature": "skip_thought_signature_validator"}]
    status, answer = await post(fake[1], "/v1beta/models/gemini-3-pro-preview:generateContent",
                                {"contents": contents})
    assert status == 200 and answer["candidates"][0]["content"]["parts"][0]["text"].startswith("tool result: f=")


async def test_missing_key_and_blocked_prompt(fake: tuple[FakeGemini, str]) -> None:
    status, answer = await post(fake[1], "/v1beta/models/gemini-2.0-flash:generateContent",
                                {"contents": [{"parts": [{"text": "x"}]}]}, key="")
    assert status == 403 and answer["error"]["status"] == "PERMISSION_DENIED"
    status, answer = await post(fake[1], "/v1beta/models/gemini-2.0-flash:generateContent",
                                {"contents": [{"parts": [{"text": "BLOCKME now"}]}]})
    assert status == 200 and "candidates" not in answer and answer["promptFeedback"]["blockReason"] == "SAFETY"


async def test_palm_generate_message(fake: tuple[FakeGemini, str]) -> None:
    messages = [{"author": "0", "content": "hi"}, {"author": "1", "content": "hello"},
                {"author": "0", "content": "how are you"}]
    status, answer = await post(fake[1], "/v1beta2/models/chat-bison-001:generateMessage",
                                {"prompt": {"context": "be kind", "messages": messages}, "candidateCount": 2,
                                 "topK": 40})
    assert status == 200 and [c["content"] for c in answer["candidates"]] == ["echo: how are you"] * 2
    status, answer = await post(fake[1], "/v1beta2/models/chat-bison-001:generateMessage",
                                {"prompt": {"messages": messages[:1] * 2}})
    assert status == 400 and "alternate" in answer["error"]["message"]
    status, answer = await post(fake[1], "/v1beta2/models/chat-bison-001:generateMessage",
                                {"prompt": {"messages": messages}, "topK": 1024})
    assert status == 400 and "top_k" in answer["error"]["message"]


async def test_count_tokens(fake: tuple[FakeGemini, str]) -> None:
    upstream, base = fake
    counted = await sdk(base).aio.models.count_tokens(model="gemini-2.0-flash", contents="hello there world")
    assert counted.total_tokens == 3
    assert upstream.requests[-1].path == "/v1beta/models/gemini-2.0-flash:countTokens"
    status, answer = await post(base, "/v1beta/models/gemini-2.0-flash:countTokens", {"generateContentRequest": {
        "contents": [{"role": "user", "parts": [{"text": "a b"}]}], "systemInstruction": {"parts": [{"text": "c"}]}}})
    assert (status, answer) == (200, {"totalTokens": 3})
    status, answer = await post(base, "/v1beta/models/gemini-2.0-flash:countTokens", {"contents": [], "x": 1})
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
